r"""Sign descent: signSGD and Signum (Bernstein et al. 2018, arXiv 1802.04434, Alg. 1 and 3).

.. math::

    \text{signSGD:}\quad θ_t = θ_{t-1} - α\,\mathrm{sign}(g_t)                               \quad (1) \\
    \text{Signum:}\quad m_t = β m_{t-1} + (1-β) g_t,\qquad θ_t = θ_{t-1} - α\,\mathrm{sign}(m_t) \quad (2)

with ``sign(0) = 0`` (``jnp.sign``, ``torch.sign``) and ``g_t`` after ``maximize`` and weight
decay.  Signum's EMA is not debiased (only its sign is used; optax 0.2.8 ``signum`` says so), and
m0 fills ``m`` (default 0, as in optax, pytorch_optimizer and the official code: the first step
is ``sign(β m_0 + (1−β) g_1)``, which is ``sign(g_1)`` for ``m_0 = 0``).  signSGD keeps no state,
so neither v0 nor m0 applies.  Adam's first step from ``v_0 = m_0 = 0`` with ``ε = 0`` is (1)
(ALGORITHMS §1.2, §4.16); with ``β_1 = β_2 = 0`` every Adam step is, so
``torch.optim.Adam(betas=(0, 0), eps=0)`` computes (1) at nonzero gradients (tests/test_sgd.py;
not a registry reference, since a prefilled state would have to hold Adam's moments).

Defaults: lr 1e-3 and β 0.9 (pytorch_optimizer 4.1.0 ``SignSGD``; optax ``signum`` and the
paper's β = 0.9); weight decay coupled (``g + λθ``, as in the official Signum code and
torch.optim.SGD), decoupled ``θ(1 − αλ)`` with ``decoupled_weight_decay=True`` (pto's default).

Conventions differ only in how the EMA (2) is rounded: ``"torch"`` = pto's ``buf.lerp_(g, 1−β)``,
``"optax"`` = ``(1−β) g + β m``, ``"paper"`` = the official code's ``buf.mul_(β).add_(1−β, g)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from array_api_compat import array_namespace

from . import _math as M
from ._core import (
    Algorithm,
    ErrorCase,
    Hyper,
    Reference,
    check_nonneg,
    check_range,
    moment_array,
    register,
)

__all__ = ["SignSGDHyper", "SignSGDState", "SignumHyper", "SignumState", "signsgd_update", "signum_update"]

Array = Any


@dataclass(frozen=True, kw_only=True)
class SignSGDHyper(Hyper):
    lr: float = 1e-3
    weight_decay: float = 0.0
    decoupled_weight_decay: bool = False
    maximize: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        check_nonneg("lr", self.lr)
        check_nonneg("weight_decay", self.weight_decay)


@dataclass(frozen=True, kw_only=True)
class SignumHyper(SignSGDHyper):
    beta: float = 0.9

    def __post_init__(self) -> None:
        super().__post_init__()
        check_range("beta", self.beta, 0.0, 1.0)


class SignSGDState(NamedTuple):
    step: Any


class SignumState(NamedTuple):
    step: Any
    m: Array   # EMA of the gradient (pto / official code: momentum_buffer; optax: ema)


def signsgd_init(param: Array, hp: SignSGDHyper, *, v0: Any = None, m0: Any = None) -> SignSGDState:
    return SignSGDState(0)


def signsgd_update(param: Array, grad: Array, state: SignSGDState, hp: SignSGDHyper) -> tuple[Array, SignSGDState]:
    xp = array_namespace(param, grad)
    param, g = M.prepare(param, grad, hp)
    return param + (-hp.lr) * xp.sign(g), SignSGDState(state.step + 1)                      # (1)


def signum_init(param: Array, hp: SignumHyper, *, v0: Any = None, m0: Any = None) -> SignumState:
    return SignumState(0, moment_array(param, m0, "m0"))


def signum_update(param: Array, grad: Array, state: SignumState, hp: SignumHyper) -> tuple[Array, SignumState]:
    xp = array_namespace(param, grad)
    param, g = M.prepare(param, grad, hp)
    if hp.convention == "paper":
        m = state.m * hp.beta + (1.0 - hp.beta) * g
    else:
        m = M.ema(state.m, g, hp.beta, hp.convention)
    return param + (-hp.lr) * xp.sign(m), SignumState(state.step + 1, m)                    # (2)


def _pto(hp: SignSGDHyper) -> dict:
    return dict(lr=hp.lr, momentum=getattr(hp, "beta", 0.0), weight_decay=hp.weight_decay,
                weight_decouple=hp.decoupled_weight_decay, maximize=hp.maximize)


def _convention(name: str, extra=lambda hp: True):
    return lambda hp: hp.convention == name and extra(hp)


def _plain(hp: SignSGDHyper) -> bool:
    return hp.weight_decay == 0.0 and not hp.maximize


_ERRORS = (
    ErrorCase({"lr": -1.0}, ValueError, r"lr must be a finite number >= 0; got -1\.0"),
    ErrorCase({"weight_decay": -0.1}, ValueError, r"weight_decay must be a finite number >= 0"),
    ErrorCase({"maximize": "yes"}, TypeError, r"maximize must be True or False"),
    ErrorCase({"convention": "pto"}, ValueError, r"convention must be one of 'torch', 'optax', 'paper'"),
)
_CASES = ({}, {"lr": 0.1, "weight_decay": 0.01}, {"weight_decay": 0.1, "decoupled_weight_decay": True},
          {"maximize": True}, {"lr": 0.0}, {"convention": "optax"}, {"convention": "paper"})

register(Algorithm(
    name="signsgd", hyper_cls=SignSGDHyper, init_fn=signsgd_init, update_fn=signsgd_update,
    state_names=(), summary="signSGD: θ ← θ − lr·sign(g) (Bernstein et al. 2018)",
    doc=__doc__, family="sign", cases=_CASES, errors=_ERRORS,
    references=(
        Reference("pytorch_optimizer", "pytorch_optimizer.SignSGD", _pto, {}, _convention("torch")),
        Reference("optax", "optax.sign_sgd", lambda hp: dict(learning_rate=hp.lr), {}, _convention("optax", _plain)),
    ),
))

register(Algorithm(
    name="signum", hyper_cls=SignumHyper, init_fn=signum_init, update_fn=signum_update,
    state_names=("m",), first_moment=("m",), summary="Signum: sign of a gradient EMA (Bernstein et al. 2018)",
    doc=__doc__, family="sign",
    cases=(*_CASES, {"beta": 0.0}, {"beta": 0.5, "weight_decay": 0.1, "maximize": True}, {"beta": 0.99}),
    errors=(*_ERRORS, ErrorCase({"beta": 1.0}, ValueError, r"beta must be in \[0, 1\); got 1\.0")),
    references=(
        Reference("pytorch_optimizer", "pytorch_optimizer.SignSGD", _pto, {"m": "momentum_buffer"},
                  _convention("torch", lambda hp: hp.beta > 0.0)),
        Reference("optax", "optax.signum", lambda hp: dict(learning_rate=hp.lr, beta=hp.beta), {"m": "ema"},
                  _convention("optax", _plain)),
    ),
))
