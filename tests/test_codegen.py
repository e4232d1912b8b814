"""Kernel generation from the oracle (``v0ref.backends._codegen``), verified without a GPU.

(a) the recorded DAG, evaluated with NumPy, equals the oracle's update bit for bit (float64 and
    float32) for every element-wise registry entry and each of its cases, over many steps;
(b) the emitted C body, compiled with gcc and run through ctypes, equals the oracle bit for bit
    over a free-running trajectory (float64, float32; float16 params with float32 state against
    the float32 oracle on the widened parameter);
(c) the CUDA sources are well formed: the ElementwiseKernel argument lists match the device
    function, and both the ElementwiseKernel body and the multi-tensor RawKernel, compiled as
    C++ with the CUDA keywords stubbed and run on the CPU (blocks and threads emulated), equal
    the oracle — which checks the multi-tensor indexing (empty tensors, chunk tails).
"""

from __future__ import annotations

import ctypes
import hashlib
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from v0ref.algorithms import OPTIMIZERS
from v0ref.backends import _codegen as cg

ELEMENTWISE = [n for n in OPTIMIZERS if OPTIMIZERS[n].kind == "elementwise"]
CASES = [(n, i) for n in ELEMENTWISE for i in range(len(OPTIMIZERS[n].cases))]
STEPS = 24
ZERO_STEP = 3
SIZE = 29
GCC = shutil.which("gcc")
GXX = shutil.which("g++")


def _moments(alg, index: int, rng, dtype):
    """Zeros for even cases; a random positive v0 and a random m0 for odd ones."""
    if index % 2 == 0:
        return {}
    out = {}
    if alg.second_moment:
        out["v0"] = (rng.uniform(0.0, 2.0, SIZE) ** 2).astype(dtype)
    if alg.first_moment:
        out["m0"] = (0.1 * rng.standard_normal(SIZE)).astype(dtype)
    return out


def _grads(rng, dtype, steps=STEPS):
    scale = 10.0 ** rng.uniform(-4.0, 1.0, SIZE)
    return [np.zeros(SIZE, dtype) if t == ZERO_STEP else (scale * rng.standard_normal(SIZE)).astype(dtype)
            for t in range(1, steps + 1)]


def _arrays(param, grad, state) -> dict:
    return {"param": param, "grad": grad,
            **{k: v for k, v in state._asdict().items() if isinstance(v, np.ndarray)}}


def trajectory(name: str, index: int, dtype: str, steps: int = STEPS, hyper=None):
    """The oracle's run with the program the KernelSet selects at each step:
    a list of ``(program, scalar values, arrays before, (param, state) after)``."""
    alg = OPTIMIZERS[name]
    hp = alg.hyper(**(alg.cases[index] if hyper is None else hyper))
    rng = np.random.default_rng(1000 + 17 * index + len(name))
    param = (0.5 * rng.standard_normal(SIZE)).astype(dtype)
    state = alg.init(param, hp, **_moments(alg, index, rng, dtype))
    kernels = cg.KernelSet(alg)
    out = []
    for g in _grads(rng, dtype, steps):
        program, values = kernels.select(hp, state)
        before = _arrays(param, g, state)
        param, state = alg.update(param, g, state, hp)
        out.append((program, values, before, (param, state)))
    return out, kernels


def assert_same(got: dict, before: dict, after, program, values, label: str):
    """``got`` (written arrays) + unwritten inputs == the oracle's new param and state, bitwise."""
    param, state = after
    np.testing.assert_array_equal(got.get("param", before["param"]), param, err_msg=f"{label}: param")
    assert got.get("param", before["param"]).dtype == param.dtype
    scalars = program.new_scalar_state(values)
    for k, v in state._asdict().items():
        if isinstance(v, np.ndarray):
            np.testing.assert_array_equal(got.get(k, before.get(k)), v, err_msg=f"{label}: state {k}")
        elif v is None:
            assert k in program.none_outputs, f"{label}: {k} should be None"
        else:
            assert scalars[k] == v, f"{label}: scalar state {k}: {scalars[k]!r} != {v!r}"


# ----------------------------------------------------------------------------------------- (a)

@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name,index", CASES, ids=[f"{n}-{i}" for n, i in CASES])
def test_recorded_dag_equals_oracle_bitwise(name, index, dtype):
    traj, kernels = trajectory(name, index, dtype)
    for t, (program, values, before, after) in enumerate(traj, start=1):
        got = program.evaluate(before, values, dtype)
        assert_same(got, before, after, program, values, f"{name}{OPTIMIZERS[name].cases[index]} {dtype} step {t}")
    # one trace serves every step (RAdam/AdaBelief-rectify: two, before and after ρ_t crosses;
    # SGD's buffer: two, empty then filled)
    assert kernels.recordings <= 2


@settings(max_examples=25, deadline=None)
@given(name=st.sampled_from(["adam", "radam", "nadam", "adabound", "yogi", "rmsprop"]),
       lr=st.floats(1e-5, 1.0), b1=st.floats(0.0, 0.99), b2=st.floats(0.0, 0.9999),
       wd=st.sampled_from([0.0, 1e-3, 0.5]), dtype=st.sampled_from(["float32", "float64"]))
def test_any_hyperparameters_bitwise(name, lr, b1, b2, wd, dtype):
    hyper = {"lr": lr, "weight_decay": wd}
    if name == "rmsprop":
        hyper["alpha"] = b2
    else:
        hyper["betas"] = (b1, b2)
    traj, _ = trajectory(name, 0, dtype, steps=8, hyper=hyper)
    for program, values, before, after in traj:
        assert_same(program.evaluate(before, values, dtype), before, after, program, values, f"{name} {hyper}")


def test_scheduled_lr_reuses_the_kernel_and_flags_retrace():
    alg = OPTIMIZERS["adam"]
    p = np.ones(4)
    state = alg.init(p, alg.hyper())
    ks = cg.KernelSet(alg)
    for lr in (1e-3, 3e-3, 0.1):                        # lr is a kernel parameter: no new trace
        program, values = ks.select(alg.hyper(lr=lr), state)
    assert ks.recordings == 1
    assert -(lr / (1.0 - 0.9 ** 1)) in program.kernel_scalars(values)    # torch's -lr/c1 at t = 1
    ks.select(alg.hyper(lr=0.1, weight_decay=0.1), state)   # guard `weight_decay != 0` fails
    assert ks.recordings == 2
    ks.select(alg.hyper(amsgrad=True), alg.init(p, alg.hyper(amsgrad=True)))   # structure changes
    assert ks.recordings == 3


def test_radam_rectification_is_two_guarded_traces():
    traj, ks = trajectory("radam", 0, "float64", steps=10)
    assert ks.recordings == 2
    first, later = traj[0][0], traj[-1][0]
    assert first is not later and first.guards and later.guards
    assert "sqrt" not in {first.nodes[i][0] for i in first._order}     # SGD-like step: no denominator
    assert "sqrt" in {later.nodes[i][0] for i in later._order}


def test_cse_and_dead_code():
    alg = OPTIMIZERS["adam"]
    hp = alg.hyper()
    program = cg.record(alg, hp, alg.init(np.zeros(2), hp))
    ops = [program.nodes[i][0] for i in program._order]
    assert ops.count("sqrt") == 1
    keys = [(program.nodes[i][0], program.nodes[i][1]) for i in program._order]
    assert len(keys) == len(set(keys)), "hash-consing left a duplicate node"
    assert program.read_inputs == ["param", "grad", "m", "v"] and program.written == ["param", "m", "v"]
    assert program.bytes_per_element("float32") == 28 and program.bytes_per_element("float16") == 22
    sgd = OPTIMIZERS["sgd"]
    p = cg.record(sgd, sgd.hyper(), sgd.init(np.zeros(2), sgd.hyper()))
    assert p.read_inputs == ["param", "grad"] and p.written == ["param"] and p.bytes_per_element() == 12


def test_errors_are_clear():
    lbfgs = [n for n in OPTIMIZERS if OPTIMIZERS[n].kind != "elementwise"]
    if lbfgs:
        alg = OPTIMIZERS[lbfgs[0]]
        with pytest.raises(ValueError, match="only element-wise updates can be recorded"):
            cg.record(alg, alg.hyper(), None)
    tr = cg.Tracer()
    x = tr.array_input("x")
    with pytest.raises(cg.RecordingError, match="no 'exp'"):
        tr.namespace.exp(x)
    with pytest.raises(cg.RecordingError, match="branches on an array value"):
        bool(x > 0)
    with pytest.raises(cg.RecordingError, match=r"\*\* 3"):
        x ** 3


# ----------------------------------------------------------------------------------------- (b)

def _build(source: str, compiler: str, flags: list[str], suffix: str) -> ctypes.CDLL:
    cache = Path(tempfile.gettempdir()) / "v0ref_codegen_cache"
    cache.mkdir(exist_ok=True)
    digest = hashlib.sha256((compiler + " ".join(flags) + source).encode()).hexdigest()[:20]
    lib = cache / f"{digest}.so"
    if not lib.exists():
        src = cache / f"{digest}{suffix}"
        src.write_text(source)
        tmp = cache / f"{digest}.{id(source)}.so"
        done = subprocess.run([compiler, "-O1", "-ffp-contract=off", "-fno-fast-math", "-fPIC", "-shared", *flags,
                               str(src), "-o", str(tmp)], capture_output=True, text=True)
        assert done.returncode == 0, f"{compiler} failed on {src}:\n{done.stderr[-3000:]}"
        tmp.replace(lib)
    return ctypes.CDLL(str(lib))


_FLOAT16 = np.dtype("float16")


def _ptr(a: np.ndarray):
    return a.ctypes.data_as(ctypes.c_void_p)


def _c_runs(dtypes: tuple[str, ...]):
    """Every trajectory and the one shared library holding all their programs (one gcc call)."""
    runs, sources, names = [], [], {}
    for name, index in CASES:
        for dtype in dtypes:
            traj, _ = _widened_trajectory(name, index) if dtype == "float16" else trajectory(name, index, dtype)
            for program, *_ in traj:
                key = (id(program), dtype)
                if key not in names:
                    fname = f"apply_{len(names)}"
                    names[key] = fname
                    src = program.c_source(dtype, name=fname)
                    src = src.replace(program.function_name(dtype), f"{program.function_name(dtype)}_{len(names)}")
                    sources.append(src.replace("#include <math.h>\n#include <stdbool.h>\n", ""))
            runs.append((name, index, dtype, traj))
    unit = "#include <math.h>\n#include <stdbool.h>\n" + "\n".join(sources)
    return runs, names, unit


def _call_c(lib, fname: str, program, dtype: str, arrays: dict, values) -> dict:
    storage, compute = cg.MODES[dtype]
    buf = {}
    for n in program.inputs + program.new_arrays:
        dt = storage if n in ("param", "grad") else compute
        buf[n] = np.ascontiguousarray(arrays[n], dtype=dt).copy() if n in arrays else np.zeros(SIZE, dt)
    sc = np.array([float(v) for v in program.kernel_scalars(values)] or [0.0], dtype=compute)
    fn = getattr(lib, fname)
    fn.restype = None
    fn(ctypes.c_longlong(SIZE), *[_ptr(buf[n]) for n in program.inputs + program.new_arrays], _ptr(sc))
    return {n: buf[n] for n in program.outputs}


@pytest.mark.skipif(GCC is None, reason="gcc is not installed")
def test_c_body_free_running_equals_oracle():
    runs, names, unit = _c_runs(("float64", "float32", "float16"))
    lib = _build(unit, GCC, ["-std=c11"], ".c")
    checked = 0
    for name, index, dtype, traj in runs:
        storage, compute = cg.MODES[dtype]
        program0, _, before0, _ = traj[0]
        cur = {k: v.astype(storage if k == "param" else compute) for k, v in before0.items() if k != "grad"}
        for t, (program, values, before, after) in enumerate(traj, start=1):
            arrays = {**cur, "grad": before["grad"].astype(storage)}
            for n in program.inputs:       # state fields that appear later (SGD's buffer)
                arrays.setdefault(n, before[n])
            got = _call_c(lib, names[(id(program), dtype)], program, dtype, arrays, values)
            label = f"{name}{OPTIMIZERS[name].cases[index]} {dtype} step {t}"
            if dtype == "float16":
                ref = program.evaluate({**arrays}, values, "float16")
                for k in got:
                    np.testing.assert_array_equal(got[k], ref[k], err_msg=f"{label}: {k} vs NumPy")
                p_oracle, s_oracle = after
                np.testing.assert_array_equal(got.get("param", arrays["param"]), p_oracle.astype(np.float16),
                                              err_msg=f"{label}: param vs float32 oracle rounded")
                for k, v in s_oracle._asdict().items():
                    if isinstance(v, np.ndarray):
                        np.testing.assert_array_equal(got.get(k, arrays.get(k)), v, err_msg=f"{label}: {k}")
            else:
                assert_same(got, arrays, after, program, values, label)
            cur = {**{k: v for k, v in arrays.items() if k != "grad"}, **got}
            checked += 1
    assert checked == len(runs) * STEPS


def _widened_trajectory(name: str, index: int):
    """The float32 oracle on a parameter stored in float16: widened before each step, the new
    value rounded back (the float16 mode's semantics: float32 state and arithmetic)."""
    alg = OPTIMIZERS[name]
    hp = alg.hyper(**alg.cases[index])
    rng = np.random.default_rng(1000 + 17 * index + len(name))
    param16 = (0.5 * rng.standard_normal(SIZE)).astype(np.float16)
    state = alg.init(param16.astype(np.float32), hp, **_moments(alg, index, rng, "float32"))
    kernels = cg.KernelSet(alg)
    out, p16 = [], param16
    for g in _grads(rng, "float32"):
        g16 = g.astype(np.float16)
        program, values = kernels.select(hp, state)
        p32, state2 = alg.update(p16.astype(np.float32), g16.astype(np.float32), state, hp)
        out.append((program, values, {**_arrays(p16, g16, state)}, (p32, state2)))
        p16, state = p32.astype(np.float16), state2
    return out, kernels


# ----------------------------------------------------------------------------------------- (c)

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_STUB = """
#include <math.h>
#include <stdint.h>
#define __device__
#define __forceinline__ inline
#define __global__
typedef _Float16 float16;
typedef _Float16 __half;
struct v0_dim3 { unsigned x; };
static v0_dim3 blockIdx, threadIdx, blockDim;
"""


def _programs_for_cuda():
    out = []
    for name in ELEMENTWISE:
        alg = OPTIMIZERS[name]
        for case in alg.cases:
            hp = alg.hyper(**case)
            state = alg.init(np.zeros(3), hp, m0=0.5 if alg.first_moment else None)
            out.append((name, case, cg.record(alg, hp, state)))
    return out


@pytest.mark.parametrize("mode", ["float32", "float64", "float16"])
def test_elementwise_kernel_arguments_are_well_formed(mode):
    for name, case, program in _programs_for_cuda():
        kw = program.elementwise_kernel_args(mode)
        ins = [p.split() for p in kw["in_params"].split(",")]
        outs = [p.split() for p in kw["out_params"].split(",")]
        assert all(len(p) == 2 for p in ins + outs), kw
        names = [p[1] for p in ins + outs]
        assert len(set(names)) == len(names) and all(_IDENT.match(n) for n in names)
        assert not {"i", "_ind", "n"} & set(names), "clashes with CuPy's loop variables"
        assert {p[0] for p in ins + outs} <= {"float16", "float32", "float64"}
        storage, compute = cg.MODES[mode]
        assert dict((n, t) for t, n in outs)["param"] == storage and dict((n, t) for t, n in ins)["grad"] == storage
        assert all(t == compute for t, n in ins + outs if n not in ("param", "grad"))
        # the operation calls the preamble's function with every argument, outputs by reference
        call = re.fullmatch(r"(\w+)\((.*)\);", kw["operation"])
        assert call and call.group(1) in kw["preamble"]
        assert sorted(call.group(2).split(", ")) == sorted(names)
        sig = re.search(rf"void {call.group(1)}\((.*?)\) {{", kw["preamble"]).group(1).split(", ")
        assert len(sig) == len(names)
        refs = {s.split()[-1] for s in sig if "&" in s}
        assert refs == {n for _, n in outs}, (name, case, refs)
        assert kw["options"] == ("--fmad=false",) and kw["name"].isidentifier()


def _emulate_source(program, mode: str, fname: str) -> str:
    """C++: the ElementwiseKernel body in CuPy's loop form, and a driver for the RawKernel."""
    storage, compute = cg.MODES[mode]
    T = {"float32": "float", "float64": "double"}[compute]
    P = {"float32": "float", "float64": "double", "float16": "_Float16"}[storage]
    kw = program.elementwise_kernel_args(mode)
    state = program.inputs[2:] + program.new_arrays
    args = [f"{P}* param_a", f"const {P}* grad_a"] + [f"{T}* {n}_a" for n in state]
    binds = [f"{P}& param = param_a[i];", f"const {P} grad = grad_a[i];"]
    binds += [f"{T}& st_{n} = {n}_a[i];" for n in state]
    sc = [f"const {T} sc{k} = sc[k{k}];".replace(f"k{k}", str(k)) for k in range(len(program.params))]
    mt_src, kname = program.multi_tensor_source(mode)
    mt_src = "\n".join(line for line in mt_src.splitlines() if not line.startswith("#include"))
    pre = kw["preamble"].replace(program.function_name(mode), f"{program.function_name(mode)}_ew")
    op = kw["operation"].replace(program.function_name(mode), f"{program.function_name(mode)}_ew")
    mt_args = (["const unsigned long long* pp", "const unsigned long long* gp"] + [f"{T}* {n}_f" for n in state]
               + ["const long long* offsets", "const int* ct", "const long long* cs", "long long chunk",
                  "long long nblocks", "unsigned threads", f"const {T}* sc"])
    mt_call = ["pp", "gp"] + [f"{n}_f" for n in state] + ["offsets", "ct", "cs", "chunk"]
    mt_call += [f"sc[{k}]" for k in range(len(program.params))]
    return "\n".join([
        pre,
        f'extern "C" void {fname}_ew(long long n, {", ".join(args)}, const {T}* sc) {{',
        "  for (long long i = 0; i < n; ++i) {", *("    " + b for b in binds + sc), f"    {op}", "  }", "}",
        mt_src,
        f'extern "C" void {fname}_mt({", ".join(mt_args)}) {{',
        "  blockDim.x = threads;",
        "  for (long long b = 0; b < nblocks; ++b) for (unsigned t = 0; t < threads; ++t) {",
        f"    blockIdx.x = (unsigned)b; threadIdx.x = t; {kname}({', '.join(mt_call)});",
        "  }", "}"])


@pytest.mark.skipif(GXX is None, reason="g++ is not installed")
@pytest.mark.parametrize("mode", ["float64", "float32", "float16"])
def test_cuda_sources_run_as_cpp_equal_oracle(mode):
    """Both CUDA kernels (the ElementwiseKernel body, the multi-tensor RawKernel over 5 tensors
    incl. empty ones, chunk 5, 4 threads a block) reproduce the NumPy evaluation bitwise."""
    storage, compute = cg.MODES[mode]
    programs = _programs_for_cuda()
    unique = {p.function_name(mode): j for j, (_, _, p) in enumerate(programs)}   # same trace, one copy
    unit = _STUB + "\n".join(_emulate_source(programs[j][2], mode, f"k{j}") for j in unique.values())
    lib = _build(unit, GXX, ["-std=c++17"], ".cpp")
    sizes = [0, 1, 7, 13, 5]
    total = sum(sizes)
    offsets = np.cumsum([0] + sizes).astype(np.int64)
    chunk, threads = 5, 4
    blocks = [(k, s) for k, n in enumerate(sizes) for s in range(0, n, chunk)]
    ct = np.array([b[0] for b in blocks], np.int32)
    cs = np.array([b[1] for b in blocks], np.int64)
    rng = np.random.default_rng(5)
    for j, (name, case, program) in enumerate(programs):
        inputs = {"param": (0.5 * rng.standard_normal(total)).astype(storage),
                  "grad": rng.standard_normal(total).astype(storage)}
        for n in program.inputs[2:] + program.new_arrays:
            inputs[n] = rng.uniform(0.0, 1.0, total).astype(compute)
        hp = OPTIMIZERS[name].hyper(**case)
        values = program.scalars({**cg.scalar_inputs(hp, _state_like(program, hp, name))})
        assert values is not None
        sc = np.array([float(v) for v in program.kernel_scalars(values)] or [0.0], dtype=compute)
        ref = program.evaluate(inputs, values, mode)
        names = program.inputs[2:] + program.new_arrays
        # ElementwiseKernel form
        ew = {k: v.copy() for k, v in inputs.items()}
        j = unique[program.function_name(mode)]
        fn = getattr(lib, f"k{j}_ew")
        fn.restype = None
        fn(ctypes.c_longlong(total), _ptr(ew["param"]), _ptr(ew["grad"]), *[_ptr(ew[n]) for n in names], _ptr(sc))
        # multi-tensor form: separate param/grad tensors by pointer, flat state
        mt = {k: v.copy() for k, v in inputs.items()}
        pieces = {k: [np.ascontiguousarray(mt[k][offsets[i]:offsets[i + 1]]) for i in range(len(sizes))]
                  for k in ("param", "grad")}
        pp = np.array([a.ctypes.data for a in pieces["param"]], np.uint64)
        gp = np.array([a.ctypes.data for a in pieces["grad"]], np.uint64)
        fn = getattr(lib, f"k{j}_mt")
        fn.restype = None
        fn(_ptr(pp), _ptr(gp), *[_ptr(mt[n]) for n in names], _ptr(offsets), _ptr(ct), _ptr(cs),
           ctypes.c_longlong(chunk), ctypes.c_longlong(len(blocks)), ctypes.c_uint(threads), _ptr(sc))
        mt["param"] = np.concatenate(pieces["param"])
        for k, want in ref.items():
            np.testing.assert_array_equal(ew[k], want, err_msg=f"{name}{case} {mode} ElementwiseKernel {k}")
            np.testing.assert_array_equal(mt[k], want, err_msg=f"{name}{case} {mode} multi-tensor {k}")


def _state_like(program, hp, name):
    alg = OPTIMIZERS[name]
    return alg.init(np.zeros(3), hp, m0=0.5 if alg.first_moment else None)
