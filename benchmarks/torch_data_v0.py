"""Data-driven v0 on torch: cost of `data_v0` against the bare gradient passes it is made of.

Issue 8's target: collecting Eq. 10's statistics costs at most 1.1x the same K forward+backward
passes.  For each model (an MLP and a small CNN, CPU float32) the script times, on the same K
batches (K = data_size // B + 1, the repo's stop rule):

* minibatch — baseline: K training-style passes (``zero_grad(set_to_none=True)``, loss,
  ``backward()``); v0ref: ``data_v0(..., mode="minibatch")``;
* per-sample — baseline: K passes of ``vmap(grad(functional_call))`` over the batch (chunked as
  v0ref chunks it), results dropped; v0ref: ``data_v0(..., mode="per_sample")`` over K·B samples.

Each figure is the median of ``--repeat`` runs after a warm-up; torch is pinned to ``--threads``.
``--quick`` is a small smoke run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

from v0ref.backends._torch_data import data_v0

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _bench import timeit  # noqa: E402


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


def bench(name: str, model: torch.nn.Module, batches: list, *, data_size: int, chunk: int,
          repeat: int, per_sample: bool) -> list[tuple[str, float, float]]:
    model.eval()
    params = [p for p in model.parameters() if p.requires_grad]

    def passes() -> None:
        for batch in batches:
            model.zero_grad(set_to_none=True)
            loss_fn(model, batch).backward()
        model.zero_grad(set_to_none=True)

    rows = []
    base = timeit(passes, repeat)
    mine = timeit(lambda: data_v0(model, loss_fn, batches, data_size=data_size, progress=False), repeat)
    rows.append((f"{name} minibatch", base, mine))
    if per_sample:
        names = [n for n, _ in model.named_parameters()]

        def one(theta, x, y):
            out = torch.func.functional_call(model, dict(zip(names, theta)), (x.unsqueeze(0),))
            return F.cross_entropy(out, y.unsqueeze(0))

        grad_fn = torch.func.vmap(torch.func.grad(one), in_dims=(None, 0, 0))

        def per_sample_passes() -> None:
            theta = tuple(p.detach() for p in params)
            for x, y in batches:
                for s in range(0, len(x), chunk):
                    grad_fn(theta, x[s:s + chunk], y[s:s + chunk])

        samples = sum(len(b[0]) for b in batches)
        base_ps = timeit(per_sample_passes, repeat)
        mine_ps = timeit(lambda: data_v0(model, loss_fn, batches, mode="per_sample", data_size=samples,
                                         chunk_size=chunk, progress=False), repeat)
        rows.append((f"{name} per-sample", base_ps, mine_ps))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--data-size", type=int, default=5000)
    ap.add_argument("--chunk", type=int, default=32, help="per-sample vmap chunk")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="small models, few batches, one repeat")
    args = ap.parse_args()
    if args.quick:
        args.batch, args.data_size, args.repeat, args.chunk = 16, 40, 1, 8
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    k = args.data_size // args.batch + 1
    batches = [(torch.randn(args.batch, 3, 32, 32), torch.randint(0, 10, (args.batch,))) for _ in range(k)]
    width, channels = (64, 8) if args.quick else (1024, 32)
    models = [(f"MLP {width}", mlp(width), True), (f"CNN c={channels}", cnn(channels), True)]

    print(f"data_v0 vs the same K = {k} gradient passes (B = {args.batch}, data_size = {args.data_size}, "
          f"CPU float32, {args.threads} thread(s), median of {args.repeat})")
    print(f"{'model / mode':24s} {'params':>10s} {'passes ms':>10s} {'data_v0 ms':>11s} {'ratio':>7s}")
    worst = 0.0
    for name, model, per_sample in models:
        n_params = sum(p.numel() for p in model.parameters())
        for label, base, mine in bench(name, model, batches, data_size=args.data_size, chunk=args.chunk,
                                       repeat=args.repeat, per_sample=per_sample):
            ratio = mine / base
            worst = max(worst, ratio)
            print(f"{label:24s} {n_params:10,d} {base * 1e3:10.1f} {mine * 1e3:11.1f} {ratio:6.2f}x")
    print(f"worst ratio {worst:.2f}x (target <= 1.1x): {'OK' if worst <= 1.1 else 'OVER TARGET'}")


if __name__ == "__main__":
    main()
