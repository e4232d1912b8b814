r"""Diagnostics for the claims of Abuduweili & Liu (2024, arXiv 2412.02153): first steps, update
sizes, second-moment drift, linear-mode connectivity and loss-landscape slices.

Every function takes parameters as a sequence of arrays (a list of tensors; a mapping name ->
array also works where names matter) in any array-API namespace — numpy, array_api_strict,
torch, jax, cupy — and returns Python floats or float64 NumPy arrays.  Frameworks are never
imported here: arrays are moved to the host only when a result is read (``_to_numpy``).

What each diagnostic measures
-----------------------------
**First step** (`first_step_report`, `eq12_first_step`; ALGORITHMS §1.2–1.3).  With
``m_0 = v_0 = 0`` Adam's bias correction gives ``m̂_1 = g_1``, ``v̂_1 = g_1²`` and

.. math:: Δθ_1 = -α\,g_1/(|g_1| + ε) ≈ -α\,\mathrm{sign}(g_1),

sign descent: every coordinate with a gradient well above ε moves by ≈ α.  `first_step_report`
counts the coordinates with ``| |Δθ| − α | ≤ rtol·α`` (and, separately, those with Δθ = 0
exactly).  With ``v_0 ≠ 0`` and the standard correction kept from t = 1 (the paper's code,
ALGORITHMS §1.7) the first step is the paper's Eq. 12 as we reconstruct it,

.. math:: Δθ_1 = -α\,g_1/\bigl(\sqrt{β_2/(1-β_2)\,v_0 + g_1^2} + ε\bigr),

proportional to ``g_1`` once ``β_2 v_0/(1−β_2) ≫ g_1²``.  `eq12_first_step` gives this closed form
for the three ``bias_correction`` modes of the oracle (the printed form of the paper's Eq. 12 is
unverified, ALGORITHMS §1.3 [U]; the formulas are checked against ``OPTIMIZERS["adam"]``).

**Update sizes** (`UpdateTracker`; the paper's Fig. 3).  ``‖Δθ_t‖₂`` at every recorded step and the
full distribution of ``|Δθ_t|`` at a few steps (1, 10, 100), as log-spaced histograms.

**Second-moment drift** (`expected_moments`, `expected_drift`, `DriftMeter`; the paper's Eqs. 6–8,
reconstructed in ALGORITHMS §1.4 — the paper's own wording is unreadable, so this is our
consistent reading, not a quotation).  On the NGOS linear loss ``L(θ) = ⟨c, θ⟩`` with gradient
noise, ``E[g] = c`` and ``E[g²] = s``, and unrolling Adam's EMAs gives

.. math::

    E[m_t] = β_1^t m_0 + (1-β_1^t)\,c,\qquad E[v_t] = β_2^t v_0 + (1-β_2^t)\,s,\qquad
    E[\hat v_t] = E[v_t]/(1-β_2^t),

and the one-step drift ``E[v_t − v_{t−1} | v_{t−1}] = (1−β_2)(s − v_{t−1})`` (Eq. 8 as we read it):
large relative to s at the start when ``v_0 = 0``, zero when ``v_0 = s`` (the data-driven v0 with
σ = 1).  `DriftMeter` measures it along a run.

**Linear-mode connectivity** (`interpolation_barrier`; the paper's Eq. 22, App. C.5, after
Frankle, Dziugaite, Roy & Carbin, ICML 2020).  With ``E(θ)`` an error and
``θ_α = α θ_a + (1−α) θ_b``, the error barrier (linear interpolation instability) is

.. math:: B = \max_{α∈[0,1]} E(θ_α) - \tfrac12\bigl(E(θ_a) + E(θ_b)\bigr).

**Loss-landscape slices** (`filter_normalized_direction`, `loss_slice_1d`, `loss_surface_2d`;
Li, Xu, Taylor, Studer & Goldstein, "Visualizing the Loss Landscape of Neural Nets", NeurIPS 2018,
§4).  A Gaussian direction ``d`` whose every filter ``d_f`` (slice along the first axis of a tensor
with ndim ≥ 2) is rescaled to ``‖d_f‖ = ‖θ_f‖``, so the plot is comparable across scale-invariant
networks; the loss is then read along ``θ + α d`` (1-D) or ``θ + α d_1 + β d_2`` (2-D).

Example
-------
>>> import numpy as np, v0ref
>>> from v0ref.diagnostics import first_step_report, eq12_first_step
>>> adam = v0ref.OPTIMIZERS["adam"]
>>> hp = adam.hyper(lr=1e-3)
>>> theta, g = np.zeros(4), np.array([1e-4, 1e-3, 0.1, 10.0])
>>> after, _ = adam.update(theta, g, adam.init(theta, hp), hp)          # v0 = 0: sign descent
>>> first_step_report([theta], [after], lr=1e-3).sign_fraction
1.0
>>> after, _ = adam.update(theta, g, adam.init(theta, hp, v0=1e-4), hp)  # v0 != 0: Eq. 12
>>> first_step_report([theta], [after], lr=1e-3).sign_fraction
0.25
>>> bool(np.allclose(after - theta, eq12_first_step(g, 1e-4, lr=1e-3), rtol=1e-13, atol=0))
True
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from array_api_compat import array_namespace
from array_api_compat import device as _device
from array_api_compat import to_device as _to_device

from . import random as R

__all__ = [
    "FirstStepReport", "first_step_report", "eq12_first_step",
    "UpdateTracker",
    "expected_moments", "expected_drift", "DriftMeter",
    "interpolation_barrier",
    "filter_normalized_direction", "loss_slice_1d", "loss_surface_2d",
]

Array = Any
BIAS_CORRECTIONS = ("standard", "none", "eps_hat")


# --------------------------------------------------------------------------------------------
# host conversion and argument helpers
# --------------------------------------------------------------------------------------------

def _detach(x: Array) -> Array:
    """Drop a torch tensor's autograd history (other arrays pass through)."""
    return x.detach() if hasattr(x, "detach") else x


def _to_numpy(x: Any) -> np.ndarray:
    """Any array (numpy, array_api_strict, torch on any device, jax, cupy) or number as a float64
    NumPy array on the host.  ``backends.numpy._to_numpy`` covers only numpy/array_api_strict, and
    the torch port's helper imports torch, hence this one."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):              # torch (bfloat16 included)
        return x.detach().cpu().double().numpy()
    if type(x).__module__.split(".")[0] == "cupy":
        x = x.get()
    return np.asarray(x, dtype=np.float64)


def _as_list(params: Any, what: str) -> tuple[list[Array], list[str] | None]:
    """A parameter collection as a list (and its names when it is a mapping)."""
    if isinstance(params, Mapping):
        return list(params.values()), [str(k) for k in params]
    if hasattr(params, "shape") and hasattr(params, "dtype"):   # one array
        return [params], None
    try:
        return list(params), None
    except TypeError:
        raise TypeError(f"{what} must be a sequence of arrays (or one array); got "
                        f"{type(params).__name__}") from None


def _pair(a: Any, b: Any, names: tuple[str, str]) -> tuple[list[Array], list[Array], list[str] | None]:
    """Two aligned parameter lists; a ValueError names the list and index that disagree."""
    la, keys = _as_list(a, names[0])
    lb, _ = _as_list(b, names[1])
    if len(la) != len(lb):
        raise ValueError(f"{names[0]} has {len(la)} arrays but {names[1]} has {len(lb)}")
    for i, (x, y) in enumerate(zip(la, lb)):
        if tuple(x.shape) != tuple(y.shape):
            raise ValueError(f"{names[1]}[{i}] has shape {tuple(y.shape)} but {names[0]}[{i}] has "
                             f"shape {tuple(x.shape)}")
    return la, lb, keys


def _flat64(arrays: Any, what: str) -> np.ndarray:
    """One array or a sequence of arrays, flattened and concatenated into a float64 host vector."""
    if isinstance(arrays, numbers.Real) or (hasattr(arrays, "shape") and hasattr(arrays, "dtype")):
        return _to_numpy(arrays).reshape(-1)
    items, _ = _as_list(arrays, what)
    if not items:
        return np.zeros(0)
    return np.concatenate([_to_numpy(x).reshape(-1) for x in items])


def _real(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number; got {value!r}")
    v = float(value)
    if math.isnan(v):
        raise ValueError(f"{name} must not be NaN")
    return v


def _check_beta(name: str, value: Any) -> float:
    v = _real(name, value)
    if not 0.0 <= v < 1.0:
        raise ValueError(f"{name} must be in [0, 1); got {value!r}")
    return v


def _sq_dist(a: Array, b: Array) -> float:
    """``Σ (b − a)²`` in the arrays' own namespace (one float comes to the host), in float64 where the
    namespace has it — the difference of two float32 values is then exact, as on the host path."""
    a, b = _detach(a), _detach(b)
    xp = array_namespace(a, b)
    if "float64" in xp.__array_namespace_info__().dtypes(kind="real floating"):
        a, b = xp.astype(a, xp.float64), xp.astype(b, xp.float64)
    d = b - a
    return float(xp.sum(d * d))


def _fraction(count: int, size: int) -> float:
    return count / size if size else float("nan")


# --------------------------------------------------------------------------------------------
# first step
# --------------------------------------------------------------------------------------------

@dataclass
class FirstStepReport:
    """How sign-like one optimizer step was: ``Δθ = after − before`` against the step size ``lr``.

    A coordinate is a *sign step* when ``| |Δθ| − lr | ≤ rtol·lr``; coordinates with ``Δθ = 0``
    exactly (zero gradient) are counted in ``zero_fraction`` instead.  Fractions are over all
    coordinates.  ``per_tensor`` holds one dict per parameter: ``name, shape, size, sign_fraction,
    zero_fraction, l2, max_abs, mean_abs``.
    """

    lr: float
    rtol: float
    size: int
    sign_fraction: float
    zero_fraction: float
    l2: float
    max_abs: float
    mean_abs: float
    per_tensor: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        """Plain-JSON numbers (shapes as lists)."""
        out = {k: getattr(self, k) for k in ("lr", "rtol", "size", "sign_fraction", "zero_fraction",
                                             "l2", "max_abs", "mean_abs")}
        out["per_tensor"] = [dict(row, shape=list(row["shape"])) for row in self.per_tensor]
        return out

    def __str__(self) -> str:
        head = (f"first step: {self.size} coordinates, lr={self.lr:g}: {100 * self.sign_fraction:.1f}% sign "
                f"steps (| |Δθ| − lr | ≤ {self.rtol:g}·lr), {100 * self.zero_fraction:.1f}% zero, "
                f"‖Δθ‖₂={self.l2:.4g}, max|Δθ|={self.max_abs:.4g}, mean|Δθ|={self.mean_abs:.4g}")
        width = max([4] + [len(r["name"]) for r in self.per_tensor])
        rows = [f"{'name':<{width}}  {'shape':<16} {'size':>9} {'sign%':>6} {'zero%':>6} "
                f"{'l2':>10} {'max|Δθ|':>10} {'mean|Δθ|':>10}"]
        for r in self.per_tensor:
            rows.append(f"{r['name']:<{width}}  {str(tuple(r['shape'])):<16} {r['size']:>9} "
                        f"{100 * r['sign_fraction']:>6.1f} {100 * r['zero_fraction']:>6.1f} "
                        f"{r['l2']:>10.4g} {r['max_abs']:>10.4g} {r['mean_abs']:>10.4g}")
        return "\n".join([head, *rows])


def first_step_report(before: Sequence[Array], after: Sequence[Array], lr: float, *, rtol: float = 0.01,
                      names: Sequence[str] | None = None) -> FirstStepReport:
    """Measure how close one step ``Δθ = after − before`` is to sign descent ``|Δθ| = lr``.

    With ``v_0 = 0`` Adam's first step is ``−lr·g/(|g| + ε)`` (ALGORITHMS §1.2), so nearly every
    coordinate is a sign step; with ``v_0 ≠ 0`` it follows Eq. 12 and the fraction drops.

    Parameters
    ----------
    before, after : sequences of arrays (any array-API namespace) of equal shapes, or mappings
        name -> array (the names are then used), or one array each.  ``before`` must be a copy
        taken before the step (torch optimizers update in place).
    lr : the step size α (> 0).
    rtol : relative tolerance in (0, 1): a sign step has ``| |Δθ| − lr | ≤ rtol·lr``.
    names : one name per tensor (default the mapping's keys or ``"param{i}"``).

    Returns
    -------
    FirstStepReport
        Global fractions and norms plus one row per tensor; ``str(report)`` is a table.
    """
    lr = _real("lr", lr)
    if not (0.0 < lr < math.inf):
        raise ValueError(f"lr must be a finite number > 0; got {lr!r}")
    rtol = _real("rtol", rtol)
    if not 0.0 < rtol < 1.0:
        raise ValueError(f"rtol must be in (0, 1); got {rtol!r}")
    la, lb, keys = _pair(before, after, ("before", "after"))
    if names is not None:
        names = [str(n) for n in names]
        if len(names) != len(la):
            raise ValueError(f"names has {len(names)} entries but there are {len(la)} tensors")
    else:
        names = keys if keys is not None else [f"param{i}" for i in range(len(la))]

    rows, n_sign, n_zero, size, sq, mx, total = [], 0, 0, 0, 0.0, 0.0, 0.0
    for name, a, b in zip(names, la, lb):
        d = np.abs(_to_numpy(b) - _to_numpy(a)).reshape(-1)
        zero = int(np.count_nonzero(d == 0.0))
        sign = int(np.count_nonzero(np.abs(d - lr) <= rtol * lr))
        s2, m, tot = float(np.dot(d, d)), float(d.max(initial=0.0)), float(d.sum())
        rows.append(dict(name=name, shape=tuple(a.shape), size=int(d.size), sign_fraction=_fraction(sign, d.size),
                         zero_fraction=_fraction(zero, d.size), l2=math.sqrt(s2), max_abs=m,
                         mean_abs=tot / d.size if d.size else float("nan")))
        n_sign, n_zero, size, sq, mx, total = n_sign + sign, n_zero + zero, size + d.size, sq + s2, max(mx, m), total + tot
    return FirstStepReport(lr=lr, rtol=rtol, size=size, sign_fraction=_fraction(n_sign, size),
                           zero_fraction=_fraction(n_zero, size), l2=math.sqrt(sq), max_abs=mx,
                           mean_abs=total / size if size else float("nan"), per_tensor=rows)


def eq12_first_step(grad: Array, v0: Any, *, lr: float, beta1: float = 0.9, beta2: float = 0.999,
                    eps: float = 1e-8, bias_correction: str = "standard", eps_root: float = 0.0,
                    m0: Any = None) -> Array:
    r"""The closed-form first Adam step ``Δθ_1 = θ_1 − θ_0`` from ``v_0`` (and ``m_0``, default 0).

    With ``m_0 = 0`` every mode has ``m̂_1 = m_1/(1−β_1) = g`` — the oracle corrects m in all three
    modes, ``"none"`` included — so β1 cancels (ALGORITHMS §1.3, our derivation of Eq. 12):

    * ``"standard"`` (paper code, torch; ``v̂_1 = v_1/(1−β_2)``):
      ``Δθ_1 = −α g/(\sqrt{β_2/(1−β_2)·v_0 + g² + ε_{root}} + ε)``
    * ``"none"`` (``v̂_1 = v_1``): ``Δθ_1 = −α g/(\sqrt{β_2 v_0 + (1−β_2) g² + ε_{root}} + ε)``
    * ``"eps_hat"`` (fairseq, ε added to ``\sqrt{v}``):
      ``Δθ_1 = −α g/(\sqrt{β_2/(1−β_2)·v_0 + g² + ε_{root}} + ε/\sqrt{1−β_2})``

    With ``v_0 = 0`` the standard form is sign descent, ``−α g/(|g| + ε)`` (ALGORITHMS §1.2).  A
    non-zero ``m0`` replaces ``g`` in the numerator by ``m̂_1 = β_1/(1−β_1)·m_0 + g``.  These match
    one ``OPTIMIZERS["adam"].update`` step (torch convention, no weight decay) to rounding.

    Parameters
    ----------
    grad : the first gradient ``g_1`` (array of any namespace, or a number -> float64 NumPy).
    v0, m0 : numbers or arrays of ``grad``'s shape and namespace (``m0=None`` means 0).
    lr, beta1, beta2, eps, eps_root : Adam's hyperparameters (torch defaults).
    bias_correction : ``"standard"``, ``"none"`` or ``"eps_hat"``.

    Returns
    -------
    array
        ``Δθ_1`` in ``grad``'s namespace and dtype.
    """
    if bias_correction not in BIAS_CORRECTIONS:
        raise ValueError(f"bias_correction must be one of {', '.join(map(repr, BIAS_CORRECTIONS))}; "
                         f"got {bias_correction!r}")
    lr, eps, eps_root = _real("lr", lr), _real("eps", eps), _real("eps_root", eps_root)
    for name, value in (("lr", lr), ("eps", eps), ("eps_root", eps_root)):
        if not 0.0 <= value < math.inf:
            raise ValueError(f"{name} must be a finite number >= 0; got {value!r}")
    b1, b2 = _check_beta("beta1", beta1), _check_beta("beta2", beta2)
    if isinstance(grad, numbers.Real):
        grad = np.asarray(float(grad))
    xp = array_namespace(grad)
    g = grad
    m_hat = g if m0 is None else (b1 / (1.0 - b1)) * m0 + g
    if bias_correction == "none":
        denom = xp.sqrt(b2 * v0 + (1.0 - b2) * (g * g) + eps_root) + eps
    else:
        root = xp.sqrt((b2 / (1.0 - b2)) * v0 + g * g + eps_root)
        denom = root + (eps if bias_correction == "standard" else eps / math.sqrt(1.0 - b2))
    return -lr * m_hat / denom


# --------------------------------------------------------------------------------------------
# update sizes over a run
# --------------------------------------------------------------------------------------------

class UpdateTracker:
    """Update sizes along a run: ``‖Δθ_t‖₂`` at every recorded step, ``|Δθ_t|`` at a few steps.

    ``record(step, before, after)`` costs one reduction per tensor (a float is moved to the host)
    except at the steps listed in ``steps``, where the whole ``|Δθ|`` vector (all tensors
    concatenated) is copied to the host as float64 — subsampled without replacement to
    ``max_samples`` values with the NumPy generator ``default_rng([seed, step])`` when it is
    larger.  This is what the paper's Fig. 3 plots: histograms of update sizes at steps 1, 10, 100.

    Parameters
    ----------
    steps : the steps (counted from 1) whose full ``|Δθ|`` is kept.
    max_samples : keep at most this many values per kept step (``None``: all).
    seed : NumPy seed of the subsampling.

    Attributes
    ----------
    norms : dict step -> global ``‖Δθ_t‖₂`` (float) for every recorded step.
    tensor_norms : dict step -> list of per-tensor ``‖Δθ_t‖₂``.
    """

    def __init__(self, steps: Sequence[int] = (1, 10, 100), max_samples: int | None = None, *, seed: int = 0):
        kept = []
        for s in steps:
            if isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 1:
                raise ValueError(f"steps must be integers >= 1 (steps count from 1); got {s!r}")
            kept.append(int(s))
        if max_samples is not None and (isinstance(max_samples, bool) or not isinstance(max_samples, numbers.Integral)
                                        or max_samples < 1):
            raise ValueError(f"max_samples must be None or an integer >= 1; got {max_samples!r}")
        self.steps = tuple(sorted(set(kept)))
        self.max_samples = None if max_samples is None else int(max_samples)
        self.seed = int(seed)
        self.norms: dict[int, float] = {}
        self.tensor_norms: dict[int, list[float]] = {}
        self.sizes: dict[int, int] = {}
        self._kept: dict[int, np.ndarray] = {}

    def record(self, step: int, before: Sequence[Array], after: Sequence[Array]) -> float:
        """Record ``Δθ_step = after − before``; returns ``‖Δθ_step‖₂``.  Each step is recorded once."""
        if isinstance(step, bool) or not isinstance(step, numbers.Integral) or step < 1:
            raise ValueError(f"step must be an integer >= 1; got {step!r}")
        step = int(step)
        if step in self.norms:
            raise ValueError(f"step {step} was already recorded")
        la, lb, _ = _pair(before, after, ("before", "after"))
        if step in self.steps:
            diffs = [np.abs(_to_numpy(b) - _to_numpy(a)).reshape(-1) for a, b in zip(la, lb)]
            per = [math.sqrt(float(np.dot(d, d))) for d in diffs]
            flat = np.concatenate(diffs) if diffs else np.zeros(0)
            self.sizes[step] = int(flat.size)
            if self.max_samples is not None and flat.size > self.max_samples:
                rng = np.random.default_rng([self.seed, step])
                flat = flat[np.sort(rng.choice(flat.size, self.max_samples, replace=False))]
            self._kept[step] = flat
        else:
            per = [math.sqrt(_sq_dist(a, b)) for a, b in zip(la, lb)]
            self.sizes[step] = sum(math.prod(tuple(a.shape)) for a in la)
        self.tensor_norms[step] = per
        self.norms[step] = math.sqrt(sum(p * p for p in per))
        return self.norms[step]

    def series(self) -> tuple[np.ndarray, np.ndarray]:
        """``(steps, norms)`` as arrays sorted by step (for plotting ``‖Δθ_t‖₂`` against t)."""
        steps = np.array(sorted(self.norms), dtype=np.int64)
        return steps, np.array([self.norms[int(s)] for s in steps], dtype=np.float64)

    def abs_updates(self, step: int) -> np.ndarray:
        """The kept ``|Δθ_step|`` (1-D float64; subsampled if ``max_samples`` is set)."""
        if step not in self._kept:
            why = "it is not in steps" if step not in self.steps else "it was not recorded yet"
            raise KeyError(f"no |Δθ| kept for step {step}: {why} (kept steps: {self.steps})")
        return self._kept[step].copy()

    def zero_count(self, step: int) -> int:
        """How many kept ``|Δθ_step|`` are exactly zero (left out of the log histogram)."""
        return int(np.count_nonzero(self.abs_updates(step) == 0.0))

    def histogram(self, step: int, bins: Any = 50, *, log: bool = True,
                  range: tuple[float, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Histogram ``(counts, edges)`` of the kept ``|Δθ_step|``.

        ``log=True``: ``bins`` log-spaced edges (``np.geomspace``) from the smallest to the largest
        positive value (or over ``range``); exact zeros are not counted (see `zero_count`).  Pass
        explicit ``bins`` edges (an array) to share them between runs.  ``log=False``: NumPy's
        linear histogram over all values, zeros included.
        """
        x = self.abs_updates(step)
        if not log:
            return np.histogram(x, bins=bins, range=range)
        pos = x[x > 0.0]
        if np.ndim(bins) == 0:
            nbins = int(bins)
            if nbins < 1:
                raise ValueError(f"bins must be >= 1; got {bins!r}")
            if range is not None:
                lo, hi = float(range[0]), float(range[1])
                if not 0.0 < lo < hi:
                    raise ValueError(f"a log histogram needs 0 < range[0] < range[1]; got {range!r}")
            elif pos.size:
                lo, hi = float(pos.min()), float(pos.max())
                if lo == hi:                                     # e.g. pure sign descent
                    lo, hi = lo / 1.1, hi * 1.1
            else:
                raise ValueError(f"step {step}: no positive |Δθ| to place log bins; pass range= or bin edges")
            bins = np.geomspace(lo, hi, nbins + 1)
        return np.histogram(pos, bins=np.asarray(bins, dtype=np.float64))


# --------------------------------------------------------------------------------------------
# second-moment drift on the NGOS linear loss (Eqs. 6-8, reconstructed)
# --------------------------------------------------------------------------------------------

def expected_moments(t: Any, *, m0: Any = 0.0, v0: Any = 0.0, mean: Any, second_moment: Any,
                     beta1: float = 0.9, beta2: float = 0.999,
                     bias_correction: str = "standard") -> dict[str, np.ndarray]:
    r"""Expected Adam moments after ``t`` steps under NGOS with ``E[g] = mean``, ``E[g²] = second_moment``.

    ALGORITHMS §1.4 (our reconstruction of the paper's Eqs. 6–8; exact for any gradient law with
    these two moments, since the EMAs are linear):

    .. math::

        E[m_t] = β_1^t m_0 + (1-β_1^t)\,c,\qquad E[v_t] = β_2^t v_0 + (1-β_2^t)\,s,\\
        E[\hat m_t] = E[m_t]/(1-β_1^t),\qquad E[\hat v_t] = E[v_t]/(1-β_2^t)\ \text{(standard, eps_hat)},
        \ E[v_t]\ \text{(none)}.

    Parameters
    ----------
    t : step count, an int >= 0 or a 1-D array of them (a leading axis is then added).
    m0, v0, mean, second_moment : numbers or arrays (any namespace), broadcast together.
    beta1, beta2 : Adam's decay rates.
    bias_correction : how ``v̂`` is formed (``"none"``: ``v̂ = v``).

    Returns
    -------
    dict
        float64 arrays ``m, v, m_hat, v_hat`` (the corrected ones are NaN at t = 0).
    """
    if bias_correction not in BIAS_CORRECTIONS:
        raise ValueError(f"bias_correction must be one of {', '.join(map(repr, BIAS_CORRECTIONS))}; "
                         f"got {bias_correction!r}")
    b1, b2 = _check_beta("beta1", beta1), _check_beta("beta2", beta2)
    tt = np.asarray(t)
    if tt.ndim > 1 or tt.dtype.kind not in "iu" or np.any(tt < 0):
        raise ValueError(f"t must be an integer >= 0 or a 1-D array of them; got {t!r}")
    c, s, m0_, v0_ = (_to_numpy(x) for x in (mean, second_moment, m0, v0))
    base = np.broadcast_shapes(c.shape, s.shape, m0_.shape, v0_.shape)
    p1 = (b1 ** tt.astype(np.float64)).reshape(tt.shape + (1,) * len(base))
    p2 = (b2 ** tt.astype(np.float64)).reshape(tt.shape + (1,) * len(base))
    m = p1 * m0_ + (1.0 - p1) * c
    v = p2 * v0_ + (1.0 - p2) * s
    with np.errstate(divide="ignore", invalid="ignore"):
        c1, c2 = 1.0 - p1, 1.0 - p2
        m_hat = np.where(c1 > 0, m / np.where(c1 > 0, c1, 1.0), np.nan)
        v_hat = v if bias_correction == "none" else np.where(c2 > 0, v / np.where(c2 > 0, c2, 1.0), np.nan)
    shape = tt.shape + base
    return {k: np.broadcast_to(x, shape).astype(np.float64)
            for k, x in (("m", m), ("v", v), ("m_hat", m_hat), ("v_hat", v_hat))}


def expected_drift(v_prev: Any, second_moment: Any, beta2: float) -> np.ndarray:
    """One-step expected drift of Adam's second moment, ``E[v_t − v_{t−1} | v_{t−1}] = (1−β_2)(s − v_{t−1})``
    (ALGORITHMS §1.4, our reading of the paper's Eq. 8).  Zero when ``v_{t−1} = s``; float64."""
    b2 = _check_beta("beta2", beta2)
    return (1.0 - b2) * (_to_numpy(second_moment) - _to_numpy(v_prev))


class DriftMeter:
    r"""Measure the drift of Adam's second moment along a run against its expectation.

    Feed it ``v_0, v_1, v_2, …`` with `record` (the first value recorded is ``v_0``, the state
    before any step; pass ``v0=`` to the constructor to record it there).  Each value is one array
    or a list of arrays (any namespace), flattened into float64.  Per recorded step it keeps, as
    means over the coordinates with ``s > 0`` (``s`` = ``second_moment`` = ``E[g²]``):

    * ``ratio[t]`` = mean ``v_t/s`` (and ``ratio_std[t]``, its standard deviation over coordinates);
      under NGOS its expectation is ``β_2^t v_0/s + 1 − β_2^t``;
    * ``measured_drift[t−1]`` = mean ``(v_t − v_{t−1})/s`` and ``measured_abs_drift`` = mean
      ``|v_t − v_{t−1}|/s``;
    * ``expected_drift[t−1]`` = mean ``(1−β_2)(s − v_{t−1})/s`` (Eq. 8, ALGORITHMS §1.4) and
      ``relative_drift[t−1]`` = mean ``|(1−β_2)(s − v_{t−1})|/s``: ``1−β_2`` at t = 1 for
      ``v_0 = 0``, zero for ``v_0 = s``.

    Drift arrays are indexed by ``t − 1`` (t = 1, 2, …), see ``drift_steps``.  Only the previous
    ``v`` is held; everything else is a scalar per step.
    """

    def __init__(self, second_moment: Any, beta2: float, *, v0: Any = None):
        self.beta2 = _check_beta("beta2", beta2)
        s = _flat64(second_moment, "second_moment")
        if not np.all(np.isfinite(s)) or np.any(s < 0):
            raise ValueError("second_moment must be finite and >= 0")
        self._mask = s > 0
        if not np.any(self._mask):
            raise ValueError("second_moment has no positive entry; the relative drift is undefined")
        self.size = int(s.size)
        self.n_excluded = int(s.size - np.count_nonzero(self._mask))
        self._s = s[self._mask]
        self._prev: np.ndarray | None = None
        self._cols: dict[str, list[float]] = {k: [] for k in (
            "ratio", "ratio_std", "measured_drift", "measured_abs_drift", "expected_drift", "relative_drift")}
        if v0 is not None:
            self.record(v0)

    def record(self, v: Any) -> None:
        """Record the next second-moment state ``v_t`` (t = 0 for the first call)."""
        x = _flat64(v, "v")
        if x.size != self.size:
            raise ValueError(f"v has {x.size} coordinates but second_moment has {self.size}")
        x = x[self._mask]
        r = x / self._s
        self._cols["ratio"].append(float(r.mean()))
        self._cols["ratio_std"].append(float(r.std()))
        if self._prev is not None:
            delta = (x - self._prev) / self._s
            exp = (1.0 - self.beta2) * (self._s - self._prev) / self._s
            self._cols["measured_drift"].append(float(delta.mean()))
            self._cols["measured_abs_drift"].append(float(np.abs(delta).mean()))
            self._cols["expected_drift"].append(float(exp.mean()))
            self._cols["relative_drift"].append(float(np.abs(exp).mean()))
        self._prev = x

    def _col(self, name: str) -> np.ndarray:
        return np.array(self._cols[name], dtype=np.float64)

    @property
    def steps(self) -> np.ndarray:
        """``t`` of each ``ratio`` entry: 0, 1, …"""
        return np.arange(len(self._cols["ratio"]))

    @property
    def drift_steps(self) -> np.ndarray:
        """``t`` of each drift entry: 1, 2, …"""
        return np.arange(1, len(self._cols["measured_drift"]) + 1)

    ratio = property(lambda self: self._col("ratio"), doc="mean v_t/s per recorded step")
    ratio_std = property(lambda self: self._col("ratio_std"), doc="std over coordinates of v_t/s")
    measured_drift = property(lambda self: self._col("measured_drift"), doc="mean (v_t − v_{t−1})/s")
    measured_abs_drift = property(lambda self: self._col("measured_abs_drift"), doc="mean ``|v_t − v_{t−1}|/s``")
    expected_drift = property(lambda self: self._col("expected_drift"), doc="mean (1−β2)(s − v_{t−1})/s")
    relative_drift = property(lambda self: self._col("relative_drift"), doc="mean ``|(1−β2)(s − v_{t−1})|/s``")

    def summary(self) -> dict:
        """Plain numbers: sizes, the first and last ratio, drift at t = 1, its mean over the run and the
        largest gap between measured and expected mean drift."""
        out: dict[str, Any] = {"beta2": self.beta2, "coordinates": self.size, "excluded_zero_s": self.n_excluded,
                               "steps_recorded": len(self._cols["ratio"])}
        if self._cols["ratio"]:
            out.update(ratio_first=self._cols["ratio"][0], ratio_last=self._cols["ratio"][-1])
        if self._cols["relative_drift"]:
            md, ed = self.measured_drift, self.expected_drift
            out.update(relative_drift_first=self._cols["relative_drift"][0],
                       relative_drift_mean=float(self.relative_drift.mean()),
                       measured_abs_drift_mean=float(self.measured_abs_drift.mean()),
                       max_abs_measured_minus_expected=float(np.max(np.abs(md - ed))))
        return out


# --------------------------------------------------------------------------------------------
# linear-mode connectivity (Eq. 22; Frankle et al. 2020)
# --------------------------------------------------------------------------------------------

def _lerp(a: list[Array], b: list[Array], alpha: float) -> list[Array]:
    return [alpha * _detach(x) + (1.0 - alpha) * _detach(y) for x, y in zip(a, b)]


def _scalar(value: Any, what: str) -> float:
    x = _to_numpy(value)
    if x.size != 1:
        raise ValueError(f"{what} must return a scalar; got shape {x.shape}")
    return float(x.reshape(()))


def interpolation_barrier(theta_a: Sequence[Array], theta_b: Sequence[Array],
                          error_fn: Callable[[list[Array]], Any], alphas: Any = None) -> dict[str, Any]:
    r"""Error along the segment ``θ_α = α θ_a + (1−α) θ_b`` and its barrier (the paper's Eq. 22).

    Frankle, Dziugaite, Roy & Carbin (ICML 2020, "linear interpolation instability"):

    .. math:: B = \max_α E(θ_α) - \tfrac12\bigl(E(θ_a) + E(θ_b)\bigr),

    the maximum taken over ``alphas`` and both end points (so ``B ≥ |E(θ_a) − E(θ_b)|/2 ≥ 0``).  Also
    returned: ``chord_barrier = max_α [E(θ_α) − (α E(θ_a) + (1−α) E(θ_b))]`` (Entezari et al., ICLR
    2022), which is ≤ 0 for any convex error.

    Parameters
    ----------
    theta_a, theta_b : the two solutions (sequences of arrays of equal shapes).
    error_fn : ``list of arrays -> float`` (or a 0-d array), e.g. a test error in %.
    alphas : interpolation weights in [0, 1] (default ``np.linspace(0, 1, 11)``); ``α = 1`` is θ_a.

    Returns
    -------
    dict
        ``alphas, errors`` (float64 arrays), ``barrier, chord_barrier, max_error, endpoint_mean,
        error_a, error_b`` (floats).
    """
    la, lb, _ = _pair(theta_a, theta_b, ("theta_a", "theta_b"))
    al = np.linspace(0.0, 1.0, 11) if alphas is None else np.asarray(alphas, dtype=np.float64).reshape(-1)
    if al.size == 0 or not np.all((al >= 0.0) & (al <= 1.0)):
        raise ValueError(f"alphas must be a non-empty set of numbers in [0, 1]; got {alphas!r}")
    errors = np.array([_scalar(error_fn(_lerp(la, lb, float(a))), "error_fn") for a in al])
    err = {float(a): e for a, e in zip(al, errors)}
    e_a = err[1.0] if 1.0 in err else _scalar(error_fn([_detach(x) for x in la]), "error_fn")
    e_b = err[0.0] if 0.0 in err else _scalar(error_fn([_detach(x) for x in lb]), "error_fn")
    e_a, e_b = float(e_a), float(e_b)
    endpoint_mean = 0.5 * (e_a + e_b)
    max_error = float(max(errors.max(), e_a, e_b))
    chord = float(np.max(errors - (al * e_a + (1.0 - al) * e_b)))
    return {"alphas": al, "errors": errors, "barrier": max_error - endpoint_mean, "chord_barrier": chord,
            "max_error": max_error, "endpoint_mean": endpoint_mean, "error_a": e_a, "error_b": e_b}


# --------------------------------------------------------------------------------------------
# loss-landscape slices (Li et al. 2018)
# --------------------------------------------------------------------------------------------

def filter_normalized_direction(params: Sequence[Array], key: Any, *, ignore: str | None = "biasbn") -> list[Array]:
    """A random direction normalized filter by filter (Li et al. 2018, §4, "filter normalization").

    For tensor ``i``, ``d ~ N(0, I)`` of its shape is drawn with v0ref's portable Threefry RNG
    (``v0ref.random.normal(fold_in(key, i), shape)``: the same numbers on every backend up to a
    few ulps).  A tensor with ndim ≥ 2 is rescaled filter by filter — filter ``f`` is the slice
    ``[f, ...]`` along the first axis — to ``‖d_f‖ = ‖θ_f‖``.  Tensors with ndim ≤ 1 (biases,
    norm scales) get ``d = 0`` when ``ignore="biasbn"`` (Li et al.'s recommended setting) and
    are otherwise rescaled as one filter, ``‖d‖ = ‖θ‖`` (Li et al.'s code, ``net_plotter.py``, sets
    ``d = θ`` there instead; it also adds 1e-10 to ``‖d_f‖``, which we do not).

    Parameters
    ----------
    params : sequence of arrays (any namespace; float16/bfloat16 draw in float32, then cast).
    key : a `v0ref.random.Key` or an int seed.
    ignore : ``"biasbn"`` or ``None``.

    Returns
    -------
    list of arrays
        One direction per parameter, in its namespace, dtype and device.
    """
    if ignore not in ("biasbn", None):
        raise ValueError(f"ignore must be 'biasbn' or None; got {ignore!r}")
    k = key if isinstance(key, R.Key) else R.key(key)
    items, _ = _as_list(params, "params")
    out = []
    for i, p in enumerate(items):
        p = _detach(p)
        xp = array_namespace(p)
        if p.ndim <= 1 and ignore == "biasbn":
            out.append(xp.zeros_like(p))
            continue
        dt = p.dtype if p.dtype in (xp.float32, xp.float64) else xp.float32
        d = _to_device(R.normal(R.fold_in(k, i), tuple(p.shape), dtype=dt, xp=xp), _device(p))
        rows = p.shape[0] if p.ndim >= 2 else 1
        d2 = xp.reshape(d, (rows, -1))
        w2 = xp.reshape(xp.astype(p, dt), (rows, -1))
        dn = xp.sqrt(xp.sum(d2 * d2, axis=1, keepdims=True))
        wn = xp.sqrt(xp.sum(w2 * w2, axis=1, keepdims=True))
        scale = xp.where(dn > 0, wn / xp.where(dn > 0, dn, xp.ones_like(dn)), xp.zeros_like(dn))
        out.append(xp.astype(xp.reshape(d2 * scale, tuple(p.shape)), p.dtype))
    return out


def loss_slice_1d(loss_fn: Callable[[list[Array]], Any], params: Sequence[Array], direction: Sequence[Array],
                  alphas: Any) -> np.ndarray:
    """Losses ``L(θ + α d)`` for each ``α`` in ``alphas`` (float64 NumPy, same length as ``alphas``).

    ``loss_fn`` takes a list of arrays (the shifted parameters, in their namespace) and returns a
    float or a 0-d array.
    """
    la, ld, _ = _pair(params, direction, ("params", "direction"))
    la, ld = [_detach(p) for p in la], [_detach(d) for d in ld]
    al = np.asarray(alphas, dtype=np.float64).reshape(-1)
    return np.array([_scalar(loss_fn([p + float(a) * d for p, d in zip(la, ld)]), "loss_fn") for a in al])


def loss_surface_2d(loss_fn: Callable[[list[Array]], Any], params: Sequence[Array], d1: Sequence[Array],
                    d2: Sequence[Array], alphas: Any, betas: Any) -> np.ndarray:
    """Losses ``Z[j, i] = L(θ + α_i d_1 + β_j d_2)`` as a float64 array of shape ``[len(betas), len(alphas)]``.

    Rows follow ``betas`` (the second direction) and columns ``alphas``, the layout
    ``matplotlib.pyplot.contour(alphas, betas, Z)`` expects.
    """
    la, l1, _ = _pair(params, d1, ("params", "d1"))
    _, l2, _ = _pair(params, d2, ("params", "d2"))
    la, l1, l2 = ([_detach(x) for x in lst] for lst in (la, l1, l2))
    al = np.asarray(alphas, dtype=np.float64).reshape(-1)
    be = np.asarray(betas, dtype=np.float64).reshape(-1)
    z = np.empty((be.size, al.size))
    for j, b in enumerate(be):
        for i, a in enumerate(al):
            shifted = [p + float(a) * x + float(b) * y for p, x, y in zip(la, l1, l2)]
            z[j, i] = _scalar(loss_fn(shifted), "loss_fn")
    return z
