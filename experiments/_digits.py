r"""Shared pieces of the digits experiments (the paper's Table 1 and Table 6 analogues).

Data, model, optimizer settings and one training run, used by `experiments.digits_table` and
`experiments.digits_sigma`.

* **Data** — scikit-learn's bundled ``load_digits`` (1797 8×8 grey images, 10 classes, no
  download), pixels divided by 16 so they lie in [0, 1], one fixed stratified split
  (``train_test_split(test_size=360, stratify=y, random_state=SPLIT_SEED)``: 1437 train / 360 test).
* **Model** — a small CNN (21 546 parameters): conv 1→16 3×3 (pad 1), ReLU, max-pool 2,
  conv 16→32 3×3 (pad 1), ReLU, flatten (512), linear 512→32, ReLU, linear 32→10; torch's default
  initialization after ``torch.manual_seed(seed)``, so every optimizer of a seed starts from the
  same weights.
* **Training** — mini-batches of ``BATCH`` from a seeded permutation of the training set per epoch
  (no DataLoader), cross-entropy with label smoothing 0.1 and the repo's step schedule (lr × 0.2 at
  30 %, 60 % and 80 % of the epochs; ALGORITHMS §1.10), full-batch evaluation on the test set.
* **Optimizers** — the repo's CIFAR settings (ALGORITHMS §1.10, paper §C.1) except the adaptive
  learning rate: SGDM lr 0.1, momentum 0.9, weight decay 5e-4; Adam lr 3e-3 without decay; AdamW,
  AdaBound (final_lr 0.1, γ 1e-3), RAdam and AdaBelief (coupled decay, no rectification) lr 3e-3,
  weight decay 5e-4; betas (0.9, 0.999), ε 1e-8.  lr 3e-3 is ours: the paper's 1e-3 leaves our
  460 steps under-trained (Adam, v0 = 0, seed 0: 94.2 % instead of 96.9 % test accuracy).
* **v0** — ``"zero"``: v0 = 0 (torch's default); ``"rnd"``: the repo's ``random`` strategy,
  ``v0 = s·X²``, X ~ N(0, 2/(fan_in+fan_out)) on tensors with ≥ 2 dimensions (paper Eq. 11 with
  σ = 2s; biases keep v0 = 0); ``"data"``: paper Eq. 10 as the repo's code estimates it,
  ``v0 = σ·(ḡ² + B·Var[ḡ])`` over the mini-batch mean gradients ḡ_k of the first K batches of a
  seeded permutation with K·B > ``DATA_SIZE`` (K = 22, 1408 samples: one pass over the training
  set; the paper uses 5000 samples of CIFAR-10), on every tensor.
* **Scales (ours).**  With bias correction kept, ``E[v̂_t] = s_b·(1 + σρ·β₂^t/(1−β₂^t))`` where s_b
  is the second moment of the mini-batch gradients Adam averages and ρ = E[g²]/s_b (per-sample over
  mini-batch second moment, ≈ B when noise dominates; 41 here at seed 0).  The v0 term is an implied
  warmup (ALGORITHMS §1.4) that ends near the step t_w with ``β₂^t/(1−β₂^t) = 1/(σρ)``.  The paper's
  σ = 1 with ρ ≈ B = 128 (assumed) gives t_w ≈ 4 860 of its 78 200 steps (6 %); our
  ``DATA_SIGMA = 1e-3`` gives t_w ≈ 41 of our 460 (9 %), while σ = 1 would outlast the run.
  ``RND_SIGMA = 1e-5`` makes the random v0, averaged over all weights, equal the data v0 at
  ``DATA_SIGMA`` (seed 0: 4.6e-3·s vs 4.7e-5·σ); the repo's default s = 100 is 10⁷ times that.
  `experiments.digits_sigma` sweeps both scales over ten decades.
* **SGDM** has no v0; as in the repo's code (``init_state='m'`` for SGD, ALGORITHMS §1.8) its
  variants set the momentum buffer m0 instead: ``"rnd"`` — ``m0 = 0.1·X'`` (|m0| about a mini-batch
  gradient's size), ``"data"`` — ``m0 = ḡ``; both scales ours (``SGD_M0_SCALE``): the paper's
  Table 1 reports SGDM with v0 = 0 only.
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass, field

import numpy as np
import torch

SPLIT_SEED = 0
TEST_SIZE = 360
BATCH = 64
DATA_SIZE = 1400            # data v0: first K batches with K·BATCH > DATA_SIZE (K = 22)
LABEL_SMOOTHING = 0.1
DECAY_AT = (0.3, 0.6, 0.8)  # the repo's step_lr: lr × 0.2 at these fractions of the epochs
DECAY = 0.2
EPOCHS = 20                 # 23 batches an epoch: 460 steps
RND_SIGMA = 1e-5            # s of v0,rnd (ours; see the module docstring)
DATA_SIGMA = 1e-3           # σ of v0,data (ours; see the module docstring)
SGD_M0_SCALE = {"rnd": 0.1, "data": 1.0}    # s_m of SGDM's m0 variants (ours)
VARIANTS = ("zero", "rnd", "data")
VARIANT_LABEL = {"zero": "v0 = 0", "rnd": "v0,rnd", "data": "v0,data"}

# name -> (v0ref.backends.torch class, lr, extra keyword arguments, torch.optim class or None)
OPTIMIZERS = {
    "SGDM": ("SGD", 0.1, dict(momentum=0.9, weight_decay=5e-4), "SGD"),
    "Adam": ("Adam", 3e-3, dict(), "Adam"),
    "AdamW": ("AdamW", 3e-3, dict(weight_decay=5e-4), "AdamW"),
    "AdaBound": ("AdaBound", 3e-3, dict(weight_decay=5e-4, final_lr=0.1, gamma=1e-3), None),
    "RAdam": ("RAdam", 3e-3, dict(weight_decay=5e-4), "RAdam"),
    "AdaBelief": ("AdaBelief", 3e-3, dict(weight_decay=5e-4), None),
}


@functools.lru_cache(maxsize=1)
def load_data() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(x_train, y_train, x_test, y_test)``: float32 images ``(n, 1, 8, 8)`` in [0, 1], int64 labels."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=TEST_SIZE, stratify=y, random_state=SPLIT_SEED)

    def images(a):
        return torch.tensor(a / 16.0, dtype=torch.float32).reshape(-1, 1, 8, 8)

    return images(x_tr), torch.tensor(y_tr), images(x_te), torch.tensor(y_te)


def make_model(seed: int) -> torch.nn.Module:
    """The CNN of the module docstring, initialized from ``torch.manual_seed(seed)``."""
    torch.manual_seed(seed)
    nn = torch.nn
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.Flatten(),
                         nn.Linear(512, 32), nn.ReLU(), nn.Linear(32, 10))


def loss_fn(model: torch.nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """Mean cross-entropy with label smoothing 0.1 (the repo's CIFAR loss)."""
    x, y = batch
    return torch.nn.functional.cross_entropy(model(x), y, label_smoothing=LABEL_SMOOTHING)


def batches(seed: int, epoch: int, x: torch.Tensor, y: torch.Tensor, size: int = BATCH):
    """The mini-batches of one epoch: a permutation seeded by ``(seed, epoch)``, the last batch short."""
    gen = torch.Generator().manual_seed(1_000_003 * seed + epoch)
    perm = torch.randperm(len(x), generator=gen)
    return [(x[perm[i:i + size]], y[perm[i:i + size]]) for i in range(0, len(x), size)]


def stats_batches(seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The batches the data-driven v0 reads: a permutation of its own (epoch index −1)."""
    x, y, _, _ = load_data()
    return batches(seed, -1, x, y)


def grad_moments_direct(model: torch.nn.Module, seed: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    r"""Mean and variance of the mini-batch mean gradients the data-driven v0 reads, without v0ref.

    Over the first K batches of `stats_batches` with K·B > ``DATA_SIZE`` (the repo's stop rule,
    ALGORITHMS §1.5), in float64 numpy:

    .. math:: \bar g = \tfrac1K\sum_k \bar g_k,\qquad
              \mathrm{Var}[\bar g] = \tfrac1K\sum_k \bar g_k^2 - \bar g^2 .

    Eq. 10 as the code estimates it is then ``σ·(ḡ² + B·Var[ḡ])`` and SGDM's data m0 ``s_m·ḡ``:
    the independent check of the ``v0="data"`` / ``m0`` paths.
    """
    params = list(model.parameters())
    grads, seen = [], 0
    for batch in stats_batches(seed):
        g = torch.autograd.grad(loss_fn(model, batch), params)
        grads.append([t.detach().double().numpy() for t in g])
        seen += len(batch[1])
        if seen > DATA_SIZE:
            break
    means, variances = [], []
    for i in range(len(params)):
        stack = np.stack([g[i] for g in grads])
        mean = stack.mean(axis=0)
        means.append(mean)
        variances.append((stack ** 2).mean(axis=0) - mean ** 2)
    return means, variances


def warmup_end(sigma_rho: float, beta2: float = 0.999) -> float:
    r"""The step t_w at which the v0 term of E[v̂_t] equals the gradients' own second moment.

    .. math:: σρ\,\frac{β_2^t}{1-β_2^t} = 1 \iff t_w = \frac{\ln(1 + σρ)}{-\ln β_2}

    (``E[v̂_t] = s_b(1 + σρ·β₂^t/(1−β₂^t))``, the NGOS expectation of ALGORITHMS §1.4 with
    v0 = σρ·s_b.)  Example: the paper's σ = 1 at ρ = B = 128 gives 4857 steps.
    """
    return math.log1p(sigma_rho) / -math.log(beta2)


def steps_per_epoch() -> int:
    return math.ceil(len(load_data()[0]) / BATCH)


def scale_rule(seed: int, *, steps: int) -> dict:
    """The numbers behind ``DATA_SIGMA`` and ``RND_SIGMA`` at the initial weights of ``seed``.

    ρ = E[g²]/s_b over all weights (per-sample second moment ḡ² + B·Var[ḡ] over the mini-batch
    one ḡ² + Var[ḡ]); the mean over all weight elements (tensors with ≥ 2 dimensions) of the rnd v0
    at s = 1 and of E[g²]; t_w of `warmup_end` for our σ and for the paper's (σ = 1, ρ = 128 assumed,
    78 200 steps).
    """
    import v0ref

    model = make_model(seed)
    params = [p.detach() for p in model.parameters()]
    means, variances = grad_moments_direct(model, seed)
    weights = [i for i, p in enumerate(params) if p.ndim >= 2]
    count = sum(params[i].numel() for i in weights)
    per_sample = sum(float((means[i] ** 2 + BATCH * variances[i]).sum()) for i in weights)
    per_batch = sum(float((means[i] ** 2 + variances[i]).sum()) for i in weights)
    rnd = v0ref.moments.resolve("v0", "random", params, scale=1.0, key=seed)
    rho = per_sample / per_batch
    t_w = warmup_end(DATA_SIGMA * rho)
    paper_t_w = warmup_end(1.0 * 128)
    return dict(rho=rho, data_mean_per_unit_sigma=per_sample / count,
                rnd_mean_per_unit_s=sum(float(rnd[i].sum()) for i in weights) / count,
                warmup_end_steps=t_w, steps=steps, warmup_fraction=t_w / steps,
                paper_warmup_end_steps=paper_t_w, paper_steps=78_200, paper_warmup_fraction=paper_t_w / 78_200)


def make_optimizer(name: str, variant: str, model: torch.nn.Module, *, seed: int, sigma: float | None = None,
                   torch_reference: bool = False) -> torch.optim.Optimizer:
    """The optimizer ``name`` (a key of `OPTIMIZERS`) with the v0 (SGDM: m0) ``variant``.

    ``sigma`` is the scale s of the variant (``v0_scale`` / ``m0_scale``); ``torch_reference=True``
    builds torch.optim's own class instead (v0 = 0 only).
    """
    from v0ref.backends import torch as port

    cls_name, lr, extra, ref = OPTIMIZERS[name]
    if torch_reference:
        if ref is None or variant != "zero":
            raise ValueError(f"torch.optim has no reference for {name} / {variant}")
        return getattr(torch.optim, ref)(model.parameters(), lr=lr, **extra)
    cls = getattr(port, cls_name)
    kw = dict(extra)
    if variant == "zero":
        pass
    elif name == "SGDM":                      # the repo initializes SGD's momentum buffer instead
        s = SGD_M0_SCALE[variant] if sigma is None else sigma
        if variant == "rnd":
            kw.update(m0="random", m0_scale=s, key=seed)
        else:
            kw.update(m0=port.data_v0(model, loss_fn, stats_batches(seed), which="m0", scale=s,
                                      data_size=DATA_SIZE, progress=False))
    elif variant == "rnd":
        kw.update(v0="random", v0_scale=RND_SIGMA if sigma is None else sigma, key=seed)
    elif variant == "data":
        kw.update(v0="data", v0_scale=DATA_SIGMA if sigma is None else sigma, model=model, loss_fn=loss_fn,
                  batches=stats_batches(seed), data_options=dict(data_size=DATA_SIZE, progress=False))
    else:
        raise ValueError(f"variant must be one of {VARIANTS}; got {variant!r}")
    return cls(model.parameters(), lr=lr, **kw)


@dataclass
class Run:
    """One training run: final test accuracy (%), losses per epoch, and whether all stayed finite."""

    optimizer: str
    variant: str
    seed: int
    sigma: float | None
    accuracy: float
    test_loss: float
    train_loss: list[float] = field(default_factory=list)
    finite: bool = True
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return dict(optimizer=self.optimizer, variant=self.variant, seed=self.seed, sigma=self.sigma,
                    accuracy=self.accuracy, test_loss=self.test_loss, train_loss=self.train_loss,
                    finite=self.finite, seconds=round(self.seconds, 3))


def lr_factor(epoch: int, epochs: int) -> float:
    """The repo's step schedule: 0.2^(number of DECAY_AT fractions ≤ epoch/epochs)."""
    return DECAY ** sum(epoch >= math.ceil(f * epochs) for f in DECAY_AT)


def train(name: str, variant: str, *, seed: int, epochs: int, sigma: float | None = None,
          torch_reference: bool = False, return_model: bool = False):
    """Train the CNN of ``seed`` with one optimizer and v0 variant; return a `Run`
    (and the model when ``return_model``)."""
    start = time.perf_counter()
    x, y, x_te, y_te = load_data()
    model = make_model(seed)
    opt = make_optimizer(name, variant, model, seed=seed, sigma=sigma, torch_reference=torch_reference)
    base = [g["lr"] for g in opt.param_groups]
    curve, finite = [], True
    for epoch in range(epochs):
        for g, lr in zip(opt.param_groups, base):
            g["lr"] = lr * lr_factor(epoch, epochs)
        total, count = 0.0, 0
        for batch in batches(seed, epoch, x, y):
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model, batch)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(batch[1])
            count += len(batch[1])
        curve.append(total / count)
        if not math.isfinite(curve[-1]):
            finite = False
            break
    with torch.no_grad():
        logits = model(x_te)
        acc = 100.0 * float((logits.argmax(1) == y_te).double().mean())
        test_loss = float(torch.nn.functional.cross_entropy(logits, y_te))
    finite = finite and math.isfinite(test_loss) and all(bool(torch.isfinite(p).all()) for p in model.parameters())
    run = Run(name, variant, seed, sigma, acc, test_loss, curve, finite, time.perf_counter() - start)
    return (run, model) if return_model else run
