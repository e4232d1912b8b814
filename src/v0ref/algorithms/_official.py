"""Helpers shared by the optimizers whose reference is the PyTorch-ecosystem code the paper's
repository copies (AdaBelief, AdaBound, Yogi): their convention vocabulary (``"torch"`` = the
official implementations, ``"pytorch_optimizer"`` = pto 4.1.0, ``"optax"``, ``"paper"``), the
first-moment EMA and weight decay in each source's order, and the debiased Adam-type step.
"""

from __future__ import annotations

from typing import Any

from array_api_compat import array_namespace

from . import _math as M
from ._core import BIAS_CORRECTIONS, check_bool, check_choice

Array = Any
PTO = "pytorch_optimizer"
CONVENTIONS = ("torch", "optax", PTO, "paper")


def first_moment(m: Array, g: Array, beta1: float, convention: str) -> Array:
    """EMA of g in each source's order: the official codes ``m.mul_(β1).add_(1−β1, g)``; pto
    ``lerp`` (torch's kernel, ``_math.ema``); optax and the papers ``(1−β1)g + β1 m``."""
    if convention == "torch":
        return m * beta1 + (1.0 - beta1) * g
    return M.ema(m, g, beta1, "torch" if convention == PTO else "optax")


def decay(param: Array, grad: Array, hp: Any) -> tuple[Array, Array]:
    """``maximize``, then L2 ``g + λθ`` or decoupled ``θ(1 − αλ)`` / ``θ(1 − λ)`` (``fixed_decay``),
    as the official AdaBelief and pto's ``apply_weight_decay`` do.  Returns ``(param, g)``."""
    g = M.sign_flip(grad, hp.maximize)
    if not hp.decoupled_weight_decay:
        return param, M.coupled_decay(g, param, hp.weight_decay)
    if hp.weight_decay == 0.0:
        return param, g
    return param * (1.0 - hp.weight_decay * (1.0 if hp.fixed_decay else hp.lr)), g


def adam_step(param: Array, m: Array, d: Array, t: Any, hp: Any, *, eps_root: float = 0.0) -> Array:
    """``θ − α\\hat m/(\\sqrt{d/(1-β_2^t) + ε_{root}} + ε)`` in the order of ``hp.convention`` and
    ``hp.bias_correction`` (torch and pto: ``(−α/c1)·m/(\\sqrt{d}/\\sqrt{c2} + ε)``, as adam.py)."""
    xp = array_namespace(param, m)
    c1 = M.bias_correction(hp.betas[0], t)
    c2 = 1.0 if hp.bias_correction == "none" else M.bias_correction(hp.betas[1], t)
    if hp.bias_correction == "eps_hat":
        denom = xp.sqrt(d + eps_root * c2) + hp.eps
        if hp.convention == "optax":
            return param + (-hp.lr) * ((c2 ** 0.5 / c1) * m / denom)
        return param + (-(hp.lr * c2 ** 0.5 / c1)) * m / denom
    if hp.convention == "optax":
        return param + (-hp.lr) * ((m / c1) / (xp.sqrt(d / c2 + eps_root) + hp.eps))
    if hp.convention == "paper":
        return param - hp.lr * (m / c1) / (xp.sqrt(d / c2 + eps_root) + hp.eps)
    denom = xp.sqrt(d) / c2 ** 0.5 + hp.eps if eps_root == 0.0 else xp.sqrt(d / c2 + eps_root) + hp.eps
    return param + (-(hp.lr / c1)) * m / denom


def check_family_flags(hp: Any) -> None:
    """Validation the three families share: the flags typed ``bool | None`` and ``bias_correction``."""
    check_bool("decoupled_weight_decay", hp.decoupled_weight_decay)
    check_choice("bias_correction", hp.bias_correction, BIAS_CORRECTIONS)
