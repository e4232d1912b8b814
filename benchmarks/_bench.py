"""Shared driver of the oracle-vs-in-place benchmarks: same tensors, same gradients, one run.

Every implementation is timed single-threaded (NumPy's element-wise ops are; torch is pinned to
one thread) as the median of ``--repeat`` steps after a warm-up, and reported in ms, GB/s (from
the bytes one step must move) and as a ratio to the hand-written in-place NumPy version.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence

import numpy as np

from v0ref import OPTIMIZERS


def timeit(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def timeit_interleaved(fns: Sequence[Callable[[], object]], repeat: int) -> list[float]:
    """Median seconds of each of ``fns``, timed in ``repeat`` rounds that call each once in turn
    (after one warm-up call each): load that comes and goes hits every side alike, so their ratio
    is steadier than from back-to-back blocks."""
    for fn in fns:
        fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeat):
        for fn, bucket in zip(fns, times):
            t0 = time.perf_counter()
            fn()
            bucket.append(time.perf_counter() - t0)
    return [statistics.median(bucket) for bucket in times]


def streaming_limit(n: int, repeat: int) -> float:
    """The machine's single-thread streaming bandwidth in bytes/s over ``n`` float32 elements: the
    best of libc ``memcpy`` (8 B/element moved), NumPy's copy, NumPy's triad ``c = a + b``
    and its in-place form ``c += b`` (12 B/element).  Several probes, because each library's copy
    loop reaches a different share of what the memory system gives; the best is the limit a kernel
    can be held to."""
    import ctypes
    a, b, c = (np.random.default_rng(i).random(n, dtype=np.float32) for i in range(3))
    probes = (
        (8, lambda: ctypes.memmove(c.ctypes.data, a.ctypes.data, a.nbytes)),
        (8, lambda: np.copyto(c, a)),
        (12, lambda: np.add(a, b, out=c)),
        (12, lambda: np.add(c, b, out=c)),        # in place, as optimizers write: no write-allocate
    )
    return max(moved * n / timeit(fn, repeat) for moved, fn in probes)


def run(*, doc: str, algorithm: str, title: str, inplace: Callable[[list, list], Callable[[], None]],
        torch_variants: Sequence[tuple[str, str, dict]], bytes_per_element: int) -> None:
    """``inplace(params, grads)`` returns the in-place step; ``torch_variants`` are
    ``(label, torch.optim class name, kwargs)``."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--params", type=int, default=10_000_000)
    ap.add_argument("--tensors", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    n = args.params // args.tensors
    rng = np.random.default_rng(0)
    params = [rng.standard_normal(n, dtype=np.float32) for _ in range(args.tensors)]
    grads = [rng.standard_normal(n, dtype=np.float32) for _ in range(args.tensors)]

    alg = OPTIMIZERS[algorithm]
    hp = alg.hyper()
    oracle = {"p": list(params), "s": [alg.init(p, hp) for p in params]}

    def oracle_step() -> None:
        new = [alg.update(p, g, s, hp) for p, g, s in zip(oracle["p"], grads, oracle["s"])]
        oracle["p"], oracle["s"] = [x[0] for x in new], [x[1] for x in new]

    results = {"v0ref oracle (numpy)": timeit(oracle_step, args.repeat),
               "in-place numpy": timeit(inplace([p.copy() for p in params], grads), args.repeat)}
    try:
        import torch
        torch.set_num_threads(1)
        tparams = [torch.tensor(p, requires_grad=True) for p in params]
        for tp, g in zip(tparams, grads):
            tp.grad = torch.from_numpy(g)
        for label, cls, kwargs in torch_variants:
            results[label] = timeit(getattr(torch.optim, cls)(tparams, **kwargs).step, args.repeat)
    except ImportError:
        pass

    base = results["in-place numpy"]
    bytes_moved = bytes_per_element * args.params
    print(f"{title} step, {args.params:,} float32 params in {args.tensors} tensors (median of {args.repeat})")
    print(f"{'implementation':32s} {'ms':>9s} {'GB/s':>7s} {'vs in-place':>12s}")
    for label, t in results.items():
        print(f"{label:32s} {t * 1e3:9.2f} {bytes_moved / t / 1e9:7.2f} {t / base:11.2f}x")
    ratio = results["v0ref oracle (numpy)"] / base
    print(f"oracle / in-place = {ratio:.2f}x (target <= 3x): {'OK' if ratio <= 3 else 'OVER TARGET'}")
