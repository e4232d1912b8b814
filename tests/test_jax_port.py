"""The JAX port: optax factories generated from the registry, bit-identity with optax, moment
inits, composition with optax wrappers, jit/vmap/grad, invalid arguments, conformance."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

jax = pytest.importorskip("jax")
optax = pytest.importorskip("optax")
import jax.numpy as jnp  # noqa: E402
from hypothesis import given, settings, strategies as st  # noqa: E402

import v0ref  # noqa: E402
from v0ref import OPTIMIZERS  # noqa: E402
from v0ref.backends import get_port  # noqa: E402
from v0ref.backends import jax as vj  # noqa: E402
from v0ref.conformance import cases_for, run_case  # noqa: E402

ELEMENTWISE = [n for n in OPTIMIZERS if OPTIMIZERS[n].kind == "elementwise"]
SHAPES = ((4, 3), (5,), ())


def _params(rng, dtype, shapes=SHAPES):
    return {f"p{i}": jnp.asarray(0.5 * rng.standard_normal(s), dtype) for i, s in enumerate(shapes)}


def _grads(rng, params):
    return jax.tree.map(lambda p: jnp.asarray(rng.standard_normal(p.shape) * 10 ** rng.uniform(-3, 1, p.shape),
                                              p.dtype), params)


def _optax_cases(*, fast: bool):
    """(name, oracle case, optax Reference) for every case optax computes under convention optax;
    ``fast``: the first case per optax target (the rest are marked slow)."""
    for name in ELEMENTWISE:
        alg = OPTIMIZERS[name]
        seen, targets = set(), set()
        for case in alg.cases:
            kw = {**case, "convention": "optax"}
            try:
                hp = alg.hyper(**kw)
            except (ValueError, TypeError):
                continue
            for ref in alg.references:
                if ref.framework == "optax" and ref.applies(hp) and repr(hp) not in seen:
                    seen.add(repr(hp))
                    first = ref.target not in targets
                    targets.add(ref.target)
                    if first == fast:
                        yield pytest.param(name, kw, ref, id=f"{name}-{ref.target}-{case}")


def _run_both(ours, theirs, params, steps, rng):
    s_ours, s_theirs = ours.init(params), theirs.init(params)
    up_o, up_t = jax.jit(ours.update), jax.jit(theirs.update)
    p_o = p_t = params
    for _ in range(steps):
        g = _grads(rng, params)
        u_o, s_ours = up_o(g, s_ours, p_o)
        u_t, s_theirs = up_t(g, s_theirs, p_t)
        p_o, p_t = optax.apply_updates(p_o, u_o), optax.apply_updates(p_t, u_t)
        for a, b in zip(jax.tree.leaves(u_o), jax.tree.leaves(u_t)):
            assert a.dtype == b.dtype and a.shape == b.shape
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    return s_ours, s_theirs


# ------------------------------------------------------------------------------ bit-identity

@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(("name", "kw", "ref"), list(_optax_cases(fast=True)))
def test_bit_identical_to_optax(name, kw, ref, dtype):
    """v0=None, convention='optax': updates and moments equal optax's bit for bit under jit."""
    _check_bit_identical(name, kw, ref, dtype)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(("name", "kw", "ref"), list(_optax_cases(fast=False)))
def test_bit_identical_to_optax_every_case(name, kw, ref, dtype):
    _check_bit_identical(name, kw, ref, dtype)


def _check_bit_identical(name, kw, ref, dtype):
    with jax.enable_x64(dtype == "float64"):
        rng = np.random.default_rng(abs(hash((name, repr(kw)))) % 2**32)
        hp = OPTIMIZERS[name].hyper(**kw)
        theirs = getattr(optax, ref.target.rpartition(".")[2])(**ref.kwargs(hp))
        ours = get_port("jax").optimizer(name, **kw)
        s_ours, s_theirs = _run_both(ours, theirs, _params(rng, dtype), 5, rng)
        for oracle_name, field in vj.STATE_FIELDS[name].items():
            theirs_field = optax.tree_utils.tree_get(s_theirs, ref.state.get(oracle_name, "-"), None)
            if theirs_field is not None and getattr(s_ours, field) is not None:
                for a, b in zip(jax.tree.leaves(getattr(s_ours, field)), jax.tree.leaves(theirs_field)):
                    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@settings(max_examples=5, deadline=None)
@given(lr=st.floats(1e-4, 1.0), b1=st.floats(0.0, 0.99), b2=st.floats(0.5, 0.9999), eps=st.floats(1e-12, 1e-3),
       shape=st.lists(st.integers(0, 4), max_size=3).map(tuple), nesterov_free=st.booleans())
def test_adam_bit_identical_any_hyper(lr, b1, b2, eps, shape, nesterov_free):
    """The public factory with optax's own argument names, across hyperparameters and shapes."""
    rng = np.random.default_rng(0)
    params = _params(rng, "float32", (shape, (3,)))
    factory, theirs = (vj.adam, optax.adam) if nesterov_free else (vj.adamw, optax.adamw)
    _run_both(factory(lr, b1=b1, b2=b2, eps=eps), theirs(lr, b1=b1, b2=b2, eps=eps), params, 2, rng)


def test_schedule_bit_identical_to_optax():
    sched = optax.warmup_cosine_decay_schedule(0.0, 0.1, 3, 10)
    rng = np.random.default_rng(1)
    _run_both(vj.adam(sched), optax.adam(sched), _params(rng, "float32"), 6, rng)
    _run_both(vj.rmsprop(sched, momentum=0.9), optax.rmsprop(sched, momentum=0.9), _params(rng, "float32"), 6, rng)


@pytest.mark.parametrize("kw", [{}, {"b1": 0.8, "b2": 0.98, "eps": 1e-6}, {"eps_root": 1e-8}])
@pytest.mark.parametrize("name", ["adam", "adamw"])
def test_nesterov_alias_bit_identical_to_optax(name, kw):
    """optax's adam(nesterov=True) / adamw(nesterov=True) (= nadam / nadamw) under the same keyword."""
    rng = np.random.default_rng(4)
    extra = {"weight_decay": 0.05} if name == "adamw" else {}
    mine = getattr(vj, name)(1e-2, nesterov=True, **kw, **extra)
    theirs = getattr(optax, name)(1e-2, nesterov=True, **kw, **extra)
    _run_both(mine, theirs, _params(rng, "float32"), 6, rng)


# ------------------------------------------------------------------------------ the oracle path

@pytest.mark.parametrize("name", ELEMENTWISE)
def test_oracle_path_matches_numpy_oracle(name):
    """Registry cases (any convention) under jit in float64 equal the numpy oracle to rounding:
    the JAX transformation runs the registry's own update (first 2 cases; all: the slow test)."""
    _check_oracle_path(name, OPTIMIZERS[name].cases[:2])


@pytest.mark.slow
@pytest.mark.parametrize("name", ELEMENTWISE)
def test_oracle_path_matches_numpy_oracle_every_case(name):
    _check_oracle_path(name, OPTIMIZERS[name].cases[2:])


def _check_oracle_path(name, cases):
    port = get_port("jax")
    for case in cases:
        if not port.supports_hyper(name, case):
            continue
        rng = np.random.default_rng(2)
        params = [0.5 * rng.standard_normal(s) for s in SHAPES]
        opt = v0ref.backends.numpy.Optimizer(name, params, **case)
        run = port.open(name, case, params)
        p_np = params
        for _ in range(8):
            g = [rng.standard_normal(s) for s in SHAPES]
            p_np = opt.step(p_np, g)
            run.step(g)
        mine, states = run.export()
        for a, b in zip(mine, p_np):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14, err_msg=f"{name} {case}")
        for s_mine, s_np in zip(states, opt.states):
            assert s_mine["step"] == s_np.step == 8


def test_zero_param_trick_needs_params_only_with_weight_decay():
    tx = vj.adam(0.1)
    g = {"w": jnp.ones(3)}
    tx.update(g, tx.init(g))                                     # no params needed
    tx = vj.adam(0.1, weight_decay=0.1, convention="torch")
    with pytest.raises(ValueError, match="needs params"):
        tx.update(g, tx.init(g))


def test_sgd_empty_buffer_first_step_is_the_gradient():
    """torch's SGD buffer starts empty (b_1 = g_1, no dampening); optax's starts at zero."""
    tx = vj.sgd(0.1, momentum=0.9, dampening=0.5, convention="torch")
    p = {"w": jnp.zeros(2, jnp.float32)}
    s = tx.init(p)
    u, s = jax.jit(tx.update)({"w": jnp.array([1.0, -2.0])}, s, p)
    np.testing.assert_array_equal(s.trace["w"], [1.0, -2.0])           # not 0.5·g
    u, s = jax.jit(tx.update)({"w": jnp.array([1.0, -2.0])}, s, p)
    np.testing.assert_allclose(s.trace["w"], [0.9 + 0.5, -1.8 - 1.0])


@pytest.mark.parametrize("case", [{"momentum_schedule": "sutskever", "momentum_max": 0.9, "nesterov": True},
                                  {"momentum_schedule": "sutskever", "form": "velocity", "nesterov": True}])
def test_sutskever_schedule_under_jit_matches_numpy_oracle(case):
    """μ_t = min(1 − 1/(2(⌊t/250⌋+1)), μ_max) with a traced step count: 520 jitted steps cross two
    schedule boundaries and equal the numpy oracle (float64) to rounding."""
    port = get_port("jax")
    rng = np.random.default_rng(5)
    params = [0.5 * rng.standard_normal(s) for s in SHAPES]
    case = {"lr": 1e-3, **case}
    opt = v0ref.backends.numpy.Optimizer("sgd", params, **case)
    run = port.open("sgd", case, params)
    p_np = params
    for _ in range(520):
        g = [rng.standard_normal(s) for s in SHAPES]
        p_np = opt.step(p_np, g)
        run.step(g)
    for a, b in zip(run.export()[0], p_np):
        np.testing.assert_allclose(a, b, rtol=1e-11, atol=1e-13)


# ------------------------------------------------------------------------------ moment inits

def test_v0_strategy_matches_numpy_oracle():
    rng = np.random.default_rng(3)
    shapes = ((6, 4), (4,), (3, 3, 2))
    params_np = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    ref = v0ref.backends.numpy.Optimizer("adam", params_np, v0="random", v0_scale=10.0, m0="random",
                                         m0_scale=0.1, key=v0ref.random.key(7), fan_layout="jax")
    for key in (7, v0ref.random.key(7), jax.random.PRNGKey(7), jax.random.key(7)):
        tx = vj.adam(v0="random", v0_scale=10.0, m0="random", m0_scale=0.1, key=key)
        state = tx.init([jnp.asarray(p) for p in params_np])
        for i, s in enumerate(ref.states):
            np.testing.assert_array_equal(np.asarray(state.nu[i]), s.v)
            np.testing.assert_array_equal(np.asarray(state.mu[i]), s.m)


def test_v0_pytree_and_callable_and_number():
    params = {"a": jnp.ones((2, 2)), "b": jnp.ones(3)}
    v0 = {"a": jnp.full((2, 2), 4.0), "b": jnp.full(3, 9.0)}
    for spec in (v0, lambda p: jax.tree.map(lambda x: 4.0 * x ** 2, {"a": p["a"], "b": 1.5 * p["b"]})):
        state = vj.rmsprop(v0=spec).init(params)
        np.testing.assert_array_equal(state.nu["a"], 4.0)
        np.testing.assert_array_equal(state.nu["b"], 9.0)
    assert float(vj.adagrad(v0=0.25).init(params).sum_of_squares["b"][0]) == 0.25
    with pytest.raises(ValueError, match="pytree shaped like params"):
        vj.adam(v0={"a": jnp.ones((2, 2))}).init(params)


def test_v0_first_step_is_eq12_not_sign_descent():
    """Paper Eq. 12: with v0 the first Adam step is −α g/(√(β2/(1−β2)·v0 + g²) + ε)."""
    g, v0, lr = 0.3, 0.5, 0.1
    tx = vj.adam(lr, v0={"w": jnp.full((2, 2), v0)})
    u, _ = tx.update({"w": jnp.full((2, 2), g)}, tx.init({"w": jnp.zeros((2, 2))}))
    expected = -lr * g / (np.sqrt(0.999 / 0.001 * v0 + g * g) + 1e-8)
    np.testing.assert_allclose(np.asarray(u["w"]), expected, rtol=2e-5)


def test_data_v0_from_grad_stats():
    from v0ref.stats import GradStats
    params = [jnp.zeros((2, 3)), jnp.zeros(3)]
    stats = GradStats([np.zeros((2, 3)), np.zeros(3)], mode="per_sample", data_size=4)
    rng = np.random.default_rng(4)
    gs = [[rng.standard_normal((2, 3)), rng.standard_normal(3)] for _ in range(4)]
    for g in gs:
        stats.update(g)
    state = vj.adam(v0="data", grad_stats=stats).init(params)
    want = v0ref.moments.resolve("v0", "data", [np.zeros((2, 3)), np.zeros(3)], stats=stats)
    for a, b in zip(state.nu, want):
        np.testing.assert_allclose(np.asarray(a), b.astype(np.float32), rtol=1e-6)


# ------------------------------------------------------------------------------ optax composition

def test_chain_inject_hyperparams_multisteps_tree_utils():
    rng = np.random.default_rng(5)
    params = _params(rng, "float32")
    # chain: clipping then our adam equals clipping then optax's adam
    _run_both(optax.chain(optax.clip_by_global_norm(1.0), vj.adam(0.1)),
              optax.chain(optax.clip_by_global_norm(1.0), optax.adam(0.1)), params, 4, rng)
    # inject_hyperparams: a traced learning rate, on the delegated and on the oracle path
    for conv in ("optax", "torch"):
        tx = optax.inject_hyperparams(vj.adam)(learning_rate=0.1, convention=conv)
        ref = vj.adam(0.1, convention=conv)
        _run_both(tx, ref, params, 3, rng)
    # MultiSteps: accumulate 2 micro-batches, then one step
    _run_both(optax.MultiSteps(vj.adam(0.1), every_k_schedule=2), optax.MultiSteps(optax.adam(0.1), 2),
              params, 4, rng)
    # tree_utils find our fields by their optax names
    state = vj.adam(0.1).init(params)
    assert jax.tree.structure(optax.tree_utils.tree_get(state, "nu")) == jax.tree.structure(params)
    assert int(optax.tree_utils.tree_get(state, "count")) == 0


def test_state_checkpoints_as_plain_pytree_and_pickle():
    rng = np.random.default_rng(6)
    params = _params(rng, "float32")
    tx = vj.nadam(0.01, convention="torch")
    state = tx.init(params)
    _, state = jax.jit(tx.update)(_grads(rng, params), state, params)
    leaves, treedef = jax.tree.flatten(state)
    restored = jax.tree.unflatten(treedef, [np.asarray(x) for x in leaves])
    g = _grads(rng, params)
    update = jax.jit(tx.update)
    u1, _ = update(g, state, params)
    u2, _ = update(g, jax.tree.map(jnp.asarray, restored), params)
    for a, b in zip(jax.tree.leaves(u1), jax.tree.leaves(u2)):
        np.testing.assert_array_equal(a, b)
    again = pickle.loads(pickle.dumps(jax.device_get(state)))
    assert type(again).__name__ == "NAdamState" and again._fields == ("count", "mu", "nu", "mu_product")


# ------------------------------------------------------------------------------ jit / vmap / grad

@pytest.mark.parametrize("name", ["adam", "radam", "adabelief", "sgd"])
def test_vmap_over_independent_runs(name):
    kw = {"rectify": True, "convention": "torch"} if name == "adabelief" else {"convention": "torch"}
    if name == "sgd":
        kw["momentum"] = 0.9
    tx = vj.FACTORIES[name](0.05, **kw)
    rng = np.random.default_rng(7)
    ps = jnp.asarray(rng.standard_normal((3, 5)), jnp.float32)
    gs = jnp.asarray(rng.standard_normal((7, 3, 5)), jnp.float32)
    states = jax.vmap(tx.init)(ps)
    step = jax.jit(jax.vmap(lambda p, g, s: tx.update(g, s, p)))
    pv = ps
    for g in gs:
        u, states = step(pv, g, states)
        pv = pv + u
    for i in range(3):
        p, s = ps[i], tx.init(ps[i])
        for g in gs:
            u, s = jax.jit(tx.update)(g[i], s, p)
            p = p + u
        np.testing.assert_allclose(pv[i], p, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize(("name", "kw"), [("adam", {}), ("radam", {"convention": "torch"}),
                                          ("adabelief", {"rectify": True, "convention": "torch"}),
                                          ("yogi", {"convention": "torch"})])
def test_grad_through_the_optimizer(name, kw):
    """d/dθ0 of the loss after 7 steps (RAdam's un-rectified branch included) is finite and equals
    central finite differences in float64."""
    with jax.enable_x64(True):
        tx = vj.FACTORIES[name](0.05, **kw)
        target = jnp.asarray(np.linspace(-1.0, 1.0, 4))

        def final_loss(p0):
            p, s = p0, tx.init(p0)
            for _ in range(7):
                g = jax.grad(lambda q: jnp.sum((q - target) ** 2 * (1 + q ** 2)))(p)
                u, s = tx.update(g, s, p)
                p = p + u
            return jnp.sum((p - target) ** 2)

        p0 = jnp.asarray([0.3, -0.2, 0.9, 0.1])
        grad = jax.jit(jax.grad(final_loss))(p0)
        assert bool(jnp.all(jnp.isfinite(grad)))
        h, f = 1e-6, jax.jit(final_loss)
        fd = [(f(p0.at[i].add(h)) - f(p0.at[i].add(-h))) / (2 * h) for i in range(4)]
        np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-8)


# ------------------------------------------------------------------------------ invalid arguments

@pytest.mark.parametrize(("call", "error", "match"), [
    (lambda: vj.adam(b1=1.5), ValueError, r"b1 must be in \[0, 1\); got 1\.5"),
    (lambda: vj.adam(-0.1), ValueError, r"learning_rate must be a finite number >= 0"),
    (lambda: vj.rmsprop(decay=2.0), ValueError, r"decay must be in"),
    (lambda: vj.adam(beta1=0.9), TypeError, r"adam: .*beta1.*valid arguments: learning_rate, b1, b2"),
    (lambda: vj.adam(convention="keras"), ValueError, r"convention must be one of"),
    (lambda: vj.adam(v0="data"), ValueError, r"v0='data' needs loss_fn= and batches= \(or grad_stats=\)"),
    (lambda: vj.adam(v0="data", loss_fn=lambda p, b: 0.0), ValueError, r"loss_fn and batches go together"),
    (lambda: vj.sgd(v0=1.0), TypeError, r"v0"),
    (lambda: vj.adam(v0="random").init({"w": jnp.ones((2, 2))}), ValueError, r"pass key="),
    (lambda: vj.adam(v0="nope").init({"w": jnp.ones((2, 2))}), ValueError, r"unknown v0 strategy 'nope'"),
    (lambda: get_port("jax").optimizer("adam", betas=0.9), ValueError, r"betas must be a pair"),
    (lambda: vj.adam(nesterov=True, convention="torch"), ValueError, r"nesterov=True .* convention='optax'"),
    (lambda: vj.adam(nesterov=True, amsgrad=True), ValueError, r"nesterov=True cannot be combined with amsgrad"),
])
def test_invalid_arguments(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_factories_cover_the_registry_with_optax_names():
    assert set(vj.FACTORIES) == set(ELEMENTWISE)
    import inspect
    sig = inspect.signature(vj.adam)
    assert list(sig.parameters)[:3] == ["learning_rate", "b1", "b2"]
    assert sig.parameters["convention"].default == "optax"
    assert "decay" in inspect.signature(vj.rmsprop).parameters
    assert "v0" not in inspect.signature(vj.signsgd).parameters
    assert vj.STATE_FIELDS["adam"] == {"m": "mu", "v": "nu", "v_max": "nu_max"}
    with v0ref.use("jax"):
        tx = v0ref.optimizer("adam", None, lr=0.1, betas=(0.8, 0.9))
    assert isinstance(tx, optax.GradientTransformation)


# ------------------------------------------------------------------------------ conformance

@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", ELEMENTWISE)
def test_conformance_cheap(name, dtype):
    """The default-hyperparameter case of every algorithm, 4 steps; the full matrix is
    ``v0ref conform --port jax`` / the slow test below."""
    port = get_port("jax")
    for case in list(cases_for(name, dtype, steps=4))[:1]:
        result = run_case(port, case)
        assert result.passed, f"{case.id}: {result.failure.describe()}"


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", ELEMENTWISE)
def test_conformance_full(name, dtype):
    port = get_port("jax")
    for case in cases_for(name, dtype, full=True):
        if port.supports_hyper(name, case.hyper):
            result = run_case(port, case)
            assert result.passed, f"{case.id}: {result.failure.describe()}"


def test_state_buffers_are_distinct_so_they_can_be_donated():
    """AMSGrad's running max starts as v itself; donating a state that holds one buffer twice is an
    XLA error ("Attempt to donate the same buffer twice"), so init must return distinct arrays."""
    params = {"w": jnp.ones((3, 2)), "b": jnp.zeros(2)}
    for tx in (vj.amsgrad(learning_rate=0.1), vj.adam(learning_rate=0.1, amsgrad=True, convention="torch")):
        state = tx.init(params)
        leaves = [x for x in jax.tree.leaves(state) if isinstance(x, jax.Array)]
        assert len({id(x) for x in leaves}) == len(leaves)

        def step(p, s, g):
            u, s = tx.update(g, s, p)
            return optax.apply_updates(p, u), s
        donated = jax.jit(step, donate_argnums=(0, 1))
        p, s = donated(jax.tree.map(jnp.copy, params), state, jax.tree.map(jnp.ones_like, params))
        p2, _ = jax.jit(step)(params, tx.init(params), jax.tree.map(jnp.ones_like, params))
        assert all(bool(jnp.array_equal(a, b)) for a, b in zip(jax.tree.leaves(p), jax.tree.leaves(p2)))
