r"""Data-driven v0 for torch models: gradient statistics over batches, on one process or many.

Abuduweili & Liu (arXiv 2412.02153), Eq. 10 (ALGORITHMS §1.5)::

    v_0 = σ · ( E[g(x_i, y_i)]² + Var[g(x_i, y_i)] ),   (x_i, y_i) ~ D      (element-wise)

estimated in one of two ways (`v0ref.stats.GradStats` documents both):

* ``mode="minibatch"`` — the repo's ``cal_grad_stats``: one observation per mini-batch, its mean
  gradient ``ḡ_k`` (one backward per batch); stop after the first K with ``K·B > data_size``;
  ``v_0 = σ·(ḡ² + B·Var[ḡ])``.  As in the repo, every batch is one observation of equal weight
  (a short last batch included) and B is the first batch's length (or ``batch_size=``).
* ``mode="per_sample"`` — one observation per sample, ``torch.func.vmap(torch.func.grad(...))``
  over the batch; exactly ``data_size`` samples (the last batch is cut), so the result does not
  depend on how the data was batched; ``v_0 = σ·(E[g]² + Var[g])``.

**Accumulation.** Per parameter, on the parameter's device, with the *shifted-data* sums of Chan,
Golub & LeVeque (1983, "Algorithms for computing the sample variance", Am. Stat. 37(3), §3): with
the first observation ``c`` as the shift and ``d_k = g_k − c``,

    S1 = Σ d_k,   S2 = Σ d_k²,   mean = c + S1/K,   M2 = S2 − S1²/K,

in place and with no allocation per batch (cheaper than a Welford update); the shift keeps the
cancellation in ``M2`` at the scale of the spread, not of the mean.  The totals are float64;
float64 gradients agree with `GradStats`' Welford recursion to float64 rounding, float32 ones
are summed in short float32 blocks first (see `_Shifted`; agreement ~1e-6 relative).  On the CPU
the compiled kernels of `v0ref.backends._stats_kernel` do each batch's update in one pass over
the sums (bit-identical to the torch ops that serve other devices and machines without a C
compiler) and `data_v0` goes from the sums to v0 in one float64 sweep per tensor.

**Several processes.** When ``torch.distributed`` is initialized, each rank reads its own shard.
The ranks advance in rounds of one batch each; a small all-reduce per round tells every rank the
others' batch lengths, so the stop rule is applied to the global count exactly as one process
would apply it to the rounds' batches taken in rank order (round 1: rank 0, rank 1, ...; then
round 2).  At the end ``(n_r, mean_r, M2_r)`` are combined with Chan's parallel formula as two
sum-reductions,

    N = Σ n_r,   mean = Σ n_r·mean_r / N,   M2 = Σ [M2_r + n_r·(mean_r − mean)²],

so every rank holds the identical statistics, hence the identical v0.
"""

from __future__ import annotations

import math
import numbers
import sys
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import torch

from .. import moments
from . import _stats_kernel
from ..stats import MODES, GradStats

__all__ = ["grad_stats", "data_v0", "DATA_KINDS"]

Batch = Any
LossFn = Callable[[torch.nn.Module, Batch], torch.Tensor]
# strategies that read gradient statistics (the paper's "data" and the repo's grad-* variants)
DATA_KINDS = tuple(name for name, s in moments.STRATEGIES.items() if s.needs and "stats" in s.needs)


# --------------------------------------------------------------------------------------------
# batches: tensors inside tuples / lists / named tuples / mappings
# --------------------------------------------------------------------------------------------

class _Slot:
    """Where the i-th tensor of a flattened batch goes."""

    __slots__ = ("index",)

    def __init__(self, index: int):
        self.index = index


class _Node:
    """A container of a flattened batch: its type and its (stripped) items."""

    __slots__ = ("kind", "items")

    def __init__(self, kind: type, items: Any):
        self.kind, self.items = kind, items


def _flatten(batch: Batch) -> tuple[list[torch.Tensor], Any]:
    """The batch's tensors in a fixed order, and a skeleton with `_Slot` where they were."""
    tensors: list[torch.Tensor] = []

    def strip(x: Any) -> Any:
        if isinstance(x, torch.Tensor):
            tensors.append(x)
            return _Slot(len(tensors) - 1)
        if isinstance(x, Mapping):
            return _Node(type(x), {k: strip(v) for k, v in x.items()})
        if isinstance(x, (list, tuple)):
            return _Node(type(x), [strip(v) for v in x])
        return x

    return tensors, strip(batch)


def _unflatten(skeleton: Any, tensors: Sequence[torch.Tensor]) -> Batch:
    """The batch of `_flatten`'s skeleton with ``tensors`` in the slots."""
    def fill(x: Any) -> Any:
        if isinstance(x, _Slot):
            return tensors[x.index]
        if not isinstance(x, _Node):
            return x
        if isinstance(x.items, dict):
            items = {k: fill(v) for k, v in x.items.items()}
            try:
                return x.kind(items)
            except TypeError:           # a mapping type without a dict constructor
                return items
        items = [fill(v) for v in x.items]
        if hasattr(x.kind, "_fields"):  # named tuple
            return x.kind(*items)
        return x.kind(items)

    return fill(skeleton)


def _leading_length(tensors: Sequence[torch.Tensor], index: int, *, strict: bool) -> int | None:
    """Length of the batch axis (axis 0 of every tensor); ``None`` when no tensor has one."""
    lengths = {int(t.shape[0]) for t in tensors if t.ndim > 0}
    if strict:
        if not tensors or any(t.ndim == 0 for t in tensors):
            raise ValueError(f"batches[{index}]: per-sample mode needs every tensor in the batch to have a "
                             f"leading batch axis")
        if len(lengths) != 1:
            raise ValueError(f"batches[{index}]: the tensors disagree on the batch length: {sorted(lengths)}")
    if not lengths:
        return None
    return int(tensors[[t.ndim > 0 for t in tensors].index(True)].shape[0])


# --------------------------------------------------------------------------------------------
# the accumulator (shifted sums, see the module docstring)
# --------------------------------------------------------------------------------------------

def _real(t: torch.Tensor) -> torch.Tensor:
    return torch.view_as_real(t) if t.is_complex() else t


class _Shifted:
    """``count``, ``S1``, ``S2`` and the shift ``c`` of each parameter's observations.

    float64 gradients are summed in float64.  Others are summed in float32 partial sums of at most
    `BLOCK` updates, folded into float64 totals (same-dtype, in-place passes are several times
    faster than mixed-dtype ones on CPU; the partial sums add a relative error of at most about
    ``BLOCK·2⁻²⁴`` of ``Σ d²``, far below the gradients' own float32 rounding in the backward pass).

    Contiguous CPU float32/float64 tensors go through the compiled kernels of
    `v0ref.backends._stats_kernel` (``fused=None``: when they can be built): one pass per
    observation, bit-identical to the torch-op path that serves every other tensor (and all of them
    with ``fused=False``); per-sample blocks are summed there in float64 directly into the totals,
    and `moments` / `form` end the pass in one float64 sweep.
    """

    BLOCK = 16
    FOLD_CHUNK = 1 << 18        # elements per step of the float32 -> float64 fold (a cache-sized scratch)

    def __init__(self, shapes: list[tuple[int, ...]], devices: list[torch.device], *, fused: bool | None = None):
        self.shapes, self.devices = shapes, devices
        self.count = 0
        self.pending = 0
        self.lib = None
        if fused is not False and any(d.type == "cpu" for d in devices):
            self.lib = _stats_kernel.kernels()
        if fused and self.lib is None:
            raise RuntimeError(f"the compiled statistics kernels are unavailable: {_stats_kernel.unavailable_reason()}")

    def _start(self, first: list[torch.Tensor], owned: list[bool] | None = None) -> None:
        self.c = []
        for f, own in zip(first, owned or [False] * len(first)):
            dtype = torch.float64 if f.dtype == torch.float64 else torch.float32
            whole = f.untyped_storage().nbytes() == f.numel() * f.element_size()
            # a fresh gradient nobody else holds becomes the shift as it is (no copy)
            self.c.append(f if own and whole and f.dtype == dtype and f.is_contiguous()
                          else f.to(dtype, memory_format=torch.contiguous_format, copy=True))
        self.b1 = [torch.zeros_like(c) for c in self.c]             # partial sums (the totals when float64)
        self.b2 = [torch.zeros_like(c) for c in self.c]
        self.d: list[torch.Tensor | None] = [None] * len(self.c)    # scratch g − c of the torch path
        self.s1: list[torch.Tensor] | None = None                   # float64 totals, from the first fold on
        self.s2: list[torch.Tensor] | None = None

    # ---------------------------------------------------------------- routing
    def _split(self, grads: list[torch.Tensor], rows: bool = False) -> tuple[dict[torch.dtype, list[int]], list[int]]:
        """Indices the kernels take (grouped by dtype) and the rest (torch ops)."""
        fast: dict[torch.dtype, list[int]] = {}
        slow = []
        lib = self.lib
        for i, (g, c) in enumerate(zip(grads, self.c)):
            ok = (lib is not None and g.device.type == "cpu" and g.dtype == c.dtype and not g.is_neg()
                  and (g[0].is_contiguous() if rows else (g.is_contiguous() and lib.usable(c.dtype))))
            if ok:
                fast.setdefault(c.dtype, []).append(i)
            else:
                slow.append(i)
        return fast, slow

    def _new_totals(self, *, zero: bool) -> None:
        """float64 totals (the partial sums themselves for float64); zeros, or left to the first fold."""
        make = torch.zeros_like if zero else torch.empty_like
        self.s1 = [b if b.dtype == torch.float64 else make(b, dtype=torch.float64) for b in self.b1]
        self.s2 = [b if b.dtype == torch.float64 else make(b, dtype=torch.float64) for b in self.b2]

    def _totals(self, i: int) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """Tensor i's float64 totals other than its partial sums (``None``: the partials are all)."""
        if self.s1 is None or self.b1[i].dtype == torch.float64:
            return None, None
        return self.s1[i], self.s2[i]

    # ---------------------------------------------------------------- observations
    def add(self, grads: list[torch.Tensor], owned: list[bool] | None = None) -> None:
        """One observation per parameter (``owned[i]``: grads[i] is fresh and may be kept)."""
        if self.count == 0:
            self._start(grads, owned)
            self.count = 1
            return
        fold = self.pending + 1 >= self.BLOCK
        first = fold and self.s1 is None
        if first:
            self._new_totals(zero=False)
        fast, slow = self._split(grads)
        for dtype, idx in fast.items():
            mode = 0 if not fold or dtype == torch.float64 else (1 if first else 2)
            pick = _picker(idx)
            self.lib.add(pick(grads), pick(self.c), pick(self.b1), pick(self.b2),
                         pick(self.s1) if mode else None, pick(self.s2) if mode else None, mode)
        if slow:
            d = [self._scratch(i) for i in slow]
            pick = _picker(slow)
            torch._foreach_copy_(d, pick(grads))
            torch._foreach_sub_(d, pick(self.c))
            torch._foreach_add_(pick(self.b1), d)
            torch._foreach_addcmul_(pick(self.b2), d, d)
            if fold:
                self._fold(slow, first)
        self.pending = 0 if fold else self.pending + 1
        self.count += 1

    def _scratch(self, i: int) -> torch.Tensor:
        if self.d[i] is None:
            self.d[i] = torch.empty_like(self.c[i])
        return self.d[i]

    def add_batch(self, grads: list[torch.Tensor], owned: list[bool] | None = None) -> None:
        """``n`` observations per parameter (leading axis of every tensor); ``owned[i]``: grads[i]
        may be overwritten."""
        n = int(grads[0].shape[0])
        if n == 0:
            return
        if self.count == 0:
            self._start([g[0] for g in grads])
        fast, slow = self._split(grads, rows=True)
        if fast and self.s1 is None:
            self._new_totals(zero=True)
        for dtype, idx in fast.items():
            pick = _picker(idx)
            self.lib.add_rows(pick(grads), pick(self.c), pick(self.s1), pick(self.s2))
        owned = owned or [False] * len(grads)
        for i in slow:
            g, c = grads[i], self.c[i]
            # shape (n, *shape); vmap's fresh outputs are reused in place
            d = g.sub_(c) if owned[i] and g.dtype == c.dtype else g.to(c.dtype, copy=True).sub_(c)
            self.b1[i].add_(d.sum(dim=0))
            self.b2[i].add_(d.square_().sum(dim=0))
        if slow:
            self.pending += 1
            if self.pending >= self.BLOCK:
                self._fold(range(len(self.c)), self.s1 is None)
                self.pending = 0
        self.count += n

    def _fold(self, indices: Iterable[int], first: bool) -> None:
        """Move tensors' float32 partial sums into the float64 totals (``first``: create them)."""
        if first and self.s1 is None:
            self._new_totals(zero=False)
        for i in indices:
            total1, total2 = self._totals(i)
            if total1 is None:
                continue
            for total, part in ((total1, self.b1[i]), (total2, self.b2[i])):
                if first:
                    total.copy_(part)
                else:
                    flat_t, flat_p = total.view(-1), part.view(-1)
                    scratch = torch.empty(min(self.FOLD_CHUNK, flat_p.numel()), dtype=torch.float64,
                                          device=part.device)
                    for j in range(0, flat_p.numel(), self.FOLD_CHUNK):
                        m = min(self.FOLD_CHUNK, flat_p.numel() - j)
                        flat_t[j:j + m].add_(scratch[:m].copy_(flat_p[j:j + m]))
                part.zero_()

    # ---------------------------------------------------------------- results
    def formable(self) -> bool:
        """`form` can run: the kernels are loaded and serve float64 (the probe) and every tensor is on the CPU."""
        return (self.lib is not None and self.count > 0 and self.lib.usable(torch.float64)
                and all(c.device.type == "cpu" for c in self.c))

    def form(self, what: str, *, dtypes: Sequence[torch.dtype], scale: float = 1.0, batch: float = 1.0,
             out2: bool = False) -> tuple[list[torch.Tensor], list[torch.Tensor] | None]:
        """`_stats_kernel.FORMS` ``what`` of every parameter in one float64 sweep, written in
        ``dtypes`` (float32/float64; anything else comes back float64 for the caller to cast); with
        ``out2`` also ``M2`` (float64).  Ends the accumulation, like `moments`."""
        kinds = [dt if dt in (torch.float32, torch.float64) else torch.float64 for dt in dtypes]
        # in b1's dtype the result overwrites b1 (read first, element by element): no new buffer
        outs = [b if kind == b.dtype else torch.empty(c.shape, dtype=kind, device=c.device)
                for c, b, kind in zip(self.c, self.b1, kinds)]
        seconds = [torch.empty(c.shape, dtype=torch.float64, device=c.device) for c in self.c] if out2 else None
        groups: dict[tuple[torch.dtype, torch.dtype], list[int]] = {}
        for i, (c, o) in enumerate(zip(self.c, outs)):
            groups.setdefault((c.dtype, o.dtype), []).append(i)
        for idx in groups.values():
            pick = _picker(idx)
            totals = [self._totals(i) for i in idx]
            self.lib.form(pick(self.c), pick(self.b1), pick(self.b2), [t[0] for t in totals], [t[1] for t in totals],
                          pick(outs), count=self.count, what=what, batch=batch, scale=scale,
                          out2=pick(seconds) if seconds is not None else None)
        self.count = -1
        return outs, seconds

    def moments(self) -> tuple[int, list[torch.Tensor], list[torch.Tensor]]:
        """``(count, mean, M2)`` in float64; zeros where nothing was seen."""
        if self.count == 0:
            zeros = [torch.zeros(s, dtype=torch.float64, device=d) for s, d in zip(self.shapes, self.devices)]
            return 0, zeros, [z.clone() for z in zeros]
        k = self.count
        if self.formable():
            mean, m2 = self.form("moments", dtypes=[torch.float64] * len(self.c), out2=True)
            return k, mean, m2
        self._fold(range(len(self.c)), self.s1 is None)
        s1 = [b if t is None else t for b, (t, _) in zip(self.b1, map(self._totals, range(len(self.c))))]
        s2 = [b if t is None else t for b, (_, t) in zip(self.b2, map(self._totals, range(len(self.c))))]
        # in place on the totals (this ends the accumulation); S2 − S1²/K ≥ 0 exactly
        # (Cauchy–Schwarz), rounding may dip a hair below
        m2 = [t2.addcmul_(t1, t1, value=-1.0 / k).clamp_min_(0.0) for t1, t2 in zip(s1, s2)]
        mean = [t1.div_(k).add_(c) for c, t1 in zip(self.c, s1)]
        self.count = -1
        return k, mean, m2


def _picker(idx: list[int]) -> Callable[[list | None], list]:
    """``pick(xs) = [xs[i] for i in idx]``."""
    return lambda xs: [xs[i] for i in idx]  # type: ignore[index]


def _owned(grads: list[torch.Tensor], others: Iterable[torch.Tensor]) -> list[bool]:
    """Which tensors may be overwritten: contiguous, sharing storage with no other one of ``grads``
    and with none of ``others`` (the parameters and the batch)."""
    ptrs = [g.untyped_storage().data_ptr() for g in grads]
    foreign = {t.untyped_storage().data_ptr() for t in others}
    return [g.is_contiguous() and ptrs.count(p) == 1 and p not in foreign for g, p in zip(grads, ptrs)]


# --------------------------------------------------------------------------------------------
# distributed helpers
# --------------------------------------------------------------------------------------------

def _world(group: Any) -> tuple[int, int]:
    """``(rank, world size)`` of ``group`` when torch.distributed is initialized, else ``(0, 1)``."""
    dist = torch.distributed
    if not (dist.is_available() and dist.is_initialized()):
        if group is not None:
            raise ValueError("group was given but torch.distributed is not initialized")
        return 0, 1
    return dist.get_rank(group), dist.get_world_size(group)


def _all_reduce_sum(tensors: list[torch.Tensor], group: Any) -> list[torch.Tensor]:
    """Sum each tensor over the ranks, one flat all-reduce per device."""
    out: list[torch.Tensor | None] = [None] * len(tensors)
    by_device: dict[torch.device, list[int]] = {}
    for i, t in enumerate(tensors):
        by_device.setdefault(t.device, []).append(i)
    for idx in by_device.values():
        flat = torch.cat([tensors[i].reshape(-1) for i in idx])
        torch.distributed.all_reduce(flat, op=torch.distributed.ReduceOp.SUM, group=group)
        offset = 0
        for i in idx:
            n = tensors[i].numel()
            out[i] = flat[offset:offset + n].view_as(tensors[i])
            offset += n
    return out  # type: ignore[return-value]


def _combine(count: int, mean: list[torch.Tensor], m2: list[torch.Tensor], group: Any
             ) -> tuple[int, list[torch.Tensor], list[torch.Tensor]]:
    """Chan's parallel merge of every rank's ``(n_r, mean_r, M2_r)`` as two sum-reductions."""
    n_r = torch.tensor([float(count)], dtype=torch.float64, device=mean[0].device)
    weighted = [m * float(count) for m in mean]
    n_all, *sums = _all_reduce_sum([n_r, *weighted], group)
    total = int(round(float(n_all.item())))
    if total == 0:
        return 0, mean, m2
    gmean = [s / total for s in sums]
    spread = [q + float(count) * (m - g) ** 2 for q, m, g in zip(m2, mean, gmean)]
    return total, gmean, _all_reduce_sum(spread, group)


# --------------------------------------------------------------------------------------------
# gradients of one batch
# --------------------------------------------------------------------------------------------

class _LossModule(torch.nn.Module):
    """``forward(batch) = loss_fn(model, batch)``; lets `torch.func.functional_call` swap the
    model's parameters (names ``"model.<name>"``) while ``loss_fn`` sees the real module."""

    def __init__(self, model: torch.nn.Module, loss_fn: LossFn):
        super().__init__()
        self.model = model
        self.loss_fn = loss_fn

    def forward(self, batch: Batch) -> torch.Tensor:
        return self.loss_fn(self.model, batch)


def _check_loss(loss: Any, *, autograd: bool = True) -> torch.Tensor:
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1 or loss.is_complex() \
            or not loss.is_floating_point():
        shape = tuple(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__
        raise ValueError(f"loss_fn must return a real scalar tensor (the mean loss over the batch); got {shape}")
    if autograd and not loss.requires_grad:
        raise ValueError("loss_fn's loss does not depend on the parameters (computed under torch.no_grad(), "
                         "or with detached parameters?)")
    return loss.reshape(())


def _minibatch_grads(model: torch.nn.Module, loss_fn: LossFn, batch: Batch,
                     params: list[torch.Tensor]) -> list[torch.Tensor]:
    # autograd.grad, not backward(): nothing is accumulated into any .grad
    with torch.enable_grad():
        loss = _check_loss(loss_fn(model, batch))
        grads = torch.autograd.grad(loss, params, allow_unused=True)
    return [_real(torch.zeros_like(p) if g is None else g.detach()) for p, g in zip(params, grads)]


class _PerSample:
    """Per-sample gradients of ``loss_fn`` with ``vmap(grad(functional_call(...)))``."""

    def __init__(self, model: torch.nn.Module, loss_fn: LossFn, params: list[torch.Tensor]):
        named = dict(model.named_parameters())
        ids = {id(p): name for name, p in named.items()}
        self.names = ["model." + ids[id(p)] for p in params]
        chosen = set(self.names)
        # the other parameters enter as constants
        self.fixed = {"model." + n: p.detach() for n, p in named.items() if "model." + n not in chosen}
        self.module = _LossModule(model, loss_fn)
        self.params = params

    def __call__(self, batch: Batch) -> tuple[list[torch.Tensor], list[bool]]:
        """Per-sample gradients (real views) and which of them are fresh tensors (see `_owned`)."""
        tensors, skeleton = _flatten(batch)

        def sample_loss(theta: tuple[torch.Tensor, ...], sample: list[torch.Tensor]) -> torch.Tensor:
            one = _unflatten(skeleton, [t.unsqueeze(0) for t in sample])
            values = {**self.fixed, **dict(zip(self.names, theta))}
            return _check_loss(torch.func.functional_call(self.module, values, (one,)), autograd=False)

        fn = torch.func.vmap(torch.func.grad(sample_loss), in_dims=(None, 0), randomness="different")
        theta = tuple(p.detach() for p in self.params)
        grads = [_real(g) for g in fn(theta, tensors)]
        return grads, _owned(grads, [*self.params, *tensors])


# --------------------------------------------------------------------------------------------
# argument checks
# --------------------------------------------------------------------------------------------

def _positive_int(name: str, value: Any, *, none_ok: bool = False) -> int | None:
    if value is None and none_ok:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive int{' or None' if none_ok else ''}; got {value!r}")
    return int(value)


def _check_params(model: torch.nn.Module, params: Any) -> list[torch.Tensor]:
    owned = {id(p) for p in model.parameters()}
    if params is None:
        chosen = [p for p in model.parameters() if p.requires_grad]
        if not chosen:
            raise ValueError("model has no parameter with requires_grad=True")
        return chosen
    if isinstance(params, torch.Tensor):
        raise TypeError("params must be a sequence of the model's parameters, not a single tensor")
    chosen = []
    for i, p in enumerate(params):
        if isinstance(p, Mapping):
            raise TypeError("params must be a flat sequence of tensors (pass each group's 'params')")
        if not isinstance(p, torch.Tensor) or id(p) not in owned:
            raise ValueError(f"params[{i}] is not a parameter of model")
        if not p.requires_grad:
            raise ValueError(f"params[{i}] does not require grad")
        if any(p is q for q in chosen):
            raise ValueError(f"params[{i}] appears twice")
        chosen.append(p)
    if not chosen:
        raise ValueError("params is empty")
    return chosen


def _show_progress(progress: Any, rank: int) -> bool:
    if progress is not None and not isinstance(progress, bool):
        raise ValueError(f"progress must be None, True or False; got {progress!r}")
    if rank != 0:
        return False
    if progress is None:
        return bool(getattr(sys.stderr, "isatty", lambda: False)())
    return progress


class _Bar:
    """A rich progress bar on stderr (or nothing)."""

    def __init__(self, on: bool, total: int, unit: str):
        self.bar = None
        if on:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
            self.bar = Progress(TextColumn(f"v0 statistics ({unit})"), BarColumn(), MofNCompleteColumn(),
                                TimeElapsedColumn(), console=Console(stderr=True), transient=True)
            self.task = self.bar.add_task("stats", total=total)
            self.bar.start()

    def total(self, total: int) -> None:
        if self.bar is not None:
            self.bar.update(self.task, total=total)

    def advance(self, n: int) -> None:
        if self.bar is not None and n:
            self.bar.advance(self.task, n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


# --------------------------------------------------------------------------------------------
# public functions
# --------------------------------------------------------------------------------------------

def grad_stats(model: torch.nn.Module, loss_fn: LossFn, batches: Iterable[Batch], *, mode: str = "minibatch",
               data_size: int = 5000, batch_size: int | None = None, params: Sequence[torch.Tensor] | None = None,
               eval_mode: bool = True, progress: bool | None = None, device: Any = None,
               chunk_size: int | None = None, group: Any = None) -> GradStats:
    r"""Gradient statistics of a torch model over batches, for the data-driven v0 (Eq. 10).

    Parameters
    ----------
    model : the `torch.nn.Module` whose parameters' gradients are measured (at their current values).
    loss_fn : ``loss_fn(model, batch) -> 0-d tensor``, the *mean* loss over the batch (the training
        loss), computed by calling ``model`` (or its submodules).  In per-sample mode it is called
        under `torch.func.vmap` on batches of one sample (every tensor with leading length 1) while
        the parameters are swapped in by `torch.func.functional_call`, so it must be vmap-friendly:
        no ``.item()``, no Python branch on tensor values, no in-place change of the batch, and it
        must reach the parameters through the module (not through captured tensors).
    batches : an iterable of batches, each a tensor or a (nested) tuple / list / named tuple /
        mapping of tensors whose axis 0 is the batch axis (a `torch.utils.data.DataLoader` as is).
        It is read once, until the stop rule holds or it runs out (a ``UserWarning`` then says how
        much was seen).  Shuffling is the caller's choice (the repo uses a fresh shuffled loader).
    mode : ``"minibatch"`` (one observation per batch: its mean gradient, one backward per batch)
        or ``"per_sample"`` (one observation per sample, ``vmap(grad)``).
    data_size : samples to cover — minibatch: stop after the first K with ``K·B > data_size`` (the
        repo's rule); per-sample: exactly ``data_size`` samples.
    batch_size : B of minibatch mode (default: the first batch's length); ``None`` in per-sample mode.
    params : which parameters of ``model`` to measure (default: every parameter with
        ``requires_grad``, in ``model.parameters()`` order); the statistics follow this order.
    eval_mode : put the model in ``eval()`` during the pass (the repo's CNN/GAN choice: BatchNorm uses
        running statistics, dropout is off); ``False`` keeps its mode (the repo's LSTM).  Each
        submodule's mode, every buffer (e.g. BatchNorm running statistics) and every ``.grad`` are
        left as they were; the parameters are never written.
    progress : a rich progress bar on stderr (rank 0 only); ``None`` shows it when stderr is a terminal.
    device : move each batch's tensors there before ``loss_fn`` (default: leave them where they are).
    chunk_size : per-sample mode only: at most this many samples per ``vmap`` call, which bounds the
        memory of the per-sample gradients (``chunk_size × parameters``); default: the whole batch.
    group : the `torch.distributed` process group to combine over (default: the world, when
        torch.distributed is initialized; every rank must call with its own shard of the data).

    Returns
    -------
    `v0ref.stats.GradStats` with float64 statistics on the parameters' devices (identical on every
    rank), ready for `v0ref.moments.resolve` / `v0ref.moments.from_stats` / an optimizer's
    ``grad_stats=``.  A complex parameter is measured as ``torch.view_as_real`` of its gradient
    (shape ``(*shape, 2)``), the form torch's optimizers keep its state in.

    Example
    -------
    >>> import torch
    >>> from v0ref.backends._torch_data import grad_stats
    >>> model = torch.nn.Linear(3, 1)
    >>> data = [(torch.randn(16, 3), torch.randn(16, 1)) for _ in range(8)]
    >>> mse = lambda m, b: torch.nn.functional.mse_loss(m(b[0]), b[1])
    >>> stats = grad_stats(model, mse, data, data_size=100)     # stops after K = 7 (7·16 > 100)
    >>> stats.count, stats.batch_size, stats.shapes
    (7, 16, [(1, 3), (1,)])
    """
    run = _gather(model, loss_fn, batches, mode=mode, data_size=data_size, batch_size=batch_size, params=params,
                  eval_mode=eval_mode, progress=progress, device=device, chunk_size=chunk_size, group=group)
    count, mean, m2 = run.acc.moments()
    if run.world > 1:
        count, mean, m2 = _combine(count, mean, m2, group)
    run.check(count)
    return GradStats.from_moments(count, mean, m2, mode=mode, batch_size=run.batch_size, data_size=data_size)


class _Gathered:
    """What a data pass leaves: the accumulator and what the checks and `GradStats` need."""

    def __init__(self, acc: _Shifted, *, per_sample: bool, batch_size: int | None, data_size: int, world: int):
        self.acc, self.per_sample, self.data_size, self.world = acc, per_sample, data_size, world
        self.batch_size = None if per_sample else batch_size

    def check(self, count: int) -> None:
        """Raise when nothing was seen; warn (at the caller of the public function) when the data
        ran out before ``data_size`` was covered."""
        if count == 0:
            raise ValueError("batches yielded no samples")
        covered = count * (self.batch_size or 1)
        if (not self.per_sample and covered <= self.data_size) or (self.per_sample and count < self.data_size):
            warnings.warn(f"batches ran out after {covered} samples, before data_size={self.data_size} was covered",
                          UserWarning, stacklevel=3)


def _gather(model: torch.nn.Module, loss_fn: LossFn, batches: Iterable[Batch], *, mode: str, data_size: int,
            batch_size: int | None, params: Sequence[torch.Tensor] | None, eval_mode: bool, progress: bool | None,
            device: Any, chunk_size: int | None, group: Any, fused: bool | None = None) -> _Gathered:
    """The data pass of `grad_stats` (arguments checked here); ``fused``: see `_Shifted`."""
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}")
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable as loss_fn(model, batch); got {type(loss_fn).__name__}")
    if isinstance(batches, (str, bytes, torch.Tensor)) or not isinstance(batches, Iterable):
        raise TypeError(f"batches must be an iterable of batches (e.g. a DataLoader); got {type(batches).__name__}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(map(repr, MODES))}; got {mode!r}")
    data_size = _positive_int("data_size", data_size)
    batch_size = _positive_int("batch_size", batch_size, none_ok=True)
    if mode == "per_sample" and batch_size is not None:
        raise ValueError(f"batch_size applies to mode='minibatch' only; got {batch_size!r} with mode='per_sample'")
    chunk_size = _positive_int("chunk_size", chunk_size, none_ok=True)
    if mode == "minibatch" and chunk_size is not None:
        raise ValueError(f"chunk_size applies to mode='per_sample' only; got {chunk_size!r}")
    if not isinstance(eval_mode, bool):
        raise ValueError(f"eval_mode must be True or False; got {eval_mode!r}")
    if device is not None:
        try:
            device = torch.device(device)
        except (RuntimeError, TypeError) as exc:
            raise ValueError(f"device must name a torch device; got {device!r}") from exc
    chosen = _check_params(model, params)
    rank, world = _world(group)
    show = _show_progress(progress, rank)

    shapes = [tuple(_real(p.detach()).shape) for p in chosen]
    acc = _Shifted(shapes, [p.device for p in chosen], fused=fused)
    per_sample = _PerSample(model, loss_fn, chosen) if mode == "per_sample" else None
    # minibatch: the stop rule is "first K with K·B > data_size", i.e. K_stop = data_size // B + 1
    k_stop = None if batch_size is None else data_size // batch_size + 1

    modes = [(m, m.training) for m in model.modules()]
    buffers = [(b, b.detach().clone()) for b in model.buffers()]
    if eval_mode:
        model.eval()
    it = iter(batches)
    exhausted, index, seen = False, 0, 0
    bar = _Bar(show, data_size if per_sample is not None else (k_stop or 0),
               "samples" if per_sample is not None else "batches")
    try:
        while True:
            batch = None
            if not exhausted:
                try:
                    batch = next(it)
                except StopIteration:
                    exhausted = True
            tensors, skeleton = _flatten(batch) if batch is not None else ([], None)
            length = _leading_length(tensors, index, strict=per_sample is not None) if batch is not None else 0
            if batch is not None and length is None:
                if batch_size is None:
                    raise ValueError(f"batches[{index}] has no tensor with a batch axis to take B from: pass batch_size")
                length = batch_size
            if batch is not None and length == 0:
                raise ValueError(f"batches[{index}] is empty")
            # every rank learns every rank's batch length (0: that rank's data ran out)
            lengths = [length]
            if world > 1:
                buf = torch.zeros(world, dtype=torch.int64, device=chosen[0].device)
                buf[rank] = length
                lengths = [int(v) for v in _all_reduce_sum([buf], group)[0].tolist()]
            if not any(lengths):
                break
            before = sum(lengths[:rank])
            if per_sample is None:
                if k_stop is None:
                    first = {n for n in lengths if n}
                    if len(first) != 1:
                        raise ValueError(f"the ranks' first batches differ in length ({sorted(first)}): pass batch_size")
                    batch_size = first.pop()
                    k_stop = data_size // batch_size + 1
                    bar.total(k_stop)
                # this round's batches are numbered in rank order after those already taken
                position = seen + sum(1 for n in lengths[:rank] if n)
                if batch is not None and position < k_stop:
                    grads = _minibatch_grads(model, loss_fn, _to(batch, tensors, skeleton, device), chosen)
                    acc.add(grads, _owned(grads, [*chosen, *tensors]) if acc.count == 0 else None)
                    del grads                  # freed before the next backward allocates its own
                new = min(seen + sum(1 for n in lengths if n), k_stop)
                bar.advance(new - seen)
                seen = new
                if seen >= k_stop:
                    break
            else:
                # this round's samples are numbered in rank order; keep those below data_size
                take = max(0, min(length, data_size - seen - before))
                step = chunk_size or take
                for start in range(0, take, max(step, 1)):
                    part = [t[start:min(take, start + step)] for t in tensors]
                    acc.add_batch(*per_sample(_to(None, part, skeleton, device)))
                new = min(seen + sum(lengths), data_size)
                bar.advance(new - seen)
                seen = new
                if seen >= data_size:
                    break
            index += 1
    finally:
        bar.close()
        with torch.no_grad():
            for b, saved in buffers:
                b.copy_(saved)
        for m, training in modes:
            m.training = training

    return _Gathered(acc, per_sample=per_sample is not None, batch_size=batch_size, data_size=data_size, world=world)


def _to(batch: Batch, tensors: list[torch.Tensor], skeleton: Any, device: torch.device | None) -> Batch:
    """The batch rebuilt from ``tensors`` (moved to ``device`` if given); ``batch`` itself when
    nothing changes."""
    if device is None and batch is not None:
        return batch
    if device is not None:
        tensors = [t.to(device, non_blocking=True) for t in tensors]
    return _unflatten(skeleton, tensors)


def data_v0(model: torch.nn.Module, loss_fn: LossFn | None, batches: Iterable[Batch] | None, *,
            mode: str = "minibatch", data_size: int = 5000, scale: float = 1.0, kind: str = "data",
            which: str = "v0", min_ndim: int | None = None, key: Any = None, stats: GradStats | None = None,
            batch_size: int | None = None, params: Sequence[torch.Tensor] | None = None, eval_mode: bool = True,
            progress: bool | None = None, device: Any = None, chunk_size: int | None = None,
            group: Any = None) -> list[torch.Tensor]:
    r"""Initial second moment (or first, ``which="m0"``) of each parameter from gradient statistics.

    .. math:: v_0 = σ\,(E[g]^2 + \mathrm{Var}[g])  \quad\text{(Abuduweili \& Liu 2024, Eq. 10)}

    ``kind`` picks the formula among the strategies that read statistics (`DATA_KINDS`; exact
    forms in `v0ref.moments`): ``"data"`` (Eq. 10, default) and the repo's ``"grad-mean"``
    (``σ·ḡ²``), ``"grad-mean-var"`` (``σ·(ḡ² + B·Var[ḡ])``), ``"grad-mean-random"`` (needs
    ``key``), ``"grad-var"``, ``"grad-sq"``.

    Parameters
    ----------
    model, loss_fn, batches, mode, data_size, batch_size, params, eval_mode, progress, device,
    chunk_size, group : as in `grad_stats` (``loss_fn`` and ``batches`` are ``None`` when ``stats``
        is given).
    scale : σ (``v0_scale``; ``m0_scale`` when ``which="m0"``).
    kind : one of `DATA_KINDS`.
    which : ``"v0"`` or ``"m0"`` (``s_m·E[g]`` for the data strategies).
    min_ndim : parameters with fewer dimensions get zeros (default: the strategy's rule, 0 for the
        data strategies — the repo initializes every tensor).
    key : a `v0ref.random` key or int seed, only for ``"grad-mean-random"``.
    stats : precomputed `v0ref.stats.GradStats` for ``params`` (e.g. from `grad_stats`) instead of
        a data pass.

    Returns
    -------
    One tensor per parameter (``params`` order), in that parameter's dtype and on its device; on
    every rank the same values.

    Example
    -------
    >>> import torch
    >>> from v0ref.backends._torch_data import data_v0
    >>> model = torch.nn.Linear(1, 1, bias=False)
    >>> torch.nn.init.zeros_(model.weight)
    Parameter containing:
    tensor([[0.]], requires_grad=True)
    >>> ones = torch.ones(4, 1)              # every sample's gradient is 2·(w − 1)·1 = −2 at w = 0
    >>> mse = lambda m, b: torch.nn.functional.mse_loss(m(b[0]), b[1])
    >>> v0 = data_v0(model, mse, [(ones, ones)] * 2, mode="per_sample", data_size=8)
    >>> v0[0]                                # E[g]² + Var[g] = 4 + 0
    tensor([[4.]])
    """
    if kind not in DATA_KINDS:
        raise ValueError(f"kind must be one of {', '.join(map(repr, DATA_KINDS))}; got {kind!r}")
    if which not in ("v0", "m0"):
        raise ValueError(f"which must be 'v0' or 'm0'; got {which!r}")
    if not (isinstance(scale, numbers.Real) and not isinstance(scale, bool) and math.isfinite(scale) and scale >= 0):
        raise ValueError(f"scale must be a finite number >= 0; got {scale!r}")
    if min_ndim is not None and (isinstance(min_ndim, bool) or not isinstance(min_ndim, int) or min_ndim < 0):
        raise ValueError(f"min_ndim must be an int >= 0 or None; got {min_ndim!r}")
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}")
    chosen = _check_params(model, params)
    if min_ndim is None:
        min_ndim = moments.STRATEGIES[kind].min_ndim
    if any(p.is_complex() for p in chosen) and "key" in (moments.STRATEGIES[kind].needs or ""):
        raise ValueError(f"kind={kind!r} draws from the parameters' fans, which complex parameters do not have")
    if stats is None:
        if loss_fn is None or batches is None:
            raise ValueError("data_v0 needs loss_fn and batches, or precomputed stats=GradStats(...)")
        run = _gather(model, loss_fn, batches, mode=mode, data_size=data_size, batch_size=batch_size, params=chosen,
                      eval_mode=eval_mode, progress=progress, device=device, chunk_size=chunk_size, group=group)
        what = _FORMS.get(getattr(moments.STRATEGIES[kind], which))
        if what is not None and run.world == 1 and run.acc.formable():
            # one float64 sweep from the sums to the result (bit-identical to the route below)
            run.check(run.acc.count)
            dtypes = [_real(p.detach()).dtype for p in chosen]
            values, _ = run.acc.form(what, dtypes=dtypes, scale=scale,
                                     batch=run.batch_size if run.batch_size is not None else 1)
            return _finish(chosen, values, min_ndim)
        count, mean, m2 = run.acc.moments()
        if run.world > 1:
            count, mean, m2 = _combine(count, mean, m2, group)
        run.check(count)
        stats = GradStats.from_moments(count, mean, m2, mode=mode, batch_size=run.batch_size, data_size=data_size)
    else:
        if not isinstance(stats, GradStats):
            raise TypeError(f"stats must be a v0ref.stats.GradStats; got {type(stats).__name__}")
        if loss_fn is not None or batches is not None:
            raise ValueError("pass either stats or loss_fn and batches, not both")
    # statistics live in real-view shapes (complex parameters); the ndim rule is the parameter's own
    shapes = [tuple(_real(p.detach()).shape) for p in chosen]
    if stats.shapes != shapes:
        raise ValueError(f"stats were gathered for parameters of shapes {stats.shapes}; params have {shapes}")
    holders = [torch.zeros(s, dtype=torch.float64, device=p.device) for s, p in zip(shapes, chosen)]
    values = moments.resolve(which, kind, holders, scale=scale, key=key, stats=stats, min_ndim=0, layout="torch")
    return _finish(chosen, [torch.as_tensor(v, device=p.device) for p, v in zip(chosen, values)], min_ndim)


# the data strategies' formulas that `_Shifted.form` evaluates in its sweep (`_stats_kernel.FORMS`)
_FORMS = {moments._grad_mean_var: "mean_var", moments._grad_mean_sq: "mean_sq", moments._grad_mean: "mean",
          moments._grad_var: "var", moments._grad_sq: "var_plus_mean_sq"}


def _finish(chosen: list[torch.Tensor], values: list[torch.Tensor], min_ndim: int) -> list[torch.Tensor]:
    """Each value in its parameter's dtype (complex: from the real pairs); zeros below ``min_ndim``."""
    out = []
    for p, v in zip(chosen, values):
        if p.ndim < min_ndim:
            v = torch.zeros_like(v)
        if p.is_complex():
            out.append(torch.view_as_complex(v.to(_real(p.detach()).dtype).contiguous()))
        else:
            out.append(v.to(p.dtype))
    return out
