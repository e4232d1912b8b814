r"""Adam, AdamW and AMSGrad with an initial second moment v0 and first moment m0.

Adam (Kingma & Ba 2015, Alg. 1; Abuduweili & Liu 2024, arXiv 2412.02153, Eqs. 1-5):

.. math::

    m_t = β_1 m_{t-1} + (1-β_1) g_t,\qquad v_t = β_2 v_{t-1} + (1-β_2) g_t^2 \\
    \hat m_t = m_t/(1-β_1^t),\qquad \hat v_t = v_t/(1-β_2^t) \\
    θ_t = θ_{t-1} - α\,\hat m_t/(\sqrt{\hat v_t + ε_{root}} + ε)

The paper's change is the start: ``v_0`` (and optionally ``m_0``) non-zero.  With ``v_0 = 0`` the
first step is sign descent, ``Δθ_1 = −α g_1/(|g_1| + ε)``; with ``v_0 ≠ 0`` and the standard
correction kept from t = 1 (what the paper's code does by prefilling torch's state, ALGORITHMS
§1.7) it is ``Δθ_1 = −α g_1/(\sqrt{β_2/(1−β_2)·v_0 + g_1^2} + ε)`` (the paper's Eq. 12).

``bias_correction`` selects how v is debiased (ALGORITHMS §1.3):

* ``"standard"`` — ``\hat v_t = v_t/(1−β_2^t)`` from t = 1 whatever v0 is (paper code, torch);
* ``"none"`` — ``\hat v_t = v_t`` (``\hat m_t`` is still corrected);
* ``"eps_hat"`` — fairseq / Kingma & Ba §2 efficient form:
  ``θ_t = θ_{t−1} − α\sqrt{1−β_2^t}/(1−β_1^t)·m_t/(\sqrt{v_t} + ε)``.

``convention`` reproduces torch 2.13 (default), optax 0.2.8 or the papers where they differ:

* AMSGrad: torch keeps ``max(v_max, v_t)`` of the *uncorrected* v; optax of the corrected
  ``\hat v_t``; ``"paper"`` is Reddi et al. 2018 Alg. 2 (no bias correction at all).
* AdamW: torch ``θ ← θ(1 − α λ)`` then the Adam step; optax adds ``λθ`` to the update before
  scaling by α (same math, other rounding); ``"paper"`` (Loshchilov & Hutter 2019 Alg. 2 with
  η_t = 1) ``θ ← θ − λθ − α·adam``, λ not multiplied by α.
* Defaults: AdamW's weight decay is 1e-2 in torch and 1e-4 in optax.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from array_api_compat import array_namespace

from . import _math as M
from ._core import Algorithm, DebiasedHyper, ErrorCase, Reference, moment_array, register

Array = Any


@dataclass(frozen=True, kw_only=True)
class AdamHyper(DebiasedHyper):
    amsgrad: bool = False
    _convention_defaults = {"weight_decay": {"torch": 1e-2, "optax": 1e-4, "paper": 1e-5}}

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.convention == "paper" and self.amsgrad and self.bias_correction != "standard":
            raise ValueError("convention='paper' with amsgrad=True is Reddi et al.'s AMSGrad, which has "
                             f"no bias correction to choose; got bias_correction={self.bias_correction!r}")


@dataclass(frozen=True, kw_only=True)
class AdamWHyper(AdamHyper):
    weight_decay: float | None = None  # 1e-2 (torch) / 1e-4 (optax) / 1e-5 (paper: λ = 1e-2·α)
    decoupled_weight_decay: bool = True


@dataclass(frozen=True, kw_only=True)
class AMSGradHyper(AdamHyper):
    amsgrad: bool = True


class AdamState(NamedTuple):
    step: Any          # int (or 0-d integer array under a tracer): steps taken
    m: Array           # first moment (exp_avg)
    v: Array           # second moment (exp_avg_sq)
    v_max: Array | None  # running max for AMSGrad (max_exp_avg_sq), else None


def init(param: Array, hp: AdamHyper, *, v0: Any = None, m0: Any = None) -> AdamState:
    """``m = m0`` (default 0), ``v = v0`` (default 0); AMSGrad's max starts at ``v0`` too."""
    v = moment_array(param, v0, "v0")
    return AdamState(0, moment_array(param, m0, "m0"), v, v if hp.amsgrad else None)


def update(param: Array, grad: Array, state: AdamState, hp: AdamHyper) -> tuple[Array, AdamState]:
    xp = array_namespace(param, grad)
    t = state.step + 1
    b1, b2 = hp.betas
    conv = hp.convention
    param, g = M.prepare(param, grad, hp, decay_convention=None if conv == "optax" else conv)

    m, v = M.adam_moments(state.m, state.v, g, hp.betas, conv)
    c1 = M.bias_correction(b1, t)
    c2 = 1.0 if hp.bias_correction == "none" else M.bias_correction(b2, t)
    v_max = state.v_max

    if conv == "paper" and hp.amsgrad:                   # Reddi et al. 2018, Alg. 2: no correction
        v_max = xp.maximum(v_max, v)
        return param - hp.lr * m / (xp.sqrt(v_max) + hp.eps), AdamState(t, m, v, v_max)

    if conv == "optax" and hp.bias_correction != "eps_hat":
        v_hat = v / c2
        if hp.amsgrad:                                   # optax: max of the corrected moment
            v_max = v_hat = xp.maximum(v_max, v_hat)
        u = (m / c1) / (xp.sqrt(v_hat + hp.eps_root) + hp.eps)
    else:
        v_use = v
        if hp.amsgrad:                                   # torch: max of the uncorrected moment
            v_max = v_use = xp.maximum(v_max, v)
        if hp.bias_correction == "eps_hat":              # fairseq: eps added to sqrt(v), not sqrt(v̂)
            step_size = hp.lr * c2 ** 0.5 / c1
            denom = xp.sqrt(v_use + hp.eps_root * c2) + hp.eps
            if conv != "optax":
                return param + (-step_size) * m / denom, AdamState(t, m, v, v_max)
            u = (c2 ** 0.5 / c1) * m / denom
        elif conv == "paper":                            # Kingma & Ba 2015, Alg. 1
            denom = xp.sqrt(v_use / c2 + hp.eps_root) + hp.eps
            return param - hp.lr * (m / c1) / denom, AdamState(t, m, v, v_max)
        else:                                            # torch: sqrt(v)/sqrt(c2) + eps
            if hp.eps_root == 0.0:
                denom = xp.sqrt(v_use) / c2 ** 0.5 + hp.eps
            else:
                denom = xp.sqrt(v_use / c2 + hp.eps_root) + hp.eps
            return param + (-(hp.lr / c1)) * m / denom, AdamState(t, m, v, v_max)

    if hp.decoupled_weight_decay:                        # optax.adamw: add_decayed_weights, then -lr
        u = u + hp.weight_decay * param
    return param + (-hp.lr) * u, AdamState(t, m, v, v_max)


def _torch_kwargs(hp: AdamHyper) -> dict:
    return dict(lr=hp.lr, betas=hp.betas, eps=hp.eps, weight_decay=hp.weight_decay, amsgrad=hp.amsgrad,
                maximize=hp.maximize, decoupled_weight_decay=hp.decoupled_weight_decay)


def _torch_adamw_kwargs(hp: AdamHyper) -> dict:
    kw = _torch_kwargs(hp)
    del kw["decoupled_weight_decay"]
    return kw


def _torch_applies(hp: AdamHyper) -> bool:
    return hp.convention == "torch" and hp.bias_correction == "standard" and hp.eps_root == 0.0


def _optax_kwargs(hp: AdamHyper) -> dict:
    kw = dict(learning_rate=hp.lr, b1=hp.betas[0], b2=hp.betas[1], eps=hp.eps, eps_root=hp.eps_root)
    if hp.decoupled_weight_decay and not hp.amsgrad:
        kw["weight_decay"] = hp.weight_decay
    return kw


def _optax_applies(target: str):
    def applies(hp: AdamHyper) -> bool:
        if hp.convention != "optax" or hp.bias_correction != "standard" or hp.maximize:
            return False
        decay = hp.weight_decay != 0.0
        if target == "amsgrad":      # optax.amsgrad has no weight decay
            return hp.amsgrad and not decay
        if hp.amsgrad:
            return False
        return (target == "adamw") == hp.decoupled_weight_decay and (decay <= hp.decoupled_weight_decay)
    return applies


_OPTAX_STATE = {"m": "mu", "v": "nu", "v_max": "nu_max"}
_OPTAX_REFS = tuple(Reference("optax", f"optax.{t}", _optax_kwargs, _OPTAX_STATE, _optax_applies(t))
                    for t in ("adam", "adamw", "amsgrad"))
_TORCH_STATE = {"m": "exp_avg", "v": "exp_avg_sq", "v_max": "max_exp_avg_sq"}
_ERRORS = (
    ErrorCase({"lr": -1e-3}, ValueError, r"lr must be a finite number >= 0; got -0\.001"),
    ErrorCase({"betas": (0.9, 1.0)}, ValueError, r"betas\[1\] must be in \[0, 1\); got 1\.0"),
    ErrorCase({"betas": (-0.1, 0.999)}, ValueError, r"betas\[0\] must be in \[0, 1\)"),
    ErrorCase({"betas": 0.9}, ValueError, r"betas must be a pair"),
    ErrorCase({"eps": -1.0}, ValueError, r"eps must be a finite number >= 0"),
    ErrorCase({"weight_decay": float("nan")}, ValueError, r"weight_decay must not be NaN"),
    ErrorCase({"bias_correction": "fairseq"}, ValueError, r"bias_correction must be one of 'standard', 'none', 'eps_hat'"),
    ErrorCase({"convention": "keras"}, ValueError, r"convention must be one of 'torch', 'optax', 'paper'"),
    ErrorCase({"amsgrad": 1}, TypeError, r"amsgrad must be True or False"),
    ErrorCase({"lr": "0.1"}, TypeError, r"lr must be a real number"),
    ErrorCase({"betas2": 0.99}, TypeError, r"unknown hyperparameter\(s\) betas2"),
)
_CASES = (
    {}, {"betas": (0.5, 0.98), "eps": 1e-6}, {"weight_decay": 0.1}, {"maximize": True},
    {"bias_correction": "none"}, {"bias_correction": "eps_hat"}, {"amsgrad": True},
    {"amsgrad": True, "bias_correction": "eps_hat"}, {"eps_root": 1e-8},
    {"convention": "optax"}, {"convention": "optax", "amsgrad": True}, {"convention": "paper"},
    {"convention": "paper", "amsgrad": True}, {"lr": 0.0}, {"betas": (0.0, 0.0)},
)


def _entry(name: str, hyper_cls: type, summary: str, cases: tuple) -> Algorithm:
    torch_ref = Reference("torch", "torch.optim.Adam", _torch_kwargs, _TORCH_STATE, _torch_applies)
    if name == "adamw":
        torch_ref = Reference("torch", "torch.optim.AdamW", _torch_adamw_kwargs, _TORCH_STATE,
                              lambda hp: _torch_applies(hp) and hp.decoupled_weight_decay)
    return Algorithm(
        name=name, hyper_cls=hyper_cls, init_fn=init, update_fn=update,
        state_names=("m", "v", "v_max"), first_moment=("m",), second_moment=("v", "v_max"),
        summary=summary, doc=__doc__, family="adam", cases=cases, errors=_ERRORS,
        references=(torch_ref, *_OPTAX_REFS),
    )


ADAM = register(_entry("adam", AdamHyper, "Adam (Kingma & Ba 2015) with v0/m0 initialization",
                       _CASES))
ADAMW = register(_entry("adamw", AdamWHyper, "AdamW: decoupled weight decay (Loshchilov & Hutter 2019)",
                        ({}, {"weight_decay": 0.3}, {"convention": "optax"},
                                        {"convention": "paper"}, {"amsgrad": True},
                                        {"convention": "optax", "bias_correction": "eps_hat"})))
AMSGRAD = register(_entry("amsgrad", AMSGradHyper, "AMSGrad: Adam with a running max of v (Reddi et al. 2018)",
                          ({}, {"convention": "optax"}, {"convention": "paper"},
                                            {"bias_correction": "eps_hat"}, {"decoupled_weight_decay": True,
                                                                             "weight_decay": 0.01})))
