r"""AdaBelief: Adam with the EMA of the squared prediction error (Zhuang et al. 2020, arXiv 2010.07468, Alg. 2).

.. math::

    m_t = β_1 m_{t-1} + (1-β_1) g_t                                             \quad (1)\\
    s_t = β_2 s_{t-1} + (1-β_2)(g_t - m_t)^2 + ε_s                              \quad (2)\\
    θ_t = θ_{t-1} - α\,\hat m_t/(\sqrt{s_t/(1-β_2^t)} + ε),\qquad \hat m_t = m_t/(1-β_1^t) \quad (3)

ε_s (``eps_root``) is added to the *state* every step, so it accumulates (s_t ≥ ε_s/(1-β_2)
eventually): the paper's Alg. 2, the official code and pto use ε_s = ε (``eps_root=None``), optax
0.2.8 its ``eps_root`` (1e-16).  v0 fills ``s`` (and the AMSGrad max); m0 fills ``m``.  Standard
bias correction is kept from t = 1 with a prefilled s (ALGORITHMS §1.7).  ``bias_correction``:
``"none"`` drops ``1-β_2^t``; ``"eps_hat"`` is ``α\sqrt{1-β_2^t}/(1-β_1^t)·m_t/(\sqrt{s_t}+ε)``.

``convention`` (ALGORITHMS §4.12):

* ``"torch"`` (default) — the older official adabelief-pytorch that the paper's repo copies
  (``*/optimizers/AdaBelief.py``): eps 1e-8, coupled decay, ``m·β1 + (1−β1)g``.  AMSGrad:
  ``v_max ← max(v_max, s_t) + ε`` — ε goes into the *max* (in place), s_t gets none.  ``rectify``:
  the RAdam term (radam.py) when ρ_t > 4 with ``\sqrt{s_t}/\sqrt{1-β_2^t} + ε``; otherwise
  ``θ ← θ − α m_t`` (no bias correction).
* ``"pytorch_optimizer"`` — pto 4.1.0 ``AdaBelief``: eps 1e-16, decoupled decay, ``lerp`` for m;
  AMSGrad takes the max of s_t (ε already inside); ``rectify`` when ρ_t ≥ 5 in the ε-hat form
  ``α r_t\sqrt{1-β_2^t}/(1-β_1^t)·m_t/(\sqrt{s_t}+ε)``, otherwise ``θ ← θ − α\hat m_t``
  (``degenerated_to_sgd=True``; pto's ``False`` — no step — is not reproduced).
* ``"optax"`` — ``optax.adabelief``: eps 1e-16, ``eps_root`` 1e-16 stored in ν, ``\hat m/(\sqrt{\hat ν}+ε)``;
  optax has neither AMSGrad nor rectification.
* ``"paper"`` — Alg. 2 in the order of Eq. (3), eps 1e-8 (optax's note on the paper defaults);
  no AMSGrad or rectification.

Weight decay: L2 into g, or decoupled ``θ(1 − αλ)`` (``θ(1 − λ)`` with ``fixed_decay``) under every
convention (optax.adabelief has none); ``maximize`` (pto's) negates g first.

>>> import numpy as np
>>> from v0ref import OPTIMIZERS
>>> alg = OPTIMIZERS["adabelief"]
>>> hp = alg.hyper(eps=1e-8)
>>> p, state = alg.update(np.zeros(1), np.ones(1), alg.init(np.zeros(1), hp), hp)
>>> round(float(state.s[0]), 15)    # (1 − β2)(g − m_1)² + ε = 1e-3·0.81 + 1e-8
0.00081001
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

from array_api_compat import array_namespace

from . import _math as M
from ._core import AdaptiveHyper, Algorithm, ErrorCase, Reference, check_nonneg, check_range, moment_array, register
from ._official import CONVENTIONS, PTO, adam_step, check_family_flags, decay, first_moment
from .radam import rho

Array = Any


# ------------------------------------------------------------------------------- adabelief

@dataclass(frozen=True, kw_only=True)
class AdaBeliefHyper(AdaptiveHyper):
    eps: float | None = None                    # 1e-8 (torch, paper) / 1e-16 (pto, optax)
    eps_root: float | None = None               # ε_s added to s each step; None: eps (optax: 1e-16)
    decoupled_weight_decay: bool | None = None  # False (torch, optax, paper) / True (pto)
    fixed_decay: bool = False
    amsgrad: bool = False
    rectify: bool = False
    threshold: float | None = None              # ρ_t threshold of rectify: > 4 (torch), >= 5 (pto)
    bias_correction: str = "standard"
    _conventions: ClassVar[tuple[str, ...]] = CONVENTIONS
    _convention_defaults = {
        "eps": {"torch": 1e-8, PTO: 1e-16, "optax": 1e-16, "paper": 1e-8},
        "decoupled_weight_decay": {"torch": False, PTO: True, "optax": False, "paper": False},
        "threshold": {"torch": 4.0, PTO: 5.0, "optax": 5.0, "paper": 4.0},
    }

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.eps_root is None:
            object.__setattr__(self, "eps_root", 1e-16 if self.convention == "optax" else self.eps)
        check_nonneg("eps_root", self.eps_root)
        check_family_flags(self)
        check_range("threshold", self.threshold, 4.0, float("inf"))
        for flag in ("amsgrad", "rectify"):
            if getattr(self, flag) and self.convention in ("optax", "paper"):
                source = "optax.adabelief" if self.convention == "optax" else "the paper's Alg. 2"
                raise ValueError(f"{flag}=True is not part of {source}; use convention='torch' or "
                                 f"'{PTO}' (got convention={self.convention!r})")


class AdaBeliefState(NamedTuple):
    step: Any
    m: Array             # exp_avg
    s: Array             # exp_avg_var: EMA of (g − m)² plus the accumulated ε_s
    v_max: Array | None  # AMSGrad's running max of s (max_exp_avg_var), else None


def init(param: Array, hp: AdaBeliefHyper, *, v0: Any = None, m0: Any = None) -> AdaBeliefState:
    s = moment_array(param, v0, "v0")
    return AdaBeliefState(0, moment_array(param, m0, "m0"), s, s if hp.amsgrad else None)


def update(param: Array, grad: Array, state: AdaBeliefState, hp: AdaBeliefHyper) -> tuple[Array, AdaBeliefState]:
    xp = array_namespace(param, grad)
    t = state.step + 1
    b1, b2 = hp.betas
    conv = hp.convention
    param, g = decay(param, grad, hp)
    m = first_moment(state.m, g, b1, conv)                                        # (1)
    s = M.ema_sq(state.s, g - m, b2, "optax" if conv in ("optax", "paper") else "torch")
    v_max = state.v_max
    if hp.amsgrad and conv == "torch":       # official copy: max_exp_avg_var.add_(eps) after the max
        v_max = d = xp.maximum(v_max, s) + hp.eps_root
    else:
        s = d = s + hp.eps_root                                                   # (2)
        if hp.amsgrad:
            v_max = d = xp.maximum(v_max, s)
    new_state = AdaBeliefState(t, m, s, v_max)
    if not hp.rectify:
        return adam_step(param, m, d, t, hp), new_state                          # (3)

    c1 = M.bias_correction(b1, t)
    c2 = 1.0 if hp.bias_correction == "none" else M.bias_correction(b2, t)
    rho_inf, rho_t = 2.0 / (1.0 - b2) - 1.0, rho(t, b2)
    # ρ_t at or below the threshold takes the SGD-like branch: a Python branch on the eager path,
    # xp.where under a traced step count (_math.branch)
    if conv == PTO:                          # get_rectify_step_size: ε-hat form, ρ_t >= threshold
        rectify = rho_t >= hp.threshold
        r = M.rectifier(lambda rho_: (c2 * (rho_ - 4) / (rho_inf - 4) * (rho_ - 2) / rho_ * rho_inf
                                      / (rho_inf - 2)) ** 0.5, rho_t, rectify, xp=xp)
        return M.branch(rectify, lambda: param + (-(hp.lr * r / c1)) * m / (xp.sqrt(d) + hp.eps),
                        lambda: param + (-(hp.lr * 1.0 / c1)) * m, xp=xp), new_state
    rectify = rho_t > hp.threshold           # official copy: SGD step on the uncorrected m otherwise
    r = M.rectifier(lambda rho_: ((rho_ - 4.0) * (rho_ - 2.0) * rho_inf / (rho_inf - 4.0) / (rho_inf - 2.0)
                                  / rho_) ** 0.5, rho_t, rectify, xp=xp)

    def rectified() -> Array:
        if hp.bias_correction == "eps_hat":
            return param + (-(r * hp.lr * c2 ** 0.5 / c1)) * m / (xp.sqrt(d) + hp.eps)
        return param + (-(r * hp.lr / c1)) * m / (xp.sqrt(d) / c2 ** 0.5 + hp.eps)

    return M.branch(rectify, rectified, lambda: param + (-hp.lr) * m, xp=xp), new_state


def _pto_kwargs(hp: AdaBeliefHyper) -> dict:
    return dict(lr=hp.lr, betas=hp.betas, weight_decay=hp.weight_decay, weight_decouple=hp.decoupled_weight_decay,
                fixed_decay=hp.fixed_decay, rectify=hp.rectify, n_sma_threshold=hp.threshold,
                degenerated_to_sgd=True, ams_bound=hp.amsgrad, eps=hp.eps, maximize=hp.maximize)


register(Algorithm(
    name="adabelief", hyper_cls=AdaBeliefHyper, init_fn=init, update_fn=update,
    state_names=("m", "s", "v_max"), first_moment=("m",), second_moment=("s", "v_max"),
    summary="AdaBelief: Adam with the EMA of (g − m)² and ε accumulated in it (Zhuang et al. 2020)",
    doc=__doc__, family="adabelief",
    cases=({}, {"convention": "optax"}, {"convention": "paper"}, {"weight_decay": 5e-4},
           {"weight_decay": 0.1, "decoupled_weight_decay": True, "fixed_decay": True}, {"amsgrad": True},
           {"rectify": True}, {"rectify": True, "amsgrad": True, "weight_decay": 0.1},
           {"rectify": True, "bias_correction": "eps_hat"}, {"rectify": True, "threshold": 6.0},
           {"bias_correction": "none"}, {"bias_correction": "eps_hat"}, {"maximize": True},
           {"eps_root": 0.0}, {"convention": "optax", "bias_correction": "eps_hat"},
           {"betas": (0.5, 0.9)}, {"lr": 0.0}),
    errors=(ErrorCase({"eps_root": -1e-16}, ValueError, r"eps_root must be a finite number >= 0; got -1e-16"),
            ErrorCase({"threshold": 3.5}, ValueError, r"threshold must be in \[4, inf\); got 3\.5"),
            ErrorCase({"convention": "optax", "amsgrad": True}, ValueError,
                      r"amsgrad=True is not part of optax\.adabelief"),
            ErrorCase({"convention": "paper", "rectify": True}, ValueError,
                      r"rectify=True is not part of the paper's Alg\. 2"),
            ErrorCase({"decoupled_weight_decay": 1}, TypeError, r"decoupled_weight_decay must be True or False"),
            ErrorCase({"rectify": "yes"}, TypeError, r"rectify must be True or False"),
            ErrorCase({"bias_correction": "fairseq"}, ValueError, r"bias_correction must be one of"),
            ErrorCase({"convention": "keras"}, ValueError,
                      r"convention must be one of 'torch', 'optax', 'pytorch_optimizer', 'paper'")),
    references=(
        Reference(PTO, "pytorch_optimizer.AdaBelief", _pto_kwargs,
                  {"m": "exp_avg", "s": "exp_avg_var", "v_max": "max_exp_avg_var"},
                  lambda hp: (hp.convention == PTO and hp.bias_correction == "standard"
                              and hp.eps_root == hp.eps)),
        Reference("optax", "optax.adabelief",
                  lambda hp: dict(learning_rate=hp.lr, b1=hp.betas[0], b2=hp.betas[1], eps=hp.eps,
                                  eps_root=hp.eps_root),
                  {"m": "mu", "s": "nu"},
                  lambda hp: (hp.convention == "optax" and hp.bias_correction == "standard"
                              and hp.weight_decay == 0.0 and not hp.maximize)),
    ),
))
