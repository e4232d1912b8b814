r"""L-BFGS: limited-memory BFGS with the two-loop recursion (Nocedal & Wright 2006, Alg. 7.4/7.5;
Liu & Nocedal 1989), one call = one ``torch.optim.LBFGS.step(closure)`` (ALGORITHMS §4.17).

A whole-vector method: ``update(params, objective, state, hp)`` runs up to ``max_iter`` inner
iterations on ``x = [vec(p_1); …]``.  With ``g = ∇f(x)`` and the stored pairs
``s_i = x_{i+1} − x_i``, ``y_i = g_{i+1} − g_i``, ``ρ_i = 1/(y_iᵀs_i)``, newest first:

.. math::

    q = -g;\quad a_i = ρ_i s_i^\top q,\ q \mathrel{-}= a_i y_i \ (i = k-1, …, k-m)          \quad (1) \\
    r = γ q,\quad γ = \frac{s_{k-1}^\top y_{k-1}}{y_{k-1}^\top y_{k-1}}\ (1 \text{ before any pair}) \quad (2) \\
    b = ρ_i y_i^\top r,\ r \mathrel{+}= (a_i - b) s_i \ (i = k-m, …, k-1);\qquad d = r        \quad (3) \\
    x \leftarrow x + t d,\quad t = \text{lr (or strong-Wolfe)},\qquad
    (s, y) \text{ stored only if } y^\top s > 10^{-10}                                          \quad (4)

The first iteration of a run takes ``d = −g`` with ``t = min(1, 1/‖g‖₁)·lr`` (torch; under
``convention="paper"`` ``t = lr``, N&W's unit first step).  γ and the oldest-pair eviction at
``history_size`` follow torch (the pair list shifts; γ is updated only when a pair is stored).
Stops (in torch's order): ``max|g| ≤ tolerance_grad`` on entry; ``gᵀd > −tolerance_change``;
after the step: ``n_iter = max_iter``, ``evaluations ≥ max_eval`` (default ``⌊5·max_iter/4⌋``),
``max|g| ≤ tolerance_grad``, ``max|t d| ≤ tolerance_change``, ``|f − f_prev| < tolerance_change``.
Without a line search the loss is re-evaluated after each step except the last of a call.

``line_search_fn="strong_wolfe"``: `v0ref.algorithms._linesearch.strong_wolfe` (N&W Alg. 3.5/3.6
with cubic interpolation, torch's ``lswolfe`` order), ``c1 = 1e-4``, ``c2 = 0.9``,
``max_ls = max_eval − evaluations so far``.  The state carries over between calls, as torch's
does (``d``, ``t``, the pairs, γ, the previous gradient and loss, the global iteration count).
Scalars (``t``, ``gᵀd``, γ, ρ) are Python floats, so on float32 arrays they are rounded like
torch's only where torch also rounds to Python floats; compare iterate by iterate in float64.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any, NamedTuple

from . import _linesearch as LS
from . import _vec as V
from ._core import Algorithm, ErrorCase, Hyper, Reference, check_choice, check_nonneg, check_range, register

__all__ = ["LBFGSHyper", "LBFGSState", "init", "update", "check_int"]

Array = Any


def check_int(name: str, value: Any, low: int) -> None:
    """``value`` is an integer >= ``low`` (bool is rejected)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer; got {value!r} of type {type(value).__name__}")
    if value < low:
        raise ValueError(f"{name} must be an integer >= {low}; got {value!r}")


@dataclass(frozen=True, kw_only=True)
class LBFGSHyper(Hyper):
    lr: float = 1.0
    max_iter: int = 20
    max_eval: int | None = None          # ⌊5·max_iter/4⌋ as in torch
    tolerance_grad: float = 1e-7
    tolerance_change: float = 1e-9
    history_size: int = 100
    line_search_fn: str | None = None    # None | "strong_wolfe"
    c1: float = 1e-4
    c2: float = 0.9
    _conventions = ("torch", "paper")

    def __post_init__(self) -> None:
        super().__post_init__()
        check_nonneg("lr", self.lr)
        check_int("max_iter", self.max_iter, 1)
        if self.max_eval is None:
            object.__setattr__(self, "max_eval", self.max_iter * 5 // 4)
        check_int("max_eval", self.max_eval, 1)
        check_nonneg("tolerance_grad", self.tolerance_grad)
        check_nonneg("tolerance_change", self.tolerance_change)
        check_int("history_size", self.history_size, 1)
        check_choice("line_search_fn", self.line_search_fn, (None, "strong_wolfe"))
        check_range("c1", self.c1, 0.0, 1.0, open_low=True)
        check_range("c2", self.c2, 0.0, 1.0, open_low=True)
        if not self.c1 < self.c2:
            raise ValueError(f"c1 must be smaller than c2 (0 < c1 < c2 < 1); got c1={self.c1!r}, c2={self.c2!r}")


class LBFGSState(NamedTuple):
    step: int                      # calls of update (torch: optimizer.step calls)
    n_iter: int                    # inner iterations over all calls (torch state["n_iter"])
    func_evals: int                # objective evaluations over all calls
    d: Array | None                # last direction (flat)
    t: float | None                # last step length
    old_dirs: tuple                # y_i (torch's naming)
    old_stps: tuple                # s_i
    ro: tuple                      # ρ_i = 1/(y_iᵀs_i)
    H_diag: float                  # γ
    prev_flat_grad: Array | None
    prev_loss: float | None
    loss: float | None             # the loss at the start of the last call (torch's return value)


def init(params: list[Array], hp: LBFGSHyper, *, v0: Any = None, m0: Any = None) -> LBFGSState:
    """Empty history (torch keeps no state before the first ``step``)."""
    V.check_params(params, "params", "lbfgs")
    return LBFGSState(0, 0, 0, None, None, (), (), (), 1.0, None, None, None)


def _direction(g: Array, old_dirs: tuple, old_stps: tuple, ro: tuple, h_diag: float) -> Array:
    """Two-loop recursion (1)-(3), torch's arithmetic order."""
    q = -g
    al = [0.0] * len(old_dirs)
    for i in range(len(old_dirs) - 1, -1, -1):
        al[i] = V.dot(old_stps[i], q) * ro[i]
        q = q + (-al[i]) * old_dirs[i]
    r = q * h_diag
    for i in range(len(old_dirs)):
        be_i = V.dot(old_dirs[i], r) * ro[i]
        r = r + (al[i] - be_i) * old_stps[i]
    return r


def update(params: list[Array], objective: Any, state: LBFGSState, hp: LBFGSHyper) -> tuple[list[Array], LBFGSState]:
    V.check_objective(objective, "lbfgs")
    like = list(params)
    x = V.flatten(like)
    loss, flat_grad = V.evaluate(objective, x, like)
    orig_loss = loss
    current_evals, func_evals, n_total = 1, state.func_evals + 1, state.n_iter
    d, t = state.d, state.t
    old_dirs, old_stps, ro = list(state.old_dirs), list(state.old_stps), list(state.ro)
    h_diag, prev_flat_grad, prev_loss = state.H_diag, state.prev_flat_grad, state.prev_loss

    def finish() -> tuple[list[Array], LBFGSState]:
        return V.unflatten(x, like), LBFGSState(state.step + 1, n_total, func_evals, d, t, tuple(old_dirs),
                                                tuple(old_stps), tuple(ro), h_diag, prev_flat_grad, prev_loss,
                                                orig_loss)

    if V.amax_abs(flat_grad) <= hp.tolerance_grad:
        return finish()

    n_iter = 0
    while n_iter < hp.max_iter:
        n_iter += 1
        n_total += 1
        if n_total == 1:
            d = -flat_grad
            old_dirs, old_stps, ro, h_diag = [], [], [], 1.0
        else:
            y = flat_grad - prev_flat_grad
            s = d * t
            ys = V.dot(y, s)
            if ys > 1e-10:                                       # (4): curvature-pair skipping
                if len(old_dirs) == hp.history_size:
                    old_dirs.pop(0), old_stps.pop(0), ro.pop(0)
                old_dirs.append(y)
                old_stps.append(s)
                ro.append(1.0 / ys)
                h_diag = ys / V.dot(y, y)                        # (2)
            d = _direction(flat_grad, old_dirs, old_stps, ro, h_diag)
        prev_flat_grad, prev_loss = flat_grad, loss

        if n_total == 1 and hp.convention == "torch":
            t = min(1.0, 1.0 / V.asum_abs(flat_grad)) * hp.lr
        else:
            t = hp.lr
        gtd = V.dot(flat_grad, d)
        if gtd > -hp.tolerance_change:
            break

        ls_evals = 0
        if hp.line_search_fn == "strong_wolfe":
            x0, d0 = x, d

            def phi(step: float) -> tuple[float, Array]:
                return V.evaluate(objective, x0 + step * d0, like)

            loss, flat_grad, t, ls_evals = LS.strong_wolfe(phi, d, t, loss, flat_grad, gtd, c1=hp.c1, c2=hp.c2,
                                                           tolerance_change=1e-9,
                                                           max_ls=hp.max_eval - current_evals)
            x = x + t * d
            opt_cond = V.amax_abs(flat_grad) <= hp.tolerance_grad
        else:
            x = x + t * d
            opt_cond = False
            if n_iter != hp.max_iter:
                loss, flat_grad = V.evaluate(objective, x, like)
                opt_cond = V.amax_abs(flat_grad) <= hp.tolerance_grad
                ls_evals = 1
        current_evals += ls_evals
        func_evals += ls_evals

        if n_iter == hp.max_iter or current_evals >= hp.max_eval or opt_cond:
            break
        if V.amax_abs(d * t) <= hp.tolerance_change:
            break
        if abs(loss - prev_loss) < hp.tolerance_change:
            break
    return finish()


def _torch_kwargs(hp: LBFGSHyper) -> dict:
    return dict(lr=hp.lr, max_iter=hp.max_iter, max_eval=hp.max_eval, tolerance_grad=hp.tolerance_grad,
                tolerance_change=hp.tolerance_change, history_size=hp.history_size,
                line_search_fn=hp.line_search_fn)


_ERRORS = (
    ErrorCase({"history_size": -1}, ValueError, r"history_size must be an integer >= 1; got -1"),
    ErrorCase({"history_size": 0}, ValueError, r"history_size must be an integer >= 1; got 0"),
    ErrorCase({"history_size": 2.5}, TypeError, r"history_size must be an integer"),
    ErrorCase({"max_iter": 0}, ValueError, r"max_iter must be an integer >= 1"),
    ErrorCase({"max_eval": 0}, ValueError, r"max_eval must be an integer >= 1"),
    ErrorCase({"lr": -1.0}, ValueError, r"lr must be a finite number >= 0"),
    ErrorCase({"tolerance_grad": -1e-7}, ValueError, r"tolerance_grad must be a finite number >= 0"),
    ErrorCase({"line_search_fn": "armijo"}, ValueError, r"line_search_fn must be one of None, 'strong_wolfe'"),
    ErrorCase({"c1": 0.95, "c2": 0.9}, ValueError, r"c1 must be smaller than c2"),
    ErrorCase({"convention": "optax"}, ValueError, r"convention must be one of 'torch', 'paper'"),
)

register(Algorithm(
    name="lbfgs", hyper_cls=LBFGSHyper, init_fn=init, update_fn=update,
    state_names=("d", "t", "old_dirs", "old_stps", "ro", "H_diag", "prev_flat_grad", "prev_loss"),
    summary="L-BFGS, two-loop recursion, strong-Wolfe line search; one call = torch.optim.LBFGS.step",
    doc=__doc__, family="quasi-newton", kind="whole_vector",
    cases=({}, {"line_search_fn": "strong_wolfe", "max_iter": 5}, {"lr": 0.1, "max_iter": 3, "history_size": 2},
           {"line_search_fn": "strong_wolfe", "max_iter": 4, "history_size": 3, "convention": "paper"}),
    errors=_ERRORS,
    references=(Reference("torch", "torch.optim.LBFGS", _torch_kwargs, {}, lambda hp: hp.convention == "torch"),),
))
