"""v0ref's torch optimizers vs torch.optim and pytorch_optimizer: one step, CPU float32, side by side.

10M parameters in 100 and in 2000 tensors (2-D, so the random v0 applies), every element-wise
algorithm, single-threaded, median of ``--repeat`` rounds after a warm-up, each round one step of
every implementation in turn (so load that comes and goes hits all of them alike).  The run first
measures the machine's streaming bandwidth (``copy``: 8 B/element; the triad ``c = a + s·b`` and
its in-place form ``c += s·b``, the pattern of an optimizer's writes, which skips the
write-allocate read of a fresh output and runs ~1.5x faster here: 12 B/element; the limit is the
best); each implementation is reported in ms, GB/s for the bytes
its step must move and % of the limit, with ratios to torch.optim's best path and to
pytorch_optimizer.  Bytes per parameter are those of v0ref's kernel for the method, from
`v0ref.backends._codegen` (``Program.bytes_per_element``: the arrays the steady-state update reads
plus those it writes; Adam: p, g, m, v read, p, m, v written = 28 B in float32).  Every method
with a second moment runs with ``v0="random"``.

Each method's rounds also time the in-place triad over the same element count; its bandwidth is
printed on the method's target line with the step's share of it (the machine's bandwidth drifts
within a run, the limit measured at the start does not follow).

v0ref's rows: the default path, ``oracle-compiled`` (the oracle's recorded update compiled to one
multi-tensor C kernel, `v0ref.backends._cpu_kernels`) and ``oracle-foreach``.  One line per method
then checks the targets: %BW of oracle-compiled, its ratio to torch's best non-fused path and
(2000 tensors) to pytorch_optimizer.

    python benchmarks/torch_step.py [--params 10_000_000] [--tensors 100,2000] [--repeat 5]
                                    [--algorithms adam,rmsprop] [--quick]

Targets (issue 8): Adam/AdamW with v0 ≤ 1.05x torch fused; every other method ≥ 60 % of the
bandwidth limit, ≥ 2x faster than torch.optim's best path where torch has no fused CPU kernel,
≥ 3x faster than pytorch_optimizer on 2000 tensors.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))

from _bench import streaming_limit, timeit, timeit_interleaved  # noqa: E402

import torch  # noqa: E402

from v0ref import OPTIMIZERS  # noqa: E402
from v0ref.backends import _codegen, _cpu_kernels, _torch_native  # noqa: E402
from v0ref.backends import torch as T  # noqa: E402


def bandwidth(n: int, repeat: int) -> float:
    """Streaming limit in GB/s: `_bench.streaming_limit` (memcpy / NumPy copy / NumPy triads) and
    torch's own copy, triad and in-place triad ``c += s·b``, the best of them."""
    a, b, c = torch.rand(n), torch.rand(n), torch.empty(n)
    copy = 8 * n / timeit(lambda: c.copy_(a), repeat)
    triad = 12 * n / timeit(lambda: torch.add(a, b, alpha=0.5, out=c), repeat)
    # in place, as an optimizer writes: no write-allocate read of a fresh output (here ~1.5x faster)
    in_place = 12 * n / timeit(lambda: c.add_(b, alpha=1e-9), repeat)
    return max(copy, triad, in_place, streaming_limit(n, repeat)) / 1e9


def bytes_per_param(name: str, warm_steps: int = 10) -> int:
    """Bytes one float32 step moves per parameter in v0ref's kernel, after ``warm_steps`` steps
    (steady state: SGD's buffer exists, RAdam is rectified), from the recorded program."""
    alg = OPTIMIZERS[name]
    hp = alg.hyper()
    p = np.full(4, 0.5, np.float32)
    state = alg.init(p, hp, v0=np.full(4, 0.1, np.float32) if alg.second_moment else None)
    for _ in range(warm_steps):
        p, state = alg.update(p, np.full(4, 0.25, np.float32), state, hp)
    return _codegen.record(alg, hp, state).bytes_per_element("float32")


def make(n_params: int, n_tensors: int) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    n = n_params // n_tensors
    shape = (n // 100, 100) if n % 100 == 0 and n >= 200 else (n,)
    g = torch.Generator().manual_seed(0)
    params = [torch.randn(shape, generator=g) for _ in range(n_tensors)]
    grads = [torch.randn(shape, generator=g) for _ in range(n_tensors)]
    return params, grads


def prepared(build, params, grads):
    """The ``step`` of an optimizer built by ``build`` on its own copy of ``params``."""
    ps = [p.clone().requires_grad_() for p in params]
    for p, g in zip(ps, grads):
        p.grad = g
    return build(ps).step


def variants(name: str):
    """(label, builder) pairs: v0ref's default and oracle-foreach paths, torch.optim's paths where a
    registry reference applies to the defaults, and pytorch_optimizer's class where one exists."""
    alg = OPTIMIZERS[name]
    cls = T.optimizer_class(name)
    hp = alg.hyper()
    v0 = {"v0": "random", "key": 0} if alg.second_moment else {}
    path = cls([torch.zeros(2, 2, requires_grad=True)], **v0).path()
    out = [(f"v0ref default ({path})", "ours", lambda ps: cls(ps, **v0))]
    for impl in ("oracle-compiled", "oracle-foreach"):
        if impl != path and (impl != "oracle-compiled" or _cpu_kernels.available()):
            out.append((f"v0ref {impl}", "ours", lambda ps, impl=impl: cls(ps, impl=impl, **v0)))
    for ref in alg.references:
        if not ref.applies(hp):
            continue
        if ref.framework == "torch":
            target = T._resolve_target(ref.target)
            kw = ref.kwargs(hp)
            out.append((f"{ref.target} for-loop", "torch", lambda ps, t=target, kw=kw: t(ps, foreach=False, **kw)))
            out.append((f"{ref.target} foreach", "torch", lambda ps, t=target, kw=kw: t(ps, foreach=True, **kw)))
            if ref.target in T._FUSED_TARGETS:
                out.append((f"{ref.target} fused", "fused", lambda ps, t=target, kw=kw: t(ps, fused=True, **kw)))
        elif ref.framework == "pytorch_optimizer":
            try:
                module, _, attr = ref.target.rpartition(".")
                target = getattr(importlib.import_module(module), attr)
            except ImportError:
                continue
            kw = ref.kwargs(hp)
            out.append((ref.target, "pto", lambda ps, t=target, kw=kw: t(ps, **kw)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", type=int, default=10_000_000)
    ap.add_argument("--tensors", default="100,2000")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--algorithms", default=",".join(n for n in OPTIMIZERS if OPTIMIZERS[n].kind == "elementwise"))
    ap.add_argument("--quick", action="store_true", help="small smoke run (200k params, 10 and 50 tensors)")
    args = ap.parse_args()
    if args.quick:
        args.params, args.tensors, args.repeat = 200_000, "10,50", 2
    torch.set_num_threads(1)
    native = _torch_native.helper(wait=True)         # built once (~30 s), then cached
    limit = bandwidth(args.params, args.repeat)
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(f"streaming-bandwidth limit (1 thread, best of copy / triad / in-place triad): {limit:.2f} GB/s; "
          f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} CPUs; "
          f"C compiler: {_cpu_kernels.compiler() or 'none (no oracle-compiled rows)'}; kept-plan checks: "
          f"{'C++ helper' if native is not None else f'Python ({_torch_native.error()})'}")
    for n_tensors in (int(x) for x in args.tensors.split(",")):
        params, grads = make(args.params, n_tensors)
        print(f"\n{args.params:,} float32 params in {n_tensors} tensors (median of {args.repeat} interleaved steps)")
        print(f"{'algorithm':10s} {'implementation':36s} {'ms':>9s} {'GB/s':>7s} {'%BW':>5s} "
              f"{'vs torch best':>14s} {'vs pto':>7s}")
        for name in args.algorithms.split(","):
            bpp = bytes_per_param(name) * args.params
            built = variants(name)
            steps = [prepared(build, params, grads) for _, _, build in built]
            # the in-place triad over the same element count, timed in the same rounds: the
            # bandwidth of the moment these steps ran (this machine drifts ±10-15 % in a run)
            probe_a, probe_b = torch.rand(args.params), torch.rand(args.params)
            triad = functools.partial(probe_a.add_, probe_b, alpha=1e-9)
            *times, probe = timeit_interleaved([*steps, triad], args.repeat)
            del steps, triad, probe_a, probe_b
            now = 12 * args.params / probe / 1e9
            rows = [(label, kind, t) for (label, kind, _), t in zip(built, times)]
            torch_best = min((t for _, k, t in rows if k in ("torch", "fused")), default=None)
            torch_unfused = min((t for _, k, t in rows if k == "torch"), default=None)
            pto = min((t for _, k, t in rows if k == "pto"), default=None)
            for label, kind, t in rows:
                vs_torch = f"{torch_best / t:13.2f}x" if torch_best else f"{'-':>14s}"
                vs_pto = f"{pto / t:6.2f}x" if pto else f"{'-':>7s}"
                print(f"{name:10s} {label:36s} {t * 1e3:9.2f} {bpp / t / 1e9:7.2f} "
                      f"{100 * bpp / t / 1e9 / limit:5.0f} {vs_torch} {vs_pto}")
            compiled = next((t for label, _, t in rows if "oracle-compiled" in label), None)
            if compiled is not None:
                has_fused = any(k == "fused" for _, k, _ in rows)
                checks = [f"{100 * bpp / compiled / 1e9 / limit:.0f}% BW (>= 60); "
                          f"{100 * bpp / compiled / 1e9 / now:.0f}% of the in-place triad in the same rounds "
                          f"({now:.2f} GB/s)"]
                if torch_unfused and not has_fused:
                    checks.append(f"{torch_unfused / compiled:.2f}x torch best (>= 2)")
                if pto and n_tensors >= 2000:
                    checks.append(f"{pto / compiled:.2f}x pytorch_optimizer (>= 3)")
                print(f"{'':10s} targets, oracle-compiled ({bpp // args.params} B/param): {'; '.join(checks)}")


if __name__ == "__main__":
    main()
