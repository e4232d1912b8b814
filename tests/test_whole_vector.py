"""Whole-vector methods of the oracle: L-BFGS, nonlinear CG, Hessian-free, look-ahead NAG and
RMSProp+Nesterov, against closed forms, direct transcriptions, torch.optim.LBFGS and scipy."""

from __future__ import annotations

import numpy as np
import pytest

import v0ref
from v0ref import OPTIMIZERS
from v0ref.objectives import OBJECTIVES, DeepAutoencoder, Quadratic, SaddleToy

WHOLE = [n for n, a in OPTIMIZERS.items() if a.kind == "whole_vector"]


def run(name, f, steps, x=None, **hyper):
    alg = OPTIMIZERS[name]
    hp = alg.hyper(**hyper)
    x = f.x0() if x is None else x
    state = alg.init(x, hp)
    for _ in range(steps):
        x, state = alg.update(x, f, state, hp)
    return x, state


def test_registry_entries():
    assert set(WHOLE) == {"lbfgs", "cg", "hessian_free", "nag_lookahead", "rmsprop_nesterov"}


# ------------------------------------------------------------------------------------------ CG

@pytest.mark.parametrize("beta", ["fr", "pr", "pr+", "hs", "dy"])
def test_cg_exact_line_search_solves_quadratic_in_n_iterations(beta):
    """N&W Thm 5.4 / Goodfellow §8.6.2: with exact line searches CG ends in ≤ n iterations — in ≤ r
    for r distinct eigenvalues (N&W Thm 5.5)."""
    f = Quadratic(n=8, cond=10.0, seed=3)
    x, _ = run("cg", f, 8, beta=beta, line_search="exact")
    assert float(f.loss(x)) < 1e-20 * float(f.loss(f.x0()))
    g = Quadratic(n=8, eigenvalues=[1, 1, 1, 4, 4, 9, 9, 9], seed=1, shapes=((2, 2), (4,)))
    x, _ = run("cg", g, 3, beta=beta, line_search="exact")
    for a, b in zip(x, g.optimum):
        np.testing.assert_allclose(a, b, atol=1e-12)


def test_cg_exact_equals_linear_cg_transcription():
    """On a quadratic, exact-line-search FR/PR+ CG is linear CG (Hestenes & Stiefel 1952):
    α = rᵀr/pᵀAp, x += αp, r -= αAp, p = r + (r'ᵀr'/rᵀr) p, iterate by iterate."""
    f = Quadratic(n=7, cond=30.0, seed=5)
    a, xs = f.A, f.x_star
    z, r = np.zeros(7), a @ xs
    p = r.copy()
    x, st = f.x0(), None
    alg = OPTIMIZERS["cg"]
    hp = alg.hyper(beta="fr", line_search="exact", powell_restart=False)
    st = alg.init(x, hp)
    for _ in range(7):
        al = r @ r / (p @ a @ p)
        z = z + al * p
        rn = r - al * (a @ p)
        p, r = rn + (rn @ rn) / (r @ r) * p, rn
        x, st = alg.update(x, f, st, hp)
        np.testing.assert_allclose(x[0], z, rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("name,steps", [("rosenbrock", 300), ("beale", 200)])
@pytest.mark.parametrize("beta", ["fr", "pr+", "hs", "dy"])
def test_cg_reaches_known_optima(name, steps, beta):
    f = OBJECTIVES[name]()
    x, st = run("cg", f, steps, beta=beta)
    for a, b in zip(x, f.optimum):
        np.testing.assert_allclose(a, b, atol=1e-6)
    assert st.restarts >= 1


def test_cg_agrees_with_scipy_fmin_cg_at_the_solution():
    """scipy's fmin_cg is PR+ with MINPACK's line search (c2 = 0.4, its own first trial), so the
    iterates differ from ours after the first line search; both reach the same minimizer."""
    so = pytest.importorskip("scipy.optimize")
    f = OBJECTIVES["rosenbrock"](n=4)
    z = so.fmin_cg(lambda v: float(f.loss([v])), f.x0()[0], lambda v: f.grad([v])[0], gtol=1e-10, disp=0)
    x, _ = run("cg", f, 400, beta="pr+")
    np.testing.assert_allclose(x[0], z, atol=1e-6)


# -------------------------------------------------------------------------------------- L-BFGS

@pytest.mark.parametrize("name,kwargs", [("rosenbrock", {"n": 2}), ("rosenbrock", {"n": 6}), ("beale", {})])
def test_lbfgs_reaches_known_optima(name, kwargs):
    f = OBJECTIVES[name](**kwargs)
    x, st = run("lbfgs", f, 10, line_search_fn="strong_wolfe", history_size=5, tolerance_grad=1e-12,
                tolerance_change=1e-15)
    for a, b in zip(x, f.optimum):
        np.testing.assert_allclose(a, b, atol=1e-7)
    assert st.func_evals <= 10 * 25


CASES_TORCH = [("rosenbrock", {"n": 4}, dict(line_search_fn="strong_wolfe", max_iter=5, history_size=3)),
               ("beale", {}, dict(line_search_fn="strong_wolfe", max_iter=4)),
               ("logistic_regression", {}, dict(line_search_fn="strong_wolfe", max_iter=5, history_size=2)),
               ("quadratic", {"n": 6, "shapes": ((2,), (2, 2))}, dict(lr=0.1, max_iter=3)),
               ("rosenbrock", {"n": 2}, dict(lr=1e-3, max_iter=7, history_size=4, tolerance_change=1e-12))]


@pytest.mark.parametrize("name,kwargs,hyper", CASES_TORCH)
def test_lbfgs_equals_torch_lbfgs_iterate_by_iterate(name, kwargs, hyper):
    """Each update = one torch.optim.LBFGS.step(closure), same float64 start: the iterates agree to
    1e-10 (absolute) after every call, and so do the evaluation counts."""
    torch = pytest.importorskip("torch")
    f = OBJECTIVES[name](**kwargs)
    alg = OPTIMIZERS["lbfgs"]
    hp = alg.hyper(**hyper)
    ref = alg.references[0]
    tp = [torch.tensor(a, requires_grad=True) for a in f.x0()]
    opt = torch.optim.LBFGS(tp, **ref.kwargs(hp))

    def closure():
        opt.zero_grad()
        loss = f.loss(list(tp))
        loss.backward()
        return loss

    x, st = f.x0(), alg.init(f.x0(), hp)
    for _ in range(12):
        x, st = alg.update(x, f, st, hp)
        opt.step(closure)
        for a, b in zip(x, tp):
            np.testing.assert_allclose(a, b.detach().numpy(), rtol=0, atol=1e-10)
    assert st.func_evals == opt.state[tp[0]]["func_evals"]
    assert st.n_iter == opt.state[tp[0]]["n_iter"]


def test_lbfgs_agrees_with_scipy_lbfgsb_at_the_solution():
    """L-BFGS-B without bounds uses a compact representation and MINPACK's line search, so iterates
    differ; on the strictly convex logistic regression both reach the unique minimizer."""
    so = pytest.importorskip("scipy.optimize")
    f = OBJECTIVES["logistic_regression"]()
    def fun(z):
        p = [z[:5], z[5]]
        return float(f.loss(p)), np.concatenate([f.grad(p)[0], [f.grad(p)[1]]])
    res = so.minimize(fun, np.zeros(6), jac=True, method="L-BFGS-B", options={"gtol": 1e-12, "ftol": 1e-15})
    x, _ = run("lbfgs", f, 5, line_search_fn="strong_wolfe", tolerance_grad=1e-12, tolerance_change=1e-15)
    np.testing.assert_allclose(np.concatenate([x[0], [x[1]]]), res.x, atol=1e-6)
    np.testing.assert_allclose(x[0], f.optimum[0], atol=1e-7)


def test_lbfgs_history_and_curvature_skipping():
    f = OBJECTIVES["rosenbrock"](n=4)
    _, st = run("lbfgs", f, 3, line_search_fn="strong_wolfe", history_size=2, max_iter=10)
    assert len(st.old_dirs) == 2 and len(st.ro) == 2
    assert all(r > 0 for r in st.ro)                         # only pairs with yᵀs > 1e-10 are kept
    # paper convention: unit first step (no min(1, 1/‖g‖₁) scaling) — differs from torch at step 1
    x_t, _ = run("lbfgs", f, 1, max_iter=1)
    x_p, _ = run("lbfgs", f, 1, max_iter=1, convention="paper")
    g = f.grad(f.x0())[0]
    np.testing.assert_allclose(x_p[0], f.x0()[0] - g)
    np.testing.assert_allclose(x_t[0], f.x0()[0] - min(1.0, 1.0 / np.abs(g).sum()) * g)


# --------------------------------------------------------------------------------- Hessian-free

def test_hf_beats_tuned_sgd_momentum_on_the_deep_autoencoder():
    """Martens' (2010) claim in miniature, on `DeepAutoencoder()` (16-12-8-4-2-4-8-12-16, logistic
    units, linear code, 128 curves; start loss 15.63, perfect-reconstruction floor 6.338).

    Budget in gradient-equivalents: a loss+gradient = 1, a Gauss-Newton-vector product = 2 (an
    R-forward plus a backward pass), a loss alone = 1 (not discounted).  HF (cg_max_iter = 50, all
    other constants Martens') run until ≥ 2000 of them reaches loss 6.622 (28 steps, 2059).  SGD
    with Nesterov momentum, tuned on the grid lr ∈ {0.01, 0.02, 0.03, 0.05, 0.1, 0.3} ×
    μ ∈ {0.9, 0.95, 0.99} at 2000 gradients, is best at lr = 0.02, μ = 0.95 with 6.985 (next:
    lr = 0.03, μ = 0.95: 6.990; μ = 0.99 diverges to the 11.06 plateau everywhere).  The test runs
    that tuned SGD for as many gradients as HF used and requires HF to be lower by 0.2.
    """
    f = DeepAutoencoder()
    alg = OPTIMIZERS["hessian_free"]
    hp = alg.hyper(cg_max_iter=50)
    x, st, cost = f.x0(), alg.init(f.x0(), hp), 0
    while cost < 2000:
        x, st = alg.update(x, f, st, hp)
        cost = st.grad_evals + 2 * st.products + st.loss_evals
    hf_loss = float(f.loss(x))
    opt = v0ref.optimizer("sgd", f.x0(), lr=0.02, momentum=0.95, nesterov=True)
    y = f.x0()
    for _ in range(cost):
        y = opt.step(y, f.grad(y))
    sgd_loss = float(f.loss(y))
    assert hf_loss < sgd_loss - 0.2, (hf_loss, sgd_loss, cost)
    assert hf_loss < 6.7


@pytest.mark.slow
def test_sgd_momentum_grid_for_the_hf_comparison():
    """Re-derives the tuned SGD numbers quoted in the HF test (every grid point ≥ 6.98)."""
    f = DeepAutoencoder()
    best = np.inf
    for lr in (0.01, 0.02, 0.03, 0.05, 0.1, 0.3):
        for mu in (0.9, 0.95, 0.99):
            opt = v0ref.optimizer("sgd", f.x0(), lr=lr, momentum=mu, nesterov=True)
            y = f.x0()
            for _ in range(2000):
                y = opt.step(y, f.grad(y))
            loss = float(f.loss(y))
            best = min(best, loss if np.isfinite(loss) else np.inf)
    assert 6.95 < best < 7.0


def test_hf_damping_rule_and_counters():
    f = OBJECTIVES["logistic_regression"]()
    alg = OPTIMIZERS["hessian_free"]
    hp = alg.hyper()
    x, st = f.x0(), alg.init(f.x0(), hp)
    for _ in range(20):
        lam = st.damping
        x, st = alg.update(x, f, st, hp)
        expected = lam * 1.5 if st.rho < 0.25 else (lam * 2 / 3 if st.rho > 0.75 else lam)
        assert st.damping == pytest.approx(expected)
    assert st.products > 0 and st.grad_evals == 20
    np.testing.assert_allclose(x[0], f.optimum[0], atol=1e-8)         # damped Newton: fast local convergence
    # exact Hessian curvature on Rosenbrock, no preconditioner
    g = OBJECTIVES["rosenbrock"]()
    y, _ = run("hessian_free", g, 60, curvature="hessian", preconditioner=None)
    np.testing.assert_allclose(y[0], 1.0, atol=1e-5)


def test_hf_fisher_preconditioner_requires_fisher_diag():
    with pytest.raises(TypeError, match="preconditioner='fisher' needs objective.fisher_diag"):
        run("hessian_free", OBJECTIVES["rosenbrock"](), 1, preconditioner="fisher")
    with pytest.raises(TypeError, match="objective must provide loss, grad, gnvp"):
        run("hessian_free", SaddleToy(), 1)


# ------------------------------------------------------------------------ NAG and RMSProp+Nesterov

@pytest.mark.parametrize("schedule", [None, "sutskever"])
def test_nag_lookahead_equals_reformulated_nesterov(schedule):
    """Sutskever's NAG (θ, v) and sgd(form="velocity", nesterov=True) started at Θ_0 = θ_0 + μ_1 v_0
    give Θ_t = θ_t + μ_{t+1} v_t for 600 steps (crossing the schedule's switch at 250, 500)."""
    f = OBJECTIVES["softmax_regression"]()
    kw = dict(lr=0.05, momentum=0.9) if schedule is None else dict(lr=0.05, momentum=0.0, momentum_schedule=schedule,
                                                                   momentum_max=0.95)
    nag = OPTIMIZERS["nag_lookahead"]
    hp = nag.hyper(**kw)
    rng = np.random.default_rng(0)
    v0 = [0.1 * rng.standard_normal(s.shape) for s in f.x0()]
    theta, st = f.x0(), nag.init(f.x0(), hp, m0=v0)
    mu1 = hp.momentum_at(0)
    big_theta = [a + mu1 * b for a, b in zip(theta, v0)]
    opt = v0ref.optimizer("sgd", big_theta, form="velocity", nesterov=True, m0=v0, **kw)
    for t in range(600):
        theta, st = nag.update(theta, f, st, hp)
        big_theta = opt.step(big_theta, f.grad(big_theta))
        mu = hp.momentum_at(t + 1)
        for a, v, b in zip(theta, st.v, big_theta):
            np.testing.assert_allclose(a + mu * v, b, rtol=1e-10, atol=1e-12)


def test_nag_lookahead_equals_torch_sgd_nesterov():
    """torch.optim.SGD(nesterov=True) iterates are NAG's look-ahead points (ALGORITHMS §2.5)."""
    torch = pytest.importorskip("torch")
    f = OBJECTIVES["rosenbrock"](n=3)
    x, st = run("nag_lookahead", f, 0, lr=1e-3, momentum=0.9)
    tp = [torch.tensor(a, requires_grad=True) for a in f.x0()]
    opt = torch.optim.SGD(tp, lr=1e-3, momentum=0.9, nesterov=True)
    nag = OPTIMIZERS["nag_lookahead"]
    hp = nag.hyper(lr=1e-3, momentum=0.9)
    for _ in range(200):
        x, st = nag.update(x, f, st, hp)
        opt.zero_grad()
        f.loss(tp).backward()
        opt.step()
    np.testing.assert_allclose(x[0] + 0.9 * st.v[0], tp[0].detach().numpy(), rtol=1e-10)


@pytest.mark.parametrize("eps", [0.0, 1e-6])
def test_rmsprop_nesterov_equals_goodfellow_alg_8_6(eps):
    """A direct transcription of Goodfellow et al. Alg. 8.6 (r ← ρr + (1−ρ)g⊙g at θ̃ = θ + αv,
    v ← αv − ε/√(δ + r) ⊙ g, θ ← θ + v) over 300 steps, with v0 and m0 prefills."""
    f = OBJECTIVES["mlp"]()
    eps_lr, rho, alpha = 1e-2, 0.9, 0.9
    rng = np.random.default_rng(1)
    r0 = [np.abs(rng.standard_normal(s.shape)) for s in f.x0()]
    m0 = [0.01 * rng.standard_normal(s.shape) for s in f.x0()]
    theta, r, v = f.x0(), [a.copy() for a in r0], [a.copy() for a in m0]
    alg = OPTIMIZERS["rmsprop_nesterov"]
    hp = alg.hyper(lr=eps_lr, decay=rho, momentum=alpha, eps=eps)
    x, st = f.x0(), alg.init(f.x0(), hp, v0=r0, m0=m0)
    for _ in range(300):
        g = f.grad([a + alpha * b for a, b in zip(theta, v)])
        r = [rho * ri + (1 - rho) * gi * gi for ri, gi in zip(r, g)]
        v = [alpha * vi - eps_lr / np.sqrt(eps + ri) * gi for vi, ri, gi in zip(v, r, g)]
        theta = [a + b for a, b in zip(theta, v)]
        x, st = alg.update(x, f, st, hp)
    for a, b in zip(x, theta):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------------------------------ saddle toy

def test_saddle_toy_v0_decides_the_basin():
    """`SaddleToy` with Adam (lr 0.05, 4000 steps): v0 = 0 ends in the worse basin (y ≈ +1,
    f ≈ −0.240); a constant v0 = 1 and the paper's Eq. 11 random χ² v0 (σ = 1) reach the optimum
    (y ≈ −1, f ≈ −0.260).  Why: see the objective's docstring."""
    f = SaddleToy()
    outcomes = {}
    for label, kw in {"zero": {}, "const": {"v0": 1.0},
                      "chi2": {"v0": "random-chi2", "v0_scale": 1.0, "v0_min_ndim": 0, "key": v0ref.random.key(0)}}.items():
        opt = v0ref.optimizer("adam", f.x0(), lr=0.05, **kw)
        x = f.x0()
        for _ in range(4000):
            x = opt.step(x, f.grad(x))
        outcomes[label] = x[0]
    np.testing.assert_allclose(outcomes["zero"], f.local_minimum[0], atol=1e-3)
    np.testing.assert_allclose(outcomes["const"], f.optimum[0], atol=1e-3)
    np.testing.assert_allclose(outcomes["chi2"], f.optimum[0], atol=1e-3)


# ---------------------------------------------------------------------------- namespaces, errors

PER_METHOD = {"lbfgs": ("rosenbrock", dict(line_search_fn="strong_wolfe", max_iter=3)),
              "cg": ("beale", {}), "hessian_free": ("logistic_regression", {}),
              "nag_lookahead": ("softmax_regression", {}), "rmsprop_nesterov": ("mlp", {})}


@pytest.mark.parametrize("name", WHOLE)
def test_numpy_and_array_api_strict_agree(name):
    xps = pytest.importorskip("array_api_strict")
    obj, hyper = PER_METHOD[name]
    f = OBJECTIVES[obj]()
    x_np, _ = run(name, f, 5, **hyper)
    x_s, _ = run(name, f, 5, x=f.x0(xps), **hyper)
    for a, b in zip(x_np, x_s):
        assert isinstance(b, type(xps.asarray(0.0)))
        np.testing.assert_allclose(np.asarray(b), a, rtol=1e-11, atol=1e-13)
    x32, _ = run(name, f, 2, x=f.x0(xps, "float32"), **hyper)
    assert all(a.dtype == xps.float32 for a in x32)


@pytest.mark.parametrize("name", WHOLE)
def test_bad_inputs(name):
    alg = OPTIMIZERS[name]
    hp = alg.hyper()
    with pytest.raises(ValueError, match=rf"{name}: params\[0\] is not finite"):
        alg.init([np.array([np.nan, 1.0])], hp)
    with pytest.raises(TypeError, match=rf"{name}: params must be a list of arrays"):
        alg.init(np.zeros(3), hp)
    with pytest.raises(ValueError, match=rf"{name}: params is empty"):
        alg.init([], hp)
    f = OBJECTIVES["rosenbrock"](n=3)
    state = alg.init([np.zeros(4)], hp)
    with pytest.raises(ValueError, match=r"shapes \[\(4,\)\]; expected \[\(3,\)\]"):
        alg.update([np.zeros(4)], f, state, hp)
    with pytest.raises(TypeError, match="objective must provide"):
        alg.update([np.zeros(3)], object(), alg.init([np.zeros(3)], hp), hp)
    opt = v0ref.optimizer(name, f.x0())
    with pytest.raises(TypeError, match="whole-vector method: step\\(params, objective\\)"):
        opt.step(f.x0(), f.grad(f.x0()))


def test_hyperparameter_errors_name_the_parameter():
    with pytest.raises(ValueError, match="history_size must be an integer >= 1; got -1"):
        OPTIMIZERS["lbfgs"].hyper(history_size=-1)
    with pytest.raises(ValueError, match="m0 has 1 entries but there are 2 parameters"):
        OPTIMIZERS["nag_lookahead"].init([np.zeros(2), np.zeros(3)], OPTIMIZERS["nag_lookahead"].hyper(), m0=[np.zeros(2)])
    with pytest.raises(ValueError, match=r"m0\[0\] has shape \(3,\) but the parameter has shape \(2,\)"):
        OPTIMIZERS["nag_lookahead"].init([np.zeros(2)], OPTIMIZERS["nag_lookahead"].hyper(), m0=[np.zeros(3)])
    with pytest.raises(ValueError, match="keeps no second-moment state; v0 does not apply"):
        OPTIMIZERS["lbfgs"].init([np.zeros(2)], v0=[np.ones(2)])


def test_optimizer_object_and_conformance_on_whole_vector_entries():
    from v0ref.backends import get_port
    from v0ref.conformance.cases import cases_for
    from v0ref.conformance.runner import run_case
    f = OBJECTIVES["beale"]()
    opt = v0ref.optimizer("cg", f.x0())
    x = f.x0()
    for _ in range(100):
        x = opt.step(x, f)
    np.testing.assert_allclose([float(a) for a in x], [3.0, 0.5], atol=1e-6)
    assert opt.state_dict()["algorithm"] == "cg"
    port = get_port("numpy")
    for name in WHOLE:
        for dtype in ("float64", "float32"):
            case = next(iter(cases_for(name, dtype)))
            assert case.objective
            result = run_case(port, case)
            assert result.passed, result.failure.describe()
