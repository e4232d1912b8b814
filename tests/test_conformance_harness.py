"""The harness must flag every broken port and pass every correct one (no false alarms).

The broken ports wrap the oracle and break it the way real ports break (ALGORITHMS §4 lists the
parity bugs users file); each must be caught, in float32 and float64 where the bug exists there.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from v0ref import OPTIMIZERS, conformance
from v0ref.backends import get_port
from v0ref.backends.numpy import OracleRun
from v0ref.conformance import Case, run_case

# ----------------------------------------------------------------------------- broken ports


class _Run(OracleRun):
    def __init__(self, update: Callable | None, *args: Any, **kw: Any):
        super().__init__(*args, **kw)
        self._update = update

    def step(self, grads):
        if self._update is None:
            return super().step(grads)
        for i, g in enumerate(grads):
            self.params[i], self.states[i] = self._update(self.algorithm, self.params[i], np.asarray(g),
                                                          self.states[i], self.hyper)


@dataclass
class BrokenPort:
    name: str
    algorithm: str
    update: Callable | None = None                       # (alg, p, g, state, hp) -> (p, state)
    on_open: Callable | None = None                      # (states, moments) -> (states, moments)
    hyper: Callable | None = None                        # case hyper -> hyper actually used
    dtypes: tuple[str, ...] = ("float32", "float64")

    def supports(self, algorithm):
        return algorithm == self.algorithm

    def optimizer(self, *a, **k):  # pragma: no cover
        raise NotImplementedError

    def open(self, algorithm, hyper, params, *, states=None, moments=None):
        import array_api_compat.numpy as xp
        if self.on_open is not None:
            states, moments = self.on_open(states, dict(moments or {}))
        if self.hyper is not None:
            hyper = self.hyper(dict(hyper))
        return _Run(self.update, algorithm, hyper, params, xp, states=states, moments=moments)


def _with_hp(**changes):
    return lambda alg, p, g, s, hp: alg.update(p, g, s, hp.replace(**{k: v(hp) for k, v in changes.items()}))


def _off_by_one(alg, p, g, s, hp):
    p, new = alg.update(p, g, s._replace(step=s.step + 1), hp)
    return p, new._replace(step=new.step - 1)


def _float32_state(alg, p, g, s, hp):
    p, new = alg.update(p, g, s, hp)
    cast = {k: v.astype(np.float32).astype(v.dtype) for k, v in new._asdict().items() if isinstance(v, np.ndarray)}
    return p, new._replace(**cast)


def _skip_zero_grad(alg, p, g, s, hp):
    return (p, s) if not np.any(g) else alg.update(p, g, s, hp)


def _drift(alg, p, g, s, hp):
    p, new = alg.update(p, g, s, hp)
    return np.nextafter(p, np.inf), new


def _ignore_v0(states, moments):
    moments.pop("v0", None)
    if states is not None:
        states = [{**s, "v": np.zeros_like(s["v"]),
                   "v_max": None if s.get("v_max") is None else np.zeros_like(s["v_max"])} for s in states]
    return states, moments


def _v0_on_1d(states, moments):
    if "v0" in moments:
        moments["v0_min_ndim"] = 0
    return states, moments


BROKEN = [
    BrokenPort("eps-inside-sqrt", "adam", _with_hp(eps=lambda hp: 0.0, eps_root=lambda hp: hp.eps)),
    BrokenPort("no-bias-correction", "adam", _with_hp(bias_correction=lambda hp: "none")),
    BrokenPort("off-by-one-step", "adam", _off_by_one),
    BrokenPort("betas-swapped", "adam", _with_hp(betas=lambda hp: hp.betas[::-1])),
    BrokenPort("v0-ignored", "adam", on_open=_ignore_v0),
    BrokenPort("v0-on-1d-params", "adam", on_open=_v0_on_1d),
    BrokenPort("float32-state-in-float64", "adam", _float32_state, dtypes=("float64",)),
    BrokenPort("amsgrad-max-after-correction", "amsgrad",
               _with_hp(convention=lambda hp: "optax" if hp.convention == "torch" else hp.convention)),
    BrokenPort("coupled-not-decoupled-decay", "adamw", _with_hp(decoupled_weight_decay=lambda hp: False)),
    BrokenPort("zero-grad-skips-state", "adam", _skip_zero_grad),
    BrokenPort("one-ulp-drift-per-step", "adam", _drift),
    BrokenPort("nadam-without-schedule", "nadam", _with_hp(momentum_decay=lambda hp: 0.0)),
]
if "sgd" in OPTIMIZERS and "dampening" in OPTIMIZERS["sgd"].defaults():
    BROKEN.append(BrokenPort("momentum-dampening-dropped", "sgd", _with_hp(dampening=lambda hp: 0.0)))


@pytest.mark.parametrize("port", BROKEN, ids=lambda p: p.name)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_every_broken_port_is_flagged(port, dtype):
    if dtype not in port.dtypes:
        pytest.skip(f"{port.name} is a {port.dtypes} bug")
    steps = 200 if "drift" in port.name else 24
    report = conformance.run(ports=[port], algorithms=[port.algorithm], dtypes=[dtype], steps=steps)
    failed = [r for r in report.results if not r.passed]
    assert failed, f"{port.name} passed every case in {dtype}"
    f = failed[0].failure
    assert f is not None and f.describe()                       # the report names step, tensor and numbers
    if f.mode != "error":
        assert f.step >= 0 and f.tensor >= 0 and f.field


def test_failure_report_names_the_first_failing_step_and_tensor():
    port = BrokenPort("betas-swapped", "adam", _with_hp(betas=lambda hp: hp.betas[::-1]))
    result = run_case(port, Case("adam", {}, {}, "float64", steps=8, seed=1))
    assert not result.passed
    f = result.failure
    # Adam's first step is the same with swapped betas (m̂_1 = g_1, v̂_1 = g_1²): only the state
    # comparison can see the bug at step 1.
    assert (f.mode, f.step) == ("step-wise", 1) and f.field in ("m", "v")
    assert f.error > f.bound and f.port_value != f.oracle_value
    assert "step-wise, step 1, tensor" in f.describe() and "ulps > bound" in f.describe()


# ----------------------------------------------------------------------------- correct ports


def _reordered(hyper):
    """Adam in another framework's order of operations: the same math, other roundings."""
    return {**hyper, "convention": "optax"}


def _reorder_ok(name, hyper):
    hp = OPTIMIZERS[name].hyper(**hyper)
    return (name in ("adam", "adamw") and hp.convention == "torch" and not hp.amsgrad
            and not hp.decoupled_weight_decay and hp.bias_correction == "standard" and not hp.maximize)


REORDERED = BrokenPort("reordered-adam", "adam", hyper=_reordered)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_no_false_alarms(data):
    """Correct ports — the oracle on numpy and array_api_strict, and Adam computed in optax's order
    of operations for torch-convention cases — pass hypothesis-drawn cases in both dtypes."""
    name = data.draw(st.sampled_from(list(OPTIMIZERS)))
    hyper = data.draw(st.sampled_from(OPTIMIZERS[name].cases))
    moments = data.draw(st.sampled_from(list(conformance.cases._variants(name, 3))))
    dtype = data.draw(st.sampled_from(["float32", "float64"]))
    case = Case(name, hyper, moments, dtype, steps=data.draw(st.integers(4, 40)),
                seed=data.draw(st.integers(0, 2**31)))
    ports = [get_port("numpy"), get_port("array_api_strict")]
    if _reorder_ok(name, hyper) and name == "adam":
        ports.append(REORDERED)
    for port in ports:
        result = run_case(port, case)
        assert result.passed, f"{port.name}: {result.failure.describe()}"


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_reordered_port_passes_the_defaults_long_run(dtype):
    result = run_case(REORDERED, Case("adam", {}, {"v0": "random-chi2", "key": 1}, dtype, steps=200, seed=5))
    assert result.passed, result.failure.describe()
    assert result.stepwise_ratio > 0   # it really does round differently


def test_full_matrix_on_the_numpy_port_passes():
    report = conformance.run(ports=["numpy"], steps=24)
    assert report.passed, [r.failure.describe() for r in report.results if not r.passed][:3]
    assert {row["algorithm"] for row in report.rows()} == set(OPTIMIZERS)
    js = report.to_json()
    assert js["passed"] and len(js["cases"]) == len(report.results)


# ----------------------------------------------------------------------------- a third-party port

def test_third_party_port_is_discovered_after_pip_install(tmp_path):
    """A port in its own package registers through the entry point and `v0ref conform` checks it."""
    package = Path(__file__).parent / "thirdparty_port"
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--no-index", "--target", str(target), str(package)], check=True, capture_output=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(target), os.environ.get("PYTHONPATH", "")])}
    report = tmp_path / "report.json"
    out = subprocess.run([sys.executable, "-m", "v0ref.cli", "conform", "--port", "thirdparty",
                          "--steps", "12", "--json", str(report)], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    import json
    js = json.loads(report.read_text())
    ran = [c for c in js["cases"] if not c["skipped"]]
    assert ran and all(c["port"] == "thirdparty" and c["passed"] for c in ran)
    assert any(c["skipped"] for c in js["cases"])               # optax/paper conventions declared unsupported
    listed = subprocess.run([sys.executable, "-m", "v0ref.cli", "list", "--json"], env=env,
                            capture_output=True, text=True, check=True).stdout
    assert "thirdparty" in json.loads(listed)["ports"]
