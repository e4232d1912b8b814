r"""Nonlinear conjugate gradient (Goodfellow et al. 2016, Alg. 8.9; Nocedal & Wright 2006, §5.2;
ALGORITHMS §4.18).  A whole-vector method: one ``update`` = ``max_iter`` CG iterations (default 1),
each one line search.

With ``g_k = ∇f(x_k)``, ``y_k = g_k − g_{k−1}`` and the previous direction ``d_{k−1}``:

.. math::

    d_k = -g_k + β_k d_{k-1},\qquad x_{k+1} = x_k + t_k d_k                                   \quad (1) \\
    β^{FR} = \frac{g_k^\top g_k}{g_{k-1}^\top g_{k-1}},\quad
    β^{PR} = \frac{g_k^\top y_k}{g_{k-1}^\top g_{k-1}},\quad β^{PR+} = \max(0, β^{PR}),        \quad (2) \\
    β^{HS} = \frac{g_k^\top y_k}{d_{k-1}^\top y_k},\quad
    β^{DY} = \frac{g_k^\top g_k}{d_{k-1}^\top y_k}                                              \quad (3)

(Fletcher & Reeves 1964; Polak & Ribière 1969, PR+ of Gilbert & Nocedal 1992; Hestenes & Stiefel
1952; Dai & Yuan 1999).  Restarts (``β = 0``, ``d = −g``): the first iteration, every
``restart_every`` iterations (default: the number of parameters n, Goodfellow's "occasionally
reset"), on loss of conjugacy ``|g_kᵀg_{k−1}| ≥ 0.1 ‖g_k‖²`` (Powell 1977, N&W Eq. 5.52; switch
with ``powell_restart``), and whenever ``d_k`` is not a descent direction.

Line search ``"strong_wolfe"``: `v0ref.algorithms._linesearch.strong_wolfe` with ``c1 = 1e-4``,
``c2 = 0.1`` (N&W's choice for CG); first trial ``min(1, 1/‖g‖₁)·lr`` on the first iteration, then
``t_{k−1} g_{k−1}ᵀd_{k−1} / g_kᵀd_k`` (N&W Eq. 3.60).  ``"exact"``: ``t = −g_kᵀd_k / d_kᵀ∇²f d_k``
from the objective's ``hvp`` — the exact minimizer along ``d`` for a quadratic, where CG then ends
in at most n iterations (Goodfellow §8.6.2).  Each call re-evaluates ``f`` and ``∇f`` at the given
parameters, so a port may hand in its own arrays between calls.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from . import _linesearch as LS
from . import _vec as V
from ._core import Algorithm, ErrorCase, Hyper, check_bool, check_choice, check_nonneg, check_range, register
from .lbfgs import check_int

__all__ = ["CGHyper", "CGState", "init", "update", "BETAS"]

Array = Any
BETAS = ("fr", "pr", "pr+", "hs", "dy")


@dataclass(frozen=True, kw_only=True)
class CGHyper(Hyper):
    beta: str = "pr+"
    line_search: str = "strong_wolfe"      # "strong_wolfe" | "exact" (quadratics; needs hvp)
    lr: float = 1.0                        # scales the first trial step of the first line search
    max_iter: int = 1                      # CG iterations per update
    restart_every: int | None = None       # default: the number of parameters
    powell_restart: bool = True
    c1: float = 1e-4
    c2: float = 0.1
    max_ls: int = 25
    tolerance_grad: float = 0.0            # no step when max|g| <= tolerance_grad
    _conventions = ("paper",)
    convention: str = "paper"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("beta", self.beta, BETAS)
        check_choice("line_search", self.line_search, ("strong_wolfe", "exact"))
        check_nonneg("lr", self.lr)
        check_int("max_iter", self.max_iter, 1)
        if self.restart_every is not None:
            check_int("restart_every", self.restart_every, 1)
        check_bool("powell_restart", self.powell_restart)
        check_range("c1", self.c1, 0.0, 1.0, open_low=True)
        check_range("c2", self.c2, 0.0, 1.0, open_low=True)
        if not self.c1 < self.c2:
            raise ValueError(f"c1 must be smaller than c2 (0 < c1 < c2 < 1); got c1={self.c1!r}, c2={self.c2!r}")
        check_int("max_ls", self.max_ls, 1)
        check_nonneg("tolerance_grad", self.tolerance_grad)


class CGState(NamedTuple):
    step: int                 # iterations taken
    g_prev: Array | None      # gradient at the previous iterate (flat)
    d_prev: Array | None      # previous direction
    t_prev: float | None      # previous step length
    gtd_prev: float | None    # g_{k−1}ᵀd_{k−1}
    since_restart: int        # iterations since the last restart
    restarts: int             # how many restarts were taken
    func_evals: int
    loss: float | None        # f at the start of the last iteration


def init(params: list[Array], hp: CGHyper, *, v0: Any = None, m0: Any = None) -> CGState:
    V.check_params(params, "params", "cg")
    return CGState(0, None, None, None, None, 0, 0, 0, None)


def _beta(kind: str, g: Array, g_prev: Array, d_prev: Array) -> float:
    y = g - g_prev
    if kind == "fr":
        return V.dot(g, g) / V.dot(g_prev, g_prev)
    if kind in ("pr", "pr+"):
        b = V.dot(g, y) / V.dot(g_prev, g_prev)
        return max(0.0, b) if kind == "pr+" else b
    dy = V.dot(d_prev, y)
    if dy == 0.0:
        return 0.0
    return V.dot(g, y) / dy if kind == "hs" else V.dot(g, g) / dy


def _iteration(x: Array, like: list[Array], objective: Any, state: CGState, hp: CGHyper, n: int) -> tuple[Array, CGState]:
    f, g = V.evaluate(objective, x, like)
    evals = 1
    if V.amax_abs(g) <= hp.tolerance_grad:
        return x, state._replace(func_evals=state.func_evals + evals, loss=f)
    every = n if hp.restart_every is None else hp.restart_every
    gg = V.dot(g, g)
    restart = (state.g_prev is None or state.since_restart >= every
               or (hp.powell_restart and abs(V.dot(g, state.g_prev)) >= 0.1 * gg))
    d = -g if restart else -g + _beta(hp.beta, g, state.g_prev, state.d_prev) * state.d_prev
    gtd = V.dot(g, d)
    if not gtd < 0.0:                                   # not a descent direction: restart
        restart, d, gtd = True, -g, -gg
    if hp.line_search == "exact":
        hd = V.flatten(objective.hvp(V.unflatten(x, like), V.unflatten(d, like)))
        t = LS.exact_quadratic_step(gtd, V.dot(d, hd))
    else:
        t0 = None if state.t_prev is None else state.t_prev * state.gtd_prev / gtd
        if t0 is None or not (0.0 < t0 < float("inf")):     # first iteration, or a failed last search
            t0 = min(1.0, 1.0 / V.asum_abs(g)) * hp.lr
        x0, d0 = x, d

        def phi(step: float) -> tuple[float, Array]:
            return V.evaluate(objective, x0 + step * d0, like)

        _, _, t, ls_evals = LS.strong_wolfe(phi, d, t0, f, g, gtd, c1=hp.c1, c2=hp.c2, max_ls=hp.max_ls)
        evals += ls_evals
    since = 1 if restart else state.since_restart + 1
    new = CGState(state.step + 1, g, d, t, gtd, since, state.restarts + int(restart), state.func_evals + evals, f)
    return x + t * d, new


def update(params: list[Array], objective: Any, state: CGState, hp: CGHyper) -> tuple[list[Array], CGState]:
    V.check_objective(objective, "cg", needs=("loss", "grad", "hvp") if hp.line_search == "exact" else ("loss", "grad"))
    like = list(params)
    x = V.flatten(like)
    n = int(x.shape[0])
    for _ in range(hp.max_iter):
        x, state = _iteration(x, like, objective, state, hp, n)
    return V.unflatten(x, like), state


_ERRORS = (
    ErrorCase({"beta": "polak"}, ValueError, r"beta must be one of 'fr', 'pr', 'pr\+', 'hs', 'dy'; got 'polak'"),
    ErrorCase({"line_search": "armijo"}, ValueError, r"line_search must be one of 'strong_wolfe', 'exact'"),
    ErrorCase({"restart_every": 0}, ValueError, r"restart_every must be an integer >= 1; got 0"),
    ErrorCase({"restart_every": -3}, ValueError, r"restart_every must be an integer >= 1; got -3"),
    ErrorCase({"max_iter": 0}, ValueError, r"max_iter must be an integer >= 1"),
    ErrorCase({"c1": 0.5, "c2": 0.1}, ValueError, r"c1 must be smaller than c2"),
    ErrorCase({"c2": 1.0}, ValueError, r"c2 must be in \(0, 1\); got 1\.0"),
    ErrorCase({"powell_restart": 1}, TypeError, r"powell_restart must be True or False"),
    ErrorCase({"lr": -1.0}, ValueError, r"lr must be a finite number >= 0"),
    ErrorCase({"convention": "torch"}, ValueError, r"convention must be one of 'paper'"),
)

register(Algorithm(
    name="cg", hyper_cls=CGHyper, init_fn=init, update_fn=update,
    state_names=("g_prev", "d_prev", "t_prev", "gtd_prev", "since_restart"),
    summary="Nonlinear conjugate gradient (FR, PR, PR+, HS, DY) with restarts and a strong-Wolfe line search",
    doc=__doc__, family="conjugate-gradient", kind="whole_vector",
    cases=({}, {"beta": "fr", "max_iter": 2}, {"beta": "hs", "restart_every": 3}, {"beta": "dy", "powell_restart": False},
           {"beta": "pr", "line_search": "exact"}),
    errors=_ERRORS,
    tolerance={"k": 16.0},
    tolerance_reason=("discrete decisions — restarts (Powell's test, descent check) and the strong-Wolfe line search's bracketing branches — turn last-bit differences of a port's "
                      "reductions into different branches beyond what one float32 run and one jittered "
                      "run of the oracle measure (conformance.runner, whole-vector runs); k = 16 keeps "
                      "a systematic error visible after a few steps"),
))
