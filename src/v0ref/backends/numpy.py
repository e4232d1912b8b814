"""The oracle behind an optimizer object: runs the registry's ``update`` on any array-API arrays.

This is the NumPy port (and the port for ``array_api_strict``): no second copy of the math,
just the bookkeeping — one state per parameter, moment initialization from the strategy
keywords, ``step(params, grads) -> params``, and a plain ``state_dict``.  Whole-vector entries
(``alg.kind == "whole_vector"``: L-BFGS, CG, HF, look-ahead NAG, RMSProp+Nesterov) keep one state
for the whole parameter list and step with an objective: ``step(params, objective) -> params``.
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

    A whole-vector method steps with an objective (`v0ref.objectives`) instead of gradients:

    >>> from v0ref.objectives import Rosenbrock
    >>> f = Rosenbrock(n=2)
    >>> opt = v0ref.optimizer("lbfgs", f.x0(), line_search_fn="strong_wolfe", tolerance_change=1e-15)
    >>> x = f.x0()
    >>> for _ in range(10):
    ...     x = opt.step(x, f)
    >>> bool(np.allclose(x[0], 1.0))
    True
    """

    def __init__(self, name: str, params: Sequence[Array], *, v0: Any = None, v0_scale: float = 1.0,
                 m0: Any = None, m0_scale: float = 1.0, v0_min_ndim: int | None = None, key: Any = None,
                 grad_stats: Any = None, fan_layout: str = "torch", **hyperparameters: Any):
        self.algorithm = OPTIMIZERS[name]
        self.hyper = self.algorithm.hyper(**hyperparameters)
        params = list(params)
        common = dict(key=key, stats=grad_stats, min_ndim=v0_min_ndim, layout=fan_layout)
        v0s = moments.resolve("v0", v0, params, scale=v0_scale, **common)
        m0s = moments.resolve("m0", m0, params, scale=m0_scale, **common)
        if self.whole_vector:       # one state for the whole list
            self.states = [self.algorithm.init(params, self.hyper, v0=v0s, m0=m0s)]
            self.n_params = len(params)
            return
        v0s, m0s = v0s or [None] * len(params), m0s or [None] * len(params)
        self.states = [self.algorithm.init(p, self.hyper, v0=v, m0=m) for p, v, m in zip(params, v0s, m0s)]
        self.n_params = len(params)

    @property
    def whole_vector(self) -> bool:
        return self.algorithm.kind == "whole_vector"

    def step(self, params: Sequence[Array], grads: Any) -> list[Array]:
        """One update of every parameter; returns the new parameters (the inputs are untouched).

        For a whole-vector method ``grads`` is the objective (loss/grad/hvp at any point)."""
        if self.whole_vector:
            params = list(params)
            if len(params) != self.n_params:
                raise ValueError(f"expected {self.n_params} params; got {len(params)}")
            if isinstance(grads, Sequence) or hasattr(grads, "shape"):
                raise TypeError(f"{self.algorithm.name} is a whole-vector method: step(params, objective) takes an "
                                "objective (v0ref.objectives protocol), not a list of gradients")
            new_params, self.states[0] = self.algorithm.update(params, grads, self.states[0], self.hyper)
            return new_params
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
                 states: Sequence[Mapping[str, Any]] | None = None, moments: Mapping[str, Any] | None = None,
                 objective: Any = None):
        self.xp = xp
        self.params = [xp.asarray(p) for p in params]
        self.objective = objective
        if OPTIMIZERS[algorithm].kind == "whole_vector":
            if objective is None:
                raise TypeError(f"{algorithm} is a whole-vector method: open it with objective=...")
            if states:
                raise ValueError(f"{algorithm}: whole-vector runs start from moments, not from exported states")
            opt = Optimizer(algorithm, self.params, **dict(hyper), **dict(moments or {}))
            self.algorithm, self.hyper, self.states = opt.algorithm, opt.hyper, opt.states
            return
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

    def step(self, grads: Sequence[Any] | None) -> None:
        if self.algorithm.kind == "whole_vector":       # step(None): the objective is the gradient source
            if grads is not None:
                raise TypeError(f"{self.algorithm.name}: a whole-vector run steps with step(None)")
            self.params, self.states[0] = self.algorithm.update(self.params, self.objective, self.states[0],
                                                                self.hyper)
            return
        for i, g in enumerate(grads):
            self.params[i], self.states[i] = self.algorithm.update(self.params[i], self.xp.asarray(g),
                                                                   self.states[i], self.hyper)

    def export(self) -> tuple[list[Any], list[dict[str, Any]]]:
        if self.algorithm.kind == "whole_vector":
            return [_to_numpy(p) for p in self.params], []
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
             states: Sequence[Mapping[str, Any]] | None = None, moments: Mapping[str, Any] | None = None,
             objective: Any = None) -> OracleRun:
        from .._backend import namespace
        return OracleRun(algorithm, hyper, params, namespace(self.name), states=states, moments=moments,
                         objective=objective)


PORT = _OraclePort("numpy")
STRICT_PORT = _OraclePort("array_api_strict")
