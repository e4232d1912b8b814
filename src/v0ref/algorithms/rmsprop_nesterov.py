r"""RMSProp with Nesterov momentum, Goodfellow et al. (2016) Alg. 8.6 (ALGORITHMS §4.5).

A whole-vector method: the gradient is taken at the look-ahead point ``θ + αv``:

.. math::

    g = ∇f(θ_{t-1} + α v_{t-1}),\qquad r_t = ρ r_{t-1} + (1-ρ)\, g ⊙ g                     \quad (1) \\
    v_t = α v_{t-1} - \frac{ε}{\sqrt{δ + r_t}} ⊙ g,\qquad θ_t = θ_{t-1} + v_t                 \quad (2)

with ``ε = lr``, ``ρ = decay``, ``α = momentum`` and ``δ = eps``.  Alg. 8.6 prints no δ (``eps=0``
reproduces it verbatim — a coordinate whose gradient and accumulator are both 0 then gives 0/0);
the default ``δ = 1e-6`` is Alg. 8.5's, inside the square root.  ``v0`` fills ``r_0`` (default 0,
as in the book), ``m0`` the velocity ``v_0`` (default 0).  The element-wise rewriting of this
update is ``rmsprop(nesterov=True, convention="optax")``; this entry keeps the book's form.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from array_api_compat import array_namespace

from . import _vec as V
from ._core import Algorithm, ErrorCase, Hyper, check_nonneg, check_range, moment_array, register

__all__ = ["RMSpropNesterovHyper", "RMSpropNesterovState", "init", "update"]

Array = Any


@dataclass(frozen=True, kw_only=True)
class RMSpropNesterovHyper(Hyper):
    lr: float = 1e-3
    decay: float = 0.9
    momentum: float = 0.9
    eps: float = 1e-6
    _conventions = ("paper",)
    convention: str = "paper"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_nonneg("lr", self.lr)
        check_range("decay", self.decay, 0.0, 1.0)
        check_range("momentum", self.momentum, 0.0, 1.0)
        check_nonneg("eps", self.eps)


class RMSpropNesterovState(NamedTuple):
    step: int
    r: tuple          # accumulated squared gradients
    v: tuple          # velocity


def _moments(params: list[Array], given: Any, name: str) -> tuple:
    given = [None] * len(params) if given is None else list(given)
    if len(given) != len(params):
        raise ValueError(f"rmsprop_nesterov: {name} has {len(given)} entries but there are {len(params)} parameters")
    return tuple(moment_array(p, g, f"{name}[{i}]") for i, (p, g) in enumerate(zip(params, given)))


def init(params: list[Array], hp: RMSpropNesterovHyper, *, v0: Any = None, m0: Any = None) -> RMSpropNesterovState:
    params = V.check_params(params, "params", "rmsprop_nesterov")
    return RMSpropNesterovState(0, _moments(params, v0, "v0"), _moments(params, m0, "m0"))


def update(params: list[Array], objective: Any, state: RMSpropNesterovState,
           hp: RMSpropNesterovHyper) -> tuple[list[Array], RMSpropNesterovState]:
    V.check_objective(objective, "rmsprop_nesterov", needs=("grad",))
    a = hp.momentum
    grads = objective.grad([p + a * v for p, v in zip(params, state.v)])
    r, v, new = [], [], []
    for p, ri, vi, g in zip(params, state.r, state.v, grads):
        xp = array_namespace(p)
        ri = hp.decay * ri + (1.0 - hp.decay) * (g * g)                                     # (1)
        vi = a * vi - (hp.lr / xp.sqrt(hp.eps + ri)) * g                                    # (2), the book's order
        r.append(ri), v.append(vi), new.append(p + vi)
    return new, RMSpropNesterovState(state.step + 1, tuple(r), tuple(v))


register(Algorithm(
    name="rmsprop_nesterov", hyper_cls=RMSpropNesterovHyper, init_fn=init, update_fn=update,
    state_names=("r", "v"), first_moment=("v",), second_moment=("r",),
    summary="RMSProp with Nesterov momentum, Goodfellow Alg. 8.6 (gradient at θ + αv)",
    doc=__doc__, family="rmsprop", kind="whole_vector",
    cases=({}, {"lr": 1e-2, "decay": 0.99, "momentum": 0.5}, {"eps": 1e-8, "momentum": 0.0}),
    errors=(
        ErrorCase({"lr": -1e-3}, ValueError, r"lr must be a finite number >= 0"),
        ErrorCase({"decay": 1.0}, ValueError, r"decay must be in \[0, 1\); got 1\.0"),
        ErrorCase({"momentum": -0.1}, ValueError, r"momentum must be in \[0, 1\); got -0\.1"),
        ErrorCase({"eps": -1e-6}, ValueError, r"eps must be a finite number >= 0"),
        ErrorCase({"convention": "optax"}, ValueError, r"convention must be one of 'paper'"),
    ),
))
