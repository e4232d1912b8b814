"""The JAX whole-vector factories (`v0ref.backends._jax_wv`): conformance, oracle equality, errors."""

from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax")
optax = pytest.importorskip("optax")
import jax.numpy as jnp  # noqa: E402

from v0ref import OPTIMIZERS  # noqa: E402
from v0ref.backends import jax as vj  # noqa: E402
from v0ref.backends._jax_wv import ValueFnObjective  # noqa: E402
from v0ref.backends.numpy import PORT as NUMPY  # noqa: E402
from v0ref.conformance.cases import cases_for  # noqa: E402
from v0ref.conformance.runner import run_case  # noqa: E402
from v0ref.objectives import OBJECTIVES  # noqa: E402

WV = sorted(n for n, a in OPTIMIZERS.items() if a.kind == "whole_vector")
CASES = [(n, d, i) for n in WV for d in ("float32", "float64") for i in range(len(list(cases_for(n, d))))]


def test_port_covers_whole_vector_entries():
    for n in WV:
        assert vj.PORT.supports(n) and callable(getattr(vj, n)) and vj.factory(n).__name__ == n


# the MLP (hessian_free) and logistic-regression (cg) cases take 3-8 s each on a 2-core box
SLOW = {("hessian_free", "float32", 0), ("hessian_free", "float32", 3), ("cg", "float32", 1), ("cg", "float64", 1)}
PARAMS = [pytest.param(*c, id="-".join(map(str, c)), marks=[pytest.mark.slow] if c in SLOW else []) for c in CASES]


@pytest.mark.parametrize("name,dtype,i", PARAMS)
def test_conformance(name, dtype, i):
    case = list(cases_for(name, dtype))[i]
    result = run_case(vj.PORT, case)
    assert result.passed, result.failure.describe() if result.failure else result


def _oracle_iterates(name, hyper, objective, steps, moments=None):
    run = NUMPY.open(name, hyper, objective.x0(dtype="float64"), moments=moments or {}, objective=objective)
    out = []
    for _ in range(steps):
        run.step(None)
        out.append(run.export()[0])
    return out


# (entry, hyperparameters, objective, steps)
EQUAL = [("nag_lookahead", {"lr": 1e-3}, ("rosenbrock", {"n": 4}), 6),
         ("rmsprop_nesterov", {"lr": 1e-2}, ("rosenbrock", {"n": 4}), 6),
         ("lbfgs", {"max_iter": 4, "line_search_fn": "strong_wolfe"}, ("rosenbrock", {"n": 4}), 3),
         ("cg", {}, ("beale", {}), 4),
         ("hessian_free", {"curvature": "hessian"}, ("logistic_regression", {"n_samples": 32, "n_features": 4}), 3)]


@pytest.mark.parametrize("name,hyper,obj,steps", EQUAL, ids=[e[0] for e in EQUAL])
def test_objective_path_equals_oracle(name, hyper, obj, steps):
    """``update(..., objective=obj)``: the oracle on jax arrays; iterates equal numpy's to rtol 1e-12."""
    f = OBJECTIVES[obj[0]](**obj[1])
    ref = _oracle_iterates(name, hyper, f, steps)
    kw = {("learning_rate" if k == "lr" else k): v for k, v in hyper.items()}
    with jax.enable_x64(True):
        tx = vj.factory(name)(**kw)
        params = [jnp.asarray(p) for p in f.x0(dtype="float64")]
        state = tx.init(params)
        for t in range(steps):
            updates, state = tx.update(None, state, params, objective=f)
            params = optax.apply_updates(params, updates)
            for a, b in zip(params, ref[t]):
                np.testing.assert_allclose(np.asarray(a), b, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name,hyper,obj,steps", EQUAL, ids=[e[0] for e in EQUAL])
def test_value_fn_path_matches_oracle(name, hyper, obj, steps):
    """``update(..., value_fn=loss)`` on a dict pytree: gradients and Hessian products by jax
    autodiff instead of the objective's hand-written ones, so equal up to their rounding."""
    f = OBJECTIVES[obj[0]](**obj[1])
    ref = _oracle_iterates(name, hyper, f, steps)
    kw = {("learning_rate" if k == "lr" else k): v for k, v in hyper.items()}
    keys = [f"p{i}" for i in range(len(f.shapes))]
    with jax.enable_x64(True):
        tx = vj.factory(name)(**kw)
        params = dict(zip(keys, (jnp.asarray(p) for p in f.x0(dtype="float64"))))
        state = tx.init(params)
        value_fn = lambda tree: f.loss([tree[k] for k in keys])  # noqa: E731
        for t in range(steps):
            updates, state = tx.update(None, state, params, value_fn=value_fn)
            params = optax.apply_updates(params, updates)
            for k, b in zip(keys, ref[t]):
                np.testing.assert_allclose(np.asarray(params[k]), b, rtol=1e-8, atol=1e-10)


def test_products_closed_form():
    """hvp and gnvp of ``f(θ) = ½‖Mθ − y‖² + ¼Σθ⁴``-free least squares: ∇²f = MᵀM = G (x64)."""
    rng = np.random.default_rng(3)
    M, y, x, v = rng.standard_normal((5, 3)), rng.standard_normal(5), rng.standard_normal(3), rng.standard_normal(3)
    with jax.enable_x64(True):
        treedef = jax.tree.structure({"w": 0})
        out = lambda t: jnp.asarray(M) @ t["w"] - jnp.asarray(y)  # noqa: E731
        loss_out = lambda r: 0.5 * jnp.sum(r ** 2) + 0.0 * jnp.sum(r ** 3)  # noqa: E731
        gn = ValueFnObjective(treedef, output_fn=out, loss_of_output=loss_out)
        vf = ValueFnObjective(treedef, lambda t: 0.5 * jnp.sum(out(t) ** 2) + 0.25 * jnp.sum(t["w"] ** 4))
        xs, vs = [jnp.asarray(x)], [jnp.asarray(v)]
        np.testing.assert_allclose(np.asarray(gn.gnvp(xs, vs)[0]), M.T @ M @ v, rtol=1e-12)
        np.testing.assert_allclose(np.asarray(vf.hvp(xs, vs)[0]), M.T @ M @ v + 3 * x ** 2 * v, rtol=1e-12)
        fval, g = vf.value_and_grad(xs)
        np.testing.assert_allclose(np.asarray(g[0]), M.T @ (M @ x - y) + x ** 3, rtol=1e-12)
        assert float(fval) == pytest.approx(0.5 * np.sum((M @ x - y) ** 2) + 0.25 * np.sum(x ** 4), rel=1e-14)
        assert gn.has_gnvp and not vf.has_gnvp


def test_hessian_free_gauss_newton_with_output_fn():
    """curvature=None picks 'gn' with output_fn + loss_of_output: equals the oracle with gn on an
    objective whose gnvp is MᵀM."""
    rng = np.random.default_rng(4)
    M, y = rng.standard_normal((6, 3)), rng.standard_normal(6)

    class LS:
        has_gnvp, has_fisher = True, False

        def loss(self, x):
            r = M @ np.asarray(x[0]) - y
            return np.asarray(0.5 * r @ r + np.sum(np.sin(x[0])))

        def grad(self, x):
            return [M.T @ (M @ np.asarray(x[0]) - y) + np.cos(x[0])]

        def hvp(self, x, v):
            return [M.T @ (M @ np.asarray(v[0])) - np.sin(x[0]) * v[0]]

        def gnvp(self, x, v):
            return [M.T @ (M @ np.asarray(v[0]))]

    alg = OPTIMIZERS["hessian_free"]
    hp = alg.hyper(preconditioner=None)
    x = [np.zeros(3)]
    st = alg.init(x, hp)
    with jax.enable_x64(True):
        tx = vj.hessian_free(preconditioner=None)
        p = {"w": jnp.zeros(3)}
        s = tx.init(p)
        for _ in range(3):
            x, st = alg.update(x, LS(), st, hp)
            u, s = tx.update(None, s, p, output_fn=lambda t: jnp.asarray(M) @ t["w"] - jnp.asarray(y),
                             loss_of_output=lambda r: 0.5 * jnp.sum(r ** 2), )
            p = optax.apply_updates(p, u)
    # the sin term is absent from the jax loss, so compare with a run of the oracle on that loss
    alg_x = [np.zeros(3)]
    st2 = alg.init(alg_x, hp)

    class LS0(LS):
        def loss(self, x):
            r = M @ np.asarray(x[0]) - y
            return np.asarray(0.5 * r @ r)

        def grad(self, x):
            return [M.T @ (M @ np.asarray(x[0]) - y)]

    for _ in range(3):
        alg_x, st2 = alg.update(alg_x, LS0(), st2, hp)
    np.testing.assert_allclose(np.asarray(p["w"]), alg_x[0], rtol=1e-9, atol=1e-12)
    assert s.products == st2.products and s.cg_iters == st2.cg_iters


def test_errors():
    with pytest.raises(ValueError, match="learning_rate"):
        vj.lbfgs(learning_rate=-1.0)
    with pytest.raises(TypeError, match="valid arguments"):
        vj.cg(lr_typo=1.0)
    with pytest.raises(TypeError, match="learning_rate must be a number"):
        vj.nag_lookahead(learning_rate=optax.constant_schedule(0.1))
    params = {"w": jnp.ones(3)}
    tx = vj.lbfgs()
    state = tx.init(params)
    with pytest.raises(ValueError, match="value_fn"):
        tx.update(None, state, params)
    with pytest.raises(ValueError, match="params"):
        tx.update(None, state, None, value_fn=lambda t: jnp.sum(t["w"] ** 2))
    with pytest.raises(ValueError, match="output_fn and loss_of_output"):
        tx.update(None, state, params, output_fn=lambda t: t["w"])
    with pytest.raises(ValueError, match="not both"):
        tx.update(None, state, params, value_fn=lambda t: jnp.sum(t["w"]), output_fn=lambda t: t["w"],
                  loss_of_output=jnp.sum)
    hf = vj.hessian_free(curvature="gn")
    with pytest.raises(ValueError, match="curvature='gn' needs output_fn"):
        hf.update(None, hf.init(params), params, value_fn=lambda t: jnp.sum(t["w"] ** 2))
    with pytest.raises(TypeError, match="cannot be traced"):
        jax.jit(lambda p, s: tx.update(None, s, p, value_fn=lambda t: jnp.sum(t["w"] ** 2)))(params, state)
    with pytest.raises(TypeError, match="real floating"):
        tx.init({"w": jnp.ones(3, dtype=jnp.int32)})
    with pytest.raises(ValueError, match="scalar"):
        tx.update(None, state, params, value_fn=lambda t: t["w"])
