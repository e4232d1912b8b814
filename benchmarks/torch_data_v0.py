"""Data-driven v0 on torch: cost of `data_v0` against the bare gradient passes it is made of.

Issue 8's target: collecting Eq. 10's statistics costs at most 1.1x the same K forward+backward
passes.  For each model (an MLP and a small CNN, CPU float32) the script times, on the same K
batches (K = data_size // B + 1, the repo's stop rule):

* minibatch — baseline: K training-style passes (``zero_grad(set_to_none=True)``, loss,
  ``backward()``); v0ref: ``grad_stats`` and ``data_v0(..., mode="minibatch")``;
* per-sample — baseline: K passes of ``vmap(grad(functional_call))`` over the batch (chunked as
  v0ref chunks it), results dropped; v0ref: ``grad_stats`` / ``data_v0(..., mode="per_sample")``
  over K·B samples.

``--one-shot N`` adds the figure a user meets: ``data_v0`` is called once, at the start of
training, when the allocator holds no freed memory to reuse.  N fresh processes each warm up (one
tiny call of each, so libraries and kernels are loaded), return freed memory to the system
(``malloc_trim``), then time the passes and ``data_v0`` once each, in alternating order; the
median ratio is printed.  The interleaved rounds above, by contrast, let each call reuse memory the
previous one freed, so their page faults (~1.5 µs per 4 KiB here) depend on what ran before.

Each v0ref call runs twice: on the compiled statistics kernels (`v0ref.backends._stats_kernel`,
"fused") and on torch ops alone ("torch", the path taken without a C compiler), so one run shows
both side by side.  Each figure is the minimum (``--stat min``, the default: right for a shared,
loaded machine) or median of ``--repeat`` rounds after a warm-up, each round calling every variant
once in turn; torch is pinned to ``--threads``.
``--quick`` is a small smoke run.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from collections.abc import Callable, Iterator

import torch
import torch.nn.functional as F

from v0ref.backends import _stats_kernel
from v0ref.backends._torch_data import data_v0, grad_stats


def mlp(width: int) -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 32 * 32, width), torch.nn.ReLU(),
                               torch.nn.Linear(width, width), torch.nn.ReLU(), torch.nn.Linear(width, 10))


def cnn(channels: int) -> torch.nn.Module:
    c = channels
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, c, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(c, 2 * c, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(2 * c, 4 * c, 3, padding=1), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(), torch.nn.Linear(4 * c, 10))


def loss_fn(model: torch.nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    x, y = batch
    return F.cross_entropy(model(x), y)


@contextlib.contextmanager
def torch_ops_only() -> Iterator[None]:
    """Run `_torch_data` as it runs without a C compiler (no compiled statistics kernels)."""
    saved = _stats_kernel.kernels
    _stats_kernel.kernels = lambda: None
    try:
        yield
    finally:
        _stats_kernel.kernels = saved


def interleaved(fns: dict[str, Callable[[], object]], repeat: int, stat: str, clock: str) -> dict[str, float]:
    """Seconds per call of each function: one warm-up each, then ``repeat`` rounds that call every
    function once in turn (so a change in the machine's load hits all of them alike).  ``clock``:
    ``"wall"`` (`time.perf_counter`) or ``"cpu"`` (`time.process_time`: this process's CPU time,
    which leaves out the time other processes hold the core on a loaded machine)."""
    now = time.perf_counter if clock == "wall" else time.process_time
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            t0 = now()
            fn()
            times[name].append(now() - t0)
    pick = min if stat == "min" else statistics.median
    return {name: pick(ts) for name, ts in times.items()}


def bench(model: torch.nn.Module, batches: list, *, data_size: int, chunk: int, repeat: int, stat: str,
          mode: str, paths: list[str], clock: str = "wall") -> dict[str, float]:
    """Seconds of the baseline and of v0ref's calls (keys ``base``, ``stats``/``v0`` + ``fused``/``torch``)."""
    model.eval()
    params = [p for p in model.parameters() if p.requires_grad]
    if mode == "minibatch":
        kw: dict = dict(data_size=data_size, progress=False)

        def base() -> None:
            for batch in batches:
                model.zero_grad(set_to_none=True)
                loss_fn(model, batch).backward()
            model.zero_grad(set_to_none=True)
    else:
        samples = sum(len(b[0]) for b in batches)
        kw = dict(mode="per_sample", data_size=samples, chunk_size=chunk, progress=False)
        names = [n for n, _ in model.named_parameters()]

        def one(theta, x, y):
            out = torch.func.functional_call(model, dict(zip(names, theta)), (x.unsqueeze(0),))
            return F.cross_entropy(out, y.unsqueeze(0))

        grad_fn = torch.func.vmap(torch.func.grad(one), in_dims=(None, 0, 0))

        def base() -> None:
            theta = tuple(p.detach() for p in params)
            for x, y in batches:
                for s in range(0, len(x), chunk):
                    grad_fn(theta, x[s:s + chunk], y[s:s + chunk])

    def on(path: str, fn: Callable[..., object]) -> Callable[[], object]:
        def run() -> object:
            with torch_ops_only() if path == "torch" else contextlib.nullcontext():
                return fn(model, loss_fn, batches, **kw)
        return run

    fns: dict[str, Callable[[], object]] = {"base": base}
    for path in paths:
        fns[f"stats {path}"] = on(path, grad_stats)
        fns[f"v0 {path}"] = on(path, data_v0)
    return interleaved(fns, repeat, stat, clock)


def one_shot_child(spec: str) -> None:
    """``--_one-shot model,mode,order,...``: time the passes and data_v0 once each in a fresh process."""
    import ctypes
    import json
    import resource
    key, mode, order, batch, data_size, ps_data_size, chunk, width, channels, threads = spec.split(",")
    batch, data_size, ps_data_size, chunk = int(batch), int(data_size), int(ps_data_size), int(chunk)
    torch.set_num_threads(int(threads))
    torch.manual_seed(0)
    model = mlp(int(width)) if key == "mlp" else cnn(int(channels))
    size = data_size if mode == "minibatch" else ps_data_size
    batches = [(torch.randn(batch, 3, 32, 32), torch.randint(0, 10, (batch,))) for _ in range(size // batch + 1)]
    model.eval()
    warm = [(b[0][:2], b[1][:2]) for b in batches[:1]]
    loss_fn(model, warm[0]).backward()
    model.zero_grad(set_to_none=True)
    data_v0(model, loss_fn, warm, mode=mode, data_size=2, progress=False,
            **({"chunk_size": 2} if mode == "per_sample" else {}))
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):
        pass
    params = [p for p in model.parameters() if p.requires_grad]
    names = [n for n, _ in model.named_parameters()]

    def base() -> None:
        if mode == "minibatch":
            for b in batches:
                model.zero_grad(set_to_none=True)
                loss_fn(model, b).backward()
            model.zero_grad(set_to_none=True)
            return
        def one(theta, x, y):
            out = torch.func.functional_call(model, dict(zip(names, theta)), (x.unsqueeze(0),))
            return F.cross_entropy(out, y.unsqueeze(0))
        grad_fn = torch.func.vmap(torch.func.grad(one), in_dims=(None, 0, 0))
        theta = tuple(p.detach() for p in params)
        for x, y in batches:
            for s in range(0, len(x), chunk):
                grad_fn(theta, x[s:s + chunk], y[s:s + chunk])

    kw = dict(data_size=size, progress=False) if mode == "minibatch" else \
        dict(mode="per_sample", data_size=sum(len(b[0]) for b in batches), chunk_size=chunk, progress=False)
    fns = {"base": base, "v0": lambda: data_v0(model, loss_fn, batches, **kw)}
    out = {}
    for name in order.split("+"):
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        t0 = time.perf_counter()
        fns[name]()
        out[name] = time.perf_counter() - t0
        out[name + " faults"] = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
    print(json.dumps(out))


def one_shot(args: argparse.Namespace, key: str, mode: str, runs: int) -> str:
    """Median and range of the data_v0 / passes ratio over ``runs`` fresh processes."""
    import json
    import subprocess
    import sys
    ratios, faults = [], []
    for i in range(runs):
        order = "base+v0" if i % 2 == 0 else "v0+base"
        spec = ",".join(map(str, (key, mode, order, args.batch, args.data_size, args.ps_data_size, args.chunk,
                                  args.width, args.channels, args.threads)))
        done = subprocess.run([sys.executable, __file__, "--_one-shot", spec], capture_output=True, text=True,
                              check=True)
        got = json.loads(done.stdout.strip().splitlines()[-1])
        ratios.append(got["v0"] / got["base"])
        faults.append(got["v0 faults"])
    return (f"one-shot (fresh process, {runs} runs): data_v0 / passes median {statistics.median(ratios):.2f}x "
            f"(range {min(ratios):.2f}-{max(ratios):.2f}x; data_v0's page faults median {statistics.median(faults):,.0f})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--data-size", type=int, default=2000, help="minibatch mode: K = data_size // B + 1 batches")
    ap.add_argument("--ps-data-size", type=int, default=500,
                    help="per-sample mode: the first ps_data_size // B + 1 batches (vmap(grad) is slow)")
    ap.add_argument("--chunk", type=int, default=32, help="per-sample vmap chunk")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--width", type=int, default=1024, help="MLP hidden width")
    ap.add_argument("--channels", type=int, default=32, help="CNN base channels")
    ap.add_argument("--models", default="mlp,cnn", help="comma-separated: mlp, cnn")
    ap.add_argument("--modes", default="minibatch,per_sample", help="comma-separated: minibatch, per_sample")
    ap.add_argument("--stat", choices=("min", "median"), default="min")
    ap.add_argument("--paths", default="fused,torch", help="comma-separated: fused, torch")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="cpu: process CPU time (steadier on a shared machine; with --threads 1)")
    ap.add_argument("--quick", action="store_true", help="small models, few batches, one repeat")
    ap.add_argument("--one-shot", type=int, default=0, metavar="N",
                    help="also time data_v0 called once in N fresh processes (fused path)")
    ap.add_argument("--_one-shot", dest="child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        one_shot_child(args.child)
        return
    if args.quick:
        args.batch, args.data_size, args.ps_data_size, args.repeat, args.chunk, args.width, args.channels = \
            16, 40, 40, 1, 8, 64, 8
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    paths = [p.strip() for p in args.paths.split(",")]
    if not set(paths) <= {"fused", "torch"}:
        ap.error(f"--paths takes fused and/or torch; got {args.paths!r}")
    k = max(args.data_size, args.ps_data_size) // args.batch + 1
    batches = [(torch.randn(args.batch, 3, 32, 32), torch.randint(0, 10, (args.batch,))) for _ in range(k)]
    builders = {"mlp": (f"MLP {args.width}", lambda: mlp(args.width)),
                "cnn": (f"CNN c={args.channels}", lambda: cnn(args.channels))}
    lib = _stats_kernel.kernels()
    print(f"data_v0 / grad_stats vs the same gradient passes (B = {args.batch}, CPU float32, {args.threads} "
          f"thread(s), {args.clock} time, {args.stat} of {args.repeat} after a warm-up); compiled statistics kernels: "
          f"{'yes' if lib is not None else 'no (' + str(_stats_kernel.unavailable_reason()) + ')'}")
    print("fused = compiled statistics kernels, torch = torch ops only; ratio = time / passes")
    top = f"{'':24s} {'':>10s} {'':>3s} {'passes':>8s}"
    sub = f"{'model / mode':24s} {'params':>10s} {'K':>3s} {'ms':>8s}"
    for p in paths:
        top += f" | {'grad_stats ' + p:>17s} {'data_v0 ' + p:>17s}"
        sub += f" | {'ms':>9s} {'ratio':>7s} {'ms':>9s} {'ratio':>7s}"
    print(top)
    print(sub)
    worst = 0.0
    for key in args.models.split(","):
        name, build = builders[key.strip()]
        model = build()
        n_params = sum(p.numel() for p in model.parameters())
        for mode in args.modes.split(","):
            mode = mode.strip()
            size = args.data_size if mode == "minibatch" else args.ps_data_size
            used = batches[:size // args.batch + 1]
            t = bench(model, used, data_size=size, chunk=args.chunk, repeat=args.repeat, stat=args.stat, mode=mode,
                      paths=paths, clock=args.clock)
            base = t["base"]
            if "fused" in paths:
                worst = max(worst, t["v0 fused"] / base)
            line = f"{name + ' ' + mode:24s} {n_params:10,d} {len(used):3d} {base * 1e3:8.1f}"
            for p in paths:
                line += (f" | {t['stats ' + p] * 1e3:9.1f} {t['stats ' + p] / base:6.2f}x"
                         f" {t['v0 ' + p] * 1e3:9.1f} {t['v0 ' + p] / base:6.2f}x")
            print(line, flush=True)
            if args.one_shot and "fused" in paths:
                print(f"{'':24s} {one_shot(args, key.strip(), mode, args.one_shot)}", flush=True)
    if "fused" in paths:
        print(f"worst data_v0 ratio (fused) {worst:.2f}x (target <= 1.1x): {'OK' if worst <= 1.1 else 'OVER TARGET'}")

if __name__ == "__main__":
    main()
