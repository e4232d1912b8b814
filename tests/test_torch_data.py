"""Data-driven v0 on torch (`v0ref.backends._torch_data`) against closed-form gradients and the oracle.

The model is a linear layer with a mean-squared-error loss, ``loss = mean_{i,o} (W x_i + b − y_i)_o²``,
whose gradients are known in closed form: for a batch of n samples with residuals ``r = x Wᵀ + b − y``
(shape ``(n, out)``), ``∇_W = 2/(n·out)·rᵀ x`` and ``∇_b = 2/(n·out)·Σ_i r_i``.  The oracle's
statistics are computed with NumPy from those formulas and `v0ref.stats.GradStats` (Welford), with
the repo's stop rule, independently of torch's autograd, vmap and the module's shifted sums.
"""

from __future__ import annotations

import datetime
import os
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

from v0ref import moments  # noqa: E402
from v0ref import random as v0random  # noqa: E402
from v0ref.backends._torch_data import DATA_KINDS, data_v0, grad_stats  # noqa: E402
from v0ref.stats import GradStats  # noqa: E402

RTOL = 1e-12   # float64 statistics of float64 gradients: only summation-order rounding differs


# ------------------------------------------------------------------------------------- problem

def mse(model, batch):
    x, y = batch
    return ((model(x) - y) ** 2).mean()


def problem(seed: int, n: int, d_in: int = 3, d_out: int = 2):
    rng = np.random.default_rng(seed)
    model = torch.nn.Linear(d_in, d_out, dtype=torch.float64)
    with torch.no_grad():
        model.weight.copy_(torch.from_numpy(rng.standard_normal((d_out, d_in))))
        model.bias.copy_(torch.from_numpy(rng.standard_normal(d_out)))
    x, y = rng.standard_normal((n, d_in)), rng.standard_normal((n, d_out)) + 0.5
    return model, x, y


def batches_of(x, y, size):
    return [(torch.from_numpy(x[i:i + size]), torch.from_numpy(y[i:i + size])) for i in range(0, len(x), size)]


def closed_grads(model, x, y):
    """Mean-loss gradient of one batch, (∇_W, ∇_b), NumPy float64."""
    w, b = model.weight.detach().numpy(), model.bias.detach().numpy()
    r = x @ w.T + b - y
    scale = 2.0 / r.size
    return [scale * r.T @ x, scale * r.sum(axis=0)]


def oracle_stats(model, x, y, *, mode, batch, data_size):
    """The repo's estimate: minibatch means until K·B > data_size, or exactly data_size samples."""
    shapes = [np.zeros(tuple(p.shape)) for p in model.parameters()]
    if mode == "minibatch":
        stats = GradStats(shapes, mode="minibatch", batch_size=min(batch, len(x)), data_size=data_size)
        for i in range(0, len(x), batch):
            if stats.update(closed_grads(model, x[i:i + batch], y[i:i + batch])):
                break
    else:
        stats = GradStats(shapes, mode="per_sample", data_size=data_size)
        for i in range(len(x)):
            if stats.update(closed_grads(model, x[i:i + 1], y[i:i + 1])):
                break
    return stats


def assert_tensors_close(actual, expected, rtol=RTOL, atol=1e-300):
    assert len(actual) == len(expected)
    for a, e in zip(actual, expected):
        e = np.asarray(e.detach().cpu() if isinstance(e, torch.Tensor) else e)
        assert isinstance(a, torch.Tensor)
        assert tuple(a.shape) == e.shape
        np.testing.assert_allclose(a.detach().cpu().numpy(), e, rtol=rtol, atol=atol)


# ------------------------------------------------------------------------------------- the oracle

@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**16), n=st.integers(1, 50), batch=st.integers(1, 12), data_size=st.integers(1, 70),
       mode=st.sampled_from(["minibatch", "per_sample"]),
       kind=st.sampled_from([k for k in DATA_KINDS if k != "grad-mean-random"]),
       scale=st.floats(0.0, 1e3), which=st.sampled_from(["v0", "m0"]))
def test_v0_equals_the_oracle_strategy_on_closed_form_gradients(seed, n, batch, data_size, mode, kind, scale,
                                                                   which):
    if which == "m0" and moments.STRATEGIES[kind].m0 is None:
        which = "v0"
    model, x, y = problem(seed, n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)        # data may run out before data_size
        v0 = data_v0(model, mse, batches_of(x, y, batch), mode=mode, data_size=data_size, kind=kind,
                     scale=scale, which=which)
    stats = oracle_stats(model, x, y, mode=mode, batch=batch, data_size=data_size)
    expected = moments.resolve(which, kind, [np.zeros(tuple(p.shape)) for p in model.parameters()],
                               scale=scale, stats=stats)
    assert all(v.dtype == torch.float64 for v in v0)
    assert_tensors_close(v0, expected)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**16), n=st.integers(2, 40), batch=st.integers(1, 8),
       mode=st.sampled_from(["minibatch", "per_sample"]))
def test_statistics_equal_the_oracle_welford(seed, n, batch, mode):
    model, x, y = problem(seed, n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        got = grad_stats(model, mse, batches_of(x, y, batch), mode=mode, data_size=25)
    want = oracle_stats(model, x, y, mode=mode, batch=batch, data_size=25)
    assert (got.count, got.batch_size, got.mode, got.shapes) == (want.count, want.batch_size, want.mode, want.shapes)
    assert_tensors_close(got.mean, want.mean)
    # M2 carries the cancellation of both methods: compare at the scale of E[g²]
    for v_got, v_want, sq in zip(got.var, want.var, want.mean_sq):
        np.testing.assert_allclose(v_got.numpy(), v_want, rtol=1e-10, atol=1e-13 * float(np.max(sq)))


def test_data_v0_is_eq10_on_a_known_case():
    # y = 0, x = ±1 alternating, w = 1, no bias: per-sample gradient 2·w·x² = 2 always -> E² + Var = 4
    model = torch.nn.Linear(1, 1, bias=False, dtype=torch.float64)
    torch.nn.init.ones_(model.weight)
    x = torch.tensor([[1.0], [-1.0], [1.0], [-1.0]], dtype=torch.float64)
    y = torch.zeros(4, 1, dtype=torch.float64)
    v0 = data_v0(model, mse, [(x, y)], mode="per_sample", data_size=4, scale=0.5)
    assert v0[0].item() == 2.0                                       # 0.5·(4 + 0)
    # y = x: per-sample gradient 2·(w − 1)·x² + ... at w = 3: 4·x² = 4 -> again constant
    y = x.clone()
    torch.nn.init.constant_(model.weight, 3.0)
    assert data_v0(model, mse, [(x, y)], mode="per_sample", data_size=4)[0].item() == 16.0


def test_grad_mean_random_matches_the_oracle_with_the_same_key():
    model, x, y = problem(3, 40)
    key = v0random.key(7)
    v0 = data_v0(model, mse, batches_of(x, y, 8), kind="grad-mean-random", key=key, data_size=20, scale=2.0)
    stats = oracle_stats(model, x, y, mode="minibatch", batch=8, data_size=20)
    expected = moments.resolve("v0", "grad-mean-random", [np.zeros(tuple(p.shape)) for p in model.parameters()],
                               scale=2.0, key=key, stats=stats)
    assert_tensors_close(v0, expected)


def test_min_ndim_and_dtype_of_the_result():
    model, x, y = problem(0, 32)
    model32 = torch.nn.Linear(3, 2)
    model32.load_state_dict({k: v.float() for k, v in model.state_dict().items()})
    batches = batches_of(x, y, 8)
    v64 = data_v0(model, mse, batches, data_size=20)
    assert all(v.abs().min() > 0 for v in v64)                       # data strategies: every tensor
    v2 = data_v0(model, mse, batches, data_size=20, min_ndim=2)
    assert torch.equal(v2[0], v64[0]) and torch.equal(v2[1], torch.zeros(2, dtype=torch.float64))
    v32 = data_v0(model32, mse, [(a.float(), b.float()) for a, b in batches], data_size=20)
    assert [v.dtype for v in v32] == [torch.float32, torch.float32]
    assert_tensors_close(v32, v64, rtol=1e-5)                        # float32 gradients


@pytest.mark.parametrize("mode", ["minibatch", "per_sample"])
@pytest.mark.parametrize("block,fold_chunk", [(16, 1 << 18), (3, 5)])
def test_float32_gradients_fold_into_float64_totals(monkeypatch, mode, block, fold_chunk):
    # float32 gradients are summed in float32 blocks folded into float64 (chunked): the result must
    # match the float64 oracle of the same data to float32 accuracy, whatever the block and chunk
    from v0ref.backends import _torch_data
    monkeypatch.setattr(_torch_data._Shifted, "BLOCK", block)
    monkeypatch.setattr(_torch_data._Shifted, "FOLD_CHUNK", fold_chunk)
    model, x, y = problem(21, 200, d_in=5, d_out=3)
    model32 = torch.nn.Linear(5, 3)
    model32.load_state_dict({k: v.float() for k, v in model.state_dict().items()})
    batches = [(a.float(), b.float()) for a, b in batches_of(x, y, 4)]
    stats = grad_stats(model32, mse, batches, mode=mode, data_size=150)
    want = oracle_stats(model, x, y, mode=mode, batch=4, data_size=150)
    assert stats.count == want.count and all(m.dtype == torch.float64 for m in stats.mean + stats.var)
    assert_tensors_close(stats.mean, want.mean, rtol=2e-5, atol=1e-6)
    assert_tensors_close(stats.var, want.var, rtol=2e-5)
    assert_tensors_close(data_v0(model32, None, None, stats=stats),
                         [v.astype(np.float32) for v in moments.from_stats(want)], rtol=2e-5)


# ------------------------------------------------------------------------------------- modes and stop rule

def test_per_sample_equals_minibatch_with_batch_size_one():
    model, x, y = problem(11, 60)
    d = 37
    # minibatch, B = 1: stops after the first K with K·1 > 37, i.e. 38 samples;
    # per-sample covers exactly data_size samples, so data_size = 38 sees the same ones
    mb = grad_stats(model, mse, batches_of(x, y, 1), mode="minibatch", data_size=d)
    ps = grad_stats(model, mse, batches_of(x, y, 7), mode="per_sample", data_size=d + 1)
    assert (mb.count, ps.count, mb.batch_size, ps.batch_size) == (38, 38, 1, 1)
    assert_tensors_close(mb.mean, ps.mean)
    assert_tensors_close(mb.var, ps.var, rtol=1e-11)
    assert_tensors_close(moments.from_stats(mb), moments.from_stats(ps), rtol=1e-11)


def test_per_sample_does_not_depend_on_batching_or_chunking():
    model, x, y = problem(5, 50)
    ref = grad_stats(model, mse, batches_of(x, y, 50), mode="per_sample", data_size=41)
    for batch, chunk in [(1, None), (6, None), (9, 4), (50, 1)]:
        got = grad_stats(model, mse, batches_of(x, y, batch), mode="per_sample", data_size=41, chunk_size=chunk)
        assert got.count == 41
        assert_tensors_close(got.mean, ref.mean)
        assert_tensors_close(got.var, ref.var, rtol=1e-11)


class Counting:
    """An iterable that counts how many batches were taken from it."""

    def __init__(self, batches):
        self.batches, self.taken = batches, 0

    def __iter__(self):
        for b in self.batches:
            self.taken += 1
            yield b


@pytest.mark.parametrize("batch,data_size,k", [(128, 5000, 40), (128, 5120, 41), (16, 15, 1), (16, 16, 2),
                                               (5, 49, 10)])
def test_minibatch_stop_rule_is_the_repos(batch, data_size, k):
    # the repo: stop after the first K with K·B > data_size (CNN: B = 128, 5000 -> K = 40); nothing more is read
    x = np.zeros((batch * (k + 3), 1))
    model = torch.nn.Linear(1, 1, dtype=torch.float64)
    data = Counting(batches_of(x, x, batch))
    stats = grad_stats(model, mse, data, data_size=data_size)
    assert stats.count == k and data.taken == k and stats.batch_size == batch and stats.done


def test_per_sample_takes_exactly_data_size_samples():
    model, x, y = problem(2, 30)
    data = Counting(batches_of(x, y, 8))
    stats = grad_stats(model, mse, data, mode="per_sample", data_size=19)   # 8 + 8 + 3 of the third
    assert stats.count == 19 and data.taken == 3
    want = oracle_stats(model, x, y, mode="per_sample", batch=8, data_size=19)
    assert_tensors_close(stats.mean, want.mean)


def test_running_out_of_data_warns_and_keeps_what_was_seen():
    model, x, y = problem(4, 21)
    with pytest.warns(UserWarning, match="ran out after 24 samples") as record:   # 3 batches of 8, the last short
        mb = grad_stats(model, mse, batches_of(x, y, 8), data_size=100)
    assert record[0].filename == __file__                                # the warning points at the caller
    with pytest.warns(UserWarning, match="ran out") as record:
        data_v0(model, mse, batches_of(x, y, 8), data_size=100)
    assert record[0].filename == __file__
    assert mb.count == 3 and mb.batch_size == 8
    with pytest.warns(UserWarning, match="ran out after 21 samples"):
        ps = grad_stats(model, mse, batches_of(x, y, 8), mode="per_sample", data_size=100)
    assert ps.count == 21


def test_batch_size_overrides_the_first_batch_length():
    model, x, y = problem(6, 40)
    stats = grad_stats(model, mse, batches_of(x, y, 4), batch_size=10, data_size=25)
    assert stats.count == 3 and stats.batch_size == 10                   # 3·10 > 25


def test_batches_as_mappings_and_named_tuples():
    from collections import namedtuple
    model, x, y = problem(8, 24)
    pair = namedtuple("Pair", "x y")

    def loss_map(m, b):
        return mse(m, (b["inputs"]["x"], b["y"]))

    ref = data_v0(model, mse, batches_of(x, y, 6), mode="per_sample", data_size=20)
    as_maps = [{"inputs": {"x": a}, "y": b, "tag": "train"} for a, b in batches_of(x, y, 6)]
    as_tuples = [pair(a, b) for a, b in batches_of(x, y, 6)]
    for mode in ("minibatch", "per_sample"):
        assert_tensors_close(data_v0(model, loss_map, as_maps, mode=mode, data_size=20),
                             data_v0(model, mse, as_tuples, mode=mode, data_size=20))
    assert_tensors_close(data_v0(model, loss_map, as_maps, mode="per_sample", data_size=20), ref)


# ------------------------------------------------------------------------------------- the model is left alone

class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.BatchNorm1d(8), torch.nn.ReLU(),
                                        torch.nn.Dropout(0.5), torch.nn.Linear(8, 1))

    def forward(self, x):
        return self.body(x)


def net_batches(n_batches=6, size=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(size, 4, generator=g), torch.randn(size, 1, generator=g)) for _ in range(n_batches)]


@pytest.mark.parametrize("mode", ["minibatch", "per_sample"])
def test_eval_mode_is_used_and_every_submodule_mode_restored(mode):
    torch.manual_seed(0)
    net = Net().train()
    net.body[3].eval()                        # a submodule deliberately in eval mode must stay so
    before = [m.training for m in net.modules()]
    seen = []

    def loss(m, b):
        seen.append((m.training, m.body[1].training))
        return mse(m, b)

    data_v0(net, loss, net_batches(), mode=mode, data_size=30)
    assert seen and all(s == (False, False) for s in seen)
    assert [m.training for m in net.modules()] == before


def test_train_mode_keeps_buffers_and_modes():
    torch.manual_seed(0)
    net = Net().train()
    buffers = {k: v.clone() for k, v in net.named_buffers()}
    tracked = []

    def loss(m, b):
        value = mse(m, b)
        tracked.append(int(m.body[1].num_batches_tracked))
        return value

    data_v0(net, loss, net_batches(), eval_mode=False, data_size=30)
    assert tracked[:3] == [1, 2, 3]                         # BatchNorm did update its statistics ...
    assert all(torch.equal(v, buffers[k]) for k, v in net.named_buffers())   # ... and they are restored
    assert all(m.training for m in net.modules())


@pytest.mark.parametrize("mode", ["minibatch", "per_sample"])
def test_grads_and_params_are_untouched(mode):
    torch.manual_seed(1)
    net = Net()
    params = [p.detach().clone() for p in net.parameters()]
    first = net.body[0].weight
    marker = torch.full_like(first, 7.0)
    first.grad = marker
    data_v0(net, mse, net_batches(), mode=mode, data_size=30)
    assert first.grad is marker and torch.equal(first.grad, torch.full_like(first, 7.0))
    assert all(p.grad is None for p in net.parameters() if p is not first)
    assert all(torch.equal(p, q) for p, q in zip(net.parameters(), params))


def test_params_selects_and_orders_and_frozen_ones_are_skipped():
    model, x, y = problem(9, 30)
    w, b = model.weight, model.bias
    full = data_v0(model, mse, batches_of(x, y, 5), data_size=20)
    sub = data_v0(model, mse, batches_of(x, y, 5), data_size=20, params=[b, w])
    assert torch.equal(sub[0], full[1]) and torch.equal(sub[1], full[0])
    b.requires_grad_(False)
    only_w = data_v0(model, mse, batches_of(x, y, 5), data_size=20)
    assert len(only_w) == 1 and torch.equal(only_w[0], full[0])
    for mode in ("minibatch", "per_sample"):   # per-sample: a frozen parameter enters as a constant
        assert_tensors_close(data_v0(model, mse, batches_of(x, y, 5), mode=mode, data_size=20, params=[w]),
                             data_v0(model, mse, batches_of(x, y, 5), mode=mode, data_size=20))


def test_unused_parameter_gets_zero_statistics():
    model, x, y = problem(10, 20)
    extra = torch.nn.Linear(2, 2, dtype=torch.float64)
    holder = torch.nn.ModuleDict({"lin": model, "unused": extra})
    v0 = data_v0(holder, lambda m, b: mse(m["lin"], b), batches_of(x, y, 5), data_size=12)
    assert len(v0) == 4 and all(torch.count_nonzero(v) == 0 for v in v0[2:])


def test_stats_are_reusable_and_device_keyword():
    model, x, y = problem(12, 30)
    stats = grad_stats(model, mse, batches_of(x, y, 5), data_size=20, device="cpu")
    direct = data_v0(model, mse, batches_of(x, y, 5), data_size=20)
    assert_tensors_close(data_v0(model, None, None, stats=stats), direct, rtol=0)
    assert_tensors_close(data_v0(model, None, None, stats=stats, which="m0", scale=3.0),
                         [3.0 * m for m in stats.mean], rtol=0)


def test_complex_parameters_are_measured_as_real_pairs():
    torch.manual_seed(2)
    w = torch.nn.Parameter(torch.randn(3, dtype=torch.complex128))
    model = torch.nn.Module()
    model.w = w
    xs = [torch.randn(4, 3, dtype=torch.complex128) for _ in range(5)]

    def loss(m, b):
        return ((b * m.w).sum(dim=-1).abs() ** 2).mean()

    with pytest.warns(UserWarning, match="ran out"):
        v0 = data_v0(model, loss, xs, data_size=100, min_ndim=0)
    assert v0[0].dtype == torch.complex128 and v0[0].shape == (3,)
    stats = GradStats([np.zeros((3, 2))], mode="minibatch", batch_size=4)
    for b in xs:
        (g,) = torch.autograd.grad(loss(model, b), [w])
        stats.update([torch.view_as_real(g).numpy()])
    expected = moments.from_stats(stats)[0]
    np.testing.assert_allclose(torch.view_as_real(v0[0]).numpy(), expected, rtol=RTOL)
    ps = data_v0(model, loss, xs, data_size=20, mode="per_sample")
    assert ps[0].dtype == torch.complex128 and torch.all(torch.view_as_real(ps[0]) > 0)


def test_progress_bar_runs_and_changes_nothing(capsys):
    model, x, y = problem(13, 40)
    quiet = data_v0(model, mse, batches_of(x, y, 4), data_size=30, progress=False)
    loud = data_v0(model, mse, batches_of(x, y, 4), data_size=30, progress=True)
    loud_ps = data_v0(model, mse, batches_of(x, y, 4), data_size=30, progress=True, mode="per_sample")
    assert_tensors_close(loud, quiet, rtol=0)
    assert_tensors_close(loud_ps, data_v0(model, mse, batches_of(x, y, 4), data_size=30, mode="per_sample"), rtol=0)
    assert capsys.readouterr().out == ""                  # the bar goes to stderr, never stdout


# ------------------------------------------------------------------------------------- errors

@pytest.mark.filterwarnings("ignore:batches ran out:UserWarning")
def test_invalid_arguments_name_the_parameter():
    model, x, y = problem(0, 8)
    data = batches_of(x, y, 4)
    cases = [
        (dict(mode="batch"), ValueError, "mode"),
        (dict(data_size=0), ValueError, "data_size"),
        (dict(data_size=2.5), ValueError, "data_size"),
        (dict(data_size=True), ValueError, "data_size"),
        (dict(batch_size=0), ValueError, "batch_size"),
        (dict(batch_size=4, mode="per_sample"), ValueError, "batch_size"),
        (dict(chunk_size=0, mode="per_sample"), ValueError, "chunk_size"),
        (dict(chunk_size=2), ValueError, "chunk_size"),
        (dict(kind="random"), ValueError, "kind"),
        (dict(which="v1"), ValueError, "which"),
        (dict(scale=-1.0), ValueError, "scale"),
        (dict(scale=float("nan")), ValueError, "scale"),
        (dict(min_ndim=-1), ValueError, "min_ndim"),
        (dict(eval_mode="yes"), ValueError, "eval_mode"),
        (dict(progress="auto"), ValueError, "progress"),
        (dict(device="no-such-device"), ValueError, "device"),
        (dict(params=[torch.zeros(2, requires_grad=True)]), ValueError, r"params\[0\]"),
        (dict(params=[]), ValueError, "params"),
        (dict(params=[model.bias, model.bias]), ValueError, r"params\[1\]"),
        (dict(params=model.bias), TypeError, "params"),
        (dict(group=object()), ValueError, "group"),
        (dict(kind="grad-mean-random"), ValueError, "key"),
    ]
    for kwargs, error, pattern in cases:
        with pytest.raises(error, match=pattern):
            data_v0(model, mse, data, **kwargs)
    with pytest.raises(TypeError, match="model"):
        data_v0(lambda x: x, mse, data)
    with pytest.raises(TypeError, match="loss_fn"):
        grad_stats(model, "mse", data)
    with pytest.raises(TypeError, match="batches"):
        grad_stats(model, mse, torch.zeros(3, 2))
    with pytest.raises(ValueError, match="no samples"):
        grad_stats(model, mse, [])
    with pytest.raises(ValueError, match="loss_fn must return a real scalar"):
        grad_stats(model, lambda m, b: m(b[0]) - b[1], data)
    with pytest.raises(ValueError, match="loss_fn must return a real scalar"):
        grad_stats(model, lambda m, b: m(b[0]) - b[1], data, mode="per_sample")
    with pytest.raises(ValueError, match="does not depend on the parameters"):
        grad_stats(model, lambda m, b: b[0].sum(), data)
    with pytest.raises(ValueError, match=r"batches\[0\].*batch length"):
        grad_stats(model, mse, [(torch.zeros(4, 3), torch.zeros(3, 2))], mode="per_sample")
    with pytest.raises(ValueError, match=r"batches\[1\] is empty"):
        grad_stats(model, mse, [data[0], (torch.zeros(0, 3), torch.zeros(0, 2))], data_size=100)
    with pytest.raises(ValueError, match="batch_size"):
        grad_stats(model, lambda m, b: mse(m, data[0]), ["a", "b"])
    with pytest.raises(ValueError, match="stats or loss_fn"):
        data_v0(model, mse, data, stats=grad_stats(model, mse, data))
    with pytest.raises(ValueError, match="loss_fn and batches"):
        data_v0(model, None, None)
    with pytest.raises(TypeError, match="stats"):
        data_v0(model, None, None, stats="stats")
    with pytest.raises(ValueError, match="shapes"):
        data_v0(model, None, None, stats=grad_stats(model, mse, data), params=[model.bias])


# ------------------------------------------------------------------------------------- two processes

# The list of batches is dealt round-robin to the ranks (rank r gets batches[r::2]), so the rounds
# of a distributed run visit the batches in the original order: one process over the whole list
# must give the same statistics, the stop rule included.
DIST_CASES = [  # (mode, batch, n, data_size, chunk)
    ("minibatch", 4, 46, 1000, None),     # 12 batches, the last short, shards 6/6; all data
    ("minibatch", 4, 40, 16, None),       # K = 5: the third round counts rank 0's batch only
    ("minibatch", 4, 36, 2, None),        # K = 1: rank 1 contributes nothing
    ("minibatch", 5, 45, 1000, None),     # 9 batches: uneven shards 5/4
    ("per_sample", 6, 50, 27, None),      # cut inside rank 0's third batch
    ("per_sample", 6, 50, 33, 4),         # cut inside rank 1's third batch, chunked vmap
    ("per_sample", 7, 30, 1000, None),    # uneven shards, all data
]


def _dist_worker(rank: int, world: int, folder: str) -> None:
    import torch.distributed as dist
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{folder}/rendezvous", rank=rank, world_size=world,
                            timeout=datetime.timedelta(seconds=120))
    try:
        results = []
        for i, (mode, batch, n, data_size, chunk) in enumerate(DIST_CASES):
            model, x, y = problem(100 + i, n)
            shard = batches_of(x, y, batch)[rank::world]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                stats = grad_stats(model, mse, shard, mode=mode, data_size=data_size, chunk_size=chunk)
                v0 = data_v0(model, None, None, stats=stats)
            results.append((stats.count, stats.batch_size, [t.clone() for t in v0], stats.mean, stats.var))
        torch.save(results, f"{folder}/rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_two_gloo_processes_give_one_process_v0(tmp_path):
    import torch.distributed as dist
    import torch.multiprocessing as mp
    if not dist.is_available() or not dist.is_gloo_available():
        pytest.skip("torch.distributed with gloo is not available")
    mp.spawn(_dist_worker, args=(2, str(tmp_path)), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in range(2)]
    for i, (mode, batch, n, data_size, chunk) in enumerate(DIST_CASES):
        r0, r1 = ranks[0][i], ranks[1][i]
        # every rank holds bit-identical statistics and v0
        assert r0[:2] == r1[:2]
        assert all(torch.equal(a, b) for a, b in zip(r0[2] + r0[3] + r0[4], r1[2] + r1[3] + r1[4])), DIST_CASES[i]
        # ... equal to one process over all the data, and to the closed-form oracle
        model, x, y = problem(100 + i, n)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            one = grad_stats(model, mse, batches_of(x, y, batch), mode=mode, data_size=data_size)
        want = oracle_stats(model, x, y, mode=mode, batch=batch, data_size=data_size)
        assert r0[0] == one.count == want.count and r0[1] == one.batch_size, DIST_CASES[i]
        assert_tensors_close(r0[2], data_v0(model, None, None, stats=one), rtol=1e-11)
        assert_tensors_close(r0[2], moments.from_stats(want), rtol=1e-11)


# ------------------------------------------------------------------------------------- compiled statistics kernels
# `_stats_kernel` must give the torch-op path's numbers bit for bit (minibatch sums, the v0 sweep)
# and the float64 statistics of the same float32/float64 values (per-sample rows).

from v0ref.backends import _stats_kernel  # noqa: E402
from v0ref.backends._torch_data import _Shifted  # noqa: E402


@pytest.fixture(scope="module")
def lib():
    found = _stats_kernel.kernels()
    if found is None:
        pytest.skip(f"no compiled statistics kernels here: {_stats_kernel.unavailable_reason()}")
    return found


def same_bits(a, b):
    """Equal dtype, shape and bit pattern (NaN payloads and the sign of zero included)."""
    if a is None or b is None:
        return a is b
    view = {torch.float32: torch.int32, torch.float64: torch.int64}[a.dtype]
    return a.dtype == b.dtype and a.shape == b.shape and torch.equal(a.view(view), b.view(view))


def observations(seed, shapes, n, dtype):
    g = torch.Generator().manual_seed(seed)
    # an offset mean, so the shift matters, and exact zeros (relu-like gradients)
    out = []
    for _ in range(n):
        obs = []
        for s in shapes:
            x = torch.randn(s, generator=g, dtype=torch.float64) * 3 + 0.5
            x[torch.rand(s, generator=g) < 0.1] = 0.0
            obs.append(x.to(dtype))
        out.append(obs)
    return out


def run_minibatch(obs, shapes, *, fused, twist=None):
    acc = _Shifted(shapes, [torch.device("cpu")] * len(shapes), fused=fused)
    for k, o in enumerate(obs):
        acc.add([twist(i, k, x) if twist else x.clone() for i, x in enumerate(o)])
    state = [list(acc.b1), list(acc.b2), list(acc.s1 or []), list(acc.s2 or [])]
    state = [[t.clone() for t in part] for part in state]
    return state, acc.moments()


ODD_SHAPES = st.lists(st.sampled_from([(1,), (3,), (7, 5), (33,), (17, 9), (0,), (2, 3, 4), (1031,)]),
                      min_size=1, max_size=12)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**16), shapes=ODD_SHAPES, n=st.integers(1, 23), block=st.sampled_from([2, 3, 16]),
       dtype=st.sampled_from([torch.float32, torch.float64]))
def test_fused_minibatch_sums_are_bit_identical_to_torch_ops(lib, seed, shapes, n, block, dtype):
    obs = observations(seed, shapes, n, dtype)
    saved = _Shifted.BLOCK
    _Shifted.BLOCK = block                     # folds at every 2nd/3rd observation, or never
    try:
        want_state, want = run_minibatch(obs, shapes, fused=False)
        got_state, got = run_minibatch(obs, shapes, fused=True)
    finally:
        _Shifted.BLOCK = saved
    for w_part, g_part in zip(want_state, got_state):   # partial sums and float64 totals
        assert len(w_part) == len(g_part) and all(same_bits(a, b) for a, b in zip(w_part, g_part))
    assert want[0] == got[0] == n
    assert all(same_bits(a, b) for a, b in zip(want[1] + want[2], got[1] + got[2]))


def test_fused_path_with_threads_and_large_tensors_is_bit_identical(lib):
    # more than 2·CHUNK elements: the OpenMP split; the split never changes an element's arithmetic
    shapes = [(3 * _stats_kernel.CHUNK + 11,), (1000, 70), (5,)]
    obs = observations(3, shapes, 6, torch.float32)
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        want_state, want = run_minibatch(obs, shapes, fused=False)
        torch.set_num_threads(2)
        got_state, got = run_minibatch(obs, shapes, fused=True)
    finally:
        torch.set_num_threads(threads)
    assert all(same_bits(a, b) for w, g in zip(want_state, got_state) for a, b in zip(w, g))
    assert all(same_bits(a, b) for a, b in zip(want[1] + want[2], got[1] + got[2]))


def test_tensors_the_kernel_cannot_take_fall_back_bit_identically(lib):
    shapes = [(6, 4), (9,), (5, 3), (4,)]
    obs = observations(5, shapes, 20, torch.float32)

    def twist(i, k, x):
        if i == 0:                              # non-contiguous: a transposed copy's view
            return x.t().contiguous().t()
        if i == 1 and k % 2:                    # float16 every other time: the torch path converts
            return x.to(torch.float16)
        if i == 2 and k >= 3:
            return x[None].expand(2, 5, 3)[1]   # a view into a shared buffer (contiguous, not owned)
        return x.clone()

    assert not twist(0, 1, obs[1][0]).is_contiguous()
    saved = _Shifted.BLOCK
    _Shifted.BLOCK = 4
    try:
        want_state, want = run_minibatch(obs, shapes, fused=False, twist=twist)
        got_state, got = run_minibatch(obs, shapes, fused=True, twist=twist)
    finally:
        _Shifted.BLOCK = saved
    assert all(same_bits(a, b) for w, g in zip(want_state, got_state) for a, b in zip(w, g))
    assert all(same_bits(a, b) for a, b in zip(want[1] + want[2], got[1] + got[2]))
    # the routing itself: the transposed tensor and a float16 one go to torch ops
    acc = _Shifted(shapes, [torch.device("cpu")] * 4, fused=True)
    acc.add([x.clone() for x in obs[0]])
    fast, slow = acc._split([twist(0, 1, obs[1][0]), obs[1][1].half(), obs[1][2], obs[1][3]])
    assert slow == [0, 1] and fast == {torch.float32: [2, 3]}


def test_the_addcmul_probe_matches_torch(lib):
    # the kernels follow torch's own rounding of addcmul_ on this build, whichever it is
    for dtype in (torch.float32, torch.float64):
        assert lib.usable(dtype), f"torch's addcmul_ matched neither rounding for {dtype}"
        g = torch.Generator().manual_seed(1)
        b, x, y = (torch.randn(4099, generator=g, dtype=dtype) for _ in range(3))
        out = torch.empty_like(b)
        lib._muladd[dtype](b.numel(), x.data_ptr(), y.data_ptr(), b.data_ptr(), out.data_ptr(), int(lib.fused[dtype]))
        assert same_bits(out, b.clone().addcmul_(x, y))
    # a dtype the probe could not match is left to torch ops
    acc = _Shifted([(3,)], [torch.device("cpu")], fused=True)
    saved = dict(lib.fused)
    try:
        lib.fused[torch.float32] = None
        acc.add([torch.ones(3)])
        assert acc._split([torch.ones(3)]) == ({}, [0])
    finally:
        lib.fused.update(saved)


FORMS = [("v0", "data"), ("v0", "grad-mean-var"), ("v0", "grad-mean"), ("v0", "grad-var"), ("v0", "grad-sq"),
         ("m0", "data"), ("m0", "grad-mean")]


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**16), shapes=ODD_SHAPES, n=st.integers(1, 40), form=st.sampled_from(FORMS),
       dtype=st.sampled_from([torch.float32, torch.float64]), out=st.sampled_from([torch.float32, torch.float64]),
       scale=st.floats(0.0, 1e3), batch=st.integers(1, 300))
def test_the_v0_sweep_is_bit_identical_to_moments_and_the_strategy(lib, seed, shapes, n, form, dtype, out, scale,
                                                                    batch):
    # `form` against `moments()` + GradStats + `moments.resolve` + the cast, on the same sums
    which, kind = form
    obs = observations(seed, shapes, n, dtype)
    accs = []
    for _ in range(2):
        acc = _Shifted(shapes, [torch.device("cpu")] * len(shapes), fused=True)
        for o in obs:
            acc.add([x.clone() for x in o])
        accs.append(acc)
    got, _ = accs[0].form(_torch_data_forms()[getattr(moments.STRATEGIES[kind], which)], dtypes=[out] * len(shapes),
                          scale=scale, batch=batch)
    assert accs[1].formable()
    saved = accs[1].formable
    accs[1].formable = lambda: False             # the torch route of moments()
    count, mean, m2 = accs[1].moments()
    accs[1].formable = saved
    stats = GradStats.from_moments(count, mean, m2, batch_size=batch)
    holders = [torch.zeros(s, dtype=torch.float64) for s in shapes]
    want = moments.resolve(which, kind, holders, scale=scale, stats=stats, min_ndim=0)
    assert all(same_bits(a, b.to(out)) for a, b in zip(got, want))


def test_form_writes_into_b1_for_every_tensor_or_none(lib):
    """`form` may overwrite ``b1`` (the v0 sweep's output, no new buffer), for every tensor of a
    call or for none; a fresh output gets the same bits."""
    gen = torch.Generator().manual_seed(3)
    c, b1, b2 = (torch.randn(2, 50, generator=gen) for _ in range(3))
    b2 = b2.abs()
    fresh = [torch.empty(50), torch.empty(50)]
    args = dict(count=7, what="mean_var", batch=32.0, scale=0.5)
    lib.form(list(c), list(b1), list(b2), None, None, fresh, **args)
    in_place = [t.clone() for t in b1]
    lib.form(list(c), in_place, list(b2), None, None, in_place, **args)
    assert all(same_bits(a, b) for a, b in zip(in_place, fresh))
    parts = list(b1)
    with pytest.raises(ValueError, match="every tensor or for none"):
        lib.form(list(c), parts, list(b2), None, None, [parts[0], torch.empty(50)], **args)


def _torch_data_forms():
    from v0ref.backends import _torch_data
    return _torch_data._FORMS


def test_moments_sweep_is_bit_identical_to_torch_ops(lib):
    shapes = [(40, 3), (7,), (1,)]
    for dtype in (torch.float32, torch.float64):
        obs = observations(9, shapes, 37, dtype)
        _, want = run_minibatch(obs, shapes, fused=False)
        _, got = run_minibatch(obs, shapes, fused=True)
        assert want[0] == got[0] and all(same_bits(a, b) for a, b in zip(want[1] + want[2], got[1] + got[2]))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_per_sample_rows_are_summed_in_float64(lib, dtype):
    # rows kernel: S1 = Σ (g_r − c), S2 = Σ (g_r − c)² in float64 of the given values; compare with
    # NumPy float64 sums of the same values (to a few float64 roundings, far below float32's)
    g = torch.Generator().manual_seed(4)
    shapes = [(5, 3), (1500,), (1,), (0,)]
    blocks = [[(torch.randn((n, *s), generator=g, dtype=torch.float64) * 2 + 1).to(dtype) for s in shapes]
              for n in (3, 1, 9, 4)]
    acc = _Shifted(shapes, [torch.device("cpu")] * len(shapes), fused=True)
    for b in blocks:
        acc.add_batch([x.clone() for x in b])
    assert all(acc._split(b, rows=True)[1] == [] for b in blocks)      # every block took the kernel
    count, mean, m2 = acc.moments()
    every = [np.concatenate([b[i].double().numpy() for b in blocks]) for i in range(len(shapes))]
    assert count == 17
    for got_mean, got_m2, x in zip(mean, m2, every):
        want_mean = x.mean(axis=0)
        want_m2 = ((x - want_mean) ** 2).sum(axis=0)
        np.testing.assert_allclose(got_mean.numpy(), want_mean, rtol=1e-13, atol=1e-14)
        np.testing.assert_allclose(got_m2.numpy(), want_m2, rtol=1e-12, atol=1e-12)


def test_per_sample_rows_with_strides_and_fallbacks(lib):
    # a row stride of 0 (expanded: every sample the same), a padded row stride, and rows that are
    # not contiguous (torch path) must all give the statistics of the same values
    shapes = [(4,), (3, 2), (2, 3)]
    g = torch.Generator().manual_seed(6)
    base = torch.randn(4, generator=g, dtype=torch.float64)
    padded = torch.randn(5, 8, generator=g, dtype=torch.float64)[:, :6].unflatten(1, (3, 2))
    transposed = torch.randn(5, 3, 2, generator=g, dtype=torch.float64).transpose(1, 2)
    grads = [base.expand(5, 4), padded, transposed]
    acc = _Shifted(shapes, [torch.device("cpu")] * 3, fused=True)
    acc.add_batch(grads)
    assert acc._split(grads, rows=True) == ({torch.float64: [0, 1]}, [2])
    count, mean, m2 = acc.moments()
    for got_mean, got_m2, x in zip(mean, m2, grads):
        x = x.contiguous().numpy()
        np.testing.assert_allclose(got_mean.numpy(), x.mean(axis=0), rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(got_m2.numpy(), ((x - x.mean(axis=0)) ** 2).sum(axis=0), rtol=1e-12, atol=1e-14)


def _float32_net(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(6, 9), torch.nn.Tanh(), torch.nn.Linear(9, 2))


@pytest.mark.parametrize("kind,which", [("data", "v0"), ("grad-sq", "v0"), ("data", "m0"), ("grad-mean-random", "v0")])
def test_data_v0_without_a_compiler_gives_the_same_bits(lib, monkeypatch, kind, which):
    # minibatch: the whole data_v0 is bit-identical with and without the compiled kernels
    net = _float32_net()
    g = torch.Generator().manual_seed(1)
    data = [(torch.randn(5, 6, generator=g), torch.randn(5, 2, generator=g)) for _ in range(12)]
    monkeypatch.setattr(_Shifted, "BLOCK", 4)
    kw = dict(data_size=50, kind=kind, which=which, key=3, scale=2.5)
    fused = data_v0(net, mse, data, **kw)
    stats = grad_stats(net, mse, data, data_size=50)
    monkeypatch.setattr(_stats_kernel, "kernels", lambda: None)
    plain = data_v0(net, mse, data, **kw)
    plain_stats = grad_stats(net, mse, data, data_size=50)
    assert all(v.dtype == torch.float32 for v in fused)
    assert all(same_bits(a, b) for a, b in zip(fused, plain))
    assert all(same_bits(a, b) for a, b in zip(stats.mean + stats.var, plain_stats.mean + plain_stats.var))


def test_per_sample_with_and_without_kernels_agree_with_the_oracle(lib, monkeypatch):
    model, x, y = problem(17, 60, d_in=4, d_out=3)
    model32 = torch.nn.Linear(4, 3)
    model32.load_state_dict({k: v.float() for k, v in model.state_dict().items()})
    batches = [(a.float(), b.float()) for a, b in batches_of(x, y, 8)]
    want = [v.astype(np.float32) for v in moments.from_stats(oracle_stats(model, x, y, mode="per_sample", batch=8,
                                                                           data_size=50))]
    fused = data_v0(model32, mse, batches, mode="per_sample", data_size=50, chunk_size=3)
    monkeypatch.setattr(_stats_kernel, "kernels", lambda: None)
    plain = data_v0(model32, mse, batches, mode="per_sample", data_size=50, chunk_size=3)
    assert_tensors_close(fused, want, rtol=2e-5)
    assert_tensors_close(plain, want, rtol=2e-5)


def test_fused_true_without_kernels_raises(monkeypatch):
    monkeypatch.setattr(_stats_kernel, "kernels", lambda: None)
    with pytest.raises(RuntimeError, match="statistics kernels"):
        _Shifted([(2,)], [torch.device("cpu")], fused=True)
    assert _Shifted([(2,)], [torch.device("cpu")]).lib is None        # fused=None: quietly torch ops


def test_the_sweep_follows_the_float64_probe_whatever_the_gradient_dtype(lib, monkeypatch):
    # M2 = S2 − S1²/K is a float64 addcmul_ even for float32 gradients: the sweep must take the
    # float64 rounding, not the float32 one (they may differ on some builds)
    shapes = [(300,), (7, 3)]
    obs = observations(12, shapes, 9, torch.float32)
    accs = []
    for _ in range(2):
        acc = _Shifted(shapes, [torch.device("cpu")] * 2, fused=True)
        for o in obs:
            acc.add([x.clone() for x in o])
        accs.append(acc)
    monkeypatch.setitem(lib.fused, torch.float32, not lib.fused[torch.float32])
    count, mean, m2 = accs[0].moments()
    monkeypatch.setattr(accs[1], "formable", lambda: False)
    want = accs[1].moments()
    assert count == want[0] and all(same_bits(a, b) for a, b in zip(mean + m2, want[1] + want[2]))
