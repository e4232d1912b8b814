r"""Experiment 6 — update-size histograms at steps 1, 10, 100 for SGD, Adam v0 = 0 and Adam v0,rnd.

Reproduces the direction of Fig. 3 and the "distance curve" of §3 in Abuduweili & Liu (arXiv
2412.02153).  The paper's observations: vanilla Adam (lr 1e-3, v_0 = 0) moves many parameters by
exactly the learning rate on its first step, because the first step is sign descent
``Δθ_1 = −α g/(|g| + ε)`` (ALGORITHMS §1.2), and its update sizes then shrink.  Adam with a
non-zero v_0 keeps "relatively stable" update sizes from the start.  SGD, even at lr 0.1, makes
small updates from the start.

**Model and data**: the post-LN Transformer and the reverse task of experiment 4
(`experiments._seqtask`: width 64, 2 blocks, 4 heads, FFN 256, about 102k parameters, batches of
32).  The model runs in **float64**, so ``|Δθ|`` is measured exactly down to ~1e-17 relative.  In
float32, an update of 1e-7 on a weight of 0.1 would lose about 5 % to rounding.

**Optimizers** (v0ref's torch port, same initialization and batches for each):

* ``SGD`` — lr 0.1 (the paper's), momentum 0.9, as the repo's SGD baseline (ALGORITHMS §1.10;
  momentum is our reading, the paper names only "SGD");
* ``Adam v0=0`` — lr 1e-3, β = (0.9, 0.999), ε = 1e-8 (torch defaults, the paper's lr);
* ``Adam v0,rnd`` — the same with Eq. 11's ``v_0 = σ/(fan_in+fan_out)·χ²₁``, σ = 1 (ours; poster
  form, ``v0="random-chi2"``), on tensors with ≥ 2 dimensions.  Biases and LayerNorm keep v_0 = 0,
  the paper's rule, so their first steps are still sign steps.

`v0ref.diagnostics.UpdateTracker` keeps the whole ``|Δθ_t|`` at t = 1, 10, 100 and ``‖Δθ_t‖₂`` at
every step.  The full run trains 5 seeds (seed, …, seed+4) for 300 steps each.  The histograms
come from the first seed; the other claims are checked on every seed.  ``--quick`` trains one seed
for 100 steps with batches of 16.

**Claims.**  Exact: Adam v0=0's step 1 has sign fraction ≥ 0.9, i.e. ≥ 90 % of the coordinates
satisfy ``| |Δθ| − α | ≤ 1 %·α``.  Adam v0,rnd's step 1 has sign fraction ≤ 0.1.

Paper direction:

* Adam v0=0's median ``|Δθ|`` at steps 10 and 100 is below its median at step 1.
* Adam v0,rnd's medians at steps 1, 10 and 100 stay within a factor of 4 of each other (our factor).
* SGD's step-1 median is ≥ 10× smaller than Adam v0=0's, and SGD's ``‖Δθ_1‖`` is smaller.
* Adam v0=0's ``‖Δθ_1‖`` is the largest first update of the three.

Command: ``python experiments/update_histograms.py [--quick] [--out DIR] [--seed N] [--no-plot]``
(full: about 3 min of CPU on one core, 5.5 min wall on our loaded 2-core machine; ``--quick`` ≈ 10–15 s).
"""

from __future__ import annotations

import math
import os
import sys
import time
from functools import partial
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

if __package__ in (None, ""):                      # run as a script: make the repo importable
    _ROOT = Path(__file__).resolve().parents[1]
    sys.path[:0] = [str(_ROOT), str(_ROOT / "src")]

import numpy as np  # noqa: E402

from v0ref import diagnostics as D  # noqa: E402
from v0ref.backends.torch import SGD, Adam  # noqa: E402

from experiments._common import Recorder, cli, pyplot, single_torch_thread  # noqa: E402
from experiments._seqtask import SeqTask, build, param_names, seq_loss, snapshot  # noqa: E402

NAME = "update_histograms"
TASK = SeqTask(symbols=16, length=8, task="reverse")
MODEL = dict(dim=64, heads=4, layers=2, ffn=256, post_ln=True)
SGD_LR, SGD_MOMENTUM = 0.1, 0.9
ADAM_LR, BETAS, EPS = 1e-3, (0.9, 0.999), 1e-8
SIGMA_RND = 1.0
HIST_STEPS = (1, 10, 100)
RTOL = 0.01
STABLE_FACTOR = 4.0                               # v0,rnd medians within this factor (ours)
SGD_FACTOR = 10.0                                 # SGD's step-1 median this many times below Adam's
FULL = dict(steps=300, seeds=5, batch=32)
QUICK = dict(steps=100, seeds=1, batch=16)
OPTIMIZERS = ("SGD", "Adam v0=0", "Adam v0,rnd")


def make_optimizer(name: str, params: list, seed: int):
    if name == "SGD":
        return SGD(params, lr=SGD_LR, momentum=SGD_MOMENTUM), SGD_LR
    if name == "Adam v0=0":
        return Adam(params, lr=ADAM_LR, betas=BETAS, eps=EPS), ADAM_LR
    if name == "Adam v0,rnd":
        return Adam(params, lr=ADAM_LR, betas=BETAS, eps=EPS, v0="random-chi2", v0_scale=SIGMA_RND, key=seed), ADAM_LR
    raise ValueError(name)


def train(name: str, seed: int, steps: int, batches: list) -> dict:
    """One run in float64: the tracker (|Δθ| at HIST_STEPS, ‖Δθ_t‖ every step), losses, first step."""
    model = build(TASK, seed, **MODEL).double()
    params = [p for p in model.parameters() if p.requires_grad]
    opt, lr = make_optimizer(name, params, seed)
    tracker = D.UpdateTracker(steps=HIST_STEPS)
    loss_fn = partial(seq_loss, length=TASK.length)
    losses, first = [], None
    start = time.perf_counter()
    for t, batch in enumerate(batches[:steps], 1):
        before = snapshot(model)
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model, batch)
        loss.backward()
        opt.step()
        after = [p.detach() for p in params]
        tracker.record(t, before, after)
        if t == 1:
            first = D.first_step_report(before, after, lr, rtol=RTOL, names=param_names(model))
        losses.append(loss.item())
    return dict(tracker=tracker, losses=losses, first_step=first, lr=lr, seconds=time.perf_counter() - start,
                matrix_mask=[p.ndim >= 2 for p in params])


def matrix_norms(res: dict) -> np.ndarray:
    """``‖Δθ_t‖₂`` over the tensors with ≥ 2 dimensions only (those Eq. 11 initializes), per step."""
    tr, mask = res["tracker"], np.array(res["matrix_mask"])
    steps, _ = tr.series()
    return np.array([math.sqrt(sum(n * n for n, m in zip(tr.tensor_norms[int(k)], mask) if m)) for k in steps])


@single_torch_thread
def run(*, quick: bool = False, out=None, seed: int = 0, plot: bool = True):
    cfg = QUICK if quick else FULL
    rec = Recorder(NAME, quick=quick, seed=seed, out=out, plot=plot,
                   args=dict(task=TASK.__dict__, model=MODEL, sgd_lr=SGD_LR, sgd_momentum=SGD_MOMENTUM,
                             adam_lr=ADAM_LR, betas=BETAS, eps=EPS, sigma_rnd=SIGMA_RND, hist_steps=HIST_STEPS,
                             dtype="float64", **cfg))
    steps, seeds = cfg["steps"], [seed + k for k in range(cfg["seeds"])]
    runs: dict[int, dict[str, dict]] = {}
    for s in seeds:
        batches = TASK.batches(1000 + s, cfg["batch"], steps)
        runs[s] = {name: train(name, s, steps, batches) for name in OPTIMIZERS}

    def median(s, name, step):
        return float(np.median(runs[s][name]["tracker"].abs_updates(step)))

    # exact: the first step of Adam, on every seed
    for name, test, bound in (("Adam v0=0", np.greater_equal, 0.9), ("Adam v0,rnd", np.less_equal, 0.1)):
        fr = [runs[s][name]["first_step"].sign_fraction for s in seeds]
        rec.claim(f"{name} step 1: sign fraction {'≥' if test is np.greater_equal else '≤'} {bound}",
                  all(test(f, bound) for f in fr),
                  f"fraction of coordinates with ||Δθ|−{ADAM_LR:g}| ≤ {RTOL:g}·{ADAM_LR:g}: "
                  + ", ".join(f"{f:.4f}" for f in fr) + f" (seeds {seeds[0]}–{seeds[-1]})")

    # paper directions, on every seed
    med = {name: np.array([[median(s, name, k) for k in HIST_STEPS] for s in seeds]) for name in OPTIMIZERS}
    fmt = lambda a: "[" + ", ".join(f"{x:.3g}" for x in a) + "]"   # noqa: E731
    a0 = med["Adam v0=0"]
    rec.claim("Adam v0=0: median |Δθ| at steps 10 and 100 below step 1's", bool(np.all(a0[:, 1:] < a0[:, :1])),
              "medians at steps " + "/".join(map(str, HIST_STEPS)) + ", per seed: " + "; ".join(map(fmt, a0)),
              kind="paper", paper="Fig. 3b: many parameters move by lr on step 1, then the update sizes decrease")
    ar = med["Adam v0,rnd"]
    spread = ar.max(axis=1) / ar.min(axis=1)
    rec.claim(f"Adam v0,rnd: medians at steps 1/10/100 within a factor {STABLE_FACTOR:g}",
              bool(np.all(spread <= STABLE_FACTOR)),
              "max/min median per seed: " + fmt(spread) + "; medians: " + "; ".join(map(fmt, ar)),
              kind="paper", paper="Fig. 3c: relatively stable update sizes throughout training")
    sg = med["SGD"]
    ratio = a0[:, 0] / sg[:, 0]
    n1 = {name: np.array([runs[s][name]["tracker"].norms[1] for s in seeds]) for name in OPTIMIZERS}
    rec.claim(f"SGD (lr {SGD_LR:g}): step-1 median |Δθ| ≥ {SGD_FACTOR:g}× below Adam v0=0's, and smaller ‖Δθ_1‖",
              bool(np.all(ratio >= SGD_FACTOR) and np.all(n1["SGD"] < n1["Adam v0=0"])),
              f"Adam/SGD step-1 median ratio per seed {fmt(ratio)}; ‖Δθ_1‖ SGD {fmt(n1['SGD'])} vs Adam v0=0 "
              f"{fmt(n1['Adam v0=0'])}; SGD medians at 1/10/100: " + "; ".join(map(fmt, sg)),
              kind="paper", paper="Fig. 3a and distance curve: SGD's updates are small from the start, even at lr 0.1")
    rec.claim("Adam v0=0 has the largest first update ‖Δθ_1‖ of the three",
              bool(np.all((n1["Adam v0=0"] > n1["SGD"]) & (n1["Adam v0=0"] > n1["Adam v0,rnd"]))),
              ", ".join(f"{k} {fmt(v)}" for k, v in n1.items()), kind="paper",
              paper="§3 distance curve: the first update of vanilla Adam is much larger than Adam v0's or SGD's")

    first = runs[seeds[0]]
    numbers: dict = dict(seeds=seeds, steps=steps, n_params=first["Adam v0=0"]["first_step"].size, runs={})
    for name in OPTIMIZERS:
        r0 = first[name]
        tr = r0["tracker"]
        _, norm0 = tr.series()
        norms = np.array([runs[s][name]["tracker"].series()[1] for s in seeds])
        numbers["runs"][name] = dict(
            lr=r0["lr"],
            median_abs_update={k: dict(mean=float(med[name][:, i].mean()), std=float(med[name][:, i].std()),
                                       per_seed=med[name][:, i].tolist()) for i, k in enumerate(HIST_STEPS)},
            quantiles_first_seed={k: dict(zip(("q05", "q25", "q50", "q75", "q95"),
                                              np.quantile(tr.abs_updates(k), [0.05, 0.25, 0.5, 0.75, 0.95]).tolist()))
                                  for k in HIST_STEPS},
            zero_count_first_seed={k: tr.zero_count(k) for k in HIST_STEPS},
            first_step=r0["first_step"].to_dict(),
            update_norm_mean=[float(f"{x:.5g}") for x in norms.mean(axis=0)],
            update_norm_first_seed=[float(f"{x:.5g}") for x in norm0],
            update_norm_matrices_mean=[float(f"{x:.5g}") for x in
                                       np.mean([matrix_norms(runs[s][name]) for s in seeds], axis=0)],
            loss_first_20=float(np.mean(r0["losses"][:20])), loss_last_20=float(np.mean(r0["losses"][-20:])),
            seconds=[round(runs[s][name]["seconds"], 2) for s in seeds])
    if plot:
        _plot(rec, runs, seeds, steps)
    return rec.finish(numbers)


def _plot(rec: Recorder, runs: dict, seeds: list, steps: int) -> None:
    plt = pyplot()
    first = runs[seeds[0]]
    positive = np.concatenate([first[n]["tracker"].abs_updates(k) for n in OPTIMIZERS for k in HIST_STEPS])
    positive = positive[positive > 0]
    # shared log bins from the 0.1 % quantile up; the few smaller values go into the first bin
    lo, hi = float(np.quantile(positive, 1e-3)), float(positive.max()) * 1.01
    edges = np.geomspace(lo, hi, 61)
    fig = plt.figure(figsize=(12, 12))
    grid = fig.add_gridspec(4, 3, height_ratios=[1, 1, 1, 1.2], hspace=0.45)
    colors = {"SGD": "tab:orange", "Adam v0=0": "tab:red", "Adam v0,rnd": "tab:blue"}
    for i, name in enumerate(OPTIMIZERS):
        tr = first[name]["tracker"]
        for j, k in enumerate(HIST_STEPS):
            ax = fig.add_subplot(grid[i, j])
            x = tr.abs_updates(k)
            counts, _ = np.histogram(np.clip(x[x > 0], lo, hi), bins=edges)
            ax.stairs(counts, edges, fill=True, color=colors[name], alpha=0.7)
            ax.set_xscale("log")
            ax.axvline(first[name]["lr"], color="k", ls=":", lw=0.8)
            med = np.median(tr.abs_updates(k))
            ax.axvline(med, color="k", lw=0.8)
            ax.set_title(f"{name}, step {k} (median {med:.2g}, {tr.zero_count(k)} zeros)", fontsize=8)
            if i == len(OPTIMIZERS) - 1:
                ax.set_xlabel("|Δθ| (dotted: lr)")
            if j == 0:
                ax.set_ylabel("coordinates")
    ax = fig.add_subplot(grid[3, :])
    t = np.arange(1, steps + 1)
    for name in OPTIMIZERS:
        norms = np.array([runs[s][name]["tracker"].series()[1] for s in seeds])
        ax.plot(t, norms.mean(axis=0), color=colors[name], label=f"{name} (lr {first[name]['lr']:g})")
        ax.plot(t, np.mean([matrix_norms(runs[s][name]) for s in seeds], axis=0), color=colors[name], ls="--",
                lw=0.9, label=f"{name}: weights with ndim ≥ 2 only")
        if len(seeds) > 1:
            ax.fill_between(t, norms.min(axis=0), norms.max(axis=0), color=colors[name], alpha=0.2)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("‖Δθ_t‖₂")
    ax.set_title(f"update norm per step (distance curve), mean and range over {len(seeds)} seed(s)", fontsize=9)
    ax.legend(fontsize=8)
    fig.suptitle("Post-LN Transformer (reverse task): |Δθ| histograms at steps 1, 10, 100 (Fig. 3 analogue)",
                 fontsize=10)
    rec.figure(fig)


if __name__ == "__main__":
    raise SystemExit(cli(run, __doc__))
