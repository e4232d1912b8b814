r"""Streaming gradient statistics for the data-driven v0 (Abuduweili & Liu 2024, Eq. 10).

`GradStats` keeps, per parameter, the running mean and the sum of squared deviations of the
gradient observations it is fed (Welford 1962; batches merged with Chan, Golub & LeVeque 1979),
in float64 where the namespace has it, in O(parameters) memory: no gradient is stored.

From them: ``mean = E[g]``, ``var = E[(g − E[g])^2]`` (population variance, as the paper's code),
``mean_sq = E[g^2] = var + mean^2``.

Two modes, matching the two ways Eq. 10 is estimated (ALGORITHMS §1.5):

* ``"per_sample"`` — each observation is one sample's gradient; Eq. 10 is then
  ``v_0 = σ·(E[g]^2 + Var[g])``.
* ``"minibatch"`` — each observation is a mini-batch *mean* gradient ``ḡ_k`` over ``batch_size``
  samples (the repo's ``cal_grad_stats``); since ``Var[ḡ] ≈ Var[g]/B`` the per-sample variance is
  recovered as ``B·Var[ḡ]`` and Eq. 10 reads ``v_0 = σ·(ḡ^2 + B·Var[ḡ])``.  The repo stops after the
  first K with ``K·B > data_size`` (default 5000): `done` reports that.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from array_api_compat import array_namespace

__all__ = ["GradStats", "MODES"]

Array = Any
MODES = ("minibatch", "per_sample")


def _float64(x: Array) -> Array:
    xp = array_namespace(x)
    return xp.astype(x, xp.float64) if x.dtype != xp.float64 else x


class GradStats:
    """Streaming ``E[g]``, ``E[g²]`` and ``Var[g]`` per parameter.

    Parameters
    ----------
    params : list of arrays whose gradients will be fed (only shapes, namespace and device are used).
    mode : ``"minibatch"`` (observations are mini-batch mean gradients) or ``"per_sample"``.
    batch_size : samples per mini-batch (required in minibatch mode; it is ``B`` in Eq. 10's form).
    data_size : how many samples the estimate should cover; `done` turns true once it does.

    Example
    -------
    >>> import numpy as np, v0ref
    >>> params = [np.zeros((3, 2))]
    >>> stats = v0ref.stats.GradStats(params, mode="minibatch", batch_size=128, data_size=5000)
    >>> for k in range(100):
    ...     if stats.update([np.full((3, 2), 0.1 * (k % 2))]):
    ...         break
    >>> stats.count, stats.samples
    (40, 5120)
    """

    def __init__(self, params: Sequence[Array], *, mode: str = "minibatch", batch_size: int | None = None,
                 data_size: int = 5000):
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(map(repr, MODES))}; got {mode!r}")
        if mode == "minibatch":
            if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int)
                                           or batch_size < 1):
                raise ValueError(f"batch_size must be a positive int (or None) in minibatch mode; got {batch_size!r}")
        elif batch_size not in (None, 1):
            raise ValueError(f"batch_size must be None (or 1) in per_sample mode; got {batch_size!r}")
        if isinstance(data_size, bool) or not isinstance(data_size, int) or data_size < 1:
            raise ValueError(f"data_size must be a positive int; got {data_size!r}")
        params = list(params)
        if not params:
            raise ValueError("params must contain at least one array")
        self.mode = mode
        self.batch_size = batch_size if mode == "minibatch" else 1
        self.data_size = data_size
        self.shapes = [tuple(p.shape) for p in params]
        self.count = 0
        self._mean = [_float64(array_namespace(p).zeros_like(p)) for p in params]
        self._m2 = list(self._mean)

    @classmethod
    def from_moments(cls, count: int, mean: Sequence[Array], m2: Sequence[Array], *, mode: str = "minibatch",
                     batch_size: int | None = None, data_size: int = 5000) -> "GradStats":
        """Statistics already reduced elsewhere (a fused or distributed pass): ``count`` observations
        with per-coordinate ``mean`` and sum of squared deviations ``m2`` (Welford's M2), float64.

        >>> import numpy as np
        >>> s = GradStats.from_moments(4, [np.array([1.0])], [np.array([8.0])], batch_size=2)
        >>> float(s.var[0][0]), s.samples
        (2.0, 8)
        """
        mean, m2 = list(mean), list(m2)
        if len(mean) != len(m2):
            raise ValueError(f"mean and m2 must have one array per parameter; got {len(mean)} and {len(m2)}")
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError(f"count must be an int >= 0; got {count!r}")
        for i, (a, b) in enumerate(zip(mean, m2)):
            if tuple(a.shape) != tuple(b.shape):
                raise ValueError(f"mean[{i}] has shape {tuple(a.shape)} but m2[{i}] has {tuple(b.shape)}")
        stats = cls(mean, mode=mode, batch_size=batch_size, data_size=data_size)
        stats.count, stats._mean, stats._m2 = count, [_float64(a) for a in mean], [_float64(b) for b in m2]
        return stats

    # ------------------------------------------------------------------ feeding
    def _check(self, grads: Sequence[Array], batched: bool) -> list[Array]:
        grads = list(grads)
        if len(grads) != len(self.shapes):
            raise ValueError(f"got {len(grads)} gradients for {len(self.shapes)} parameters")
        for i, (g, shape) in enumerate(zip(grads, self.shapes)):
            got = tuple(g.shape)[1:] if batched else tuple(g.shape)
            if got != shape:
                raise ValueError(f"grads[{i}] has shape {tuple(g.shape)}; expected "
                                 f"{'(n, ' + ', '.join(map(str, shape)) + ')' if batched else shape}")
        return grads

    def update(self, grads: Sequence[Array]) -> bool:
        """Add one observation per parameter (one mini-batch mean gradient, or one sample's).

        Returns `done`, so a loop can read ``if stats.update(grads): break`` (``False`` while the
        batch size needed by the stop rule is unknown).
        """
        grads = self._check(grads, batched=False)
        n = self.count + 1
        new_mean, new_m2 = [], []
        for g, mean, m2 in zip(grads, self._mean, self._m2):
            g = _float64(g)
            delta = g - mean
            mean = mean + delta / n
            new_mean.append(mean)
            new_m2.append(m2 + delta * (g - mean))
        self._mean, self._m2, self.count = new_mean, new_m2, n
        return self._done_or_false()

    def _done_or_false(self) -> bool:
        return False if self.mode == "minibatch" and self.batch_size is None else self.done

    def update_batch(self, grads: Sequence[Array]) -> bool:
        """Add ``n`` observations per parameter at once: each array has a leading axis of length n
        (e.g. per-sample gradients from ``torch.func.vmap(grad)`` or ``jax.vmap(jax.grad)``)."""
        grads = self._check(grads, batched=True)
        n_b = int(grads[0].shape[0])
        if any(int(g.shape[0]) != n_b for g in grads):
            raise ValueError("all batched gradients must have the same leading length")
        if n_b == 0:
            return self._done_or_false()
        xp = array_namespace(*grads)
        means = [xp.mean(_float64(g), axis=0) for g in grads]
        m2s = [xp.sum((_float64(g) - mu) ** 2, axis=0) for g, mu in zip(grads, means)]
        self._merge(n_b, means, m2s)
        return self._done_or_false()

    def merge(self, other: "GradStats") -> "GradStats":
        """Fold in statistics gathered elsewhere (another process or device) on disjoint data."""
        if not isinstance(other, GradStats) or other.shapes != self.shapes or other.mode != self.mode \
                or other.batch_size != self.batch_size:
            raise ValueError("can only merge GradStats of the same parameters, mode and batch_size")
        self._merge(other.count, other._mean, other._m2)
        return self

    def _merge(self, n_b: int, means: list[Array], m2s: list[Array]) -> None:
        if n_b == 0:
            return
        n_a, n = self.count, self.count + n_b
        new_mean, new_m2 = [], []
        for mean_a, m2_a, mean_b, m2_b in zip(self._mean, self._m2, means, m2s):
            delta = mean_b - mean_a
            new_mean.append(mean_a + delta * (n_b / n))
            new_m2.append(m2_a + m2_b + delta * delta * (n_a * n_b / n))
        self._mean, self._m2, self.count = new_mean, new_m2, n

    # ------------------------------------------------------------------ results
    def _need_batch_size(self, what: str) -> int:
        if self.batch_size is None:
            raise ValueError(f"{what} needs the mini-batch size: pass GradStats(..., batch_size=B)")
        return self.batch_size

    @property
    def samples(self) -> int:
        """Samples covered so far: ``count·batch_size``."""
        return self.count * self._need_batch_size("samples")

    @property
    def done(self) -> bool:
        """The repo's stop rule: minibatch ``K·B > data_size``; per-sample ``count >= data_size``."""
        if self.mode == "minibatch":
            return self.samples > self.data_size
        return self.count >= self.data_size

    def _need_data(self) -> None:
        if self.count == 0:
            raise ValueError("GradStats has seen no gradient yet; call update() first")

    @property
    def mean(self) -> list[Array]:
        """``E[g]`` per parameter (float64)."""
        self._need_data()
        return list(self._mean)

    @property
    def var(self) -> list[Array]:
        """Population variance ``E[(g − E[g])²]`` of the observations (float64)."""
        self._need_data()
        return [m2 / self.count for m2 in self._m2]

    @property
    def mean_sq(self) -> list[Array]:
        """``E[g²] = Var[g] + E[g]²`` per parameter (float64)."""
        return [v + mu * mu for v, mu in zip(self.var, self.mean)]

    def __repr__(self) -> str:
        return f"GradStats(mode={self.mode!r}, batch_size={self.batch_size}, count={self.count})"
