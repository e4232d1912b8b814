"""Conformance cases: algorithm × hyperparameters × moment init × shapes × dtype × gradients × steps.

Every case is generated from the registry: each entry's ``cases`` (defaults, edge values, every
convention and flag) crossed with the moment-init variants its state admits (zeros; Eq. 11
``random-chi2`` v0; the code's ``random`` v0 + m0; Eq. 10 ``data`` v0 from gradient statistics),
over one parameter list that holds every shape the edge-case rules name (0-d, 1, odd sizes,
conv-like 4-d, empty).  Gradients come from a seeded stream whose per-coordinate magnitudes span
1e-4..10 (so ε placement matters) and which contains an all-zero step (state must still advance).

Whole-vector entries (``kind="whole_vector"``) take their gradients from an objective
(`v0ref.objectives`) at the points they choose, so their cases name one (`WHOLE_VECTOR_OBJECTIVES`:
small, smooth problems per method, taken in turn over the entry's hyperparameter sets); the
parameters are the objective's start point and ``steps`` is `WHOLE_VECTOR_STEPS`.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..algorithms import OPTIMIZERS

__all__ = ["Case", "SHAPES", "cases_for", "gradient_stream", "initial_params"]

SHAPES: tuple[tuple[int, ...], ...] = ((), (1,), (7,), (3, 5), (4, 3, 3, 3), (0,), (2, 0, 3))
ZERO_STEP = 3   # the step whose gradient is all zeros

# whole-vector entries: (objective name, constructor keywords) taken in turn over the entry's cases
WHOLE_VECTOR_OBJECTIVES: dict[str, tuple[tuple[str, dict[str, Any]], ...]] = {
    "lbfgs": (("logistic_regression", {"n_samples": 32, "n_features": 4}), ("rosenbrock", {"n": 4}),
              ("quadratic", {"n": 6, "cond": 10.0, "shapes": ((2,), (2, 2))})),
    # not the quadratic: CG solves it in n = 6 iterations, and every later step line-searches on
    # round-off gradients, which compares noise (tests/test_whole_vector.py covers the quadratic)
    "cg": (("beale", {}), ("logistic_regression", {"n_samples": 32, "n_features": 4}), ("rosenbrock", {"n": 4})),
    # convex problems only: on an MLP, HF's discrete choices (CG truncation, iterate backtracking,
    # negative-curvature exits with Hessian curvature) flip on last-bit differences of a port's
    # sums and its trajectory is chaotic, which compares luck; the MLP's Gauss-Newton products are
    # checked directly (tests/test_objectives.py, the ports' HF tests).  Unpreconditioned CG runs on
    # the logistic regression: softmax's Gauss-Newton matrix is singular along the class-sum
    # direction, where 20 CG iterations amplify cancellation in a port's sums
    "hessian_free": (("softmax_regression", {"n_samples": 32}),
                     ("logistic_regression", {"n_samples": 32, "n_features": 4}),
                     ("logistic_regression", {"n_samples": 32, "n_features": 4}),
                     ("softmax_regression", {"n_samples": 32})),
    "nag_lookahead": (("softmax_regression", {"n_samples": 32}), ("rosenbrock", {"n": 4})),
    "rmsprop_nesterov": (("softmax_regression", {"n_samples": 32}), ("rosenbrock", {"n": 4})),
}
DEFAULT_WHOLE_VECTOR_OBJECTIVES = (("quadratic", {"n": 6, "cond": 10.0}), ("rosenbrock", {"n": 4}))
WHOLE_VECTOR_STEPS = 12


@dataclass(frozen=True)
class Case:
    """One conformance case.  ``moments`` are the moment-init keywords (``v0``, ``v0_scale``, ``m0``,
    ``m0_scale``, ``key``) — ``"data"`` strategies get their `GradStats` from the runner."""

    algorithm: str
    hyper: Mapping[str, Any]
    moments: Mapping[str, Any] = field(default_factory=dict)
    dtype: str = "float64"
    steps: int = 48
    seed: int = 0
    shapes: tuple[tuple[int, ...], ...] = SHAPES
    objective: str = ""                                        # whole-vector cases: the gradient source
    objective_kwargs: Mapping[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        hyper = ",".join(f"{k}={v}" for k, v in self.hyper.items()) or "defaults"
        init = ",".join(f"{k}={v}" for k, v in self.moments.items() if k in ("v0", "m0")) or "zeros"
        where = f"[{self.objective}]" if self.objective else ""
        return f"{self.algorithm}[{hyper}][{init}]{where}[{self.dtype}]"

    def make_objective(self) -> Any:
        """The case's objective (whole-vector cases), built afresh."""
        from ..objectives import OBJECTIVES
        return OBJECTIVES[self.objective](**dict(self.objective_kwargs))

    def as_dict(self) -> dict[str, Any]:
        out = {"algorithm": self.algorithm, "hyper": dict(self.hyper), "moments": dict(self.moments),
               "dtype": self.dtype, "steps": self.steps, "seed": self.seed,
               "shapes": [list(s) for s in self.shapes]}
        if self.objective:
            out.update(objective=self.objective, objective_kwargs=dict(self.objective_kwargs))
        return out


def _variants(algorithm: str, seed: int) -> list[dict[str, Any]]:
    alg = OPTIMIZERS[algorithm]
    out: list[dict[str, Any]] = [{}]
    if alg.second_moment:
        out.append({"v0": "random-chi2", "v0_scale": 1.0, "key": seed})
        out.append({"v0": "data", "v0_scale": 1.0})
    if alg.first_moment or alg.second_moment:
        both: dict[str, Any] = {"key": seed}
        if alg.second_moment:
            both.update(v0="random", v0_scale=100.0)
        if alg.first_moment:
            both.update(m0="random", m0_scale=0.1)
        out.append(both)
    return out


def cases_for(algorithm: str, dtype: str, *, steps: int = 48, seed: int = 0, full: bool = False) -> Iterator[Case]:
    """The cases of one algorithm in one dtype.

    Every hyperparameter set of the registry entry runs once, with the moment variants taken in
    turn (case i gets variant i mod n) so that every variant meets several hyperparameter sets;
    the defaults run with every variant.  ``full=True`` crosses all of them.
    """
    alg = OPTIMIZERS[algorithm]
    base = zlib.crc32(f"{algorithm}:{seed}".encode())
    variants = _variants(algorithm, base)
    if alg.kind == "whole_vector":
        yield from _whole_vector_cases(alg, dtype, variants, base, full)
        return
    for i, hyper in enumerate(alg.cases):
        chosen = variants if (full or i == 0) else [variants[i % len(variants)]]
        for j, moments in enumerate(chosen):
            yield Case(algorithm, dict(hyper), dict(moments), dtype, steps, (base + 7919 * i + j) % 2**31)


def _whole_vector_cases(alg: Any, dtype: str, variants: list[dict[str, Any]], base: int,
                        full: bool) -> Iterator[Case]:
    objectives = WHOLE_VECTOR_OBJECTIVES.get(alg.name, DEFAULT_WHOLE_VECTOR_OBJECTIVES)
    from ..objectives import OBJECTIVES
    for i, hyper in enumerate(alg.cases):
        name, kwargs = objectives[i % len(objectives)]
        shapes = OBJECTIVES[name](**kwargs).shapes
        chosen = variants if (full or i == 0) else [variants[i % len(variants)]]
        for j, moments in enumerate(chosen):
            yield Case(alg.name, dict(hyper), dict(moments), dtype, WHOLE_VECTOR_STEPS,
                       (base + 7919 * i + j) % 2**31, shapes, name, dict(kwargs))


def with_objective(case: Case) -> Case:
    """A whole-vector case built without an objective gets its algorithm's first one."""
    if case.objective:
        return case
    from dataclasses import replace
    from ..objectives import OBJECTIVES
    name, kwargs = WHOLE_VECTOR_OBJECTIVES.get(case.algorithm, DEFAULT_WHOLE_VECTOR_OBJECTIVES)[0]
    return replace(case, objective=name, objective_kwargs=dict(kwargs), shapes=OBJECTIVES[name](**kwargs).shapes)


def initial_params(case: Case) -> list[np.ndarray]:
    """Parameters of the case, already rounded to its dtype (every run starts from these values;
    a whole-vector case starts at its objective's ``x0``)."""
    if case.objective:
        return [np.asarray(p) for p in case.make_objective().x0(dtype=case.dtype)]
    rng = np.random.default_rng(case.seed)
    return [(0.5 * rng.standard_normal(s)).astype(case.dtype) for s in case.shapes]


def gradient_stream(case: Case, steps: int | None = None, *, seed_offset: int = 1) -> list[list[np.ndarray]]:
    """``steps`` lists of gradients in the case's dtype; step `ZERO_STEP` is all zeros."""
    rng = np.random.default_rng(case.seed + seed_offset)
    magnitudes = [10.0 ** rng.uniform(-4.0, 1.0, size=s) for s in case.shapes]
    stream = []
    for t in range(1, (case.steps if steps is None else steps) + 1):
        if t == ZERO_STEP:
            stream.append([np.zeros(s, dtype=case.dtype) for s in case.shapes])
            continue
        stream.append([(m * rng.standard_normal(m.shape)).astype(case.dtype) for m in magnitudes])
    return stream


def grad_stats_for(case: Case, params: Sequence[np.ndarray]) -> Any:
    """`GradStats` for the ``data`` strategies: 8 mini-batch gradients of 4 samples (float64)."""
    from ..stats import GradStats
    stats = GradStats([p.astype(np.float64) for p in params], mode="minibatch", batch_size=4, data_size=32)
    for grads in gradient_stream(case, 8, seed_offset=2):
        stats.update([g.astype(np.float64) for g in grads])
    return stats
