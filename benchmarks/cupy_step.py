"""One optimizer step on the GPU: v0ref's generated CuPy kernels vs torch.optim.Adam(fused=True).

For 100M float32 parameters split into 100 and into 5000 tensors (``--params``, ``--tensors``),
measured in one run with CUDA events (median of ``--repeat`` steps after a warm-up):

* the device's copy bandwidth (a device-to-device ``cupy`` copy of the same byte count), the
  limit an element-wise optimizer step can reach;
* for every element-wise algorithm (default hyperparameters): the multi-tensor kernel (one launch)
  and, for Adam, the per-tensor ElementwiseKernel form; GB/s from the bytes the step must move
  (`Program.bytes_per_element`: loads of param, grad and state, stores of param and state) and
  the fraction of the copy bandwidth;
* torch.optim.Adam(fused=True) on CUDA over the same tensors, and the ratio Adam(v0ref)/torch.

Targets (issue 10): Adam ≤ 1.1x torch fused; ≥ 85 % of bandwidth at 100M params; every
element-wise method ≥ 80 % of bandwidth for its bytes/param.

    python benchmarks/cupy_step.py [--params 100_000_000] [--tensors 100 5000] [--repeat 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys

import numpy as np


def _events_ms(cp, fn, repeat: int) -> float:
    fn()
    cp.cuda.Device().synchronize()
    times = []
    for _ in range(repeat):
        start, stop = cp.cuda.Event(), cp.cuda.Event()
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(cp.cuda.get_elapsed_time(start, stop))
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", type=int, default=100_000_000)
    ap.add_argument("--tensors", type=int, nargs="+", default=[100, 5000])
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--algorithms", nargs="*", default=None, help="default: every element-wise entry")
    args = ap.parse_args()

    from v0ref.backends import cupy as port
    if not port.available():
        sys.exit("cupy_step.py needs CuPy and a CUDA GPU (pip install 'v0ref[cupy]'); none found — nothing measured")
    import cupy as cp
    from v0ref import OPTIMIZERS
    from v0ref.backends import _codegen as cg

    names = args.algorithms or [n for n in OPTIMIZERS if OPTIMIZERS[n].kind == "elementwise"]
    props = cp.cuda.runtime.getDeviceProperties(cp.cuda.Device().id)
    print(f"device: {props['name'].decode() if isinstance(props['name'], bytes) else props['name']}")
    for n_tensors in args.tensors:
        size = args.params // n_tensors
        total = size * n_tensors
        rng = cp.random.default_rng(0)
        params = [rng.standard_normal(size, dtype=cp.float32) for _ in range(n_tensors)]
        grads = [rng.standard_normal(size, dtype=cp.float32) for _ in range(n_tensors)]

        src = cp.empty(total, dtype=cp.float32)
        dst = cp.empty_like(src)
        copy_ms = _events_ms(cp, lambda: dst.__setitem__(Ellipsis, src), args.repeat)
        copy_gbs = 2 * total * 4 / copy_ms / 1e6
        src = dst = None   # free before the runs
        print(f"\n{total / 1e6:.0f}M float32 params in {n_tensors} tensors; copy bandwidth {copy_gbs:.0f} GB/s")
        print(f"{'method':<34}{'ms':>9}{'GB/s':>9}{'% bw':>8}{'B/param':>9}")
        rows = {}
        for name in names:
            alg = OPTIMIZERS[name]
            hp = alg.hyper()
            program = cg.record(alg, hp, alg.init(np.zeros(1, np.float32), hp))
            bpe = program.bytes_per_element("float32")
            forms = [("multi-tensor", True)] + ([("per-tensor", False)] if name == "adam" else [])
            for form, multi in forms:
                ps = [p.copy() for p in params]
                opt = port.Optimizer(name, ps, multi_tensor=multi)
                ms = _events_ms(cp, lambda: opt.step(ps, grads), args.repeat)
                gbs = bpe * total / ms / 1e6
                rows[(name, form)] = ms
                print(f"{name + ' (' + form + ')':<34}{ms:9.3f}{gbs:9.0f}{100 * gbs / copy_gbs:7.0f}%{bpe:9d}")
                opt = ps = None
        try:
            import torch
            if not torch.cuda.is_available():
                raise ImportError
        except ImportError:
            print("torch with CUDA is not available: no torch.optim.Adam(fused=True) comparison")
            continue
        tp = [torch.as_tensor(p, device="cuda").clone().requires_grad_() for p in params]
        for t, g in zip(tp, grads):
            t.grad = torch.as_tensor(g, device="cuda")
        topt = torch.optim.Adam(tp, lr=1e-3, fused=True)
        ms = _events_ms(cp, topt.step, args.repeat)
        gbs = 28 * total / ms / 1e6
        print(f"{'torch.optim.Adam(fused=True)':<34}{ms:9.3f}{gbs:9.0f}{100 * gbs / copy_gbs:7.0f}%{28:9d}")
        if ("adam", "multi-tensor") in rows:
            print(f"Adam v0ref / torch fused: {rows[('adam', 'multi-tensor')] / ms:.3f}x (target <= 1.1x)")
        del tp, topt


if __name__ == "__main__":
    main()
