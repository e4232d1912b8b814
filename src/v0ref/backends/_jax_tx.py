"""The engine of the JAX port: one registry entry -> one ``optax.GradientTransformation``.

Two paths compute a step, both checked against the oracle by the conformance harness:

* **delegation** — where a registry `Reference` says optax implements exactly this configuration
  (``convention="optax"``, no extras), optax's own transformation runs on a state prefilled
  from ours (the moment-init keywords only change the state's start), so results are
  bit-identical to optax's under ``jit``;
* **the oracle** — otherwise the registry's ``update`` runs leaf by leaf inside the caller's
  ``jit`` (XLA fuses each leaf's expression into one loop).  The step count is a traced ``int32``
  array; ``update`` is evaluated at ``param = 0`` when the step does not read the parameter
  (no weight decay), so the returned update *is* the oracle's increment and
  ``optax.apply_updates`` adds it exactly as the oracle does; with weight decay the update is
  ``θ_new − θ`` (one rounding, exact whenever θ_new and θ are within a factor 2 — Sterbenz).

The state is a NamedTuple with a scalar ``count`` and one pytree per oracle state array, named as
optax names it where optax has the method (`state_fields`).
"""

from __future__ import annotations

import copy
import inspect
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from .. import moments as _moments
from .. import random as _random
from ..algorithms import OPTIMIZERS

__all__ = ["STATE_FIELDS", "build", "signature_factory", "state_class", "state_fields", "to_oracle_states",
           "from_oracle_states"]

# generic optax names for the oracle's state arrays, used where no optax Reference names them
_GENERIC = {"m": "mu", "v": "nu", "s": "nu", "u": "nu", "v_max": "nu_max"}
# what no registry entry may call a state field (it is the step count)
_COUNT = "count"


def state_fields(name: str) -> dict[str, str]:
    """Oracle state name -> field of the JAX state NamedTuple, for registry entry ``name``.

    optax's own names where a registry `Reference` to optax maps them (``m -> mu``,
    ``v -> nu``, rmsprop's ``m -> trace``, ...), else ``m -> mu``, ``v``/``s``/``u -> nu``,
    ``v_max -> nu_max``, else the oracle's name.  The step count is always ``count``.
    """
    alg = OPTIMIZERS[name]
    out: dict[str, str] = {}
    for ref in alg.references:
        if ref.framework == "optax":
            out.update({k: v for k, v in ref.state.items() if k in alg.state_names and v})
    for k in alg.state_names:
        if k not in out:
            candidate = _GENERIC.get(k, k)
            out[k] = candidate if candidate not in out.values() else k
    if len(set(out.values())) != len(out) or _COUNT in out.values():
        raise RuntimeError(f"{name}: state field names collide: {out}")
    return {k: out[k] for k in alg.state_names}


# registry name -> {oracle state name: JAX state field}, for every element-wise entry
STATE_FIELDS: dict[str, dict[str, str]] = {n: state_fields(n) for n in OPTIMIZERS
                                           if OPTIMIZERS[n].kind == "elementwise"}

_STATE_CLASSES: dict[str, type] = {}


def state_class(name: str) -> type:
    """The NamedTuple state of registry entry ``name``: ``count`` then the mapped state fields.

    Entries sharing an oracle state class (adam, adamw, amsgrad) share this class; it is named
    like the oracle's (``AdamState``) and lives in ``v0ref.backends.jax`` (so it pickles).
    """
    alg = OPTIMIZERS[name]
    oracle_cls = type(alg.init(np.zeros(1), alg.hyper()))
    fields = (_COUNT, *state_fields(name).values())
    cls_name = oracle_cls.__name__
    cls = _STATE_CLASSES.get(cls_name)
    if cls is not None and cls._fields != fields:
        cls_name = f"{cls_name}_{name}"
        cls = _STATE_CLASSES.get(cls_name)
    if cls is None:
        cls = NamedTuple(cls_name, [(f, Any) for f in fields])
        cls.__module__ = "v0ref.backends.jax"
        cls.__doc__ = (f"State of the JAX ``{name}``: ``count`` (int32 steps taken) and "
                       + ", ".join(f"``{v}`` (oracle ``{k}``)" for k, v in state_fields(name).items()) + ".")
        _STATE_CLASSES[cls_name] = cls
        import sys
        setattr(sys.modules["v0ref.backends.jax"], cls_name, cls)
    return cls


# --------------------------------------------------------------------------------- moment inits

@dataclass(frozen=True)
class Moments:
    """The moment-init keywords of one transformation (resolved when ``init`` sees the params)."""

    v0: Any = None
    v0_scale: float = 1.0
    m0: Any = None
    m0_scale: float = 1.0
    v0_min_ndim: int | None = None
    key: Any = None
    fan_layout: str = "jax"
    loss_fn: Any = None
    batches: Any = None
    grad_stats: Any = None


def as_v0ref_key(key: Any) -> Any:
    """A `v0ref.random.Key` from a ``jax.random`` key (typed or raw ``uint32[2]``), a v0ref key or
    an int seed (``None`` stays ``None``).  The bits are the same: v0ref's Threefry layout is JAX's."""
    if key is None or isinstance(key, _random.Key):
        return key
    if isinstance(key, numbers.Integral) and not isinstance(key, bool):
        return _random.key(int(key))
    if isinstance(key, jax.Array):
        if jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key):
            key = jax.random.key_data(key)
        if isinstance(key, jax.core.Tracer):
            raise ValueError("key must be concrete: call init outside jit when a random v0/m0 strategy is used")
        data = np.asarray(key)
        if data.shape == (2,) and data.dtype == np.uint32:
            return _random.Key(int(data[0]), int(data[1]))
    raise TypeError(f"key must be a jax.random key, a v0ref.random.Key or an int seed; got {key!r}")


def _as_leaves(which: str, value: Any, params: Any, treedef: Any, n: int) -> list[Any]:
    """A v0/m0 given as a pytree shaped like params, or as a list of leaves."""
    try:
        return treedef.flatten_up_to(value)
    except (ValueError, TypeError):
        if isinstance(value, (list, tuple)) and len(value) == n:
            return list(value)
    raise ValueError(f"{which} must be a pytree shaped like params (or a list of {n} leaves); "
                     f"got {jax.tree.structure(value)} for params {treedef}")


def resolve_moments(which: str, mo: Moments, params: Any) -> list[Any] | None:
    """One initial array (or None) per leaf of ``params`` for ``which`` in ``("v0", "m0")``."""
    spec = mo.v0 if which == "v0" else mo.m0
    scale = mo.v0_scale if which == "v0" else mo.m0_scale
    leaves, treedef = jax.tree.flatten(params)
    if spec is None:
        return None
    if callable(spec) and not isinstance(spec, str):
        spec = spec(params)
        if isinstance(spec, str) or spec is None:
            raise TypeError(f"a callable {which} must return a pytree of arrays; got {spec!r}")
    if isinstance(spec, str):
        if mo.loss_fn is not None or mo.batches is not None:
            from ._jax_data import DATA_KINDS, data_v0
            if spec not in DATA_KINDS:
                raise ValueError(f"loss_fn/batches apply to the data strategies {', '.join(DATA_KINDS)}; "
                                 f"got {which}={spec!r}")
            tree = data_v0(mo.loss_fn, params, mo.batches, scale=scale, kind=spec, min_ndim=mo.v0_min_ndim,
                           which=which, key=as_v0ref_key(mo.key), fan_layout=mo.fan_layout, stats=None)
            return treedef.flatten_up_to(tree)
        # strategies draw / combine in float64 on the host (as the numpy oracle does, x64 or not),
        # then each leaf is rounded once to its parameter's dtype
        host = [np.zeros(tuple(p.shape), np.float64) for p in leaves]
        out = _moments.resolve(which, spec, host, scale=scale, key=as_v0ref_key(mo.key), stats=mo.grad_stats,
                               min_ndim=mo.v0_min_ndim, layout=mo.fan_layout)
        return [jnp.asarray(np.asarray(x), dtype=p.dtype) for x, p in zip(out, leaves)]
    if isinstance(spec, numbers.Real) and not isinstance(spec, bool):
        return _moments.resolve(which, spec, leaves)
    return [None if x is None else jnp.asarray(x) for x in _as_leaves(which, spec, params, treedef, len(leaves))]


# --------------------------------------------------------------------------------- the builder

def _with_lr(hp: Any, lr: Any) -> Any:
    """A copy of validated hyperparameters with a traced learning rate (a schedule's value)."""
    out = copy.copy(hp)
    object.__setattr__(out, "lr", lr)
    return out


def _reads_param(hp: Any) -> bool:
    """Whether a step reads θ other than to add the increment to it (weight decay does)."""
    return getattr(hp, "weight_decay", 0.0) != 0.0


def _optax_delegate(alg: Any, hp: Any, schedule: Any, mu_dtype: Any) -> tuple[Any, Any] | None:
    """``(optax transformation, Reference)`` when optax computes exactly this configuration."""
    for ref in alg.references:
        if ref.framework != "optax" or not ref.applies(hp):
            continue
        factory = getattr(optax, ref.target.rpartition(".")[2])
        kwargs = dict(ref.kwargs(hp))
        if schedule is not None:
            kwargs["learning_rate"] = schedule
        if mu_dtype is not None:
            if "mu_dtype" not in inspect.signature(factory).parameters:
                continue
            kwargs["mu_dtype"] = mu_dtype
        tx = factory(**kwargs)
        mapped = set(ref.state.values()) | {_COUNT}
        probe = tx.init({"p": jnp.zeros(1)})
        if not _named_fields(probe) <= mapped:
            continue                     # optax keeps state we cannot fill: use the oracle
        return tx, ref
    return None


def _named_fields(state: Any) -> set[str]:
    """Names of the NamedTuple fields holding arrays anywhere in an optax state."""
    out: set[str] = set()
    if isinstance(state, tuple) and hasattr(state, "_fields"):
        for f, v in zip(state._fields, state):
            if isinstance(v, tuple):
                out |= _named_fields(v)
            elif jax.tree.leaves(v):
                out.add(f)
    elif isinstance(state, (tuple, list)):
        for v in state:
            out |= _named_fields(v)
    return out


def _inject(state: Any, values: Mapping[str, Any]) -> Any:
    """Replace the named fields wherever they occur in an optax state tree."""
    if isinstance(state, tuple) and hasattr(state, "_fields"):
        return type(state)(*(values[f] if f in values else (_inject(v, values) if isinstance(v, tuple) else v)
                             for f, v in zip(state._fields, state)))
    if isinstance(state, tuple):
        return tuple(_inject(v, values) for v in state)
    return state


def _extract(state: Any, names: set[str], out: dict[str, Any] | None = None) -> dict[str, Any]:
    out = {} if out is None else out
    if isinstance(state, tuple) and hasattr(state, "_fields"):
        for f, v in zip(state._fields, state):
            if f in names:
                out.setdefault(f, v)
            elif isinstance(v, tuple):
                _extract(v, names, out)
    elif isinstance(state, tuple):
        for v in state:
            _extract(v, names, out)
    return out


@lru_cache(maxsize=None)
def _creates(name: str, hyper_items: tuple) -> frozenset[str]:
    """State arrays the oracle starts as ``None`` and fills on the first step (torch's lazily
    created SGD momentum buffer): found by tracing one step abstractly."""
    alg = OPTIMIZERS[name]
    hp = alg.hyper(**dict(hyper_items))
    p = jax.ShapeDtypeStruct((1,), jnp.float32)

    def one(p, g):
        st = alg.init(p, hp)._replace(step=jnp.zeros((), jnp.int32))
        return alg.init(p, hp), alg.update(p, g, st, hp)[1]

    before, after = jax.eval_shape(one, p, p)
    return frozenset(k for k in alg.state_names if getattr(before, k) is None and getattr(after, k) is not None)


def check_traceable(alg: Any, hp: Any, schedule: Any) -> None:
    """Trace one step with a traced step count (and learning rate, for a schedule) so that a
    configuration the oracle cannot run under ``jit`` fails now, with the reason."""
    p = jax.ShapeDtypeStruct((1,), jnp.float32)

    def one(p, g, lr):
        h = hp if schedule is None else _with_lr(hp, lr)
        st = alg.init(p, hp)
        st = st._replace(step=jnp.zeros((), jnp.int32),
                         **{k: jnp.zeros_like(p) for k in _creates(alg.name, _items(hp))})
        return alg.update(p, g, st, h)

    try:
        jax.eval_shape(one, p, p, jax.ShapeDtypeStruct((), jnp.float32))
    except (jax.errors.ConcretizationTypeError, ValueError, TypeError) as exc:
        what = "with a learning_rate schedule " if schedule is not None else ""
        raise ValueError(f"{alg.name} {what}cannot run under jit with these hyperparameters ({hp}): the "
                         f"oracle needs a concrete step count or learning rate here ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0]})") from exc


def _items(hp: Any) -> tuple:
    import dataclasses
    return tuple((f.name, getattr(hp, f.name)) for f in dataclasses.fields(hp))


def build(name: str, hyper: Mapping[str, Any], *, schedule: Callable | None = None, moments: Moments = Moments(),
          mu_dtype: Any = None, empty: frozenset[str] | None = None) -> optax.GradientTransformation:
    """The transformation of registry entry ``name`` with oracle-named ``hyper`` keywords.

    ``schedule``: a learning-rate schedule ``count -> lr``, or a (traced) array learning rate as
    ``optax.inject_hyperparams`` passes it (``hyper['lr']`` is then only a placeholder); ``mu_dtype``: storage dtype of the first-moment arrays; ``empty``: state arrays
    that start empty as in torch (default: those the oracle creates lazily, unless ``m0`` fills them).
    """
    alg = OPTIMIZERS[name]
    hp = alg.hyper(**hyper)
    if moments.v0 is not None and not alg.second_moment:
        raise ValueError(f"{name} keeps no second-moment state; v0 does not apply (got v0={moments.v0!r})")
    if moments.m0 is not None and not alg.first_moment:
        raise ValueError(f"{name} keeps no first-moment state; m0 does not apply (got m0={moments.m0!r})")
    lr_at = None if schedule is None else (schedule if callable(schedule) else (lambda count: schedule))
    check_traceable(alg, hp, lr_at)
    fields = state_fields(name)
    cls = state_class(name)
    creates = _creates(name, _items(hp))
    if empty is None:
        empty = frozenset() if moments.m0 is not None else creates
    empty = frozenset(empty) & creates
    delegate = _optax_delegate(alg, hp, schedule, mu_dtype)
    firsts = set(alg.first_moment)
    oracle_cls = type(alg.init(np.zeros(1), hp))
    reads_param = _reads_param(hp)

    def store(k: str, x: Any) -> Any:
        return x.astype(mu_dtype) if (mu_dtype is not None and k in firsts and x is not None) else x

    def init_fn(params: Any) -> Any:
        leaves, treedef = jax.tree.flatten(params)
        v0s = resolve_moments("v0", moments, params) or [None] * len(leaves)
        m0s = resolve_moments("m0", moments, params) or [None] * len(leaves)
        states = [alg.init(p, hp, v0=v, m0=m) for p, v, m in zip(leaves, v0s, m0s)]
        return _distinct_buffers(from_oracle_states(name, states, leaves, treedef, empty=empty, mu_dtype=mu_dtype))

    def update_fn(updates: Any, state: Any, params: Any = None) -> tuple[Any, Any]:
        if delegate is not None:
            return _delegated(delegate, updates, state, params)
        g_leaves, treedef = jax.tree.flatten(updates)
        if reads_param:
            if params is None:
                raise ValueError(f"{name} with weight_decay != 0 needs params: call update(updates, state, params)")
            p_leaves = treedef.flatten_up_to(params)
        else:                                     # the step does not read θ: evaluate at θ = 0
            p_leaves = [jnp.zeros_like(g) for g in g_leaves]
        lr = None if lr_at is None else jnp.asarray(lr_at(state.count))
        per_field = {k: (None if getattr(state, f) is None else treedef.flatten_up_to(getattr(state, f)))
                     for k, f in fields.items()}
        count = state.count
        new_u, new_fields = [], {k: [] for k in fields}
        for i, (p, g) in enumerate(zip(p_leaves, g_leaves)):
            h = hp if lr is None else _with_lr(hp, lr.astype(g.dtype))   # as optax: lr in the leaf's dtype
            cur = {k: (None if v is None else _load(v[i], p)) for k, v in per_field.items()}
            new_p, st = alg.update(p, g, oracle_cls(count, **cur), h)
            if empty:                             # torch's empty buffer before the first step
                st_e = {k: (None if k in empty else v) for k, v in cur.items()}
                new_p0, st0 = alg.update(p, g, oracle_cls(count, **st_e), h)
                first = count == 0
                new_p = jnp.where(first, new_p0, new_p)
                st = st._replace(**{k: jnp.where(first, getattr(st0, k), getattr(st, k)) for k in empty})
            new_u.append(new_p - p if reads_param else new_p)
            for k in fields:
                new_fields[k].append(getattr(st, k))
        out = {fields[k]: (None if per_field[k] is None else treedef.unflatten([store(k, x) for x in v]))
               for k, v in new_fields.items()}
        return treedef.unflatten(new_u), cls(count=optax.safe_increment(count), **out)

    def _delegated(delegate, updates, state, params):
        tx, ref = delegate
        values = {f: getattr(state, f) for f in fields.values() if getattr(state, f) is not None}
        values[_COUNT] = state.count
        inner = _inject(tx.init(updates), values)
        u, inner = tx.update(updates, inner, params)
        got = _extract(inner, set(values))
        out = {f: (got.get(f, getattr(state, f))) for f in fields.values()}
        return u, cls(count=optax.safe_increment(state.count), **out)

    return optax.GradientTransformation(init_fn, update_fn)


def signature_factory(name: str, sig: inspect.Signature, build_fn: Callable[[dict[str, Any]], Any]) -> Callable:
    """A public factory ``name`` with signature ``sig``: binds the call (a wrong argument is a
    ``TypeError`` listing the valid ones), fills the defaults and hands them to ``build_fn``."""
    valid = list(sig.parameters)

    def make(*args: Any, **kwargs: Any) -> Any:
        try:
            bound = sig.bind(*args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"{name}: {exc}; valid arguments: {', '.join(valid)}") from None
        bound.apply_defaults()
        return build_fn(dict(bound.arguments))

    make.__name__ = make.__qualname__ = name
    make.__module__ = "v0ref.backends.jax"
    make.__signature__ = sig
    return make


def _distinct_buffers(tree: Any) -> Any:
    """The state with no array twice (AMSGrad's max starts as v itself): a leaf seen before is
    copied, so ``jax.jit(..., donate_argnums=...)`` can donate every buffer of the state."""
    seen: set[int] = set()

    def once(x: Any) -> Any:
        if isinstance(x, jax.Array):
            if id(x) in seen:
                return jnp.copy(x)
            seen.add(id(x))
        return x
    return jax.tree.map(once, tree)


def _load(x: Any, p: Any) -> Any:
    """A stored state leaf as the oracle reads it: arrays in the parameter's dtype (``mu_dtype``
    storage is widened back); weakly typed scalars (a Python float in the oracle) as they are."""
    if x is None or getattr(x, "weak_type", False):
        return x
    return x.astype(p.dtype) if x.dtype != p.dtype and jnp.issubdtype(x.dtype, jnp.floating) else x


def from_oracle_states(name: str, states: list[Any], leaves: list[Any], treedef: Any, *,
                       empty: frozenset[str] = frozenset(), mu_dtype: Any = None) -> Any:
    """Per-leaf oracle states (NamedTuples or dicts of oracle names) -> the JAX state NamedTuple.

    A field the oracle holds as ``None`` everywhere stays ``None``, except the ``empty`` ones
    (stored as zeros until the first step); scalar state (a Python float) becomes a 0-d array.
    """
    alg = OPTIMIZERS[name]
    fields, cls = state_fields(name), state_class(name)
    firsts = set(alg.first_moment)
    as_dicts = [s if isinstance(s, Mapping) else s._asdict() for s in states]
    steps = {int(d["step"]) for d in as_dicts}
    if len(steps) > 1:
        raise ValueError(f"the per-parameter states have different step counts {sorted(steps)}; "
                         "the JAX state keeps one count")
    count = jnp.asarray(steps.pop() if steps else 0, dtype=jnp.int32)
    out = {}
    for k, f in fields.items():
        vals = [d[k] for d in as_dicts]
        if all(v is None for v in vals):
            out[f] = (treedef.unflatten([jnp.zeros_like(p) for p in leaves]) if k in empty and leaves
                      else None)
            continue
        if any(v is None for v in vals):
            raise ValueError(f"state {k!r} is None for some parameters only")
        arrs = [jnp.asarray(v) if not isinstance(v, numbers.Real) else jnp.asarray(float(v)) for v in vals]
        if mu_dtype is not None and k in firsts:
            arrs = [a.astype(mu_dtype) for a in arrs]
        out[f] = treedef.unflatten(arrs)
    return cls(count=count, **out)


def to_oracle_states(name: str, state: Any, treedef: Any, *, empty: frozenset[str] = frozenset()) -> list[dict]:
    """The JAX state NamedTuple -> one dict per leaf of oracle names to NumPy values (``step`` an
    int; 0-d scalar state as Python floats; an ``empty`` field before the first step as ``None``)."""
    fields = state_fields(name)
    n = treedef.num_leaves
    step = int(state.count)
    out = [{"step": step} for _ in range(n)]
    for k, f in fields.items():
        tree = getattr(state, f)
        vals = [None] * n if tree is None or (k in empty and step == 0) else treedef.flatten_up_to(tree)
        for d, v in zip(out, vals):
            d[k] = None if v is None else (float(v) if getattr(v, "weak_type", False) else np.array(v))
    return out
