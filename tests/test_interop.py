"""torch state_dict <-> optax state (`v0ref.interop`): a run moved between frameworks mid-training
continues on the uninterrupted float64 oracle trajectory, and conversion round-trips exactly."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
jax = pytest.importorskip("jax")
optax = pytest.importorskip("optax")
jnp = jax.numpy

from v0ref import OPTIMIZERS, interop  # noqa: E402
from v0ref.backends import jax as vjax  # noqa: E402
from v0ref.backends import torch as vtorch  # noqa: E402
from v0ref.backends.numpy import OracleRun  # noqa: E402

ALGORITHMS = interop.supported()
SHAPES = {"w": (3, 4), "b": (4,)}          # jax leaves: b, w (sorted); torch order: w, b
ORDER = {"w": 0, "b": 1}
TORCH_ORDER = ("w", "b")
STEPS, SWITCH = 7, 3
# float64 on both sides: the ports' kernels (torch's fused Adam, optax's own transformations) round
# differently from the oracle's expression by a few ulps per step; 1e-10 leaves ample room and is
# ~10^6 times tighter than any real state mismatch (a wrong moment moves params by ~lr).
RTOL, ATOL = 1e-10, 1e-12


def _state_fields(name: str, hyper: dict) -> int:
    alg = OPTIMIZERS[name]
    hp = alg.hyper(**hyper)
    s = alg.init(np.zeros(1), hp)
    s = alg.update(np.zeros(1), np.ones(1), s, hp)[1]
    return sum(getattr(s, k) is not None for k in alg.state_names)


def _cases(name: str, full: bool) -> list[dict]:
    """Every case the JAX port can jit (full), else the default and the one keeping the most state."""
    ok = [dict(c) for c in OPTIMIZERS[name].cases if vjax.PORT.supports_hyper(name, dict(c))]
    if full:
        return ok
    richest = max(ok, key=lambda c: _state_fields(name, c))
    return [ok[0]] if richest == ok[0] else [ok[0], richest]


def _params(seed: int, dtype=np.float64) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {k: rng.standard_normal(s).astype(dtype) for k, s in SHAPES.items()}


def _grads(seed: int, dtype=np.float64) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed + 1)
    return [{k: rng.standard_normal(s).astype(dtype) for k, s in SHAPES.items()} for _ in range(STEPS)]


def _moments(name: str, seed: int) -> dict[str, dict[str, np.ndarray] | None]:
    """Non-zero v0/m0 where the algorithm has them, so the converted state is not Adam's default."""
    alg = OPTIMIZERS[name]
    rng = np.random.default_rng(seed + 2)
    v0 = {k: 0.1 * rng.random(s) for k, s in SHAPES.items()} if alg.second_moment else None
    m0 = {k: 0.1 * rng.standard_normal(s) for k, s in SHAPES.items()} if alg.first_moment else None
    return {"v0": v0, "m0": m0}


def _oracle(name: str, hyper: dict, params: dict, grads: list, mom: dict) -> list[dict]:
    """The uninterrupted float64 oracle trajectory: params after each step, by name."""
    keywords = {k: (None if v is None else [v[n] for n in TORCH_ORDER]) for k, v in mom.items()}
    run = OracleRun(name, hyper, [params[n] for n in TORCH_ORDER], np, moments=keywords)
    out = []
    for g in grads:
        run.step([g[n] for n in TORCH_ORDER])
        out.append(dict(zip(TORCH_ORDER, run.export()[0])))
    return out


def _torch_opt(name: str, hyper: dict, params: dict, mom: dict | None):
    tensors = [torch.nn.Parameter(torch.tensor(params[n])) for n in TORCH_ORDER]
    kw = {}
    for k in ("v0", "m0"):
        if mom and mom[k] is not None:
            kw[k] = [torch.tensor(mom[k][n]) for n in TORCH_ORDER]
    return tensors, vtorch.optimizer_class(name)(tensors, **hyper, **kw)


def _torch_steps(tensors, opt, grads):
    for g in grads:
        for t, n in zip(tensors, TORCH_ORDER):
            t.grad = torch.tensor(g[n])
        opt.step()
    return {n: t.detach().numpy().copy() for t, n in zip(tensors, TORCH_ORDER)}


def _jax_tx(name: str, hyper: dict, mom: dict | None = None):
    moments = vjax.Moments(**{k: v for k, v in (mom or {}).items() if v is not None})
    tx = vjax.build(name, hyper, moments=moments)

    @jax.jit
    def step(params, grads, state):
        updates, state = tx.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    return tx, step


def _jax_steps(step, params, state, grads):
    for g in grads:
        params, state = step(params, jax.tree.map(jnp.asarray, g), state)
    return params, state


def _close(got: dict, want: dict, what: str) -> None:
    for n in SHAPES:
        np.testing.assert_allclose(np.asarray(got[n]), want[n], rtol=RTOL, atol=ATOL, err_msg=f"{what}: {n}")


def _check_torch_then_jax(name: str, hyper: dict, switch: int = SWITCH) -> None:
    params, grads, mom = _params(0), _grads(0), _moments(name, 0)
    want = _oracle(name, hyper, params, grads, mom)
    with jax.enable_x64(True):
        tensors, opt = _torch_opt(name, hyper, params, mom)
        mid = _torch_steps(tensors, opt, grads[:switch])
        if switch:
            _close(mid, want[switch - 1], f"{name} {hyper} torch before the switch")
        tx, step = _jax_tx(name, hyper)
        p = jax.tree.map(jnp.asarray, mid)
        state = interop.torch_to_optax(opt.state_dict(), p, algorithm=name, like=tx.init(p), param_order=ORDER)
        assert int(state.count) == switch
        p, _ = _jax_steps(step, p, state, grads[switch:])
    _close(p, want[-1], f"{name} {hyper} torch -> jax")


def _check_jax_then_torch(name: str, hyper: dict, switch: int = SWITCH) -> None:
    params, grads, mom = _params(1), _grads(1), _moments(name, 1)
    want = _oracle(name, hyper, params, grads, mom)
    with jax.enable_x64(True):
        tx, step = _jax_tx(name, hyper, mom)
        p = jax.tree.map(jnp.asarray, params)
        p, state = _jax_steps(step, p, tx.init(p), grads[:switch])
        if switch:
            _close(p, want[switch - 1], f"{name} {hyper} jax before the switch")
        tensors, opt = _torch_opt(name, hyper, {n: np.asarray(p[n]) for n in SHAPES}, None)
        sd = interop.optax_to_torch(state, p, algorithm=name, param_order=ORDER, like=opt)
        opt.load_state_dict(sd)
        final = _torch_steps(tensors, opt, grads[switch:])
    _close(final, want[-1], f"{name} {hyper} jax -> torch")


@pytest.mark.parametrize("name", ALGORITHMS)
def test_torch_then_jax_follows_the_oracle(name):
    for hyper in _cases(name, full=False):
        _check_torch_then_jax(name, hyper)


@pytest.mark.parametrize("name", ALGORITHMS)
def test_jax_then_torch_follows_the_oracle(name):
    for hyper in _cases(name, full=False):
        _check_jax_then_torch(name, hyper)


@pytest.mark.slow
@pytest.mark.parametrize("name", ALGORITHMS)
def test_every_case_both_directions(name):
    for hyper in _cases(name, full=True):
        _check_torch_then_jax(name, hyper)
        _check_jax_then_torch(name, hyper)


def test_switch_before_the_first_step():
    """SGD's momentum buffer does not exist in torch before the first step (the JAX port keeps
    zeros): converted at step 0 both ways, dampening still applies to the first gradient alone."""
    hyper = {"momentum": 0.9, "dampening": 0.5}
    params, grads = _params(3), _grads(3)
    want = _oracle("sgd", hyper, params, grads, {"v0": None, "m0": None})
    with jax.enable_x64(True):
        tensors, opt = _torch_opt("sgd", hyper, params, None)
        tx, step = _jax_tx("sgd", hyper)
        p = jax.tree.map(jnp.asarray, params)
        state = interop.torch_to_optax(opt.state_dict(), p, algorithm="sgd", like=tx.init(p), param_order=ORDER)
        assert state.trace is not None and not np.any(np.asarray(state.trace["w"]))
        p, _ = _jax_steps(step, p, state, grads)
        _close(p, want[-1], "sgd torch@0 -> jax")
        sd = interop.optax_to_torch(tx.init(p), p, algorithm="sgd", param_order=ORDER, like=opt)
        assert "momentum_buffer" not in sd["state"][0]
        opt.load_state_dict(sd)
        _close(_torch_steps(tensors, opt, grads), want[-1], "sgd jax@0 -> torch")


@pytest.mark.parametrize("name", ALGORITHMS)
def test_torch_names_are_the_torch_ports_keys(name):
    """`torch_names` (derived from the registry) names exactly the keys the torch port writes."""
    hyper = max(_cases(name, full=False), key=lambda c: _state_fields(name, c))
    tensors, opt = _torch_opt(name, hyper, _params(0), None)
    _torch_steps(tensors, opt, _grads(0)[:1])
    alg = OPTIMIZERS[name]
    record = opt.oracle_state(tensors[0])
    expected = {"step"} | {interop.torch_names(name)[k] for k in alg.state_names if getattr(record, k) is not None}
    assert set(opt.state_dict()["state"][0]) == expected


@settings(max_examples=12, deadline=None)
@given(name=st.sampled_from(ALGORITHMS), steps=st.integers(0, 3), seed=st.integers(0, 2**16),
       dtype=st.sampled_from([np.float32, np.float64]))
def test_round_trips_are_exact(name, steps, seed, dtype):
    """torch -> optax -> torch and optax -> torch -> optax give back the same bits."""
    hyper = max(_cases(name, full=False), key=lambda c: _state_fields(name, c))
    params, grads, mom = _params(seed, dtype), _grads(seed, dtype), _moments(name, seed)
    mom = {k: (None if v is None else {n: a.astype(dtype) for n, a in v.items()}) for k, v in mom.items()}
    with jax.enable_x64(True):
        tensors, opt = _torch_opt(name, hyper, params, mom)
        _torch_steps(tensors, opt, grads[:steps])
        tx, step = _jax_tx(name, hyper, mom)
        p = jax.tree.map(jnp.asarray, params)
        sd = opt.state_dict()
        state = interop.torch_to_optax(sd, p, algorithm=name, like=tx.init(p), param_order=ORDER)
        back = interop.optax_to_torch(state, p, algorithm=name, param_order=ORDER, like=sd)
        for i in sd["state"]:
            assert set(back["state"][i]) == set(sd["state"][i])
            for key, value in sd["state"][i].items():
                assert back["state"][i][key].dtype == value.dtype, (key, value.dtype)
                assert torch.equal(back["state"][i][key], value), key
        assert back["param_groups"] == sd["param_groups"]

        _, jstate = _jax_steps(step, p, tx.init(p), grads[:steps])
        again = interop.torch_to_optax(interop.optax_to_torch(jstate, p, algorithm=name, param_order=ORDER),
                                       p, algorithm=name, like=tx.init(p), param_order=ORDER)
        assert jax.tree.structure(again) == jax.tree.structure(jstate)
        for a, b in zip(jax.tree.leaves(again), jax.tree.leaves(jstate)):
            assert a.dtype == b.dtype and a.shape == b.shape
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_stock_torch_adam_checkpoint_continues_in_jax():
    """A plain torch.optim.Adam checkpoint continues under the JAX port as torch would continue it."""
    params, grads = _params(5), _grads(5)
    tensors = [torch.nn.Parameter(torch.tensor(params[n])) for n in TORCH_ORDER]
    opt = torch.optim.Adam(tensors, lr=0.05, amsgrad=True)
    with jax.enable_x64(True):
        mid = _torch_steps(tensors, opt, grads[:SWITCH])
        final = _torch_steps(tensors, opt, grads[SWITCH:])          # torch, uninterrupted
        tx, step = _jax_tx("amsgrad", {"lr": 0.05})
        p = jax.tree.map(jnp.asarray, mid)
        tensors2 = [torch.nn.Parameter(torch.tensor(mid[n])) for n in TORCH_ORDER]
        opt2 = torch.optim.Adam(tensors2, lr=0.05, amsgrad=True)
        _torch_steps(tensors2, opt2, grads[:SWITCH])                 # the same checkpoint again
        state = interop.torch_to_optax(opt2.state_dict(), p, algorithm="amsgrad", like=tx.init(p),
                                       param_order=ORDER)
        p, _ = _jax_steps(step, p, state, grads[SWITCH:])
    _close(p, final, "torch.optim.Adam -> jax amsgrad")


def test_state_inside_a_chain_is_found_and_replaced():
    hyper = {"momentum": 0.9}
    params, grads = _params(6), _grads(6)
    want = _oracle("sgd", hyper, params, grads, {"v0": None, "m0": None})
    with jax.enable_x64(True):
        tensors, opt = _torch_opt("sgd", hyper, params, None)
        mid = _torch_steps(tensors, opt, grads[:SWITCH])
        inner = vjax.build("sgd", hyper)
        tx = optax.chain(optax.scale(1.0), inner)
        p = jax.tree.map(jnp.asarray, mid)
        state = interop.torch_to_optax(opt, p, algorithm="sgd", like=tx.init(p), param_order=ORDER)
        assert isinstance(state, tuple) and int(state[1].count) == SWITCH
        for g in grads[SWITCH:]:
            u, state = tx.update(jax.tree.map(jnp.asarray, g), state, p)
            p = optax.apply_updates(p, u)
        back = interop.optax_to_torch(state, p, algorithm="sgd", param_order=ORDER)
    _close(p, want[-1], "sgd in a chain")
    assert float(back["state"][0]["step"]) == STEPS


def test_default_order_and_float32_placement():
    """Without param_order torch index k is the k-th leaf (here b, w); arrays take the params' dtype."""
    tensors = [torch.nn.Parameter(torch.ones(4)), torch.nn.Parameter(torch.ones(3, 4))]   # b, w
    opt = vtorch.optimizer_class("adam")(tensors, lr=0.1)
    for t in tensors:
        t.grad = torch.full_like(t, 2.0)
    opt.step()
    p = {"w": jnp.ones((3, 4), jnp.float32), "b": jnp.ones(4, jnp.float32)}
    state = interop.torch_to_optax(opt.state_dict(), p, algorithm="adam")
    assert type(state).__name__ == "AdamState" and state.nu_max is None
    assert state.mu["b"].shape == (4,) and state.mu["w"].dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(state.nu["w"]), 0.001 * 4.0, rtol=1e-6)


def test_invalid_arguments_name_the_parameter():
    p = {"w": jnp.ones((3, 4)), "b": jnp.ones(4)}
    tensors, opt = _torch_opt("adam", {}, _params(0), None)
    sd = opt.state_dict()
    with pytest.raises(ValueError, match="algorithm must be a registry name"):
        interop.torch_to_optax(sd, p, algorithm="adamx")
    with pytest.raises(TypeError, match="state_dict must be a torch optimizer"):
        interop.torch_to_optax({"exp_avg": 1}, p, algorithm="adam")
    with pytest.raises(ValueError, match="param_order's leaves must be the torch indices"):
        interop.torch_to_optax(sd, p, algorithm="adam", param_order={"w": 0, "b": 0})
    with pytest.raises(ValueError, match="param_order must be a pytree shaped like params"):
        interop.torch_to_optax(sd, p, algorithm="adam", param_order=[0, 1, 2])
    with pytest.raises(ValueError, match=r"keys \['exp_avg_sq'\]"):
        interop.torch_to_optax(sd, p, algorithm="adabelief")
    with pytest.raises(ValueError, match="different step counts"):
        bad = {"state": {0: dict(sd["state"][0], step=torch.tensor(2.0)), 1: sd["state"][1]},
               "param_groups": sd["param_groups"]}
        interop.torch_to_optax(bad, p, algorithm="adam")
    with pytest.raises(ValueError, match="expected one AdamState"):
        interop.torch_to_optax(sd, p, algorithm="adam", like=vjax.build("sgd", {}).init(p))
    with pytest.raises(ValueError, match="like has 2 parameters; got 3 states"):
        interop.oracle_to_torch([{"step": 0}] * 3, algorithm="signsgd", like=sd)
    with pytest.raises(ValueError, match="got 3 states for 2 parameters"):
        interop.oracle_to_optax([{"step": 0}] * 3, p, algorithm="signsgd")
