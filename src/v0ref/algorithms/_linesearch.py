r"""Line searches shared by L-BFGS and nonlinear CG.

``strong_wolfe`` finds a step ``t`` along a descent direction ``d`` satisfying the strong Wolfe
conditions (Nocedal & Wright 2006, Eq. 3.7; Alg. 3.5 bracketing, Alg. 3.6 zoom):

.. math::

    f(x + t d) \le f(x) + c_1 t\, g^\top d,\qquad |g(x + t d)^\top d| \le c_2\, |g^\top d|

with the step chosen by safeguarded cubic interpolation of two points with values and slopes
(N&W Eq. 3.59).  The order of tests, the extrapolation interval ``[t + 0.01(t − t_prev), 10 t]``,
the insufficient-progress rule of the zoom (a trial within 10 % of the bracket width from an end
is moved to 10 % inside, if the previous trial was also there or it lies outside) and the
"bracket too small" stop ``|b_1 − b_0|·max|d| < tolerance_change`` are those of Torch7's
``lswolfe.lua`` as ported to ``torch.optim.lbfgs._strong_wolfe`` (torch 2.13) — including the
quirk that a non-decrease ``f_new ≥ f_prev`` ends the bracketing only from the third trial on —
so that ``lbfgs(convention="torch")`` follows torch iterate by iterate.

``cubic_minimizer`` is the interpolation step; ``exact_quadratic_step`` the exact line search
``t = −gᵀd / dᵀHd`` for quadratics (Goodfellow et al. 2016, Alg. 8.9 assumes an exact search).
Scalars are Python floats; vectors are 1-D arrays of any array-API namespace.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from . import _vec as V

__all__ = ["cubic_minimizer", "strong_wolfe", "exact_quadratic_step", "armijo_backtracking"]

Array = Any


def cubic_minimizer(x1: float, f1: float, g1: float, x2: float, f2: float, g2: float,
                    bounds: tuple[float, float] | None = None) -> float:
    r"""Minimizer of the cubic through ``(x1, f1, g1)`` and ``(x2, f2, g2)``, clipped to ``bounds``
    (default: the interval between the points); the midpoint of the bounds when the cubic has no
    real minimizer.  N&W Eq. 3.59 with

    .. math:: d_1 = g_1 + g_2 - 3\frac{f_1 - f_2}{x_1 - x_2},\quad d_2 = \sqrt{d_1^2 - g_1 g_2},\quad
              x^* = x_2 - (x_2 - x_1)\frac{g_2 + d_2 - d_1}{g_2 - g_1 + 2 d_2}.
    """
    lo, hi = bounds if bounds is not None else ((x1, x2) if x1 <= x2 else (x2, x1))
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1 ** 2 - g1 * g2
    if d2_square >= 0:
        d2 = math.sqrt(d2_square)
        if x1 <= x2:
            x = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
        else:
            x = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
        return min(max(x, lo), hi)
    return (lo + hi) / 2.0


def strong_wolfe(phi: Callable[[float], tuple[float, Array]], d: Array, t: float, f: float, g: Array,
                 gtd: float, *, c1: float = 1e-4, c2: float = 0.9, tolerance_change: float = 1e-9,
                 max_ls: int = 25) -> tuple[float, Array, float, int]:
    """Strong-Wolfe line search from ``x`` along ``d``.

    Parameters
    ----------
    phi : ``t -> (f(x + t d), ∇f(x + t d))`` (loss as a float, flat gradient).
    d : the search direction (flat).  t : the initial trial step.
    f, g, gtd : loss, flat gradient and slope ``gᵀd`` at ``x`` (``gtd < 0``).
    c1, c2 : sufficient-decrease and curvature constants, ``0 < c1 < c2 < 1``.
    tolerance_change : stop when the bracket is shorter than this (scaled by ``max|d|``).
    max_ls : the most trials after the first.

    Returns
    -------
    ``(f_new, g_new, t, evaluations)``: the accepted step's loss, gradient, step and the number of
    ``phi`` calls.
    """
    d_norm = V.amax_abs(d)
    f_new, g_new = phi(t)
    evals = 1
    gtd_new = V.dot(g_new, d)

    # bracketing phase (N&W Alg. 3.5)
    t_prev, f_prev, g_prev, gtd_prev = 0.0, f, g, gtd
    done = False
    ls_iter = 0
    bracket: list[float] = []
    bracket_f: list[float] = []
    bracket_g: list[Array] = []
    bracket_gtd: list[float] = []
    while ls_iter < max_ls:
        if f_new > (f + c1 * t * gtd) or (ls_iter > 1 and f_new >= f_prev):
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new], [gtd_prev, gtd_new]
            break
        if abs(gtd_new) <= -c2 * gtd:
            bracket, bracket_f, bracket_g = [t], [f_new], [g_new]
            done = True
            break
        if gtd_new >= 0:
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new], [gtd_prev, gtd_new]
            break
        # extrapolate by cubic interpolation within [t + 0.01 (t − t_prev), 10 t]
        min_step = t + 0.01 * (t - t_prev)
        max_step = t * 10
        tmp = t
        t = cubic_minimizer(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, bounds=(min_step, max_step))
        t_prev, f_prev, g_prev, gtd_prev = tmp, f_new, g_new, gtd_new
        f_new, g_new = phi(t)
        evals += 1
        gtd_new = V.dot(g_new, d)
        ls_iter += 1
    if ls_iter == max_ls:
        bracket, bracket_f, bracket_g = [0.0, t], [f, f_new], [g, g_new]

    # zoom phase (N&W Alg. 3.6)
    insuf_progress = False
    low, high = (0, 1) if bracket_f[0] <= bracket_f[-1] else (1, 0)
    while not done and ls_iter < max_ls:
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:
            break
        t = cubic_minimizer(bracket[0], bracket_f[0], bracket_gtd[0], bracket[1], bracket_f[1], bracket_gtd[1])
        # safeguard: a trial within 10 % of the bracket width from an end
        hi_t, lo_t = max(bracket), min(bracket)
        eps = 0.1 * (hi_t - lo_t)
        if min(hi_t - t, t - lo_t) < eps:
            if insuf_progress or t >= hi_t or t <= lo_t:
                t = hi_t - eps if abs(t - hi_t) < abs(t - lo_t) else lo_t + eps
                insuf_progress = False
            else:
                insuf_progress = True
        else:
            insuf_progress = False
        f_new, g_new = phi(t)
        evals += 1
        gtd_new = V.dot(g_new, d)
        ls_iter += 1
        if f_new > (f + c1 * t * gtd) or f_new >= bracket_f[low]:
            bracket[high], bracket_f[high], bracket_g[high], bracket_gtd[high] = t, f_new, g_new, gtd_new
            low, high = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[high] - bracket[low]) >= 0:
                bracket[high], bracket_f[high] = bracket[low], bracket_f[low]
                bracket_g[high], bracket_gtd[high] = bracket_g[low], bracket_gtd[low]
            bracket[low], bracket_f[low], bracket_g[low], bracket_gtd[low] = t, f_new, g_new, gtd_new
    return bracket_f[low], bracket_g[low], bracket[low], evals


def exact_quadratic_step(gtd: float, dhd: float) -> float:
    """The exact minimizer ``t = −gᵀd / dᵀHd`` of a quadratic along ``d`` (``dᵀHd > 0``)."""
    if not dhd > 0.0:
        raise ValueError(f"exact line search needs positive curvature along d; got dᵀHd = {dhd!r}")
    return -gtd / dhd


def armijo_backtracking(loss_at: Callable[[float], float], f: float, gtd: float, *, t0: float = 1.0,
                        shrink: float = 0.8, c: float = 1e-2, max_tries: int = 20) -> tuple[float, float, int]:
    """Backtracking ``t ← shrink·t`` from ``t0`` until ``f(x + t p) ≤ f(x) + c·t·gᵀp`` (Armijo;
    Martens & Sutskever 2012 §8.8).  Returns ``(t, f(x + t p), evaluations)``; ``t = 0`` and ``f``
    when ``max_tries`` trials fail."""
    t = t0
    for i in range(1, max_tries + 1):
        f_t = loss_at(t)
        if math.isfinite(f_t) and f_t <= f + c * t * gtd:
            return t, f_t, i
        t *= shrink
    return 0.0, f, max_tries
