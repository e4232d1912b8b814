r"""NAdam: Adam with Nesterov momentum (Dozat 2016).

torch 2.13 (``convention="torch"``, also the ``"paper"`` form: Dozat's momentum schedule):

.. math::

    μ_t = β_1(1 - ½·0.96^{tψ}),\quad μ_{t+1} = β_1(1 - ½·0.96^{(t+1)ψ}),\quad Π_t = Π_{t-1} μ_t \\
    m_t = β_1 m_{t-1} + (1-β_1) g_t,\qquad v_t = β_2 v_{t-1} + (1-β_2) g_t^2 \\
    d_t = \sqrt{v_t/(1-β_2^t)} + ε \\
    θ_t = θ_{t-1} - α\frac{1-μ_t}{1-Π_t}\,\frac{g_t}{d_t} - α\frac{μ_{t+1}}{1-Π_tμ_{t+1}}\,\frac{m_t}{d_t}

optax 0.2.8 (``optax.nadam = adam(nesterov=True)``): no momentum schedule,

.. math::

    \hat m_t = β_1 \frac{m_t}{1-β_1^{t+1}} + (1-β_1)\frac{g_t}{1-β_1^t},\qquad
    θ_t = θ_{t-1} - α\,\hat m_t/(\sqrt{v_t/(1-β_2^t) + ε_{root}} + ε)

``bias_correction``: ``"none"`` uses ``v_t`` undebiased; ``"eps_hat"`` the fairseq form
``d_t = (\sqrt{v_t} + ε)/\sqrt{1-β_2^t}``.  v0/m0 fill ``v``/``m``; ``Π_0 = 1``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from array_api_compat import array_namespace

from . import _math as M
from ._core import Algorithm, DebiasedHyper, ErrorCase, Reference, check_nonneg, moment_array, register

Array = Any


@dataclass(frozen=True, kw_only=True)
class NAdamHyper(DebiasedHyper):
    lr: float = 2e-3
    momentum_decay: float = 4e-3

    def __post_init__(self) -> None:
        super().__post_init__()
        check_nonneg("momentum_decay", self.momentum_decay)


class NAdamState(NamedTuple):
    step: Any
    m: Array
    v: Array
    mu_product: Any   # Π_t, a Python float (torch keeps a 0-d tensor)


def init(param: Array, hp: NAdamHyper, *, v0: Any = None, m0: Any = None) -> NAdamState:
    return NAdamState(0, moment_array(param, m0, "m0"), moment_array(param, v0, "v0"), 1.0)


def update(param: Array, grad: Array, state: NAdamState, hp: NAdamHyper) -> tuple[Array, NAdamState]:
    xp = array_namespace(param, grad)
    t = state.step + 1
    b1, b2 = hp.betas
    conv = hp.convention
    param, g = M.prepare(param, grad, hp)
    m, v = M.adam_moments(state.m, state.v, g, hp.betas, conv)
    c2 = M.bias_correction(b2, t)
    if hp.bias_correction == "standard":
        denom = xp.sqrt(v / c2 + hp.eps_root) + hp.eps
    elif hp.bias_correction == "none":
        denom = xp.sqrt(v + hp.eps_root) + hp.eps
    else:  # eps_hat
        denom = (xp.sqrt(v + hp.eps_root * c2) + hp.eps) / c2 ** 0.5

    if conv == "optax":
        m_hat = b1 * (m / M.bias_correction(b1, t + 1)) + (1.0 - b1) * (g / M.bias_correction(b1, t))
        return param + (-hp.lr) * (m_hat / denom), NAdamState(t, m, v, state.mu_product)

    psi = hp.momentum_decay
    mu = b1 * (1.0 - 0.5 * 0.96 ** (t * psi))
    mu_next = b1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * psi))
    mu_product = state.mu_product * mu
    param = param + (-hp.lr * (1.0 - mu) / (1.0 - mu_product)) * g / denom
    param = param + ((-hp.lr * mu_next) / (1.0 - mu_product * mu_next)) * m / denom
    return param, NAdamState(t, m, v, mu_product)


register(Algorithm(
    name="nadam", hyper_cls=NAdamHyper, init_fn=init, update_fn=update,
    state_names=("m", "v", "mu_product"), first_moment=("m",), second_moment=("v",),
    summary="NAdam: Adam with Nesterov momentum (Dozat 2016); torch schedule or optax form",
    doc=__doc__, family="adam",
    cases=({}, {"momentum_decay": 0.0}, {"weight_decay": 0.1}, {"weight_decay": 0.1, "decoupled_weight_decay": True},
           {"maximize": True}, {"bias_correction": "none"}, {"bias_correction": "eps_hat"},
           {"convention": "optax"}, {"convention": "paper"}),
    errors=(ErrorCase({"momentum_decay": -1.0}, ValueError, r"momentum_decay must be a finite number >= 0"),
            ErrorCase({"betas": (1.0, 0.9)}, ValueError, r"betas\[0\] must be in \[0, 1\); got 1\.0")),
    references=(
        Reference("torch", "torch.optim.NAdam",
                  lambda hp: dict(lr=hp.lr, betas=hp.betas, eps=hp.eps, weight_decay=hp.weight_decay,
                                  momentum_decay=hp.momentum_decay, maximize=hp.maximize,
                                  decoupled_weight_decay=hp.decoupled_weight_decay),
                  {"m": "exp_avg", "v": "exp_avg_sq", "mu_product": "mu_product"},
                  lambda hp: hp.convention == "torch" and hp.bias_correction == "standard" and hp.eps_root == 0.0),
        Reference("optax", "optax.nadam",
                  lambda hp: dict(learning_rate=hp.lr, b1=hp.betas[0], b2=hp.betas[1], eps=hp.eps,
                                  eps_root=hp.eps_root),
                  {"m": "mu", "v": "nu"},
                  lambda hp: (hp.convention == "optax" and hp.bias_correction == "standard"
                              and hp.weight_decay == 0.0 and not hp.maximize)),
        Reference("optax", "optax.nadamw",             # = optax.adamw(nesterov=True)
                  lambda hp: dict(learning_rate=hp.lr, b1=hp.betas[0], b2=hp.betas[1], eps=hp.eps,
                                  eps_root=hp.eps_root, weight_decay=hp.weight_decay),
                  {"m": "mu", "v": "nu"},
                  lambda hp: (hp.convention == "optax" and hp.bias_correction == "standard"
                              and hp.decoupled_weight_decay and not hp.maximize)),
    ),
))
