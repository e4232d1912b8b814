"""The CuPy port on a real GPU: generated kernels against the oracle, multi-tensor vs per-tensor,
state_dict, float16 mode, moments on the GPU, whole-vector methods on CuPy arrays.

Skipped with a reason where CuPy is not installed or no CUDA GPU is visible.  The kernel
*generation* is tested without a GPU in tests/test_codegen.py.
"""

from __future__ import annotations

import numpy as np
import pytest

cp = pytest.importorskip("cupy", reason="CuPy is not installed (pip install 'v0ref[cupy]'); GPU tests skipped")

from v0ref.backends import cupy as port  # noqa: E402

if not port.available():
    pytest.skip("CuPy is installed but no CUDA GPU is visible; GPU tests skipped", allow_module_level=True)

from v0ref.algorithms import OPTIMIZERS  # noqa: E402
from v0ref.conformance.cases import cases_for  # noqa: E402
from v0ref.conformance.runner import run_case  # noqa: E402

ELEMENTWISE = [n for n in OPTIMIZERS if OPTIMIZERS[n].kind == "elementwise"]
WHOLE = [n for n in OPTIMIZERS if OPTIMIZERS[n].kind != "elementwise"]
SHAPES = [(), (1,), (7,), (3, 5), (4, 3, 3, 3), (0,), (33, 65)]


def _data(dtype, steps, seed=0, shapes=SHAPES):
    rng = np.random.default_rng(seed)
    params = [(0.5 * rng.standard_normal(s)).astype(dtype) for s in shapes]
    grads = [[(10.0 ** rng.uniform(-4, 1, s) * rng.standard_normal(s)).astype(dtype) for s in shapes]
             for _ in range(steps)]
    return params, grads


def _oracle(name, hyper, params, grads):
    alg = OPTIMIZERS[name]
    hp = alg.hyper(**hyper)
    ps, states = list(params), [alg.init(p, hp) for p in params]
    for g in grads:
        new = [alg.update(p, x, s, hp) for p, x, s in zip(ps, g, states)]
        ps, states = [n[0] for n in new], [n[1] for n in new]
    return ps, states


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", ELEMENTWISE)
def test_conformance(name, dtype):
    """`v0ref conform --port cupy` for this algorithm: every case passes the harness."""
    failures = []
    for case in cases_for(name, dtype, steps=12):
        result = run_case(port.PORT, case)
        if not result.passed:
            failures.append(f"{case.id}: {result.failure.describe()}")
    assert not failures, "\n".join(failures[:5])


@pytest.mark.parametrize("multi_tensor", [True, False])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", ELEMENTWISE)
def test_bitwise_equal_to_numpy_oracle(name, dtype, multi_tensor):
    """FMA off and the oracle's order of operations: the GPU equals NumPy bit for bit."""
    alg = OPTIMIZERS[name]
    for hyper in alg.cases:
        params, grads = _data(dtype, 6)
        ref_p, ref_s = _oracle(name, hyper, params, grads)
        gp = [cp.asarray(p) for p in params]
        opt = port.Optimizer(name, gp, multi_tensor=multi_tensor, **hyper)
        for g in grads:
            opt.step(gp, [cp.asarray(x) for x in g])
        for i, (p, r) in enumerate(zip(gp, ref_p)):
            np.testing.assert_array_equal(cp.asnumpy(p), r, err_msg=f"{name}{hyper} param {i}")
        for i, (s, r) in enumerate(zip(opt.states(), ref_s)):
            for k, v in r._asdict().items():
                got = getattr(s, k)
                if hasattr(v, "shape"):
                    np.testing.assert_array_equal(cp.asnumpy(got), v, err_msg=f"{name}{hyper} {k} {i}")
                else:
                    assert got == v, (name, hyper, k)


def test_multi_tensor_equals_per_tensor_on_many_small_tensors():
    rng = np.random.default_rng(3)
    shapes = [tuple(rng.integers(0, 70, size=rng.integers(1, 3))) for _ in range(2000)]
    params, grads = _data("float32", 3, shapes=shapes)
    runs = []
    for multi in (True, False):
        gp = [cp.asarray(p) for p in params]
        opt = port.Adam(gp, lr=1e-2, multi_tensor=multi)
        for g in grads:
            opt.step(gp, [cp.asarray(x) for x in g])
        runs.append(([cp.asnumpy(p) for p in gp], [cp.asnumpy(s.v) for s in opt.states()]))
    for a, b in zip(*[r[0] + r[1] for r in runs]):
        np.testing.assert_array_equal(a, b)


def test_state_dict_round_trip_and_lr_schedule_reuses_kernel():
    params, grads = _data("float32", 6)
    a = [cp.asarray(p) for p in params]
    opt = port.NAdam(a, lr=1e-2)
    for g in grads[:3]:
        opt.step(a, [cp.asarray(x) for x in g])
    saved = opt.state_dict()
    b = [p.copy() for p in a]
    other = port.NAdam(b, lr=1e-2)
    other.load_state_dict(saved)
    for g in grads[3:]:
        opt.set_hyper(lr=opt.hyper.lr * 0.5)
        other.set_hyper(lr=other.hyper.lr * 0.5)
        opt.step(a, [cp.asarray(x) for x in g])
        other.step(b, [cp.asarray(x) for x in g])
    for x, y in zip(a, b):
        np.testing.assert_array_equal(cp.asnumpy(x), cp.asnumpy(y))
    assert opt.kernels.recordings == 1
    with pytest.raises(ValueError, match="state_dict is for 'nadam', not 'adam'"):
        port.Adam(b).load_state_dict(saved)


def test_float16_params_with_float32_state():
    """float16 mode: the float32 oracle on the widened parameter, the new value rounded back."""
    alg = OPTIMIZERS["adam"]
    hp = alg.hyper(lr=1e-2)
    params, grads = _data("float32", 5)
    p16 = [p.astype(np.float16) for p in params]
    gp = [cp.asarray(p) for p in p16]
    opt = port.Adam(gp, lr=1e-2)
    states = [alg.init(p.astype(np.float32), hp) for p in p16]
    for g in grads:
        g16 = [x.astype(np.float16) for x in g]
        opt.step(gp, [cp.asarray(x) for x in g16])
        new = [alg.update(p.astype(np.float32), x.astype(np.float32), s, hp) for p, x, s in zip(p16, g16, states)]
        p16, states = [n[0].astype(np.float16) for n in new], [n[1] for n in new]
    for got, want in zip(gp, p16):
        np.testing.assert_array_equal(cp.asnumpy(got), want)
    assert opt.states()[-1].v.dtype == cp.float32


def test_moment_strategies_draw_on_gpu_like_cpu():
    import v0ref
    params, _ = _data("float64", 1)
    key = v0ref.random.key(7)
    cpu = v0ref.moments.resolve("v0", "random-chi2", params, key=key)
    gpu = v0ref.moments.resolve("v0", "random-chi2", [cp.asarray(p) for p in params], key=key)
    for a, b in zip(cpu, gpu):
        np.testing.assert_allclose(cp.asnumpy(b), a, rtol=1e-12, atol=0)


@pytest.mark.parametrize("name", WHOLE)
def test_whole_vector_methods_run_the_oracle_on_cupy(name):
    from v0ref.objectives import Quadratic
    obj = Quadratic(n=6, cond=10.0)
    alg = OPTIMIZERS[name]
    hp = alg.hyper()
    x_np = obj.x0(xp=np, dtype="float64")
    x_cp = [cp.asarray(x) for x in x_np]
    state_np = alg.init(x_np, hp)
    opt = port.Optimizer(name, x_cp)
    for _ in range(5):
        x_np, state_np = alg.update(x_np, obj, state_np, hp)
        opt.step(x_cp, obj)
    for a, b in zip(x_np, x_cp):
        np.testing.assert_allclose(cp.asnumpy(b), a, rtol=1e-10, atol=1e-12)
