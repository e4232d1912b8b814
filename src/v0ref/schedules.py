r"""Learning-rate and momentum schedules as pure functions of the step (ALGORITHMS §5, §1.10, §2.2).

Every factory validates its arguments (``ValueError``/``TypeError`` naming the parameter, the
allowed range and the value received) and returns ``schedule(step) -> float``.

**Step convention.** ``step`` is the integer the framework itself uses, and both agree: torch's
``last_epoch`` after ``scheduler.step()`` has been called ``step`` times (``optimizer.param_groups
[0]['lr']`` then holds ``schedule(step)``), and optax's ``count``, the number of updates already
applied.  In both, ``schedule(k)`` is the value used by update ``k + 1`` (updates counted from 1),
i.e. update index ``k`` counted from 0; ``schedule(0)`` is the initial value.  Epoch-based
schedules (torch ``StepLR`` stepped per epoch, :func:`cnn_step`) take the 0-based epoch index.
``step`` must be an ``int >= 0`` (numpy integers accepted); the functions compute in Python
floats and are not meant for jax tracing.

The one stateful schedule is :class:`ReduceLROnPlateau` (its value depends on metrics, not on the
step); ``.step(metric) -> lr``.

Closed forms vs torch's recursive updates: torch computes most ``get_lr`` values by multiplying the
previous ``lr``; these functions use the closed forms (torch's ``_get_closed_form_lr``), which agree
within 1.2e-14 relative over 1200 steps (measured, torch 2.13: LinearLR 1.2e-14, PolynomialLR
2.2e-15, ExponentialLR 1.9e-15).  ``CosineAnnealingLR``'s recursion drifts further (2.3e-13 over
1200 steps, 5e-12 over 20000 at T_max=100), so :func:`cosine_annealing` also offers
``form="recursive"``, which reproduces torch bit for bit.  Against optax (x64) the largest relative
gap measured is 1.1e-13 (a join of two linear schedules, near zero); most are below 1e-14.
"""

from __future__ import annotations

import bisect
import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType

from .algorithms._core import check_choice, check_nonneg, check_range
from .algorithms.sgd import sutskever_momentum

__all__ = [
    "SCHEDULES",
    "ReduceLROnPlateau",
    "Schedule",
    "cnn_step",
    "constant",
    "cosine_annealing",
    "cosine_decay",
    "cosine_warm_restarts",
    "exponential_decay",
    "exponential_lr",
    "inverse_sqrt",
    "join",
    "linear",
    "linear_decay",
    "linear_warmup",
    "multistep_lr",
    "noam",
    "one_cycle",
    "one_cycle_momentum",
    "piecewise_constant",
    "polynomial",
    "polynomial_lr",
    "step_lr",
    "sutskever_momentum_schedule",
    "warmup_cosine_decay",
    "warmup_linear_decay",
]

Schedule = Callable[[int], float]


# --------------------------------------------------------------------------------------------
# validation helpers
# --------------------------------------------------------------------------------------------

def _check_int(name: str, value, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer; got {value!r} of type {type(value).__name__}")
    if value < low:
        raise ValueError(f"{name} must be an integer >= {low}; got {value!r}")
    return int(value)


def _nonneg(name: str, value) -> float:
    check_nonneg(name, value)
    return float(value)


def _check_positive(name: str, value) -> float:
    check_nonneg(name, value)
    if value == 0:
        raise ValueError(f"{name} must be a finite number > 0; got {value!r}")
    return float(value)


def _step(step) -> int:
    if isinstance(step, bool) or not isinstance(step, numbers.Integral) or step < 0:
        raise ValueError(f"step must be an integer >= 0; got {step!r}")
    return int(step)


# --------------------------------------------------------------------------------------------
# constant, step and exponential families
# --------------------------------------------------------------------------------------------

def constant(value: float) -> Schedule:
    """``lr_k = value`` (optax ``constant_schedule``; torch: no scheduler)."""
    value = _nonneg("value", value)

    def schedule(step):
        _step(step)
        return value
    return schedule


def linear_decay(lr0: float, lr_tau: float, tau: int) -> Schedule:
    r"""Goodfellow et al. (2016) Eq. 8.14: ``ε_k = (1−a)ε_0 + a ε_τ`` with ``a = k/τ`` for
    ``k ≤ τ``, and ``ε_k = ε_τ`` afterwards (ALGORITHMS §5; suggested ``ε_τ ≈ 0.01 ε_0``)."""
    lr0 = _nonneg("lr0", lr0); lr_tau = _nonneg("lr_tau", lr_tau)
    tau = _check_int("tau", tau, 1)

    def schedule(step):
        a = min(_step(step), tau) / tau
        return (1.0 - a) * lr0 + a * lr_tau
    return schedule


def step_lr(base_lr: float, step_size: int, gamma: float = 0.1) -> Schedule:
    """torch ``StepLR``: ``lr_k = base_lr·γ^⌊k/step_size⌋``."""
    base_lr = _nonneg("base_lr", base_lr); gamma = _nonneg("gamma", gamma)
    step_size = _check_int("step_size", step_size, 1)
    return lambda step: base_lr * gamma ** (_step(step) // step_size)


def multistep_lr(base_lr: float, milestones: Sequence[int], gamma: float = 0.1) -> Schedule:
    """torch ``MultiStepLR``: ``lr_k = base_lr·γ^{#{m ∈ milestones : m ≤ k}}`` (a repeated
    milestone multiplies by γ once per occurrence, as in torch)."""
    base_lr = _nonneg("base_lr", base_lr); gamma = _nonneg("gamma", gamma)
    ms = sorted(_check_int(f"milestones[{i}]", m, 0) for i, m in enumerate(milestones))
    return lambda step: base_lr * gamma ** bisect.bisect_right(ms, _step(step))


def exponential_lr(base_lr: float, gamma: float) -> Schedule:
    """torch ``ExponentialLR``: ``lr_k = base_lr·γ^k``."""
    base_lr = _nonneg("base_lr", base_lr); gamma = _nonneg("gamma", gamma)
    return lambda step: base_lr * gamma ** _step(step)


def exponential_decay(init_value: float, transition_steps: int, decay_rate: float,
                      transition_begin: int = 0, staircase: bool = False,
                      end_value: float | None = None) -> Schedule:
    """optax ``exponential_decay``: ``p = (k − B)/T`` (floored when ``staircase``),
    ``lr_k = I·r^p`` for ``k > B``, ``I`` otherwise; ``end_value`` clips from below when ``r < 1``
    and from above when ``r > 1``.  ``decay_rate = 0`` gives ``I`` for all k, as in optax."""
    init_value = _nonneg("init_value", init_value); decay_rate = _nonneg("decay_rate", decay_rate)
    T = _check_int("transition_steps", transition_steps, 1)
    B = _check_int("transition_begin", transition_begin, 0)
    if end_value is not None:
        end_value = _nonneg("end_value", end_value)
    clip = max if decay_rate < 1.0 else min

    def schedule(step):
        d = _step(step) - B
        if decay_rate == 0 or d <= 0:
            v = init_value
        else:
            v = init_value * decay_rate ** (d // T if staircase else d / T)
        return float(v if end_value is None or decay_rate == 0 else clip(v, end_value))
    return schedule


def piecewise_constant(init_value: float, boundaries_and_scales: Mapping[int, float]) -> Schedule:
    """optax ``piecewise_constant_schedule``: ``lr_k = I·∏_{b ≤ k} s_b``."""
    init_value = _nonneg("init_value", init_value)
    items = sorted((_check_int("boundary", b, 0), s) for b, s in dict(boundaries_and_scales).items())
    for b, s in items:
        check_nonneg(f"boundaries_and_scales[{b}]", s)

    def schedule(step):
        k, v = _step(step), init_value
        for b, s in items:
            if k >= b:
                v = v * s
        return float(v)
    return schedule


# --------------------------------------------------------------------------------------------
# polynomial and linear
# --------------------------------------------------------------------------------------------

def polynomial(init_value: float, end_value: float, power: float, transition_steps: int,
               transition_begin: int = 0) -> Schedule:
    r"""optax ``polynomial_schedule``: ``c = clip(k − B, 0, T)``,
    ``lr_k = (I − E)(1 − c/T)^p + E``; ``T = 0`` holds ``I`` (as optax).

    Conventions differ from torch ``PolynomialLR(total_iters=5, power=1.0)``, which is
    :func:`polynomial_lr` = ``polynomial(base_lr, 0.0, power, total_iters)``: torch always decays to
    0, has no ``transition_begin``, and defaults ``total_iters=5``; optax takes ``power``
    positionally before ``transition_steps`` and has no defaults for them."""
    init_value = _nonneg("init_value", init_value); end_value = _nonneg("end_value", end_value)
    power = _nonneg("power", power)
    T = _check_int("transition_steps", transition_steps, 0)
    B = _check_int("transition_begin", transition_begin, 0)

    def schedule(step):
        k = _step(step)
        if T == 0:
            return float(init_value)
        c = min(max(k - B, 0), T)
        return (init_value - end_value) * (1 - c / T) ** power + end_value
    return schedule


def polynomial_lr(base_lr: float, total_iters: int = 5, power: float = 1.0) -> Schedule:
    """torch ``PolynomialLR``: ``lr_k = base_lr·(1 − min(k, T)/T)^p`` (closed form)."""
    _check_int("total_iters", total_iters, 1)
    return polynomial(base_lr, 0.0, power, total_iters)


def linear(init_value: float, end_value: float, transition_steps: int,
           transition_begin: int = 0) -> Schedule:
    """optax ``linear_schedule`` (= :func:`polynomial` with power 1, the same arithmetic)."""
    return polynomial(init_value, end_value, 1, transition_steps, transition_begin)


def linear_warmup(base_lr: float, start_factor: float = 1.0 / 3, end_factor: float = 1.0,
                  total_iters: int = 5) -> Schedule:
    """torch ``LinearLR``: ``lr_k = base_lr·(s + (e − s)·min(T, k)/T)`` (closed form)."""
    base_lr = _nonneg("base_lr", base_lr)
    check_range("start_factor", start_factor, 0.0, 1.0, open_low=True, closed_high=True)
    check_range("end_factor", end_factor, 0.0, 1.0, closed_high=True)
    T = _check_int("total_iters", total_iters, 1)
    return lambda step: base_lr * (start_factor + (end_factor - start_factor) * min(T, _step(step)) / T)


# --------------------------------------------------------------------------------------------
# cosine family
# --------------------------------------------------------------------------------------------

def cosine_annealing(base_lr: float, T_max: int, eta_min: float = 0.0, *,
                     form: str = "closed") -> Schedule:
    r"""torch ``CosineAnnealingLR`` (Loshchilov & Hutter 2017, no restarts):

    ``form="closed"``: ``η_k = η_min + ½(η_0 − η_min)(1 + cos(πk/T_max))`` — periodic beyond
    ``T_max`` exactly like torch (it rises again; use :func:`cosine_decay` to hold the end value).

    ``form="recursive"``: torch's ``get_lr`` recursion, reproduced operation for operation,
    ``η_k = η_min + (η_{k−1} − η_min)(1+cos(πk/T))/(1+cos(π(k−1)/T))``, with torch's additive
    step at ``k ≡ T+1 (mod 2T)``.  Values are memoised; computing step k costs O(k) once."""
    base_lr = _nonneg("base_lr", base_lr); eta_min = _nonneg("eta_min", eta_min)
    T = _check_int("T_max", T_max, 1)
    check_choice("form", form, ("closed", "recursive"))
    if form == "closed":
        return lambda step: eta_min + (base_lr - eta_min) * (1 + math.cos(math.pi * _step(step) / T)) / 2
    cache = [float(base_lr)]

    def schedule(step):
        k = _step(step)
        while len(cache) <= k:
            e, lr = len(cache), cache[-1]
            if (e - 1 - T) % (2 * T) == 0:
                lr = lr + (base_lr - eta_min) * (1 - math.cos(math.pi / T)) / 2
            else:
                lr = (1 + math.cos(math.pi * e / T)) / (1 + math.cos(math.pi * (e - 1) / T)) * (lr - eta_min) + eta_min
            cache.append(lr)
        return cache[k]
    return schedule


def cosine_decay(init_value: float, decay_steps: int, alpha: float = 0.0,
                 exponent: float = 1.0) -> Schedule:
    """optax ``cosine_decay_schedule``: ``c = ½(1 + cos(π·min(k, T)/T))``,
    ``lr_k = I·((1 − α)c^p + α)`` (ALGORITHMS §5)."""
    init_value = _nonneg("init_value", init_value); alpha = _nonneg("alpha", alpha)
    exponent = _nonneg("exponent", exponent)
    T = _check_int("decay_steps", decay_steps, 1)

    def schedule(step):
        c = 0.5 * (1 + math.cos(math.pi * min(_step(step), T) / T))
        return init_value * ((1 - alpha) * c ** exponent + alpha)
    return schedule


def cosine_warm_restarts(base_lr: float, T_0: int, T_mult: int = 1, eta_min: float = 0.0) -> Schedule:
    """torch ``CosineAnnealingWarmRestarts`` (SGDR): ``η_k = η_min + ½(η_0 − η_min)(1 +
    cos(π T_cur/T_i))``, ``T_cur`` counted from the last restart; ``T_i`` starts at ``T_0`` and is
    multiplied by ``T_mult`` at each restart (integer arithmetic, as torch's ``step()``)."""
    base_lr = _nonneg("base_lr", base_lr); eta_min = _nonneg("eta_min", eta_min)
    T_0 = _check_int("T_0", T_0, 1)
    T_mult = _check_int("T_mult", T_mult, 1)

    def schedule(step):
        t, T_i = _step(step), T_0
        if T_mult == 1:
            t %= T_0
        while t >= T_i:
            t, T_i = t - T_i, T_i * T_mult
        return eta_min + (base_lr - eta_min) * (1 + math.cos(math.pi * t / T_i)) / 2
    return schedule


def join(schedules: Sequence[Schedule], boundaries: Sequence[int]) -> Schedule:
    """optax ``join_schedules`` (torch ``SequentialLR`` milestones, nominally): for
    ``b_i ≤ k < b_{i+1}`` the value is ``schedules[i+1](k − b_i)``; each schedule sees the steps
    since its boundary."""
    schedules = list(schedules)
    bs = [_check_int(f"boundaries[{i}]", b, 0) for i, b in enumerate(boundaries)]
    if len(schedules) != len(bs) + 1:
        raise ValueError(f"schedules must have len(boundaries) + 1 = {len(bs) + 1} entries; got {len(schedules)}")
    if bs != sorted(bs):
        raise ValueError(f"boundaries must be non-decreasing; got {bs!r}")

    def schedule(step):
        k = _step(step)
        i = bisect.bisect_right(bs, k)
        return float(schedules[i](k - (bs[i - 1] if i else 0)))
    return schedule


def warmup_cosine_decay(init_value: float, peak_value: float, warmup_steps: int, decay_steps: int,
                        end_value: float = 0.0, exponent: float = 1.0) -> Schedule:
    """optax ``warmup_cosine_decay_schedule``: :func:`linear` from ``init_value`` to
    ``peak_value`` over ``warmup_steps``, then :func:`cosine_decay` of ``peak_value`` over
    ``decay_steps − warmup_steps`` (``decay_steps`` includes the warmup) with
    ``alpha = end_value/peak_value`` (0 when ``peak_value = 0``) and ``exponent``."""
    peak_value = _nonneg("peak_value", peak_value); end_value = _nonneg("end_value", end_value)
    W = _check_int("warmup_steps", warmup_steps, 0)
    D = _check_int("decay_steps", decay_steps, 1)
    if D <= W:
        raise ValueError(f"decay_steps must be > warmup_steps = {W}; got {D}")
    alpha = 0.0 if peak_value == 0.0 else end_value / peak_value
    return join([linear(init_value, peak_value, W), cosine_decay(peak_value, D - W, alpha, exponent)], [W])


def warmup_linear_decay(init_value: float, peak_value: float, warmup_steps: int, decay_steps: int,
                        end_value: float = 0.0) -> Schedule:
    """:func:`linear` warmup ``init_value → peak_value`` over ``warmup_steps``, then :func:`linear`
    decay ``peak_value → end_value`` over ``decay_steps − warmup_steps`` (optax convention:
    ``decay_steps`` includes the warmup), constant afterwards."""
    W = _check_int("warmup_steps", warmup_steps, 0)
    D = _check_int("decay_steps", decay_steps, 1)
    if D <= W:
        raise ValueError(f"decay_steps must be > warmup_steps = {W}; got {D}")
    return join([linear(init_value, peak_value, W), linear(peak_value, end_value, D - W)], [W])


# --------------------------------------------------------------------------------------------
# transformer and paper-repo schedules
# --------------------------------------------------------------------------------------------

def inverse_sqrt(lr: float, warmup_updates: int = 8000, warmup_init_lr: float = 1e-7, *,
                 use_warmup: bool = True) -> Schedule:
    """fairseq ``inverse_sqrt`` (paper repo ``Transformer/fairseq/optim/lr_scheduler/
    inverse_square_root_schedule.py``; ALGORITHMS §5, §1.10): with ``s = (lr − w_0)/W`` and
    ``d = lr·√W``, ``lr_n = w_0 + n·s`` for ``n < W`` and ``d/√n`` afterwards.  ``warmup_init_lr
    < 0`` means 0 (fairseq's default −1).  ``use_warmup=False`` is the repo's ``--use_warmup 0``:
    ``w_0 = lr``, i.e. constant ``lr`` for ``W`` updates, then ``lr·√(W/n)``."""
    lr = _nonneg("lr", lr)
    W = _check_int("warmup_updates", warmup_updates, 1)
    w0 = float(lr) if not use_warmup else max(float(warmup_init_lr), 0.0)
    if math.isnan(w0) or math.isinf(w0):
        raise ValueError(f"warmup_init_lr must be finite; got {warmup_init_lr!r}")
    lr_step, decay = (lr - w0) / W, lr * W ** 0.5

    def schedule(step):
        n = _step(step)
        return w0 + n * lr_step if n < W else decay * n ** -0.5
    return schedule


def noam(d_model: int, warmup: int = 4000, factor: float = 1.0) -> Schedule:
    """Vaswani et al. (2017) Eq. 3: ``lr = factor·d_model^{−½}·min(s^{−½}, s·warmup^{−3/2})`` with
    ``s = max(step, 1)`` (the paper counts from 1; step 0 reuses step 1, as the Annotated
    Transformer does).  Peak ``factor·(d_model·warmup)^{−½}`` at ``step = warmup``."""
    D = _check_int("d_model", d_model, 1)
    W = _check_int("warmup", warmup, 1)
    factor = _nonneg("factor", factor)

    def schedule(step):
        s = max(_step(step), 1)
        return factor * D ** -0.5 * min(s ** -0.5, s * W ** -1.5)
    return schedule


def _one_cycle(N: int, pct_start: float, anneal_strategy: str, three_phase: bool,
               v_init: float, v_peak: float, v_final: float) -> Schedule:
    """torch ``OneCycleLR``'s phase table and ``get_lr`` loop, for any value (lr or momentum)."""
    if three_phase:
        phases = [(float(pct_start * N) - 1, v_init, v_peak), (float(2 * pct_start * N) - 2, v_peak, v_init),
                  (N - 1, v_init, v_final)]
    else:
        phases = [(float(pct_start * N) - 1, v_init, v_peak), (N - 1, v_peak, v_final)]
    start = 0.0
    for end, _, _ in phases:
        if end == start:
            raise ValueError(f"pct_start = {pct_start!r} with total_steps = {N} gives an empty phase "
                             "(torch would divide by zero)")
        start = end

    def anneal(a, b, pct):
        if anneal_strategy == "cos":
            return b + (a - b) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (b - a) * pct + a

    def schedule(step):
        k = _step(step)
        if k > N:
            raise ValueError(f"step must be <= total_steps = {N}; got {k}")
        s = 0.0
        for i, (end, a, b) in enumerate(phases):
            if k <= end or i == len(phases) - 1:
                return anneal(a, b, (k - s) / (end - s))
            s = end
    return schedule


def _check_one_cycle(total_steps, pct_start, anneal_strategy) -> int:
    N = _check_int("total_steps", total_steps, 1)
    check_range("pct_start", pct_start, 0.0, 1.0, closed_high=True)
    check_choice("anneal_strategy", anneal_strategy, ("cos", "linear"))
    return N


def one_cycle(max_lr: float, total_steps: int, pct_start: float = 0.3, anneal_strategy: str = "cos",
              div_factor: float = 25.0, final_div_factor: float = 1e4,
              three_phase: bool = False) -> Schedule:
    """torch ``OneCycleLR`` (Smith & Topin 2017) learning rate, same phases and arithmetic: initial
    ``max_lr/div_factor``, min ``initial/final_div_factor``; phase ends ``pct_start·N − 1`` (and
    ``2·pct_start·N − 2`` when ``three_phase``) and ``N − 1``: initial → max → min, or
    initial → max → initial → min; ``cos`` anneal ``end + (start − end)/2·(cos(π·pct) + 1)`` or
    ``linear`` ``(end − start)·pct + start``.  As torch, ``step = N`` is allowed (extrapolated)
    and ``step > N`` raises ``ValueError``.  Momentum cycling: :func:`one_cycle_momentum`."""
    max_lr = _nonneg("max_lr", max_lr)
    N = _check_one_cycle(total_steps, pct_start, anneal_strategy)
    _check_positive("div_factor", div_factor); _check_positive("final_div_factor", final_div_factor)
    initial = max_lr / div_factor
    return _one_cycle(N, pct_start, anneal_strategy, three_phase, initial, max_lr, initial / final_div_factor)


def one_cycle_momentum(total_steps: int, pct_start: float = 0.3, anneal_strategy: str = "cos",
                       base_momentum: float = 0.85, max_momentum: float = 0.95,
                       three_phase: bool = False) -> Schedule:
    """torch ``OneCycleLR``'s momentum (``cycle_momentum=True``; SGD ``momentum`` or Adam
    ``betas[0]``), inverse to the lr: max → base → max, or max → base → max → max with
    ``three_phase``; same phases and anneal as :func:`one_cycle`."""
    N = _check_one_cycle(total_steps, pct_start, anneal_strategy)
    check_range("base_momentum", base_momentum, 0.0, 1.0)
    check_range("max_momentum", max_momentum, 0.0, 1.0)
    return _one_cycle(N, pct_start, anneal_strategy, three_phase,
                      float(max_momentum), float(base_momentum), float(max_momentum))


def cnn_step(lr: float, total_epochs: int) -> Schedule:
    """The paper repo's CNN_CIFAR schedule (``utility/step_lr.py``; ALGORITHMS §1.10), per 0-based
    epoch ``e``: ``lr`` for ``e < 0.3E``, ``0.2·lr`` for ``e < 0.6E``, ``0.2²·lr`` for ``e < 0.8E``,
    ``0.2³·lr`` afterwards (same comparisons ``e < E*3/10`` etc. as the repo)."""
    lr = _nonneg("lr", lr)
    E = _check_int("total_epochs", total_epochs, 1)

    def schedule(step):
        e = _step(step)
        if e < E * 3 / 10:
            return float(lr)
        if e < E * 6 / 10:
            return lr * 0.2
        if e < E * 8 / 10:
            return lr * 0.2 ** 2
        return lr * 0.2 ** 3
    return schedule


def sutskever_momentum_schedule(momentum_max: float = 0.999) -> Schedule:
    """Sutskever et al. (2013) momentum ``μ_t = min(1 − 1/(2(⌊t/250⌋+1)), μ_max)`` for update
    ``t = 0, 1, …`` (ALGORITHMS §2.2); wraps :func:`v0ref.algorithms.sgd.sutskever_momentum`."""
    check_range("momentum_max", momentum_max, 0.0, 1.0)
    return lambda step: sutskever_momentum(_step(step), momentum_max)


# --------------------------------------------------------------------------------------------
# the stateful one
# --------------------------------------------------------------------------------------------

class ReduceLROnPlateau:
    """torch ``ReduceLROnPlateau`` semantics without an optimizer — the one *stateful* schedule.

    ``step(metric) -> lr``: the metric is "better" than ``best`` when ``a < best·(1 − thr)``
    (min/rel), ``a < best − thr`` (min/abs), ``a > best·(1 + thr)`` (max/rel) or ``a > best + thr``
    (max/abs); otherwise a bad epoch.  During cooldown bad epochs are ignored.  After more than
    ``patience`` bad epochs ``lr ← max(lr·factor, min_lr)`` if that lowers it by more than ``eps``,
    then cooldown restarts and the bad count resets.  ``lr`` before any call is the initial lr."""

    def __init__(self, lr: float, mode: str = "min", factor: float = 0.1, patience: int = 10,
                 threshold: float = 1e-4, threshold_mode: str = "rel", cooldown: int = 0,
                 min_lr: float = 0.0, eps: float = 1e-8) -> None:
        lr = _nonneg("lr", lr)
        check_choice("mode", mode, ("min", "max"))
        check_range("factor", factor, 0.0, 1.0)
        self.patience = _check_int("patience", patience, 0)
        threshold = _nonneg("threshold", threshold)
        check_choice("threshold_mode", threshold_mode, ("rel", "abs"))
        self.cooldown = _check_int("cooldown", cooldown, 0)
        min_lr = _nonneg("min_lr", min_lr); eps = _nonneg("eps", eps)
        self.mode, self.factor, self.threshold, self.threshold_mode = mode, factor, threshold, threshold_mode
        self.min_lr, self.eps = min_lr, eps
        self.lr = float(lr)
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = self.cooldown_counter = self.last_epoch = 0

    def _is_better(self, a: float) -> bool:
        if self.mode == "min":
            return a < (self.best * (1.0 - self.threshold) if self.threshold_mode == "rel" else self.best - self.threshold)
        return a > (self.best * (self.threshold + 1.0) if self.threshold_mode == "rel" else self.best + self.threshold)

    def step(self, metric: float) -> float:
        current = float(metric)
        self.last_epoch += 1
        if self._is_better(current):
            self.best, self.num_bad_epochs = current, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            new = max(self.lr * self.factor, self.min_lr)
            if self.lr - new > self.eps:
                self.lr = new
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
        return self.lr


# --------------------------------------------------------------------------------------------
# registry (read-only): name -> factory
# --------------------------------------------------------------------------------------------

SCHEDULES: Mapping[str, Callable] = MappingProxyType({f.__name__: f for f in (
    constant, linear_decay, step_lr, multistep_lr, exponential_lr, exponential_decay, piecewise_constant,
    polynomial, polynomial_lr, linear, linear_warmup, cosine_annealing, cosine_decay, cosine_warm_restarts,
    warmup_cosine_decay, warmup_linear_decay, inverse_sqrt, noam, one_cycle, one_cycle_momentum, cnn_step,
    sutskever_momentum_schedule, join, ReduceLROnPlateau,
)})
