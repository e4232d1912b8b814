r"""The harness: drive the float64 oracle, the oracle in a low precision and the port, compare.

Three checks per case, every parameter and **every state array** after every step:

1. **init** — the port builds its own initial state from the moment-init keywords (as a user's
   call would); it must equal the oracle's within ``step_ulps`` ulps of the dtype.
2. **step-wise** (torch's ``TensorTracker`` re-sync idea): before step t the port is given the
   float64 oracle's state after step t−1, rounded to the dtype; after one step its result is
   compared with the float64 oracle's step from that same start.  Errors cannot compound, so this
   bounds the arithmetic of one step.
3. **free-running** — whole trajectories from the same start, compared after every step.

Errors are counted per element in ulps of the run's dtype, in the unit ``ε·(m + |ref − start|)``
where m is the value's magnitude (in free-running the largest it has had so far, so a value that
cancelled to ~0 keeps the unit of its terms).  The **tolerance rule** scales with the algorithm's
own sensitivity and needs no per-case tuning: with ``E_low`` the error of the oracle itself run
in low precision (the run's dtype; float32 for a float64 run, whose oracle is the reference and
has no error of its own — its float32 error, in float32 ulps, measures how much rounding the
algorithm amplifies, e.g. through cancellation),

* step-wise: ``E(port) ≤ step_ulps + k·E_low``;
* free-running: ``E(port, t) ≤ k·E_low(t) + floor·√t`` — k times the oracle's own error plus a
  random-walk floor of rounding noise (what a different but correct order of operations
  accumulates).  A systematic drift of one ulp per step exceeds it after about
  ``(k·c + floor)²`` steps, c ≈ 2 the oracle's own random-walk constant.

Non-finite values must match the oracle's exactly (NaN where it has NaN).  Per-algorithm
tolerance overrides live in the registry entry (``Algorithm.tolerance``) with their reason.

Whole-vector entries (L-BFGS, CG, HF, look-ahead NAG, RMSProp+Nesterov) choose where they evaluate
the case's objective, so there is no gradient stream to re-sync with and their state is the
method's own: the port is opened with ``objective=`` and stepped with ``step(None)``, and only
(1) the start point and (3) the free-running parameters **and the loss** at them are compared,
under the same rule.  These methods take discrete decisions (line-search branches, CG stopping,
iterate backtracking, restarts) that a last-bit difference can flip, and their objective
evaluations are reductions whose rounding depends on the summation order.  So their own
sensitivity is measured twice and the larger counts: ``E_low`` is the error of the oracle run in
float32 **or** of the oracle run in the case's dtype from a start moved by one ulp on an objective
whose every result is jittered by a few ulps (seeded; `_Jittered`) — the rounding a correct
implementation with another summation order produces.  A port whose arithmetic merely rounds
differently stays within what the algorithm itself does to such last-bit changes.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..algorithms import OPTIMIZERS
from ..backends.numpy import OracleRun
from .cases import Case, gradient_stream, grad_stats_for, initial_params

__all__ = ["Tolerance", "Failure", "CaseResult", "run_case", "DEFAULT_TOLERANCE"]


@dataclass(frozen=True)
class Tolerance:
    step_ulps: float = 16.0     # one step, from the same start (the oracle itself reaches ~6 in float32)
    k: float = 2.0              # free-running: multiple of the oracle's own low-precision error
    floor: float = 4.0          # free-running: floor·√t ulps of rounding noise

    def updated(self, overrides: Mapping[str, float]) -> "Tolerance":
        return Tolerance(**{**self.__dict__, **{k: v for k, v in overrides.items() if k in self.__dict__}})


DEFAULT_TOLERANCE = Tolerance()


@dataclass
class Failure:
    mode: str            # "init" | "step-wise" | "free-running" | "error"
    step: int
    tensor: int
    field: str           # "param" or a state name
    index: tuple[int, ...] | None = None
    port_value: float | None = None
    oracle_value: float | None = None
    error: float | None = None       # in ulps (or the message for mode "error")
    bound: float | None = None
    message: str = ""

    def describe(self) -> str:
        if self.mode == "error":
            return f"step {self.step}: {self.message}"
        where = f"tensor {self.tensor} {self.field}" + (f"{list(self.index)}" if self.index else "")
        if self.message:
            return f"{self.mode}, step {self.step}, {where}: {self.message}"
        return (f"{self.mode}, step {self.step}, {where}: port {self.port_value!r} vs oracle "
                f"{self.oracle_value!r} — {self.error:.3g} ulps > bound {self.bound:.3g}")


@dataclass
class CaseResult:
    case: Case
    port: str
    passed: bool
    stepwise_ratio: float = 0.0       # worst single-step error / bound (≤ 1 passes)
    free_ratio: float = 0.0           # worst E(port)/bound over the trajectory (≤ 1 passes)
    failure: Failure | None = None
    seconds: float = 0.0
    skipped: str = ""

    def as_dict(self) -> dict[str, Any]:
        out = {"case": self.case.id, "port": self.port, "passed": self.passed, "skipped": self.skipped,
               "stepwise_ratio": self.stepwise_ratio, "free_ratio": self.free_ratio, "seconds": self.seconds,
               "spec": self.case.as_dict()}
        if self.failure is not None:
            out["failure"] = {**self.failure.__dict__, "description": self.failure.describe()}
            out["failure"]["index"] = list(self.failure.index) if self.failure.index else None
        return out


# ------------------------------------------------------------------------------------- measures

def _ulp_errors(x: np.ndarray, ref: np.ndarray, start: np.ndarray, eps: float, tiny: float,
                magnitude: np.ndarray | None = None) -> np.ndarray:
    """Element errors in units of ``eps·(m + |ref − start|)`` with ``m = |ref|`` (or the running
    magnitude given, so that a value that cancelled to ~0 keeps the unit of its terms); NaN/inf
    must match exactly."""
    x64, ref64, start64 = (np.asarray(a, dtype=np.float64) for a in (x, ref, start))
    with np.errstate(invalid="ignore", over="ignore"):
        size = np.abs(ref64) if magnitude is None else np.maximum(np.abs(ref64), magnitude)
        unit = eps * (size + np.abs(ref64 - start64))
        err = np.abs(x64 - ref64) / np.maximum(np.nan_to_num(unit, nan=tiny, posinf=tiny), tiny)
    same_nonfinite = (np.isnan(x64) & np.isnan(ref64)) | (np.isinf(x64) & (x64 == ref64))
    err = np.where(same_nonfinite, 0.0, err)
    return np.where(np.isnan(err), np.inf, err)


def _fields(alg_state: Mapping[str, Any]) -> Iterable[str]:
    return [k for k in alg_state if k != "step"]


class _Compare:
    def __init__(self, dtype: str):
        info = np.finfo(dtype)
        self.eps, self.tiny = float(info.eps), float(info.tiny)

    def errors(self, port: Sequence[Any], ref: Sequence[Any], start: Sequence[Any],
               magnitude: Sequence[Any] | None = None) -> tuple[np.ndarray, list[int], list[int]]:
        """Element errors of a list of tensors, flattened into one array (one vectorized pass):
        ``(errors, tensor index per segment, segment offsets)``; empty and ``None`` tensors are skipped."""
        keep = [i for i, r in enumerate(ref) if r is not None and np.size(r) > 0]
        if not keep:
            return np.zeros(0), [], []
        flat = lambda arrays: np.concatenate([np.ravel(np.asarray(arrays[i], dtype=np.float64)) for i in keep])  # noqa: E731
        r = flat(ref)
        s = np.concatenate([np.ravel(np.zeros(np.shape(ref[i])) if start[i] is None
                                     else np.asarray(start[i], dtype=np.float64)) for i in keep])
        mag = None if magnitude is None else flat(magnitude)
        sizes = [int(np.size(ref[i])) for i in keep]
        offsets = [int(o) for o in np.cumsum([0] + sizes[:-1])]
        return _ulp_errors(flat(port), r, s, self.eps, self.tiny, mag), keep, offsets

    def per_tensor_max(self, port, ref, start, magnitude=None) -> dict[int, float]:
        err, keep, offsets = self.errors(port, ref, start, magnitude)
        if err.size == 0:
            return {}
        return dict(zip(keep, np.maximum.reduceat(err, offsets).tolist()))


def _state_lists(states: Sequence[Mapping[str, Any]], name: str) -> list[Any]:
    return [np.asarray(s[name], dtype=np.float64) if s[name] is not None else None for s in states]


def _check_structure(port_states, ref_states, step: int, mode: str) -> Failure | None:
    for i, (ps, rs) in enumerate(zip(port_states, ref_states)):
        missing = [k for k in rs if k not in ps]
        if missing:
            return Failure(mode, step, i, missing[0], message=f"state {missing[0]!r} is not exported")
        if int(ps["step"]) != int(rs["step"]):
            return Failure(mode, step, i, "step", port_value=int(ps["step"]), oracle_value=int(rs["step"]),
                           message=f"step count {int(ps['step'])} != oracle's {int(rs['step'])}")
        for k in _fields(rs):
            if (rs[k] is None) != (ps[k] is None):
                return Failure(mode, step, i, k, message=f"state {k!r} is {ps[k]!r}, oracle has {rs[k]!r}")
            if rs[k] is not None and np.shape(ps[k]) != np.shape(rs[k]):
                return Failure(mode, step, i, k, message=f"state {k!r} has shape {np.shape(ps[k])}, "
                                                          f"oracle {np.shape(rs[k])}")
    return None


def _groups(export, ref, start):
    """(field, port arrays, oracle arrays, start arrays) for the params and every state field."""
    (pp, ps), (rp, rs), (sp, ss) = export, ref, start
    fields = list(_fields(rs[0])) if rs else []
    return [("param", pp, rp, sp)] + [(k, _state_lists(ps, k), _state_lists(rs, k), _state_lists(ss, k))
                                      for k in fields]


def _compare_all(cmp: _Compare, port, ref, start, bound_fn, step: int, mode: str,
                 magnitudes: Mapping[str, Sequence[Any]] | None = None) -> tuple[float, Failure | None]:
    """Compare params and every state array; ``bound_fn(field, tensor) -> ulps``.  Returns the worst
    ratio error/bound and the first failure (largest excess)."""
    (pp, ps), (rp, rs) = port, ref
    if len(pp) != len(rp):
        return math.inf, Failure(mode, step, -1, "param", message=f"{len(pp)} params exported, {len(rp)} expected")
    failure = _check_structure(ps, rs, step, mode)
    if failure is not None:
        return math.inf, failure
    worst_ratio, worst_failure = 0.0, None
    for name, x, r, s in _groups(port, ref, start):
        errs, keep, offsets = cmp.errors(x, r, s, None if magnitudes is None else magnitudes[name])
        if errs.size == 0:
            continue
        sizes = np.diff(offsets + [errs.size])
        bounds = np.repeat([bound_fn(name, i) for i in keep], sizes)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratios = np.where(errs == 0, 0.0, errs / bounds)
        j = int(np.argmax(ratios))
        seg = int(np.searchsorted(offsets, j, side="right")) - 1
        tensor, ratio, err, bound = keep[seg], float(ratios[j]), float(errs[j]), float(bounds[j])
        shape = np.shape(r[tensor])
        index = np.unravel_index(j - offsets[seg], shape) if shape else ()
        if ratio > worst_ratio:
            worst_ratio = ratio
            if ratio > 1.0:
                xv = np.asarray(x[tensor])[index] if np.ndim(x[tensor]) else np.asarray(x[tensor])
                rv = np.asarray(r[tensor])[index] if np.ndim(r[tensor]) else np.asarray(r[tensor])
                worst_failure = Failure(mode, step, tensor, name, tuple(int(v) for v in index) or None,
                                        float(xv), float(rv), err, bound)
    return worst_ratio, worst_failure


# ------------------------------------------------------------------------------------- oracle runs

def _oracle(case: Case, dtype: str, params, *, states=None, moments=None, hyper=None) -> OracleRun:
    from .._backend import namespace
    return OracleRun(case.algorithm, case.hyper if hyper is None else hyper, [p.astype(dtype) for p in params],
                     namespace("numpy"), states=states, moments=moments)


def _rounded_hyper(case: Case, dtype: str) -> dict[str, Any] | None:
    """The case's resolved hyperparameters with every float rounded to ``dtype`` (``None`` for
    float64 runs, whose constants are exact).

    Step-wise sensitivity run: the float64 oracle with these constants, its result rounded to the
    run's dtype, is what a correct port with exact products and fused multiply-adds computes (XLA:CPU
    always contracts ``a·b + c``).  Under cancellation its error — the unavoidable ``float32(λ) − λ``
    part — can exceed the float32 oracle's at an element where the oracle's own extra rounding happens
    to cancel it, so the step-wise bound takes the larger of the two."""
    if dtype == "float64":
        return None
    hp = OPTIMIZERS[case.algorithm].hyper(**case.hyper)
    cast = np.dtype(dtype).type

    def rounded(v: Any) -> Any:
        if isinstance(v, float):
            return float(cast(v))
        if isinstance(v, tuple) and v and all(isinstance(x, float) for x in v):
            return tuple(float(cast(x)) for x in v)
        return v
    out = {f.name: rounded(getattr(hp, f.name)) for f in dataclasses.fields(hp) if f.init}
    try:
        OPTIMIZERS[case.algorithm].hyper(**out)
    except (ValueError, TypeError):     # a constant at a validated edge: no such run
        return None
    return out


def _exact_product_step(case: Case, hyper_low: Mapping[str, Any], start: tuple[list, list], g64: list,
                        dtype: str) -> tuple[list, list]:
    """One step of the exact-product port model (`_rounded_hyper`) from ``start`` (params, states
    in ``dtype``), its result rounded to ``dtype``."""
    exact = _oracle(case, "float64", start[0], states=_cast_states(start[1], "float64"), hyper=hyper_low)
    exact.step(g64)
    params, states = exact.export()
    return [np.asarray(p).astype(dtype) for p in params], _cast_states(states, dtype)


def _raise_to(errors: dict, more: Mapping) -> None:
    """``errors[key] = max(errors[key], more[key])`` for every key of ``more``."""
    for key, e in more.items():
        errors[key] = max(errors.get(key, 0.0), e)


def _cast_states(states: Sequence[Mapping[str, Any]], dtype: str) -> list[dict[str, Any]]:
    return [{k: (v.astype(dtype) if isinstance(v, np.ndarray) else v) for k, v in s.items()} for s in states]


def _moments_for(case: Case, params) -> dict[str, Any]:
    moments = dict(case.moments)
    if "data" in (moments.get("v0"), moments.get("m0")):
        moments["grad_stats"] = grad_stats_for(case, params)
    return moments


def run_case(port: Any, case: Case, tolerance: Tolerance | None = None) -> CaseResult:
    """Run one case against one port; never raises for a port's misbehaviour (it is reported)."""
    import time
    t0 = time.perf_counter()
    alg = OPTIMIZERS[case.algorithm]
    tol = (tolerance or DEFAULT_TOLERANCE).updated(alg.tolerance)
    result = CaseResult(case, port.name, passed=True)
    try:
        _run(port, case, tol, result)
    except Exception as exc:  # a crashing port is a failing port
        result.passed = False
        result.failure = Failure("error", -1, -1, "", message=f"{type(exc).__name__}: {exc}")
    result.seconds = time.perf_counter() - t0
    return result


def _fail(result: CaseResult, failure: Failure | None) -> bool:
    if failure is not None and result.failure is None:
        result.passed, result.failure = False, failure
    return failure is not None


def _run(port: Any, case: Case, tol: Tolerance, result: CaseResult) -> None:
    if OPTIMIZERS[case.algorithm].kind == "whole_vector":
        return _run_whole_vector(port, case, tol, result)
    dtype, low = case.dtype, _low_dtype(case.dtype)
    cmp, cmp_low = _Compare(dtype), _Compare(low)
    params = initial_params(case)                        # already rounded to dtype
    moments = _moments_for(case, params)
    grads = gradient_stream(case)

    oracle64 = _oracle(case, "float64", params, moments=moments)
    start64 = oracle64.export()
    hyper_low = _rounded_hyper(case, dtype)
    start_d = (params, _cast_states(start64[1], dtype))
    oracle_low = _oracle(case, low, params, states=_cast_states(start64[1], low))

    # 1. init: the port resolves the moment keywords itself
    init_bound = lambda name, i: tol.step_ulps  # noqa: E731
    own = port.open(case.algorithm, case.hyper, params, moments=moments).export()
    _, failure = _compare_all(cmp, own, start_d, start_d, init_bound, 0, "init")
    if _fail(result, failure):
        return

    # 2. step-wise with re-sync, 3. free-running
    free = port.open(case.algorithm, case.hyper, params, states=start_d[1])
    previous64 = start64
    exact_state = start_d
    magnitudes = _running_max(None, start64, start64)
    for t, g in enumerate(grads, start=1):
        g64 = [x.astype(np.float64) for x in g]
        # step-wise: both start from the float64 oracle's state rounded to dtype
        resync = (_cast_list(previous64[0], dtype), _cast_states(previous64[1], dtype))
        one = port.open(case.algorithm, case.hyper, resync[0], states=resync[1])
        one.step(g)
        oracle64.step(g64)
        ref = oracle64.export()
        if dtype == "float64":          # the re-synced start is the oracle's own state: same step
            ref_one = ref
        else:
            ref_one = _oracle(case, "float64", resync[0], states=_cast_states(resync[1], "float64"))
            ref_one.step(g64)
            ref_one = ref_one.export()
        low_one = _oracle(case, low, _cast_list(resync[0], low), states=_cast_states(resync[1], low))
        low_one.step([x.astype(low) for x in g])
        own = _free_errors(cmp_low, low_one.export(), ref_one, resync, None)
        if hyper_low is not None:       # a port with exact products and dtype-rounded constants
            rounded = _exact_product_step(case, hyper_low, resync, g64, dtype)
            _raise_to(own, _free_errors(cmp, rounded, ref_one, resync, None))
        bound_fn = lambda name, i: tol.step_ulps + tol.k * own.get((name, i), 0.0)  # noqa: E731
        ratio, failure = _compare_all(cmp, one.export(), ref_one, resync, bound_fn, t, "step-wise")
        result.stepwise_ratio = max(result.stepwise_ratio, ratio)
        if _fail(result, failure):
            return

        oracle_low.step([x.astype(low) for x in g])
        free.step(g)
        magnitudes = _running_max(magnitudes, ref, start64)
        own_err = _free_errors(cmp_low, oracle_low.export(), ref, start64, magnitudes)
        if hyper_low is not None:       # the exact-product port model, free-running in the run's dtype
            exact_state = _exact_product_step(case, hyper_low, exact_state, g64, dtype)
            _raise_to(own_err, _free_errors(cmp, exact_state, ref, start64, magnitudes))
        floor = tol.floor * math.sqrt(t)
        bound_fn = lambda name, i: tol.k * own_err.get((name, i), 0.0) + floor  # noqa: E731
        ratio, failure = _compare_all(cmp, free.export(), ref, start64, bound_fn, t, "free-running", magnitudes)
        result.free_ratio = max(result.free_ratio, ratio)
        if _fail(result, failure):
            return
        previous64 = ref


def _low_dtype(dtype: str) -> str:
    """The dtype whose oracle run measures the algorithm's own sensitivity: the run's dtype, or
    float32 for float64 runs (the oracle in float64 *is* the reference, with no error of its own;
    its float32 error, in float32 ulps, says how much rounding the algorithm amplifies)."""
    return "float32" if dtype == "float64" else dtype


def _cast_list(arrays: Sequence[np.ndarray], dtype: str) -> list[np.ndarray]:
    return [a.astype(dtype) for a in arrays]


def _running_max(previous: dict[str, list[Any]] | None, ref, start) -> dict[str, list[Any]]:
    """Per field and tensor, the largest |value| the float64 oracle has had so far."""
    out: dict[str, list[Any]] = {}
    for name, _, r, _ in _groups(ref, ref, start):
        now = [None if v is None else np.abs(np.asarray(v, dtype=np.float64)) for v in r]
        if previous is not None:
            now = [a if a is None or b is None else np.maximum(a, b) for a, b in zip(now, previous[name])]
        out[name] = now
    return out


def _free_errors(cmp: _Compare, low, ref, start, magnitudes) -> dict[tuple[str, int], float]:
    """The low-precision oracle's own error per (field, tensor), in ulps of its dtype."""
    out: dict[tuple[str, int], float] = {}
    for name, x, r, s in _groups(low, ref, start):
        mag = None if magnitudes is None else magnitudes[name]
        for i, e in cmp.per_tensor_max(x, r, s, mag).items():
            out[(name, i)] = e
    return out


# ------------------------------------------------------------------------------ whole-vector runs

class _Jittered:
    """An objective whose losses and derivatives are moved by up to ``ulps`` ulps of their dtype
    (seeded, per element): a model of the same math summed in another order."""

    _JITTERED = ("loss", "grad", "value_and_grad", "hvp", "gnvp", "fisher_diag")

    def __init__(self, objective: Any, seed: int, ulps: float = 2.0):
        self._objective, self._rng, self._ulps = objective, np.random.default_rng(seed), ulps

    def _jitter(self, value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            return type(value)(self._jitter(v) for v in value)
        a = np.asarray(value)
        if not np.issubdtype(a.dtype, np.floating):
            return value
        u = self._rng.uniform(-self._ulps, self._ulps, size=a.shape)
        return (a * (1 + np.finfo(a.dtype).eps * u)).astype(a.dtype)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._objective, name)
        if name not in self._JITTERED:
            return attr
        return lambda *args, **kwargs: self._jitter(attr(*args, **kwargs))


def _loss_export(objective: Any, export) -> tuple[list[np.ndarray], list]:
    """The loss at an export's parameters, evaluated in float64, as a one-tensor export."""
    params = [np.asarray(p, dtype=np.float64) for p in export[0]]
    return [np.asarray(float(objective.loss(params)))], []


def _run_whole_vector(port: Any, case: Case, tol: Tolerance, result: CaseResult) -> None:
    from .._backend import namespace
    from .cases import with_objective
    case = with_objective(case)
    dtype, low = case.dtype, _low_dtype(case.dtype)
    cmp, cmp_low = _Compare(dtype), _Compare(low)
    objective = case.make_objective()
    params = initial_params(case)
    moments = _moments_for(case, params)
    xp = namespace("numpy")
    oracle64 = OracleRun(case.algorithm, case.hyper, [p.astype(np.float64) for p in params], xp,
                         moments=moments, objective=objective)
    oracle_low = OracleRun(case.algorithm, case.hyper, [p.astype(low) for p in params], xp,
                           moments=moments, objective=objective)
    nudged = [np.nextafter(p, np.asarray(np.inf, dtype=p.dtype)) for p in params]   # one ulp up
    oracle_nudged = OracleRun(case.algorithm, case.hyper, nudged, xp, moments=moments,
                              objective=_Jittered(objective, case.seed))
    start64 = oracle64.export()
    start_loss = _loss_export(objective, start64)

    run = port.open(case.algorithm, case.hyper, params, moments=moments, objective=objective)
    own = run.export()
    init_bound = lambda name, i: tol.step_ulps  # noqa: E731
    _, failure = _compare_all(cmp, (own[0], []), (params, []), (params, []), init_bound, 0, "init")
    if _fail(result, failure):
        return

    mags = [np.abs(np.asarray(p, dtype=np.float64)) for p in start64[0]]
    loss_mag = [np.abs(start_loss[0][0])]
    for t in range(1, case.steps + 1):
        oracle64.step(None)
        oracle_low.step(None)
        oracle_nudged.step(None)
        run.step(None)
        ref, low_x, port_x = oracle64.export(), oracle_low.export(), run.export()
        nudged_x = oracle_nudged.export()
        mags = [np.maximum(m, np.abs(np.asarray(r, dtype=np.float64))) for m, r in zip(mags, ref[0])]
        floor = tol.floor * math.sqrt(t)
        for field, conv in (("param", lambda e: (list(e[0]), [])), ("loss", lambda e: _loss_export(objective, e))):
            r, lo, px, nu = conv(ref), conv(low_x), conv(port_x), conv(nudged_x)
            start = (start64[0], []) if field == "param" else start_loss
            if field == "loss":
                loss_mag = [np.maximum(loss_mag[0], np.abs(r[0][0]))]
            magnitude = {"param": mags if field == "param" else loss_mag}
            own_err = cmp_low.per_tensor_max(lo[0], r[0], start[0], magnitude["param"])
            for i, e in cmp.per_tensor_max(nu[0], r[0], start[0], magnitude["param"]).items():
                own_err[i] = max(own_err.get(i, 0.0), e)
            bound_fn = lambda name, i: tol.k * own_err.get(i, 0.0) + floor  # noqa: E731
            ratio, failure = _compare_all(cmp, px, r, start, bound_fn, t, "free-running", magnitude)
            if failure is not None:
                failure.field = field
            result.free_ratio = max(result.free_ratio, ratio)
            if _fail(result, failure):
                return
