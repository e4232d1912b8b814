"""The digits experiments (paper Table 1 and Table 6 analogues) in their ``--quick`` form.

Each quick run must hold all its exact claims (finite runs, torch.optim anchors, the Eq. 10 state,
the σ-linearity of the state).  The independent checks below do not go through the experiments'
own code paths: the random v0's distribution against the code's formula, the step schedule, the
warmup-length formula of the scale rule against the NGOS expectation iterated step by step, and
the JSON's table against its own list of runs.
"""

from __future__ import annotations

import json
import math

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")

from experiments import _digits as D  # noqa: E402
from experiments import digits_sigma, digits_table  # noqa: E402


def test_digits_table_quick(tmp_path):
    result = digits_table.run(quick=True, out=tmp_path, seed=0, plot=True)
    assert result.failed == [], [(c.name, c.detail) for c in result.failed]
    names = {c.name for c in result.claims}
    assert {"every run finite", "v0 = 0 reproduces torch.optim", "v0,data equals the Eq. 10 statistic"} <= names
    assert (tmp_path / "digits_table.png").stat().st_size > 0
    # the JSON's table is the mean ± sample std of its own runs; accuracies are k/360
    payload = json.loads((tmp_path / "digits_table.json").read_text())
    runs = payload["numbers"]["runs"]
    assert len(runs) == 2 * 3                                   # SGDM, Adam × 3 variants × 1 seed
    for run in runs:
        cell = payload["numbers"]["table"][run["optimizer"]][run["variant"]]
        assert cell["accs"] == [run["accuracy"]] and cell["mean"] == run["accuracy"] and cell["std"] == 0.0
        assert abs(run["accuracy"] * 3.6 - round(run["accuracy"] * 3.6)) < 1e-9


def test_digits_sigma_quick(tmp_path):
    result = digits_sigma.run(quick=True, out=tmp_path, seed=0, plot=True)
    assert result.failed == [], [(c.name, c.detail) for c in result.failed]
    assert (tmp_path / "digits_sigma.png").stat().st_size > 0
    numbers = result.numbers
    assert set(numbers["table"]["rnd"]) == {"0.001", "100"}
    assert numbers["linearity"]["data"] <= digits_sigma.STATE_RTOL


def test_random_v0_follows_the_code_formula():
    # the code's `random`: v0 = s·X², X ~ N(0, 2/(fan_in+fan_out)) on ≥ 2-D tensors, 0 on biases
    model = D.make_model(3)
    opt = D.make_optimizer("Adam", "rnd", model, seed=3, sigma=2.0)
    fc = model[6]                                               # Linear(512, 32): fan_in 512, fan_out 32
    v0 = opt.state[fc.weight]["exp_avg_sq"].double()
    expected_mean = 2.0 * 2.0 / (512 + 32)
    # mean of 16 384 χ²₁ draws: relative std sqrt(2/16384) ≈ 1.1 %; 5 % is > 4 std
    assert abs(float(v0.mean()) / expected_mean - 1.0) < 0.05
    assert float(v0.min()) >= 0.0
    assert torch.count_nonzero(opt.state[fc.bias]["exp_avg_sq"]) == 0


def test_step_schedule():
    # lr × 0.2 at 30 %, 60 %, 80 % of 20 epochs: epochs 6, 12, 16
    factors = [D.lr_factor(e, 20) for e in range(20)]
    assert factors[:6] == [1.0] * 6
    assert factors[6:12] == [pytest.approx(0.2)] * 6
    assert factors[12:16] == [pytest.approx(0.04)] * 4
    assert factors[16:] == [pytest.approx(0.008)] * 4


@pytest.mark.parametrize("sigma_rho", [0.04, 1.0, 128.0])
def test_warmup_end_matches_the_iterated_expectation(sigma_rho):
    # E[v_t] = β2 E[v_{t-1}] + (1-β2) s with v_0 = σρ·s; the v0 term of E[v̂_t] reaches s when E[v̂_t] = 2s
    beta2, s = 0.999, 1.0
    v, t = sigma_rho * s, 0
    while True:
        t += 1
        v = beta2 * v + (1 - beta2) * s
        if v / (1 - beta2 ** t) <= 2 * s:
            break
    t_w = D.warmup_end(sigma_rho, beta2)
    assert t - 1 <= t_w <= t
    assert math.isclose(D.warmup_end(128.0), 4857.38, rel_tol=1e-5)


def test_longest_run():
    assert digits_sigma.longest_run([False, True, True, False, True, True, True, False]) == (3, 4)
    assert digits_sigma.longest_run([False, False]) == (0, 0)
