r"""RMSProp, plain or centered, with heavy-ball or Nesterov momentum (Hinton 2012; Graves 2013).

With ``g_t`` after ``maximize`` and the coupled decay ``g_t + λθ_{t-1}`` (ALGORITHMS §4.5):

.. math::

    v_t = α v_{t-1} + (1-α) g_t^2,\qquad \bar g_t = α \bar g_{t-1} + (1-α) g_t \ (\text{centered})  \quad (1) \\
    s_t = \hat v_t - \hat{\bar g}_t^2 \ (\text{centered}),\quad s_t = \hat v_t \ \text{otherwise};
        \quad \hat x_t = x_t/c_t,\ c_t = 1-α^t \ (\text{bias correction}),\ 1 \ \text{otherwise}         \quad (2) \\
    d_t = \sqrt{s_t} + ε \ (\text{eps\_in\_sqrt=False}),\qquad d_t = \sqrt{s_t + ε} \ (\text{True})   \quad (3) \\
    \text{torch:}\quad b_t = μ b_{t-1} + g_t/d_t,\quad θ_t = θ_{t-1} - α_{lr}\,b_t
        \ \ (\text{nesterov: } - α_{lr}(g_t/d_t + μ b_t))                                             \quad (4) \\
    \text{optax, paper:}\quad m_t = μ m_{t-1} - α_{lr}\, g_t/d_t,\quad θ_t = θ_{t-1} + m_t
        \ \ (\text{nesterov: } + μ m_t - α_{lr} g_t/d_t)                                              \quad (5)

Without momentum (μ = 0) both are ``θ_t = θ_{t-1} − α_{lr} g_t/d_t``.  Sources: Hinton, Coursera
lecture 6e (decay 0.9); Goodfellow et al. (2016) Alg. 8.5 (ε "δ ≈ 1e-6" inside the sqrt, r_0 = 0);
Graves (2013) Eq. 38-41, the centered form with momentum (5) and constants ℵ = 0.95, ℶ = 0.9,
ℷ = 1e-4, ℸ = 1e-4, ε inside the sqrt; torch 2.13 ``torch.optim.RMSprop`` (4), state
``square_avg``, ``grad_avg``, ``momentum_buffer``; optax 0.2.8 ``rmsprop = chain(scale_by_rms |
scale_by_stddev, scale_by_learning_rate, trace)`` (5): the momentum ``trace`` comes *after* the
learning-rate scaling, so optax's buffer holds ``m = −α_{lr}·b`` (equal steps for a constant lr).

``convention`` sets the defaults and the arithmetic: ``"torch"`` α = 0.99, ε = 1e-8 outside the
sqrt, (4); ``"optax"`` α = 0.9, ε = 1e-8 inside, (5); ``"paper"`` α = 0.9 (Hinton), ε = 1e-6
inside (Goodfellow), (5) computed in optax's order.  ``eps_in_sqrt`` overrides where ε goes under
every convention (optax's ``eps_in_sqrt=False`` equals torch up to rounding, ANCHORS §3);
``initial_scale`` is optax's constant ``v_0`` (TF1 used 1).  Nesterov: Goodfellow Alg. 8.6
evaluates g at θ + μm, which an element-wise update cannot do; ``nesterov=True`` is optax's
element-wise form, Alg. 8.6 rewritten on the look-ahead iterate ``θ + μm`` (Bengio et al. 2013,
ALGORITHMS §2.5) — torch's RMSprop has no Nesterov option.

``bias_correction`` (optax's boolean, mapped onto the oracle's vocabulary; default ``"none"`` as in
torch and optax): ``"standard"`` is optax's ``bias_correction=True``, (2) from t = 1 whatever v0 is
(optax counts from its prefilled state; centered corrects ``\bar g`` too); ``"eps_hat"`` adds ε to
the uncorrected statistic ``c_t s_t`` (``v_t − \bar g_t^2/c_t``) and moves ``\sqrt{c_t}`` into the step:
``g_t\sqrt{c_t}/(\sqrt{c_t s_t} + ε)``.  Centered with bias correction and ``v_0 = 0`` has
``s_1 = 0`` exactly: the first step is ``g_1/\sqrt{ε}`` up to rounding noise (NaN if ε is outside
and the noise negative) — use a non-zero v0 or ``initial_scale`` there.  ``ε = 0`` divides by zero
where g and v are both 0, as in torch.

State: ``v`` (second moment; ``v0`` fills it and overrides ``initial_scale``), ``g_avg`` (centered
only, else None; starts at 0) and ``m`` (momentum buffer in the convention's units — torch's b,
optax's lr-scaled trace; ``m0`` fills it; zeros when μ > 0, None when μ = 0 unless m0 is given,
which is then carried unchanged, as torch keeps a prefilled buffer it never reads).

>>> import numpy as np
>>> from v0ref import OPTIMIZERS
>>> alg = OPTIMIZERS["rmsprop"]
>>> hp = alg.hyper()
>>> p, state = alg.update(np.zeros(1), np.full(1, 2.0), alg.init(np.zeros(1), hp), hp)
>>> bool(np.isclose(p[0], -1e-2 * 2.0 / (np.sqrt(0.01 * 4.0) + 1e-8)))   # −lr·g/(sqrt((1−α)g²) + ε)
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from array_api_compat import array_namespace

from . import _math as M
from ._core import (BIAS_CORRECTIONS, Algorithm, ErrorCase, Hyper, Reference, check_bool, check_choice,
                    check_nonneg, check_range, moment_array, register)

__all__ = ["RMSpropHyper", "RMSpropState", "init", "update"]

Array = Any


@dataclass(frozen=True, kw_only=True)
class RMSpropHyper(Hyper):
    lr: float = 1e-2
    alpha: float | None = None           # 0.99 (torch) / 0.9 (optax ``decay``, paper)
    eps: float | None = None             # 1e-8 (torch, optax) / 1e-6 (paper)
    eps_in_sqrt: bool | None = None      # False (torch) / True (optax, paper)
    initial_scale: float = 0.0           # optax: constant v_0 (a given v0 overrides it)
    weight_decay: float = 0.0
    momentum: float = 0.0
    centered: bool = False
    nesterov: bool = False
    bias_correction: str = "none"
    maximize: bool = False
    _convention_defaults = {"alpha": {"torch": 0.99, "optax": 0.9, "paper": 0.9},
                            "eps": {"torch": 1e-8, "optax": 1e-8, "paper": 1e-6},
                            "eps_in_sqrt": {"torch": False, "optax": True, "paper": True}}

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("lr", "eps", "initial_scale", "weight_decay"):
            check_nonneg(name, getattr(self, name))
        check_range("alpha", self.alpha, 0.0, 1.0)
        check_range("momentum", self.momentum, 0.0, 1.0)
        check_bool("eps_in_sqrt", self.eps_in_sqrt)
        check_choice("bias_correction", self.bias_correction, BIAS_CORRECTIONS)
        if self.nesterov and self.momentum == 0.0:
            raise ValueError(f"nesterov=True requires momentum > 0; got momentum={self.momentum!r}")


class RMSpropState(NamedTuple):
    step: Any
    v: Array                 # E[g²] (torch square_avg, optax nu)
    g_avg: Array | None      # E[g] when centered (torch grad_avg, optax mu)
    m: Array | None          # momentum buffer (torch momentum_buffer b; optax trace = −lr·b)


def init(param: Array, hp: RMSpropHyper, *, v0: Any = None, m0: Any = None) -> RMSpropState:
    """``v = v0`` (else ``initial_scale``), ``\\bar g = 0`` if centered, ``m = m0`` (else 0 if μ > 0)."""
    v = moment_array(param, hp.initial_scale if v0 is None else v0, "v0")
    g_avg = moment_array(param, None, "g_avg") if hp.centered else None
    m = moment_array(param, m0, "m0") if m0 is not None or hp.momentum > 0.0 else None
    return RMSpropState(0, v, g_avg, m)


def _denominator(v: Array, g_avg: Array | None, c: float, hp: RMSpropHyper, *, xp: Any) -> Array:
    """``d_t`` of (2)-(3), in the convention's order; for ``eps_hat`` the uncorrected ``\\sqrt{c s} (+ε)``."""
    if hp.bias_correction == "standard":
        v, g_avg = v / c, (None if g_avg is None else g_avg / c)
    if g_avg is not None:
        if hp.bias_correction == "eps_hat":
            v = v - g_avg * g_avg / c
        else:
            v = v + (-1.0 * g_avg) * g_avg if hp.convention == "torch" else v - g_avg * g_avg
    return xp.sqrt(v + hp.eps) if hp.eps_in_sqrt else xp.sqrt(v) + hp.eps


def update(param: Array, grad: Array, state: RMSpropState, hp: RMSpropHyper) -> tuple[Array, RMSpropState]:
    xp = array_namespace(param, grad)
    t = state.step + 1
    conv, mu = hp.convention, hp.momentum
    param, g = M.prepare(param, grad, hp)                       # maximize, then g + λθ
    v = M.ema_sq(state.v, g, hp.alpha, conv)                    # (1)
    g_avg = M.ema(state.g_avg, g, hp.alpha, conv) if hp.centered else None
    c = 1.0 if hp.bias_correction == "none" else M.bias_correction(hp.alpha, t)
    d = _denominator(v, g_avg, c, hp, xp=xp)
    sqrt_c = c ** 0.5 if hp.bias_correction == "eps_hat" else 1.0
    m = state.m if state.m is None else state.m * 1.0           # μ = 0: a given m0 is carried, unread

    if conv == "torch":                                         # (4)
        if mu == 0.0:
            return param + (-hp.lr * sqrt_c) * g / d, RMSpropState(t, v, g_avg, m)
        q = g / d if sqrt_c == 1.0 else (sqrt_c * g) / d
        m = state.m * mu + q
        u = q + mu * m if hp.nesterov else m
        return param + (-hp.lr) * u, RMSpropState(t, v, g_avg, m)

    u = (1.0 / d) * g                                           # (5): scale_by_rms / scale_by_stddev
    u = (-hp.lr * sqrt_c) * u                                   # scale_by_learning_rate
    if mu != 0.0:                                               # trace(decay=μ, nesterov)
        m = u + mu * state.m
        u = u + mu * m if hp.nesterov else m
    return param + u, RMSpropState(t, v, g_avg, m)


def _torch_kwargs(hp: RMSpropHyper) -> dict:
    return dict(lr=hp.lr, alpha=hp.alpha, eps=hp.eps, weight_decay=hp.weight_decay, momentum=hp.momentum,
                centered=hp.centered, maximize=hp.maximize)


def _optax_kwargs(hp: RMSpropHyper) -> dict:
    return dict(learning_rate=hp.lr, decay=hp.alpha, eps=hp.eps, initial_scale=hp.initial_scale,
                eps_in_sqrt=hp.eps_in_sqrt, centered=hp.centered, momentum=hp.momentum or None,
                nesterov=hp.nesterov, bias_correction=hp.bias_correction == "standard")


register(Algorithm(
    name="rmsprop", hyper_cls=RMSpropHyper, init_fn=init, update_fn=update,
    state_names=("v", "g_avg", "m"), first_moment=("m",), second_moment=("v",),
    summary="RMSProp: steps scaled by a running RMS of the gradients; centered, momentum, Nesterov",
    doc=__doc__, family="accumulators",
    cases=({}, {"alpha": 0.9, "eps": 1e-6}, {"weight_decay": 0.1}, {"maximize": True}, {"momentum": 0.9},
           {"centered": True}, {"centered": True, "momentum": 0.5}, {"momentum": 0.9, "nesterov": True},
           {"eps_in_sqrt": True}, {"initial_scale": 0.1}, {"bias_correction": "standard"},
           {"bias_correction": "eps_hat", "momentum": 0.5},
           # centered + correction: s_1 = α v0/(1−α) cancels badly for small v0 (tests/test_accumulators.py)
           {"convention": "torch", "bias_correction": "standard", "centered": True, "initial_scale": 1.0},
           {"convention": "optax"}, {"convention": "optax", "eps_in_sqrt": False},
           {"convention": "optax", "centered": True, "momentum": 0.9, "nesterov": True},
           {"convention": "optax", "bias_correction": "standard", "momentum": 0.5, "eps_in_sqrt": False},
           {"convention": "paper"}, {"convention": "paper", "centered": True, "momentum": 0.9},
           {"lr": 0.0}, {"alpha": 0.0}),
    errors=(ErrorCase({"alpha": 1.0}, ValueError, r"alpha must be in \[0, 1\); got 1\.0"),
            ErrorCase({"momentum": -0.5}, ValueError, r"momentum must be in \[0, 1\); got -0\.5"),
            ErrorCase({"nesterov": True}, ValueError, r"nesterov=True requires momentum > 0; got momentum=0\.0"),
            ErrorCase({"eps": -1e-8}, ValueError, r"eps must be a finite number >= 0; got -1e-08"),
            ErrorCase({"initial_scale": -1.0}, ValueError, r"initial_scale must be a finite number >= 0"),
            ErrorCase({"eps_in_sqrt": 1}, TypeError, r"eps_in_sqrt must be True or False; got 1"),
            ErrorCase({"centered": "yes"}, TypeError, r"centered must be True or False"),
            ErrorCase({"bias_correction": True}, ValueError,
                      r"bias_correction must be one of 'standard', 'none', 'eps_hat'; got True"),
            ErrorCase({"decay": 0.9}, TypeError, r"unknown hyperparameter\(s\) decay")),
    references=(
        Reference("torch", "torch.optim.RMSprop", _torch_kwargs,
                  {"v": "square_avg", "g_avg": "grad_avg", "m": "momentum_buffer"},
                  lambda hp: (hp.convention == "torch" and not hp.eps_in_sqrt and not hp.nesterov
                              and hp.bias_correction == "none" and hp.initial_scale == 0.0)),
        Reference("optax", "optax.rmsprop", _optax_kwargs, {"v": "nu", "g_avg": "mu", "m": "trace"},
                  lambda hp: (hp.convention == "optax" and hp.bias_correction != "eps_hat"
                              and hp.weight_decay == 0.0 and not hp.maximize)),
    ),
))
