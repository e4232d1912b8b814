r"""AdaGrad: per-coordinate step sizes from the sum of squared gradients (Duchi et al. 2011).

With ``g_t`` after ``maximize`` and the coupled decay ``g_t + λθ_{t-1}`` (ALGORITHMS §4.4):

.. math::

    v_t = v_{t-1} + g_t^2,\qquad v_0 = τ \ (\text{initial\_accumulator\_value}, \text{or } v_0) \quad (1) \\
    α_t = α/(1 + (t-1)·\text{lr\_decay})                                                          \quad (2) \\
    \text{torch, paper:}\quad θ_t = θ_{t-1} - α_t\, g_t/(\sqrt{v_t} + ε)                          \quad (3) \\
    \text{optax:}\quad θ_t = θ_{t-1} - α_t\, g_t\,[v_t > 0]/\sqrt{v_t + ε}                        \quad (4)

Sources: Duchi, Hazan & Singer (JMLR 2011), diagonal form ``η g/(δ + \sqrt{Σ g^2})``; Goodfellow
et al. (2016) Alg. 8.4: ``r_0 = 0``, δ outside the sqrt, "δ ≈ 1e-7"; torch 2.13
``torch.optim.Adagrad`` (3) as ``param.addcdiv_(g, sum.sqrt().add_(eps), value=-clr)``; optax 0.2.8
``adagrad = chain(scale_by_rss, scale_by_learning_rate)``, (4) with ``jnp.where(v > 0,
rsqrt(v + eps), 0)``: ε *inside* the sqrt, and an all-zero history gives a zero step.

The conventions differ in more than rounding:

============  ==========================  =========  =========================
convention    ε                           default ε  default τ (accumulator)
============  ==========================  =========  =========================
``torch``     outside the sqrt, (3)       1e-10      0
``optax``     inside the sqrt, (4)        1e-7       0.1
``paper``     outside the sqrt, (3)       1e-7       0
============  ==========================  =========  =========================

The accumulator ``v`` is the second-moment-like state: ``v0`` fills it and, when given, overrides
``initial_accumulator_value`` (both are the same thing, a starting sum; ``v0`` may vary per
coordinate).  AdaGrad keeps no first moment (m0 does not apply) and has no bias correction — ``v``
is a sum, not an average, so there is no ``bias_correction`` field.  ``lr_decay`` (torch only)
is applied under every convention; optax has no weight decay or ``maximize``: the oracle applies
torch's forms there.  With ``eps = 0`` under (3) a coordinate whose gradients and accumulator are
all zero divides 0 by 0 (NaN, as in torch).

>>> import numpy as np
>>> from v0ref import OPTIMIZERS
>>> alg = OPTIMIZERS["adagrad"]
>>> hp = alg.hyper(convention="optax")
>>> hp.initial_accumulator_value, hp.eps
(0.1, 1e-07)
>>> p, state = alg.update(np.zeros(1), np.full(1, 0.3), alg.init(np.zeros(1), hp), hp)
>>> bool(np.isclose(state.v[0], 0.1 + 0.09)), bool(np.isclose(p[0], -1e-2 * 0.3 / np.sqrt(0.19 + 1e-7)))
(True, True)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from array_api_compat import array_namespace

from . import _math as M
from ._core import Algorithm, ErrorCase, Hyper, Reference, check_nonneg, moment_array, register

__all__ = ["AdagradHyper", "AdagradState", "init", "update"]

Array = Any


@dataclass(frozen=True, kw_only=True)
class AdagradHyper(Hyper):
    lr: float = 1e-2
    lr_decay: float = 0.0
    weight_decay: float = 0.0
    initial_accumulator_value: float | None = None   # 0 (torch, paper) / 0.1 (optax)
    eps: float | None = None                          # 1e-10 (torch) / 1e-7 (optax, paper)
    maximize: bool = False
    _convention_defaults = {"initial_accumulator_value": {"torch": 0.0, "optax": 0.1, "paper": 0.0},
                            "eps": {"torch": 1e-10, "optax": 1e-7, "paper": 1e-7}}

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps"):
            check_nonneg(name, getattr(self, name))


class AdagradState(NamedTuple):
    step: Any
    v: Array   # sum of squared gradients (torch ``sum``, optax ``sum_of_squares``, Goodfellow r)


def init(param: Array, hp: AdagradHyper, *, v0: Any = None, m0: Any = None) -> AdagradState:
    """``v = v0`` when given, else ``initial_accumulator_value`` everywhere."""
    return AdagradState(0, moment_array(param, hp.initial_accumulator_value if v0 is None else v0, "v0"))


def update(param: Array, grad: Array, state: AdagradState, hp: AdagradHyper) -> tuple[Array, AdagradState]:
    xp = array_namespace(param, grad)
    t = state.step + 1
    param, g = M.prepare(param, grad, hp)                       # maximize, then g + λθ
    clr = hp.lr / (1 + (t - 1) * hp.lr_decay)                   # (2)
    if hp.convention == "torch":                                # sum.addcmul_(g, g); addcdiv_(-clr)
        v = state.v + g * g
        return param + (-clr) * g / (xp.sqrt(v) + hp.eps), AdagradState(t, v)
    v = g * g + state.v                                         # (1)
    if hp.convention == "paper":
        return param - clr * g / (hp.eps + xp.sqrt(v)), AdagradState(t, v)
    positive = v > 0                                            # (4): rsqrt only where v > 0
    inv = xp.where(positive, 1.0 / xp.sqrt(xp.where(positive, v, xp.ones_like(v)) + hp.eps), xp.zeros_like(v))
    return param + (-clr) * (inv * g), AdagradState(t, v)


register(Algorithm(
    name="adagrad", hyper_cls=AdagradHyper, init_fn=init, update_fn=update,
    state_names=("v",), second_moment=("v",),
    summary="AdaGrad: steps scaled by the root of the summed squared gradients (Duchi et al. 2011)",
    doc=__doc__, family="accumulators",
    cases=({}, {"lr": 0.1, "eps": 1e-8}, {"lr_decay": 0.05}, {"weight_decay": 0.1}, {"maximize": True},
           {"initial_accumulator_value": 0.5}, {"eps": 0.0, "initial_accumulator_value": 1e-3},
           {"convention": "optax"}, {"convention": "optax", "initial_accumulator_value": 0.0},
           {"convention": "optax", "eps": 0.0}, {"convention": "paper"}, {"lr": 0.0}),
    errors=(ErrorCase({"lr": -0.1}, ValueError, r"lr must be a finite number >= 0; got -0\.1"),
            ErrorCase({"lr_decay": -1e-3}, ValueError, r"lr_decay must be a finite number >= 0; got -0\.001"),
            ErrorCase({"initial_accumulator_value": -0.1}, ValueError,
                      r"initial_accumulator_value must be a finite number >= 0; got -0\.1"),
            ErrorCase({"eps": float("inf")}, ValueError, r"eps must be a finite number >= 0; got inf"),
            ErrorCase({"weight_decay": "0"}, TypeError, r"weight_decay must be a real number"),
            ErrorCase({"maximize": 0}, TypeError, r"maximize must be True or False; got 0"),
            ErrorCase({"convention": "tf"}, ValueError, r"convention must be one of 'torch', 'optax', 'paper'")),
    references=(
        Reference("torch", "torch.optim.Adagrad",
                  lambda hp: dict(lr=hp.lr, lr_decay=hp.lr_decay, weight_decay=hp.weight_decay, eps=hp.eps,
                                  initial_accumulator_value=hp.initial_accumulator_value, maximize=hp.maximize),
                  {"v": "sum"}, lambda hp: hp.convention == "torch"),
        Reference("optax", "optax.adagrad",
                  lambda hp: dict(learning_rate=hp.lr, initial_accumulator_value=hp.initial_accumulator_value,
                                  eps=hp.eps),
                  {"v": "sum_of_squares"},
                  lambda hp: (hp.convention == "optax" and hp.lr_decay == 0.0 and hp.weight_decay == 0.0
                              and not hp.maximize)),
    ),
))
