r"""Yogi: Adam with an additive, sign-controlled second moment (Zaheer et al. 2018, NeurIPS, Alg. 2).

.. math::

    m_t = β_1 m_{t-1} + (1-β_1) g_t                                                   \quad (1)\\
    v_t = v_{t-1} - (1-β_2)\,\mathrm{sign}(v_{t-1} - g_t^2)\, g_t^2                   \quad (2)\\
    θ_t = θ_{t-1} - α\,\hat m_t/(\sqrt{v_t/(1-β_2^t) + ε_{root}} + ε)                 \quad (3)

(2) moves v by at most (1−β2)g² towards g² (Adam's step is (1−β2)(g² − v)); v stays ≥ 0 when v0 ≥ 0.
Both moments start at ``initial_accumulator`` = 1e-6, not 0 (TF-Addons, jettify, pto, optax): with
``v0=None``/``m0=None`` the state is 1e-6; a given v0/m0 replaces it (``initial_accumulator=0``
gives zeros).  Bias correction is applied from t = 1 although v_0 ≠ 0 (ALGORITHMS §1.7, §4.13);
``bias_correction="none"`` drops ``1-β_2^t``, ``"eps_hat"`` is
``α\sqrt{1-β_2^t}/(1-β_1^t)·m_t/(\sqrt{v_t}+ε)``.  Defaults: α = 1e-2, ε = 1e-3.

``convention``:

* ``"torch"`` (default) — jettify/pytorch-optimizer's ``Yogi``, copied in the paper repo
  (``*/optimizers/Yogi.py``): coupled decay, ``m·β1 + (1−β1)g``,
  ``(−α/(1−β_1^t))·m/(\sqrt{v}/\sqrt{1−β_2^t} + ε)``.
* ``"pytorch_optimizer"`` — pto 4.1.0 ``Yogi``: the same with ``lerp`` for m and decoupled decay by
  default (``weight_decouple``, ``fixed_decay``).
* ``"optax"`` — ``optax.yogi``: ``(1−β1)g + β1 m``, ``\hat m/(\sqrt{\hat v + ε_{root}} + ε)``; no weight decay
  in optax (the oracle applies the torch forms); ``maximize`` (pto's) negates g under every convention.
* ``"paper"`` — Alg. 2 as recalled ([U]; ALGORITHMS §4.13 verifies only (2)): no bias correction,
  ``θ_t = θ_{t-1} − α m_t/(\sqrt{v_t} + ε)``.

>>> import numpy as np
>>> from v0ref import OPTIMIZERS
>>> alg = OPTIMIZERS["yogi"]
>>> hp = alg.hyper()
>>> _, state = alg.update(np.zeros(1), np.ones(1), alg.init(np.zeros(1), hp), hp)
>>> bool(np.isclose(state.v[0], 1e-6 + 1e-3))    # v0 < g²: v grows by (1 − β2)·g²
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

from array_api_compat import array_namespace

from ._core import Algorithm, DebiasedHyper, ErrorCase, Reference, check_nonneg, moment_array, register
from ._official import CONVENTIONS, PTO, adam_step, check_family_flags, decay, first_moment

Array = Any


@dataclass(frozen=True, kw_only=True)
class YogiHyper(DebiasedHyper):
    lr: float = 1e-2
    eps: float = 1e-3
    initial_accumulator: float = 1e-6           # m and v when no m0/v0 is given
    decoupled_weight_decay: bool | None = None  # False (torch, optax, paper) / True (pto)
    fixed_decay: bool = False
    _conventions: ClassVar[tuple[str, ...]] = CONVENTIONS
    _convention_defaults = {"decoupled_weight_decay": {"torch": False, PTO: True, "optax": False, "paper": False}}

    def __post_init__(self) -> None:
        super().__post_init__()
        check_family_flags(self)
        check_nonneg("initial_accumulator", self.initial_accumulator)
        if self.convention == "paper" and self.bias_correction != "standard":
            raise ValueError("convention='paper' is Zaheer et al.'s Alg. 2, which has no bias correction to "
                             f"choose; got bias_correction={self.bias_correction!r}")


class YogiState(NamedTuple):
    step: Any
    m: Array   # exp_avg
    v: Array   # exp_avg_sq


def init(param: Array, hp: YogiHyper, *, v0: Any = None, m0: Any = None) -> YogiState:
    acc = hp.initial_accumulator
    return YogiState(0, moment_array(param, acc if m0 is None else m0, "m0"),
                     moment_array(param, acc if v0 is None else v0, "v0"))


def update(param: Array, grad: Array, state: YogiState, hp: YogiHyper) -> tuple[Array, YogiState]:
    xp = array_namespace(param, grad)
    t = state.step + 1
    param, g = decay(param, grad, hp)
    m = first_moment(state.m, g, hp.betas[0], hp.convention)                     # (1)
    g2 = g * g
    v = state.v - (1.0 - hp.betas[1]) * xp.sign(state.v - g2) * g2               # (2), = addcmul_(-(1−β2), ...)
    if hp.convention == "paper":
        return param - hp.lr * m / (xp.sqrt(v + hp.eps_root) + hp.eps), YogiState(t, m, v)
    return adam_step(param, m, v, t, hp, eps_root=hp.eps_root), YogiState(t, m, v)     # (3)


register(Algorithm(
    name="yogi", hyper_cls=YogiHyper, init_fn=init, update_fn=update,
    state_names=("m", "v"), first_moment=("m",), second_moment=("v",),
    summary="Yogi: Adam with an additive sign-controlled second moment (Zaheer et al. 2018)",
    doc=__doc__, family="yogi",
    cases=({}, {"convention": "optax"}, {"convention": "paper"}, {"weight_decay": 5e-4},
           {"weight_decay": 0.1, "decoupled_weight_decay": True, "fixed_decay": True}, {"maximize": True},
           {"bias_correction": "none"}, {"bias_correction": "eps_hat"}, {"eps_root": 1e-8},
           {"convention": "optax", "eps_root": 1e-8}, {"initial_accumulator": 0.0},
           {"betas": (0.5, 0.9), "eps": 1e-6}, {"lr": 0.0}),
    errors=(ErrorCase({"initial_accumulator": -1e-6}, ValueError,
                      r"initial_accumulator must be a finite number >= 0; got -1e-06"),
            ErrorCase({"convention": "paper", "bias_correction": "eps_hat"}, ValueError,
                      r"convention='paper' is Zaheer et al\.'s Alg\. 2, which has no bias correction"),
            ErrorCase({"fixed_decay": 0}, TypeError, r"fixed_decay must be True or False"),
            ErrorCase({"eps": float("inf")}, ValueError, r"eps must be a finite number >= 0; got inf"),
            ErrorCase({"convention": "tf"}, ValueError,
                      r"convention must be one of 'torch', 'optax', 'pytorch_optimizer', 'paper'")),
    references=(
        Reference(PTO, "pytorch_optimizer.Yogi",
                  lambda hp: dict(lr=hp.lr, betas=hp.betas, initial_accumulator=hp.initial_accumulator,
                                  weight_decay=hp.weight_decay, weight_decouple=hp.decoupled_weight_decay,
                                  fixed_decay=hp.fixed_decay, eps=hp.eps, maximize=hp.maximize),
                  {"m": "exp_avg", "v": "exp_avg_sq"},
                  lambda hp: hp.convention == PTO and hp.bias_correction == "standard" and hp.eps_root == 0.0),
        Reference("optax", "optax.yogi",
                  lambda hp: dict(learning_rate=hp.lr, b1=hp.betas[0], b2=hp.betas[1], eps=hp.eps),
                  {"m": "mu", "v": "nu"},
                  lambda hp: (hp.convention == "optax" and hp.bias_correction == "standard" and hp.eps_root == 0.0
                              and hp.initial_accumulator == 1e-6 and hp.weight_decay == 0.0 and not hp.maximize)),
    ),
))
