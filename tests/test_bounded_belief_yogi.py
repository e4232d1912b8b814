"""AdaBound/AMSBound, AdaBelief and Yogi: closed-form first steps, the documented differences
between conventions shown exactly, and pytorch_optimizer comparisons the generic suite cannot
express (ALGORITHMS §4.10-4.13, §1.7)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from v0ref import OPTIMIZERS

from .conftest import assert_close, to_numpy

PTO = "pytorch_optimizer"


def steps(name, p, grads, v0=None, m0=None, **kw):
    """Run ``grads`` from ``p``; return the list of (param, state) after each step."""
    alg = OPTIMIZERS[name]
    hp = alg.hyper(**kw)
    state, out = alg.init(p, hp, v0=v0, m0=m0), []
    for g in grads:
        p, state = alg.update(p, g, state, hp)
        out.append((p, state))
    return out


# ------------------------------------------------------------------------------ AdaBound

@pytest.mark.parametrize("t", [1, 2])
def test_adabound_clamp_bounds_closed_form(t, xp):
    """Coordinates below η_l(t), inside and above η_u(t): Δθ_t = −clip(step/(sqrt(v)+ε), η_l, η_u)·m_t."""
    lr, b1, b2, eps, final_lr, gamma = 1e-3, 0.9, 0.999, 1e-8, 0.1, 1e-3
    g = np.array([1e3, 1.0, 1e-6])                    # Adam step sizes ≈ 1e-5, 1e-2, 1e4
    p = xp.zeros(3, dtype=xp.float64)
    run = steps("adabound", p, [xp.asarray(g)] * t)
    m = v = 0.0
    for _ in range(t):
        m, v = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g * g
    ratio = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t) / (np.sqrt(v) + eps)
    lower, upper = final_lr * (1 - 1 / (gamma * t + 1)), final_lr * (1 + 1 / (gamma * t))
    assert ratio[0] < lower < ratio[1] < upper < ratio[2]
    delta = run[-1][0] - (run[-2][0] if t > 1 else p)
    assert_close(delta, xp.asarray(-np.array([lower, ratio[1], upper]) * m), rtol=1e-12, xp=xp)


def test_adabound_bias_correction_modes():
    """standard IS the ε-hat form (identical bits); none drops sqrt(1 − β2^t) from the step size."""
    rng = np.random.default_rng(0)
    p, grads = np.zeros(50), [rng.standard_normal(50) for _ in range(4)]
    std = steps("adabound", p, grads, final_lr=1.0, gamma=1e-6)
    hat = steps("adabound", p, grads, final_lr=1.0, gamma=1e-6, bias_correction="eps_hat")
    none = steps("adabound", p, grads[:1], final_lr=1.0, gamma=1e-6, bias_correction="none")
    np.testing.assert_array_equal(std[-1][0], hat[-1][0])
    np.testing.assert_allclose((none[0][0] - p) * math.sqrt(1 - 0.999), std[0][0] - p, rtol=1e-13)


def test_adabound_base_lr_scales_the_bounds_like_a_scheduler():
    """final_lr·lr/base_lr: pto (and the official code) remember the initial lr; a scheduler that
    divides lr by 10 divides both bounds by 10.  Not expressible in the generic suite."""
    torch = pytest.importorskip("torch")
    pto = pytest.importorskip("pytorch_optimizer")
    rng = np.random.default_rng(1)
    p0, grads = rng.standard_normal(20), [rng.standard_normal(20) * 10.0 ** rng.uniform(-5, 2) for _ in range(8)]
    kw = {"lr": 1e-4, "base_lr": 1e-3, "convention": PTO, "weight_decay": 1e-2}
    trace = steps("adabound", p0, grads, **kw)
    tp = torch.tensor(p0, requires_grad=True)
    opt = pto.AdaBound([tp], lr=1e-3, weight_decay=1e-2)
    opt.param_groups[0]["lr"] = 1e-4                 # what a scheduler does after construction
    for g, (p, _) in zip(grads, trace):
        tp.grad = torch.tensor(g)
        opt.step()
        np.testing.assert_allclose(tp.detach().numpy(), p, rtol=1e-12, atol=1e-15)
    assert OPTIMIZERS["adabound"].hyper(lr=1e-4).base_lr is None    # None: the bounds use final_lr as is


def test_adabound_pto_is_torch_with_eps_root_1e15():
    """pto's apply_ams_bound adds 1e-15 inside the sqrt: pto = torch(eps_root=1e-15) up to lerp's
    rounding, and differs from the official code by (sqrt(v)+ε)/(sqrt(v+1e-15)+ε) where unclipped."""
    g, kw = np.array([1e-6, 3e-7, 1.0]), {"gamma": 1e-9, "decoupled_weight_decay": False}
    (official, _), = steps("adabound", np.zeros(3), [g], **kw)
    (pto, _), = steps("adabound", np.zeros(3), [g], convention=PTO, **kw)
    (with_root, _), = steps("adabound", np.zeros(3), [g], eps_root=1e-15, **kw)
    np.testing.assert_allclose(pto, with_root, rtol=1e-15)
    v = 1e-3 * g * g
    np.testing.assert_allclose(pto / official, (np.sqrt(v) + 1e-8) / (np.sqrt(v + 1e-15) + 1e-8), rtol=1e-13)
    assert pto[0] / official[0] < 0.8


def test_adabound_lr_zero_still_moves_by_the_lower_bound_except_in_pto():
    """With lr = 0 the bounds do not shrink (final_lr·lr/base_lr with base_lr = lr): the step is
    η_l(t)·m_t.  pto sets the bounds to 0 when its base lr is 0 (the official code divides by 0)."""
    g = np.array([0.5, -2.0])
    (p, _), = steps("adabound", np.zeros(2), [g], lr=0.0)
    np.testing.assert_allclose(p, -0.1 * (1 - 1 / 1.001) * 0.1 * g, rtol=1e-13)
    (p, _), = steps("adabound", np.zeros(2), [g], lr=0.0, convention=PTO)
    np.testing.assert_array_equal(p, np.zeros(2))


def test_adabound_paper_form_decays_with_sqrt_t_and_has_no_bias_correction():
    lr, b1, b2, eps = 1e-3, 0.9, 0.999, 1e-8
    g = np.array([1.0, -0.25])
    run = steps("adabound", np.zeros(2), [g, g], convention="paper")
    m1, v1 = (1 - b1) * g, (1 - b2) * g * g
    m2, v2 = b1 * m1 + (1 - b1) * g, b2 * v1 + (1 - b2) * g * g
    lower2, upper2 = 0.1 * (1 - 1 / (2e-3 + 1)), 0.1 * (1 + 1 / 2e-3)
    np.testing.assert_allclose(run[0][0], -lr / (np.sqrt(v1) + eps) * m1, rtol=1e-13)
    np.testing.assert_allclose(run[1][0] - run[0][0],
                               -np.clip(lr / (np.sqrt(v2) + eps), lower2, upper2) / math.sqrt(2) * m2, rtol=1e-13)


def test_amsbound_max_starts_at_v0():
    v0 = np.array([1.0, 1e-8])
    (p, s), = steps("amsbound", np.zeros(2), [np.ones(2)], v0=v0, gamma=1e-9)
    v1 = 0.999 * v0 + 1e-3
    np.testing.assert_allclose(s.v_max, np.maximum(v0, v1), rtol=1e-15)
    np.testing.assert_allclose(p, -1e-3 * math.sqrt(1e-3) / 0.1 / (np.sqrt(np.maximum(v0, v1)) + 1e-8) * 0.1,
                               rtol=1e-13)


# ----------------------------------------------------------------------------- AdaBelief

@pytest.mark.parametrize("v0", [0.0, 0.02])
def test_adabelief_first_step_and_eps_in_state(v0, xp):
    """s_1 = β2·v0 + (1 − β2)(g − m_1)² + ε and Δθ_1 = −lr·m̂_1/(sqrt(s_1/(1 − β2)) + ε)."""
    lr, b1, b2, eps = 1e-3, 0.9, 0.999, 1e-8
    g = np.array([0.5, -3.0, 0.0])
    (p, s), = steps("adabelief", xp.zeros(3, dtype=xp.float64), [xp.asarray(g)], v0=v0)
    m1 = (1 - b1) * g
    s1 = b2 * v0 + (1 - b2) * (g - m1) ** 2 + eps
    assert_close(s.s, xp.asarray(s1), rtol=1e-14, xp=xp)
    assert_close(p, xp.asarray(-lr * g / (np.sqrt(s1 / (1 - b2)) + eps)), rtol=1e-13, xp=xp)


@pytest.mark.parametrize("convention", ["torch", PTO, "optax", "paper"])
def test_adabelief_eps_accumulates_in_s(convention):
    """Zero gradients from zero state: s_t = ε_s·(1 − β2^t)/(1 − β2) — ε_s = eps, or eps_root (optax)."""
    hp = OPTIMIZERS["adabelief"].hyper(convention=convention)
    assert hp.eps_root == (1e-16 if convention == "optax" else hp.eps)
    (_, s) = steps("adabelief", np.zeros(2), [np.zeros(2)] * 7, convention=convention)[-1]
    np.testing.assert_allclose(s.s, hp.eps_root * (1 - 0.999 ** 7) / (1 - 0.999), rtol=1e-13)


def test_adabelief_amsgrad_eps_goes_into_the_max_in_the_official_code():
    """torch (official copy): s without ε, v_max = max(v_max, s) + ε, so ε piles up in v_max every
    step; pto: ε in s, v_max = max(v_max, s)."""
    eps, v0 = 1e-8, np.array([1.0])
    official = steps("adabelief", np.zeros(1), [np.ones(1)] * 3, v0=v0, amsgrad=True, eps=eps)
    pto = steps("adabelief", np.zeros(1), [np.ones(1)] * 3, v0=v0, amsgrad=True, eps=eps, convention=PTO)
    s1 = 0.999 * v0 + 1e-3 * 0.81
    np.testing.assert_allclose(official[0][1].s, s1, rtol=1e-15)
    np.testing.assert_allclose(pto[0][1].s, s1 + eps, rtol=1e-15)
    assert float(official[2][1].v_max[0]) == 1.0 + eps + eps + eps      # v0 stays the max: +ε per step
    assert float(pto[2][1].v_max[0]) == 1.0


def test_adabelief_rectify_by_convention():
    """torch: SGD step −lr·m_t (no correction) while ρ_t ≤ 4, rectified from t = 5 with
    sqrt(s)/sqrt(c2) + ε; pto: −lr·m̂_t while ρ_t < 5, from t = 6 the ε-hat form."""
    lr, b1, b2, eps = 1e-3, 0.9, 0.999, 1e-8
    g = np.array([0.5, -1.0])
    official = steps("adabelief", np.zeros(2), [g] * 6, rectify=True)
    pto = steps("adabelief", np.zeros(2), [g] * 6, rectify=True, eps=eps, convention=PTO)
    np.testing.assert_allclose(official[0][0], -lr * (1 - b1) * g, rtol=1e-14)
    np.testing.assert_allclose(pto[0][0], -lr * g, rtol=1e-14)
    for run, t, standard in ((official, 5, True), (pto, 6, False)):
        m, s = run[t - 1][1].m, run[t - 1][1].s
        c1, c2 = 1 - b1 ** t, 1 - b2 ** t
        rho_inf = 2 / (1 - b2) - 1
        rho_t = rho_inf - 2 * t * b2 ** t / c2
        r = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
        denom = np.sqrt(s / c2) + eps if standard else (np.sqrt(s) + eps) / math.sqrt(c2)
        np.testing.assert_allclose(run[t - 1][0] - run[t - 2][0], -lr * r * (m / c1) / denom, rtol=1e-12)
    # t = 5 under pto is still the bias-corrected SGD step
    np.testing.assert_allclose(pto[4][0] - pto[3][0], -lr / (1 - b1 ** 5) * pto[4][1].m, rtol=1e-13)


def test_adabelief_optax_is_torch_with_eps_root_equal_to_eps():
    rng = np.random.default_rng(2)
    p, grads = rng.standard_normal(30), [rng.standard_normal(30) for _ in range(10)]
    torch_run = steps("adabelief", p, grads)
    optax_run = steps("adabelief", p, grads, convention="optax", eps=1e-8, eps_root=1e-8)
    np.testing.assert_allclose(optax_run[-1][0], torch_run[-1][0], rtol=1e-14)
    assert OPTIMIZERS["adabelief"].hyper(convention="optax").eps == 1e-16


@pytest.mark.parametrize("name", ["adabelief", "yogi", "adabound"])
def test_official_convention_matches_pto_where_they_agree(name):
    """The "torch" convention (the official code the paper repo copies) against pto configured like
    it: the same updates up to lerp-vs-mul/add rounding, with a prefilled v0/m0 (§1.7)."""
    torch = pytest.importorskip("torch")
    pto = pytest.importorskip("pytorch_optimizer")
    rng = np.random.default_rng(3)
    p0, grads = rng.standard_normal(40), [rng.standard_normal(40) for _ in range(20)]
    v0, m0 = rng.chisquare(1, 40) * 1e-3, rng.standard_normal(40) * 1e-3
    kw = {"weight_decay": 5e-4, **({"eps_root": 1e-15} if name == "adabound" else {})}
    trace = steps(name, p0, grads, v0=v0, m0=m0, **kw)
    cls = {"adabelief": pto.AdaBelief, "yogi": pto.Yogi, "adabound": pto.AdaBound}[name]
    tp = torch.tensor(p0, requires_grad=True)
    opt = cls([tp], weight_decay=5e-4, weight_decouple=False, **({"eps": 1e-8} if name == "adabelief" else {}))
    second = "exp_avg_var" if name == "adabelief" else "exp_avg_sq"
    opt.state[tp] = {"exp_avg": torch.tensor(m0), second: torch.tensor(v0)}
    for g, (p, _) in zip(grads, trace):
        tp.grad = torch.tensor(g)
        opt.step()
    np.testing.assert_allclose(tp.detach().numpy(), trace[-1][0], rtol=1e-12)


# ---------------------------------------------------------------------------------- Yogi

def test_yogi_additive_second_moment(xp):
    """v_1 = v0 − (1 − β2)·sign(v0 − g²)·g²: down by (1 − β2)g² when v0 > g², up when v0 < g²,
    unchanged when equal — not Adam's β2·v0 + (1 − β2)g²."""
    g = np.array([0.1, 2.0, 0.5])
    v0 = np.array([1.0, 1.0, 0.25])
    (p, s), = steps("yogi", xp.zeros(3, dtype=xp.float64), [xp.asarray(g)], v0=xp.asarray(v0))
    assert_close(s.v, xp.asarray(np.array([1.0 - 1e-3 * 0.01, 1.0 + 1e-3 * 4.0, 0.25])), rtol=1e-15, xp=xp)
    m1 = 0.9 * 1e-6 + 0.1 * g                                      # m0 is still initial_accumulator
    expected = -1e-2 / 0.1 * m1 / (np.sqrt(to_numpy(s.v)) / math.sqrt(1e-3) + 1e-3)
    assert_close(p, xp.asarray(expected), rtol=1e-13, xp=xp)


def test_yogi_initial_accumulator_fills_m_and_v():
    alg = OPTIMIZERS["yogi"]
    state = alg.init(np.zeros(3), alg.hyper())
    np.testing.assert_array_equal(state.m, np.full(3, 1e-6))
    np.testing.assert_array_equal(state.v, np.full(3, 1e-6))
    state = alg.init(np.zeros(3), alg.hyper(initial_accumulator=0.0), v0=np.full(3, 0.5))
    np.testing.assert_array_equal(state.m, np.zeros(3))
    np.testing.assert_array_equal(state.v, np.full(3, 0.5))


def test_yogi_conventions():
    """optax = torch up to rounding; paper = no bias correction: Δθ_1 = −lr·m_1/(sqrt(v_1) + ε)."""
    g = np.array([0.3, -4.0])
    (torch_p, s), = steps("yogi", np.zeros(2), [g])
    (optax_p, _), = steps("yogi", np.zeros(2), [g], convention="optax")
    (paper_p, _), = steps("yogi", np.zeros(2), [g], convention="paper")
    np.testing.assert_allclose(optax_p, torch_p, rtol=1e-15)
    np.testing.assert_allclose(paper_p, -1e-2 * s.m / (np.sqrt(s.v) + 1e-3), rtol=1e-14)


# -------------------------------------------------------------------------------- errors

@pytest.mark.parametrize(("name", "kw", "match"), [
    ("adabound", {"gamma": -1.0}, r"gamma must be in \(0, inf\); got -1\.0"),
    ("amsbound", {"base_lr": float("nan")}, r"base_lr must not be NaN"),
    ("adabelief", {"convention": "paper", "amsgrad": True}, r"amsgrad=True is not part of the paper's Alg\. 2"),
    ("adabelief", {"threshold": 2}, r"threshold must be in \[4, inf\); got 2"),
    ("yogi", {"initial_accumulator": -1.0}, r"initial_accumulator must be a finite number >= 0; got -1\.0"),
    ("yogi", {"convention": "paper", "bias_correction": "none"}, r"Zaheer et al\.'s Alg\. 2"),
])
def test_errors_name_the_parameter(name, kw, match):
    with pytest.raises(ValueError, match=match):
        OPTIMIZERS[name].hyper(**kw)
