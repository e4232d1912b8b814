"""A real small model trains with every v0ref torch optimizer and every v0/m0 strategy family.

Model: an MLP 64-32-10 (tanh) on scikit-learn's bundled digits data (1797 8×8 images, no download),
full-batch cross-entropy, float32, 30 steps.  Claim checked: the loss after 30 steps is at most
``MARGIN`` × the starting loss (ln 10 ≈ 2.3 at a random start), for every element-wise class of
`v0ref.backends.torch` and every strategy family its moments accept (zeros, constant, the paper's
χ² random v0 (Eq. 11), the repo's Xavier/Kaiming random v0, the data-driven v0 (Eq. 10) through
``v0="data"`` with ``loss_fn``/``batches``/``model`` and through ``grad_stats=``, the repo's
grad-mean and the layer constant).

Scales: a non-zero v0 acts as a warm-up (with bias correction kept, ``v̂₁ ≈ β₂/(1−β₂)·v0 + g²``,
ALGORITHMS §1.7), so the scales below put ``β₂/(1−β₂)·v0`` near the gradients' own second moment;
with the paper's larger scales the same 30 steps move the loss much less, which is the method
working, not failing.
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
datasets = pytest.importorskip("sklearn.datasets")

import v0ref  # noqa: E402
from v0ref.backends._torch_data import grad_stats  # noqa: E402

T = pytest.importorskip("v0ref.backends.torch")

STEPS = 30
MARGIN = 0.8
LR = dict(adabelief=1e-2, adabound=1e-2, adadelta=1.0, adagrad=5e-2, adam=1e-2, adamax=2e-2, adamw=1e-2,
          amsbound=1e-2, amsgrad=1e-2, nadam=1e-2, radam=5e-2, rmsprop=1e-2, sgd=0.5, signsgd=1e-2,
          signum=1e-2, yogi=1e-2)
EXTRA = dict(sgd=dict(momentum=0.9))
# strategy -> scale (see the module docstring); "data"/"grad-mean" use the data-driven statistics
V0_SCALES = {"zeros": 1.0, "constant": 1e-7, "random-chi2": 1e-3, "random": 1e-4, "random-kaiming": 1e-4,
             "data": 1e-3, "grad-mean": 1e-3, "constant-layer": 1e-5}
M0_STRATEGIES = [None, "random", "data"]
ELEMENTWISE = [name for name, alg in v0ref.OPTIMIZERS.items() if alg.kind == "elementwise"]


@pytest.fixture(scope="module")
def digits():
    x, y = datasets.load_digits(return_X_y=True)
    x = torch.tensor(x / 16.0, dtype=torch.float32)
    y = torch.tensor(y)
    return x, y, [(x[i:i + 128], y[i:i + 128]) for i in range(0, len(x), 128)]


def make_model() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.Tanh(), torch.nn.Linear(32, 10))


def loss_fn(model, batch):
    x, y = batch
    return torch.nn.functional.cross_entropy(model(x), y)


def train(opt, model, x, y) -> tuple[float, float]:
    with torch.no_grad():
        start = loss_fn(model, (x, y)).item()
    for _ in range(STEPS):
        opt.zero_grad()
        loss_fn(model, (x, y)).backward()
        opt.step()
    with torch.no_grad():
        return start, loss_fn(model, (x, y)).item()


def cases():
    for name in ELEMENTWISE:
        alg = v0ref.OPTIMIZERS[name]
        if alg.second_moment:
            yield from ((name, "v0", s) for s in V0_SCALES)
        elif alg.first_moment:
            yield from ((name, "m0", s) for s in M0_STRATEGIES)
        else:
            yield name, None, None


@pytest.mark.parametrize("name,which,strategy", list(cases()))
def test_digits_mlp_trains(digits, name, which, strategy):
    x, y, batches = digits
    model = make_model()
    kwargs = dict(EXTRA.get(name, {}))
    if which == "v0":
        kwargs.update(v0=strategy, v0_scale=V0_SCALES[strategy])
        if strategy == "data":             # the constructor runs data_v0 over the batches
            kwargs.update(loss_fn=loss_fn, batches=batches, model=model, data_options=dict(data_size=1000))
        elif strategy == "grad-mean":
            kwargs.update(grad_stats=grad_stats(model, loss_fn, batches, data_size=1000))
        elif strategy.startswith("random"):
            kwargs.update(key=0)
    elif which == "m0":
        kwargs.update(m0=strategy)
        if strategy == "data":
            kwargs.update(grad_stats=grad_stats(model, loss_fn, batches, data_size=1000), m0_scale=0.1)
        elif strategy == "random":
            kwargs.update(key=0, m0_scale=0.1)
    opt = T.optimizer_class(name)(model.parameters(), lr=LR[name], **kwargs)
    if which == "v0" and strategy != "zeros":     # the strategy reached the state: some v0 is non-zero
        assert any(torch.count_nonzero(t) > 0 for st in opt.state.values() for t in st.values()
                   if isinstance(t, torch.Tensor) and t.ndim > 0)
    start, end = train(opt, model, x, y)
    assert end <= MARGIN * start, f"{name} {which}={strategy}: loss {start:.3f} -> {end:.3f}"


def test_v0ref_optimizer_with_data_v0(digits):
    # the public factory: v0ref.use("torch"); v0ref.optimizer("adam", ..., v0="data", loss_fn=, batches=, model=)
    x, y, batches = digits
    model = make_model()
    with v0ref.use("torch"):
        opt = v0ref.optimizer("adam", model.parameters(), lr=1e-2, v0="data", v0_scale=1e-3, loss_fn=loss_fn,
                              batches=batches, model=model, data_options=dict(data_size=1000))
    assert isinstance(opt, torch.optim.Optimizer)
    stats = grad_stats(make_model(), loss_fn, batches, data_size=1000)
    expected = v0ref.moments.resolve("v0", "data", [torch.zeros(s, dtype=torch.float64) for s in stats.shapes],
                                     scale=1e-3, stats=stats)
    got = [opt.state[p]["exp_avg_sq"] for p in model.parameters()]
    for g, e in zip(got, expected):
        torch.testing.assert_close(g, e.float(), rtol=1e-6, atol=0)
    start, end = train(opt, model, x, y)
    assert end <= MARGIN * start
