"""Schedules (v0ref.schedules) value by value against torch.optim.lr_scheduler and optax.schedules,
plus closed forms (Goodfellow Eq. 8.14, fairseq inverse_sqrt, Noam, the paper repo's CNN schedule,
Sutskever's momentum schedule) and validation errors."""

from __future__ import annotations

import contextlib
import warnings

import numpy as np
import pytest

from v0ref import schedules as S
from v0ref.algorithms.sgd import sutskever_momentum

N = 1200      # steps compared against the frameworks (>= 1000)
RTOL = 1e-12  # same arithmetic, float64


def ours(sched, n=N):
    return np.array([sched(k) for k in range(n + 1)])


# --------------------------------------------------------------------------------------------
# torch: drive a real optimizer, read param_groups[0]['lr'] after k scheduler steps
# --------------------------------------------------------------------------------------------

def torch_lrs(make, n=N, base=0.1):
    torch = pytest.importorskip("torch")
    p = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    opt = torch.optim.SGD([p], lr=base, momentum=0.9)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sched = make(torch.optim.lr_scheduler, opt)
        out = [opt.param_groups[0]["lr"]]
        for _ in range(n):
            opt.step()
            sched.step()
            out.append(opt.param_groups[0]["lr"])
    return np.array(out, dtype=float)


TORCH_CASES = {
    # id: (torch constructor, our schedule, rtol, n)
    "StepLR": (lambda L, o: L.StepLR(o, step_size=30, gamma=0.5), S.step_lr(0.1, 30, 0.5), RTOL, N),
    "StepLR-default-gamma": (lambda L, o: L.StepLR(o, step_size=7), S.step_lr(0.1, 7), RTOL, 300),
    "MultiStepLR": (lambda L, o: L.MultiStepLR(o, [100, 250, 250, 900], gamma=0.3),
                    S.multistep_lr(0.1, [900, 250, 100, 250], gamma=0.3), RTOL, N),
    "ExponentialLR": (lambda L, o: L.ExponentialLR(o, gamma=0.997), S.exponential_lr(0.1, 0.997), RTOL, N),
    "PolynomialLR": (lambda L, o: L.PolynomialLR(o, total_iters=1000, power=2.0),
                     S.polynomial_lr(0.1, total_iters=1000, power=2.0), RTOL, N),
    "PolynomialLR-defaults": (lambda L, o: L.PolynomialLR(o), S.polynomial_lr(0.1), RTOL, 20),
    "CosineAnnealingLR-recursive": (lambda L, o: L.CosineAnnealingLR(o, T_max=100, eta_min=1e-3),
                                    S.cosine_annealing(0.1, 100, 1e-3, form="recursive"), 0.0, N),
    "CosineAnnealingLR-recursive-eta0": (lambda L, o: L.CosineAnnealingLR(o, T_max=1000),
                                         S.cosine_annealing(0.1, 1000, form="recursive"), 0.0, N),
    "CosineAnnealingWarmRestarts": (lambda L, o: L.CosineAnnealingWarmRestarts(o, T_0=50, eta_min=1e-4),
                                    S.cosine_warm_restarts(0.1, 50, eta_min=1e-4), RTOL, N),
    "CosineAnnealingWarmRestarts-Tmult2": (lambda L, o: L.CosineAnnealingWarmRestarts(o, T_0=10, T_mult=2),
                                           S.cosine_warm_restarts(0.1, 10, T_mult=2), RTOL, N),
    "CosineAnnealingWarmRestarts-Tmult3": (lambda L, o: L.CosineAnnealingWarmRestarts(o, T_0=7, T_mult=3, eta_min=0.01),
                                           S.cosine_warm_restarts(0.1, 7, 3, 0.01), RTOL, N),
    "LinearLR": (lambda L, o: L.LinearLR(o, start_factor=0.01, end_factor=1.0, total_iters=1000),
                 S.linear_warmup(0.1, 0.01, 1.0, 1000), RTOL, N),
    "LinearLR-defaults": (lambda L, o: L.LinearLR(o), S.linear_warmup(0.1), RTOL, 20),
    "LinearLR-decay": (lambda L, o: L.LinearLR(o, start_factor=1.0, end_factor=0.05, total_iters=800),
                       S.linear_warmup(0.1, 1.0, 0.05, 800), RTOL, N),
    "OneCycleLR-cos": (lambda L, o: L.OneCycleLR(o, max_lr=0.5, total_steps=N),
                       S.one_cycle(0.5, N), RTOL, N),
    "OneCycleLR-linear": (lambda L, o: L.OneCycleLR(o, max_lr=0.5, total_steps=N, anneal_strategy="linear",
                                                    pct_start=0.25, div_factor=10.0, final_div_factor=100.0),
                          S.one_cycle(0.5, N, 0.25, "linear", 10.0, 100.0), RTOL, N),
    "OneCycleLR-three-phase-cos": (lambda L, o: L.OneCycleLR(o, max_lr=0.5, total_steps=N, three_phase=True),
                                   S.one_cycle(0.5, N, three_phase=True), RTOL, N),
    "OneCycleLR-three-phase-linear": (lambda L, o: L.OneCycleLR(o, max_lr=0.5, total_steps=1001, three_phase=True,
                                                                anneal_strategy="linear", pct_start=0.37),
                                      S.one_cycle(0.5, 1001, 0.37, "linear", three_phase=True), RTOL, 1001),
    # join(...) = torch SequentialLR: each scheduler sees the steps since its milestone
    "SequentialLR(LinearLR, ExponentialLR)": (
        lambda L, o: L.SequentialLR(o, [L.LinearLR(o, 0.1, 1.0, 100), L.ExponentialLR(o, 0.995)], [100]),
        S.join([S.linear_warmup(0.1, 0.1, 1.0, 100), S.exponential_lr(0.1, 0.995)], [100]), RTOL, N),
    "SequentialLR(LinearLR, CosineAnnealingLR)": (
        lambda L, o: L.SequentialLR(o, [L.LinearLR(o, 0.01, 1.0, 200), L.CosineAnnealingLR(o, T_max=1000, eta_min=1e-4)],
                                    [200]),
        S.join([S.linear_warmup(0.1, 0.01, 1.0, 200), S.cosine_annealing(0.1, 1000, 1e-4)], [200]), RTOL, N),
    "SequentialLR(ConstantLR, StepLR, ExponentialLR)": (
        lambda L, o: L.SequentialLR(o, [L.ConstantLR(o, 0.5, 50), L.StepLR(o, 100, 0.5), L.ExponentialLR(o, 0.999)],
                                    [50, 600]),
        S.join([S.constant(0.05), S.step_lr(0.1, 100, 0.5), S.exponential_lr(0.1, 0.999)], [50, 600]), RTOL, N),
}


@pytest.mark.parametrize("case", list(TORCH_CASES))
def test_against_torch(case):
    make, sched, rtol, n = TORCH_CASES[case]
    ref = torch_lrs(make, n)
    got = ours(sched, n)
    if rtol == 0.0:
        np.testing.assert_array_equal(got, ref)
    else:
        np.testing.assert_allclose(got, ref, rtol=rtol, atol=0)


@pytest.mark.parametrize("T_max,eta_min", [(100, 1e-3), (1000, 0.0), (37, 0.05)])
def test_cosine_closed_form_vs_torch_recursion(T_max, eta_min):
    """torch's CosineAnnealingLR recursion drifts from the closed form by rounding, growing with the
    number of steps.  Measured (torch 2.13, base 0.1): over 1200 steps max relative gap 2.3e-13
    (T_max=100, eta_min=1e-3), 1.1e-13 (T_max=37, eta_min=0.05), 1.4e-15 (T_max=1000, eta_min=0);
    over 20000 steps 5.1e-12 (T_max=100) and 2.3e-11 (T_max=1000).  Tolerance here: rtol 1e-10."""
    ref = torch_lrs(lambda L, o: L.CosineAnnealingLR(o, T_max=T_max, eta_min=eta_min))
    closed = ours(S.cosine_annealing(0.1, T_max, eta_min))
    np.testing.assert_allclose(closed, ref, rtol=1e-10, atol=1e-16)
    # the recursive option reproduces torch bit for bit
    np.testing.assert_array_equal(ours(S.cosine_annealing(0.1, T_max, eta_min, form="recursive")), ref)


def test_cosine_recursive_differs_from_closed():
    rec = ours(S.cosine_annealing(0.1, 100, 1e-3, form="recursive"))
    closed = ours(S.cosine_annealing(0.1, 100, 1e-3))
    assert np.any(rec != closed)


def test_recursive_memo_is_order_independent():
    a = S.cosine_annealing(0.1, 50, form="recursive")
    b = S.cosine_annealing(0.1, 50, form="recursive")
    late = a(777)
    assert [a(k) for k in range(800)] == [b(k) for k in range(800)] and late == b(777)


@pytest.mark.parametrize("kw", [
    {},
    {"anneal_strategy": "linear", "pct_start": 0.25, "base_momentum": 0.8, "max_momentum": 0.99},
    {"three_phase": True},
    {"three_phase": True, "anneal_strategy": "linear", "pct_start": 0.4},
])
def test_one_cycle_momentum_against_torch(kw):
    torch = pytest.importorskip("torch")
    p = torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))
    opt = torch.optim.SGD([p], lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.5, total_steps=N, **kw)
    ref = [opt.param_groups[0]["momentum"]]
    for _ in range(N):
        opt.step()
        sched.step()
        ref.append(opt.param_groups[0]["momentum"])
    got = ours(S.one_cycle_momentum(N, **kw))
    assert len(set(ref)) > 100
    np.testing.assert_allclose(got, ref, rtol=RTOL, atol=0)


def test_one_cycle_step_past_total_raises_like_torch():
    s = S.one_cycle(0.5, 100)
    s(100)  # allowed in torch too
    with pytest.raises(ValueError, match="total_steps"):
        s(101)


# --------------------------------------------------------------------------------------------
# ReduceLROnPlateau on a scripted metric sequence
# --------------------------------------------------------------------------------------------

def _metrics(n=1000, seed=0):
    rng = np.random.default_rng(seed)
    # noisy plateaus and improvements, plus exact repeats and a NaN
    m = np.cumsum(rng.normal(0.0, 1.0, n)) * 0.1 + 10.0
    m[::37] = m[::37] - 0.5
    m[500:520] = m[499]
    m[700] = np.nan
    return [float(x) for x in m]


@pytest.mark.parametrize("kw", [
    {},
    {"mode": "max", "factor": 0.5, "patience": 3, "threshold": 1e-2, "threshold_mode": "abs", "cooldown": 2},
    {"mode": "min", "factor": 0.7, "patience": 0, "threshold": 0.0, "cooldown": 5, "min_lr": 1e-3},
    {"mode": "max", "factor": 0.9, "patience": 2, "threshold": 1e-3, "threshold_mode": "rel", "min_lr": 1e-4, "eps": 1e-6},
    {"mode": "min", "factor": 0.5, "patience": 1, "threshold": 0.05, "threshold_mode": "abs"},
])
def test_reduce_on_plateau_against_torch(kw):
    torch = pytest.importorskip("torch")
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=0.1)
    ref_sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, **kw)
    mine = S.ReduceLROnPlateau(0.1, **kw)
    seq = _metrics()
    ref, got = [], []
    for m in seq:
        ref_sched.step(m)
        ref.append(opt.param_groups[0]["lr"])
        got.append(mine.step(m))
    assert len(set(ref)) > 2  # the script does reduce the lr several times
    np.testing.assert_array_equal(got, ref)
    assert mine.best == ref_sched.best and mine.num_bad_epochs == ref_sched.num_bad_epochs


# --------------------------------------------------------------------------------------------
# optax (jax x64 inside the test only)
# --------------------------------------------------------------------------------------------

@contextlib.contextmanager
def _x64():
    jax = pytest.importorskip("jax")
    old = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    try:
        yield jax
    finally:
        jax.config.update("jax_enable_x64", old)


def optax_values(make, n=N):
    with _x64() as jax:
        optax = pytest.importorskip("optax")
        import jax.numpy as jnp
        sched = make(optax.schedules)
        counts = jnp.arange(n + 1, dtype=jnp.int64)
        vals = np.asarray(jnp.broadcast_to(jax.vmap(sched)(counts), counts.shape))
        assert vals.dtype == np.float64, vals.dtype
    return vals


OPTAX_CASES = {
    "constant": (lambda O: O.constant_schedule(0.3), S.constant(0.3)),
    "linear": (lambda O: O.linear_schedule(1e-4, 0.1, 1000), S.linear(1e-4, 0.1, 1000)),
    "linear-begin": (lambda O: O.linear_schedule(0.1, 1e-3, 600, transition_begin=300),
                     S.linear(0.1, 1e-3, 600, 300)),
    "linear-T0": (lambda O: O.linear_schedule(0.1, 1e-3, 0), S.linear(0.1, 1e-3, 0)),
    "polynomial": (lambda O: O.polynomial_schedule(0.1, 1e-3, 2.5, 900, transition_begin=100),
                   S.polynomial(0.1, 1e-3, 2.5, 900, 100)),
    "cosine_decay": (lambda O: O.cosine_decay_schedule(0.1, 1000), S.cosine_decay(0.1, 1000)),
    "cosine_decay-alpha-exponent": (lambda O: O.cosine_decay_schedule(0.1, 777, alpha=0.05, exponent=3.0),
                                    S.cosine_decay(0.1, 777, 0.05, 3.0)),
    "exponential_decay": (lambda O: O.exponential_decay(0.1, 100, 0.5), S.exponential_decay(0.1, 100, 0.5)),
    "exponential_decay-staircase-begin-end": (
        lambda O: O.exponential_decay(0.1, 70, 0.6, transition_begin=50, staircase=True, end_value=1e-3),
        S.exponential_decay(0.1, 70, 0.6, 50, True, 1e-3)),
    "exponential_decay-growth-cap": (lambda O: O.exponential_decay(0.01, 100, 1.5, end_value=0.2),
                                     S.exponential_decay(0.01, 100, 1.5, end_value=0.2)),
    "exponential_decay-rate0": (lambda O: O.exponential_decay(0.1, 100, 0.0), S.exponential_decay(0.1, 100, 0.0)),
    "piecewise_constant": (lambda O: O.piecewise_constant_schedule(0.1, {300: 0.1, 600: 0.5, 900: 0.01}),
                           S.piecewise_constant(0.1, {900: 0.01, 300: 0.1, 600: 0.5})),
    "warmup_cosine_decay": (lambda O: O.warmup_cosine_decay_schedule(1e-5, 0.1, 100, 1000, end_value=1e-3),
                            S.warmup_cosine_decay(1e-5, 0.1, 100, 1000, 1e-3)),
    "warmup_cosine_decay-exponent-no-warmup": (
        lambda O: O.warmup_cosine_decay_schedule(0.0, 0.1, 0, 1100, end_value=0.0, exponent=2.0),
        S.warmup_cosine_decay(0.0, 0.1, 0, 1100, 0.0, 2.0)),
    "join_schedules": (lambda O: O.join_schedules([O.constant_schedule(0.1), O.linear_schedule(0.1, 0.0, 500),
                                                   O.cosine_decay_schedule(0.05, 300)], [200, 800]),
                       S.join([S.constant(0.1), S.linear(0.1, 0.0, 500), S.cosine_decay(0.05, 300)], [200, 800])),
    "warmup_linear_decay=join(linear, linear)": (
        lambda O: O.join_schedules([O.linear_schedule(0.0, 0.1, 150), O.linear_schedule(0.1, 1e-4, 850)], [150]),
        S.warmup_linear_decay(0.0, 0.1, 150, 1000, 1e-4)),
}


@pytest.mark.parametrize("case", list(OPTAX_CASES))
def test_against_optax(case):
    make, sched = OPTAX_CASES[case]
    ref = optax_values(make)
    np.testing.assert_allclose(ours(sched), ref, rtol=RTOL, atol=0)


# --------------------------------------------------------------------------------------------
# closed forms
# --------------------------------------------------------------------------------------------

def test_goodfellow_linear_decay():
    s = S.linear_decay(0.1, 0.001, 400)
    assert s(0) == 0.1 and s(400) == pytest.approx(0.001, rel=1e-15) and s(10_000) == s(400)
    assert s(100) == pytest.approx(0.75 * 0.1 + 0.25 * 0.001, rel=1e-15)
    assert s(200) == pytest.approx(0.0505, rel=1e-15)


def test_fairseq_inverse_sqrt():
    lr, W, w0 = 1.5e-3, 8000, 1e-7
    s = S.inverse_sqrt(lr)  # repo defaults: warmup 8000 from 1e-7
    assert s(0) == w0
    assert s(W // 2) == pytest.approx(w0 + (lr - w0) / 2, rel=1e-14)
    assert s(W) == pytest.approx(lr, rel=1e-15)
    assert s(4 * W) == pytest.approx(lr / 2, rel=1e-15)
    assert s(W - 1) < s(W) and s(W + 1) < s(W)
    nw = S.inverse_sqrt(lr, use_warmup=False)  # --use_warmup 0
    assert nw(0) == nw(W // 2) == nw(W - 1) == lr and nw(4 * W) == pytest.approx(lr / 2, rel=1e-15)
    assert S.inverse_sqrt(lr, 4000, -1)(0) == 0.0  # fairseq's default warmup_init_lr=-1 -> 0


def test_noam_peak_at_warmup():
    s = S.noam(512, 4000)
    vals = ours(s, 20_000)
    assert int(np.argmax(vals)) == 4000
    assert vals[4000] == pytest.approx(512 ** -0.5 * 4000 ** -0.5, rel=1e-14)
    assert s(0) == s(1) == pytest.approx(512 ** -0.5 * 4000 ** -1.5, rel=1e-14)
    assert s(16_000) == pytest.approx(512 ** -0.5 / 16_000 ** 0.5, rel=1e-14)


@pytest.mark.parametrize("E", [200, 10, 7, 1])
def test_cnn_step_boundaries(E):
    s = S.cnn_step(0.1, E)
    expect = [0.1 * 0.2 ** (0 if e < 0.3 * E else 1 if e < 0.6 * E else 2 if e < 0.8 * E else 3) for e in range(E)]
    assert [s(e) for e in range(E)] == pytest.approx(expect, rel=1e-15)
    if E == 200:
        assert (s(59), s(60), s(119), s(120), s(159), s(160), s(199)) == pytest.approx(
            (0.1, 0.02, 0.02, 0.004, 0.004, 0.0008, 0.0008), rel=1e-15)


def test_sutskever_momentum_schedule():
    s = S.sutskever_momentum_schedule(0.999)
    table = {0: 0.5, 249: 0.5, 250: 0.75, 750: 0.875, 1750: 1 - 1 / 16, 10 ** 5: 1 - 1 / 802, 10 ** 6: 0.999}
    for t, mu in table.items():
        assert s(t) == pytest.approx(mu, rel=1e-15) and s(t) == sutskever_momentum(t, 0.999)
    assert S.sutskever_momentum_schedule(0.9)(10 ** 5) == 0.9


def test_torch_polynomial_equals_optax_polynomial_with_zero_end():
    a, b = S.polynomial_lr(0.1, 300, 1.5), S.polynomial(0.1, 0.0, 1.5, 300)
    assert [a(k) for k in range(400)] == [b(k) for k in range(400)]


# --------------------------------------------------------------------------------------------
# registry and validation
# --------------------------------------------------------------------------------------------

def test_registry_is_read_only_and_complete():
    assert set(S.SCHEDULES) == set(S.__all__) - {"SCHEDULES", "Schedule"}
    with pytest.raises(TypeError):
        S.SCHEDULES["x"] = S.constant  # type: ignore[index]
    for name, f in S.SCHEDULES.items():
        assert f.__doc__ and name == f.__name__


ERRORS = [
    (lambda: S.step_lr(0.1, 0), ValueError, r"step_size must be an integer >= 1; got 0"),
    (lambda: S.step_lr(-0.1, 10), ValueError, r"base_lr must be a finite number >= 0"),
    (lambda: S.step_lr(0.1, 2.5), TypeError, r"step_size must be an integer"),
    (lambda: S.multistep_lr(0.1, [10, -1]), ValueError, r"milestones\[1\]"),
    (lambda: S.linear_decay(0.1, 0.001, 0), ValueError, r"tau must be an integer >= 1"),
    (lambda: S.linear_warmup(0.1, start_factor=0.0), ValueError, r"start_factor must be in \(0, 1\]"),
    (lambda: S.linear_warmup(0.1, end_factor=1.5), ValueError, r"end_factor must be in \[0, 1\]"),
    (lambda: S.cosine_annealing(0.1, 0), ValueError, r"T_max must be an integer >= 1"),
    (lambda: S.cosine_annealing(0.1, 10, form="iterative"), ValueError, r"form must be one of"),
    (lambda: S.cosine_warm_restarts(0.1, 10, T_mult=0), ValueError, r"T_mult must be an integer >= 1"),
    (lambda: S.cosine_decay(0.1, 0), ValueError, r"decay_steps must be an integer >= 1"),
    (lambda: S.exponential_decay(0.1, 0, 0.5), ValueError, r"transition_steps must be an integer >= 1"),
    (lambda: S.warmup_cosine_decay(0.0, 0.1, 100, 100), ValueError, r"decay_steps must be > warmup_steps"),
    (lambda: S.polynomial(0.1, 0.0, -1.0, 10), ValueError, r"power must be a finite number >= 0"),
    (lambda: S.piecewise_constant(0.1, {10: -0.5}), ValueError, r"boundaries_and_scales\[10\]"),
    (lambda: S.inverse_sqrt(1e-3, 0), ValueError, r"warmup_updates must be an integer >= 1"),
    (lambda: S.noam(0), ValueError, r"d_model must be an integer >= 1"),
    (lambda: S.one_cycle(0.1, 100, pct_start=1.5), ValueError, r"pct_start must be in \[0, 1\]"),
    (lambda: S.one_cycle(0.1, 100, anneal_strategy="exp"), ValueError, r"anneal_strategy must be one of"),
    (lambda: S.one_cycle(0.1, 100, div_factor=0.0), ValueError, r"div_factor must be a finite number > 0"),
    (lambda: S.one_cycle(0.1, 100, pct_start=0.01), ValueError, r"empty phase"),
    (lambda: S.one_cycle_momentum(100, base_momentum=1.0), ValueError, r"base_momentum must be in \[0, 1\)"),
    (lambda: S.cnn_step(0.1, 0), ValueError, r"total_epochs must be an integer >= 1"),
    (lambda: S.sutskever_momentum_schedule(1.0), ValueError, r"momentum_max must be in \[0, 1\)"),
    (lambda: S.join([S.constant(0.1)], [10]), ValueError, r"schedules must have"),
    (lambda: S.join([S.constant(0.1)] * 3, [10, 5]), ValueError, r"boundaries must be non-decreasing"),
    (lambda: S.ReduceLROnPlateau(0.1, factor=1.0), ValueError, r"factor must be in \[0, 1\)"),
    (lambda: S.ReduceLROnPlateau(0.1, mode="up"), ValueError, r"mode must be one of"),
    (lambda: S.ReduceLROnPlateau(0.1, threshold_mode="pct"), ValueError, r"threshold_mode must be one of"),
    (lambda: S.ReduceLROnPlateau(0.1, patience=-1), ValueError, r"patience must be an integer >= 0"),
    (lambda: S.constant(0.1)(-1), ValueError, r"step must be an integer >= 0; got -1"),
    (lambda: S.step_lr(0.1, 10)(1.5), ValueError, r"step must be an integer >= 0"),
    (lambda: S.cosine_annealing(0.1, 10, form="recursive")(True), ValueError, r"step must be an integer"),
]


@pytest.mark.parametrize("i", range(len(ERRORS)))
def test_validation_errors(i):
    call, exc, msg = ERRORS[i]
    with pytest.raises(exc, match=msg):
        call()


def test_numpy_integer_steps_accepted():
    assert S.step_lr(0.1, 10, 0.5)(np.int64(25)) == 0.1 * 0.25
    assert isinstance(S.polynomial(1, 0, 1, 10)(3), float)
