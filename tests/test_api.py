"""The public face: v0ref.use, v0ref.optimizer (NumPy port), the CLI, and import hygiene."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import v0ref
from v0ref.cli import main


def test_use_as_function_and_context_manager():
    assert v0ref.get_backend() == "numpy"
    with v0ref.use("array_api_strict"):
        assert v0ref.get_backend() == "array_api_strict"
        with v0ref.use("numpy"):
            assert v0ref.get_backend() == "numpy"
        assert v0ref.get_backend() == "array_api_strict"
    assert v0ref.get_backend() == "numpy"
    v0ref.use("array_api_strict")
    try:
        assert v0ref.namespace().__name__ == "array_api_strict"
    finally:
        v0ref.use("numpy")


def test_use_unknown_backend_lists_valid_ones():
    with pytest.raises(ValueError, match=r"unknown backend 'tensorflow'; valid backends: numpy, array_api_strict, torch, jax, cupy"):
        v0ref.use("tensorflow")
    assert v0ref.get_backend() == "numpy"


def test_optimizer_runs_the_oracle():
    rng = np.random.default_rng(0)
    params = [rng.standard_normal((4, 3)), rng.standard_normal(3)]
    grads = [[rng.standard_normal(p.shape) for p in params] for _ in range(5)]
    opt = v0ref.optimizer("adamw", params, lr=0.01, v0="random-chi2", v0_scale=2.0, key=7)
    v0 = v0ref.moments.random_chi2(params, scale=2.0, key=v0ref.random.key(7))
    alg = v0ref.OPTIMIZERS["adamw"]
    hp = alg.hyper(lr=0.01)
    states = [alg.init(p, hp, v0=v) for p, v in zip(params, v0)]
    ref = list(params)
    out = list(params)
    for g in grads:
        out = opt.step(out, g)
        for i in range(2):
            ref[i], states[i] = alg.update(ref[i], g[i], states[i], hp)
    for a, b in zip(out, ref):
        np.testing.assert_array_equal(a, b)
    assert opt.states[0].step == 5 and opt.hyper == hp


def test_optimizer_on_array_api_strict():
    strict = pytest.importorskip("array_api_strict")
    with v0ref.use("array_api_strict"):
        params = [strict.ones((2, 2), dtype=strict.float32)]
        opt = v0ref.optimizer("radam", params, m0="constant", m0_scale=0.1)
        new = opt.step(params, [strict.ones((2, 2), dtype=strict.float32)])
    assert new[0].dtype == strict.float32 and type(new[0]) is type(params[0])


def test_optimizer_state_dict_round_trip_and_set_hyper():
    params = [np.ones(3)]
    opt = v0ref.optimizer("amsgrad", params, v0=0.1)
    params = opt.step(params, [np.ones(3)])
    sd = opt.state_dict()
    assert sd["algorithm"] == "amsgrad" and sd["state"][0]["step"] == 1
    other = v0ref.optimizer("amsgrad", [np.ones(3)])
    other.load_state_dict(sd)
    opt.set_hyper(lr=0.5)
    other.set_hyper(lr=0.5)
    np.testing.assert_array_equal(opt.step(params, [np.ones(3)])[0], other.step(params, [np.ones(3)])[0])
    with pytest.raises(ValueError, match="state_dict is for 'amsgrad', not 'adam'"):
        v0ref.optimizer("adam", [np.ones(3)]).load_state_dict(sd)
    with pytest.raises(ValueError, match="lr must be a finite number >= 0; got -1"):
        opt.set_hyper(lr=-1)


def test_optimizer_errors():
    with pytest.raises(TypeError, match=r"adam: unknown hyperparameter\(s\) beta1"):
        v0ref.optimizer("adam", [np.ones(2)], beta1=0.9)
    with pytest.raises(KeyError, match="unknown algorithm 'adan'"):
        v0ref.optimizer("adan", [np.ones(2)])
    opt = v0ref.optimizer("adam", [np.ones(2)])
    with pytest.raises(ValueError, match="expected 1 params and grads; got 1 and 2"):
        opt.step([np.ones(2)], [np.ones(2), np.ones(2)])


@pytest.mark.torch
def test_optimizer_without_a_port_says_so(monkeypatch):
    pytest.importorskip("torch")
    import v0ref.backends as ports
    monkeypatch.setattr(ports, "_installed", lambda name: name == "numpy")   # as if the torch port were absent
    with v0ref.use("torch"):
        with pytest.raises(LookupError, match=r"no optimizer port for backend 'torch' is installed; available ports: .*numpy"):
            v0ref.optimizer("adam", [])


def test_use_dispatches_to_each_frameworks_own_optimizer():
    torch = pytest.importorskip("torch")
    optax = pytest.importorskip("optax")
    with v0ref.use("torch"):
        opt = v0ref.optimizer("adam", [torch.nn.Parameter(torch.zeros(2, 2))], lr=1e-3, v0="random-chi2", key=0)
    assert isinstance(opt, torch.optim.Optimizer) and float(opt.state_dict()["state"][0]["exp_avg_sq"].sum()) > 0
    with v0ref.use("jax"):
        tx = v0ref.optimizer("adam", learning_rate=1e-3)
    assert isinstance(tx, optax.GradientTransformation)


def test_import_loads_no_framework():
    code = ("import sys, v0ref; v0ref.OPTIMIZERS['adam']; v0ref.moments.STRATEGIES; v0ref.INITS; v0ref.SCHEDULES;"
            "bad = [m for m in ('torch', 'jax', 'cupy', 'optax') if m in sys.modules]; print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_cli_list_json(capsys):
    assert main(["list", "--json"]) == 0
    inv = json.loads(capsys.readouterr().out)
    assert [a["name"] for a in inv["algorithms"]] == list(v0ref.OPTIMIZERS)
    assert [s["name"] for s in inv["strategies"]] == list(v0ref.STRATEGIES)
    assert "numpy" in inv["ports"] and "torch" in inv["backends"]
    assert [i["name"] for i in inv["initializers"]] == list(v0ref.INITS) and "orthogonal" in v0ref.INITS
    assert [s["name"] for s in inv["schedules"]] == list(v0ref.SCHEDULES) and "one_cycle" in v0ref.SCHEDULES
    adam = next(a for a in inv["algorithms"] if a["name"] == "adam")
    assert adam["v0"] == ["v", "v_max"] and adam["defaults"]["lr"] == 1e-3


def test_cli_list_tables():
    out = subprocess.run([sys.executable, "-m", "v0ref.cli", "list"], capture_output=True, text=True,
                         check=True, env={**os.environ, "COLUMNS": "200"}).stdout
    for name in list(v0ref.OPTIMIZERS) + ["random-chi2", "grad-mean-var", "glorot_normal", "inverse_sqrt"]:
        assert name in out


def test_ci_runs_exactly_the_readme_commands():
    """`.ci/run` must run the README's install line and test command verbatim."""
    from pathlib import Path
    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text().splitlines()
    install, test = readme[3], readme[4]
    assert install.startswith("python3 -m venv") and "torch==2.13.0" in install and install.endswith("v0ref conform")
    ci = (root / ".ci" / "run").read_text().splitlines()
    assert install in ci and test in ci


def test_cli_conform_exit_codes_and_json(tmp_path, capsys):
    path = tmp_path / "r.json"
    assert main(["conform", "--port", "numpy", "--algorithm", "adamax", "--dtype", "float32", "--steps", "6",
                 "--json", str(path)]) == 0
    report = json.loads(path.read_text())
    assert report["passed"] and report["summary"][0]["algorithm"] == "adamax"
    assert all(c["spec"]["steps"] == 6 for c in report["cases"])
    assert "all conform" in capsys.readouterr().out
    assert main(["conform", "--port", "nope"]) == 2
    assert "no optimizer port for backend 'nope'" in capsys.readouterr().err
    assert main(["conform", "--algorithm", "adamm"]) == 2


def test_cli_show(capsys):
    assert main(["show", "radam"]) == 0
    out = capsys.readouterr().out
    assert "ρ_t" in out and "threshold" in out and "torch.optim.RAdam" in out
    assert main(["show", "nope"]) == 2
