r"""Experiment 7 — linear-mode connectivity and the loss landscape around v0 = 0 and v0 ≠ 0 solutions.

**Paper.** Abuduweili & Liu (arXiv 2412.02153), §3.6 "Loss landscape" and App. C.5: networks that
share architecture, initialization, data and seeds and differ only in v0 are "not linearly
connected" — the test error rises along the straight line between the Adam v0 = 0 solution θ_0
and the Adam v0,rnd solution θ_rnd — and the error barrier of Eq. 22 (the linear interpolation
instability of Frankle, Dziugaite, Roy & Carbin, ICML 2020),

.. math:: B = \max_{α∈[0,1]} E(α θ_a + (1-α) θ_b) - \tfrac12\bigl(E(θ_a) + E(θ_b)\bigr),

is zero at the start (the networks are identical) and grows as training goes on.  Its landscape
figure (filter-normalized random directions, Li et al. 2018) shows the landscape around the v0 ≠ 0
solution flatter than around the v0 = 0 one (a Transformer on IWSLT'14 there).

**Here.** The digits CNN, data, loss, Adam settings (lr 3e-3, step schedule, 20 epochs = 460 steps)
and v0 scales of `experiments._digits` (s = 1e-5 for v0,rnd, σ = 1e-3 for v0,data; its docstring
says why).  For each of 5 seeds (``seed … seed+4``) four Adam runs start from the same weights:
v0 = 0, v0,rnd and v0,data with the seed's data order, and a **reference** v0 = 0 run whose only
difference is the data order (that of seed + 1000) — what "another sample of SGD noise" does to the
same start (Frankle et al.'s instability test).  The loop is `_digits.train`'s, parameters kept
after every epoch.

* **Barrier** (`v0ref.diagnostics.interpolation_barrier`): test error (%) on the 360 test images at
  21 evenly spaced α, for the pairs (v0 = 0, v0,rnd), (v0 = 0, v0,data) and (v0 = 0, reference);
  along training at every epoch (11 α).  "Not linearly connected" is judged against a **threshold
  of 2 percentage points** (ours: 7 of the 360 test images; Frankle et al. treat a barrier within
  about 2 % as stable) and against the reference pair's barrier.
* **Landscape** (`filter_normalized_direction`, `loss_slice_1d`, `loss_surface_2d`): the training
  loss (label-smoothed cross-entropy) on a fixed subset of 512 training images, float32, along
  θ + α d for 4 filter-normalized Gaussian directions per seed (biases not moved, Li et al.'s
  ``biasbn``; the same Gaussian draw for the three solutions of a seed, normalized to each), α in
  [−1, 1] at step 0.05; a 21 × 21 surface θ + α d_1 + β d_2 on [−1, 1]² for the main seed.
  **Flatness** (ours): Δ_{0.5} = ½(L(θ + ½d) + L(θ − ½d)) − L(θ), averaged over directions and
  seeds (smaller is flatter), and the curvature (L(θ+hd) + L(θ−hd) − 2L(θ))/h² at h = 0.05.

**Checks.** Exact: every run finite; our loop reproduces `_digits.train` bit for bit; the runs of a
seed start from identical weights, so their barrier at epoch 0 is exactly 0; the barrier's end
points equal each solution's own test error and 0 ≤ B ≤ 100; every slice at α = 0 (and the 2-D
surface's centre) equals the solution's loss to float32 rounding (relative 1e-6); every direction
has its filters' norms equal to the solution's (relative 1e-5) and zero on biases.  Paper direction
(reported, never failing): the v0 = 0 / v0,rnd barrier exceeds the threshold, and exceeds the
reference barrier; the landscape is flatter (smaller Δ_{0.5}) around v0,rnd and around v0,data than
around v0 = 0.

Command::

    python experiments/landscape.py            # ~2.5 min on one core
    python experiments/landscape.py --quick    # 1 seed, 1 epoch, coarse grids (seconds)
"""

from __future__ import annotations

import math
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

if __package__ in (None, ""):                      # run as a script: make the repo importable
    _ROOT = Path(__file__).resolve().parents[1]
    sys.path[:0] = [str(_ROOT), str(_ROOT / "src")]

import numpy as np  # noqa: E402

from experiments import _digits as D  # noqa: E402
from experiments._common import Recorder, cli, pyplot, single_torch_thread  # noqa: E402

NAME = "landscape"
OPTIMIZER = "Adam"
SEEDS = 5
ORDER_OFFSET = 1000          # the reference run reads the data order of seed + ORDER_OFFSET
THRESHOLD = 2.0              # percentage points of test error (ours; see the docstring)
BARRIER_ALPHAS = 21
EPOCH_ALPHAS = 11
SUBSET = 512                 # training images the landscape is evaluated on
SLICE_STEPS = 41             # α grid of the 1-D slices on [-1, 1]: step 0.05
SURFACE_STEPS = 21           # α, β grid of the 2-D surface on [-1, 1]²: step 0.1
DIRECTIONS = 4               # 1-D directions per seed
FLAT_AT = 0.5                # Δ at |α| = FLAT_AT
DIR_KEY = 5_000              # direction k of seed s: key DIR_KEY + 100·s + k
LOSS_RTOL = 1e-6             # slice at α = 0 vs the module's own loss (float32)
NORM_RTOL = 1e-5             # filter norms of a direction vs the solution's
QUICK = dict(seeds=1, epochs=1, barrier_alphas=11, epoch_alphas=5, subset=256, slice_steps=9,
             surface_steps=5, directions=2)
PAIRS = {"rnd": ("zero", "rnd"), "data": ("zero", "data"), "order": ("zero", "order")}
PAIR_LABEL = {"rnd": "v0 = 0 ↔ v0,rnd", "data": "v0 = 0 ↔ v0,data",
              "order": "v0 = 0 ↔ v0 = 0, other data order (reference)"}
RUN_LABEL = {"zero": "v0 = 0", "rnd": "v0,rnd", "data": "v0,data", "order": "v0 = 0, other order"}


# ----------------------------------------------------------------------------------------------
# training (the loop of experiments._digits.train, with a separate data-order seed and snapshots)
# ----------------------------------------------------------------------------------------------

def train(variant: str, *, seed: int, order_seed: int, epochs: int) -> dict:
    """Adam with v0 ``variant`` from the weights of ``seed`` on the data order of ``order_seed``.

    Same operations as `experiments._digits.train` (with ``order_seed == seed`` the parameters are
    bitwise those of ``D.train("Adam", variant, seed=seed, ...)``).  Returns the model, its final
    parameters, a copy of the parameters after every epoch (index 0: the initial weights), the
    training loss per epoch, the test error and whether everything stayed finite.
    """
    import torch

    x, y, x_te, y_te = D.load_data()
    model = D.make_model(seed)
    opt = D.make_optimizer(OPTIMIZER, "zero" if variant == "order" else variant, model, seed=seed)
    base = [g["lr"] for g in opt.param_groups]
    snapshots = [[p.detach().clone() for p in model.parameters()]]
    curve, finite = [], True
    for epoch in range(epochs):
        for g, lr in zip(opt.param_groups, base):
            g["lr"] = lr * D.lr_factor(epoch, epochs)
        total, count = 0.0, 0
        for batch in D.batches(order_seed, epoch, x, y):
            opt.zero_grad(set_to_none=True)
            loss = D.loss_fn(model, batch)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(batch[1])
            count += len(batch[1])
        curve.append(total / count)
        snapshots.append([p.detach().clone() for p in model.parameters()])
        finite = finite and math.isfinite(curve[-1])
    with torch.no_grad():
        error = model_error(model)
    finite = finite and all(bool(torch.isfinite(p).all()) for p in model.parameters())
    return dict(variant=variant, seed=seed, order_seed=order_seed, model=model, params=snapshots[-1],
                snapshots=snapshots, train_loss=curve, error=error, finite=finite)


def model_error(model) -> float:
    """Test error (%) of a module, by its own forward pass."""
    _, _, x_te, y_te = D.load_data()
    return 100.0 * float((model(x_te).argmax(1) != y_te).double().mean())


def functional(model):
    """``params -> module`` substitute: a callable that runs ``model`` with the given parameter list
    (torch.func.functional_call), so `D.loss_fn` and the test error can read any point θ."""
    from torch.func import functional_call

    names = [n for n, _ in model.named_parameters()]

    def at(params):
        mapping = dict(zip(names, params))
        return lambda inputs: functional_call(model, mapping, (inputs,))

    return at


def error_fn(model):
    """``params -> test error (%)`` under no_grad."""
    import torch

    _, _, x_te, y_te = D.load_data()
    at = functional(model)

    def err(params):
        with torch.no_grad():
            return 100.0 * float((at(params)(x_te).argmax(1) != y_te).double().mean())

    return err


def loss_on(model, batch):
    """``params -> training loss on batch`` (`D.loss_fn`, label-smoothed cross-entropy) under no_grad."""
    import torch

    at = functional(model)

    def loss(params):
        with torch.no_grad():
            return float(D.loss_fn(at(params), batch))

    return loss


# ----------------------------------------------------------------------------------------------
# measurements
# ----------------------------------------------------------------------------------------------

def barriers(runs: dict, *, alphas: np.ndarray, epoch_alphas: np.ndarray) -> dict:
    """Eq. 22 for each pair of `PAIRS` at the end (``alphas``) and after every epoch (``epoch_alphas``)."""
    from v0ref.diagnostics import interpolation_barrier

    err = error_fn(runs["zero"]["model"])
    out = {}
    for key, (b, a) in PAIRS.items():          # α = 1 is θ_a (the v0 ≠ 0 / reference run), α = 0 is θ_0
        final = interpolation_barrier(runs[a]["params"], runs[b]["params"], err, alphas)
        along = [interpolation_barrier(sa, sb, err, epoch_alphas)["barrier"]
                 for sa, sb in zip(runs[a]["snapshots"], runs[b]["snapshots"])]
        out[key] = dict(final, along=along, error_a_model=runs[a]["error"], error_b_model=runs[b]["error"])
    return out


def filter_norm_error(direction: list, params: list) -> float:
    """Largest relative gap between each filter's norm in ``direction`` and in ``params`` (ndim ≥ 2),
    and ``inf`` if a 1-D tensor (bias) has a non-zero direction."""
    worst = 0.0
    for d, p in zip(direction, params):
        if p.ndim <= 1:
            if bool((d != 0).any()):
                return math.inf
            continue
        dn = d.double().reshape(d.shape[0], -1).norm(dim=1)
        pn = p.double().reshape(p.shape[0], -1).norm(dim=1)
        nz = pn > 0
        worst = max(worst, float(((dn[nz] - pn[nz]).abs() / pn[nz]).max()) if bool(nz.any()) else 0.0)
    return worst


def slices(runs: dict, seed: int, *, batch, alphas: np.ndarray, directions: int) -> dict:
    """1-D filter-normalized slices around the v0 = 0, v0,rnd and v0,data solutions of one seed."""
    from v0ref.diagnostics import filter_normalized_direction, loss_slice_1d

    i0 = int(np.argmin(np.abs(alphas)))
    ip = int(np.argmin(np.abs(alphas - FLAT_AT)))
    im = int(np.argmin(np.abs(alphas + FLAT_AT)))
    h = float(alphas[i0 + 1] - alphas[i0])
    out = {}
    for v in ("zero", "rnd", "data"):
        run = runs[v]
        loss = loss_on(run["model"], batch)
        base = float(D.loss_fn(run["model"], batch).detach())          # module forward, not functional
        curves, norm_err = [], 0.0
        for k in range(directions):
            d = filter_normalized_direction(run["params"], DIR_KEY + 100 * seed + k)
            norm_err = max(norm_err, filter_norm_error(d, run["params"]))
            curves.append(loss_slice_1d(loss, run["params"], d, alphas))
        c = np.array(curves)
        out[v] = dict(curves=c, loss=base, at_zero=c[:, i0],
                      flatness=float(np.mean(0.5 * (c[:, ip] + c[:, im]) - c[:, i0])),
                      curvature=float(np.mean((c[:, i0 + 1] + c[:, i0 - 1] - 2 * c[:, i0]) / h ** 2)),
                      norm_err=norm_err)
    return out


def surfaces(runs: dict, seed: int, *, batch, grid: np.ndarray) -> dict:
    """2-D filter-normalized surfaces (directions k = 0 and 1 of the seed) around each solution."""
    from v0ref.diagnostics import filter_normalized_direction, loss_surface_2d

    out = {}
    c = len(grid) // 2
    for v in ("zero", "rnd", "data"):
        run = runs[v]
        d1 = filter_normalized_direction(run["params"], DIR_KEY + 100 * seed)
        d2 = filter_normalized_direction(run["params"], DIR_KEY + 100 * seed + 1)
        z = loss_surface_2d(loss_on(run["model"], batch), run["params"], d1, d2, grid, grid)
        out[v] = dict(z=z, center=float(z[c, c]), mean_increase=float(z.mean() - z[c, c]))
    return out


def mean_std(xs) -> tuple[float, float]:
    xs = [float(x) for x in xs]
    return statistics.fmean(xs), (statistics.stdev(xs) if len(xs) > 1 else 0.0)


# ----------------------------------------------------------------------------------------------
# plot
# ----------------------------------------------------------------------------------------------

def plot(rec: Recorder, per_seed: list, surf: dict, *, alphas, slice_alphas, grid, epochs: int,
         subset: int) -> None:
    plt = pyplot()
    fig, axes = plt.subplots(2, 3, figsize=(15, 9.4))
    fig.subplots_adjust(hspace=0.42, wspace=0.3)
    colors = {"zero": "#7f7f7f", "rnd": "#1f77b4", "data": "#d62728", "order": "#2ca02c"}
    pair_color = {"rnd": colors["rnd"], "data": colors["data"], "order": colors["order"]}

    ax = axes[0, 0]
    for key in PAIRS:
        errs = np.array([s["barriers"][key]["errors"] for s in per_seed])
        for row in errs:
            ax.plot(alphas, row, color=pair_color[key], alpha=0.25, lw=0.8)
        ax.plot(alphas, errs.mean(0), color=pair_color[key], lw=2, label=PAIR_LABEL[key])
    ax.set_xlabel("α  (α = 0: v0 = 0 solution, α = 1: the other)")
    ax.set_ylabel("test error (%)")
    ax.set_title(f"error along the linear path ({len(per_seed)} seed(s), mean bold)")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)

    ax = axes[0, 1]
    ep = np.arange(epochs + 1)
    for key in PAIRS:
        b = np.array([s["barriers"][key]["along"] for s in per_seed])
        m, sd = b.mean(0), (b.std(0, ddof=1) if len(b) > 1 else np.zeros(b.shape[1]))
        ax.plot(ep, m, "o-", ms=3, color=pair_color[key], label=PAIR_LABEL[key])
        ax.fill_between(ep, m - sd, m + sd, color=pair_color[key], alpha=0.15)
    ax.axhline(THRESHOLD, color="k", ls=":", lw=1, label=f"threshold {THRESHOLD:g} pp (ours)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("error barrier B (pp, Eq. 22)")
    ax.set_title("barrier along training (mean ± std)")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)

    ax = axes[0, 2]
    s0 = per_seed[0]["slices"]
    for v in ("zero", "rnd", "data"):
        ax.plot(slice_alphas, s0[v]["curves"].mean(0), color=colors[v],
                label=f"{RUN_LABEL[v]}: Δ_{FLAT_AT:g} = {s0[v]['flatness']:.3f}")
    ax.set_xlabel("α  (θ + α d, filter-normalized d)")
    ax.set_ylabel(f"training loss ({subset} training images)")
    ax.set_title(f"1-D slices, seed {per_seed[0]['seed']} (mean of {s0['zero']['curves'].shape[0]} directions)")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)

    zs = [surf[v]["z"] for v in ("zero", "rnd", "data")]
    lo = min(float(z.min()) for z in zs)
    hi = min(max(float(z.max()) for z in zs), lo + 6.0)
    levels = lo + np.concatenate([[0.0], np.geomspace(0.01, hi - lo, 15)])    # dense near the minimum
    for ax, v in zip(axes[1], ("zero", "rnd", "data")):
        cs = ax.contourf(grid, grid, np.minimum(surf[v]["z"], hi), levels=levels, cmap="viridis")
        ax.contour(grid, grid, surf[v]["z"], levels=levels, colors="k", linewidths=0.3)
        ax.plot([0], [0], "r+", ms=10)
        ax.set_title(f"2-D surface around Adam {RUN_LABEL[v]}\n"
                     f"(mean rise over the grid {surf[v]['mean_increase']:.2f})")
        ax.set_xlabel("α (d₁)")
        ax.set_ylabel("β (d₂)")
        ax.set_aspect("equal")
    fig.colorbar(cs, ax=axes[1].tolist(), shrink=0.8, label="training loss", format="%.2f")
    fig.suptitle("digits CNN, Adam: linear-mode connectivity (Eq. 22) and filter-normalized landscape "
                 "(App. C.5 / §3.6 analogue)")
    rec.figure(fig)


# ----------------------------------------------------------------------------------------------
# run
# ----------------------------------------------------------------------------------------------

@single_torch_thread
def run(*, quick: bool = False, out=None, seed: int = 0, plot: bool = True):
    """Train, measure barriers and slices, state the claims (one torch thread)."""
    return _run(quick=quick, out=out, seed=seed, plot_on=plot)


def _run(*, quick: bool, out, seed: int, plot_on: bool):
    import torch

    q = QUICK if quick else {}
    n_seeds = q.get("seeds", SEEDS)
    epochs = q.get("epochs", D.EPOCHS)
    alphas = np.linspace(0.0, 1.0, q.get("barrier_alphas", BARRIER_ALPHAS))
    epoch_alphas = np.linspace(0.0, 1.0, q.get("epoch_alphas", EPOCH_ALPHAS))
    slice_alphas = np.linspace(-1.0, 1.0, q.get("slice_steps", SLICE_STEPS))
    grid = np.linspace(-1.0, 1.0, q.get("surface_steps", SURFACE_STEPS))
    directions = q.get("directions", DIRECTIONS)
    subset = q.get("subset", SUBSET)
    seeds = [seed + i for i in range(n_seeds)]
    config = dict(optimizer=OPTIMIZER, lr=D.OPTIMIZERS[OPTIMIZER][1], seeds=seeds, epochs=epochs,
                  order_offset=ORDER_OFFSET, rnd_sigma=D.RND_SIGMA, data_sigma=D.DATA_SIGMA,
                  threshold_pp=THRESHOLD, barrier_alphas=len(alphas), epoch_alphas=len(epoch_alphas),
                  subset=subset, slice_alphas=len(slice_alphas), surface=len(grid), directions=directions,
                  flat_at=FLAT_AT, dir_key=DIR_KEY)
    rec = Recorder(NAME, quick=quick, seed=seed, out=out, plot=plot_on, args=config)
    x, y, _, _ = D.load_data()
    batch = (x[:subset], y[:subset])          # train_test_split already shuffled: a fixed subset

    per_seed, all_runs, timing = [], [], {"train": 0.0, "barrier": 0.0, "slices": 0.0, "surface": 0.0}
    main_runs = None
    for s in seeds:
        t0 = time.perf_counter()
        runs = {v: train(v, seed=s, order_seed=s, epochs=epochs) for v in ("zero", "rnd", "data")}
        runs["order"] = train("order", seed=s, order_seed=s + ORDER_OFFSET, epochs=epochs)
        t1 = time.perf_counter()
        bars = barriers(runs, alphas=alphas, epoch_alphas=epoch_alphas)
        t2 = time.perf_counter()
        sl = slices(runs, s, batch=batch, alphas=slice_alphas, directions=directions)
        t3 = time.perf_counter()
        timing["train"] += t1 - t0
        timing["barrier"] += t2 - t1
        timing["slices"] += t3 - t2
        per_seed.append(dict(seed=s, barriers=bars, slices=sl,
                             identical_start=all(torch.equal(a, b) for v in ("rnd", "data", "order")
                                                 for a, b in zip(runs["zero"]["snapshots"][0],
                                                                 runs[v]["snapshots"][0]))))
        all_runs += [dict(variant=r["variant"], seed=r["seed"], order_seed=r["order_seed"], error=r["error"],
                          train_loss=r["train_loss"], finite=r["finite"]) for r in runs.values()]
        if s == seed:
            main_runs = runs
    t3 = time.perf_counter()
    surf = surfaces(main_runs, seed, batch=batch, grid=grid)
    timing["surface"] = time.perf_counter() - t3

    # ---- exact claims
    bad = [f"{r['variant']}/seed {r['seed']}" for r in all_runs if not r["finite"]]
    rec.claim("every run finite", not bad, f"{len(all_runs) - len(bad)}/{len(all_runs)} Adam runs finite"
              + (f"; not: {', '.join(bad)}" if bad else ""))

    ref, ref_model = D.train(OPTIMIZER, "zero", seed=seed, epochs=epochs, return_model=True)
    same = all(torch.equal(p.detach(), q) for p, q in zip(ref_model.parameters(), main_runs["zero"]["params"]))
    rec.claim("our loop is experiments._digits.train", same and ref.finite,
              f"seed {seed}, v0 = 0, {epochs} epoch(s): parameters {'bitwise equal' if same else 'DIFFER'}; "
              f"test accuracy {ref.accuracy:.2f} % vs {100 - main_runs['zero']['error']:.2f} %")

    start0 = [s["barriers"][k]["along"][0] for s in per_seed for k in PAIRS]
    rec.claim("same init: barrier 0 at epoch 0", all(s["identical_start"] for s in per_seed)
              and all(b == 0.0 for b in start0),
              f"the four runs of each of {len(seeds)} seed(s) start from bitwise equal weights; "
              f"largest epoch-0 barrier {max(start0):g}")

    gaps, bounds = [], True
    for s in per_seed:
        for b in s["barriers"].values():
            gaps += [abs(b["errors"][-1] - b["error_a_model"]), abs(b["errors"][0] - b["error_b_model"])]
            bounds &= 0.0 <= b["barrier"] <= 100.0 and b["barrier"] >= abs(b["error_a"] - b["error_b"]) / 2 - 1e-12
    rec.claim("barrier end points are the solutions' test errors", max(gaps) == 0.0 and bounds,
              f"{len(gaps)} end points (α = 0, 1) vs each model's own forward pass: largest gap {max(gaps):g} pp; "
              f"|E_a − E_b|/2 ≤ B ≤ 100 {'holds' if bounds else 'FAILS'}")

    rel = [float(np.max(np.abs(s["slices"][v]["at_zero"] - s["slices"][v]["loss"]))) / s["slices"][v]["loss"]
           for s in per_seed for v in ("zero", "rnd", "data")]
    main_loss = {v: per_seed[0]["slices"][v]["loss"] for v in ("zero", "rnd", "data")}
    rel_c = [abs(surf[v]["center"] - main_loss[v]) / main_loss[v] for v in main_loss]
    rec.claim("slices at α = 0 equal the solution's loss", max(rel + rel_c) <= LOSS_RTOL,
              f"{len(rel) * directions} 1-D slices and {len(rel_c)} 2-D centres vs the module's own loss: "
              f"largest relative gap {max(rel + rel_c):.1e} (tolerance {LOSS_RTOL:g})")

    norm = max(s["slices"][v]["norm_err"] for s in per_seed for v in ("zero", "rnd", "data"))
    rec.claim("directions are filter-normalized", norm <= NORM_RTOL,
              f"largest relative gap between a direction's filter norm and the solution's: {norm:.1e} "
              f"(tolerance {NORM_RTOL:g}); biases not moved")

    # ---- paper direction
    table = {k: mean_std([s["barriers"][k]["barrier"] for s in per_seed]) for k in PAIRS}
    per = {k: [s["barriers"][k]["barrier"] for s in per_seed] for k in PAIRS}
    fmt = lambda k: f"{table[k][0]:.2f} ± {table[k][1]:.2f} pp"            # noqa: E731
    rec.claim("v0 = 0 and v0,rnd solutions are not linearly connected", table["rnd"][0] > THRESHOLD,
              f"barrier {PAIR_LABEL['rnd']} {fmt('rnd')} over {len(seeds)} seed(s) "
              f"({', '.join(f'{b:.2f}' for b in per['rnd'])}; above {THRESHOLD:g} pp, our threshold, in "
              f"{sum(b > THRESHOLD for b in per['rnd'])}/{len(seeds)}); "
              f"v0 = 0 ↔ v0,data {fmt('data')}", kind="paper",
              paper="App. C.5, Fig. err_lininterp: the error rises along the path; not linearly connected")
    wins = sum(a > b for a, b in zip(per["rnd"], per["order"]))
    rec.claim("the v0 change separates solutions more than a data-order change",
              table["rnd"][0] > table["order"][0],
              f"barrier v0 = 0 ↔ v0,rnd {fmt('rnd')} vs the same-init, other-order reference {fmt('order')} "
              f"(larger in {wins}/{len(seeds)} seeds)", kind="paper",
              paper="App. C.5: the v0 change alone leads to optima in distinct regions")
    flat = {v: mean_std([s["slices"][v]["flatness"] for s in per_seed]) for v in ("zero", "rnd", "data")}
    curv = {v: mean_std([s["slices"][v]["curvature"] for s in per_seed]) for v in ("zero", "rnd", "data")}
    for v in ("rnd", "data"):
        wins = sum(s["slices"][v]["flatness"] < s["slices"]["zero"]["flatness"] for s in per_seed)
        diff = flat[v][0] - flat["zero"][0]
        size = "exceeds 1 std" if abs(diff) > max(flat[v][1], flat["zero"][1]) else "within 1 std"
        rec.claim(f"the landscape around {RUN_LABEL[v]} is flatter", flat[v][0] < flat["zero"][0],
                  f"Δ_{FLAT_AT:g} (loss rise at |α| = {FLAT_AT:g}, {directions} directions × {len(seeds)} seed(s)): "
                  f"{RUN_LABEL[v]} {flat[v][0]:.4f} ± {flat[v][1]:.4f} vs v0 = 0 {flat['zero'][0]:.4f} ± "
                  f"{flat['zero'][1]:.4f} ({diff:+.4f}, {size}; flatter in {wins}/{len(seeds)} seeds); curvature at 0: "
                  f"{curv[v][0]:.3f} vs {curv['zero'][0]:.3f}; 2-D mean rise (seed {seed}): "
                  f"{surf[v]['mean_increase']:.3f} vs {surf['zero']['mean_increase']:.3f}", kind="paper",
                  paper="§3.6, Fig. loss_landscape: flatter around the v0 ≠ 0 solution (IWSLT'14 Transformer)")

    # ---- report
    print(f"\n{NAME}: Adam on the digits CNN, {len(seeds)} seed(s), {epochs} epoch(s)\n")
    print("| pair | barrier B (pp) | chord barrier (pp) | max error on path (%) | end-point errors (%) |")
    print("|---|---|---|---|---|")
    for k in PAIRS:
        ch = mean_std([s["barriers"][k]["chord_barrier"] for s in per_seed])
        mx = mean_std([s["barriers"][k]["max_error"] for s in per_seed])
        ea = mean_std([s["barriers"][k]["error_a"] for s in per_seed])
        eb = mean_std([s["barriers"][k]["error_b"] for s in per_seed])
        print(f"| {PAIR_LABEL[k]} | {fmt(k)[:-3]} | {ch[0]:.2f} ± {ch[1]:.2f} | {mx[0]:.2f} ± {mx[1]:.2f} | "
              f"{eb[0]:.2f} / {ea[0]:.2f} |")
    print(f"\n| solution | loss at θ | Δ_{FLAT_AT:g} | curvature at 0 | 2-D mean rise (seed {seed}) |")
    print("|---|---|---|---|---|")
    for v in ("zero", "rnd", "data"):
        lo = mean_std([s["slices"][v]["loss"] for s in per_seed])
        print(f"| {RUN_LABEL[v]} | {lo[0]:.4f} ± {lo[1]:.4f} | {flat[v][0]:.4f} ± {flat[v][1]:.4f} | "
              f"{curv[v][0]:.3f} ± {curv[v][1]:.3f} | {surf[v]['mean_increase']:.3f} |")
    print("\ntimes (s): " + ", ".join(f"{k} {v:.1f}" for k, v in timing.items()) + "\n")

    if plot_on:
        plot(rec, per_seed, surf, alphas=alphas, slice_alphas=slice_alphas, grid=grid, epochs=epochs,
             subset=subset)
    numbers = dict(
        barrier={k: dict(mean=table[k][0], std=table[k][1], per_seed=per[k]) for k in PAIRS},
        barrier_along_epochs={k: [s["barriers"][k]["along"] for s in per_seed] for k in PAIRS},
        paths={k: [dict(seed=s["seed"], **{f: s["barriers"][k][f] for f in (
            "alphas", "errors", "barrier", "chord_barrier", "max_error", "endpoint_mean", "error_a", "error_b")})
            for s in per_seed] for k in PAIRS},
        flatness={v: dict(mean=flat[v][0], std=flat[v][1], per_seed=[s["slices"][v]["flatness"] for s in per_seed])
                  for v in flat},
        curvature={v: dict(mean=curv[v][0], std=curv[v][1]) for v in curv},
        slices=[dict(seed=s["seed"], alphas=slice_alphas, **{v: dict(loss=s["slices"][v]["loss"],
                curves=s["slices"][v]["curves"]) for v in ("zero", "rnd", "data")}) for s in per_seed],
        surface=dict(seed=seed, grid=grid, **{v: dict(z=surf[v]["z"], mean_increase=surf[v]["mean_increase"])
                                              for v in surf}),
        runs=all_runs, seconds=timing)
    return rec.finish(numbers)


if __name__ == "__main__":
    raise SystemExit(cli(run, __doc__))
