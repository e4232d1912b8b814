"""Closed forms of the Adam family's first steps, with and without v0 (ALGORITHMS §1.2-1.3, §4.11)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from v0ref import OPTIMIZERS

from .conftest import assert_close, to_numpy


def first_step(name, p, g, v0=None, **kw):
    alg = OPTIMIZERS[name]
    hp = alg.hyper(**kw)
    new_p, state = alg.update(p, g, alg.init(p, hp, v0=v0), hp)
    return new_p - p, state


@pytest.mark.parametrize("name", ["adam", "adamw", "amsgrad", "adamax"])
@settings(max_examples=25, deadline=None)
@given(shape=st.lists(st.integers(0, 5), max_size=3).map(tuple), seed=st.integers(0, 2**32 - 1),
       lr=st.floats(1e-5, 1.0), b1=st.floats(0.0, 0.99), b2=st.floats(0.0, 0.9999),
       dtype=st.sampled_from(["float32", "float64"]))
def test_zero_v0_first_step_is_sign_descent(name, shape, seed, lr, b1, b2, dtype):
    """v0 = m0 = 0: |Δθ_1| = lr·|g|/(|g| + ε) in every coordinate, whatever |g| is (§1.2)."""
    rng = np.random.default_rng(seed)
    g = (10.0 ** rng.uniform(-6, 2, size=shape) * rng.choice([-1, 1], size=shape)).astype(dtype)
    p = rng.standard_normal(shape).astype(dtype)
    kw = {"weight_decay": 0.0} if name == "adamw" else {}
    delta, _ = first_step(name, p, g, lr=lr, betas=(b1, b2), **kw)
    expected = -lr * g.astype(np.float64) / (np.abs(g.astype(np.float64)) + 1e-8)
    tol = 1e-13 if dtype == "float64" else 2e-6
    np.testing.assert_allclose(delta, expected, rtol=tol, atol=tol * abs(p).max(initial=1.0) * 4)


# ALGORITHMS §1.3 reference values (torch, float32, lr=1e-3, eps=1e-8, g_1 = 0.5)
EQ12_TABLE = [(0.0, 0.999, -9.99999931e-4), (0.01, 0.999, -1.5625e-4), (0.01, 0.98, -5.812382e-4)]


@pytest.mark.parametrize("name", ["adam", "adamw"])
@pytest.mark.parametrize(("v0", "b2", "expected"), EQ12_TABLE)
def test_eq12_table_float32(name, v0, b2, expected, xp):
    """The paper-code semantics (standard correction kept from t = 1) reproduce the §1.3 table."""
    p = xp.zeros((3,), dtype=xp.float32)
    g = xp.full((3,), 0.5, dtype=xp.float32)
    delta, _ = first_step(name, p, g, v0=xp.full((3,), v0, dtype=xp.float32), betas=(0.9, b2),
                          **({"weight_decay": 0.0} if name == "adamw" else {}))
    assert delta.dtype == xp.float32
    np.testing.assert_allclose(to_numpy(delta), expected, rtol=2e-7)


@pytest.mark.parametrize("mode", ["standard", "none", "eps_hat"])
@pytest.mark.parametrize("convention", ["torch", "optax", "paper"])
@pytest.mark.parametrize(("v0", "b2"), [(0.0, 0.999), (0.01, 0.999), (0.01, 0.98), (3e-6, 0.99)])
def test_eq12_all_bias_correction_modes(mode, convention, v0, b2, xp):
    """Δθ_1 in closed form for each bias-correction mode (§1.3), float64, every convention."""
    lr, eps, g1, b1 = 1e-3, 1e-8, 0.5, 0.9
    p = xp.zeros((2,), dtype=xp.float64)
    g = xp.asarray([g1, -g1], dtype=xp.float64)
    delta, _ = first_step("adam", p, g, v0=xp.full((2,), v0, dtype=xp.float64), lr=lr, betas=(b1, b2),
                          eps=eps, bias_correction=mode, convention=convention)
    if mode == "standard":
        expected = -lr * g1 / (math.sqrt(b2 / (1 - b2) * v0 + g1 ** 2) + eps)
    elif mode == "none":
        expected = -lr * g1 / (math.sqrt(b2 * v0 + (1 - b2) * g1 ** 2) + eps)
    else:
        expected = -lr * g1 / (math.sqrt(b2 / (1 - b2) * v0 + g1 ** 2) + eps / math.sqrt(1 - b2))
    assert_close(delta, xp.asarray([expected, -expected], dtype=xp.float64), rtol=1e-13, xp=xp)


def test_nonzero_v0_makes_the_first_step_proportional_to_g():
    """Once β2/(1−β2)·v0 ≫ g², Δθ_1 ≈ −lr·g/sqrt(β2/(1−β2)·v0): SGD-like, not sign-like."""
    g = np.array([1e-4, 1e-3, 1e-2])
    delta, _ = first_step("adam", np.zeros(3), g, v0=np.full(3, 1.0))
    np.testing.assert_allclose(delta / g, np.full(3, -1e-3 / math.sqrt(999.0)), rtol=1e-4)


def test_amsgrad_first_step_uses_the_larger_of_v0_and_v1():
    v0, g, b2 = 1.0, 1e-2, 0.999
    delta, state = first_step("amsgrad", np.zeros(1), np.full(1, g), v0=np.full(1, v0))
    v1 = b2 * v0 + (1 - b2) * g * g
    assert state.v_max[0] == max(v0, v1) == v0
    np.testing.assert_allclose(delta, -1e-3 * g / (math.sqrt(v0 / (1 - b2)) + 1e-8), rtol=1e-14)


def test_adamax_v0_is_stored_as_its_square_root():
    state = OPTIMIZERS["adamax"].init(np.zeros(2), v0=np.array([4.0, 0.25]))
    np.testing.assert_array_equal(state.u, [2.0, 0.5])
    delta, _ = first_step("adamax", np.zeros(1), np.full(1, 0.1), v0=np.full(1, 4.0))
    np.testing.assert_allclose(delta, -2e-3 * 0.1 / (0.999 * 2.0), rtol=1e-14)


def test_nadam_first_step_torch_schedule():
    lr, b1, b2, eps, psi, g = 2e-3, 0.9, 0.999, 1e-8, 4e-3, 0.3
    delta, state = first_step("nadam", np.zeros(1), np.full(1, g))
    mu1 = b1 * (1 - 0.5 * 0.96 ** psi)
    mu2 = b1 * (1 - 0.5 * 0.96 ** (2 * psi))
    denom = math.sqrt((1 - b2) * g * g / (1 - b2)) + eps
    expected = -lr * g / denom - lr * mu2 / (1 - mu1 * mu2) * (1 - b1) * g / denom
    np.testing.assert_allclose(delta, expected, rtol=1e-14)
    assert state.mu_product == pytest.approx(mu1, rel=1e-15)


def test_nadam_first_step_optax_form():
    lr, b1, g = 1e-3, 0.9, -0.7
    delta, _ = first_step("nadam", np.zeros(1), np.full(1, g), lr=lr, convention="optax")
    m_hat = b1 * (1 - b1) * g / (1 - b1 ** 2) + (1 - b1) * g / (1 - b1)
    np.testing.assert_allclose(delta, -lr * m_hat / (abs(g) + 1e-8), rtol=1e-14)


@pytest.mark.parametrize(("convention", "first_rectified"), [("torch", 6), ("optax", 6), ("paper", 5)])
def test_radam_threshold_by_convention(convention, first_rectified):
    """ρ_1 = 1, ρ_5 ≈ 4.996, ρ_6 ≈ 5.994: the paper rectifies from t = 5, torch/optax from t = 6."""
    alg = OPTIMIZERS["radam"]
    hp = alg.hyper(convention=convention)
    p, state = np.zeros(1), alg.init(np.zeros(1), hp)
    for t in range(1, 9):
        g = np.full(1, 0.1 * t)
        old = p
        p, state = alg.update(p, g, state, hp)
        sgd_step = -hp.lr * state.m / (1 - 0.9 ** t)
        assert np.allclose(p - old, sgd_step, rtol=1e-12) == (t < first_rectified), t


def test_radam_rho_values():
    from v0ref.algorithms.radam import rho
    assert rho(1, 0.999) == pytest.approx(1.0)
    assert rho(5, 0.999) == pytest.approx(4.996, abs=1e-3)
    assert rho(6, 0.999) == pytest.approx(5.994, abs=1e-3)


def test_adamw_conventions_scale_decay_differently():
    """torch/optax: θ(1 − lr·λ) (decay scaled by lr); paper: θ − λθ (η_t = 1)."""
    p, g = np.full(1, 2.0), np.zeros(1)
    for convention, expected in [("torch", 2.0 * (1 - 1e-3 * 0.1)), ("optax", 2.0 - 1e-3 * 0.1 * 2.0),
                                 ("paper", 2.0 - 0.1 * 2.0)]:
        delta, _ = first_step("adamw", p, g, weight_decay=0.1, convention=convention)
        np.testing.assert_allclose(p + delta, expected, rtol=1e-15)


def test_adamw_default_weight_decay_follows_convention():
    assert OPTIMIZERS["adamw"].hyper().weight_decay == 1e-2
    assert OPTIMIZERS["adamw"].hyper(convention="optax").weight_decay == 1e-4
    assert OPTIMIZERS["adam"].hyper().weight_decay == 0.0


def test_amsgrad_max_before_or_after_correction():
    """torch keeps max(v_max, v); optax max(v_max, v̂): the stored maxima differ by 1/(1−β2^t)."""
    g = np.array([1.0])
    alg = OPTIMIZERS["amsgrad"]
    for convention, factor in [("torch", 1.0), ("optax", 1.0 / (1 - 0.999))]:
        hp = alg.hyper(convention=convention)
        _, state = alg.update(np.zeros(1), g, alg.init(np.zeros(1), hp), hp)
        np.testing.assert_allclose(state.v_max, (1 - 0.999) * factor, rtol=1e-14)
