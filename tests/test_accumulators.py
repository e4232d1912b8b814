"""AdaGrad, RMSProp and AdaDelta: closed-form first steps per convention, the torch/optax differences
shown exactly, centered RMSProp's variance, v0 semantics (ALGORITHMS §4.4-4.6, §4.19; ANCHORS §3)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from v0ref import OPTIMIZERS

from .test_references import _find_optax_field, _grads, _prefill_optax

G = np.array([0.5, -2.0, 1e-3])


def run(name, grads, p=None, v0=None, m0=None, **kw):
    """Oracle trajectory: the parameters and states after each gradient in ``grads``."""
    alg = OPTIMIZERS[name]
    hp = alg.hyper(**kw)
    p = np.zeros_like(grads[0]) if p is None else p
    state = alg.init(p, hp, v0=v0, m0=m0)
    out = []
    for g in grads:
        p, state = alg.update(p, g, state, hp)
        out.append((p, state))
    return out


def first(name, g=G, **kw):
    return run(name, [g], **kw)[0]


# ------------------------------------------------------------------------- closed-form first steps

@pytest.mark.parametrize(("convention", "expected"), [
    ("torch", -1e-2 * G / (np.abs(G) + 1e-10)),               # r_0 = 0: sign descent, |Δθ| = lr
    ("paper", -1e-2 * G / (1e-7 + np.abs(G))),                 # Goodfellow Alg. 8.4, δ = 1e-7
    ("optax", -1e-2 * G / np.sqrt(0.1 + G * G + 1e-7)),        # acc0 = 0.1, ε inside the sqrt
])
def test_adagrad_first_step(convention, expected):
    p, state = first("adagrad", convention=convention)
    np.testing.assert_allclose(p, expected, rtol=1e-15)
    np.testing.assert_allclose(state.v, (0.1 if convention == "optax" else 0.0) + G * G, rtol=1e-15)


def test_adagrad_lr_decay_schedule():
    """α_t = α/(1 + (t−1)·lr_decay) under every convention."""
    grads = [G, -G, 2 * G]
    for convention in ("torch", "optax", "paper"):
        trace = run("adagrad", grads, lr=0.1, lr_decay=0.5, eps=0.0, convention=convention,
                    initial_accumulator_value=0.0)
        previous = np.zeros(3)
        for t, (g, (p, state)) in enumerate(zip(grads, trace), start=1):
            np.testing.assert_allclose(p - previous, -0.1 / (1 + 0.5 * (t - 1)) * g / np.sqrt(state.v), rtol=1e-14)
            previous = p


@pytest.mark.parametrize(("convention", "alpha", "denom"), [
    ("torch", 0.99, lambda v: np.sqrt(v) + 1e-8),
    ("optax", 0.9, lambda v: np.sqrt(v + 1e-8)),
    ("paper", 0.9, lambda v: np.sqrt(v + 1e-6)),
])
def test_rmsprop_first_step(convention, alpha, denom):
    v0 = np.array([0.0, 0.3, 1e-4])
    p, state = first("rmsprop", v0=v0, convention=convention)
    v1 = alpha * v0 + (1 - alpha) * G * G
    np.testing.assert_allclose(state.v, v1, rtol=1e-15)
    np.testing.assert_allclose(p, -1e-2 * G / denom(v1), rtol=1e-15)


def test_rmsprop_centered_variance_term():
    """centered: d_t = sqrt(v_t − ḡ_t²) + ε with ḡ the EMA of g (torch; Graves 2013 Eq. 38-41)."""
    g1, g2, a = np.array([1.0, -0.5]), np.array([3.0, 0.5]), 0.9
    (_, s1), (p2, s2) = run("rmsprop", [g1, g2], alpha=a, centered=True, eps=0.0)
    g_avg = a * (1 - a) * g1 + (1 - a) * g2
    v = a * (1 - a) * g1 ** 2 + (1 - a) * g2 ** 2
    np.testing.assert_allclose(s1.g_avg, (1 - a) * g1, rtol=1e-15)
    np.testing.assert_allclose(s2.g_avg, g_avg, rtol=1e-14)
    d1 = np.sqrt(a * (1 - a)) * np.abs(g1)                     # v_1 − ḡ_1² = α(1−α) g_1²
    np.testing.assert_allclose(p2, -1e-2 * (g1 / d1 + g2 / np.sqrt(v - g_avg ** 2)), rtol=1e-13)


def test_rmsprop_bias_correction_modes():
    """standard: v/(1−α^t) (optax's bias_correction=True); eps_hat: ε/sqrt(1−α^t) in the corrected form."""
    v0, a, eps = 0.2, 0.99, 1e-3
    v1 = a * v0 + (1 - a) * G * G
    c = 1 - a
    for mode, expected in [("none", G / (np.sqrt(v1) + eps)), ("standard", G / (np.sqrt(v1 / c) + eps)),
                           ("eps_hat", G / (np.sqrt(v1 / c) + eps / math.sqrt(c)))]:
        p, _ = first("rmsprop", v0=np.full(3, v0), eps=eps, bias_correction=mode)
        np.testing.assert_allclose(p, -1e-2 * expected, rtol=1e-14, err_msg=mode)
    # centered: ŝ = v̂ − (ḡ/c)²; eps_hat adds ε to sqrt(c·ŝ) = sqrt(v − ḡ²/c)
    g_avg = (1 - a) * G
    s_hat = v1 / c - (g_avg / c) ** 2
    for mode, expected in [("standard", G / (np.sqrt(s_hat) + eps)),
                           ("eps_hat", G / (np.sqrt(s_hat) + eps / math.sqrt(c)))]:
        p, _ = first("rmsprop", v0=np.full(3, v0), eps=eps, bias_correction=mode, centered=True)
        np.testing.assert_allclose(p, -1e-2 * expected, rtol=1e-12, err_msg=f"centered {mode}")


@pytest.mark.parametrize("convention", ["torch", "optax", "paper"])
def test_adadelta_first_two_steps(convention):
    """Δx_1 = sqrt(ε/(v_1 + ε))·g_1 (E[Δx²]_0 = 0); Δx_2 uses E[Δx²]_1 = (1−ρ)Δx_1²."""
    rho, eps, lr = (0.95 if convention == "paper" else 0.9), 1e-6, 1.0
    v0 = np.array([0.0, 0.5, 1e-2])
    (p1, s1), (p2, s2) = run("adadelta", [G, -G], v0=v0, convention=convention)
    v1 = rho * v0 + (1 - rho) * G * G
    dx1 = np.sqrt(eps / (v1 + eps)) * G
    np.testing.assert_allclose(p1, -lr * dx1, rtol=1e-14)
    np.testing.assert_allclose(s1.delta_sq, (1 - rho) * dx1 ** 2, rtol=1e-14)
    dx2 = np.sqrt((s1.delta_sq + eps) / (rho * v1 + (1 - rho) * G * G + eps)) * -G
    np.testing.assert_allclose(p2, p1 - lr * dx2, rtol=1e-14)


# ------------------------------------------------------------------------------ v0 semantics

def test_v0_overrides_the_initial_accumulator():
    p = np.zeros(3)
    v0 = np.array([1.0, 2.0, 3.0])
    ada = OPTIMIZERS["adagrad"]
    assert np.all(ada.init(p, ada.hyper(convention="optax")).v == 0.1)
    np.testing.assert_array_equal(ada.init(p, ada.hyper(convention="optax"), v0=v0).v, v0)
    np.testing.assert_array_equal(ada.init(p, ada.hyper(initial_accumulator_value=0.5), v0=0.25).v, 0.25)
    rms = OPTIMIZERS["rmsprop"]
    assert np.all(rms.init(p, rms.hyper(initial_scale=1.0)).v == 1.0)
    np.testing.assert_array_equal(rms.init(p, rms.hyper(initial_scale=1.0), v0=v0).v, v0)
    delta = OPTIMIZERS["adadelta"].init(p, v0=v0)             # v0 fills E[g²] only
    np.testing.assert_array_equal(delta.v, v0)
    np.testing.assert_array_equal(delta.delta_sq, 0.0)


def test_rmsprop_m0_fills_the_buffer_in_the_conventions_units():
    """torch b: θ −= lr·(μ m0 + g/d); optax/paper trace: θ += μ m0 − lr·g/d.  μ = 0 carries m0 unread."""
    m0, d = np.array([0.1, 0.2, 0.3]), np.sqrt(0.01 * G * G) + 1e-8
    p, s = first("rmsprop", m0=m0, momentum=0.5)
    np.testing.assert_allclose(p, -1e-2 * (0.5 * m0 + G / d), rtol=1e-14)
    p, s = first("rmsprop", m0=m0, momentum=0.5, convention="optax", eps_in_sqrt=False, alpha=0.99)
    np.testing.assert_allclose(p, 0.5 * m0 - 1e-2 * G / d, rtol=1e-14)
    p, s = first("rmsprop", m0=m0)
    np.testing.assert_array_equal(s.m, m0)
    assert first("rmsprop")[1].m is None


def test_rmsprop_momentum_torch_vs_optax_under_an_lr_change():
    """optax's trace is taken after the lr scaling (m = −lr·b): equal for a constant lr, not after a change."""
    alg = OPTIMIZERS["rmsprop"]
    out = {}
    for conv in ("torch", "optax"):
        hp = alg.hyper(convention=conv, alpha=0.9, eps_in_sqrt=False, momentum=0.5, lr=0.1)
        p1, s1 = alg.update(np.zeros(3), G, alg.init(np.zeros(3), hp), hp)
        hp2 = hp.replace(lr=0.01)
        out[conv] = (p1, s1, *alg.update(p1, -G, s1, hp2))
    (p1t, s1t, p2t, _), (p1o, s1o, p2o, _) = out["torch"], out["optax"]
    np.testing.assert_allclose(p1t, p1o, rtol=1e-15)
    np.testing.assert_allclose(s1o.m, -0.1 * s1t.m, rtol=1e-15)
    # torch: −lr_2·μ·b_1;  optax: μ·m_1 = −lr_1·μ·b_1
    np.testing.assert_allclose(p2o - p2t, (0.01 - 0.1) * 0.5 * s1t.m, rtol=0, atol=1e-15)


def test_rmsprop_nesterov_is_goodfellow_alg_8_6_on_the_look_ahead_iterate():
    """Alg. 8.6 (g at θ + μv, no δ) on f = ½Σhθ²: the oracle's iterates are φ_t = θ_t + μ v_t."""
    h, mu, rho, lr = np.array([1.0, 4.0, 0.25]), 0.9, 0.9, 0.05
    theta, v, r = np.array([1.0, -2.0, 3.0]), np.zeros(3), np.zeros(3)
    alg = OPTIMIZERS["rmsprop"]
    hp = alg.hyper(convention="paper", nesterov=True, momentum=mu, alpha=rho, eps=0.0, lr=lr)
    phi, state = theta.copy(), alg.init(theta, hp)
    for _ in range(20):
        g = h * (theta + mu * v)
        r = rho * r + (1 - rho) * g * g
        v = mu * v - lr * g / np.sqrt(r)
        theta = theta + v
        phi, state = alg.update(phi, h * phi, state, hp)
        np.testing.assert_allclose(phi, theta + mu * v, rtol=1e-12)


# ------------------------------------------------- torch vs optax, shown with the frameworks themselves

def _frameworks():
    torch = pytest.importorskip("torch")
    jax = pytest.importorskip("jax")
    optax = pytest.importorskip("optax")
    jax.config.update("jax_enable_x64", True)
    return torch, jax, optax


def _torch_final(opt_cls, grads, **kw):
    torch = pytest.importorskip("torch")
    tp = torch.zeros(len(grads[0]), dtype=torch.float64, requires_grad=True)
    opt = opt_cls([tp], **kw)
    for g in grads:
        tp.grad = torch.tensor(g)
        opt.step()
    return tp.detach().numpy()


def _optax_final(tx, grads):
    import jax
    import optax
    params = jax.numpy.zeros(len(grads[0]))
    state = tx.init(params)
    for g in grads:
        u, state = tx.update(jax.numpy.asarray(g), state)
        params = optax.apply_updates(params, u)
    return np.asarray(params)


@pytest.mark.torch
@pytest.mark.jax
def test_optax_rmsprop_is_torch_with_eps_inside_the_sqrt():
    """ANCHORS §3: optax (eps_in_sqrt=True) = the torch recursion with sqrt(v + ε); eps_in_sqrt=False = torch."""
    torch, _, optax = _frameworks()
    rng = np.random.default_rng(3)
    grads = [1e-3 * rng.standard_normal(6) for _ in range(25)]
    torch_p = _torch_final(torch.optim.RMSprop, grads, lr=1e-2, alpha=0.9, eps=1e-8)
    ours_in = run("rmsprop", grads, alpha=0.9, eps_in_sqrt=True)[-1][0]   # torch arithmetic, ε inside
    optax_in, optax_out = (_optax_final(optax.rmsprop(1e-2, decay=0.9, eps=1e-8, eps_in_sqrt=flag), grads)
                           for flag in (True, False))
    np.testing.assert_allclose(optax_in, ours_in, rtol=1e-12)
    np.testing.assert_allclose(optax_out, torch_p, rtol=1e-12)
    assert np.max(np.abs(optax_in - torch_p) / np.abs(torch_p)) > 1e-3   # |g| ~ 1e-3: ε = 1e-8 matters


@pytest.mark.torch
@pytest.mark.jax
def test_optax_adagrad_is_torch_with_accumulator_0_1_when_eps_is_0():
    """optax's default accumulator is 0.1 (torch: 0); with ε = 0 its placement no longer matters."""
    torch, _, optax = _frameworks()
    grads = [G * k for k in (1.0, -0.5, 2.0)]
    np.testing.assert_allclose(_optax_final(optax.adagrad(1e-2, eps=0.0), grads),
                               _torch_final(torch.optim.Adagrad, grads, lr=1e-2, eps=0.0, initial_accumulator_value=0.1),
                               rtol=1e-14)
    assert not np.allclose(_optax_final(optax.adagrad(1e-2, eps=0.0), grads),
                           _torch_final(torch.optim.Adagrad, grads, lr=1e-2, eps=0.0), rtol=1e-3)


# --------------------------- prefilled v0 against the frameworks (test_references passes m0 to every entry)

PREFILLED = [("adagrad", {}), ("adagrad", {"lr_decay": 0.05, "weight_decay": 0.1, "maximize": True}),
             ("adadelta", {}), ("adadelta", {"weight_decay": 0.1, "rho": 0.5})]
OPTAX_PREFILLED = [("adagrad", {}), ("adagrad", {"initial_accumulator_value": 0.0}), ("adadelta", {}),
                   ("adadelta", {"weight_decay": 0.1, "rho": 0.5}),
                   ("rmsprop", {"centered": True, "bias_correction": "standard", "momentum": 0.5}),
                   ("rmsprop", {"centered": True, "bias_correction": "standard", "eps_in_sqrt": False})]


def _setup(name, kw, framework, seed=0):
    alg = OPTIMIZERS[name]
    hp = alg.hyper(**kw)
    ref = next(r for r in alg.references if r.framework == framework and r.applies(hp))
    rng = np.random.default_rng(seed)
    p0 = rng.standard_normal((4, 5))
    v0 = (1.0 if name == "rmsprop" else 0.0) + rng.chisquare(1, size=(4, 5)) * 1e-3   # rmsprop: s_1 ≫ rounding
    grads = [g / (1.0 if name != "rmsprop" else np.abs(g).max()) for g in _grads(rng, (4, 5), 25)]
    return alg, hp, ref, p0, v0, grads, run(name, grads, p=p0, v0=v0, **kw)


@pytest.mark.torch
@pytest.mark.parametrize(("name", "kw"), PREFILLED)
def test_prefilled_v0_matches_torch(name, kw):
    torch = pytest.importorskip("torch")
    alg, hp, ref, p0, v0, grads, trace = _setup(name, kw, "torch")
    tp = torch.tensor(p0, requires_grad=True)
    opt = getattr(torch.optim, ref.target.rpartition(".")[2])([tp], **ref.kwargs(hp))
    init = alg.init(p0, hp, v0=v0)
    opt.state[tp] = {"step": torch.tensor(0.0), **{t: torch.tensor(getattr(init, f)) for f, t in ref.state.items()}}
    for g, (p, s) in zip(grads, trace):
        tp.grad = torch.tensor(g)
        opt.step()
        np.testing.assert_allclose(tp.detach().numpy(), p, rtol=1e-12, atol=1e-15)
        for f, t in ref.state.items():
            np.testing.assert_allclose(opt.state[tp][t].numpy(), getattr(s, f), rtol=1e-12, atol=1e-15)


@pytest.mark.jax
@pytest.mark.parametrize(("name", "kw"), [(n, {**k, "convention": "optax"}) for n, k in OPTAX_PREFILLED])
def test_prefilled_v0_matches_optax(name, kw):
    """Also centered RMSProp with optax's bias correction, on a v0 that keeps s_t away from 0 (XLA fuses
    ``n − m·m`` into an FMA, so an ill-conditioned difference cannot agree to 1e-12)."""
    jax = pytest.importorskip("jax")
    optax = pytest.importorskip("optax")
    jax.config.update("jax_enable_x64", True)
    alg, hp, ref, p0, v0, grads, trace = _setup(name, kw, "optax")
    tx = getattr(optax, ref.target.rpartition(".")[2])(**ref.kwargs(hp))
    init = alg.init(p0, hp, v0=v0)
    params = jax.numpy.asarray(p0)
    state = _prefill_optax(tx.init(params), {o: jax.numpy.asarray(getattr(init, f)) for f, o in ref.state.items()
                                             if getattr(init, f) is not None})
    for g, (p, s) in zip(grads, trace):
        u, state = tx.update(jax.numpy.asarray(g), state, params)
        params = optax.apply_updates(params, u)
        np.testing.assert_allclose(np.asarray(params), p, rtol=1e-12, atol=1e-15)
        for f, o in ref.state.items():
            if getattr(s, f) is not None:
                np.testing.assert_allclose(np.asarray(_find_optax_field(state, o)), getattr(s, f), rtol=1e-12)


# ----------------------------------------------------------------------------------------- errors

@pytest.mark.parametrize(("name", "kw", "match"), [
    ("rmsprop", {"nesterov": True}, r"nesterov=True requires momentum > 0; got momentum=0\.0"),
    ("rmsprop", {"alpha": -0.1}, r"alpha must be in \[0, 1\); got -0\.1"),
    ("rmsprop", {"bias_correction": "fairseq"}, r"bias_correction must be one of 'standard', 'none', 'eps_hat'"),
    ("adagrad", {"initial_accumulator_value": -1.0}, r"initial_accumulator_value must be a finite number >= 0"),
    ("adagrad", {"lr_decay": float("nan")}, r"lr_decay must not be NaN"),
    ("adadelta", {"rho": 1.01}, r"rho must be in \[0, 1\]; got 1\.01"),
    ("adadelta", {"eps": 0.0}, r"eps must be in \(0, inf\); got 0\.0"),
])
def test_errors_name_the_parameter(name, kw, match):
    with pytest.raises(ValueError, match=match):
        OPTIMIZERS[name].hyper(**kw)


@pytest.mark.parametrize("name", ["adagrad", "adadelta"])
def test_no_first_moment(name):
    with pytest.raises(ValueError, match=rf"{name} keeps no first-moment state; m0 does not apply"):
        OPTIMIZERS[name].init(np.zeros(2), m0=np.zeros(2))


def test_convention_defaults():
    ada, rms, delta = OPTIMIZERS["adagrad"], OPTIMIZERS["rmsprop"], OPTIMIZERS["adadelta"]
    assert (ada.hyper().eps, ada.hyper().initial_accumulator_value) == (1e-10, 0.0)
    assert (ada.hyper(convention="optax").eps, ada.hyper(convention="optax").initial_accumulator_value) == (1e-7, 0.1)
    assert [(h.alpha, h.eps, h.eps_in_sqrt) for h in (rms.hyper(), rms.hyper(convention="optax"),
                                                      rms.hyper(convention="paper"))] == \
        [(0.99, 1e-8, False), (0.9, 1e-8, True), (0.9, 1e-6, True)]
    assert [delta.hyper(convention=c).rho for c in ("torch", "optax", "paper")] == [0.9, 0.9, 0.95]
