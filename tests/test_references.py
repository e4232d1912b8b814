"""The oracle against torch.optim and optax, driven by each registry entry's `Reference` list.

For every algorithm, every hyperparameter case of the entry whose convention a framework
implements, random shapes (0-d, empty, odd, conv-like) and float64: 25 steps with the same
gradients, parameters and state compared after every step to 1e-12 relative.  With a non-zero v0
(and m0), the framework's state is prefilled exactly as the paper's code does (torch: ``step`` 0,
``exp_avg_sq`` = v0; optax: ``nu`` replaced after ``init``) — the paper-code semantics.
"""

from __future__ import annotations

import importlib
import zlib

import numpy as np
import pytest

from v0ref import OPTIMIZERS

SHAPES = [(), (0,), (7,), (4, 5), (3, 2, 3, 3)]
STEPS = 25
RTOL, ATOL = 1e-12, 1e-15


def _cases(framework: str):
    for name, alg in OPTIMIZERS.items():
        if alg.kind != "elementwise":       # whole-vector references: tests/test_whole_vector.py
            continue
        for ref in alg.references:
            if ref.framework != framework:
                continue
            for i, kw in enumerate(alg.cases):
                for conv_kw in ({}, {"convention": framework}):
                    full = {**kw, **conv_kw} if "convention" not in kw else kw
                    try:
                        hp = alg.hyper(**full)
                    except ValueError:
                        continue
                    if ref.applies(hp):
                        yield pytest.param(name, full, ref, id=f"{name}-{i}-{'-'.join(f'{k}={v}' for k, v in full.items())}")
                        break


def _grads(rng, shape, steps):
    scale = 10.0 ** rng.uniform(-4, 1)
    return [scale * rng.standard_normal(shape) for _ in range(steps)]


def _oracle_run(alg, hp, p0, grads, v0, m0):
    state = alg.init(p0, hp, v0=v0, m0=m0)
    p = p0
    trace = []
    for g in grads:
        p, state = alg.update(p, g, state, hp)
        trace.append((p, state))
    return trace


def _moments(rng, shape, with_v0, alg):
    """A prefilled v0 (and m0) for the states the algorithm has."""
    v0, m0 = rng.chisquare(1, size=shape) * 1e-3, 1e-3 * rng.standard_normal(shape)
    if not with_v0:
        return None, None
    return (v0 if alg.second_moment else None), (m0 if alg.first_moment else None)


# ------------------------------------------------------------------------------------- torch

@pytest.mark.torch
@pytest.mark.parametrize("with_v0", [False, True], ids=["v0=0", "v0=random"])
@pytest.mark.parametrize(("name", "kwargs", "ref"), list(_cases("torch")) + list(_cases("pytorch_optimizer")))
def test_oracle_matches_torch(name, kwargs, ref, with_v0):
    """torch.optim and pytorch_optimizer classes: same constructor/step/state protocol."""
    torch = pytest.importorskip("torch")
    pytest.importorskip(ref.framework)
    alg = OPTIMIZERS[name]
    hp = alg.hyper(**kwargs)
    module, _, cls = ref.target.rpartition(".")
    opt_cls = getattr(importlib.import_module(module), cls)
    rng = np.random.default_rng(zlib.crc32(f"{name}{kwargs}{with_v0}".encode()))
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)   # torch keeps NAdam's mu_product in the default dtype
    try:
        for shape in SHAPES:
            p0 = rng.standard_normal(shape)
            grads = _grads(rng, shape, STEPS)
            v0, m0 = _moments(rng, shape, with_v0, alg)
            trace = _oracle_run(alg, hp, p0, grads, v0, m0)

            tp = torch.tensor(p0, requires_grad=True)
            opt = opt_cls([tp], **ref.kwargs(hp))
            if with_v0:
                init = alg.init(p0, hp, v0=v0, m0=m0)
                # torch.optim keeps a tensor step unless the reference maps "step" to None (torch.optim.SGD
                # keeps none); a pytorch_optimizer entry maps "step" itself if it needs one
                keeps_step = ref.framework == "torch" and ref.state.get("step", "step") is not None
                opt.state[tp] = {"step": torch.tensor(0.0)} if keeps_step else {}
                for field, tname in ref.state.items():
                    value = 0 if field == "step" else getattr(init, field)
                    if value is not None and tname is not None:
                        opt.state[tp][tname] = torch.tensor(np.asarray(value, dtype=np.float64))
            for step, (g, (p_or, s_or)) in enumerate(zip(grads, trace), start=1):
                tp.grad = torch.tensor(g)
                opt.step()
                np.testing.assert_allclose(tp.detach().numpy(), p_or, rtol=RTOL, atol=ATOL,
                                           err_msg=f"param, shape {shape}, step {step}")
                tstate = opt.state[tp]
                assert s_or.step == step
                if "step" in tstate:
                    assert float(tstate["step"]) == step
                for field, tname in ref.state.items():
                    if field == "step":
                        continue
                    value = getattr(s_or, field)
                    if value is None:
                        assert tname not in tstate or field == "v_max" and not hp.amsgrad
                        continue
                    np.testing.assert_allclose(np.asarray(tstate[tname].detach()), value, rtol=RTOL, atol=ATOL,
                                               err_msg=f"state {field}, shape {shape}, step {step}")
    finally:
        torch.set_default_dtype(previous)


# ------------------------------------------------------------------------------------- optax

def _prefill_optax(state, values: dict):
    """Replace the named fields wherever they occur in an optax state tree."""
    if hasattr(state, "_fields"):
        state = state._replace(**{k: v for k, v in values.items() if k in state._fields})
        return type(state)(*(_prefill_optax(s, values) if isinstance(s, tuple) else s for s in state))
    if isinstance(state, tuple):
        return tuple(_prefill_optax(s, values) for s in state)
    return state


def _find_optax_field(state, field):
    if hasattr(state, "_fields") and field in state._fields:
        return getattr(state, field)
    if isinstance(state, tuple):
        for s in state:
            found = _find_optax_field(s, field)
            if found is not None:
                return found
    return None


@pytest.mark.jax
@pytest.mark.parametrize("with_v0", [False, True], ids=["v0=0", "v0=random"])
@pytest.mark.parametrize(("name", "kwargs", "ref"), list(_cases("optax")))
def test_oracle_matches_optax(name, kwargs, ref, with_v0):
    jax = pytest.importorskip("jax")
    optax = pytest.importorskip("optax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    alg = OPTIMIZERS[name]
    hp = alg.hyper(**kwargs)
    factory = getattr(optax, ref.target.rpartition(".")[2])
    tx = factory(**ref.kwargs(hp))
    update = jax.jit(tx.update)
    rng = np.random.default_rng(zlib.crc32(f"optax{name}{kwargs}{with_v0}".encode()))
    for shape in SHAPES:
        p0 = rng.standard_normal(shape)
        grads = _grads(rng, shape, STEPS)
        v0, m0 = _moments(rng, shape, with_v0, alg)
        trace = _oracle_run(alg, hp, p0, grads, v0, m0)

        params = jnp.asarray(p0)
        state = tx.init(params)
        if with_v0:
            init = alg.init(p0, hp, v0=v0, m0=m0)
            state = _prefill_optax(state, {oname: jnp.asarray(getattr(init, field))
                                           for field, oname in ref.state.items() if getattr(init, field) is not None})
        for step, (g, (p_or, s_or)) in enumerate(zip(grads, trace), start=1):
            updates, state = update(jnp.asarray(g), state, params)
            params = optax.apply_updates(params, updates)
            np.testing.assert_allclose(np.asarray(params), p_or, rtol=RTOL, atol=ATOL,
                                       err_msg=f"param, shape {shape}, step {step}")
            for field, oname in ref.state.items():
                value, theirs = getattr(s_or, field), _find_optax_field(state, oname)
                if value is None or theirs is None:
                    continue
                np.testing.assert_allclose(np.asarray(theirs), value, rtol=RTOL, atol=ATOL,
                                           err_msg=f"state {field}, shape {shape}, step {step}")


def test_every_algorithm_is_compared_with_a_framework():
    """The reference lists are data; make sure no entry silently compares with nothing, and that
    every algorithm torch.optim or optax implements is compared with it."""
    covered = {fw: {c.values[0] for c in _cases(fw)} for fw in ("torch", "optax", "pytorch_optimizer")}
    elementwise = {n for n, a in OPTIMIZERS.items() if a.kind == "elementwise"}
    assert set().union(*covered.values()) == elementwise
    for fw, module in (("torch", "torch.optim"), ("optax", "optax")):
        declared = {n for n, a in OPTIMIZERS.items() for r in a.references
                    if r.target.startswith(module) and n in elementwise}
        assert declared == covered[fw], f"{fw} references declared but never applicable: {declared - covered[fw]}"
