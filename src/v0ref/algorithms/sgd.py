r"""SGD with classical or Nesterov momentum, in torch's buffer form or Sutskever's velocity form.

Buffer form (``form="buffer"``, torch 2.13 ``torch.optim.SGD``; optax 0.2.8 ``sgd`` = ``trace``
then ``scale_by_learning_rate``; ALGORITHMS §4.1-4.3), with ``g_t`` after ``maximize`` and the
coupled decay ``g_t + λθ_{t-1}``:

.. math::

    b_1 = g_1 \ \text{(empty buffer: a clone, no dampening)},\qquad
    b_t = μ_t b_{t-1} + (1-τ) g_t \ \text{otherwise}                                   \quad (1) \\
    θ_t = θ_{t-1} - α\,(g_t + μ_t b_t)\ \text{(nesterov)},\qquad θ_t = θ_{t-1} - α\, b_t   \quad (2)

With ``momentum = 0`` torch keeps no buffer and takes ``θ_t = θ_{t-1} − α g_t`` (no dampening).
m0 fills ``b`` and, as in torch when the paper's code prefills ``state['momentum_buffer']``
(ALGORITHMS §1.8, §4.2), the clone of (1) is then skipped: ``b_1 = μ m_0 + (1−τ) g_1`` — even for
``m_0 = 0``.  The oracle mirrors torch's empty buffer with ``m = None`` until the first step.
optax's ``trace`` starts at zeros, so ``t_1 = g_1`` as well; it has no dampening or decay.

Velocity form (``form="velocity"``, the default of ``convention="paper"``; Sutskever et al. 2013
Eq. 1-2; Goodfellow et al. Alg. 8.2; ALGORITHMS §2.1), m0 fills ``v`` (default 0):

.. math::

    v_t = μ_t v_{t-1} - α g_t,\qquad θ_t = θ_{t-1} + v_t                                \quad (3) \\
    \text{nesterov:}\quad θ_t = θ_{t-1} + μ_{t+1} v_t - α g_t                             \quad (4)

Sutskever's NAG evaluates ``g`` at the look-ahead point ``θ + μv``, which an element-wise update
cannot do; (4) is Bengio et al.'s reformulation (2013; ALGORITHMS §2.5) on the velocity: the
iterates are ``Θ_t = θ_t^{NAG} + μ_{t+1} v_t^{NAG}``, the points where NAG takes its gradients
(so ``param`` and ``m0`` describe ``Θ_0 = θ_0 + μ_1 v_0``).  Using the *next* step's momentum in
(4) keeps this exact under a momentum schedule; for constant μ it is ``Θ + μ v − α g``.  With
``v = −α b`` (constant α, τ = 0, m0 = None) (3)-(4) equal torch's (1)-(2) in exact arithmetic.
Dampening belongs to the buffer form only.

Momentum schedule (``momentum_schedule="sutskever"``, Sutskever et al. 2013 §4; ALGORITHMS §2.2):
``μ_t = min(1 − 2^{−1−\log_2(⌊t/250⌋+1)}, μ_{max}) = min(1 − 1/(2(⌊t/250⌋+1)), μ_{max})`` where
t counts updates from 0, as in the paper's table: the first 250 updates use μ = 0.5, update 251
uses 0.75.  ``momentum`` must then stay 0 and ``momentum_max`` (default 0.999) caps μ.

Conventions: torch and optax compute (1)-(2) with the same operations in the same order, so
``"optax"`` differs from ``"torch"`` in nothing but its name; ``"paper"`` selects form (3)-(4).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from typing import Any, NamedTuple

from array_api_compat import array_namespace

from . import _math as M
from ._core import (
    Algorithm,
    ErrorCase,
    Hyper,
    Reference,
    check_choice,
    check_nonneg,
    check_range,
    moment_array,
    register,
)

__all__ = ["SGDHyper", "SGDState", "init", "sutskever_momentum", "update"]

Array = Any
FORMS = ("buffer", "velocity")
SCHEDULES = (None, "sutskever")


def sutskever_momentum(t: Any, momentum_max: float) -> Any:
    """Sutskever et al. (2013)'s schedule ``min(1 − 1/(2(⌊t/250⌋+1)), μ_max)`` for update ``t = 0, 1, …``.

    ``t`` is a Python int (a float comes back) or an integer array — e.g. a step count traced by
    ``jax.jit`` — in which case the same formula is evaluated in the array's namespace.
    """
    if isinstance(t, numbers.Integral) and not isinstance(t, bool):
        if t < 0:
            raise ValueError(f"t must be an integer >= 0; got {t!r}")
        return min(1.0 - 0.5 / (t // 250 + 1), float(momentum_max))
    if isinstance(t, bool) or not hasattr(t, "dtype"):
        raise ValueError(f"t must be an integer >= 0; got {t!r}")
    xp = array_namespace(t)
    if not xp.isdtype(t.dtype, "integral"):
        raise ValueError(f"t must be an integer >= 0; got an array of dtype {t.dtype}")
    mu = 1.0 - 0.5 / (t // 250 + 1)
    return xp.where(mu < momentum_max, mu, xp.asarray(momentum_max, dtype=mu.dtype))


@dataclass(frozen=True, kw_only=True)
class SGDHyper(Hyper):
    lr: float = 1e-3
    momentum: float = 0.0
    dampening: float = 0.0
    weight_decay: float = 0.0
    nesterov: bool = False
    maximize: bool = False
    form: str | None = None              # "buffer" (torch, optax) / "velocity" (paper)
    momentum_schedule: str | None = None
    momentum_max: float | None = None    # μ_max of the schedule; 0.999 when a schedule is set
    _convention_defaults = {"form": {"torch": "buffer", "optax": "buffer", "paper": "velocity"}}

    def __post_init__(self) -> None:
        super().__post_init__()
        check_nonneg("lr", self.lr)
        check_nonneg("momentum", self.momentum)
        check_range("dampening", self.dampening, 0.0, 1.0, closed_high=True)
        check_nonneg("weight_decay", self.weight_decay)
        check_choice("form", self.form, FORMS)
        check_choice("momentum_schedule", self.momentum_schedule, SCHEDULES)
        if self.momentum_schedule is None:
            if self.momentum_max is not None:
                raise ValueError("momentum_max applies only with momentum_schedule='sutskever'; "
                                 f"got momentum_max={self.momentum_max!r}")
        else:
            if self.momentum != 0.0:
                raise ValueError(f"momentum must be 0 when momentum_schedule={self.momentum_schedule!r} sets μ_t "
                                 f"(cap it with momentum_max); got momentum={self.momentum!r}")
            if self.momentum_max is None:
                object.__setattr__(self, "momentum_max", 0.999)
            check_range("momentum_max", self.momentum_max, 0.0, 1.0, closed_high=True)
        top = self.momentum if self.momentum_schedule is None else self.momentum_max
        if self.nesterov and (top <= 0.0 or self.dampening != 0.0):
            raise ValueError("nesterov=True requires momentum > 0 and dampening = 0; "
                             f"got momentum={top!r}, dampening={self.dampening!r}")
        if self.form == "velocity" and self.dampening != 0.0:
            raise ValueError(f"dampening applies to form='buffer' only; got dampening={self.dampening!r} "
                             "with form='velocity'")

    def momentum_at(self, t: int) -> float:
        """μ for update ``t = 0, 1, …`` (the number of updates already taken)."""
        return self.momentum if self.momentum_schedule is None else sutskever_momentum(t, self.momentum_max)


class SGDState(NamedTuple):
    step: Any
    m: Array | None   # buffer b (torch's momentum_buffer; None = empty) or velocity v


def init(param: Array, hp: SGDHyper, *, v0: Any = None, m0: Any = None) -> SGDState:
    """``m = m0``; without m0 the velocity starts at 0 and the buffer empty (torch: no state)."""
    if m0 is None and hp.form == "buffer":
        return SGDState(0, None)
    return SGDState(0, moment_array(param, m0, "m0"))


def update(param: Array, grad: Array, state: SGDState, hp: SGDHyper) -> tuple[Array, SGDState]:
    t = state.step + 1
    mu = hp.momentum_at(state.step)
    param, g = M.prepare(param, grad, hp)                       # maximize, then g + λθ
    if hp.form == "velocity":
        v = mu * state.m - hp.lr * g                            # (3)
        if hp.nesterov:                                         # (4)
            return param + (hp.momentum_at(t) * v - hp.lr * g), SGDState(t, v)
        return param + v, SGDState(t, v)
    if hp.momentum_schedule is None and mu == 0.0:              # torch: no buffer is read or written
        kept = None if state.m is None else state.m * 1.0       # (×1: numpy 0-d results share param's type)
        return param + (-hp.lr) * g, SGDState(t, kept)
    if state.m is None:                                         # (1), torch: grad.clone()
        b = g
    else:                                                       # torch: buf.mul_(μ).add_(g, alpha=1−τ)
        b = state.m * mu + (1.0 - hp.dampening) * g
    u = g + mu * b if hp.nesterov else b                        # (2)
    return param + (-hp.lr) * u, SGDState(t, b)


def _torch_kwargs(hp: SGDHyper) -> dict:
    return dict(lr=hp.lr, momentum=hp.momentum, dampening=hp.dampening, weight_decay=hp.weight_decay,
                nesterov=hp.nesterov, maximize=hp.maximize)


def _optax_kwargs(hp: SGDHyper) -> dict:
    return dict(learning_rate=hp.lr, momentum=hp.momentum or None, nesterov=hp.nesterov)


def _buffer_form(convention: str, *, plain: bool = False):
    def applies(hp: SGDHyper) -> bool:
        ok = hp.convention == convention and hp.form == "buffer" and hp.momentum_schedule is None
        return ok and not (plain and (hp.dampening or hp.weight_decay or hp.maximize))
    return applies


_ERRORS = (
    ErrorCase({"lr": -0.1}, ValueError, r"lr must be a finite number >= 0; got -0\.1"),
    ErrorCase({"momentum": -0.9}, ValueError, r"momentum must be a finite number >= 0; got -0\.9"),
    ErrorCase({"weight_decay": -1e-4}, ValueError, r"weight_decay must be a finite number >= 0"),
    ErrorCase({"dampening": 1.5}, ValueError, r"dampening must be in \[0, 1\]; got 1\.5"),
    ErrorCase({"nesterov": True}, ValueError, r"nesterov=True requires momentum > 0 and dampening = 0; "
                                              r"got momentum=0\.0, dampening=0\.0"),
    ErrorCase({"nesterov": True, "momentum": 0.9, "dampening": 0.1}, ValueError,
              r"nesterov=True requires momentum > 0 and dampening = 0; got momentum=0\.9, dampening=0\.1"),
    ErrorCase({"nesterov": 1}, TypeError, r"nesterov must be True or False"),
    ErrorCase({"form": "heavy-ball"}, ValueError, r"form must be one of 'buffer', 'velocity'; got 'heavy-ball'"),
    ErrorCase({"form": "velocity", "momentum": 0.9, "dampening": 0.5}, ValueError,
              r"dampening applies to form='buffer' only"),
    ErrorCase({"momentum_schedule": "linear"}, ValueError, r"momentum_schedule must be one of None, 'sutskever'"),
    ErrorCase({"momentum_max": 0.9}, ValueError, r"momentum_max applies only with momentum_schedule='sutskever'"),
    ErrorCase({"momentum_schedule": "sutskever", "momentum": 0.9}, ValueError,
              r"momentum must be 0 when momentum_schedule='sutskever' sets μ_t"),
    ErrorCase({"momentum_schedule": "sutskever", "momentum_max": 1.5}, ValueError,
              r"momentum_max must be in \[0, 1\]; got 1\.5"),
    ErrorCase({"momentum_schedule": "sutskever", "momentum_max": 0.0, "nesterov": True}, ValueError,
              r"nesterov=True requires momentum > 0"),
    ErrorCase({"convention": "keras"}, ValueError, r"convention must be one of 'torch', 'optax', 'paper'"),
    ErrorCase({"lr": "0.1"}, TypeError, r"lr must be a real number"),
)

register(Algorithm(
    name="sgd", hyper_cls=SGDHyper, init_fn=init, update_fn=update,
    state_names=("m",), first_moment=("m",), second_moment=(),
    summary="SGD with classical/Nesterov momentum, buffer (torch) or velocity (Sutskever) form",
    doc=__doc__, family="sgd",
    cases=({}, {"momentum": 0.9}, {"momentum": 0.9, "nesterov": True}, {"momentum": 0.9, "dampening": 0.5},
           {"momentum": 0.5, "weight_decay": 0.1, "maximize": True}, {"weight_decay": 0.1, "maximize": True},
           {"momentum": 0.99, "nesterov": True, "weight_decay": 1e-3}, {"lr": 0.0, "momentum": 0.9},
           {"momentum": 0.9, "dampening": 1.0}, {"form": "velocity", "momentum": 0.9},
           {"form": "velocity", "momentum": 0.9, "nesterov": True, "weight_decay": 0.01},
           {"convention": "paper", "momentum": 0.5}, {"momentum_schedule": "sutskever"},
           {"momentum_schedule": "sutskever", "momentum_max": 0.9, "nesterov": True},
           {"form": "velocity", "momentum_schedule": "sutskever", "nesterov": True},
           {"convention": "optax", "momentum": 0.9}),
    errors=_ERRORS,
    references=(
        Reference("torch", "torch.optim.SGD", _torch_kwargs, {"m": "momentum_buffer", "step": None},
                  _buffer_form("torch")),
        Reference("optax", "optax.sgd", _optax_kwargs, {"m": "trace"}, _buffer_form("optax", plain=True)),
    ),
))
