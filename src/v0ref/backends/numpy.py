"""The oracle behind an optimizer object: runs the registry's ``update`` on any array-API arrays.

This is the NumPy port (and the port for ``array_api_strict``): no second copy of the math,
just the bookkeeping — one state per parameter, moment initialization from the strategy
keywords, ``step(params, grads) -> params``, and a plain ``state_dict``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..algorithms import OPTIMIZERS
from .. import moments

__all__ = ["Optimizer", "OracleRun", "PORT", "STRICT_PORT"]

Array = Any


class Optimizer:
    """A registry algorithm applied to a list of parameters.

    Parameters
    ----------
    name : registry name (``v0ref.OPTIMIZERS``).
    params : the parameter arrays (any array-API namespace; they are not modified).
    v0, m0 : ``None`` (zeros), a strategy name (``v0ref.moments.STRATEGIES``), a number, a list
        of arrays, or a callable ``params -> list``.
    v0_scale, m0_scale : the strategy's scale (σ / s and s_m).
    v0_min_ndim : tensors with fewer dimensions keep a zero v0/m0 (default: the strategy's rule,
        2 for the random strategies as in the paper, 0 for the data ones as in its code).
    key : a `v0ref.random.Key` (or an int seed) for the random strategies.
    grad_stats : a `v0ref.stats.GradStats` for the data strategies.
    fan_layout : ``"torch"`` ``(out, in, *k)`` or ``"jax"`` ``(*k, in, out)`` weights.
    **hyperparameters : the algorithm's (``lr``, ``betas``, ``eps``, ``convention``, ...); an
        unknown name is a ``TypeError`` listing the valid ones.

    Example
    -------
    >>> import numpy as np, v0ref
    >>> params = [np.ones((2, 3)), np.zeros(3)]
    >>> opt = v0ref.optimizer("adam", params, lr=0.1, v0="random-chi2", key=v0ref.random.key(0))
    >>> params = opt.step(params, [np.ones((2, 3)), np.ones(3)])
    >>> bool(params[0][0, 0] > 0.9), round(float(params[1][0]), 6)   # 1-D bias: v0 = 0, sign step
    (True, -0.1)
    """

    def __init__(self, name: str, params: Sequence[Array], *, v0: Any = None, v0_scale: float = 1.0,
                 m0: Any = None, m0_scale: float = 1.0, v0_min_ndim: int | None = None, key: Any = None,
                 grad_stats: Any = None, fan_layout: str = "torch", **hyperparameters: Any):
        self.algorithm = OPTIMIZERS[name]
        self.hyper = self.algorithm.hyper(**hyperparameters)
        params = list(params)
        common = dict(key=key, stats=grad_stats, min_ndim=v0_min_ndim, layout=fan_layout)
        v0s = moments.resolve("v0", v0, params, scale=v0_scale, **common) or [None] * len(params)
        m0s = moments.resolve("m0", m0, params, scale=m0_scale, **common) or [None] * len(params)
        self.states = [self.algorithm.init(p, self.hyper, v0=v, m0=m) for p, v, m in zip(params, v0s, m0s)]

    def step(self, params: Sequence[Array], grads: Sequence[Array]) -> list[Array]:
        """One update of every parameter; returns the new parameters (the inputs are untouched)."""
        params, grads = list(params), list(grads)
        if len(params) != len(self.states) or len(grads) != len(self.states):
            raise ValueError(f"expected {len(self.states)} params and grads; got {len(params)} and {len(grads)}")
        new_params = []
        for i, (p, g) in enumerate(zip(params, grads)):
            p, self.states[i] = self.algorithm.update(p, g, self.states[i], self.hyper)
            new_params.append(p)
        return new_params

    def set_hyper(self, **changes: Any) -> None:
        """Change hyperparameters between steps (e.g. ``opt.set_hyper(lr=schedule(t))``)."""
        self.hyper = self.hyper.replace(**changes)

    def state_dict(self) -> dict[str, Any]:
        """Plain data: the algorithm name, hyperparameters and every state record."""
        return {"algorithm": self.algorithm.name, "hyper": dataclasses.asdict(self.hyper),
                "state": [s._asdict() for s in self.states]}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if state_dict.get("algorithm") != self.algorithm.name:
            raise ValueError(f"state_dict is for {state_dict.get('algorithm')!r}, not {self.algorithm.name!r}")
        if len(state_dict["state"]) != len(self.states):
            raise ValueError(f"state_dict holds {len(state_dict['state'])} states; expected {len(self.states)}")
        self.hyper = self.algorithm.hyper(**state_dict["hyper"])
        self.states = [type(s)(**d) for s, d in zip(self.states, state_dict["state"])]

    def __repr__(self) -> str:
        return f"Optimizer({self.algorithm.name!r}, {len(self.states)} params, {self.hyper})"


class OracleRun:
    """The oracle as a `v0ref.backends.PortRun`: the registry's ``update`` on ``xp`` arrays."""

    def __init__(self, algorithm: str, hyper: Mapping[str, Any], params: Sequence[Any], xp: Any, *,
                 states: Sequence[Mapping[str, Any]] | None = None, moments: Mapping[str, Any] | None = None):
        self.xp = xp
        self.params = [xp.asarray(p) for p in params]
        if states is not None:
            self.algorithm = OPTIMIZERS[algorithm]
            self.hyper = self.algorithm.hyper(**hyper)
            template = self.algorithm.init(self.params[0], self.hyper) if self.params else None
            self.states = [type(template)(**{k: self._from_numpy(v) for k, v in s.items()}) for s in states]
        else:
            opt = Optimizer(algorithm, self.params, **dict(hyper), **dict(moments or {}))
            self.algorithm, self.hyper, self.states = opt.algorithm, opt.hyper, opt.states

    def _from_numpy(self, value: Any) -> Any:
        return self.xp.asarray(value) if isinstance(value, np.ndarray) else value

    def step(self, grads: Sequence[Any]) -> None:
        for i, g in enumerate(grads):
            self.params[i], self.states[i] = self.algorithm.update(self.params[i], self.xp.asarray(g),
                                                                   self.states[i], self.hyper)

    def export(self) -> tuple[list[Any], list[dict[str, Any]]]:
        to_np = lambda v: _to_numpy(v) if hasattr(v, "shape") else v  # noqa: E731
        return ([_to_numpy(p) for p in self.params],
                [{k: to_np(v) for k, v in s._asdict().items()} for s in self.states])


def _to_numpy(x: Any) -> np.ndarray:
    if isinstance(x, np.ndarray):
        return x.copy()
    return np.asarray(x._array if hasattr(x, "_array") else x).copy()


class _OraclePort:
    """The oracle behind the Port protocol, on numpy or array_api_strict arrays."""

    dtypes = ("float32", "float64")

    def __init__(self, name: str):
        self.name = name

    def supports(self, algorithm: str) -> bool:
        return algorithm in OPTIMIZERS

    def optimizer(self, name: str, params: Any, **kwargs: Any) -> Optimizer:
        return Optimizer(name, params, **kwargs)

    def open(self, algorithm: str, hyper: Mapping[str, Any], params: Sequence[Any], *,
             states: Sequence[Mapping[str, Any]] | None = None, moments: Mapping[str, Any] | None = None) -> OracleRun:
        from .._backend import namespace
        return OracleRun(algorithm, hyper, params, namespace(self.name), states=states, moments=moments)


PORT = _OraclePort("numpy")
STRICT_PORT = _OraclePort("array_api_strict")
