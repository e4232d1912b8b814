"""Shared element-wise math of the oracle: moving averages, bias correction, weight decay.

Each helper takes the ``convention`` so the oracle repeats the *order of operations* of the
framework it reproduces (torch 2.13 or optax 0.2.8); the math is the same, the rounding then
matches too, which keeps float32 conformance within an ulp or two.  Scalars stay Python floats
(or 0-d arrays under a tracer) so the parameter's dtype is never promoted.
"""

from __future__ import annotations

from typing import Any

Array = Any


def ema(avg: Array, new: Array, beta: float, convention: str) -> Array:
    """First-moment EMA ``beta·avg + (1 − beta)·new``.

    torch uses ``avg.lerp_(new, 1 − beta)``, whose kernel computes ``avg + w·(new − avg)`` for
    ``w < 0.5`` and ``new − (new − avg)·(1 − w)`` otherwise; optax uses
    ``(1 − beta)·new + beta·avg`` (``optax.tree_utils.tree_update_moment``).
    """
    if convention == "torch":
        w = 1.0 - beta
        return avg + w * (new - avg) if w < 0.5 else new - (new - avg) * beta
    return (1.0 - beta) * new + beta * avg


def ema_sq(avg: Array, grad: Array, beta: float, convention: str) -> Array:
    """Second-moment EMA ``beta·avg + (1 − beta)·grad²``.

    torch: ``avg.mul_(beta).addcmul_(grad, grad, value=1 − beta)``; optax:
    ``(1 − beta)·grad² + beta·avg``.
    """
    if convention == "torch":
        return avg * beta + ((1.0 - beta) * grad) * grad
    return (1.0 - beta) * (grad * grad) + beta * avg


def adam_moments(m: Array, v: Array, grad: Array, betas: tuple[float, float], convention: str) -> tuple[Array, Array]:
    """Adam's two EMAs (Kingma & Ba 2015, Alg. 1 lines 7-8): ``(EMA(m, g, β1), EMA(v, g², β2))``."""
    return ema(m, grad, betas[0], convention), ema_sq(v, grad, betas[1], convention)


def bias_correction(beta: float, t: Any) -> Any:
    """``1 − beta^t`` (Kingma & Ba 2015, Alg. 1); ``t`` is an int or a 0-d array."""
    return 1.0 - beta ** t


def coupled_decay(grad: Array, param: Array, weight_decay: float) -> Array:
    """L2 regularisation folded into the gradient: ``g + wd·θ`` (torch ``grad.add(param, alpha=wd)``)."""
    return grad + weight_decay * param if weight_decay != 0.0 else grad


def decoupled_decay(param: Array, lr: float, weight_decay: float, convention: str) -> Array:
    """Decoupled weight decay applied to the parameter before the step (Loshchilov & Hutter 2019).

    torch: ``θ ← θ·(1 − lr·wd)``.  paper: ``θ ← θ − wd·θ`` — Alg. 2 multiplies λ by the schedule
    multiplier η_t (1 here), not by α.  optax adds ``wd·θ`` to the update before the
    learning-rate scaling, which the callers do themselves (see ``adam.update``).
    """
    if weight_decay == 0.0:
        return param
    if convention == "paper":
        return param - weight_decay * param
    return param * (1.0 - lr * weight_decay)


def sign_flip(grad: Array, maximize: bool) -> Array:
    """``−g`` for maximization (torch's ``maximize=True``)."""
    return -grad if maximize else grad


def prepare(param: Array, grad: Array, hp: Any, *, decay_convention: str | None = "torch") -> tuple[Array, Array]:
    """The common start of a step: ``maximize`` and weight decay.  Returns ``(param, g)``.

    L2 (coupled) decay goes into ``g``; decoupled decay (``hp.decoupled_weight_decay``) is applied
    to ``param`` in the form of ``decay_convention``, or left to the caller when that is ``None``
    (optax adds it to the update instead).
    """
    g = sign_flip(grad, hp.maximize)
    if not getattr(hp, "decoupled_weight_decay", False):
        return param, coupled_decay(g, param, hp.weight_decay)
    if decay_convention is None:
        return param, g
    return decoupled_decay(param, hp.lr, hp.weight_decay, decay_convention), g


def branch(cond: Any, if_true: Any, if_false: Any, *, xp: Any) -> Array:
    """``if_true()`` where ``cond`` holds, else ``if_false()`` — a step-count branch that traces.

    On the eager path the step count is a Python ``int``, ``cond`` a Python ``bool``, and only the
    branch taken is evaluated (numpy results are unchanged).  Under ``jax.jit`` the count is a traced
    integer array: both branches are evaluated and ``xp.where`` selects, so both must stay finite
    (a NaN in the branch not taken would still reach gradients taken through the optimizer).
    """
    if isinstance(cond, bool):
        return if_true() if cond else if_false()
    return xp.where(cond, if_true(), if_false())


def rectifier(r_of_rho: Any, rho_t: Any, rectify: Any, *, xp: Any) -> Any:
    r"""RAdam's rectification term ``r_t = r_of_rho(ρ_t)`` (Liu et al. 2020, Alg. 2, line 10) where
    ``rectify`` holds, 1 elsewhere.  With a traced step count ``r_of_rho`` is evaluated at every
    step and may be NaN where ``rectify`` is false (ρ_t < 4); ``xp.where`` discards it, and since
    ρ_t depends on the step count alone, no gradient flows through it."""
    if isinstance(rectify, bool):
        return r_of_rho(rho_t) if rectify else 1.0
    return xp.where(rectify, r_of_rho(rho_t), 1.0)
