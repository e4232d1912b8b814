r"""Whole-vector methods of the registry as ``torch.optim.Optimizer`` classes.

``NAGLookahead``, ``RMSpropNesterov``, ``LBFGS``, ``CG`` and ``HessianFree`` (and any later
``kind="whole_vector"`` entry) are built by `make_class` from their registry entry.  They evaluate
the loss at points of their own choosing, so — like ``torch.optim.LBFGS`` — they step with a
**closure** that re-evaluates the model::

    opt = LBFGS(model.parameters(), line_search_fn="strong_wolfe")
    def closure():
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        return loss
    opt.step(closure)

There is no second copy of the math: ``step`` wraps the closure into the `v0ref.objectives`
protocol (`ClosureObjective`: ``loss``/``grad`` at any point ``x`` = write ``x`` into the
parameters, call the closure under ``torch.enable_grad()``, read ``.grad``) and runs the registry's
``update`` on a snapshot of the parameter tensors; the result is copied into the parameters.  As in
``torch.optim.LBFGS``, the parameters hold the trial points while the closure runs; after ``step``
(or if the closure raises) they hold the method's iterate.  ``step`` returns the closure's first
result (for L-BFGS, CG and HF the loss at the start; for the look-ahead methods the loss at the
look-ahead point ``θ + μv``, where they take their one gradient).

Alternatives to the closure:

* ``objective=`` at construction: any object of the `v0ref.objectives` protocol (it is evaluated on
  the parameters' own tensors); ``step()`` then takes no closure (the conformance harness's way);
* **Hessian-vector products** (``CG(line_search="exact")``, ``HessianFree(curvature="hessian")``):
  double backward — a closure that accepts a keyword ``create_graph`` is called as
  ``closure(create_graph=True)`` and must call ``loss.backward(create_graph=True)``; then
  ``∇²f·v = ∂(∇f·v)/∂θ`` by a second ``torch.autograd.grad``;
* **HessianFree on a model** (`HessianFree`): ``HessianFree(model, loss_fn=loss_fn, **hyper)`` and
  ``step(inputs, targets)``, with Gauss-Newton products from ``torch.func`` (`ModelObjective`).

Constructor signatures: ``LBFGS(params, lr=1, max_iter=20, max_eval=None, tolerance_grad=1e-7,
tolerance_change=1e-9, history_size=100, line_search_fn=None, *, c1=1e-4, c2=0.9,
convention="torch", objective=None)`` as ``torch.optim.LBFGS`` plus the oracle's extras; the others
take the oracle's hyperparameter names (``v0ref.OPTIMIZERS[name].defaults()``) after ``params``,
and the entries with a velocity / accumulator also the moment-init keywords (``m0``, ``m0_scale``,
``v0``, ``v0_scale``, ``v0_min_ndim``, ``key``, ``grad_stats``, ``fan_layout``; see
`v0ref.moments.resolve`).

One parameter group only (as ``torch.optim.LBFGS``; a second is a ``ValueError``), all parameters of
one dtype and device.  The state is the oracle's record, stored as a dict under the first parameter
(``opt.state[first_param]``: ``step``, and for L-BFGS torch's names ``n_iter``, ``func_evals``,
``d``, ``t``, ``old_dirs``, ``old_stps``, ``ro``, ``H_diag``, ``prev_flat_grad``, ``prev_loss``), so
``state_dict``/``load_state_dict`` round-trip it and a resumed run is bit-identical; a
``torch.optim.LBFGS`` checkpoint also loads (its 0-d tensors become the oracle's floats).
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from .. import moments as _moments
from ..algorithms._core import Algorithm

__all__ = ["make_class", "WholeVectorOptimizer", "ClosureObjective", "ModelObjective"]

_MOMENT_KEYWORDS = {"v0": None, "v0_scale": 1.0, "m0": None, "m0_scale": 1.0, "v0_min_ndim": None,
                    "key": None, "grad_stats": None, "fan_layout": "torch"}
# fields the oracle keeps as Python floats that torch.optim.LBFGS keeps as 0-d tensors
_FLOAT_FIELDS = ("t", "H_diag", "prev_loss", "loss", "t_prev", "gtd_prev", "damping", "rho")
_FLOAT_TUPLES = ("ro",)
_TORCH_POSITIONAL = {"lbfgs": ("lr", "max_iter", "max_eval", "tolerance_grad", "tolerance_change",
                               "history_size", "line_search_fn")}


def _real(t: torch.Tensor) -> torch.Tensor:
    return torch.view_as_real(t) if t.is_complex() else t


def _accepts_create_graph(closure: Callable) -> bool:
    try:
        params = inspect.signature(closure).parameters
    except (TypeError, ValueError):
        return False
    return "create_graph" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


# -------------------------------------------------------------------------------------------------
# objectives over torch
# -------------------------------------------------------------------------------------------------

class ClosureObjective:
    """A ``torch.optim`` closure as a `v0ref.objectives` objective on the parameters ``params``.

    ``value_and_grad(x)`` writes ``x`` (a list of tensors shaped like the parameters, real views for
    complex ones) into the parameters, calls ``closure()`` under ``torch.enable_grad()`` and returns
    its loss and copies of the parameters' ``.grad`` (zeros where a gradient is ``None``, sparse ones
    densified, as ``torch.optim.LBFGS._gather_flat_grad``).  ``loss`` and ``grad`` are the same call
    (a closure always runs backward).  ``hvp(x, v)`` needs a closure accepting ``create_graph`` (see
    the module docstring).  ``first`` is the first value the closure returned; ``evaluations``
    counts closure calls.  The parameters are left at the last point evaluated.
    """

    has_gnvp = False
    has_fisher = False

    def __init__(self, params: Sequence[torch.Tensor], closure: Callable[..., Any]):
        if not callable(closure):
            raise TypeError(f"closure must be callable; got {type(closure).__name__}")
        self.params = list(params)
        self.closure = closure
        self.first: Any = None
        self.evaluations = 0

    def _write(self, x: Sequence[torch.Tensor]) -> None:
        with torch.no_grad():
            for p, xi in zip(self.params, x):
                _real(p).copy_(xi)

    def _call(self, **kwargs: Any) -> Any:
        with torch.enable_grad():
            out = self.closure(**kwargs)
        if self.evaluations == 0:
            self.first = out
        self.evaluations += 1
        return out

    def value_and_grad(self, x: Sequence[torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        self._write(x)
        out = self._call()
        grads = []
        for p in self.params:
            g = p.grad
            if g is None:
                grads.append(torch.zeros_like(_real(p)))
            else:
                g = g.to_dense() if g.is_sparse else g
                grads.append(_real(g).detach().clone())
        value = out.detach() if isinstance(out, torch.Tensor) else torch.tensor(float(out), dtype=torch.float64)
        return value, grads

    def loss(self, x: Sequence[torch.Tensor]) -> torch.Tensor:
        return self.value_and_grad(x)[0]

    def grad(self, x: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        return self.value_and_grad(x)[1]

    def hvp(self, x: Sequence[torch.Tensor], v: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """``∇²f(x)·v`` by double backward: ``closure(create_graph=True)``, then ``∂(∇f·v)/∂θ``."""
        if not _accepts_create_graph(self.closure):
            raise TypeError("Hessian-vector products (CG(line_search='exact'), HessianFree(curvature='hessian')) "
                            "need a closure that accepts create_graph: closure(create_graph=True) must call "
                            "loss.backward(create_graph=True); or construct the optimizer with objective=")
        if any(p.is_complex() for p in self.params):
            raise TypeError("Hessian-vector products of complex parameters are not supported")
        self._write(x)
        for p in self.params:
            p.grad = None
        try:
            with torch.enable_grad():
                self._call(create_graph=True)
                pairs = [(p, p.grad, vi) for p, vi in zip(self.params, v) if p.grad is not None]
                if not pairs or not any(g.requires_grad for _, g, _ in pairs):
                    raise ValueError("closure(create_graph=True) left gradients without a graph: it must call "
                                     "loss.backward(create_graph=True)")
                dot = sum((g * vi).sum() for _, g, vi in pairs if g.requires_grad)
                hv = torch.autograd.grad(dot, self.params, allow_unused=True)
        finally:
            for p in self.params:                 # drop the graph held by .grad
                p.grad = None
        return [torch.zeros_like(p) if h is None else h.detach() for p, h in zip(self.params, hv)]


class ModelObjective:
    r"""A model and a loss on one batch as a `v0ref.objectives` objective, by ``torch.func``.

    ``f(θ) = loss_fn(model(θ; inputs), targets)`` with ``model(θ; ·)`` =
    ``torch.func.functional_call(model, dict(zip(names, θ)), inputs)`` (buffers from the model).
    With ``z = model(θ)``, ``J = ∂z/∂θ`` and ``H_ℓ = ∂²ℓ/∂z²`` (Schraudolph 2002; Martens 2010 §4.2):

    .. math:: G v = J^\top H_ℓ J v,\qquad ∇^2 f\, v = \frac{∂}{∂ε}∇f(θ + εv)\Big|_{ε=0}

    ``gnvp``: ``Jv`` by ``jvp`` of the model, ``H_ℓ Jv`` by ``jvp`` of ``∇_z ℓ``, ``Jᵀ(·)`` by ``vjp``
    of the model; ``hvp``: ``jvp`` of ``grad`` (forward-over-reverse).  ``fisher_diag``: the
    empirical Fisher diagonal ``(1/N) Σ_i (∇ℓ_i)²`` from per-sample gradients (``vmap`` of ``grad``
    over the batch, each sample as a batch of one) — it assumes ``loss_fn`` averages over the batch
    (``reduction="mean"``); a model that mixes samples (batch norm in training mode) cannot give
    per-sample gradients: use ``preconditioner=None``.  ``inputs`` is a tensor or a tuple of
    positional model inputs; ``targets`` anything ``loss_fn`` takes second.
    """

    has_gnvp = True
    has_fisher = True

    def __init__(self, model: torch.nn.Module, loss_fn: Callable[[Any, Any], torch.Tensor], names: Sequence[str],
                 inputs: Any, targets: Any):
        self.model, self.loss_fn, self.names = model, loss_fn, tuple(names)
        self.inputs = inputs if isinstance(inputs, tuple) else (inputs,)
        self.targets = targets

    def _outputs(self, x: Sequence[torch.Tensor], inputs: tuple | None = None) -> Any:
        return torch.func.functional_call(self.model, dict(zip(self.names, x)), self.inputs if inputs is None else inputs)

    def _f(self, x: tuple) -> torch.Tensor:
        return self.loss_fn(self._outputs(x), self.targets)

    def loss(self, x: Sequence[torch.Tensor]) -> torch.Tensor:
        with torch.no_grad():
            return self._f(tuple(x)).detach()

    def value_and_grad(self, x: Sequence[torch.Tensor]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        with torch.enable_grad():
            g, f = torch.func.grad_and_value(self._f)(tuple(x))
        return f.detach(), [gi.detach() for gi in g]

    def grad(self, x: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        return self.value_and_grad(x)[1]

    def hvp(self, x: Sequence[torch.Tensor], v: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        with torch.enable_grad():
            _, hv = torch.func.jvp(torch.func.grad(self._f), (tuple(x),), (tuple(v),))
        return [h.detach() for h in hv]

    def gnvp(self, x: Sequence[torch.Tensor], v: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        x, v = tuple(x), tuple(v)
        with torch.enable_grad():
            z, jv = torch.func.jvp(lambda *w: self._outputs(w), x, v)
            _, hjv = torch.func.jvp(torch.func.grad(lambda out: self.loss_fn(out, self.targets)), (z,), (jv,))
            _, pullback = torch.func.vjp(lambda *w: self._outputs(w), *x)
            out = pullback(hjv)
        return [o.detach() for o in out]

    def fisher_diag(self, x: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        def one(w: tuple, inputs: tuple, target: Any) -> torch.Tensor:
            batch = tuple(a.unsqueeze(0) for a in inputs)
            return self.loss_fn(self._outputs(w, batch), target.unsqueeze(0))

        with torch.enable_grad():
            per_sample = torch.func.vmap(torch.func.grad(one), in_dims=(None, 0, 0))(tuple(x), self.inputs,
                                                                                   self.targets)
        return [(g * g).mean(dim=0).detach() for g in per_sample]


# -------------------------------------------------------------------------------------------------
# the optimizer base class
# -------------------------------------------------------------------------------------------------

class WholeVectorOptimizer(torch.optim.Optimizer):
    """Base of the generated whole-vector classes (see the module docstring)."""

    algorithm: Algorithm

    def __init__(self, params: Any, hyper: Mapping[str, Any], *, objective: Any = None,
                 moments: Mapping[str, Any] | None = None):
        alg = self.algorithm
        hp = alg.hyper(**dict(hyper))                       # validates; an unknown name is a TypeError
        if objective is not None and not callable(getattr(objective, "grad", None)):
            raise TypeError(f"objective must implement the v0ref.objectives protocol (loss, grad, ...); "
                            f"got {type(objective).__name__}")
        self._objective = objective
        super().__init__(params, dataclasses.asdict(hp))
        self._params: list[torch.Tensor] = self.param_groups[0]["params"]
        first = self._params[0]
        for i, p in enumerate(self._params):
            if p.dtype != first.dtype or p.device != first.device:
                raise ValueError(f"{type(self).__name__}: all parameters must share one dtype and device; "
                                 f"params[0] is {first.dtype} on {first.device}, params[{i}] {p.dtype} on {p.device}")
            if not (p.dtype.is_floating_point or p.dtype.is_complex):
                raise TypeError(f"{type(self).__name__}: params[{i}] has dtype {p.dtype}; a floating dtype is required")
        m = dict(_MOMENT_KEYWORDS, **dict(moments or {}))
        reals = [_real(p.detach()) for p in self._params]
        common = dict(key=m["key"], stats=m["grad_stats"], min_ndim=m["v0_min_ndim"], layout=m["fan_layout"])
        v0s = _moments.resolve("v0", m["v0"], reals, scale=m["v0_scale"], **common)
        m0s = _moments.resolve("m0", m["m0"], reals, scale=m["m0_scale"], **common)
        v0s = None if v0s is None else [None if v is None else torch.as_tensor(v) for v in v0s]
        m0s = None if m0s is None else [None if v is None else torch.as_tensor(v) for v in m0s]
        state = alg.init([r.clone() for r in reals], hp, v0=v0s, m0=m0s)
        self._template = state
        self.state[first] = self._to_dict(state)

    # ---- groups ------------------------------------------------------------------------------
    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Only the constructor's single group (a whole-vector method treats all parameters as one
        vector, like ``torch.optim.LBFGS``); a second group is a ``ValueError``."""
        if self.param_groups:
            raise ValueError(f"{type(self).__name__} doesn't support per-parameter options (parameter groups): "
                             "it optimizes all parameters as one vector")
        unknown = sorted(set(param_group) - set(self.defaults) - {"params", "initial_lr", "name"})
        if unknown:
            raise TypeError(f"{type(self).__name__}: unknown hyperparameter(s) {', '.join(unknown)} in the param "
                            f"group; valid: {', '.join(sorted(self.defaults))}")
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        if not group["params"]:
            self.param_groups.pop()
            raise ValueError(f"{type(self).__name__}: params is empty")
        try:
            self._hyper(group)
        except (ValueError, TypeError):
            self.param_groups.pop()
            raise

    def _hyper(self, group: Mapping[str, Any]) -> Any:
        kw = {}
        for f in dataclasses.fields(self.algorithm.hyper_cls):
            if f.name in group:
                v = group[f.name]
                kw[f.name] = v.item() if isinstance(v, torch.Tensor) and v.ndim == 0 else v
        return self.algorithm.hyper(**kw)

    # ---- state ----------------------------------------------------------------------------------
    @staticmethod
    def _to_dict(state: Any) -> dict[str, Any]:
        return dict(state._asdict())

    def oracle_state(self) -> Any:
        """The state as the oracle's record (fields a checkpoint lacks take their initial values;
        torch.optim.LBFGS's 0-d tensors become floats, lists tuples)."""
        stored = self.state.get(self._params[0], {})
        fields = {}
        for name, initial in self._template._asdict().items():
            v = stored.get(name, initial)
            if isinstance(v, list):
                v = tuple(v)
            if name in _FLOAT_FIELDS and isinstance(v, torch.Tensor):
                v = float(v.item())
            elif name in _FLOAT_TUPLES and v is not None:
                v = tuple(float(e.item()) if isinstance(e, torch.Tensor) else e for e in v)
            elif name == "step" and isinstance(v, torch.Tensor):
                v = int(v.item())
            fields[name] = v
        return type(self._template)(**fields)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """torch's ``load_state_dict``; the group is validated afterwards (missing hyperparameters —
        e.g. from a ``torch.optim.LBFGS`` checkpoint — take this optimizer's defaults)."""
        if len(state_dict.get("param_groups", ())) != 1:
            raise ValueError(f"{type(self).__name__}: state_dict must hold exactly one param group")
        super().load_state_dict(state_dict)
        self._params = self.param_groups[0]["params"]
        group = self.param_groups[0]
        for k, v in self.defaults.items():
            group.setdefault(k, v)
        self._hyper(group)

    # ---- the step ---------------------------------------------------------------------------------
    def _objective_for(self, closure: Callable | None) -> Any:
        if closure is not None:
            return ClosureObjective(self._params, closure)
        if self._objective is not None:
            return self._objective
        raise ValueError(f"{type(self).__name__}.step needs a closure (re-evaluating the loss and calling "
                         "backward), or construct it with objective=")

    @torch.no_grad()
    def _run(self, objective: Any) -> Any:
        hp = self._hyper(self.param_groups[0])
        params = self._params
        start = [_real(p).detach().clone() for p in params]
        try:
            new, state = self.algorithm.update([s.clone() for s in start], objective, self.oracle_state(), hp)
        except BaseException:
            for p, s in zip(params, start):              # the closure may have left a trial point
                _real(p).copy_(s)
            raise
        for p, x in zip(params, new):
            _real(p).copy_(x)
        self.state[params[0]] = self._to_dict(state)
        return state

    def step(self, closure: Callable[..., Any] | None = None) -> Any:
        """One update of the method; returns the closure's first result (``None`` without a closure)."""
        objective = self._objective_for(closure)
        self._run(objective)
        return objective.first if isinstance(objective, ClosureObjective) else None

    def __repr__(self) -> str:
        return super().__repr__().replace(type(self).__name__, f"v0ref.{type(self).__name__}", 1)


class HessianFreeBase(WholeVectorOptimizer):
    r"""Hessian-free on a torch model, with Gauss-Newton products from ``torch.func``.

    ``HessianFree(model, loss_fn=loss_fn, **hyper)``: ``model`` an ``nn.Module`` (its parameters
    with ``requires_grad`` are optimized) and ``loss_fn(outputs, targets) -> scalar`` the loss on the
    model's outputs (a batch mean, e.g. ``torch.nn.functional.cross_entropy``); each
    ``step(inputs, targets)`` is one outer iteration of Martens' HF on that batch
    (`ModelObjective`: ``G v = Jᵀ H_ℓ J v``, the empirical-Fisher preconditioner).  Alternatively
    ``HessianFree(params, objective=obj)`` with ``step()``, or ``HessianFree(params,
    curvature="hessian")`` with ``step(closure)`` (a closure accepting ``create_graph``; the
    Gauss-Newton split needs the model and its loss, so ``curvature="gn"`` needs one of the first
    two).  Returns the loss at the start of the step (a 0-d tensor), or the closure's first result.
    """

    def __init__(self, params: Any, hyper: Mapping[str, Any], *, objective: Any = None,
                 model: torch.nn.Module | None = None, loss_fn: Callable | None = None,
                 moments: Mapping[str, Any] | None = None):
        if isinstance(params, torch.nn.Module):
            if model is not None and model is not params:
                raise ValueError("HessianFree: pass the model either as the first argument or as model=, not both")
            model, params = params, None
        self._model, self._loss_fn, self._names = model, loss_fn, ()
        if model is not None:
            if not isinstance(model, torch.nn.Module):
                raise TypeError(f"HessianFree: model must be a torch.nn.Module; got {type(model).__name__}")
            if loss_fn is None or not callable(loss_fn):
                raise ValueError("HessianFree: a model needs loss_fn=, a callable (outputs, targets) -> scalar loss")
            named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
            if params is not None:
                given = {id(p) for p in (params if isinstance(params, Sequence) else list(params))}
                named = [(n, p) for n, p in named if id(p) in given]
            if not named:
                raise ValueError("HessianFree: the model has no parameters that require grad")
            self._names = tuple(n for n, _ in named)
            params = [p for _, p in named]
        elif loss_fn is not None:
            raise ValueError("HessianFree: loss_fn= applies only together with a model")
        super().__init__(params, hyper, objective=objective, moments=moments)

    def step(self, inputs: Any = None, targets: Any = None, *, closure: Callable[..., Any] | None = None) -> Any:
        """``step(inputs, targets)`` with a model; ``step()`` with ``objective=``; ``step(closure)``."""
        if closure is None and callable(inputs) and targets is None and not isinstance(inputs, torch.Tensor):
            inputs, closure = None, inputs
        if inputs is not None or targets is not None:
            if self._model is None:
                raise ValueError("HessianFree.step(inputs, targets) needs the optimizer built with a model and loss_fn")
            if inputs is None or targets is None:
                raise ValueError("HessianFree.step needs both inputs and targets")
            if closure is not None:
                raise ValueError("HessianFree.step takes either (inputs, targets) or a closure, not both")
            state = self._run(ModelObjective(self._model, self._loss_fn, self._names, inputs, targets))
            return None if state.loss is None else torch.tensor(state.loss, dtype=self._params[0].dtype)
        if closure is None and self._objective is None and self._model is not None:
            raise ValueError("HessianFree.step(inputs, targets): the batch to evaluate the model on is missing")
        return WholeVectorOptimizer.step(self, closure)


# -------------------------------------------------------------------------------------------------
# class factory
# -------------------------------------------------------------------------------------------------

def _signature(alg: Algorithm, extras: Sequence[inspect.Parameter]) -> inspect.Signature:
    P = inspect.Parameter
    fields = {f.name: f for f in dataclasses.fields(alg.hyper_cls)}
    positional = _TORCH_POSITIONAL.get(alg.name, ("lr",) if "lr" in fields else ())
    params = [P("self", P.POSITIONAL_OR_KEYWORD), P("params", P.POSITIONAL_OR_KEYWORD)]
    params += [P(n, P.POSITIONAL_OR_KEYWORD, default=fields[n].default) for n in positional]
    params += [P(n, P.KEYWORD_ONLY, default=f.default) for n, f in fields.items() if n not in positional]
    params += [P("objective", P.KEYWORD_ONLY, default=None)]
    params += list(extras)
    if alg.first_moment or alg.second_moment:
        params += [P(n, P.KEYWORD_ONLY, default=d) for n, d in _MOMENT_KEYWORDS.items()]
    return inspect.Signature(params)


def make_class(alg: Algorithm, class_name: str) -> type[WholeVectorOptimizer]:
    """The ``torch.optim.Optimizer`` class of the whole-vector registry entry ``alg``."""
    if alg.kind != "whole_vector":
        raise ValueError(f"make_class builds whole-vector classes; {alg.name!r} is {alg.kind!r}")
    P = inspect.Parameter
    is_hf = alg.name == "hessian_free"
    extras = [P("model", P.KEYWORD_ONLY, default=None), P("loss_fn", P.KEYWORD_ONLY, default=None)] if is_hf else []
    sig = _signature(alg, extras)
    hyper_names = {f.name for f in dataclasses.fields(alg.hyper_cls)}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        try:
            bound = sig.bind(self, *args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"{class_name}: {exc}; signature {class_name}{sig}") from None
        given = dict(bound.arguments)
        given.pop("self")
        params = given.pop("params")
        hyper = {k: v for k, v in given.items() if k in hyper_names}
        moments = {k: v for k, v in given.items() if k in _MOMENT_KEYWORDS}
        objective = given.get("objective")
        if is_hf:
            HessianFreeBase.__init__(self, params, hyper, objective=objective, model=given.get("model"),
                                     loss_fn=given.get("loss_fn"), moments=moments)
        else:
            WholeVectorOptimizer.__init__(self, params, hyper, objective=objective, moments=moments)

    __init__.__signature__ = sig                  # type: ignore[attr-defined]
    __init__.__qualname__ = f"{class_name}.__init__"
    defaults = ", ".join(f"``{k}={v!r}``" for k, v in alg.defaults().items())
    doc = (f"{alg.summary}.\n\nv0ref's ``{alg.name}`` as a ``torch.optim.Optimizer`` (generated from the registry "
           f"entry): ``step(closure)`` as ``torch.optim.LBFGS``.\n\nHyperparameters (defaults): {defaults}.\n\n"
           "See `v0ref.backends._torch_wv` for the closure, ``objective=`` and state, and "
           f"``v0ref.OPTIMIZERS[{alg.name!r}].doc`` for the math.\n")
    if is_hf:
        doc += "\n" + inspect.cleandoc(HessianFreeBase.__doc__ or "") + "\n"
    base = HessianFreeBase if is_hf else WholeVectorOptimizer
    return type(class_name, (base,), {"algorithm": alg, "__init__": __init__, "__doc__": doc,
                                      "__module__": "v0ref.backends.torch"})
