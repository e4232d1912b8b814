r"""AdaDelta: RMSProp with the step's units restored by a running RMS of past steps (Zeiler 2012).

With ``g_t`` after ``maximize`` and the coupled decay ``g_t + λθ_{t-1}`` (ALGORITHMS §4.6):

.. math::

    v_t = ρ v_{t-1} + (1-ρ) g_t^2                                                \quad (1) \\
    Δx_t = \frac{\sqrt{u_{t-1} + ε}}{\sqrt{v_t + ε}}\, g_t                          \quad (2) \\
    u_t = ρ u_{t-1} + (1-ρ) Δx_t^2                                               \quad (3) \\
    θ_t = θ_{t-1} - α\, Δx_t                                                     \quad (4)

``v = E[g²]`` and ``u = E[Δx²]`` (state ``delta_sq``).  Sources: Zeiler (arXiv 1212.5701) Alg. 1,
which has no learning rate (α = 1) and uses ρ = 0.95, ε = 1e-6 in its experiments; torch 2.13
``torch.optim.Adadelta`` (lr 1, ρ 0.9, ε 1e-6; state ``square_avg``, ``acc_delta``); optax 0.2.8
``adadelta = chain(add_decayed_weights, scale_by_adadelta, scale_by_learning_rate)`` (state
``e_g``, ``e_x``).  Both frameworks compute (1)-(4) with ε inside both square roots and the
coupled decay added to g *before* (1) — the order is the same; they differ only in the EMA
rounding (torch ``v·ρ + ((1−ρ)g)·g``, optax ``(1−ρ)g² + ρv``).  ``"paper"`` takes optax's
order with ρ = 0.95 by default; α = 1 reproduces Alg. 1.  optax has no ``maximize`` (the oracle
flips the sign as torch does).

v0 fills ``v = E[g²]`` only (the issue: "v0 applies to E[g²]"); ``E[Δx²]`` always starts at 0,
so the first step is ``Δx_1 = \sqrt{ε/(ρ v_0 + (1−ρ) g_1^2 + ε)}·g_1`` — a larger v0 shrinks it.
AdaDelta keeps no first moment (m0 does not apply) and has no bias correction.  ε must be > 0:
with ε = 0 and ``u_0 = 0`` every step is 0 (0/0 where g = 0).

>>> import numpy as np
>>> from v0ref import OPTIMIZERS
>>> alg = OPTIMIZERS["adadelta"]
>>> hp = alg.hyper()
>>> p, state = alg.update(np.zeros(1), np.full(1, 0.5), alg.init(np.zeros(1), hp), hp)
>>> bool(np.isclose(p[0], -np.sqrt(1e-6 / (0.1 * 0.25 + 1e-6)) * 0.5))
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from array_api_compat import array_namespace

from . import _math as M
from ._core import Algorithm, ErrorCase, Hyper, Reference, check_nonneg, check_range, moment_array, register

__all__ = ["AdadeltaHyper", "AdadeltaState", "init", "update"]

Array = Any


@dataclass(frozen=True, kw_only=True)
class AdadeltaHyper(Hyper):
    lr: float = 1.0
    rho: float | None = None    # 0.9 (torch, optax) / 0.95 (paper)
    eps: float = 1e-6
    weight_decay: float = 0.0
    maximize: bool = False
    _convention_defaults = {"rho": {"torch": 0.9, "optax": 0.9, "paper": 0.95}}

    def __post_init__(self) -> None:
        super().__post_init__()
        check_nonneg("lr", self.lr)
        check_range("rho", self.rho, 0.0, 1.0, closed_high=True)
        check_range("eps", self.eps, 0.0, float("inf"), open_low=True)
        check_nonneg("weight_decay", self.weight_decay)


class AdadeltaState(NamedTuple):
    step: Any
    v: Array          # E[g²] (torch square_avg, optax e_g)
    delta_sq: Array   # E[Δx²] (torch acc_delta, optax e_x)


def init(param: Array, hp: AdadeltaHyper, *, v0: Any = None, m0: Any = None) -> AdadeltaState:
    """``E[g²] = v0`` (default 0); ``E[Δx²] = 0``."""
    return AdadeltaState(0, moment_array(param, v0, "v0"), moment_array(param, None, "delta_sq"))


def update(param: Array, grad: Array, state: AdadeltaState, hp: AdadeltaHyper) -> tuple[Array, AdadeltaState]:
    xp = array_namespace(param, grad)
    t = state.step + 1
    param, g = M.prepare(param, grad, hp)                                      # maximize, then g + λθ
    v = M.ema_sq(state.v, g, hp.rho, hp.convention)                            # (1)
    delta = xp.sqrt(state.delta_sq + hp.eps) / xp.sqrt(v + hp.eps) * g        # (2)
    delta_sq = M.ema_sq(state.delta_sq, delta, hp.rho, hp.convention)          # (3)
    return param + (-hp.lr) * delta, AdadeltaState(t, v, delta_sq)            # (4)


register(Algorithm(
    name="adadelta", hyper_cls=AdadeltaHyper, init_fn=init, update_fn=update,
    state_names=("v", "delta_sq"), second_moment=("v",),
    summary="AdaDelta: RMSProp with units restored by a running RMS of the steps (Zeiler 2012)",
    doc=__doc__, family="accumulators",
    cases=({}, {"rho": 0.5, "eps": 1e-4}, {"lr": 0.1}, {"weight_decay": 0.1}, {"maximize": True},
           {"rho": 1.0}, {"rho": 0.0}, {"convention": "optax"}, {"convention": "optax", "weight_decay": 0.1},
           {"convention": "paper"}, {"lr": 0.0}),
    errors=(ErrorCase({"rho": 1.5}, ValueError, r"rho must be in \[0, 1\]; got 1\.5"),
            ErrorCase({"eps": 0.0}, ValueError, r"eps must be in \(0, inf\); got 0\.0"),
            ErrorCase({"lr": float("nan")}, ValueError, r"lr must not be NaN"),
            ErrorCase({"weight_decay": -0.1}, ValueError, r"weight_decay must be a finite number >= 0"),
            ErrorCase({"maximize": None}, TypeError, r"maximize must be True or False; got None")),
    references=(
        Reference("torch", "torch.optim.Adadelta",
                  lambda hp: dict(lr=hp.lr, rho=hp.rho, eps=hp.eps, weight_decay=hp.weight_decay,
                                  maximize=hp.maximize),
                  {"v": "square_avg", "delta_sq": "acc_delta"}, lambda hp: hp.convention == "torch"),
        Reference("optax", "optax.adadelta",
                  lambda hp: dict(learning_rate=hp.lr, rho=hp.rho, eps=hp.eps, weight_decay=hp.weight_decay),
                  {"v": "e_g", "delta_sq": "e_x"}, lambda hp: hp.convention == "optax" and not hp.maximize),
    ),
))
