"""GradStats: streaming E[g], E[g²], Var[g] against two-pass NumPy, and the two Eq. 10 forms."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from v0ref import moments
from v0ref.stats import GradStats

from .conftest import to_numpy


def _two_pass(samples):
    data = np.stack(samples)
    return data.mean(0), data.var(0), (data ** 2).mean(0)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 40), shape=st.lists(st.integers(0, 3), max_size=3).map(tuple),
       seed=st.integers(0, 2**31), offset=st.floats(-1e3, 1e3), chunk=st.integers(1, 7))
def test_matches_two_pass_numpy(n, shape, seed, offset, chunk):
    """One at a time, in batches and merged: the same mean/var/E[g²] as np.mean/np.var, float64."""
    rng = np.random.default_rng(seed)
    samples = [offset + rng.standard_normal(shape) for _ in range(n)]
    mean, var, sq = _two_pass(samples)
    params = [np.zeros(shape, dtype=np.float32)]

    one = GradStats(params, mode="per_sample", data_size=10**6)
    for s in samples:
        one.update([s.astype(np.float64)])
    batched = GradStats(params, mode="per_sample", data_size=10**6)
    for i in range(0, n, chunk):
        batched.update_batch([np.stack(samples[i:i + chunk])])
    left = GradStats(params, mode="per_sample", data_size=10**6)
    right = GradStats(params, mode="per_sample", data_size=10**6)
    for i, s in enumerate(samples):
        (left if i % 3 else right).update([s])
    merged = left.merge(right)
    scale = max(1.0, abs(offset)) ** 2
    for stats in (one, batched, merged):
        assert stats.count == n
        np.testing.assert_allclose(stats.mean[0], mean, rtol=1e-12, atol=1e-12 * scale)
        np.testing.assert_allclose(stats.var[0], var, rtol=1e-9, atol=1e-9 * scale)
        np.testing.assert_allclose(stats.mean_sq[0], sq, rtol=1e-9, atol=1e-9 * scale)
        assert stats.mean[0].dtype == np.float64


def test_runs_on_array_api_strict(xp):
    params = [xp.zeros((2, 2), dtype=xp.float32)]
    stats = GradStats(params, mode="minibatch", batch_size=4)
    stats.update([xp.ones((2, 2), dtype=xp.float32)])
    stats.update([xp.full((2, 2), 3.0, dtype=xp.float32)])
    assert stats.mean[0].dtype == xp.float64
    np.testing.assert_array_equal(to_numpy(stats.mean[0]), 2.0)
    np.testing.assert_array_equal(to_numpy(stats.var[0]), 1.0)


def test_repo_stop_rule():
    """First K with K·B > data_size: B = 128, 5000 samples -> K = 40 (5120 samples)."""
    stats = GradStats([np.zeros(1)], mode="minibatch", batch_size=128, data_size=5000)
    k = 0
    while not stats.update([np.ones(1)]):
        k += 1
    assert stats.count == 40 and stats.samples == 5120
    per = GradStats([np.zeros(1)], mode="per_sample", data_size=3)
    assert [per.update([np.ones(1)]) for _ in range(3)] == [False, False, True]


def test_per_sample_and_minibatch_forms_agree_on_linear_regression():
    """Eq. 10 two ways on ℓ_i = ½(w·x_i − y_i)²: per-sample E[g]² + Var[g] vs minibatch ḡ² + B·Var[ḡ].

    Means agree exactly (equal batches partition the data); the variance forms agree in
    expectation, here within 10 % with 5000 batches of 20.
    """
    rng = np.random.default_rng(0)
    n, d, b = 100_000, 5, 20
    x = rng.standard_normal((n, d))
    y = x @ rng.standard_normal(d) + 0.5 * rng.standard_normal(n)
    w = np.zeros(d)
    per_sample_grads = (x @ w - y)[:, None] * x
    per = GradStats([w], mode="per_sample", data_size=n)
    per.update_batch([per_sample_grads])
    mini = GradStats([w], mode="minibatch", batch_size=b, data_size=n)
    for batch in rng.permutation(n).reshape(-1, b):
        mini.update([per_sample_grads[batch].mean(0)])
    np.testing.assert_allclose(mini.mean[0], per.mean[0], rtol=1e-12)
    v_per = moments.from_stats(per, "mean_var")[0]
    v_mini = moments.from_stats(mini, "mean_var")[0]
    np.testing.assert_allclose(v_per, per.mean_sq[0], rtol=1e-12)   # E[g]² + Var[g] = E[g²]
    np.testing.assert_allclose(v_mini, v_per, rtol=0.1)


def test_errors_name_the_parameter():
    p = [np.zeros(2)]
    with pytest.raises(ValueError, match="mode must be one of 'minibatch', 'per_sample'; got 'batch'"):
        GradStats(p, mode="batch")
    with pytest.raises(ValueError, match=r"batch_size must be a positive int \(or None\) in minibatch mode; got 0"):
        GradStats(p, mode="minibatch", batch_size=0)
    with pytest.raises(ValueError, match="data_size must be a positive int; got 0"):
        GradStats(p, mode="per_sample", data_size=0)
    stats = GradStats(p, mode="per_sample")
    with pytest.raises(ValueError, match="has seen no gradient yet"):
        stats.mean
    with pytest.raises(ValueError, match=r"grads\[0\] has shape \(3,\); expected \(2,\)"):
        stats.update([np.zeros(3)])
    with pytest.raises(ValueError, match="got 2 gradients for 1 parameters"):
        stats.update([np.zeros(2), np.zeros(2)])
    with pytest.raises(ValueError, match="can only merge"):
        stats.merge(GradStats(p, mode="minibatch", batch_size=2))


def test_design_api_batch_size_given_late():
    """DESIGN's public API: GradStats(params), then from_stats(..., batch_size=B)."""
    rng = np.random.default_rng(4)
    params = [np.zeros(3)]
    stats = GradStats(params)
    grads = [rng.standard_normal(3) for _ in range(10)]
    assert [stats.update([g]) for g in grads] == [False] * 10      # no stop rule without B
    v0 = moments.from_stats(stats, kind="mean_var", scale=1.0, batch_size=16)[0]
    data = np.stack(grads)
    np.testing.assert_allclose(v0, data.mean(0) ** 2 + 16 * data.var(0), rtol=1e-12)
    with pytest.raises(ValueError, match="needs batch_size"):
        moments.from_stats(stats, kind="mean_var")
    with pytest.raises(ValueError, match="needs the mini-batch size"):
        stats.done
    np.testing.assert_allclose(moments.from_stats(stats, kind="mean")[0], data.mean(0) ** 2, rtol=1e-12)
