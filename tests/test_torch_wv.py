"""The torch classes of the whole-vector methods (`v0ref.backends._torch_wv`): NAGLookahead,
RMSpropNesterov, LBFGS, CG and HessianFree against the oracle, torch.optim.LBFGS and torch.func."""

import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hypothesis import given, settings, strategies as st  # noqa: E402

from v0ref import OPTIMIZERS  # noqa: E402
from v0ref._backend import namespace  # noqa: E402
from v0ref.backends import torch as T  # noqa: E402
from v0ref.backends.numpy import OracleRun  # noqa: E402
from v0ref.backends._torch_wv import ClosureObjective, ModelObjective  # noqa: E402
from v0ref.conformance import run_case  # noqa: E402
from v0ref.conformance.cases import cases_for, initial_params  # noqa: E402
from v0ref.objectives import OBJECTIVES  # noqa: E402

WV = sorted(n for n in OPTIMIZERS if OPTIMIZERS[n].kind == "whole_vector")
CASES = [c for n in WV for dt in ("float64", "float32") for c in cases_for(n, dt)]

@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_conformance(case):
    result = run_case(T.PORT, case)
    assert result.passed, result.failure.describe()


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CASES])
def test_port_is_the_oracle_on_torch_tensors(case):
    """No second copy of the math: the class's iterates equal the registry's ``update`` run on torch
    tensors of the same dtype, bit for bit, at every step (so every difference from the numpy
    oracle is numpy's vs torch's rounding of the same operations)."""
    obj = case.make_objective()
    params = initial_params(case)
    moments = dict(case.moments)
    if "data" in (moments.get("v0"), moments.get("m0")):
        from v0ref.conformance.cases import grad_stats_for
        moments["grad_stats"] = grad_stats_for(case, params)
    ref = OracleRun(case.algorithm, case.hyper, [torch.tensor(p) for p in params], namespace("torch"),
                    moments=moments, objective=obj)
    port = T.PORT.open(case.algorithm, case.hyper, params, moments=moments, objective=obj)
    for _ in range(6):
        ref.step(None)
        port.step(None)
        for a, b in zip(ref.export()[0], port.export()[0]):
            np.testing.assert_array_equal(a, b)


# ------------------------------------------------------------------------- LBFGS vs torch.optim.LBFGS

def _mlp(seed=0, dtype=torch.float64):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3)).to(dtype)
    x = torch.randn(40, 6, dtype=dtype)
    y = torch.randint(0, 3, (40,))
    return model, x, y


def _closure(opt, model, x, y):
    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss = loss + 1e-2 * sum((p * p).sum() for p in model.parameters())   # a bounded optimum
        loss.backward()
        return loss
    return closure


def _lockstep(hyper, steps=6, tol=1e-10):
    m1, x, y = _mlp()
    m2 = copy.deepcopy(m1)
    ours = T.LBFGS(m1.parameters(), **hyper)
    theirs = torch.optim.LBFGS(m2.parameters(), **hyper)
    for _ in range(steps):
        l1 = ours.step(_closure(ours, m1, x, y))
        l2 = theirs.step(_closure(theirs, m2, x, y))
        assert float(l1.detach()) == pytest.approx(float(l2.detach()), rel=tol, abs=tol)
        for a, b in zip(m1.parameters(), m2.parameters()):
            np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=tol, atol=tol)
    s1, s2 = ours.state[next(m1.parameters())], theirs.state[next(m2.parameters())]
    assert (s1["func_evals"], s1["n_iter"], len(s1["old_dirs"])) == (s2["func_evals"], s2["n_iter"],
                                                                    len(s2["old_dirs"]))


@pytest.mark.parametrize("hyper,steps", [(dict(line_search_fn="strong_wolfe"), 2),
                                         (dict(line_search_fn="strong_wolfe", max_iter=5, history_size=3), 6),
                                         (dict(line_search_fn=None, lr=0.5, max_iter=7), 5),
                                         (dict(line_search_fn=None, lr=1.0, max_iter=4, history_size=2), 6)])
def test_lbfgs_matches_torch_lbfgs_iterate_by_iterate_on_a_model(hyper, steps):
    """v0ref LBFGS (convention "torch") and torch.optim.LBFGS, same float64 MLP and closure: every
    ``step`` ends at the same parameters to 1e-10 (relative and absolute) with the same loss and the
    same evaluation / iteration counts, over ≤ 40 inner iterations.  (The two round differently —
    torch keeps t, ρ, γ as 0-d tensors, the oracle as Python floats — and on this non-convex loss
    the difference grows by about 10³ per 20 iterations: 4e-15, 1e-11, 5e-9 after 20, 40, 60.)"""
    _lockstep(hyper, steps)


@settings(max_examples=12, deadline=None)
@given(history=st.integers(1, 6), max_iter=st.integers(1, 8), wolfe=st.booleans(),
       lr=st.sampled_from([0.1, 0.5, 1.0]))
def test_lbfgs_matches_torch_lbfgs_over_hyperparameters(history, max_iter, wolfe, lr):
    _lockstep(dict(history_size=history, max_iter=max_iter, lr=lr,
                   line_search_fn="strong_wolfe" if wolfe else None), steps=3, tol=1e-9)


def test_torch_lbfgs_checkpoint_loads_and_continues():
    """A torch.optim.LBFGS state_dict (0-d tensor t, ρ, γ; list histories; no step count) loads into
    v0ref's LBFGS, which then continues exactly as torch does."""
    hyper = dict(line_search_fn="strong_wolfe", max_iter=4, history_size=3)
    m2, x, y = _mlp()
    theirs = torch.optim.LBFGS(m2.parameters(), **hyper)
    for _ in range(2):
        theirs.step(_closure(theirs, m2, x, y))
    m1 = copy.deepcopy(m2)
    fresh = T.LBFGS(m1.parameters(), **hyper)
    fresh.load_state_dict(copy.deepcopy(theirs.state_dict()))
    assert fresh.oracle_state().n_iter == 8 and len(fresh.oracle_state().ro) == 3
    for _ in range(3):
        fresh.step(_closure(fresh, m1, x, y))
        theirs.step(_closure(theirs, m2, x, y))
        for a, b in zip(m1.parameters(), m2.parameters()):
            np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=0, atol=1e-10)


# ------------------------------------------------------------------------- state_dict round trip

def _objective_opt(name, dtype="float64", **hyper):
    obj = OBJECTIVES["rosenbrock"](n=4) if name != "hessian_free" else OBJECTIVES["mlp"](sizes=(3, 5, 2), n_samples=16)
    params = [torch.tensor(a) for a in obj.x0(dtype=dtype)]
    return T.optimizer_class(name)(params, objective=obj, **hyper), params


RESUME = [("nag_lookahead", dict(lr=1e-3, m0="random", m0_scale=0.1, key=3)),
          ("rmsprop_nesterov", dict(lr=1e-2, v0="random-chi2", key=4)),
          ("lbfgs", dict(line_search_fn="strong_wolfe", max_iter=3, history_size=2)),
          ("cg", dict(beta="hs", restart_every=3)),
          ("hessian_free", dict(cg_max_iter=20))]


@pytest.mark.parametrize("name,hyper", RESUME, ids=[r[0] for r in RESUME])
def test_state_dict_round_trip_resumes_bit_identically(name, hyper):
    opt, params = _objective_opt(name, **hyper)
    for _ in range(3):
        opt.step()
    saved = copy.deepcopy(opt.state_dict())
    saved_params = [p.clone() for p in params]
    for _ in range(3):
        opt.step()
    obj = opt._objective
    resumed_params = [p.clone() for p in saved_params]
    resumed = T.optimizer_class(name)(resumed_params, objective=obj, **{k: v for k, v in hyper.items()
                                                                        if k not in ("m0", "v0", "m0_scale", "key")})
    resumed.load_state_dict(saved)
    assert resumed.oracle_state().step == 3
    for _ in range(3):
        resumed.step()
    for a, b in zip(params, resumed_params):
        assert torch.equal(a, b)
    if name == "lbfgs":
        assert len(resumed.state[resumed_params[0]]["old_dirs"]) == 2


def test_state_dict_round_trip_through_torch_save(tmp_path):
    """Histories (tuples of tensors) and Python scalars survive torch.save / torch.load."""
    opt, params = _objective_opt("lbfgs", line_search_fn="strong_wolfe", max_iter=3)
    opt.step()
    torch.save(opt.state_dict(), tmp_path / "ckpt.pt")
    again, _ = _objective_opt("lbfgs", line_search_fn="strong_wolfe", max_iter=3)
    again.load_state_dict(torch.load(tmp_path / "ckpt.pt", weights_only=False))
    a, b = opt.oracle_state(), again.oracle_state()
    assert (a.step, a.n_iter, a.func_evals, a.t, a.H_diag, a.ro) == (b.step, b.n_iter, b.func_evals, b.t, b.H_diag, b.ro)
    assert all(torch.equal(u, v) for u, v in zip(a.old_dirs, b.old_dirs))


# ------------------------------------------------------------------------- closures, hvp, HF on a model

@pytest.mark.filterwarnings(r"ignore:Using backward\(\) with create_graph=True")
def test_closure_objective_matches_the_objective_and_restores_on_error():
    f = OBJECTIVES["quadratic"](n=6, cond=10.0, shapes=((2,), (2, 2)))
    params = [torch.zeros(2, dtype=torch.float64, requires_grad=True),
              torch.zeros(2, 2, dtype=torch.float64, requires_grad=True)]

    def closure(create_graph=False):
        for p in params:
            p.grad = None
        loss = f.loss(params)
        loss.backward(create_graph=create_graph)
        return loss

    co = ClosureObjective(params, closure)
    x = [torch.linspace(-1, 1, 2, dtype=torch.float64), torch.linspace(0.5, 2, 4, dtype=torch.float64).reshape(2, 2)]
    v = [torch.ones(2, dtype=torch.float64), torch.arange(4.0, dtype=torch.float64).reshape(2, 2)]
    loss, g = co.value_and_grad(x)
    assert float(loss) == pytest.approx(float(f.loss(x)), rel=1e-14)
    for a, b in zip(g, f.grad(x)):
        torch.testing.assert_close(a, b, rtol=1e-13, atol=0)
    for a, b in zip(co.hvp(x, v), f.hvp(x, v)):                  # double backward
        torch.testing.assert_close(a, b, rtol=1e-13, atol=1e-15)
    assert all(p.grad is None for p in params)                    # the graph in .grad is dropped

    with pytest.raises(TypeError, match="closure that accepts create_graph"):
        T.CG(params, line_search="exact").step(lambda: closure())

    opt = T.LBFGS(params, line_search_fn="strong_wolfe")
    start = [p.detach().clone() for p in params]
    calls = []

    def failing():
        calls.append(1)
        if len(calls) > 1:                     # fails at the line search's trial point x + t·d
            raise RuntimeError("boom")
        return closure()
    with pytest.raises(RuntimeError, match="boom"):
        opt.step(failing)
    for p, s in zip(params, start):
        assert torch.equal(p.detach(), s)      # the trial point was written; the start is restored
    assert opt.oracle_state().step == 0


@pytest.mark.filterwarnings(r"ignore:Using backward\(\) with create_graph=True")
def test_cg_exact_with_a_create_graph_closure_equals_the_objective_run():
    """CG with exact line search (needs hvp) driven by a closure (double backward) follows the run
    driven by the objective, and solves the 6-d quadratic in ≤ 6 iterations."""
    f = OBJECTIVES["quadratic"](n=6, cond=10.0, shapes=((2,), (2, 2)))
    a, pa = _run_cg_exact(f, use_closure=True)
    b, pb = _run_cg_exact(f, use_closure=False)
    for x, y in zip(pa, pb):
        torch.testing.assert_close(x, y, rtol=1e-12, atol=1e-12)
    for x, opt in zip(pa, f.optimum):
        np.testing.assert_allclose(x.detach().numpy(), opt, atol=1e-9)


def _run_cg_exact(f, use_closure):
    params = [torch.tensor(a, requires_grad=True) for a in f.x0()]
    opt = T.CG(params, line_search="exact", beta="pr+", objective=None if use_closure else f)

    def closure(create_graph=False):
        opt.zero_grad()
        loss = f.loss(params)
        loss.backward(create_graph=create_graph)
        return loss
    for _ in range(6):
        opt.step(closure if use_closure else None)
    return opt, params


class _Net(torch.nn.Module):
    """The `v0ref.objectives.MLP` network (x @ W + b, tanh hidden units) as a torch module."""

    def __init__(self, weights):
        super().__init__()
        self.w = torch.nn.ParameterList([torch.nn.Parameter(torch.tensor(a)) for a in weights])

    def forward(self, x):
        h = x
        n = len(self.w) // 2
        for i in range(n):
            h = h @ self.w[2 * i] + self.w[2 * i + 1]
            if i < n - 1:
                h = torch.tanh(h)
        return h


def _net_and_objective(dtype="float64"):
    f = OBJECTIVES["mlp"](sizes=(3, 5, 2), n_samples=16)
    net = _Net(f.x0(dtype=dtype))
    x = torch.tensor(f.X, dtype=getattr(torch, dtype))
    y = torch.tensor(f.Y.argmax(axis=1))
    return f, net, x, y


def test_model_objective_products_equal_the_oracle_objective():
    """torch.func's Gauss-Newton product Jᵀ H_ℓ J v, Hessian product, gradient and per-sample Fisher
    diagonal of the torch MLP equal the hand-derived ones of `v0ref.objectives.MLP` (float64)."""
    f, net, x, y = _net_and_objective()
    names = [n for n, _ in net.named_parameters()]
    mo = ModelObjective(net, torch.nn.functional.cross_entropy, names, x, y)
    rng = np.random.default_rng(1)
    point = [torch.tensor(a + 0.3 * rng.standard_normal(a.shape)) for a in f.x0()]
    v = [torch.tensor(rng.standard_normal(s)) for s in f.shapes]
    torch.testing.assert_close(mo.loss(point), f.loss(point), rtol=1e-13, atol=0)
    for name in ("grad", "fisher_diag"):
        for a, b in zip(getattr(mo, name)(point), getattr(f, name)(point)):
            torch.testing.assert_close(a, b, rtol=1e-11, atol=1e-14)
    for name in ("gnvp", "hvp"):
        for a, b in zip(getattr(mo, name)(point, v), getattr(f, name)(point, v)):
            torch.testing.assert_close(a, b, rtol=1e-11, atol=1e-14)
    gn, h = mo.gnvp(point, v), mo.hvp(point, v)
    assert max(float((a - b).abs().max()) for a, b in zip(gn, h)) > 1e-6   # G ≠ ∇²f off the optimum


def test_hessian_free_on_a_model_follows_the_objective_run():
    """HessianFree(model, loss_fn=...) with step(inputs, targets) and HessianFree(params,
    objective=MLP) take the same steps (float64, 4 outer iterations)."""
    f, net, x, y = _net_and_objective()
    opt = T.HessianFree(net, loss_fn=torch.nn.functional.cross_entropy, cg_max_iter=30)
    params = [torch.tensor(a) for a in f.x0()]
    ref = T.HessianFree(params, objective=f, cg_max_iter=30)
    for _ in range(4):
        loss = opt.step(x, y)
        ref.step()
        assert float(loss) == pytest.approx(ref.oracle_state().loss, rel=1e-12)
        for a, b in zip(net.parameters(), params):
            torch.testing.assert_close(a.detach(), b, rtol=1e-9, atol=1e-11)
    assert float(f.loss(params)) < 0.9 * float(f.loss(f.x0()))


@pytest.mark.filterwarnings(r"ignore:Using backward\(\) with create_graph=True")
def test_hessian_free_hessian_curvature_with_a_closure():
    f, net, x, y = _net_and_objective()
    opt = T.HessianFree(list(net.parameters()), curvature="hessian", damping=0.1, cg_max_iter=20,
                        preconditioner=None)
    params = [torch.tensor(a) for a in f.x0()]
    ref = T.HessianFree(params, objective=f, curvature="hessian", damping=0.1, cg_max_iter=20, preconditioner=None)

    def closure(create_graph=False):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(x), y)
        loss.backward(create_graph=create_graph)
        return loss
    for _ in range(2):
        opt.step(closure)
        ref.step()
        for a, b in zip(net.parameters(), params):
            torch.testing.assert_close(a.detach(), b, rtol=1e-9, atol=1e-11)


def test_nag_lookahead_closure_equals_torch_sgd_nesterov_points():
    """NAG's look-ahead points θ + μv are torch.optim.SGD(nesterov=True)'s iterates (ALGORITHMS
    §2.5), here through the closure API on a model."""
    m1, x, y = _mlp()
    m2 = copy.deepcopy(m1)
    ours = T.NAGLookahead(m1.parameters(), lr=0.05, momentum=0.9)
    sgd = torch.optim.SGD(m2.parameters(), lr=0.05, momentum=0.9, nesterov=True)
    for _ in range(10):
        ours.step(_closure(ours, m1, x, y))
        _closure(sgd, m2, x, y)()
        sgd.step()
        v = ours.oracle_state().v
        for p, vi, q in zip(m1.parameters(), v, m2.parameters()):
            torch.testing.assert_close(p.detach() + 0.9 * vi, q.detach(), rtol=1e-12, atol=1e-13)


# ------------------------------------------------------------------------- bad arguments

def test_bad_arguments_raise_clear_errors():
    p = [torch.zeros(3, dtype=torch.float64, requires_grad=True)]
    with pytest.raises(ValueError, match="history_size must be an integer >= 1; got -1"):
        T.LBFGS(p, history_size=-1)
    with pytest.raises(ValueError, match="line_search_fn must be one of"):
        T.LBFGS(p, line_search_fn="armijo")
    with pytest.raises(TypeError, match="unexpected keyword argument 'momentum'"):
        T.LBFGS(p, momentum=0.9)
    with pytest.raises(ValueError, match="per-parameter options"):
        T.LBFGS([{"params": p}, {"params": [torch.zeros(2, requires_grad=True)]}])
    opt = T.CG(p)
    with pytest.raises(ValueError, match="per-parameter options"):
        opt.add_param_group({"params": [torch.zeros(2, requires_grad=True)]})
    with pytest.raises(ValueError, match="needs a closure"):
        opt.step()
    with pytest.raises(ValueError, match="one dtype and device"):
        T.LBFGS([torch.zeros(2, dtype=torch.float64), torch.zeros(2, dtype=torch.float32)])
    with pytest.raises(TypeError, match="floating dtype"):
        T.CG([torch.zeros(2, dtype=torch.int64)])
    with pytest.raises(ValueError, match="momentum must be in"):
        T.NAGLookahead(p, momentum=1.0)
    with pytest.raises(ValueError, match="v0 does not apply"):
        T.NAGLookahead(p, v0="random-chi2", key=0)
    with pytest.raises(ValueError, match="m0 has 2 entries"):
        T.RMSpropNesterov(p, m0=[torch.zeros(3), torch.zeros(3)])
    with pytest.raises(TypeError, match="objective must implement"):
        T.CG(p, objective=42)
    net = torch.nn.Linear(2, 1)
    with pytest.raises(ValueError, match="loss_fn="):
        T.HessianFree(net)
    with pytest.raises(ValueError, match="only together with a model"):
        T.HessianFree(list(net.parameters()), loss_fn=torch.nn.functional.mse_loss)
    hf = T.HessianFree(net, loss_fn=torch.nn.functional.mse_loss)
    with pytest.raises(ValueError, match="batch to evaluate the model on is missing"):
        hf.step()
    with pytest.raises(ValueError, match="both inputs and targets"):
        hf.step(torch.zeros(4, 2))
    with pytest.raises(ValueError, match="damping must be a finite number >= 0"):
        T.HessianFree(net, loss_fn=torch.nn.functional.mse_loss, damping=-1.0)
