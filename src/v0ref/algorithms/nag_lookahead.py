r"""Nesterov's accelerated gradient in Sutskever et al.'s (2013) look-ahead form (ALGORITHMS §2.1,
§4.3; Goodfellow et al. 2016, Alg. 8.3).  A whole-vector method: the gradient is taken at the
look-ahead point, so ``update(params, objective, state, hp)`` asks the objective for it:

.. math::

    v_{t} = μ_{t} v_{t-1} - ε\,∇f(θ_{t-1} + μ_{t} v_{t-1}),\qquad θ_t = θ_{t-1} + v_t        \quad (1)

``μ_t`` is ``momentum`` or Sutskever's schedule (``momentum_schedule="sutskever"``, ALGORITHMS
§2.2, `v0ref.algorithms.sgd.sutskever_momentum`, with ``t`` counting updates from 0).  ``m0``
fills the velocity ``v_0`` (default 0).  Bengio et al.'s (2013) substitution ``Θ_t = θ_t +
μ_{t+1} v_t`` turns (1) into the element-wise update of ``sgd(form="velocity", nesterov=True)``
(ALGORITHMS §2.5): the two produce the same points, which the tests check over many steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from . import _vec as V
from ._core import Algorithm, ErrorCase, Hyper, check_choice, check_nonneg, check_range, moment_array, register
from .sgd import sutskever_momentum

__all__ = ["NAGHyper", "NAGState", "init", "update"]

Array = Any


@dataclass(frozen=True, kw_only=True)
class NAGHyper(Hyper):
    lr: float = 1e-2
    momentum: float = 0.9
    momentum_schedule: str | None = None
    momentum_max: float | None = None
    _conventions = ("paper",)
    convention: str = "paper"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_nonneg("lr", self.lr)
        check_range("momentum", self.momentum, 0.0, 1.0)
        check_choice("momentum_schedule", self.momentum_schedule, (None, "sutskever"))
        if self.momentum_schedule is None:
            if self.momentum_max is not None:
                raise ValueError("momentum_max applies only with momentum_schedule='sutskever'; "
                                 f"got momentum_max={self.momentum_max!r}")
        else:
            if self.momentum_max is None:
                object.__setattr__(self, "momentum_max", 0.999)
            check_range("momentum_max", self.momentum_max, 0.0, 1.0, closed_high=True)

    def momentum_at(self, t: int) -> float:
        """μ for update ``t = 0, 1, …``."""
        return self.momentum if self.momentum_schedule is None else sutskever_momentum(t, self.momentum_max)


class NAGState(NamedTuple):
    step: int
    v: tuple          # velocity, one array per parameter


def init(params: list[Array], hp: NAGHyper, *, v0: Any = None, m0: Any = None) -> NAGState:
    params = V.check_params(params, "params", "nag_lookahead")
    m0s = [None] * len(params) if m0 is None else list(m0)
    if len(m0s) != len(params):
        raise ValueError(f"nag_lookahead: m0 has {len(m0s)} entries but there are {len(params)} parameters")
    return NAGState(0, tuple(moment_array(p, m, f"m0[{i}]") for i, (p, m) in enumerate(zip(params, m0s))))


def update(params: list[Array], objective: Any, state: NAGState, hp: NAGHyper) -> tuple[list[Array], NAGState]:
    V.check_objective(objective, "nag_lookahead", needs=("grad",))
    mu = hp.momentum_at(state.step)
    ahead = [p + mu * v for p, v in zip(params, state.v)]
    grads = objective.grad(ahead)
    v = tuple(mu * vi - hp.lr * g for vi, g in zip(state.v, grads))                        # (1)
    return [p + vi for p, vi in zip(params, v)], NAGState(state.step + 1, v)


register(Algorithm(
    name="nag_lookahead", hyper_cls=NAGHyper, init_fn=init, update_fn=update,
    state_names=("v",), first_moment=("v",),
    summary="Nesterov momentum, Sutskever's look-ahead form (gradient at θ + μv)",
    doc=__doc__, family="sgd", kind="whole_vector",
    cases=({}, {"lr": 1e-3, "momentum": 0.5}, {"momentum": 0.0, "momentum_schedule": "sutskever", "momentum_max": 0.9},
           {"lr": 1e-3, "momentum": 0.99}),
    errors=(
        ErrorCase({"lr": -0.1}, ValueError, r"lr must be a finite number >= 0; got -0\.1"),
        ErrorCase({"momentum": 1.0}, ValueError, r"momentum must be in \[0, 1\); got 1\.0"),
        ErrorCase({"momentum_schedule": "linear"}, ValueError, r"momentum_schedule must be one of None, 'sutskever'"),
        ErrorCase({"momentum_max": 0.9}, ValueError, r"momentum_max applies only with momentum_schedule='sutskever'"),
        ErrorCase({"convention": "torch"}, ValueError, r"convention must be one of 'paper'"),
    ),
))
