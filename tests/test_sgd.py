"""SGD (buffer and velocity forms, NAG, Sutskever's schedule) and sign descent (ALGORITHMS §2, §4.1-4.3, §4.16)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from v0ref import OPTIMIZERS
from v0ref.algorithms.sgd import sutskever_momentum

from .conftest import assert_close

SGD, SIGNSGD, SIGNUM = OPTIMIZERS["sgd"], OPTIMIZERS["signsgd"], OPTIMIZERS["signum"]


def run(alg, hp, p, grads, m0=None):
    state, out = alg.init(p, hp, m0=m0), []
    for g in grads:
        p, state = alg.update(p, g(p) if callable(g) else g, state, hp)
        out.append((p, state))
    return out


# ------------------------------------------------------------------------- Sutskever's schedule

# ALGORITHMS §2.2 table (values as printed there) with μ_max = 0.999
SCHEDULE = [(0, 0.5), (249, 0.5), (250, 0.75), (500, 0.833), (750, 0.875), (1000, 0.9), (1750, 0.9375),
            (2000, 0.944), (4000, 0.971), (10**4, 0.988), (10**5, 0.9988), (10**6, 0.999)]


@pytest.mark.parametrize(("t", "printed"), SCHEDULE)
def test_sutskever_schedule_table_and_closed_forms(t, printed):
    mu = sutskever_momentum(t, 0.999)
    assert round(mu, len(str(printed)) - 2) == printed
    k = t // 250
    assert mu == min(1.0 - 1.0 / (2.0 * (k + 1)), 0.999)                               # closed form
    assert mu == pytest.approx(min(1.0 - 2.0 ** (-1.0 - math.log2(k + 1)), 0.999), rel=1e-15, abs=0)


def test_schedule_cap_errors_and_use_in_updates():
    assert sutskever_momentum(10**5, 0.9) == 0.9 and sutskever_momentum(10**5, 0.0) == 0.0
    with pytest.raises(ValueError, match=r"t must be an integer >= 0; got -1"):
        sutskever_momentum(-1, 0.999)
    # t counts updates from 0: with g = 0 each update multiplies v by μ_t, 0.5 up to the 250th, then 0.75
    hp = SGD.hyper(form="velocity", momentum_schedule="sutskever")
    trace = run(SGD, hp, np.zeros(2), [np.zeros(2)] * 252, m0=np.ones(2))
    ratios = [trace[k + 1][1].m[0] / trace[k][1].m[0] for k in range(251)]
    assert ratios[:249] == [0.5] * 249 and ratios[249:] == [0.75, 0.75]
    assert trace[0][1].m[0] == 0.5 and hp.momentum_max == 0.999


# ------------------------------------------------------------ buffer form ≡ velocity form ≡ NAG

A = np.diag([1.0, 0.5, 0.2, 0.1]) + 0.05 * np.ones((4, 4))
B = np.array([1.0, -2.0, 0.5, 3.0])


def grad_f(theta):
    """∇ of the quadratic ½θᵀAθ − bᵀθ."""
    return A @ theta - B


def nag(theta, lr, mus, steps):
    """Sutskever et al. 2013 NAG with the look-ahead gradient; returns [(θ_k, v_k)] for k = 1..steps."""
    v, out = np.zeros_like(theta), []
    for k in range(steps):
        v = mus[k] * v - lr * grad_f(theta + mus[k] * v)
        theta = theta + v
        out.append((theta, v))
    return out


@pytest.mark.parametrize("schedule", [None, "sutskever"])
def test_velocity_form_equals_buffer_form_classical_momentum(schedule):
    lr, p0, steps = 0.05, np.array([3.0, -1.0, 2.0, 0.5]), 600
    kw = {"momentum_schedule": schedule} if schedule else {"momentum": 0.9}
    buf = run(SGD, SGD.hyper(lr=lr, **kw), p0, [grad_f] * steps)
    vel = run(SGD, SGD.hyper(lr=lr, form="velocity", **kw), p0, [grad_f] * steps)
    for (pb, sb), (pv, sv) in zip(buf, vel):
        np.testing.assert_allclose(pv, pb, rtol=0, atol=1e-12)
        np.testing.assert_allclose(sv.m, -lr * sb.m, rtol=0, atol=1e-13)       # v = −lr·b
    assert np.linalg.norm(grad_f(buf[-1][0])) < 1e-3                            # it did converge


@pytest.mark.parametrize("schedule", [None, "sutskever"])
def test_nesterov_iterates_are_nag_lookahead_points(schedule):
    """ALGORITHMS §2.5: the reformulated iterates are Θ_k = θ_k^NAG + μ_k v_k^NAG (μ_k: next update's)."""
    lr, p0, steps = 0.05, np.array([3.0, -1.0, 2.0, 0.5]), 600
    kw = {"momentum_schedule": schedule, "momentum_max": 0.95} if schedule else {"momentum": 0.9}
    mus = [SGD.hyper(**kw).momentum_at(k) for k in range(steps + 1)]
    ref = nag(p0, lr, mus, steps)
    vel = run(SGD, SGD.hyper(lr=lr, form="velocity", nesterov=True, **kw), p0, [grad_f] * steps)
    buf = None if schedule else run(SGD, SGD.hyper(lr=lr, nesterov=True, **kw), p0, [grad_f] * steps)
    for k, (theta, v) in enumerate(ref):
        np.testing.assert_allclose(vel[k][0], theta + mus[k + 1] * v, rtol=0, atol=1e-12, err_msg=f"step {k + 1}")
        np.testing.assert_allclose(vel[k][1].m, v, rtol=0, atol=1e-13)
        if buf is not None:                                                      # torch's buffer form, v = −lr·b
            np.testing.assert_allclose(buf[k][0], theta + mus[k + 1] * v, rtol=0, atol=1e-12)
            np.testing.assert_allclose(-lr * buf[k][1].m, v, rtol=0, atol=1e-13)


# -------------------------------------------------------------------- first steps, m0, dampening

def test_first_step_formulas_with_and_without_m0(xp):
    lr, mu, tau = 0.1, 0.9, 0.5
    P, G, M0 = np.array([1.0, -2.0, 0.5]), np.array([0.25, -1.0, 4.0]), np.array([0.5, 0.5, -1.0])
    f = lambda a: xp.asarray(a.tolist(), dtype=xp.float64)
    p, g, m0 = f(P), f(G), f(M0)

    def step(m0_, **kw):
        (p1, s1), = run(SGD, SGD.hyper(lr=lr, momentum=mu, **kw), p, [g], m0=m0_)
        return p1, s1.m

    p1, b1 = step(None, dampening=tau)                                           # empty buffer: clone, no τ
    assert_close(b1, g, rtol=0, xp=xp)
    assert_close(p1, f(P - lr * G), rtol=1e-15, xp=xp)
    p1, b1 = step(m0, dampening=tau)                                             # prefilled: μ m0 + (1−τ) g
    assert_close(b1, f(mu * M0 + (1 - tau) * G), rtol=1e-15, xp=xp)
    assert_close(p1, f(P - lr * (mu * M0 + (1 - tau) * G)), rtol=1e-15, xp=xp)
    p1, b1 = step(0.0, dampening=tau)                                            # even m0 = 0 skips the clone
    assert_close(b1, f((1 - tau) * G), rtol=1e-15, xp=xp)
    p1, _ = step(m0, nesterov=True)
    assert_close(p1, f(P - lr * (G + mu * (mu * M0 + G))), rtol=1e-15, xp=xp)
    p1, _ = step(m0, form="velocity")
    assert_close(p1, f(P + mu * M0 - lr * G), rtol=1e-15, xp=xp)
    p1, _ = step(m0, form="velocity", nesterov=True)                             # Θ_1 = Θ_0 + μ v_1 − lr g
    assert_close(p1, f(P + mu * (mu * M0 - lr * G) - lr * G), rtol=1e-15, xp=xp)


def test_dampening_applies_from_the_second_step():
    g1, g2 = np.array([1.0, -3.0]), np.array([0.5, 2.0])
    (_, s1), (_, s2) = run(SGD, SGD.hyper(momentum=0.9, dampening=0.5), np.zeros(2), [g1, g2])
    np.testing.assert_array_equal(s1.m, g1)
    np.testing.assert_allclose(s2.m, 0.9 * g1 + 0.5 * g2, rtol=1e-15)


def test_zero_momentum_keeps_no_buffer_and_leaves_m0_alone():
    (p1, s1), = run(SGD, SGD.hyper(lr=0.1, dampening=0.5, weight_decay=0.1), np.ones(2), [np.full(2, 2.0)])
    assert s1.m is None                                                          # torch: no momentum_buffer
    np.testing.assert_allclose(p1, 1.0 - 0.1 * (2.0 + 0.1), rtol=1e-15)      # no dampening without momentum
    (_, s1), = run(SGD, SGD.hyper(), np.ones(2), [np.ones(2)], m0=np.full(2, 7.0))
    np.testing.assert_array_equal(s1.m, 7.0)


# ------------------------------------------------- prefilled framework state (the paper's code)

PREFILL = [("sgd", {"momentum": 0.9, "dampening": 0.3, "weight_decay": 0.01, "maximize": True}),
           ("sgd", {"momentum": 0.95, "nesterov": True}), ("sgd", {}),
           ("signum", {"beta": 0.8, "weight_decay": 0.1, "decoupled_weight_decay": True})]


@pytest.mark.torch
@pytest.mark.parametrize(("name", "kw"), PREFILL)
def test_prefilled_torch_state_equals_oracle_m0(name, kw):
    """torch SGD / pto SignSGD with ``state['momentum_buffer'] = m0`` (no ``step``: neither keeps one)."""
    torch = pytest.importorskip("torch")
    alg = OPTIMIZERS[name]
    hp = alg.hyper(**kw)
    ref = next(r for r in alg.references if r.framework != "optax" and r.state and r.applies(hp))
    module = pytest.importorskip(ref.target.rpartition(".")[0])
    rng = np.random.default_rng(3)
    p0, m0 = rng.standard_normal(7), 1e-3 * rng.standard_normal(7)
    grads = [rng.standard_normal(7) for _ in range(25)]
    tp = torch.tensor(p0, requires_grad=True)
    opt = getattr(module, ref.target.rpartition(".")[2])([tp], **ref.kwargs(hp))
    opt.state[tp] = {"momentum_buffer": torch.tensor(m0)}
    for g, (p, s) in zip(grads, run(alg, hp, p0, grads, m0=m0)):
        tp.grad = torch.tensor(g)
        opt.step()
        np.testing.assert_allclose(tp.detach().numpy(), p, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(opt.state[tp]["momentum_buffer"].numpy(), s.m, rtol=1e-12, atol=1e-15)


@pytest.mark.jax
@pytest.mark.parametrize(("name", "kw", "field"), [("sgd", {"momentum": 0.9}, "trace"),
                                                   ("sgd", {"momentum": 0.5, "nesterov": True}, "trace"),
                                                   ("signum", {"beta": 0.7}, "ema")])
def test_prefilled_optax_state_equals_oracle_m0(name, kw, field):
    jax = pytest.importorskip("jax")
    optax = pytest.importorskip("optax")
    jax.config.update("jax_enable_x64", True)
    alg = OPTIMIZERS[name]
    hp = alg.hyper(convention="optax", **kw)
    ref = next(r for r in alg.references if r.framework == "optax")
    tx = getattr(optax, ref.target.rpartition(".")[2])(**ref.kwargs(hp))
    rng = np.random.default_rng(4)
    p0, m0 = rng.standard_normal(5), 1e-2 * rng.standard_normal(5)
    grads = [rng.standard_normal(5) for _ in range(25)]
    params, state = jax.numpy.asarray(p0), tx.init(jax.numpy.asarray(p0))
    state = (state[0]._replace(**{field: jax.numpy.asarray(m0)}), *state[1:])
    for g, (p, s) in zip(grads, run(alg, hp, p0, grads, m0=m0)):
        updates, state = tx.update(jax.numpy.asarray(g), state, params)
        params = optax.apply_updates(params, updates)
        np.testing.assert_allclose(np.asarray(params), p, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(np.asarray(getattr(state[0], field)), s.m, rtol=1e-12, atol=1e-15)


def test_torch_and_optax_conventions_are_the_same_arithmetic():
    rng = np.random.default_rng(5)
    p0, grads = rng.standard_normal(9), [rng.standard_normal(9) for _ in range(20)]
    for kw in ({"momentum": 0.9}, {"momentum": 0.9, "nesterov": True}, {}):
        a = run(SGD, SGD.hyper(lr=0.01, **kw), p0, grads)[-1][0]
        b = run(SGD, SGD.hyper(lr=0.01, convention="optax", **kw), p0, grads)[-1][0]
        np.testing.assert_array_equal(a, b)


@pytest.mark.torch
def test_validation_agrees_with_torch():
    """Every configuration torch.optim.SGD rejects, the oracle rejects (torch has no dampening range)."""
    torch = pytest.importorskip("torch")
    for kw in ({"lr": -0.1}, {"momentum": -0.9}, {"weight_decay": -1e-4}, {"nesterov": True},
               {"nesterov": True, "momentum": 0.9, "dampening": 0.1}):
        with pytest.raises(ValueError):
            torch.optim.SGD([torch.zeros(1, requires_grad=True)], **kw)
        with pytest.raises(ValueError, match=next(k for k in ("lr", "momentum", "weight_decay", "nesterov") if k in kw)):
            SGD.hyper(**kw)


# ----------------------------------------------------------------------------------- sign descent

def test_signsgd_step_and_sign_of_zero(xp):
    p = xp.asarray([1.0, 2.0, 3.0, -1.0], dtype=xp.float32)
    g = xp.asarray([0.0, -1e-30, 5.0, -0.0], dtype=xp.float32)
    (p1, s1), = run(SIGNSGD, SIGNSGD.hyper(lr=0.5), p, [g])
    assert_close(p1, xp.asarray([1.0, 2.5, 2.5, -1.0], dtype=xp.float32), rtol=0, xp=xp)
    assert s1 == (1,)


def test_signum_first_step_and_m0():
    g, m0, p = np.array([0.5, -2.0, 1e-3]), np.array([-1.0, -1.0, 1.0]), np.zeros(3)
    (p1, s1), = run(SIGNUM, SIGNUM.hyper(lr=0.1), p, [g])                     # m0 = 0: sign(g)
    np.testing.assert_array_equal(p1, run(SIGNSGD, SIGNSGD.hyper(lr=0.1), p, [g])[0][0])
    (p1, s1), = run(SIGNUM, SIGNUM.hyper(lr=0.1), p, [g], m0=m0)               # sign(β m0 + (1−β) g)
    np.testing.assert_allclose(s1.m, 0.9 * m0 + 0.1 * g, rtol=1e-15)
    np.testing.assert_array_equal(p1, [0.1, 0.1, -0.1])


@pytest.mark.parametrize("convention", ["torch", "optax", "paper"])
@pytest.mark.parametrize("betas", [(0.9, 0.999), (0.0, 0.0), (0.5, 0.9)])
def test_adam_first_step_from_zero_moments_with_eps_0_is_signsgd(convention, betas):
    """ALGORITHMS §1.2/§4.16: exact in real arithmetic; bitwise for β = (0, 0), else within rounding."""
    rng = np.random.default_rng(6)
    g = rng.choice([-1, 1], 500) * 10.0 ** rng.uniform(-6, 3, 500)
    p = rng.standard_normal(500)
    adam = OPTIMIZERS["adam"]
    hp = adam.hyper(lr=1e-3, betas=betas, eps=0.0, convention=convention)
    (pa, _), = run(adam, hp, p, [g])
    (ps, _), = run(SIGNSGD, SIGNSGD.hyper(lr=1e-3), p, [g])
    if betas == (0.0, 0.0):
        np.testing.assert_array_equal(pa, ps)
    assert np.all(np.abs(pa - ps) <= np.spacing(np.abs(p)) + 8 * np.finfo(float).eps * 1e-3)


@pytest.mark.torch
@pytest.mark.parametrize("kw", [{}, {"lr": 0.1, "weight_decay": 0.01, "maximize": True},
                                {"weight_decay": 0.1, "decoupled_weight_decay": True}])
def test_torch_adam_with_zero_betas_and_eps_is_signsgd_at_every_step(kw):
    """torch.optim has no sign descent; Adam(betas=(0, 0), eps=0) is signSGD for g ≠ 0 (up to an ulp of
    lr a step: torch's addcdiv rounds lr·m before dividing by |m|)."""
    torch = pytest.importorskip("torch")
    hp = SIGNSGD.hyper(**kw)
    rng = np.random.default_rng(8)
    p0, grads = rng.standard_normal(11), [rng.standard_normal(11) * 10.0 ** rng.uniform(-4, 1) for _ in range(25)]
    tp = torch.tensor(p0, requires_grad=True)
    opt = torch.optim.Adam([tp], lr=hp.lr, betas=(0.0, 0.0), eps=0.0, weight_decay=hp.weight_decay,
                           maximize=hp.maximize, decoupled_weight_decay=hp.decoupled_weight_decay)
    for g, (p, _) in zip(grads, run(SIGNSGD, hp, p0, grads)):
        tp.grad = torch.tensor(g)
        opt.step()
        np.testing.assert_allclose(tp.detach().numpy(), p, rtol=1e-14, atol=1e-15)


def test_signum_conventions_round_the_ema_differently_but_agree_to_an_ulp():
    rng = np.random.default_rng(7)
    p0, grads = rng.standard_normal(1000), [rng.standard_normal(1000) for _ in range(10)]
    ms = {c: run(SIGNUM, SIGNUM.hyper(convention=c, beta=0.3), p0, grads)[-1][1].m for c in ("torch", "optax", "paper")}
    for c in ("optax", "paper"):
        np.testing.assert_allclose(ms[c], ms["torch"], rtol=0, atol=4 * np.finfo(float).eps)
    assert any(not np.array_equal(ms[c], ms["torch"]) for c in ("optax", "paper"))
