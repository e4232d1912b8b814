r"""Data-driven v0 for JAX: gradient statistics from a loss function and batches (paper Eq. 10).

Abuduweili & Liu (arXiv 2412.02153), Eq. 10 (ALGORITHMS §1.5)::

    v_0 = σ · ( E[g(x_i, y_i)]² + Var[g(x_i, y_i)] ),   (x_i, y_i) ~ D      (element-wise)

estimated in one of two ways (`v0ref.stats.GradStats` documents both):

* ``mode="minibatch"`` — the repo's ``cal_grad_stats``: one observation per mini-batch, the mean
  gradient ``ḡ_k = ∇ loss_fn(params, batch_k)``; stop after the first K with ``K·B > data_size``;
  ``v_0 = σ·(ḡ² + B·Var[ḡ])``.
* ``mode="per_sample"`` — one observation per sample, ``jax.vmap(jax.grad(loss_fn))`` over the
  batch's leading axis; exactly ``data_size`` samples are used (the last batch is cut), so the
  statistics do not depend on how the data was batched; ``v_0 = σ·(E[g]² + Var[g])``.

The gradient function is compiled once (``jax.jit``) and called on every batch.  Batches may be
sharded over several devices (``jax.sharding.NamedSharding`` over a ``Mesh``, split along the
batch axis): ``jit`` runs the gradient where the data lives, and the statistics are accumulated
on the host in float64 (Welford/Chan in `GradStats`) whatever ``jax_enable_x64`` says, so they
agree with a single device's to float64 rounding of the gradients themselves.
"""

from __future__ import annotations

import math
import numbers
import sys
import warnings
from collections.abc import Callable, Iterable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .. import moments
from ..stats import MODES, GradStats

__all__ = ["grad_stats", "data_v0", "DATA_KINDS"]

PyTree = Any
# strategies that read gradient statistics (the paper's "data" and the repo's grad-* variants)
DATA_KINDS = tuple(name for name, s in moments.STRATEGIES.items() if s.needs and "stats" in s.needs)


def _leading_length(batch: PyTree, index: int) -> int:
    leaves = jax.tree.leaves(batch)
    if not leaves:
        raise ValueError(f"batches[{index}] holds no arrays")
    lengths = set()
    for leaf in leaves:
        shape = np.shape(leaf)
        if len(shape) == 0:
            raise ValueError(f"batches[{index}] has a 0-d leaf; every leaf needs a leading batch axis")
        lengths.add(int(shape[0]))
    if len(lengths) != 1:
        raise ValueError(f"batches[{index}] leaves disagree on the batch length: {sorted(lengths)}")
    return lengths.pop()


def _report(progress: bool | Callable[[int, int], Any], done: int, total: int) -> None:
    if callable(progress):
        progress(done, total)
    elif progress:
        print(f"\rgrad_stats: {min(done, total)}/{total} samples", end="", file=sys.stderr, flush=True)


def _host64(leaves: list[Any]) -> list[np.ndarray]:
    # np.asarray gathers a sharded array onto the host
    return [np.asarray(g, dtype=np.float64) for g in leaves]


def grad_stats(loss_fn: Callable[[PyTree, PyTree], Any], params: PyTree, batches: Iterable[PyTree], *,
               mode: str = "minibatch", data_size: int = 5000,
               progress: bool | Callable[[int, int], Any] = False) -> GradStats:
    r"""Gradient statistics of ``loss_fn`` at ``params`` over ``batches`` (for Eq. 10's v0).

    Parameters
    ----------
    loss_fn : ``loss_fn(params, batch) -> scalar``, the *mean* loss over the batch (the training
        loss).  In per-sample mode it is called on batches of one sample (leading axis of length 1).
    params : the parameter pytree.  The statistics are kept per leaf, in ``jax.tree.leaves(params)``
        order (``GradStats.shapes`` lists them).
    batches : an iterable of batch pytrees whose leaves share a leading batch axis (arrays of any
        kind: NumPy, JAX, or JAX arrays sharded over devices along that axis).  It is read until
        the stop rule holds or it runs out (a ``UserWarning`` then says how many samples were seen).
    mode : ``"minibatch"`` (one observation per batch, its mean gradient; every batch must have the
        same length B, which becomes ``GradStats.batch_size``) or ``"per_sample"``
        (``jax.vmap(jax.grad)``; one observation per sample).
    data_size : samples to cover — minibatch: stop after the first K batches with ``K·B >
        data_size`` (the repo's rule); per-sample: exactly ``data_size`` samples.
    progress : ``True`` prints ``samples/data_size`` to stderr; a callable gets ``(samples,
        data_size)`` after each batch.

    Returns
    -------
    `v0ref.stats.GradStats` with float64 NumPy statistics, ready for `v0ref.moments.resolve`,
    `v0ref.moments.from_stats` or any port's ``grad_stats=`` keyword.

    Example
    -------
    >>> import jax.numpy as jnp, numpy as np
    >>> from v0ref.backends._jax_data import grad_stats
    >>> loss = lambda p, b: jnp.mean((b[:, 0] * p["w"] - b[:, 1]) ** 2)
    >>> data = np.random.default_rng(0).standard_normal((64, 2))
    >>> stats = grad_stats(loss, {"w": jnp.zeros(())}, [data[i:i + 16] for i in range(0, 64, 16)],
    ...                    mode="per_sample", data_size=40)
    >>> stats.count, stats.shapes
    (40, [()])
    """
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable as loss_fn(params, batch); got {type(loss_fn).__name__}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(map(repr, MODES))}; got {mode!r}")
    if isinstance(data_size, bool) or not isinstance(data_size, int) or data_size < 1:
        raise ValueError(f"data_size must be a positive int; got {data_size!r}")
    if isinstance(batches, (str, bytes)) or not isinstance(batches, Iterable):
        raise TypeError(f"batches must be an iterable of batch pytrees; got {type(batches).__name__}")
    leaves, treedef = jax.tree.flatten(params)
    if not leaves:
        raise ValueError("params holds no arrays")
    shapes = [np.zeros(np.shape(p), dtype=np.float64) for p in leaves]

    grad = jax.grad(loss_fn)
    if mode == "minibatch":
        grad_fn = jax.jit(grad)
    else:
        def one_sample(p: PyTree, sample: PyTree) -> PyTree:
            return grad(p, jax.tree.map(lambda x: x[None], sample))
        grad_fn = jax.jit(jax.vmap(one_sample, in_axes=(None, 0)))

    stats: GradStats | None = GradStats(shapes, mode="per_sample", data_size=data_size) \
        if mode == "per_sample" else None
    seen = 0
    for index, batch in enumerate(batches):
        n = _leading_length(batch, index)
        if n == 0:
            continue
        g_leaves, g_def = jax.tree.flatten(grad_fn(params, batch))
        if g_def != treedef:
            raise ValueError(f"the gradient of loss_fn has structure {g_def}, params have {treedef}")
        if mode == "minibatch":
            if stats is None:
                stats = GradStats(shapes, mode="minibatch", batch_size=n, data_size=data_size)
            elif n != stats.batch_size:
                raise ValueError(f"mode='minibatch' needs batches of one length: batches[0] has {stats.batch_size} "
                                 f"samples, batches[{index}] has {n} (drop the short batch, or use mode='per_sample')")
            finished = stats.update(_host64(g_leaves))
            seen += n
        else:
            take = min(n, data_size - stats.count)
            finished = stats.update_batch([g[:take] for g in _host64(g_leaves)])
            seen += take
        _report(progress, seen, data_size)
        if finished:
            break
    if progress is True:
        print(file=sys.stderr)
    if stats is None or stats.count == 0:
        raise ValueError("batches yielded no samples")
    if not stats.done:
        warnings.warn(f"batches ran out after {seen} samples, before data_size={data_size} was covered",
                      UserWarning, stacklevel=2)
    return stats


def data_v0(loss_fn: Callable[[PyTree, PyTree], Any] | None, params: PyTree, batches: Iterable[PyTree] | None,
            *, mode: str = "minibatch", data_size: int = 5000, scale: float = 1.0, kind: str = "data",
            min_ndim: int | None = None, which: str = "v0", key: Any = None, fan_layout: str = "jax",
            stats: GradStats | None = None, progress: bool | Callable[[int, int], Any] = False) -> PyTree:
    r"""Initial second moment (or first, ``which="m0"``) from gradient statistics, as a pytree.

    .. math:: v_0 = σ\,(E[g]^2 + \mathrm{Var}[g])  \quad\text{(Abuduweili \& Liu 2024, Eq. 10)}

    ``kind`` picks the formula among the strategies that read statistics (`DATA_KINDS`; exact
    forms in `v0ref.moments`): ``"data"`` (Eq. 10, default) and the repo's ``"grad-mean"``,
    ``"grad-mean-var"``, ``"grad-mean-random"`` (needs ``key``), ``"grad-var"``, ``"grad-sq"``.

    Parameters
    ----------
    loss_fn, params, batches, mode, data_size, progress : as in `grad_stats`; ``loss_fn`` and
        ``batches`` must be ``None`` when ``stats`` is given.
    scale : σ (``v0_scale``; ``m0_scale`` when ``which="m0"``).
    min_ndim : leaves with fewer dimensions get zeros (default: the strategy's rule, 0 for the data
        strategies — the repo initializes every tensor).
    which : ``"v0"`` or ``"m0"`` (``s_m·E[g]`` for the data strategies).
    key : a `v0ref.random` key or int seed, only for ``"grad-mean-random"``.
    fan_layout : weight layout for the random term's fans: ``"jax"`` ``(*k, in, out)`` or ``"torch"``.
    stats : precomputed `v0ref.stats.GradStats` (from `grad_stats`, or any port) instead of a data pass.

    Returns
    -------
    A pytree shaped like ``params``: each leaf in its parameter's dtype, with its sharding when the
    parameter is a ``jax.Array`` (so a replicated parameter gets a replicated v0).

    Example
    -------
    >>> import jax.numpy as jnp, numpy as np
    >>> from v0ref.backends._jax_data import data_v0
    >>> loss = lambda p, b: jnp.mean((b[:, 0] * p["w"] - b[:, 1]) ** 2)
    >>> data = np.ones((8, 2))                  # every sample has gradient 2·(w − 1)·1 = −2 at w = 0
    >>> v0 = data_v0(loss, {"w": jnp.zeros(())}, [data[:4], data[4:]], mode="per_sample", data_size=8)
    >>> float(v0["w"])                          # E[g]² + Var[g] = 4 + 0
    4.0
    """
    if kind not in DATA_KINDS:
        raise ValueError(f"kind must be one of {', '.join(map(repr, DATA_KINDS))}; got {kind!r}")
    if which not in ("v0", "m0"):
        raise ValueError(f"which must be 'v0' or 'm0'; got {which!r}")
    if not (isinstance(scale, numbers.Real) and not isinstance(scale, bool) and math.isfinite(scale) and scale >= 0):
        raise ValueError(f"scale must be a finite number >= 0; got {scale!r}")
    leaves, treedef = jax.tree.flatten(params)
    if stats is None:
        if loss_fn is None or batches is None:
            raise ValueError("data_v0 needs loss_fn and batches, or precomputed stats=GradStats(...)")
        stats = grad_stats(loss_fn, params, batches, mode=mode, data_size=data_size, progress=progress)
    else:
        if not isinstance(stats, GradStats):
            raise TypeError(f"stats must be a v0ref.stats.GradStats; got {type(stats).__name__}")
        if loss_fn is not None or batches is not None:
            raise ValueError("pass either stats or loss_fn and batches, not both")
    host = [np.zeros(np.shape(p), dtype=np.float64) for p in leaves]
    values = moments.resolve(which, kind, host, scale=scale, key=key, stats=stats, min_ndim=min_ndim,
                             layout=fan_layout)
    out = []
    for p, v in zip(leaves, values):
        v = np.asarray(v)
        if isinstance(p, jax.Array):
            out.append(jax.device_put(v.astype(p.dtype), p.sharding))
        else:
            out.append(jnp.asarray(v, dtype=jnp.result_type(p)))
    return jax.tree.unflatten(treedef, out)
