r"""The JAX port: every registry algorithm as an ``optax.GradientTransformation``.

>>> import jax.numpy as jnp, optax
>>> from v0ref.backends.jax import adam
>>> params = {"w": jnp.ones((3, 2)), "b": jnp.zeros(2)}
>>> tx = adam(1e-2, v0="random-chi2", v0_scale=1.0, key=0)
>>> state = tx.init(params)                       # ``nu`` of the 2-D weight starts at v0
>>> grads = {"w": jnp.ones((3, 2)), "b": jnp.ones(2)}
>>> updates, state = tx.update(grads, state, params)
>>> params = optax.apply_updates(params, updates)
>>> round(float(params["b"][0]), 4)               # zero v0 (1-D): Adam's sign step, −lr
-0.01

One lower-case factory per registry entry (``adam``, ``adamw``, ``amsgrad``, ``adamax``, ``nadam``,
``radam``, ``sgd``, ``signsgd``, ``signum``, ``adagrad``, ``rmsprop``, ``adadelta``, ``adabound``,
``amsbound``, ``adabelief``, ``yogi``, ...), generated from the registry: an algorithm file added
to ``v0ref/algorithms`` gets a factory here with no edit.  The whole-vector entries
(``nag_lookahead``, ``rmsprop_nesterov``, ``lbfgs``, ``cg``, ``hessian_free``) are
``optax.GradientTransformationExtraArgs`` stepped as ``update(None, state, params, value_fn=loss)``
like ``optax.lbfgs``, run **eagerly** (not jittable; see `v0ref.backends._jax_wv`).  Arguments:

* the algorithm's hyperparameters under **optax's names** — ``learning_rate`` (a number or an
  optax schedule ``count -> lr``), ``b1``/``b2`` for ``betas``, rmsprop's ``decay`` for
  ``alpha`` — and the oracle's names for the rest (``eps``, ``eps_root``, ``weight_decay``,
  ``momentum``, ``nesterov``, ``bias_correction``, ...); ``None`` means the default;
* ``convention``: ``"optax"`` by default (``"torch"``, ``"paper"``, ... as in the registry);
* the moment-init keywords ``v0``, ``v0_scale``, ``m0``, ``m0_scale``, ``v0_min_ndim``, ``key``
  (a ``jax.random`` key, a `v0ref.random.Key` or an int seed), ``fan_layout`` (``"jax"``: weights
  ``(*kernel, in, out)``); ``v0``/``m0`` may be a pytree shaped like the params, a strategy name
  (`v0ref.moments.STRATEGIES`), a number or a callable ``params -> pytree``; the data strategies
  take ``loss_fn`` + ``batches`` (computed by `data_v0`) or ``grad_stats``;
* ``mu_dtype``: storage dtype of the first moment (as optax's).

With ``v0=None`` and ``convention="optax"`` the result is **bit-identical** to optax's
transformation of the same name under ``jit``: where optax implements the configuration, its own
transformation runs on our state.  Otherwise the registry's oracle runs under the caller's
``jit`` (see ``_jax_tx``).  The state is a NamedTuple (``count`` plus optax-named moments, mapping
in `STATE_FIELDS`), so ``optax.chain``, ``inject_hyperparams``, ``MultiSteps``, ``tree_utils``
and plain-pytree checkpoints work.

**Buffer donation.**  Under ``jax.jit(step, donate_argnums=(0, 1))`` (params and optimizer
state) XLA writes the new params and moments into the old buffers instead of allocating; on a
memory-bound optimizer step this is most of the cost (see ``benchmarks/jax_step.py``).

**Float64** needs ``jax.config.update("jax_enable_x64", True)``.  Without x64, step-count
scalars such as ``1 − β₂ᵗ`` are computed in float32 — by optax as by this port — which moves a
float32 step by up to ~1e-5 relative from the oracle's; the conformance port (`JaxRun`) runs
with x64 on, scoped to its own calls.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ..algorithms import OPTIMIZERS
from . import _jax_tx
from ._jax_tx import STATE_FIELDS, Moments, build, state_class

__all__ = ["PORT", "STATE_FIELDS", "FACTORIES", "data_v0", "factory", "state_class"]

# oracle hyperparameter -> optax argument, where optax names it differently (per registry entry)
_RENAMED: dict[str, dict[str, str]] = {"rmsprop": {"alpha": "decay"}}
_NESTEROV_ALIASES = ("adam", "adamw")     # optax: adam(nesterov=True) = nadam, adamw(nesterov=True) = nadamw
_MOMENT_ARGS = ("v0", "v0_scale", "m0", "m0_scale", "v0_min_ndim", "key", "fan_layout",
                "loss_fn", "batches", "grad_stats")


def data_v0(*args: Any, **kwargs: Any) -> Any:
    """`v0ref.backends._jax_data.data_v0`: v0 (or m0) from gradient statistics, as a pytree."""
    from ._jax_data import data_v0 as _data_v0
    return _data_v0(*args, **kwargs)


def _public(alg: Any) -> list[tuple[str, str, Any]]:
    """``(optax-style name, oracle name, default)`` for each hyperparameter of ``alg``."""
    renamed = _RENAMED.get(alg.name, {})
    out = []
    for f in dataclasses.fields(alg.hyper_cls):
        if f.name == "convention" or not f.init:
            continue
        default = f.default if f.default is not dataclasses.MISSING else None
        if f.name == "lr":
            out.append(("learning_rate", "lr", default))
        elif f.name == "betas":
            out += [("b1", "betas[0]", default[0]), ("b2", "betas[1]", default[1])]
        else:
            out.append((renamed.get(f.name, f.name), f.name, default))
    return out


def _default_convention(alg: Any) -> str:
    return "optax" if "optax" in alg.hyper_cls._conventions else alg.hyper_cls.convention


def _to_oracle(alg: Any, kwargs: Mapping[str, Any], convention: str) -> tuple[dict[str, Any], Any]:
    """Public keywords -> (oracle hyperparameter keywords, learning-rate schedule or None)."""
    names = {pub: orc for pub, orc, _ in _public(alg)}
    hyper: dict[str, Any] = {}
    schedule = None
    betas = [None, None]
    for pub, value in kwargs.items():
        if value is None:
            continue
        orc = names[pub]
        if orc == "lr" and (callable(value) or isinstance(value, (jax.Array, np.ndarray))):
            schedule = value                  # a schedule, or an array (optax.inject_hyperparams)
        elif orc.startswith("betas["):
            betas[int(orc[6])] = value
        else:
            hyper[orc] = value
    if betas != [None, None]:
        default = alg.hyper(convention=convention).betas
        hyper["betas"] = (default[0] if betas[0] is None else betas[0], default[1] if betas[1] is None else betas[1])
    return hyper, schedule


def _nesterov_alias(name: str, hyper: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """optax's ``adam(nesterov=True)`` / ``adamw(nesterov=True)`` are its ``nadam`` / ``nadamw``:
    the same hyperparameters (convention defaults resolved by ``name``) on the ``nadam`` entry."""
    if hyper.get("convention") != "optax":
        raise ValueError(f"nesterov=True is optax's {name}(nesterov=True) (= nadam), defined for "
                         f"convention='optax'; got convention={hyper.get('convention')!r} (use nadam instead)")
    if hyper.get("amsgrad"):
        raise ValueError("nesterov=True cannot be combined with amsgrad=True (optax has no such method)")
    resolved = OPTIMIZERS[name].hyper(**hyper)
    target = {f.name for f in dataclasses.fields(OPTIMIZERS["nadam"].hyper_cls) if f.init}
    return "nadam", {k: getattr(resolved, k) for k in target if k in hyper or k in (
        "weight_decay", "decoupled_weight_decay")}


def _transformation(name: str, kwargs: dict[str, Any]) -> optax.GradientTransformation:
    alg = OPTIMIZERS[name]
    convention = kwargs.pop("convention", None) or _default_convention(alg)
    mu_dtype = kwargs.pop("mu_dtype", None)
    nesterov = kwargs.pop("nesterov", False)
    mom = {k: kwargs.pop(k) for k in _MOMENT_ARGS if k in kwargs and kwargs[k] is not None}
    hyper, schedule = _to_oracle(alg, kwargs, convention)
    hyper["convention"] = convention
    if nesterov:
        try:
            name, hyper = _nesterov_alias(name, hyper)
        except (ValueError, TypeError) as exc:
            raise type(exc)(_public_message(alg, str(exc))) from exc
        alg = OPTIMIZERS[name]
    if ("loss_fn" in mom) != ("batches" in mom):
        raise ValueError("loss_fn and batches go together (the data strategies' gradient pass); "
                         f"got only {'loss_fn' if 'loss_fn' in mom else 'batches'}")
    for which in ("v0", "m0"):
        if mom.get(which) in _data_kinds() and "loss_fn" not in mom and "grad_stats" not in mom:
            raise ValueError(f"{which}={mom[which]!r} needs loss_fn= and batches= (or grad_stats=)")
    try:
        return build(name, hyper, schedule=schedule, moments=Moments(**mom), mu_dtype=mu_dtype)
    except (ValueError, TypeError) as exc:     # name the arguments as the caller spelled them
        raise type(exc)(_public_message(alg, str(exc))) from exc


def _public_message(alg: Any, message: str) -> str:
    import re
    for pub, orc, _ in _public(alg):
        if pub != orc:
            message = re.sub(rf"(?<![\w.\[]){re.escape(orc)}(?![\w\]])", pub, message)
    return message


def _data_kinds() -> tuple[str, ...]:
    from .. import moments
    return tuple(n for n, s in moments.STRATEGIES.items() if s.needs and "stats" in s.needs)


def factory(name: str) -> Callable[..., optax.GradientTransformation]:
    """The optax-style factory of registry entry ``name`` (what ``v0ref.backends.jax.<name>`` is);
    whole-vector entries come from `v0ref.backends._jax_wv` (eager, ``update(..., value_fn=)``)."""
    alg = OPTIMIZERS[name]
    if alg.kind == "whole_vector":
        from . import _jax_wv
        return _jax_wv.factory(name)
    public = _public(alg)
    # defaults are None ("the convention's default", listed in the docstring), so that
    # optax.inject_hyperparams injects only the values a caller passes
    params = [inspect.Parameter("learning_rate", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None)]
    params += [inspect.Parameter(p, inspect.Parameter.KEYWORD_ONLY, default=None) for p, _, _ in public
               if p != "learning_rate"]
    params += [inspect.Parameter("convention", inspect.Parameter.KEYWORD_ONLY, default=_default_convention(alg))]
    if alg.first_moment:
        params.append(inspect.Parameter("mu_dtype", inspect.Parameter.KEYWORD_ONLY, default=None))
    if name in _NESTEROV_ALIASES:
        params.append(inspect.Parameter("nesterov", inspect.Parameter.KEYWORD_ONLY, default=False))
    moment_args = [a for a in _MOMENT_ARGS if (alg.second_moment or not a.startswith("v0"))
                   and (alg.first_moment or not a.startswith("m0"))]
    if not (alg.first_moment or alg.second_moment):
        moment_args = []
    defaults = {"fan_layout": "jax"}        # v0_scale, m0_scale: None = 1.0
    params += [inspect.Parameter(a, inspect.Parameter.KEYWORD_ONLY, default=defaults.get(a)) for a in moment_args]
    sig = inspect.Signature(params, return_annotation=optax.GradientTransformation)
    make = _jax_tx.signature_factory(name, sig, lambda arguments: _transformation(name, arguments))
    args = "\n".join(f"    {p} : oracle ``{o}`` (default {d!r}{', by convention' if d is None else ''})"
                     for p, o, d in public)
    args += ("\n    (``None`` means the default.  Under ``optax.inject_hyperparams`` only ``learning_rate``"
             " may be injected; pass the others through ``static_args``.)")
    make.__doc__ = (f"{alg.summary}, as an ``optax.GradientTransformation``.\n\n"
                    f"Generated from the registry entry ``v0ref.OPTIMIZERS[{name!r}]`` (its math and sources "
                    f"are in ``v0ref.algorithms.{alg.update_fn.__module__.rpartition('.')[2]}``).\n\n"
                    f"Parameters\n----------\n{args}\n    convention : whose arithmetic to reproduce "
                    f"(default {_default_convention(alg)!r}).\n"
                    + ("    mu_dtype : storage dtype of the first moment.\n" if alg.first_moment else "")
                    + ("    nesterov : optax's ``nesterov=True``: the ``nadam`` entry with these hyperparameters"
                       " (optax's nadam / nadamw).\n" if name in _NESTEROV_ALIASES else "")
                    + ("    v0, v0_scale, m0, m0_scale, v0_min_ndim, key, fan_layout, loss_fn, batches, grad_stats :"
                       " moment initialization (module docstring).\n" if moment_args else "")
                    + f"\nState: ``{state_class(name).__name__}`` with fields ``{state_class(name)._fields}``.\n")
    return make


FACTORIES: dict[str, Callable[..., optax.GradientTransformation]] = {
    n: factory(n) for n in OPTIMIZERS if OPTIMIZERS[n].kind == "elementwise"}
# whole-vector entries (eager, update(..., value_fn=)): kept apart, FACTORIES stays gradient-driven
WHOLE_VECTOR_FACTORIES: dict[str, Callable[..., optax.GradientTransformationExtraArgs]] = {
    n: factory(n) for n in OPTIMIZERS if OPTIMIZERS[n].kind == "whole_vector"}
globals().update(FACTORIES)
globals().update(WHOLE_VECTOR_FACTORIES)
__all__ += list(FACTORIES) + list(WHOLE_VECTOR_FACTORIES) + ["WHOLE_VECTOR_FACTORIES"]


# ------------------------------------------------------------------------------------- the port

_RUN_CACHE: dict[tuple, tuple[Any, Any]] = {}


def _cached_step(name: str, hyper: Mapping[str, Any], empty: frozenset[str]) -> tuple[Any, Any]:
    """The transformation (without moment init) and its jitted step, per configuration."""
    key = (name, tuple(sorted(hyper.items())), empty)
    if key not in _RUN_CACHE:
        tx = build(name, dict(hyper), empty=empty)

        @jax.jit
        def step(params, grads, state):
            updates, state = tx.update(grads, state, params)
            return optax.apply_updates(params, updates), state

        _RUN_CACHE[key] = (tx, step)
    return _RUN_CACHE[key]


def _x64(method: Callable) -> Callable:
    """Run under ``jax.enable_x64(True)`` (scoped: nothing changes for the rest of the process)."""
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        with jax.enable_x64(True):
            return method(*args, **kwargs)
    wrapped.__name__, wrapped.__doc__ = method.__name__, method.__doc__
    return wrapped


class JaxRun:
    """One algorithm on JAX arrays as the conformance harness drives it (`v0ref.backends.PortRun`):
    the transformation's ``update`` then ``optax.apply_updates``, jitted.

    Runs with ``jax_enable_x64`` on (scoped to its calls): float64 runs need it, and with it the
    step-count scalars (``1 − β₂ᵗ``, ρ_t, ...) are computed in float64 as the oracle does, in optax's
    code as in ours.  Without x64, optax — and so this port where it delegates — computes them in
    float32, e.g. ``1 − 0.999`` with a relative error of 1.3e-5 that reaches the step.
    """

    @_x64
    def __init__(self, algorithm: str, hyper: Mapping[str, Any], params: Sequence[Any], *,
                 states: Sequence[Mapping[str, Any]] | None = None, moments: Mapping[str, Any] | None = None):
        self.name = algorithm
        self.params = [jnp.asarray(p) for p in params]
        self.treedef = jax.tree.structure(self.params)
        hyper = dict(hyper)
        hyper.setdefault("convention", OPTIMIZERS[algorithm].hyper_cls.convention)
        creates = _jax_tx._creates(algorithm, _jax_tx._items(OPTIMIZERS[algorithm].hyper(**hyper)))
        if states is not None:
            self.empty = frozenset(k for k in creates if all(s[k] is None for s in states)) if states else creates
            self.tx, self._step = _cached_step(algorithm, hyper, self.empty)
            self.state = _jax_tx.from_oracle_states(algorithm, list(states), self.params, self.treedef,
                                                    empty=self.empty)
        else:
            mom = dict(moments or {})
            mom.setdefault("fan_layout", "torch")      # the harness's oracle uses torch layout
            mo = Moments(**mom)
            self.empty = frozenset() if mo.m0 is not None else creates
            self.tx, self._step = _cached_step(algorithm, hyper, self.empty)
            self.state = build(algorithm, hyper, moments=mo, empty=self.empty).init(self.params)

    @_x64
    def step(self, grads: Sequence[Any]) -> None:
        self.params, self.state = self._step(self.params, [jnp.asarray(g) for g in grads], self.state)

    @_x64
    def export(self) -> tuple[list[Any], list[dict[str, Any]]]:
        return ([np.array(p) for p in self.params],
                _jax_tx.to_oracle_states(self.name, self.state, self.treedef, empty=self.empty))


class _JaxPort:
    """The JAX port behind the `v0ref.backends.Port` protocol."""

    name = "jax"
    dtypes = ("float32", "float64")

    def supports(self, algorithm: str) -> bool:
        return algorithm in FACTORIES or algorithm in WHOLE_VECTOR_FACTORIES

    def supports_hyper(self, algorithm: str, hyper: Mapping[str, Any]) -> bool:
        """False for configurations the oracle cannot run under ``jit`` (a Python branch on the
        step count, e.g. SGD's Sutskever momentum schedule)."""
        alg = OPTIMIZERS[algorithm]
        if alg.kind == "whole_vector":
            return True                       # eager: no tracing constraint
        try:
            _jax_tx.check_traceable(alg, alg.hyper(**hyper), None)
        except ValueError:
            return False
        return True

    def optimizer(self, name: str, params: Any = None, **kwargs: Any) -> optax.GradientTransformation:
        """``v0ref.optimizer(name, params, **kw)`` on the jax backend: the factory's transformation
        (``params`` is not needed; oracle names ``lr``/``betas`` are accepted too)."""
        every = {**FACTORIES, **WHOLE_VECTOR_FACTORIES}
        if name not in every:
            raise ValueError(f"the jax port has no {name!r}; available: {', '.join(every)}")
        kwargs = dict(kwargs)
        for pub, orc, _ in _public(OPTIMIZERS[name]):
            if orc in kwargs and pub not in kwargs and "[" not in orc:
                kwargs[pub] = kwargs.pop(orc)
        if "betas" in kwargs:
            betas = kwargs.pop("betas")
            if not isinstance(betas, (tuple, list)) or len(betas) != 2:
                raise ValueError(f"betas must be a pair (beta1, beta2); got {betas!r}")
            kwargs["b1"], kwargs["b2"] = betas
        return every[name](**kwargs)

    def open(self, algorithm: str, hyper: Mapping[str, Any], params: Sequence[Any], *,
             states: Sequence[Mapping[str, Any]] | None = None, moments: Mapping[str, Any] | None = None,
             objective: Any = None) -> Any:
        if OPTIMIZERS[algorithm].kind == "whole_vector":
            from ._jax_wv import JaxWVRun
            return JaxWVRun(algorithm, hyper, params, states=states, moments=moments, objective=objective)
        if objective is not None:
            raise ValueError(f"{algorithm} is element-wise; objective= applies to whole-vector methods")
        return JaxRun(algorithm, hyper, params, states=states, moments=moments)

    def __repr__(self) -> str:
        return "<v0ref port 'jax'>"


PORT = _JaxPort()
