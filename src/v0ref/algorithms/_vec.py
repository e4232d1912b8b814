"""Whole-vector helpers for the methods that treat all parameters as one vector.

L-BFGS, nonlinear CG and Hessian-free work on the concatenation ``x = [vec(p_1); …; vec(p_k)]``
of the parameter list, as ``torch.optim.LBFGS`` does (``_gather_flat_grad``).  These helpers
flatten and unflatten lists of arrays of any array-API namespace, take inner products and norms
(returned as Python floats: the methods branch on them), and validate parameter lists and
objectives with messages that name what is wrong.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from array_api_compat import array_namespace

__all__ = ["flatten", "unflatten", "dot", "amax_abs", "asum_abs", "norm", "check_params",
           "check_objective", "as_float", "evaluate"]

Array = Any


def flatten(xs: Sequence[Array]) -> Array:
    """``[vec(x_1); …; vec(x_k)]`` as one 1-D array (row-major, as torch's ``view(-1)``)."""
    xs = list(xs)
    xp = array_namespace(*xs)
    return xp.concat([xp.reshape(x, (-1,)) for x in xs])


def unflatten(flat: Array, like: Sequence[Array]) -> list[Array]:
    """Split a 1-D array back into arrays shaped like ``like``."""
    xp = array_namespace(flat)
    out, offset = [], 0
    for x in like:
        shape = tuple(x.shape)
        n = math.prod(shape)
        out.append(xp.reshape(flat[offset:offset + n], shape))
        offset += n
    if offset != flat.shape[0]:
        raise ValueError(f"flat vector has {flat.shape[0]} elements but the parameters hold {offset}")
    return out


def as_float(x: Any) -> float:
    """A 0-d array (or number) as a Python float."""
    return float(x)


def dot(a: Array, b: Array) -> float:
    """``aᵀb`` of two 1-D arrays, as a Python float."""
    xp = array_namespace(a, b)
    return float(xp.sum(a * b))


def amax_abs(a: Array) -> float:
    """``max_i |a_i|`` (0 for an empty vector)."""
    xp = array_namespace(a)
    return float(xp.max(xp.abs(a))) if a.shape[0] else 0.0


def asum_abs(a: Array) -> float:
    """``Σ_i |a_i|``."""
    xp = array_namespace(a)
    return float(xp.sum(xp.abs(a)))


def norm(a: Array) -> float:
    """Euclidean norm ``‖a‖₂``."""
    return math.sqrt(dot(a, a))


def check_params(params: Any, name: str, method: str) -> list[Array]:
    """A non-empty list of finite floating arrays of one namespace (the start of a whole-vector run)."""
    if hasattr(params, "shape") or not isinstance(params, Sequence) or isinstance(params, str):
        raise TypeError(f"{method}: {name} must be a list of arrays (the whole parameter list); "
                        f"got {type(params).__name__}")
    params = list(params)
    if not params:
        raise ValueError(f"{method}: {name} is empty")
    try:
        xp = array_namespace(*params)
    except TypeError as exc:
        raise TypeError(f"{method}: {name} must hold arrays of one array-API namespace ({exc})") from None
    for i, p in enumerate(params):
        if not xp.isdtype(p.dtype, "real floating"):
            raise TypeError(f"{method}: {name}[{i}] has dtype {p.dtype}; a real floating dtype is required")
        if not bool(xp.all(xp.isfinite(p))):
            raise ValueError(f"{method}: {name}[{i}] is not finite (NaN or inf in the start point)")
    return params


def check_objective(objective: Any, method: str, *, needs: tuple[str, ...] = ("loss", "grad")) -> None:
    """``objective`` implements the methods ``needs`` of the `v0ref.objectives` protocol."""
    missing = [m for m in needs if not callable(getattr(objective, m, None))]
    if missing:
        raise TypeError(f"{method}: objective must provide {', '.join(needs)} (the v0ref.objectives protocol); "
                        f"{type(objective).__name__} lacks {', '.join(missing)}")


def evaluate(objective: Any, flat: Array, like: Sequence[Array]) -> tuple[float, Array]:
    """Loss (Python float) and flat gradient at the flat point ``flat``; shapes are checked."""
    x = unflatten(flat, like)
    if callable(getattr(objective, "value_and_grad", None)):
        f, g = objective.value_and_grad(x)
    else:
        f, g = objective.loss(x), objective.grad(x)
    g = list(g)
    if len(g) != len(like) or any(tuple(a.shape) != tuple(b.shape) for a, b in zip(g, like)):
        raise ValueError("objective.grad returned shapes "
                         f"{[tuple(a.shape) for a in g]} but the parameters have {[tuple(b.shape) for b in like]}")
    return float(f), flatten(g)
