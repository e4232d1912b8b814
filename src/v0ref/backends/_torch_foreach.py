"""The oracle over a whole list of tensors: an array type whose operations are ``torch._foreach_*``.

`TensorList` wraps a list of tensors and implements the slice of the array API the element-wise
algorithms use (arithmetic, comparisons, ``sqrt``, ``abs``, ``sign``, ``maximum``, ``minimum``,
``clip``, ``where``, ``zeros_like`` ...).  Running an algorithm's ``update`` on TensorLists
runs each of its operations once over every tensor (torch's horizontal fusion, one kernel launch
per operation instead of one per operation and tensor), with no second copy of the math.  Each
operation computes exactly what the per-tensor torch operation computes, so this path equals the
single-tensor oracle path bit for bit (checked by ``tests/test_torch_port.py``).

Python scalars stay Python scalars, as in the oracle, so dtypes are never promoted.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import torch

__all__ = ["TensorList", "NAMESPACE"]


def _is_scalar(x: Any) -> bool:
    return isinstance(x, numbers.Number) and not isinstance(x, bool)


class TensorList:
    """A list of tensors acting as one array (see the module docstring)."""

    __slots__ = ("tensors",)

    def __init__(self, tensors: Sequence[torch.Tensor]):
        self.tensors = list(tensors)

    def __array_namespace__(self, api_version: Any = None) -> Any:
        return NAMESPACE

    @property
    def shape(self) -> tuple:
        return tuple(tuple(t.shape) for t in self.tensors)

    @property
    def dtype(self) -> Any:
        return self.tensors[0].dtype if self.tensors else None

    def __len__(self) -> int:
        return len(self.tensors)

    # ---- binary arithmetic: list ∘ list and list ∘ scalar map onto _foreach_*, scalar ∘ list
    # ---- (where no foreach form exists with the same rounding) onto one torch op per tensor
    def _binary(self, other: Any, foreach, op) -> "TensorList":
        if isinstance(other, TensorList):
            return TensorList(foreach(self.tensors, other.tensors))
        if _is_scalar(other):
            return TensorList(foreach(self.tensors, other))
        return NotImplemented

    def __add__(self, other):
        return self._binary(other, torch._foreach_add, torch.add)

    def __radd__(self, other):
        return self.__add__(other)

    def __sub__(self, other):
        return self._binary(other, torch._foreach_sub, torch.sub)

    def __rsub__(self, other):
        if _is_scalar(other):                       # c − x = (−x) + c exactly (IEEE), signed zeros too
            return TensorList(torch._foreach_add(torch._foreach_neg(self.tensors), other))
        return NotImplemented

    def __mul__(self, other):
        return self._binary(other, torch._foreach_mul, torch.mul)

    def __rmul__(self, other):
        return self.__mul__(other)

    def __truediv__(self, other):
        return self._binary(other, torch._foreach_div, torch.div)

    def __rtruediv__(self, other):
        if _is_scalar(other):
            return TensorList([torch.div(other, t) for t in self.tensors])
        return NotImplemented

    def __pow__(self, other):
        if _is_scalar(other) or isinstance(other, TensorList):
            return TensorList(torch._foreach_pow(self.tensors, other.tensors if isinstance(other, TensorList)
                                                 else other))
        return NotImplemented

    def __neg__(self):
        return TensorList(torch._foreach_neg(self.tensors))

    def __pos__(self):
        return self

    def _compare(self, other: Any, op) -> "TensorList":
        if isinstance(other, TensorList):
            return TensorList([op(a, b) for a, b in zip(self.tensors, other.tensors)])
        return TensorList([op(a, other) for a in self.tensors])

    def __gt__(self, other):
        return self._compare(other, torch.gt)

    def __ge__(self, other):
        return self._compare(other, torch.ge)

    def __lt__(self, other):
        return self._compare(other, torch.lt)

    def __le__(self, other):
        return self._compare(other, torch.le)

    def __eq__(self, other):  # type: ignore[override]
        return self._compare(other, torch.eq)

    def __ne__(self, other):  # type: ignore[override]
        return self._compare(other, torch.ne)

    def __and__(self, other):
        return self._compare(other, torch.logical_and)

    def __or__(self, other):
        return self._compare(other, torch.logical_or)

    def __invert__(self):
        return TensorList([torch.logical_not(t) for t in self.tensors])

    __hash__ = None  # type: ignore[assignment]


def _lists(*args: Any) -> list[Any]:
    """Per-tensor argument lists: TensorLists give their tensors, scalars repeat."""
    n = next(len(a) for a in args if isinstance(a, TensorList))
    return [a.tensors if isinstance(a, TensorList) else [a] * n for a in args]


def _pairwise(foreach, per_tensor):
    def fn(x1: Any, x2: Any) -> TensorList:
        if _is_scalar(x1) and isinstance(x2, TensorList):     # maximum/minimum are symmetric
            x1, x2 = x2, x1
        if isinstance(x1, TensorList) and (isinstance(x2, TensorList) or _is_scalar(x2)):
            return TensorList(foreach(x1.tensors, x2.tensors if isinstance(x2, TensorList) else x2))
        a, b = _lists(x1, x2)
        return TensorList([per_tensor(u, v) for u, v in zip(a, b)])
    return fn


def _clip(x: TensorList, min: Any = None, max: Any = None) -> TensorList:
    out = x.tensors
    if min is not None:
        out = (torch._foreach_maximum(out, min.tensors) if isinstance(min, TensorList)
               else torch._foreach_clamp_min(out, min))
    if max is not None:
        out = (torch._foreach_minimum(out, max.tensors) if isinstance(max, TensorList)
               else torch._foreach_clamp_max(out, max))
    return TensorList(out if out is not x.tensors else [t.clone() for t in out])


def _where(cond: TensorList, x1: Any, x2: Any) -> TensorList:
    c, a, b = _lists(cond, x1, x2)
    return TensorList([torch.where(ci, ai, bi) for ci, ai, bi in zip(c, a, b)])


def _full_like(x: TensorList, fill_value: Any, **kw: Any) -> TensorList:
    return TensorList([torch.full_like(t, fill_value, **kw) for t in x.tensors])


def _astype(x: TensorList, dtype: Any, /, *, copy: bool = True, device: Any = None) -> TensorList:
    return TensorList([t.to(dtype, copy=copy) for t in x.tensors])


NAMESPACE = SimpleNamespace(
    __name__="v0ref.backends._torch_foreach",
    sqrt=lambda x: TensorList(torch._foreach_sqrt(x.tensors)),
    abs=lambda x: TensorList(torch._foreach_abs(x.tensors)),
    sign=lambda x: TensorList(torch._foreach_sign(x.tensors)),
    exp=lambda x: TensorList(torch._foreach_exp(x.tensors)),
    log=lambda x: TensorList(torch._foreach_log(x.tensors)),
    square=lambda x: TensorList(torch._foreach_mul(x.tensors, x.tensors)),
    maximum=_pairwise(torch._foreach_maximum, torch.maximum),
    minimum=_pairwise(torch._foreach_minimum, torch.minimum),
    clip=_clip,
    where=_where,
    zeros_like=lambda x, **kw: TensorList([torch.zeros_like(t, **kw) for t in x.tensors]),
    ones_like=lambda x, **kw: TensorList([torch.ones_like(t, **kw) for t in x.tensors]),
    full_like=_full_like,
    astype=_astype,
    asarray=lambda x, **kw: x,
)
