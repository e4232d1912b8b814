r"""Move optimizer state between PyTorch and JAX mid-training: torch ``state_dict`` <-> optax state.

A run can stop in one framework and continue in the other with the same moments: the torch port's
``optimizer.state_dict()`` (torch's names: ``step``, ``exp_avg``, ``exp_avg_sq``,
``max_exp_avg_sq``, ``square_avg``, ``momentum_buffer``, ...) becomes the JAX port's optax-shaped
state (``count``, ``mu``, ``nu``, ``nu_max``, ...) and back, for every element-wise algorithm both
ports have.  Conversion is exact: arrays are copied bit for bit (in the dtype they were stored in);
only the step count changes type (torch's float32 ``step`` tensor per parameter <-> optax's one
``int32`` ``count``).

**The pivot** is the oracle's own state: one dict per parameter, in torch's parameter order, of
oracle state names to NumPy arrays (``step`` an int, scalar state a Python float, ``None`` where
the oracle keeps none) — the `v0ref.backends.PortRun.export` format, so the same records also
load into the NumPy oracle or any port.  ``torch_to_optax = oracle_to_optax ∘ torch_to_oracle``
and ``optax_to_torch = oracle_to_torch ∘ optax_to_oracle``.

**Names** come from the registry, not from hand lists: torch keys are `torch_names` (torch's
``Reference.state`` names where torch has the method, else pytorch_optimizer's, else the
oracle's — the torch port's rule), optax fields are the JAX port's ``STATE_FIELDS``.

**Parameter order** is explicit.  torch numbers parameters ``0..N-1`` in the order of its
``param_groups``; a JAX model is a pytree.  ``param_order`` is a pytree shaped like ``params``
whose leaves are those torch indices (``{"dense": {"w": 0, "b": 1}}``); the default pairs torch
index ``k`` with the ``k``-th leaf of ``jax.tree.leaves(params)`` (dict keys sorted).

Example
-------
>>> import torch, jax.numpy as jnp
>>> from v0ref import interop
>>> from v0ref.backends.torch import Adam
>>> from v0ref.backends.jax import adam
>>> w, b = torch.nn.Parameter(torch.ones(2, 3)), torch.nn.Parameter(torch.zeros(3))
>>> opt = Adam([w, b], lr=0.1)
>>> (w.sum() + b.sum()).backward(); opt.step()
>>> params = {"w": jnp.ones((2, 3)), "b": jnp.zeros(3)}          # torch index: w -> 0, b -> 1
>>> tx = adam(0.1, convention="torch")
>>> state = interop.torch_to_optax(opt.state_dict(), params, algorithm="adam",
...                                like=tx.init(params), param_order={"w": 0, "b": 1})
>>> int(state.count), round(float(state.mu["w"][0, 0]), 6)
(1, 0.1)
>>> back = interop.optax_to_torch(state, params, algorithm="adam", param_order={"w": 0, "b": 1},
...                               like=opt.state_dict())
>>> torch.equal(back["state"][0]["exp_avg_sq"], opt.state_dict()["state"][0]["exp_avg_sq"])
True
"""

from __future__ import annotations

import copy
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from .algorithms import OPTIMIZERS

__all__ = ["torch_names", "optax_fields", "torch_to_oracle", "oracle_to_torch", "optax_to_oracle",
           "oracle_to_optax", "torch_to_optax", "optax_to_torch", "supported"]

Array = Any
PyTree = Any


# --------------------------------------------------------------------------------------------
# names, from the registry
# --------------------------------------------------------------------------------------------

def _algorithm(algorithm: str) -> Any:
    if not isinstance(algorithm, str) or algorithm not in OPTIMIZERS:
        raise ValueError(f"algorithm must be a registry name ({', '.join(OPTIMIZERS)}); got {algorithm!r}")
    alg = OPTIMIZERS[algorithm]
    if alg.kind != "elementwise":
        raise ValueError(f"algorithm {algorithm!r} is {alg.kind}; only element-wise optimizers keep "
                         "per-parameter state that the two frameworks share")
    return alg


def supported() -> tuple[str, ...]:
    """Registry entries whose state converts (every element-wise algorithm)."""
    return tuple(n for n, a in OPTIMIZERS.items() if a.kind == "elementwise")


def torch_names(algorithm: str) -> dict[str, str]:
    """Oracle state name -> key in the torch port's ``state_dict``: torch's name where a registry
    ``Reference`` to torch maps it, else pytorch_optimizer's, else the oracle's own.  The step
    count is ``"step"``.

    >>> torch_names("adam")
    {'m': 'exp_avg', 'v': 'exp_avg_sq', 'v_max': 'max_exp_avg_sq'}
    """
    alg = _algorithm(algorithm)
    names = {n: n for n in alg.state_names}
    for framework in ("pytorch_optimizer", "torch"):          # torch's names win
        for ref in alg.references:
            if ref.framework == framework:
                names.update({k: v for k, v in ref.state.items() if k in names and v})
    return names


def optax_fields(algorithm: str) -> dict[str, str]:
    """Oracle state name -> field of the JAX port's state NamedTuple (its ``STATE_FIELDS``); the
    step count is ``count``.

    >>> optax_fields("rmsprop")
    {'v': 'nu', 'g_avg': 'mu', 'm': 'trace'}
    """
    _algorithm(algorithm)
    from .backends import jax as _jax_port
    return dict(_jax_port.STATE_FIELDS[algorithm])


def _scalar_fields(alg: Any) -> set[str]:
    """State the oracle keeps as a Python number (NAdam's Π_t), not an array per parameter."""
    template = alg.init(np.zeros(1), alg.hyper())
    return {k for k, v in template._asdict().items() if k != "step" and isinstance(v, numbers.Number)}


def _lazy_fields(alg: Any, hp: Any) -> set[str]:
    """State the oracle creates on the first step (torch's SGD momentum buffer): ``None`` after
    ``init`` and an array after one ``update``, under hyperparameters ``hp``."""
    p = np.zeros(1)
    before = alg.init(p, hp)
    after = alg.update(p, np.ones(1), before, hp)[1]
    return {k for k in alg.state_names if getattr(before, k) is None and getattr(after, k) is not None}


# --------------------------------------------------------------------------------------------
# torch <-> oracle records
# --------------------------------------------------------------------------------------------

def _as_state_dict(obj: Any, what: str) -> Mapping[str, Any]:
    if hasattr(obj, "state_dict") and callable(obj.state_dict):
        obj = obj.state_dict()
    if not isinstance(obj, Mapping) or "state" not in obj or "param_groups" not in obj:
        raise TypeError(f"{what} must be a torch optimizer or its state_dict() "
                        f"({{'state': ..., 'param_groups': ...}}); got {type(obj).__name__}")
    return obj


def _torch_indices(state_dict: Mapping[str, Any]) -> list[Any]:
    return [i for group in state_dict["param_groups"] for i in group["params"]]


def _tensor_to_numpy(t: Any, where: str) -> np.ndarray:
    import torch
    if not isinstance(t, torch.Tensor):
        return np.array(t)
    if t.is_complex():
        raise ValueError(f"{where} is complex; complex parameters do not convert (the JAX port has no "
                         "complex state)")
    t = t.detach().cpu()
    if t.dtype == torch.bfloat16:                 # NumPy has no bfloat16: go through ml_dtypes
        import ml_dtypes
        return t.view(torch.int16).numpy().view(ml_dtypes.bfloat16).copy()
    return t.numpy().copy()


def torch_to_oracle(state_dict: Any, *, algorithm: str) -> list[dict[str, Any]]:
    """A torch ``state_dict`` (or optimizer) -> one oracle-named record per parameter, in torch's
    parameter order.  A key the torch state lacks is ``None``; a key that is not the algorithm's
    is a ``ValueError`` (state would be lost silently otherwise)."""
    alg = _algorithm(algorithm)
    sd = _as_state_dict(state_dict, "state_dict")
    names = torch_names(algorithm)
    scalars = _scalar_fields(alg)
    known = set(names.values()) | {"step"}
    out = []
    for pos, index in enumerate(_torch_indices(sd)):
        entry = sd["state"].get(index, {})
        unknown = sorted(set(entry) - known)
        if unknown:
            raise ValueError(f"state_dict['state'][{index!r}] has keys {unknown} that {algorithm!r} does not "
                             f"keep (expected among {sorted(known)})")
        step = entry.get("step", 0)
        record: dict[str, Any] = {"step": int(float(step))}
        if float(step) != record["step"]:
            raise ValueError(f"state_dict['state'][{index!r}]['step'] is not a whole number: {float(step)}")
        for k, key in names.items():
            v = entry.get(key)
            if v is None:
                record[k] = None
            elif k in scalars:
                record[k] = float(v)
            else:
                record[k] = _tensor_to_numpy(v, f"state_dict['state'][{index!r}][{key!r}]")
        out.append(record)
    return out


def _hyper_from_groups(alg: Any, groups: Sequence[Mapping[str, Any]]) -> Any:
    import dataclasses
    fields = {f.name for f in dataclasses.fields(alg.hyper_cls) if f.init}
    kw = {k: (tuple(v) if k == "betas" else v) for k, v in (groups[0] if groups else {}).items() if k in fields}
    kw = {k: (v.item() if hasattr(v, "item") and getattr(v, "ndim", 1) == 0 else v) for k, v in kw.items()}
    return alg.hyper(**kw)


def _numpy_to_tensor(x: np.ndarray, like: Any = None) -> Any:
    import torch
    if x.dtype.name == "bfloat16":
        t = torch.from_numpy(x.view(np.int16).copy()).view(torch.bfloat16)
    else:
        t = torch.from_numpy(np.array(x, copy=True))
    return t.to(like.device) if isinstance(like, torch.Tensor) else t


def oracle_to_torch(states: Sequence[Mapping[str, Any]], *, algorithm: str, like: Any = None) -> dict[str, Any]:
    """Oracle records (torch's parameter order) -> a torch ``state_dict``.

    ``like``: the target torch optimizer (or its ``state_dict()``): its ``param_groups`` (with their
    hyperparameters) are copied into the result and its tensors' devices are kept, so
    ``optimizer.load_state_dict(result)`` works.  Without it the single param group holds only
    ``params`` — fine for inspection, not for ``load_state_dict``.

    ``step`` becomes a 0-d float32 tensor (torch's type) and scalar state a 0-d float64 tensor (the
    torch port keeps the oracle's Python float that way).  A state the oracle creates on the first
    step (SGD's momentum buffer) is left out at step 0 when it is still all zeros, as torch does.
    """
    import torch
    alg = _algorithm(algorithm)
    names, scalars = torch_names(algorithm), _scalar_fields(alg)
    states = list(states)
    if like is not None:
        like_sd = _as_state_dict(like, "like")
        indices = _torch_indices(like_sd)
        if len(indices) != len(states):
            raise ValueError(f"like has {len(indices)} parameters; got {len(states)} states")
        groups = copy.deepcopy(list(like_sd["param_groups"]))
        hp = _hyper_from_groups(alg, groups)
        like_state = like_sd["state"]
    else:
        indices = list(range(len(states)))
        groups = [{"params": indices}]
        hp, like_state = alg.hyper(), {}
    lazy = _lazy_fields(alg, hp)
    out: dict[Any, dict[str, Any]] = {}
    for index, record in zip(indices, states):
        old = like_state.get(index, {})
        entry: dict[str, Any] = {"step": torch.tensor(float(int(record["step"])), dtype=torch.float32)}
        for k, key in names.items():
            v = record.get(k)
            if v is None:
                continue
            if k in scalars:
                entry[key] = torch.tensor(float(v), dtype=torch.float64)
                continue
            v = np.asarray(v)
            if k in lazy and int(record["step"]) == 0 and not np.any(v):
                continue
            entry[key] = _numpy_to_tensor(v, old.get(key))
        out[index] = entry
    return {"state": out, "param_groups": groups}


# --------------------------------------------------------------------------------------------
# optax <-> oracle records
# --------------------------------------------------------------------------------------------

def _order(params: PyTree, param_order: PyTree | None) -> tuple[list[Any], Any, list[int]]:
    """``(leaves, treedef, perm)``: ``perm[k]`` is the leaf holding torch parameter ``k``."""
    import jax
    leaves, treedef = jax.tree.flatten(params)
    n = len(leaves)
    if param_order is None:
        return leaves, treedef, list(range(n))
    try:
        order = treedef.flatten_up_to(param_order)
    except (ValueError, TypeError):
        raise ValueError(f"param_order must be a pytree shaped like params ({treedef}) with int leaves; got "
                         f"{jax.tree.structure(param_order)}") from None
    if sorted(int(i) if isinstance(i, numbers.Integral) and not isinstance(i, bool) else -1 for i in order) \
            != list(range(n)):
        raise ValueError(f"param_order's leaves must be the torch indices 0..{n - 1}, each once; got {order}")
    perm = [0] * n
    for leaf, index in enumerate(order):
        perm[int(index)] = leaf
    return leaves, treedef, perm


def _find_port_state(state: PyTree, algorithm: str) -> Any:
    import jax
    from .backends import jax as _jax_port
    cls = _jax_port.state_class(algorithm)
    found = [x for x in jax.tree.leaves(state, is_leaf=lambda x: isinstance(x, cls)) if isinstance(x, cls)]
    if len(found) != 1:
        raise ValueError(f"expected one {cls.__name__} (the JAX port's {algorithm!r} state) inside the optax "
                         f"state; found {len(found)}")
    return found[0]


def optax_to_oracle(state: PyTree, params: PyTree, *, algorithm: str,
                    param_order: PyTree | None = None) -> list[dict[str, Any]]:
    """The JAX port's state (alone, or inside a chain / ``inject_hyperparams`` / ``MultiSteps``
    state) -> oracle records in torch's parameter order (``param_order``, module docstring)."""
    alg = _algorithm(algorithm)
    leaves, treedef, perm = _order(params, param_order)
    port_state = _find_port_state(state, algorithm)
    fields, scalars = optax_fields(algorithm), _scalar_fields(alg)
    count = np.asarray(port_state.count)
    if count.shape != ():
        raise ValueError(f"count must be a scalar; got shape {count.shape} (a vmapped state converts one slice "
                         "at a time)")
    per_leaf: list[dict[str, Any]] = [{"step": int(count)} for _ in leaves]
    for k, f in fields.items():
        tree = getattr(port_state, f)
        values = [None] * len(leaves) if tree is None else treedef.flatten_up_to(tree)
        for record, v in zip(per_leaf, values):
            if v is None:
                record[k] = None
            elif k in scalars:
                record[k] = float(v)
            else:
                record[k] = np.array(v)              # gathers a sharded array; copies
    return [per_leaf[perm[k]] for k in range(len(leaves))]


def oracle_to_optax(states: Sequence[Mapping[str, Any]], params: PyTree, *, algorithm: str,
                    like: PyTree | None = None, param_order: PyTree | None = None) -> PyTree:
    """Oracle records (torch's parameter order) -> the JAX port's state.

    ``like``: the state to fill, ``tx.init(params)`` of the transformation the run continues with
    (the port's state may sit inside a chain, ``inject_hyperparams`` or ``MultiSteps``; only it is
    replaced).  Each array takes the dtype and sharding of ``like``'s array (``mu_dtype``
    included), else of its parameter; fields ``like`` keeps as zeros before the first step (SGD's
    momentum) are zeros where the records hold ``None``; a field the records hold but ``like``
    keeps as ``None`` (an ``m0`` given to an optimizer whose options keep no momentum) is carried
    over, as the port's own ``init`` with that ``m0`` would.  Without ``like`` the port's bare
    state NamedTuple is returned.  The steps of all parameters must agree (optax keeps one ``count``).
    """
    import jax
    import jax.numpy as jnp
    from .backends import jax as _jax_port
    alg = _algorithm(algorithm)
    leaves, treedef, perm = _order(params, param_order)
    states = list(states)
    if len(states) != len(leaves):
        raise ValueError(f"got {len(states)} states for {len(leaves)} parameters")
    by_leaf: list[Any] = [None] * len(leaves)
    for k, leaf in enumerate(perm):
        by_leaf[leaf] = states[k]
    fields, scalars = optax_fields(algorithm), _scalar_fields(alg)
    cls = _jax_port.state_class(algorithm)
    target = _find_port_state(like, algorithm) if like is not None else None
    steps = sorted({int(s["step"]) for s in states})
    if len(steps) > 1:
        raise ValueError(f"the parameters have different step counts {steps}; optax keeps one count")

    def place(k: str, values: list[Any]) -> Any:
        """Arrays straight from the host records (no float64 -> float32 detour without x64), in the
        dtype and sharding of like's array, else of the parameter."""
        kept = target is not None and getattr(target, fields[k]) is not None
        templates = treedef.flatten_up_to(getattr(target, fields[k])) if kept else leaves
        return treedef.unflatten([
            jax.device_put(np.asarray(x).astype(t.dtype), t.sharding) if isinstance(t, jax.Array)
            else jnp.asarray(np.asarray(x), dtype=jnp.result_type(t)) for x, t in zip(values, templates)])

    out: dict[str, Any] = {}
    for k, f in fields.items():
        values = [s.get(k) for s in by_leaf]
        if all(v is None for v in values):
            # like keeps zeros before the first step where torch has no buffer yet (SGD momentum)
            zeros = target is not None and getattr(target, f) is not None
            out[f] = place(k, [np.zeros(np.shape(p)) for p in leaves]) if zeros else None
        elif any(v is None for v in values):
            raise ValueError(f"state {k!r} is missing for some parameters only")
        elif k in scalars:
            out[f] = treedef.unflatten([jnp.asarray(float(v)) for v in values])   # weakly typed, as the port
        else:
            out[f] = place(k, values)
    new = cls(count=jnp.asarray(steps[0] if steps else 0, dtype=jnp.int32), **out)
    if target is None:
        return new
    return jax.tree.map(lambda x: new if isinstance(x, cls) else x, like, is_leaf=lambda x: isinstance(x, cls))


# --------------------------------------------------------------------------------------------
# the two directions
# --------------------------------------------------------------------------------------------

def torch_to_optax(state_dict: Any, params: PyTree, *, algorithm: str, like: PyTree | None = None,
                   param_order: PyTree | None = None) -> PyTree:
    """A torch port ``state_dict`` (or the optimizer) -> the JAX port's state for ``params``.

    Parameters
    ----------
    state_dict : ``optimizer.state_dict()`` of the torch port (a torch.optim checkpoint of the same
        method works too), or the optimizer itself.
    params : the JAX parameter pytree (structure, and dtype/sharding when ``like`` is not given).
    algorithm : the registry name (``"adam"``, ``"rmsprop"``, ...).
    like : ``tx.init(params)`` of the transformation to continue with (recommended; see
        `oracle_to_optax`).
    param_order : pytree shaped like ``params`` of torch parameter indices (module docstring).

    Notes
    -----
    The JAX transformation must be built with the hyperparameters and ``convention`` the torch
    optimizer used (e.g. ``adam(lr, convention="torch")``) for the run to continue unchanged.
    """
    return oracle_to_optax(torch_to_oracle(state_dict, algorithm=algorithm), params, algorithm=algorithm,
                           like=like, param_order=param_order)


def optax_to_torch(state: PyTree, params: PyTree, *, algorithm: str, param_order: PyTree | None = None,
                   like: Any = None) -> dict[str, Any]:
    """The JAX port's state (possibly inside a larger optax state) -> a torch ``state_dict``.

    ``params`` gives the pytree structure, ``param_order`` the torch index of each leaf (module
    docstring); ``like`` (the target torch optimizer or its ``state_dict()``) supplies the
    ``param_groups`` so that ``optimizer.load_state_dict(result)`` works — see `oracle_to_torch`.
    """
    return oracle_to_torch(optax_to_oracle(state, params, algorithm=algorithm, param_order=param_order),
                           algorithm=algorithm, like=like)
