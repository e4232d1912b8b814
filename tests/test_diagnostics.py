"""v0ref.diagnostics: first-step report and Eq. 12 against the oracle, update tracking, NGOS drift
(closed form and Monte Carlo), the interpolation barrier (Eq. 22) and filter-normalized slices."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import v0ref
from v0ref import diagnostics as D
from v0ref import random as R
from v0ref.objectives import OBJECTIVES

from .conftest import to_numpy

ADAM = v0ref.OPTIMIZERS["adam"]
MODES = ("standard", "none", "eps_hat")


def _adam_first_step(g, v0, m0=None, **hyper):
    """One oracle Adam step from θ0 = 0, so the new parameter is Δθ_1 with no cancellation."""
    hp = ADAM.hyper(**hyper)
    theta = np.zeros_like(g)
    after, _ = ADAM.update(theta, g, ADAM.init(theta, hp, v0=v0, m0=m0), hp)
    return after


# ------------------------------------------------------------------------------ Eq. 12 vs oracle

@settings(max_examples=25, deadline=None)
@given(shape=st.lists(st.integers(1, 4), min_size=0, max_size=3), seed=st.integers(0, 2**32 - 1),
       beta1=st.floats(0.0, 0.999), beta2=st.floats(0.0, 0.9999), eps=st.sampled_from([0.0, 1e-8, 1e-3]),
       log_v0=st.one_of(st.none(), st.floats(-10, 2)), log_g=st.floats(-6, 2),
       mode=st.sampled_from(MODES), with_m0=st.booleans(), eps_root=st.sampled_from([0.0, 1e-10]))
def test_eq12_equals_one_oracle_step(shape, seed, beta1, beta2, eps, log_v0, log_g, mode, with_m0, eps_root):
    rng = np.random.default_rng(seed)
    shape = tuple(shape)
    g = rng.standard_normal(shape) * 10.0 ** log_g
    g = np.where(np.abs(g) < 1e-300, 1.0, g) if eps == 0.0 else g      # eps = 0 and g = 0 is 0/0
    v0 = np.zeros(shape) if log_v0 is None else 10.0 ** log_v0 * rng.chisquare(1, shape)
    m0 = rng.standard_normal(shape) * 10.0 ** log_g if with_m0 else None
    hyper = dict(lr=1e-3, betas=(beta1, beta2), eps=eps, bias_correction=mode, eps_root=eps_root)
    expected = _adam_first_step(g, v0, m0, **hyper)
    got = D.eq12_first_step(g, v0, lr=1e-3, beta1=beta1, beta2=beta2, eps=eps, bias_correction=mode,
                            eps_root=eps_root, m0=m0)
    assert np.shape(got) == shape and np.asarray(got).dtype == np.float64     # 0-d numpy: a numpy scalar
    np.testing.assert_allclose(got, expected, rtol=1e-13, atol=0)


def test_eq12_modes_differ_and_v0_zero_is_sign_descent():
    g = np.array([-2.0, 1e-3, 0.5, 7.0])
    sign = D.eq12_first_step(g, 0.0, lr=1e-3)
    np.testing.assert_allclose(sign, -1e-3 * g / (np.abs(g) + 1e-8), rtol=1e-15)    # ALGORITHMS §1.2
    steps = {m: D.eq12_first_step(g, 0.01, lr=1e-3, bias_correction=m) for m in MODES}
    assert not np.allclose(steps["standard"], steps["none"], rtol=1e-3)
    assert not np.allclose(steps["standard"], steps["eps_hat"], rtol=1e-12, atol=0)
    # v0 != 0: the step is proportional to g once β2/(1-β2)·v0 dominates g² (SGD-like)
    tiny = np.array([1e-6, 2e-6])
    small = D.eq12_first_step(tiny, 1.0, lr=1e-3)
    assert small[1] / small[0] == pytest.approx(2.0, rel=1e-9)


def test_eq12_keeps_namespace_and_dtype(xp):
    g = xp.asarray([0.5, -2.0], dtype=xp.float32)
    got = D.eq12_first_step(g, xp.asarray([0.01, 0.0], dtype=xp.float32), lr=1e-3, bias_correction="eps_hat")
    assert got.dtype == xp.float32 and type(got) is type(g)
    expected = D.eq12_first_step(np.array([0.5, -2.0]), np.array([0.01, 0.0]), lr=1e-3, bias_correction="eps_hat")
    np.testing.assert_allclose(to_numpy(got), expected, rtol=1e-6)


def test_eq12_reference_table_float64():
    """ALGORITHMS §1.3 table (lr = 1e-3, ε = 1e-8, g = 0.5), float64 to the printed digits."""
    for v0, b2, printed in ((0.0, 0.999, -9.99999931e-4), (0.01, 0.999, -1.5625e-4), (0.01, 0.98, -5.812382e-4)):
        got = float(D.eq12_first_step(np.array(0.5), v0, lr=1e-3, beta2=b2))
        exact = -1e-3 * 0.5 / (math.sqrt(b2 / (1 - b2) * v0 + 0.25) + 1e-8)
        assert got == pytest.approx(exact, rel=1e-15)
        assert got == pytest.approx(printed, rel=1e-7)     # the table's float32/printed precision


def test_eq12_reference_table_torch_float32():
    torch = pytest.importorskip("torch")
    p = torch.zeros(1, dtype=torch.float32, requires_grad=True)
    opt = torch.optim.Adam([p], lr=1e-3)
    p.grad = torch.full((1,), 0.5)
    opt.step()
    assert p.item() == np.float32(-9.99999931e-4)                      # the table's value is torch's
    got = D.eq12_first_step(torch.full((1,), 0.5), 0.0, lr=1e-3)
    assert isinstance(got, torch.Tensor) and got.dtype == torch.float32
    ulp = np.spacing(np.float32(1e-3))
    assert abs(got.item() - p.item()) <= 2 * ulp                       # other op order: ≤ 2 float32 ulps


def test_eq12_validation():
    with pytest.raises(ValueError, match="bias_correction must be one of"):
        D.eq12_first_step(np.ones(2), 0.0, lr=1e-3, bias_correction="fairseq")
    with pytest.raises(ValueError, match=r"beta2 must be in \[0, 1\)"):
        D.eq12_first_step(np.ones(2), 0.0, lr=1e-3, beta2=1.0)
    with pytest.raises(ValueError, match="lr must be a finite number >= 0"):
        D.eq12_first_step(np.ones(2), 0.0, lr=-1.0)


# ------------------------------------------------------------------------------ first-step report

def test_first_step_report_sign_descent_and_eq12(xp):
    rng = np.random.default_rng(0)
    g1 = rng.standard_normal((6, 5)) * 10.0 ** rng.uniform(-4, 1, (6, 5))
    g2 = np.array([0.0, 0.0, 1e-2, -3.0])                       # two exact zeros: zero gradient
    grads = [g1, g2]
    hp = ADAM.hyper(lr=1e-3)
    before = [xp.asarray(rng.standard_normal(g.shape)) for g in grads]

    def step(v0):
        return [ADAM.update(b, xp.asarray(g), ADAM.init(b, hp, v0=v0), hp)[0] for b, g in zip(before, grads)]

    rep = D.first_step_report(before, step(None), lr=1e-3, names=["w", "b"])
    assert rep.size == 34 and rep.zero_fraction == pytest.approx(2 / 34)
    assert rep.sign_fraction == pytest.approx(32 / 34)          # every non-zero gradient moves by ≈ lr
    assert [r["name"] for r in rep.per_tensor] == ["w", "b"] and rep.per_tensor[0]["shape"] == (6, 5)
    assert rep.per_tensor[1]["zero_fraction"] == 0.5 and rep.per_tensor[1]["sign_fraction"] == 0.5
    assert rep.max_abs == pytest.approx(1e-3, rel=1e-4)
    # v0 != 0: the sign fraction is the one Eq. 12 predicts
    v0 = 1e-4
    rep = D.first_step_report(before, step(v0), lr=1e-3, rtol=0.05)
    pred = np.concatenate([D.eq12_first_step(g, v0, lr=1e-3).ravel() for g in grads])
    n_sign = np.count_nonzero(np.abs(np.abs(pred) - 1e-3) <= 0.05e-3)
    assert rep.sign_fraction == pytest.approx(n_sign / pred.size, abs=1e-12)
    assert 0 < rep.sign_fraction < 0.6
    np.testing.assert_allclose(rep.l2, np.linalg.norm(pred), rtol=1e-6)   # Δθ read after a subtraction
    text = str(rep)
    assert "param0" in text and "param1" in text and "sign" in text
    d = rep.to_dict()
    assert d["per_tensor"][0]["shape"] == [6, 5] and d["size"] == 34


def test_first_step_report_torch_mapping():
    torch = pytest.importorskip("torch")
    model = torch.nn.Linear(4, 3)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    model(torch.randn(8, 4)).pow(2).mean().backward()
    opt.step()
    rep = D.first_step_report(before, dict(model.named_parameters()), lr=1e-2)
    assert [r["name"] for r in rep.per_tensor] == ["weight", "bias"]
    assert rep.sign_fraction == 1.0 and rep.size == 15


def test_first_step_report_validation():
    a = [np.zeros(3), np.zeros((2, 2))]
    with pytest.raises(ValueError, match="lr must be a finite number > 0"):
        D.first_step_report(a, a, lr=0.0)
    for rtol in (0.0, 1.0):
        with pytest.raises(ValueError, match=r"rtol must be in \(0, 1\)"):
            D.first_step_report(a, a, lr=1e-3, rtol=rtol)
    with pytest.raises(ValueError, match="before has 2 arrays but after has 1"):
        D.first_step_report(a, a[:1], lr=1e-3)
    with pytest.raises(ValueError, match=r"after\[1\] has shape \(4,\) but before\[1\] has shape \(2, 2\)"):
        D.first_step_report(a, [np.zeros(3), np.zeros(4)], lr=1e-3)
    with pytest.raises(ValueError, match="names has 1 entries"):
        D.first_step_report(a, a, lr=1e-3, names=["x"])


# ------------------------------------------------------------------------------ update tracker

def test_update_tracker_norms_samples_histograms(xp):
    rng = np.random.default_rng(1)
    shapes = [(20, 10), (10,)]
    tr = D.UpdateTracker(steps=(1, 3), max_samples=50, seed=7)
    full = {}
    for t in range(1, 5):
        before = [rng.standard_normal(s) for s in shapes]
        delta = [10.0 ** rng.uniform(-6, -2, s) * rng.choice([-1.0, 0.0, 1.0], s) for s in shapes]
        norm = tr.record(t, [xp.asarray(b) for b in before], [xp.asarray(b + d) for b, d in zip(before, delta)])
        ref = np.concatenate([np.abs((b + d) - b).ravel() for b, d in zip(before, delta)])
        full[t] = ref
        assert norm == pytest.approx(np.linalg.norm(ref), rel=1e-12) and tr.norms[t] == norm
        assert tr.tensor_norms[t][1] == pytest.approx(np.linalg.norm(ref[200:]), rel=1e-12)
    steps, norms = tr.series()
    assert steps.tolist() == [1, 2, 3, 4] and norms[2] == tr.norms[3]
    kept = tr.abs_updates(1)
    assert kept.dtype == np.float64 and kept.size == 50 and tr.sizes[1] == 210
    assert np.all(np.isin(kept, full[1]))                       # a subset of the true |Δθ|
    counts, edges = tr.histogram(1, bins=12)
    assert counts.sum() + tr.zero_count(1) == 50 and edges.size == 13
    np.testing.assert_allclose(np.diff(np.log(edges)), np.log(edges[-1] / edges[0]) / 12, rtol=1e-9)
    assert edges[0] == kept[kept > 0].min() and edges[-1] == kept.max()
    lin_counts, _ = tr.histogram(3, bins=5, log=False)
    assert lin_counts.sum() == 50
    with pytest.raises(KeyError, match="not in steps"):
        tr.abs_updates(2)
    with pytest.raises(ValueError, match="already recorded"):
        tr.record(1, [np.zeros(1)], [np.zeros(1)])
    # the same seed subsamples the same coordinates
    tr2 = D.UpdateTracker(steps=(1,), max_samples=50, seed=7)
    tr2.record(1, [np.zeros(210)], [full[1]])
    np.testing.assert_array_equal(tr2.abs_updates(1), kept)


def test_update_tracker_sign_descent_histogram_and_torch():
    torch = pytest.importorskip("torch")
    p = torch.zeros(100, dtype=torch.float64)
    tr = D.UpdateTracker(steps=(1,))
    tr.record(1, [p], [p - 1e-3 * torch.sign(torch.randn(100, dtype=torch.float64))])
    counts, edges = tr.histogram(1, bins=3)                      # one value (exact sign steps): bins around it
    assert counts.tolist() == [0, 100, 0] and edges[0] < 1e-3 < edges[-1]
    q = torch.randn(100)
    tr.record(2, [q], [q * 2])                                   # unkept step: norm only, in torch
    assert tr.norms[2] == pytest.approx(float(q.norm()), rel=1e-6)
    shared = np.geomspace(1e-5, 1e-1, 9)
    counts, edges = tr.histogram(1, bins=shared)
    assert counts.sum() == 100 and np.array_equal(edges, shared)


# ------------------------------------------------------------------------------ NGOS moments, drift

def test_expected_moments_closed_form():
    c, s = np.array([1.0, -2.0]), np.array([3.0, 5.0])
    out = D.expected_moments(np.arange(4), m0=0.5, v0=np.array([0.0, 5.0]), mean=c, second_moment=s,
                             beta1=0.8, beta2=0.9)
    assert out["v"].shape == (4, 2) and np.isnan(out["v_hat"][0]).all()
    for t in range(1, 4):
        np.testing.assert_allclose(out["m"][t], 0.8 ** t * 0.5 + (1 - 0.8 ** t) * c, rtol=1e-15)
        np.testing.assert_allclose(out["v"][t], 0.9 ** t * np.array([0.0, 5.0]) + (1 - 0.9 ** t) * s, rtol=1e-15)
        np.testing.assert_allclose(out["v_hat"][t, 0], s[0], rtol=1e-14)      # v0 = 0: unbiased
    np.testing.assert_allclose(out["v"][:, 1], 5.0, rtol=1e-15)                # v0 = s: no drift, E[v_t] = s
    one = D.expected_moments(2, v0=1.0, mean=0.0, second_moment=2.0, beta2=0.5, bias_correction="none")
    assert float(one["v_hat"]) == float(one["v"]) == 0.25 * 1.0 + 0.75 * 2.0
    np.testing.assert_allclose(D.expected_drift(np.array([0.0, 3.0]), np.array([3.0, 3.0]), 0.99), [0.03, 0.0])


def _adam_on_ngos(obj, v0, steps, beta2, meter):
    hp = ADAM.hyper(lr=1e-3, betas=(0.9, beta2))
    x = [np.zeros(obj.c.size)]
    state = ADAM.init(x[0], hp, v0=v0)
    meter.record(state.v)
    for t in range(steps):
        (g,) = obj.sample_grad(x, t)
        x[0], state = ADAM.update(x[0], g, state, hp)
        meter.record(state.v)
    return state


@pytest.mark.parametrize("v0_kind", ["zero", "data", "random"])
def test_drift_meter_deterministic_equals_expected(v0_kind):
    """σ = 0: g_t = c exactly, so the measured drift is the expected one to rounding."""
    obj = OBJECTIVES["ngos_linear"](50, sigma=0.0, seed=3)
    s = obj.second_moment
    v0 = {"zero": np.zeros(50), "data": s.copy(), "random": s * np.random.default_rng(0).chisquare(1, 50)}[v0_kind]
    meter = D.DriftMeter(s, 0.99)
    _adam_on_ngos(obj, v0, 20, 0.99, meter)
    assert meter.steps.size == 21 and meter.drift_steps.tolist() == list(range(1, 21))
    np.testing.assert_allclose(meter.measured_drift, meter.expected_drift, rtol=0, atol=1e-12)
    expected_ratio = [np.mean(0.99 ** t * v0 / s + 1 - 0.99 ** t) for t in range(21)]
    np.testing.assert_allclose(meter.ratio, expected_ratio, rtol=0, atol=1e-12)
    if v0_kind == "zero":
        assert meter.relative_drift[0] == pytest.approx(0.01, rel=1e-12)       # 1 − β2 at t = 1
    if v0_kind == "data":
        assert np.max(meter.relative_drift) < 1e-15                            # v0 = s: no drift
    summ = meter.summary()
    assert summ["steps_recorded"] == 21 and summ["max_abs_measured_minus_expected"] < 1e-12


@pytest.mark.parametrize("v0_kind", ["zero", "random"])
def test_drift_meter_monte_carlo_ngos(v0_kind):
    """Noisy NGOS gradients (g = c + σz, z ~ N(0, I)): over n coordinates the mean of v_t/s matches
    β2^t v0/s + 1 − β2^t within 5 standard deviations of the mean.  The coordinates are independent and
    v_t/s = β2^t v0/s + (1−β2) Σ_k β2^{t−k} g_k²/s with Var(g²) = 4c²σ² + 2σ⁴, so
    Var(mean) = (1/n²) Σ_i (1−β2)² Σ_k β2^{2(t−k)} Var_i(g²)/s_i² — computed exactly below."""
    n, steps, b2 = 3000, 25, 0.9
    obj = OBJECTIVES["ngos_linear"](n, seed=11)
    s, c, sig = obj.second_moment, obj.c, obj.sigma
    v0 = np.zeros(n) if v0_kind == "zero" else 2.0 * s * np.random.default_rng(5).chisquare(1, n)
    meter = D.DriftMeter(s, b2)
    _adam_on_ngos(obj, v0, steps, b2, meter)
    var_g2 = (4 * c ** 2 * sig ** 2 + 2 * sig ** 4) / s ** 2
    z = []
    for t in range(1, steps + 1):
        expected = np.mean(b2 ** t * v0 / s + 1 - b2 ** t)
        weights = (1 - b2) ** 2 * sum(b2 ** (2 * (t - k)) for k in range(1, t + 1))
        sd = math.sqrt(weights * var_g2.sum()) / n
        z.append((meter.ratio[t] - expected) / sd)
    assert np.max(np.abs(z)) < 5.0, z
    # expected drift is exact given v_{t-1}; the measured one is its noisy realization (same bound idea)
    if v0_kind == "zero":
        assert meter.relative_drift[0] == pytest.approx(1 - b2, rel=1e-12)


def test_drift_meter_lists_torch_and_validation():
    torch = pytest.importorskip("torch")
    s = [np.array([1.0, 2.0]), np.array([[4.0], [0.0]])]       # one s = 0 coordinate: excluded
    meter = D.DriftMeter(s, 0.5, v0=[torch.zeros(2), torch.zeros(2, 1)])
    meter.record([torch.tensor([0.5, 1.0]), torch.tensor([[2.0], [7.0]])])
    assert meter.summary()["excluded_zero_s"] == 1
    np.testing.assert_allclose(meter.ratio, [0.0, 0.5])
    np.testing.assert_allclose(meter.expected_drift, [0.5])
    with pytest.raises(ValueError, match="v has 3 coordinates but second_moment has 4"):
        meter.record(np.zeros(3))
    with pytest.raises(ValueError, match="no positive entry"):
        D.DriftMeter(np.zeros(3), 0.9)
    with pytest.raises(ValueError, match=r"beta2 must be in \[0, 1\)"):
        D.DriftMeter(np.ones(3), 1.0)


# ------------------------------------------------------------------------------ interpolation barrier

def test_interpolation_barrier_double_well_and_convex(xp):
    a, b = [xp.asarray([1.0, 0.0])], [xp.asarray([-1.0, 0.0])]

    def double_well(p):
        x = p[0]
        return xp.sum((x * x - 1.0) ** 2 * xp.asarray([1.0, 0.0]))

    res = D.interpolation_barrier(a, b, double_well)
    assert res["alphas"].tolist() == np.linspace(0, 1, 11).tolist()
    assert res["barrier"] == 1.0 and res["max_error"] == 1.0 and res["endpoint_mean"] == 0.0
    assert res["errors"][5] == 1.0 and res["chord_barrier"] == 1.0
    # convex error with equal end points: no barrier; with unequal ones Eq. 22 gives |Ea − Eb|/2
    def convex(p):
        return xp.sum(p[0] * p[0])

    res = D.interpolation_barrier(a, b, convex)
    assert res["barrier"] == 0.0 and res["chord_barrier"] <= 0.0
    res = D.interpolation_barrier([xp.asarray([3.0, 0.0])], b, convex, alphas=np.linspace(0, 1, 7))
    assert res["barrier"] == pytest.approx((9.0 - 1.0) / 2, rel=1e-15) and res["chord_barrier"] <= 1e-15
    assert res["error_a"] == 9.0 and res["error_b"] == 1.0


def test_interpolation_barrier_endpoints_outside_alphas():
    calls = []

    def err(p):
        calls.append(float(p[0][0]))
        return float(p[0][0] ** 2)

    res = D.interpolation_barrier([np.array([2.0])], [np.array([0.0])], err, alphas=[0.5])
    assert sorted(calls) == [0.0, 1.0, 2.0] and res["endpoint_mean"] == 2.0 and res["barrier"] == 2.0
    with pytest.raises(ValueError, match=r"alphas must be .* in \[0, 1\]"):
        D.interpolation_barrier([np.zeros(1)], [np.zeros(1)], err, alphas=[1.5])


# ------------------------------------------------------------------------------ landscape slices

def _params(xp):
    rng = np.random.default_rng(2)
    return [xp.asarray(rng.standard_normal((4, 3, 2))), xp.asarray(rng.standard_normal(4)),
            xp.asarray(rng.standard_normal((5, 4)))]


def test_filter_normalized_direction(xp):
    params = _params(xp)
    d = D.filter_normalized_direction(params, 0)
    assert [tuple(x.shape) for x in d] == [(4, 3, 2), (4,), (5, 4)]
    assert all(x.dtype == p.dtype for x, p in zip(d, params))
    for p, x in zip(params, d):
        pn, xn = to_numpy(p), to_numpy(x)
        if pn.ndim == 1:
            assert np.all(xn == 0.0)                                  # ignore="biasbn"
        else:
            np.testing.assert_allclose(np.linalg.norm(xn.reshape(len(xn), -1), axis=1),
                                       np.linalg.norm(pn.reshape(len(pn), -1), axis=1), rtol=1e-13)
    same = D.filter_normalized_direction(params, R.key(0))
    other = D.filter_normalized_direction(params, 1)
    assert all(np.array_equal(to_numpy(x), to_numpy(y)) for x, y in zip(d, same))
    assert not np.allclose(to_numpy(d[0]), to_numpy(other[0]))
    keep = D.filter_normalized_direction(params, 0, ignore=None)
    assert np.linalg.norm(to_numpy(keep[1])) == pytest.approx(np.linalg.norm(to_numpy(params[1])), rel=1e-13)
    np.testing.assert_array_equal(to_numpy(keep[0]), to_numpy(d[0]))
    with pytest.raises(ValueError, match="ignore must be"):
        D.filter_normalized_direction(params, 0, ignore="bn")


def test_quadratic_slices_match_closed_form(xp):
    """L(θ) = ½‖θ‖²: L(θ + αd₁ + βd₂) = ½‖θ‖² + α⟨θ,d₁⟩ + β⟨θ,d₂⟩ + ½‖αd₁ + βd₂‖²."""
    params = _params(xp)
    d1 = D.filter_normalized_direction(params, 3, ignore=None)
    d2 = D.filter_normalized_direction(params, 4, ignore=None)

    def loss(ps):
        return 0.5 * sum(float(xp.sum(p * p)) for p in ps)

    th, u, w = (np.concatenate([to_numpy(x).ravel() for x in lst]) for lst in (params, d1, d2))
    alphas, betas = np.linspace(-1, 1, 5), np.array([-0.5, 0.0, 0.25])
    np.testing.assert_allclose(D.loss_slice_1d(loss, params, d1, alphas),
                               [0.5 * th @ th + a * th @ u + 0.5 * a * a * u @ u for a in alphas], rtol=1e-12)
    z = D.loss_surface_2d(loss, params, d1, d2, alphas, betas)
    assert z.shape == (3, 5)                                          # [len(betas), len(alphas)]
    ref = [[0.5 * (th + a * u + b * w) @ (th + a * u + b * w) for a in alphas] for b in betas]
    np.testing.assert_allclose(z, ref, rtol=1e-12)


def test_slices_on_torch():
    torch = pytest.importorskip("torch")
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1)).double()
    params = list(net.parameters())
    d = D.filter_normalized_direction(params, 0)
    assert all(isinstance(x, torch.Tensor) and x.dtype == torch.float64 for x in d)
    assert torch.all(d[1] == 0) and torch.allclose(d[0].norm(dim=1), params[0].detach().norm(dim=1))
    d_np = D.filter_normalized_direction([p.detach().numpy() for p in params], 0)
    np.testing.assert_allclose(d[0].numpy(), d_np[0], rtol=1e-12)   # same key: same direction on both
    x = torch.randn(16, 3, dtype=torch.float64)

    def loss(ps):
        out = torch.func.functional_call(net, dict(zip([n for n, _ in net.named_parameters()], ps)), (x,))
        return out.pow(2).mean()

    vals = D.loss_slice_1d(loss, params, d, [-1.0, 0.0, 1.0])
    with torch.no_grad():
        assert vals.dtype == np.float64 and vals[1] == pytest.approx(float(net(x).pow(2).mean()), rel=1e-12)
    half = D.filter_normalized_direction([p.detach().float().half() for p in params], 0)
    assert half[0].dtype == torch.float16


def test_import_loads_no_framework():
    code = ("import sys, v0ref.diagnostics; "
            "print([m for m in ('torch', 'jax', 'cupy', 'optax') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
