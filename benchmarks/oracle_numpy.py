"""Oracle Adam on NumPy vs a hand-written in-place NumPy Adam (and torch.optim.Adam on CPU).

One step over 10M float32 parameters split into 100 tensors, all measured side by side in one
run (median of --repeat runs after a warm-up), all single-threaded.  The oracle is pure (no in-place ops), so it pays
for temporaries; the target is a ratio of at most 3x to the in-place version.

    python benchmarks/oracle_numpy.py [--params 10_000_000] [--tensors 100] [--repeat 7]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from v0ref import OPTIMIZERS


def inplace_adam_step(params, grads, ms, vs, t, lr=1e-3, b1=0.9, b2=0.999, eps=1e-8):
    """The usual fast NumPy Adam: every update in place, two scratch buffers per tensor."""
    c1, c2 = 1 - b1 ** t, 1 - b2 ** t
    step_size, c2_sqrt = lr / c1, c2 ** 0.5
    for p, g, m, v in zip(params, grads, ms, vs):
        m *= b1
        m += (1 - b1) * g
        v *= b2
        tmp = g * g
        tmp *= 1 - b2
        v += tmp
        np.sqrt(v, out=tmp)
        tmp /= c2_sqrt
        tmp += eps
        np.divide(m, tmp, out=tmp)
        tmp *= step_size
        p -= tmp


def timeit(fn, repeat):
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", type=int, default=10_000_000)
    ap.add_argument("--tensors", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    n = args.params // args.tensors
    rng = np.random.default_rng(0)
    params = [rng.standard_normal(n, dtype=np.float32) for _ in range(args.tensors)]
    grads = [rng.standard_normal(n, dtype=np.float32) for _ in range(args.tensors)]

    alg = OPTIMIZERS["adam"]
    hp = alg.hyper()
    oracle = {"p": list(params), "s": [alg.init(p, hp) for p in params]}

    def oracle_step():
        new = [alg.update(p, g, s, hp) for p, g, s in zip(oracle["p"], grads, oracle["s"])]
        oracle["p"], oracle["s"] = [x[0] for x in new], [x[1] for x in new]

    fast = {"p": [p.copy() for p in params], "m": [np.zeros_like(p) for p in params],
            "v": [np.zeros_like(p) for p in params], "t": 0}

    def inplace_step():
        fast["t"] += 1
        inplace_adam_step(fast["p"], grads, fast["m"], fast["v"], fast["t"])

    results = {"v0ref oracle (numpy)": timeit(oracle_step, args.repeat),
               "in-place numpy": timeit(inplace_step, args.repeat)}
    try:
        import torch
        torch.set_num_threads(1)   # NumPy's element-wise ops are single-threaded: compare like with like
        tparams = [torch.tensor(p, requires_grad=True) for p in params]
        for tp, g in zip(tparams, grads):
            tp.grad = torch.from_numpy(g)
        for label, kw in [("torch.optim.Adam (for-loop)", {"foreach": False}),
                          ("torch.optim.Adam (foreach)", {"foreach": True}),
                          ("torch.optim.Adam (fused)", {"fused": True})]:
            opt = torch.optim.Adam(tparams, lr=1e-3, **kw)
            results[label] = timeit(opt.step, args.repeat)
    except ImportError:
        pass

    base = results["in-place numpy"]
    bytes_moved = 28 * args.params   # read p, g, m, v; write p, m, v (ANCHORS §5)
    print(f"Adam step, {args.params:,} float32 params in {args.tensors} tensors (median of {args.repeat})")
    print(f"{'implementation':32s} {'ms':>9s} {'GB/s':>7s} {'vs in-place':>12s}")
    for label, t in results.items():
        print(f"{label:32s} {t * 1e3:9.2f} {bytes_moved / t / 1e9:7.2f} {t / base:11.2f}x")
    ratio = results["v0ref oracle (numpy)"] / base
    print(f"oracle / in-place = {ratio:.2f}x (target <= 3x): {'OK' if ratio <= 3 else 'OVER TARGET'}")


if __name__ == "__main__":
    main()
