"""Oracle RMSprop on NumPy vs a hand-written in-place NumPy RMSprop (and torch.optim.RMSprop on CPU).

One step over 10M float32 parameters split into 100 tensors, torch defaults (lr 1e-2, α 0.99,
ε 1e-8 outside the sqrt, no momentum), all measured side by side in one run (median of --repeat
runs after a warm-up), all single-threaded.  The oracle is pure (no in-place ops), so it pays for
temporaries; the target is a ratio of at most 3x to the in-place version.

    python benchmarks/oracle_numpy_rmsprop.py [--params 10_000_000] [--tensors 100] [--repeat 7]
"""

from __future__ import annotations

import argparse

import numpy as np

from oracle_numpy import timeit
from v0ref import OPTIMIZERS


def inplace_rmsprop_step(params, grads, vs, lr=1e-2, alpha=0.99, eps=1e-8):
    """The usual fast NumPy RMSprop: every update in place, one scratch buffer per tensor."""
    for p, g, v in zip(params, grads, vs):
        v *= alpha
        tmp = g * g
        tmp *= 1 - alpha
        v += tmp
        np.sqrt(v, out=tmp)
        tmp += eps
        np.divide(g, tmp, out=tmp)
        tmp *= lr
        p -= tmp


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

    alg = OPTIMIZERS["rmsprop"]
    hp = alg.hyper()
    oracle = {"p": list(params), "s": [alg.init(p, hp) for p in params]}

    def oracle_step():
        new = [alg.update(p, g, s, hp) for p, g, s in zip(oracle["p"], grads, oracle["s"])]
        oracle["p"], oracle["s"] = [x[0] for x in new], [x[1] for x in new]

    fast = {"p": [p.copy() for p in params], "v": [np.zeros_like(p) for p in params]}
    results = {"v0ref oracle (numpy)": timeit(oracle_step, args.repeat),
               "in-place numpy": timeit(lambda: inplace_rmsprop_step(fast["p"], grads, fast["v"]), args.repeat)}
    try:
        import torch
        torch.set_num_threads(1)   # NumPy's element-wise ops are single-threaded: compare like with like
        tparams = [torch.tensor(p, requires_grad=True) for p in params]
        for tp, g in zip(tparams, grads):
            tp.grad = torch.from_numpy(g)
        for label, foreach in [("torch.optim.RMSprop (for-loop)", False), ("torch.optim.RMSprop (foreach)", True)]:
            opt = torch.optim.RMSprop(tparams, lr=1e-2, foreach=foreach)
            results[label] = timeit(opt.step, args.repeat)
    except ImportError:
        pass

    base = results["in-place numpy"]
    bytes_moved = 20 * args.params   # read p, g, v; write p, v
    print(f"RMSprop step, {args.params:,} float32 params in {args.tensors} tensors (median of {args.repeat})")
    print(f"{'implementation':32s} {'ms':>9s} {'GB/s':>7s} {'vs in-place':>12s}")
    for label, t in results.items():
        print(f"{label:32s} {t * 1e3:9.2f} {bytes_moved / t / 1e9:7.2f} {t / base:11.2f}x")
    ratio = results["v0ref oracle (numpy)"] / base
    print(f"oracle / in-place = {ratio:.2f}x (target <= 3x): {'OK' if ratio <= 3 else 'OVER TARGET'}")


if __name__ == "__main__":
    main()
