"""The PyTorch port: conformance of every path, torch.optim behaviour, state_dict interop, errors."""

from __future__ import annotations

import copy
import inspect

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from hypothesis import given, settings, strategies as st  # noqa: E402

import v0ref  # noqa: E402
from v0ref import OPTIMIZERS, moments  # noqa: E402
from v0ref.backends import torch as T  # noqa: E402
from v0ref.conformance import cases_for, run_case  # noqa: E402

ELEMENTWISE = [n for n in OPTIMIZERS if OPTIMIZERS[n].kind == "elementwise"]


def _failures(port, algorithm, dtype, *, steps, full=False, first_only=True):
    out, ran = [], 0
    for i, case in enumerate(cases_for(algorithm, dtype, steps=steps, full=full)):
        if first_only and case.hyper != dict(OPTIMIZERS[algorithm].cases[0]):
            continue
        if not port.supports_hyper(algorithm, case.hyper):
            continue
        ran += 1
        result = run_case(port, case)
        if not result.passed:
            out.append(f"{case.id}: {result.failure.describe()}")
    return out, ran


# ------------------------------------------------------------------------------------ conformance

@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("algorithm", ELEMENTWISE)
def test_default_port_conforms(algorithm, dtype):
    """The default path (what a user gets) on the defaults with every moment init (4 steps)."""
    failures, ran = _failures(T.PORT, algorithm, dtype, steps=4)
    assert ran > 0
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("impl", T.IMPLS)
@pytest.mark.parametrize("algorithm", ELEMENTWISE)
def test_every_path_conforms(algorithm, impl):
    """fused = foreach = single-tensor: each path meets the tolerance rule against the oracle."""
    port = T.TorchPort(impl)
    failures, ran = _failures(port, algorithm, "float32", steps=3)
    if ran == 0:
        pytest.skip(f"{impl} does not implement {algorithm}")
    assert not failures, "\n".join(failures)


@pytest.mark.slow
@pytest.mark.parametrize("impl", [None, *T.IMPLS])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("algorithm", ELEMENTWISE)
def test_full_matrix_conforms(algorithm, dtype, impl):
    port = T.TorchPort(impl)
    failures, ran = _failures(port, algorithm, dtype, steps=48, full=True, first_only=False)
    if ran == 0:
        pytest.skip(f"{impl} does not implement {algorithm}")
    assert not failures, "\n".join(failures)


def _problem(seed=0, shapes=((3, 4), (5,), (2, 3, 2), ())):
    g = torch.Generator().manual_seed(seed)
    params = [torch.randn(s, generator=g, dtype=torch.float32) for s in shapes]
    grads = [[torch.randn(s, generator=g, dtype=torch.float32) for s in shapes] for _ in range(5)]
    return params, grads


def _run(cls, params, grads, **kw):
    ps = [p.clone().requires_grad_() for p in params]
    opt = cls(ps, **kw)
    for gs in grads:
        for p, g in zip(ps, gs):
            p.grad = g.clone()
        opt.step()
    return ps, opt


@pytest.mark.parametrize("algorithm", ELEMENTWISE)
def test_foreach_oracle_is_bit_identical_to_single(algorithm):
    """The TensorList path runs the same operations as the per-tensor oracle: equal bits."""
    cls = T.optimizer_class(algorithm)
    params, grads = _problem()
    kw = {"v0": "random", "key": 3} if OPTIMIZERS[algorithm].second_moment else {}
    a, _ = _run(cls, params, grads, impl="oracle", **kw)
    b, _ = _run(cls, params, grads, impl="oracle-foreach", **kw)
    for x, y in zip(a, b):
        assert torch.equal(x, y)


def test_default_paths():
    p = [torch.zeros(3, requires_grad=True)]
    from v0ref.backends import _cpu_kernels
    compiled = _cpu_kernels.available()        # a C compiler: the oracle's own kernel, compiled
    assert T.Adam(p).path() == ("oracle-compiled" if compiled else "torch-fused")
    assert T.Adam(p, convention="optax").path() == ("oracle-compiled" if compiled else "oracle-foreach")
    assert T.RMSprop(p).path() == ("oracle-compiled" if compiled else "torch-forloop")
    assert T.Yogi(p).path() == ("oracle-compiled" if compiled else "oracle-foreach")
    assert T.Yogi(p, foreach=True).path() == "oracle-foreach"
    assert T.Yogi(p, foreach=False).path() == "oracle"
    assert T.NAdam(p, foreach=True).path() == "torch-foreach"


# ------------------------------------------------------------------------------------ the classes

def test_every_entry_has_a_class_with_torch_names():
    for name in ELEMENTWISE:
        cls = T.optimizer_class(name)
        assert issubclass(cls, torch.optim.Optimizer)
        assert cls.algorithm is OPTIMIZERS[name]
    assert T.Adam.__name__ == "Adam" and T.AMSGrad.algorithm.name == "amsgrad"
    for ours, theirs in [(T.Adam, torch.optim.Adam), (T.AdamW, torch.optim.AdamW), (T.SGD, torch.optim.SGD),
                         (T.RMSprop, torch.optim.RMSprop), (T.Adagrad, torch.optim.Adagrad),
                         (T.Adadelta, torch.optim.Adadelta), (T.NAdam, torch.optim.NAdam),
                         (T.RAdam, torch.optim.RAdam), (T.Adamax, torch.optim.Adamax)]:
        mine, torch_sig = inspect.signature(ours).parameters, inspect.signature(theirs).parameters
        for name, p in torch_sig.items():
            if name in ("params", "capturable", "differentiable", "foreach", "fused"):
                continue
            assert name in mine, f"{ours.__name__} lacks torch's {name}"
            if isinstance(p.default, (int, float, bool, tuple)):
                assert mine[name].default == p.default, (ours.__name__, name)


def test_v0ref_optimizer_dispatches_to_the_torch_classes():
    with v0ref.use("torch"):
        opt = v0ref.optimizer("adam", [torch.zeros(2, requires_grad=True)], lr=0.1, v0=0.5)
    assert isinstance(opt, T.Adam) and opt.param_groups[0]["lr"] == 0.1


@settings(max_examples=15, deadline=None)
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=3), seed=st.integers(0, 2**16),
       strategy=st.sampled_from(["random", "random-chi2", "random-kaiming", "constant", "constant-layer"]),
       scale=st.floats(0.01, 100.0), min_ndim=st.sampled_from([None, 0, 1]))
def test_moment_strategies_reach_the_state_exactly(shape, seed, strategy, scale, min_ndim):
    params = [torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(seed)),
              torch.zeros(3, dtype=torch.float64)]
    opt = T.Adam([p.clone().requires_grad_() for p in params], v0=strategy, v0_scale=scale, key=seed,
                 v0_min_ndim=min_ndim, m0="random" if strategy == "random" else None, m0_scale=0.1)
    v0 = moments.resolve("v0", strategy, params, scale=scale, key=seed, min_ndim=min_ndim)
    m0 = moments.resolve("m0", "random", params, scale=0.1, key=seed, min_ndim=min_ndim) \
        if strategy == "random" else [None, None]
    alg = OPTIMIZERS["adam"]
    for p, v, m, q in zip(params, v0, m0, opt.param_groups[0]["params"]):
        want = alg.init(p, alg.hyper(), v0=v, m0=m)
        state = opt.state[q]
        assert torch.equal(state["exp_avg_sq"], want.v) and torch.equal(state["exp_avg"], want.m)
        assert state["step"].dtype == torch.float32 and float(state["step"]) == 0.0


def test_per_group_hyperparameters_follow_the_oracle():
    params, grads = _problem(1, ((4, 3), (6,)))
    ps = [p.clone().requires_grad_() for p in params]
    opt = T.Adam([{"params": [ps[0]], "lr": 0.1, "betas": (0.5, 0.9)}, {"params": [ps[1]]}], lr=0.01,
                 foreach=False)
    alg = OPTIMIZERS["adam"]
    hps = [alg.hyper(lr=0.1, betas=(0.5, 0.9)), alg.hyper(lr=0.01)]
    ref = [p.clone() for p in params]
    states = [alg.init(p, hp) for p, hp in zip(ref, hps)]
    for gs in grads:
        for p, g in zip(ps, gs):
            p.grad = g.clone()
        opt.step()
        for i in range(2):
            ref[i], states[i] = alg.update(ref[i], gs[i], states[i], hps[i])
    for p, r in zip(ps, ref):
        assert torch.equal(p.detach(), r)


def test_schedulers_drive_the_lr():
    params, grads = _problem(2, ((3, 3),))
    sched_values = v0ref.schedules.linear(0.1, 0.0, 4)
    p = params[0].clone().requires_grad_()
    opt = T.RMSprop([p], lr=0.1, foreach=False)
    sched = T.ScheduleLR(opt, sched_values)
    alg = OPTIMIZERS["rmsprop"]
    ref, state = params[0].clone(), alg.init(params[0], alg.hyper(lr=0.1))
    for k, gs in enumerate(grads):
        assert opt.param_groups[0]["lr"] == pytest.approx(sched_values(k), abs=0)
        p.grad = gs[0].clone()
        opt.step()
        sched.step()
        ref, state = alg.update(ref, gs[0], state, alg.hyper(lr=sched_values(k)))
    assert torch.equal(p.detach(), ref)
    # torch's own schedulers work on the param groups too
    q = torch.zeros(2, requires_grad=True)
    opt2 = T.Yogi([q], lr=1.0)
    step_lr = torch.optim.lr_scheduler.StepLR(opt2, step_size=1, gamma=0.5)
    q.grad = torch.ones(2)
    opt2.step()
    step_lr.step()
    assert opt2.param_groups[0]["lr"] == 0.5


def test_params_without_grad_are_skipped_and_complex_params_use_the_real_view():
    a, b = torch.ones(3, requires_grad=True), torch.ones(2, requires_grad=True)
    opt = T.AdaBelief([a, b], lr=0.1)
    a.grad = torch.ones(3)
    opt.step()
    assert torch.equal(b.detach(), torch.ones(2)) and float(opt.state[b]["step"]) == 0.0
    z = torch.tensor([1 + 2j, -0.5j], dtype=torch.complex64, requires_grad=True)
    r = torch.view_as_real(z.detach()).clone().requires_grad_()
    opt_z, opt_r = T.Adam([z], lr=0.1, foreach=False), T.Adam([r], lr=0.1, foreach=False)
    for _ in range(3):
        z.grad = torch.tensor([0.3 - 1j, 2 + 0.1j], dtype=torch.complex64)
        r.grad = torch.view_as_real(z.grad).clone()
        opt_z.step()
        opt_r.step()
    assert torch.equal(torch.view_as_real(z.detach()), r.detach())
    assert opt_z.state[z]["exp_avg"].is_complex()


# ------------------------------------------------------------------------------------ state_dict

@pytest.mark.parametrize("algorithm", ELEMENTWISE)
def test_state_dict_round_trip_resumes_bit_identically(algorithm):
    cls = T.optimizer_class(algorithm)
    params, grads = _problem(3)
    kw = {"v0": "random", "key": 1} if OPTIMIZERS[algorithm].second_moment else {}
    full, _ = _run(cls, params, grads, **kw)
    half, opt = _run(cls, params, grads[:2], **kw)
    saved = copy.deepcopy(opt.state_dict())
    resumed = [p.detach().clone().requires_grad_() for p in half]
    opt2 = cls(resumed)
    opt2.load_state_dict(saved)
    for gs in grads[2:]:
        for p, g in zip(resumed, gs):
            p.grad = g.clone()
        opt2.step()
    for x, y in zip(full, resumed):
        assert torch.equal(x, y)


def test_torch_adam_checkpoint_interop():
    params, grads = _problem(4)
    # torch.optim.Adam -> v0ref Adam
    theirs, topt = _run(torch.optim.Adam, params, grads[:3], lr=0.01)
    ours = [p.detach().clone().requires_grad_() for p in theirs]
    oopt = T.Adam(ours, lr=0.5)
    oopt.load_state_dict(copy.deepcopy(topt.state_dict()))
    assert oopt.param_groups[0]["lr"] == 0.01 and oopt.param_groups[0]["convention"] == "torch"
    for gs in grads[3:]:
        for p, q, g in zip(theirs, ours, gs):
            p.grad, q.grad = g.clone(), g.clone()
        topt.step()
        oopt.step()
    for p, q in zip(theirs, ours):
        torch.testing.assert_close(p, q, rtol=2e-6, atol=1e-7)
    # v0ref Adam with a random v0 -> torch.optim.Adam (the paper's prefill, exactly)
    mine, oopt = _run(T.Adam, params, grads[:2], lr=0.01, v0="random", v0_scale=10.0, key=0, foreach=False)
    back = [p.detach().clone().requires_grad_() for p in mine]
    topt = torch.optim.Adam(back, lr=0.01, foreach=False)
    topt.load_state_dict(copy.deepcopy(oopt.state_dict()))
    for gs in grads[2:]:
        for p, q, g in zip(mine, back, gs):
            p.grad, q.grad = g.clone(), g.clone()
        oopt.step()
        topt.step()
    for p, q in zip(mine, back):
        assert torch.equal(p, q)
    assert set(oopt.state_dict()["state"][0]) == {"step", "exp_avg", "exp_avg_sq"}


# ------------------------------------------------------------------------------------ errors

@pytest.mark.parametrize("kwargs, error, match", [
    ({"lr": -1.0}, ValueError, r"lr must be a finite number >= 0"),
    ({"betas": (0.9, 1.0)}, ValueError, r"betas\[1\] must be in"),
    ({"betaz": 0.9}, TypeError, r"unknown hyperparameter\(s\) betaz"),
    ({"fused": True, "foreach": True}, ValueError, r"fused=True and foreach=True"),
    ({"fused": "yes"}, TypeError, r"fused must be None, True or False"),
    ({"impl": "turbo"}, ValueError, r"impl must be None or one of"),
    ({"fused": True, "convention": "optax"}, ValueError, r"fused=True: torch has no fused kernel"),
    ({"differentiable": True}, ValueError, r"differentiable=True is not supported"),
    ({"capturable": True}, ValueError, r"capturable=True is not supported"),
    ({"v0": "nope"}, ValueError, r"unknown v0 strategy 'nope'"),
    ({"v0": "data"}, ValueError, r"v0='data' needs model=, loss_fn= and batches="),
    ({"v0_scale": -1.0, "v0": "random", "key": 0}, ValueError, r"v0_scale must be a finite number >= 0"),
])
def test_invalid_arguments_name_themselves(kwargs, error, match):
    with pytest.raises(error, match=match):
        T.Adam([torch.zeros(2, 2, requires_grad=True)], **kwargs)


def test_invalid_group_and_sparse_gradients():
    opt = T.SGD([torch.zeros(2, requires_grad=True)], lr=0.1)
    with pytest.raises(ValueError, match="momentum must be a finite number >= 0"):
        opt.add_param_group({"params": [torch.zeros(1, requires_grad=True)], "momentum": -1.0})
    assert len(opt.param_groups) == 1
    with pytest.raises(TypeError, match="unknown hyperparameter"):
        opt.add_param_group({"params": [torch.zeros(1, requires_grad=True)], "mommentum": 0.9})
    with pytest.raises(ValueError, match="fused=True: torch has no fused kernel"):
        T.Yogi([torch.zeros(2, requires_grad=True)], fused=True)
    emb = torch.nn.Embedding(4, 2, sparse=True)
    opt = T.Adam(emb.parameters())
    emb(torch.tensor([1])).sum().backward()
    with pytest.raises(ValueError, match="does not support sparse gradients"):
        opt.step()


def test_added_group_gets_default_state_and_steps():
    a, b = torch.ones(2, requires_grad=True), torch.ones(3, requires_grad=True)
    opt = T.Adagrad([a], lr=0.1, initial_accumulator_value=0.25)
    opt.add_param_group({"params": [b], "lr": 0.2})
    assert torch.equal(opt.state[b]["sum"], torch.full((3,), 0.25))
    a.grad, b.grad = torch.ones(2), torch.ones(3)
    opt.step()
    want = 1 - 0.2 / (np.sqrt(1.25) + 1e-10)
    assert torch.allclose(b.detach(), torch.full((3,), want, dtype=torch.float32))
