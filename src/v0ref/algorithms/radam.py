r"""RAdam: rectified Adam (Liu et al. 2020, Alg. 2).

.. math::

    ρ_∞ = \frac{2}{1-β_2} - 1,\qquad ρ_t = ρ_∞ - \frac{2tβ_2^t}{1-β_2^t} \\
    \text{if } ρ_t > τ:\quad r_t = \sqrt{\frac{(ρ_t-4)(ρ_t-2)ρ_∞}{(ρ_∞-4)(ρ_∞-2)ρ_t}},\quad
        θ_t = θ_{t-1} - α\, r_t\, \hat m_t \frac{\sqrt{1-β_2^t}}{\sqrt{v_t} + ε} \\
    \text{else}:\quad θ_t = θ_{t-1} - α\, \hat m_t

The threshold τ is where conventions differ: the paper rectifies when ρ_t > 4 (from t = 5),
torch 2.13 when ρ_t > 5 and optax 0.2.8 when ρ_t ≥ 5 (both from t = 6; ρ_t ≈ t for small t).
torch and the paper put ε on the undebiased sqrt(v) (the ε-hat form above); optax uses
``\hat m_t/(\sqrt{\hat v_t + ε_{root}} + ε)``.  ``bias_correction="none"`` drops
``\sqrt{1-β_2^t}``; ``"eps_hat"`` forces the ε-hat form under every convention.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from array_api_compat import array_namespace

from . import _math as M
from ._core import Algorithm, DebiasedHyper, ErrorCase, Reference, check_range, moment_array, register

Array = Any
_THRESHOLD = {"torch": 5.0, "optax": 5.0, "paper": 4.0}


@dataclass(frozen=True, kw_only=True)
class RAdamHyper(DebiasedHyper):
    threshold: float | None = None   # ρ_t threshold: 5 (torch: >, optax: >=), 4 (paper: >)
    _convention_defaults = {"threshold": _THRESHOLD}

    def __post_init__(self) -> None:
        super().__post_init__()
        check_range("threshold", self.threshold, 4.0, float("inf"))  # r_t is real only for ρ_t ≥ 4


class RAdamState(NamedTuple):
    step: Any
    m: Array
    v: Array


def init(param: Array, hp: RAdamHyper, *, v0: Any = None, m0: Any = None) -> RAdamState:
    return RAdamState(0, moment_array(param, m0, "m0"), moment_array(param, v0, "v0"))


def rho(t: Any, beta2: float) -> Any:
    """Length of the approximated simple moving average, ``ρ_t`` (Liu et al. 2020, Eq. 5)."""
    rho_inf = 2.0 / (1.0 - beta2) - 1.0
    return rho_inf - 2.0 * t * beta2 ** t / (1.0 - beta2 ** t)


def update(param: Array, grad: Array, state: RAdamState, hp: RAdamHyper) -> tuple[Array, RAdamState]:
    xp = array_namespace(param, grad)
    t = state.step + 1
    b1, b2 = hp.betas
    conv = hp.convention
    param, g = M.prepare(param, grad, hp)
    m, v = M.adam_moments(state.m, state.v, g, hp.betas, conv)
    new_state = RAdamState(t, m, v)
    m_hat = m / M.bias_correction(b1, t)
    c2 = 1.0 if hp.bias_correction == "none" else M.bias_correction(b2, t)

    rho_inf = 2.0 / (1.0 - b2) - 1.0
    rho_t = rho(t, b2)
    rectify = rho_t >= hp.threshold if conv == "optax" else rho_t > hp.threshold
    r = M.rectifier(lambda rho_: ((rho_ - 4.0) * (rho_ - 2.0) * rho_inf
                                  / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_)) ** 0.5, rho_t, rectify, xp=xp)

    def rectified() -> Array:
        if conv == "optax" and hp.bias_correction != "eps_hat":
            return param + (-hp.lr) * (r * m_hat / (xp.sqrt(v / c2 + hp.eps_root) + hp.eps))
        adaptive_lr = c2 ** 0.5 / (xp.sqrt(v + hp.eps_root * c2) + hp.eps)
        return param + (-1.0) * (m_hat * hp.lr * adaptive_lr * r)

    # ρ_t ≤ threshold: the un-rectified momentum step (a Python branch, or xp.where under a tracer)
    return M.branch(rectify, rectified, lambda: param + (-1.0) * (m_hat * hp.lr), xp=xp), new_state


register(Algorithm(
    name="radam", hyper_cls=RAdamHyper, init_fn=init, update_fn=update,
    state_names=("m", "v"), first_moment=("m",), second_moment=("v",),
    summary="RAdam: Adam with variance rectification (Liu et al. 2020)",
    doc=__doc__, family="adam",
    cases=({}, {"betas": (0.9, 0.98)}, {"weight_decay": 0.1}, {"weight_decay": 0.1, "decoupled_weight_decay": True},
           {"maximize": True}, {"bias_correction": "none"}, {"bias_correction": "eps_hat"},
           {"convention": "optax"}, {"convention": "paper"}, {"threshold": 4.0}),
    errors=(ErrorCase({"threshold": 3.0}, ValueError, r"threshold must be in \[4, inf\); got 3\.0"),
            ErrorCase({"betas": (0.9, -0.5)}, ValueError, r"betas\[1\] must be in \[0, 1\)")),
    references=(
        Reference("torch", "torch.optim.RAdam",
                  lambda hp: dict(lr=hp.lr, betas=hp.betas, eps=hp.eps, weight_decay=hp.weight_decay,
                                  decoupled_weight_decay=hp.decoupled_weight_decay, maximize=hp.maximize),
                  {"m": "exp_avg", "v": "exp_avg_sq"},
                  lambda hp: (hp.convention == "torch" and hp.bias_correction == "standard"
                              and hp.eps_root == 0.0 and hp.threshold == 5.0)),
        Reference("optax", "optax.radam",
                  lambda hp: dict(learning_rate=hp.lr, b1=hp.betas[0], b2=hp.betas[1], eps=hp.eps,
                                  eps_root=hp.eps_root, threshold=hp.threshold),
                  {"m": "mu", "v": "nu"},
                  lambda hp: (hp.convention == "optax" and hp.bias_correction == "standard"
                              and hp.weight_decay == 0.0 and not hp.maximize)),
    ),
))
