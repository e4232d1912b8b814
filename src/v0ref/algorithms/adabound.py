r"""AdaBound and AMSBound: Adam with step sizes clipped into bounds that close in on SGD's
(Luo et al. 2019, ICLR, arXiv 1902.09843, Alg. 2 and 3).

The official code (Luolc/AdaBound, copied in the paper repo's ``*/optimizers/AdaBound.py``) and
pto 4.1.0 (ALGORITHMS §4.10):

.. math::

    m_t = β_1 m_{t-1} + (1-β_1) g_t,\qquad v_t = β_2 v_{t-1} + (1-β_2) g_t^2
        \quad(\text{AMSBound: } d_t = \max(d_{t-1}, v_t),\ \text{else } d_t = v_t)          \quad (1)\\
    α^*_t = α\,\frac{η^*}{α_0},\qquad η_l(t) = α^*_t\Big(1 - \frac{1}{γt + 1}\Big),\qquad
        η_u(t) = α^*_t\Big(1 + \frac{1}{γt}\Big)                                              \quad (2)\\
    θ_t = θ_{t-1} - \mathrm{clip}\Big(\frac{α\sqrt{1-β_2^t}/(1-β_1^t)}{\sqrt{d_t + ε_{root}} + ε},
        η_l(t), η_u(t)\Big)\, m_t                                                              \quad (3)

with η* = ``final_lr``, γ = ``gamma`` and α_0 = ``base_lr``, the initial learning rate the
official code remembers so that a scheduler scaling α scales the bounds too (``None``: α_0 = α,
α*_t = η*; with α = 0 the official code divides by zero, the oracle takes α*_t = η*).

``bias_correction``: the official step (3) *is* the ε-hat form (ε on the uncorrected sqrt(d)), so
``"standard"`` and ``"eps_hat"`` are the same update; ``"none"`` drops ``\sqrt{1-β_2^t}``
(``1-β_1^t`` stays).  v0 fills v (and AMSBound's max); m0 fills m; the correction is kept from
t = 1 (ALGORITHMS §1.7; the paper code's prefill never creates ``max_exp_avg_sq``, so AMSBound with
a prefilled state raises KeyError there — the oracle starts the max at v0).

``convention``:

* ``"torch"`` (default) — the official code: coupled decay, ``m.mul_(β1).add_(1−β1, g)``, ε_root 0
  (``maximize`` and decoupled decay ``θ(1 − αλ)``/``θ(1 − λ)`` are pto's, applied under every convention).
* ``"pytorch_optimizer"`` — pto ``AdaBound``: decoupled decay by default (``weight_decouple``,
  ``fixed_decay``), ``lerp`` for m, ``\sqrt{d + 10^{-15}}`` (``apply_ams_bound``'s hard-coded
  ε_root, the default here), and α_0 = 0 gives α*_t = 0 (no step) instead of an error.
* ``"paper"`` — Alg. 2/3 as summarized in ALGORITHMS §4.10 ([S]/[U], the PDF was not read): no bias
  correction and a 1/√t decay, ``θ_t = θ_{t-1} − \mathrm{clip}(α/(\sqrt{d_t}+ε), η_l, η_u)/\sqrt t · m_t``,
  with the paper's bounds ``0.1 ∓ 0.1/((1−β_2)t + 1 or 0)`` written as (2) (η* = 0.1, γ = 1−β_2 =
  1e-3 at the defaults).  Unverified: the 1/√t factor, whether ε is present, β_1 constant.

>>> import numpy as np
>>> from v0ref import OPTIMIZERS
>>> alg = OPTIMIZERS["adabound"]
>>> hp = alg.hyper(lr=1e-6)      # the Adam step size 1e-5 lies below η_l(1) = 0.1·(1 − 1/1.001)
>>> p, _ = alg.update(np.zeros(1), np.ones(1), alg.init(np.zeros(1), hp), hp)
>>> bool(np.isclose(p[0], -0.1 * (1 - 1 / 1.001) * 0.1, rtol=1e-12))
True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

from array_api_compat import array_namespace

from . import _math as M
from ._core import Algorithm, DebiasedHyper, ErrorCase, Reference, check_nonneg, check_range, moment_array, register
from ._official import PTO, check_family_flags, decay, first_moment

Array = Any


@dataclass(frozen=True, kw_only=True)
class AdaBoundHyper(DebiasedHyper):
    final_lr: float = 0.1
    gamma: float = 1e-3
    base_lr: float | None = None                # α_0; None: the current lr
    amsbound: bool = False
    eps_root: float | None = None               # 0 (torch, paper) / 1e-15 (pto)
    decoupled_weight_decay: bool | None = None  # False (torch, paper) / True (pto)
    fixed_decay: bool = False
    _conventions: ClassVar[tuple[str, ...]] = ("torch", PTO, "paper")
    _convention_defaults = {"eps_root": {"torch": 0.0, PTO: 1e-15, "paper": 0.0},
                            "decoupled_weight_decay": {"torch": False, PTO: True, "paper": False}}

    def __post_init__(self) -> None:
        super().__post_init__()
        check_family_flags(self)
        check_nonneg("final_lr", self.final_lr)
        check_range("gamma", self.gamma, 0.0, float("inf"), open_low=True)
        if self.base_lr is not None:
            check_range("base_lr", self.base_lr, 0.0, float("inf"), open_low=True)
        if self.convention == "paper" and self.bias_correction != "standard":
            raise ValueError("convention='paper' is Luo et al.'s Alg. 2, which has no bias correction to "
                             f"choose; got bias_correction={self.bias_correction!r}")


@dataclass(frozen=True, kw_only=True)
class AMSBoundHyper(AdaBoundHyper):
    amsbound: bool = True


class AdaBoundState(NamedTuple):
    step: Any
    m: Array             # exp_avg
    v: Array             # exp_avg_sq
    v_max: Array | None  # AMSBound's running max of v (max_exp_avg_sq), else None


def init(param: Array, hp: AdaBoundHyper, *, v0: Any = None, m0: Any = None) -> AdaBoundState:
    v = moment_array(param, v0, "v0")
    return AdaBoundState(0, moment_array(param, m0, "m0"), v, v if hp.amsbound else None)


def bounds(hp: AdaBoundHyper, t: Any) -> tuple[Any, Any]:
    """``(η_l(t), η_u(t))`` of Eq. (2), in the official code's order of operations."""
    base = hp.lr if hp.base_lr is None else hp.base_lr
    if base > 0.0:
        final_lr = hp.final_lr * hp.lr / base
    else:                                    # lr = 0 and no base_lr: official ZeroDivisionError
        final_lr = 0.0 if hp.convention == PTO else hp.final_lr
    return final_lr * (1 - 1 / (hp.gamma * t + 1)), final_lr * (1 + 1 / (hp.gamma * t))


def update(param: Array, grad: Array, state: AdaBoundState, hp: AdaBoundHyper) -> tuple[Array, AdaBoundState]:
    xp = array_namespace(param, grad)
    t = state.step + 1
    b1, b2 = hp.betas
    param, g = decay(param, grad, hp)
    m = first_moment(state.m, g, b1, hp.convention)                               # (1)
    v = d = M.ema_sq(state.v, g, b2, "torch")
    v_max = state.v_max
    if hp.amsbound:
        v_max = d = xp.maximum(v_max, v)
    new_state = AdaBoundState(t, m, v, v_max)
    lower, upper = bounds(hp, t)                                                  # (2)
    denom = xp.sqrt(d + hp.eps_root) + hp.eps
    if hp.convention == "paper":
        return param - xp.clip(hp.lr / denom, lower, upper) / t ** 0.5 * m, new_state
    c2 = 1.0 if hp.bias_correction == "none" else M.bias_correction(b2, t)
    step_size = hp.lr * c2 ** 0.5 / M.bias_correction(b1, t)
    return param - xp.clip(step_size / denom, lower, upper) * m, new_state       # (3)


def _pto_kwargs(hp: AdaBoundHyper) -> dict:
    return dict(lr=hp.lr, final_lr=hp.final_lr, betas=hp.betas, gamma=hp.gamma, weight_decay=hp.weight_decay,
                weight_decouple=hp.decoupled_weight_decay, fixed_decay=hp.fixed_decay, ams_bound=hp.amsbound,
                eps=hp.eps, maximize=hp.maximize)


def _pto_applies(hp: AdaBoundHyper) -> bool:
    return (hp.convention == PTO and hp.bias_correction != "none" and hp.eps_root == 1e-15
            and hp.base_lr in (None, hp.lr))


_ERRORS = (
    ErrorCase({"gamma": 0.0}, ValueError, r"gamma must be in \(0, inf\); got 0\.0"),
    ErrorCase({"final_lr": -0.1}, ValueError, r"final_lr must be a finite number >= 0; got -0\.1"),
    ErrorCase({"base_lr": 0.0}, ValueError, r"base_lr must be in \(0, inf\); got 0\.0"),
    ErrorCase({"convention": "paper", "bias_correction": "none"}, ValueError,
              r"convention='paper' is Luo et al\.'s Alg\. 2, which has no bias correction"),
    ErrorCase({"convention": "optax"}, ValueError, r"convention must be one of 'torch', 'pytorch_optimizer', 'paper'"),
    ErrorCase({"amsbound": 1}, TypeError, r"amsbound must be True or False"),
    ErrorCase({"fixed_decay": None}, TypeError, r"fixed_decay must be True or False"),
    ErrorCase({"decoupled_weight_decay": "no"}, TypeError, r"decoupled_weight_decay must be True or False"),
    ErrorCase({"betas": (1.0, 0.999)}, ValueError, r"betas\[0\] must be in \[0, 1\); got 1\.0"),
)
_CASES = (
    {}, {"weight_decay": 5e-4}, {"weight_decay": 0.1, "fixed_decay": True, "decoupled_weight_decay": True},
    {"weight_decay": 0.1, "convention": PTO, "decoupled_weight_decay": False, "maximize": True},
    {"final_lr": 0.5, "gamma": 0.1}, {"base_lr": 1e-2}, {"lr": 1e-2, "base_lr": 1e-2}, {"final_lr": 0.0},
    {"bias_correction": "none"}, {"bias_correction": "eps_hat"}, {"eps_root": 1e-15}, {"convention": "paper"},
    {"lr": 0.0}, {"betas": (0.0, 0.0)}, {"eps": 1e-3, "betas": (0.5, 0.9)},
)


def _entry(name: str, hyper_cls: type, summary: str, cases: tuple) -> Algorithm:
    return Algorithm(
        name=name, hyper_cls=hyper_cls, init_fn=init, update_fn=update,
        state_names=("m", "v", "v_max"), first_moment=("m",), second_moment=("v", "v_max"),
        summary=summary, doc=__doc__, family="adabound", cases=cases, errors=_ERRORS,
        references=(Reference(PTO, "pytorch_optimizer.AdaBound", _pto_kwargs,
                              {"m": "exp_avg", "v": "exp_avg_sq", "v_max": "max_exp_avg_sq"}, _pto_applies),),
    )


ADABOUND = register(_entry("adabound", AdaBoundHyper, "AdaBound: Adam with dynamic step-size bounds (Luo et al. 2019)",
                           (*_CASES, {"amsbound": True})))
AMSBOUND = register(_entry("amsbound", AMSBoundHyper, "AMSBound: AdaBound with the running max of v (Luo et al. 2019)",
                           ({}, {"weight_decay": 0.1}, {"bias_correction": "none"}, {"convention": "paper"},
                            {"convention": PTO, "weight_decay": 0.1, "fixed_decay": True})))
