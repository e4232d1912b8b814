r"""Adamax: Adam with the infinity norm (Kingma & Ba 2015, Alg. 2).

.. math::

    m_t = β_1 m_{t-1} + (1-β_1) g_t,\qquad u_t = \max(β_2 u_{t-1},\ |g_t| + ε) \\
    θ_t = θ_{t-1} - \frac{α}{1-β_1^t}\, m_t / u_t

torch 2.13 and optax 0.2.8 both put ε inside the max (``u = max(β2·u, |g| + eps)``) and differ
only in rounding order; the paper has no ε (``eps=0`` reproduces it, but then a zero gradient at
the first step divides by zero, as in the paper).  ``u`` is not bias-corrected, so there is no
``bias_correction`` choice.

v0: ``u`` is the denominator itself, in gradient units, so a second-moment init ``v0`` (squared
gradient units, like every v0 strategy produces) is stored as ``u_0 = \sqrt{v_0}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from array_api_compat import array_namespace

from . import _math as M
from ._core import AdaptiveHyper, Algorithm, ErrorCase, Reference, moment_array, register

Array = Any


@dataclass(frozen=True, kw_only=True)
class AdamaxHyper(AdaptiveHyper):
    lr: float = 2e-3


class AdamaxState(NamedTuple):
    step: Any
    m: Array   # exp_avg
    u: Array   # exp_inf: exponentially weighted infinity norm


def init(param: Array, hp: AdamaxHyper, *, v0: Any = None, m0: Any = None) -> AdamaxState:
    xp = array_namespace(param)
    return AdamaxState(0, moment_array(param, m0, "m0"), moment_array(param, v0, "v0", transform=xp.sqrt))


def update(param: Array, grad: Array, state: AdamaxState, hp: AdamaxHyper) -> tuple[Array, AdamaxState]:
    xp = array_namespace(param, grad)
    t = state.step + 1
    b1, b2 = hp.betas
    param, g = M.prepare(param, grad, hp)
    m = M.ema(state.m, g, b1, hp.convention)
    if hp.convention == "torch":
        u = xp.maximum(state.u * b2, xp.abs(g) + hp.eps)
        return param + (-(hp.lr / M.bias_correction(b1, t))) * m / u, AdamaxState(t, m, u)
    u = xp.maximum(xp.abs(g) + hp.eps, b2 * state.u)
    u_step = (m / M.bias_correction(b1, t)) / u
    if hp.convention == "paper":
        return param - hp.lr * u_step, AdamaxState(t, m, u)
    return param + (-hp.lr) * u_step, AdamaxState(t, m, u)


register(Algorithm(
    name="adamax", hyper_cls=AdamaxHyper, init_fn=init, update_fn=update,
    state_names=("m", "u"), first_moment=("m",), second_moment=("u",),
    summary="Adamax: Adam with an infinity-norm denominator (Kingma & Ba 2015, Alg. 2)",
    doc=__doc__, family="adam",
    cases=({}, {"betas": (0.5, 0.9)}, {"weight_decay": 0.1}, {"maximize": True},
           {"convention": "optax"}, {"convention": "paper"}),
    errors=(ErrorCase({"lr": -1.0}, ValueError, r"lr must be a finite number >= 0"),
            ErrorCase({"betas": (0.9, 1.5)}, ValueError, r"betas\[1\] must be in \[0, 1\); got 1\.5"),
            ErrorCase({"eps": -1e-8}, ValueError, r"eps must be a finite number >= 0")),
    references=(
        Reference("torch", "torch.optim.Adamax",
                  lambda hp: dict(lr=hp.lr, betas=hp.betas, eps=hp.eps, weight_decay=hp.weight_decay,
                                  maximize=hp.maximize),
                  {"m": "exp_avg", "u": "exp_inf"}, lambda hp: hp.convention == "torch"),
        Reference("optax", "optax.adamax",
                  lambda hp: dict(learning_rate=hp.lr, b1=hp.betas[0], b2=hp.betas[1], eps=hp.eps),
                  {"m": "mu", "u": "nu"},
                  lambda hp: hp.convention == "optax" and hp.weight_decay == 0.0 and not hp.maximize),
    ),
))
