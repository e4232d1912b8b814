r"""Whole-vector methods of the registry as ``optax.GradientTransformationExtraArgs``.

``nag_lookahead``, ``rmsprop_nesterov``, ``lbfgs``, ``cg`` and ``hessian_free`` (and any later
``kind="whole_vector"`` entry) evaluate the loss at points of their own choosing, so — like
``optax.lbfgs`` — their ``update`` takes the loss function as an extra argument::

    tx = v0ref.backends.jax.lbfgs(line_search_fn="strong_wolfe")
    state = tx.init(params)
    updates, state = tx.update(None, state, params, value_fn=loss)   # loss(params) -> scalar
    params = optax.apply_updates(params, updates)

There is no second copy of the math: `ValueFnObjective` turns ``value_fn`` into the
`v0ref.objectives` protocol on the leaves of the params pytree (``jax.tree_util`` flatten /
unflatten) — gradients by ``jax.value_and_grad``, Hessian-vector products forward-over-reverse,
``∇²f·v = ∂/∂ε ∇f(θ + εv)|₀`` (``jax.jvp`` of ``jax.grad``) — and the registry's ``update`` runs on
the jax arrays.  The returned update is ``new − params`` (so ``apply_updates`` may differ from the
oracle's iterate by one rounding per step); the ``updates`` argument is ignored (the method takes
its own gradients; pass ``None``).  Instead of ``value_fn``, ``objective=`` takes any object of the
`v0ref.objectives` protocol over the list of leaves (what the conformance port does).

**Not jittable.**  The oracle's whole-vector updates branch in Python on floats (line-search
conditions, curvature tests, CG stopping rules, restart tests), so ``update`` runs **eagerly**:
calling it under ``jax.jit`` (tracer params) is a ``TypeError``.  ``value_fn`` itself may be
jitted by the caller; each ``update`` makes a few to a few hundred calls of it.

**Hessian-free curvature.**  Martens' Gauss-Newton products ``G v = Jᵀ H_ℓ J v`` need the split of
the loss into model outputs and a loss on them: pass ``output_fn(params) -> outputs`` and
``loss_of_output(outputs) -> scalar`` to ``update`` (instead of ``value_fn``); then ``Jv`` is a
``jvp`` of ``output_fn``, ``H_ℓ Jv`` a ``jvp`` of ``grad(loss_of_output)`` and ``Jᵀ·`` a ``vjp``
(Schraudolph 2002; Martens 2010 §4.2).  With ``value_fn`` only, ``hessian_free``'s default
``curvature=None`` uses the **Hessian** (``curvature="hessian"``), which is indefinite away from a
minimum; ``curvature="gn"`` without ``output_fn`` is a ``ValueError``.  The empirical-Fisher
preconditioner needs per-sample gradients, which a plain ``value_fn`` does not give, so
``preconditioner="auto"`` runs unpreconditioned here (an ``objective=`` with ``fisher_diag`` uses
it).

Float64 needs ``jax_enable_x64`` (the conformance run scopes it to its own calls).  The state is
the oracle's NamedTuple record (Python ints/floats and tuples of jax arrays: a pytree).
"""

from __future__ import annotations

import dataclasses
import inspect
import numbers
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .. import moments as _moments
from ..algorithms import OPTIMIZERS
from ..algorithms._core import Algorithm
from ._jax_tx import signature_factory

__all__ = ["ValueFnObjective", "factory", "JaxWVRun"]

_MOMENT_ARGS = ("v0", "v0_scale", "m0", "m0_scale", "v0_min_ndim", "key", "fan_layout", "grad_stats")


class ValueFnObjective:
    """``value_fn`` (or ``loss_of_output ∘ output_fn``) on a pytree as a `v0ref.objectives`
    objective on the list of its leaves.

    ``loss``/``grad``/``value_and_grad`` by ``jax.value_and_grad``; ``hvp(x, v)`` by ``jax.jvp`` of
    ``jax.grad``; ``gnvp`` (``has_gnvp`` only with ``output_fn``) as in the module docstring.  No
    ``fisher_diag`` (``has_fisher = False``).  ``evaluations`` counts loss/gradient evaluations.
    """

    has_fisher = False

    def __init__(self, treedef: Any, value_fn: Callable[[Any], Any] | None = None, *,
                 output_fn: Callable[[Any], Any] | None = None,
                 loss_of_output: Callable[[Any], Any] | None = None):
        if (output_fn is None) != (loss_of_output is None):
            raise ValueError("output_fn and loss_of_output go together (loss = loss_of_output(output_fn(params)))")
        if value_fn is not None and output_fn is not None:
            raise ValueError("pass either value_fn or output_fn + loss_of_output, not both")
        if value_fn is None and output_fn is None:
            raise ValueError("value_fn (params -> scalar loss) is required, or output_fn + loss_of_output")
        for name, fn in (("value_fn", value_fn), ("output_fn", output_fn), ("loss_of_output", loss_of_output)):
            if fn is not None and not callable(fn):
                raise TypeError(f"{name} must be callable; got {type(fn).__name__}")
        self.treedef = treedef
        self.value_fn, self.output_fn, self.loss_of_output = value_fn, output_fn, loss_of_output
        self.has_gnvp = output_fn is not None
        self.evaluations = 0

    def _tree(self, x: Sequence[Any]) -> Any:
        return jax.tree.unflatten(self.treedef, list(x))

    def _outputs(self, x: Sequence[Any]) -> Any:
        return self.output_fn(self._tree(x))

    def _f(self, x: list[Any]) -> Any:
        if self.value_fn is not None:
            out = self.value_fn(self._tree(x))
        else:
            out = self.loss_of_output(self._outputs(x))
        out = jnp.asarray(out)
        if out.shape != ():
            raise ValueError(f"the loss must be a scalar; value_fn returned shape {out.shape}")
        return out

    def value_and_grad(self, x: Sequence[Any]) -> tuple[Any, list[Any]]:
        self.evaluations += 1
        f, g = jax.value_and_grad(self._f)(list(x))
        return f, list(g)

    def loss(self, x: Sequence[Any]) -> Any:
        self.evaluations += 1
        return self._f(list(x))

    def grad(self, x: Sequence[Any]) -> list[Any]:
        return self.value_and_grad(x)[1]

    def hvp(self, x: Sequence[Any], v: Sequence[Any]) -> list[Any]:
        _, hv = jax.jvp(jax.grad(self._f), (list(x),), (list(v),))
        return list(hv)

    def gnvp(self, x: Sequence[Any], v: Sequence[Any]) -> list[Any]:
        if not self.has_gnvp:
            raise TypeError("Gauss-Newton products need output_fn= and loss_of_output= (value_fn alone has no "
                            "output/loss split); use curvature='hessian'")
        x, v = list(x), list(v)
        z, jv = jax.jvp(self._outputs, (x,), (v,))
        _, hjv = jax.jvp(jax.grad(lambda out: jnp.asarray(self.loss_of_output(out))), (z,), (jv,))
        _, pullback = jax.vjp(self._outputs, x)
        return list(pullback(hjv)[0])


def _public(alg: Algorithm) -> list[tuple[str, str, Any]]:
    """``(argument name, oracle name, default)``: optax's ``learning_rate`` for ``lr``."""
    out = []
    for f in dataclasses.fields(alg.hyper_cls):
        if f.name == "convention" or not f.init:
            continue
        default = f.default if f.default is not dataclasses.MISSING else None
        out.append(("learning_rate" if f.name == "lr" else f.name, f.name, default))
    return out


def _rename(message: str) -> str:
    return re.sub(r"(?<![\w.\[])lr(?![\w\]])", "learning_rate", message)


def _moment_list(which: str, spec: Any, params: Any, mom: Mapping[str, Any]) -> list[Any] | None:
    """A v0/m0 spec (strategy name, number, callable ``params -> pytree``, pytree) as a leaf list."""
    leaves = jax.tree.leaves(params)
    if spec is None or isinstance(spec, str) or (isinstance(spec, numbers.Real) and not isinstance(spec, bool)):
        pass
    elif callable(spec):
        fn = spec
        spec = lambda _: jax.tree.leaves(fn(params))  # noqa: E731
    else:
        spec = jax.tree.leaves(spec)
    out = _moments.resolve(which, spec, leaves, scale=1.0 if mom.get(f"{which}_scale") is None else
                           mom[f"{which}_scale"], key=mom.get("key"), stats=mom.get("grad_stats"), min_ndim=mom.get("v0_min_ndim"),
                           layout=mom.get("fan_layout") or "jax")
    return None if out is None else [None if a is None else jnp.asarray(a) for a in out]


def _check_leaves(name: str, leaves: list[Any]) -> None:
    if not leaves:
        raise ValueError(f"{name}: params has no leaves")
    for i, p in enumerate(leaves):
        if isinstance(p, jax.core.Tracer):
            raise TypeError(f"{name}: the whole-vector update runs eagerly (the oracle branches in Python on "
                            "line-search and stopping tests) and cannot be traced; call it outside jax.jit")
        if not jnp.issubdtype(jnp.result_type(p), jnp.floating):
            raise TypeError(f"{name}: params leaf {i} has dtype {jnp.result_type(p)}; a real floating dtype is "
                            "required")


def _transformation(alg: Algorithm, kwargs: dict[str, Any]) -> optax.GradientTransformationExtraArgs:
    name = alg.name
    convention = kwargs.pop("convention", None) or alg.hyper_cls.convention
    mom = {k: kwargs.pop(k) for k in _MOMENT_ARGS if k in kwargs}
    names = {pub: orc for pub, orc, _ in _public(alg)}
    hyper = {names[k]: v for k, v in kwargs.items() if v is not None}
    if "lr" in hyper and (callable(hyper["lr"]) or hasattr(hyper["lr"], "shape")):
        raise TypeError(f"{name}: learning_rate must be a number (the eager oracle takes no schedule); "
                        f"got {type(hyper['lr']).__name__}")
    auto_curvature = name == "hessian_free" and "curvature" not in hyper
    try:
        hp = alg.hyper(convention=convention, **hyper)
        hp_gn = hp.replace(curvature="gn") if auto_curvature else hp
        hp_hessian = hp.replace(curvature="hessian") if auto_curvature else hp
    except (ValueError, TypeError) as exc:
        raise type(exc)(f"{name}: " + _rename(str(exc))) from exc

    def init_fn(params: Any) -> Any:
        leaves = jax.tree.leaves(params)
        _check_leaves(name, leaves)
        v0 = _moment_list("v0", mom.get("v0"), params, mom)
        m0 = _moment_list("m0", mom.get("m0"), params, mom)
        return alg.init(list(leaves), hp, v0=v0, m0=m0)

    def update_fn(updates: Any, state: Any, params: Any = None, *, value_fn: Callable | None = None,
                  objective: Any = None, output_fn: Callable | None = None,
                  loss_of_output: Callable | None = None, **extra: Any) -> tuple[Any, Any]:
        del updates, extra
        if params is None:
            raise ValueError(f"{name}: update needs params (the method evaluates the loss around them)")
        leaves, treedef = jax.tree.flatten(params)
        _check_leaves(name, leaves)
        if objective is not None:
            if value_fn is not None or output_fn is not None:
                raise ValueError(f"{name}: pass objective= or value_fn= (or output_fn + loss_of_output), not both")
            obj = objective
        else:
            obj = ValueFnObjective(treedef, value_fn, output_fn=output_fn, loss_of_output=loss_of_output)
        hp_now = hp
        if auto_curvature:
            hp_now = hp_gn if getattr(obj, "has_gnvp", False) else hp_hessian
        elif name == "hessian_free" and hp.curvature == "gn" and not getattr(obj, "has_gnvp", False):
            raise ValueError("hessian_free: curvature='gn' needs output_fn= and loss_of_output= in update "
                             "(or an objective with gnvp); with value_fn only use curvature='hessian'")
        new, state = alg.update(list(leaves), obj, state, hp_now)
        return jax.tree.unflatten(treedef, [n - p for n, p in zip(new, leaves)]), state

    return optax.GradientTransformationExtraArgs(init_fn, update_fn)


def factory(name: str) -> Callable[..., optax.GradientTransformationExtraArgs]:
    """The optax-style factory of the whole-vector registry entry ``name``."""
    alg = OPTIMIZERS[name]
    if alg.kind != "whole_vector":
        raise ValueError(f"_jax_wv.factory builds whole-vector transformations; {name!r} is {alg.kind!r}")
    P = inspect.Parameter
    public = _public(alg)
    first = "learning_rate" if any(p == "learning_rate" for p, _, _ in public) else None
    params = [P(first, P.POSITIONAL_OR_KEYWORD, default=None)] if first else []
    params += [P(p, P.KEYWORD_ONLY, default=None) for p, _, _ in public if p != first]
    params.append(P("convention", P.KEYWORD_ONLY, default=alg.hyper_cls.convention))
    moment_args = [a for a in _MOMENT_ARGS if (alg.second_moment or not a.startswith("v0"))
                   and (alg.first_moment or not a.startswith("m0"))]
    if not (alg.first_moment or alg.second_moment):
        moment_args = []
    params += [P(a, P.KEYWORD_ONLY, default="jax" if a == "fan_layout" else None) for a in moment_args]
    sig = inspect.Signature(params, return_annotation=optax.GradientTransformationExtraArgs)
    make = signature_factory(name, sig, lambda arguments: _transformation(alg, arguments))
    rows = "\n".join(f"    {p} : oracle ``{o}`` (default {d!r})" for p, o, d in public)
    if name == "hessian_free":
        rows = rows.replace("curvature : oracle ``curvature`` (default 'gn')",
                            "curvature : oracle ``curvature`` (default None: 'gn' with output_fn + loss_of_output "
                            "in update, else 'hessian')")
    make.__doc__ = (f"{alg.summary}, as an ``optax.GradientTransformationExtraArgs``.\n\n"
                    f"Generated from ``v0ref.OPTIMIZERS[{name!r}]`` (math and sources in "
                    f"``v0ref.algorithms.{alg.update_fn.__module__.rpartition('.')[2]}``).  "
                    "``update(None, state, params, value_fn=loss)`` runs one step of the oracle **eagerly** "
                    "(not jittable: Python branches on floats); see `v0ref.backends._jax_wv`.\n\n"
                    f"Parameters\n----------\n{rows}\n    convention : default {alg.hyper_cls.convention!r}.\n"
                    + (f"    {', '.join(moment_args)} : moment initialization (`v0ref.moments.resolve`; a "
                       "pytree shaped like the params is accepted).\n" if moment_args else ""))
    return make


FACTORIES: dict[str, Callable[..., optax.GradientTransformationExtraArgs]] = {
    n: factory(n) for n, a in OPTIMIZERS.items() if a.kind == "whole_vector"}


class JaxWVRun:
    """A whole-vector entry on jax arrays for the conformance harness: the factory's transformation
    stepped with ``update(None, state, params, objective=obj)`` then ``optax.apply_updates``, eagerly,
    under ``jax.enable_x64`` (scoped to its calls).  ``export()`` is ``(params, [])``."""

    def __init__(self, algorithm: str, hyper: Mapping[str, Any], params: Sequence[Any], *,
                 moments: Mapping[str, Any] | None = None, objective: Any = None,
                 states: Sequence[Mapping[str, Any]] | None = None):
        if objective is None:
            raise TypeError(f"{algorithm} is a whole-vector method: open it with objective=...")
        if states:
            raise ValueError(f"{algorithm}: whole-vector runs start from moments, not from exported states")
        self.objective = objective
        with jax.enable_x64(True):
            kw = {("learning_rate" if k == "lr" else k): v for k, v in dict(hyper).items()}
            mom = {k: v for k, v in dict(moments or {}).items() if v is not None}
            alg = OPTIMIZERS[algorithm]
            if alg.first_moment or alg.second_moment:
                mom.setdefault("fan_layout", "torch")       # the harness's oracle uses torch layout
            self.tx = FACTORIES[algorithm](**kw, **mom)
            self.params = [jnp.asarray(np.asarray(p)) for p in params]
            self.state = self.tx.init(self.params)

    def step(self, grads: Any = None) -> None:
        if grads is not None:
            raise TypeError("a whole-vector run steps with step(None)")
        with jax.enable_x64(True):
            updates, self.state = self.tx.update(None, self.state, self.params, objective=self.objective)
            self.params = optax.apply_updates(self.params, updates)

    def export(self) -> tuple[list[Any], list[dict[str, Any]]]:
        return [np.array(p) for p in self.params], []
