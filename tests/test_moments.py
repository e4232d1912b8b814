"""v0/m0 strategies: exact formulas, Eq. 11 statistics, the ndim rule, fans, keys and errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

import v0ref
from v0ref import moments
from v0ref.moments import STRATEGIES, fans, resolve
from v0ref.stats import GradStats

from .conftest import to_numpy

KEY = v0ref.random.key(2024)


def test_fans_torch_and_jax_layouts():
    assert fans((64, 32, 3, 3)) == (288, 576)                   # ALGORITHMS §6.1 check value
    assert fans((3, 3, 32, 64), layout="jax") == (288, 576)
    assert fans((10, 20)) == (20, 10) and fans((10, 20), layout="jax") == (10, 20)
    assert fans((7,)) == (7, 7) and fans(()) == (1, 1)
    with pytest.raises(ValueError, match="layout must be one of 'torch', 'jax'; got 'tf'"):
        fans((2, 2), layout="tf")


def test_random_chi2_is_eq11():
    """v0 ~ σ/(fan_in+fan_out)·χ²₁: mean σ/(fi+fo) and a χ²₁ shape (KS test, fixed key)."""
    sigma, shape = 3.0, (256, 128)
    v0 = moments.random_chi2([np.zeros(shape), np.zeros(128)], scale=sigma, key=KEY)
    scaled = v0[0].ravel() * (256 + 128) / sigma
    assert abs(scaled.mean() - 1.0) < 5 * math.sqrt(2 / scaled.size)     # 5 standard errors
    assert sps.kstest(scaled, sps.chi2(1).cdf).pvalue > 1e-3
    assert np.all(v0[1] == 0.0)                                          # 1-D: the paper's rule
    widened = moments.random_chi2([np.zeros(128)], key=KEY, min_ndim=1)
    assert np.all(widened[0] > 0) or np.count_nonzero(widened[0]) > 120


def test_repo_random_has_the_factor_two():
    """Code `random`: s·xavier_normal² has mean 2s/(fan_in+fan_out) (ALGORITHMS §1.6: 0.5208)."""
    v0 = resolve("v0", "random", [np.zeros((256, 128))], scale=100.0, key=KEY)[0]
    assert v0.mean() == pytest.approx(2 * 100 / 384, rel=0.03)
    scaled = v0.ravel() / (200 / 384)
    assert sps.kstest(scaled, sps.chi2(1).cdf).pvalue > 1e-3


def test_random_kaiming_and_m0_draws():
    p = [np.zeros((64, 32, 3, 3))]
    v0 = resolve("v0", "random-kaiming", p, scale=2.0, key=KEY)[0]
    assert v0.mean() == pytest.approx(2.0 * 2 / 288, rel=0.05)
    m0 = resolve("m0", "random", p, scale=0.5, key=KEY)[0]
    assert abs(m0.mean()) < 5 * 0.5 * math.sqrt(2 / 864) / math.sqrt(m0.size)
    assert m0.std() == pytest.approx(0.5 * math.sqrt(2 / 864), rel=0.03)
    unscaled = resolve("m0", "randommv", p, scale=0.5, key=KEY)[0]
    assert unscaled.std() == pytest.approx(math.sqrt(2 / 864), rel=0.03)
    # v0 and m0 come from different sub-streams: uncorrelated
    x = resolve("v0", "random", p, scale=1.0, key=KEY)[0].ravel()
    assert abs(np.corrcoef(np.sqrt(x), np.abs(m0.ravel()))[0, 1]) < 5 / math.sqrt(x.size)


def test_constant_strategies_use_raw_dims():
    p = [np.zeros((4, 6)), np.zeros(5), np.zeros(())]
    layer = resolve("v0", "constant-layer", p, scale=2.0)
    assert [float(a.flat[0]) for a in layer] == [2 / 10, 2 / 6, 2 / 2]
    w = resolve("v0", "constant-w", p, scale=2.0)
    assert float(w[0][0, 0]) == 0.2 and np.all(w[1] == 0) and np.all(w[2] == 0)
    mv = resolve("m0", "constant-layermv", p, scale=2.0)
    assert float(mv[0][0, 0]) == pytest.approx(0.1)
    const = resolve("v0", "constant", p, scale=0.01)
    assert all(np.all(a == 0.01) for a in const)
    assert resolve("v0", 0.5, p)[1][0] == 0.5
    assert resolve("v0", None, p) is None


def _stats(params, mode="minibatch", batch_size=8):
    stats = GradStats(params, mode=mode, batch_size=batch_size if mode == "minibatch" else None)
    rng = np.random.default_rng(3)
    for _ in range(30):
        stats.update([1.0 + rng.standard_normal(p.shape) for p in params])
    return stats


def test_data_strategies_formulas():
    params = [np.zeros((3, 4)), np.zeros(4)]
    stats = _stats(params)
    mean, var, sq = stats.mean, stats.var, stats.mean_sq
    s, sm, b = 2.0, 0.5, 8
    get = lambda name, which="v0": resolve(which, name, params, scale=s if which == "v0" else sm,  # noqa: E731
                                          stats=stats, key=KEY)
    for i in range(2):
        np.testing.assert_allclose(get("grad-mean")[i], s * mean[i] ** 2)
        np.testing.assert_allclose(get("grad-mean-var")[i], s * (mean[i] ** 2 + b * var[i]))
        np.testing.assert_allclose(get("data")[i], s * (mean[i] ** 2 + b * var[i]))
        np.testing.assert_allclose(get("grad-var")[i], s * var[i])
        np.testing.assert_allclose(get("grad-sq")[i], s * sq[i])
        np.testing.assert_allclose(get("grad-mean", "m0")[i], sm * mean[i])
    gmr = get("grad-mean-random")
    x2 = resolve("v0", "random", params, scale=1.0, key=KEY)[0]
    np.testing.assert_allclose(gmr[0], s * (mean[0] ** 2 + x2), rtol=1e-12)    # same draw as `random`
    np.testing.assert_allclose(gmr[1], s * mean[1] ** 2)                        # 1-D: no random term
    per = _stats(params, mode="per_sample")
    np.testing.assert_allclose(resolve("v0", "data", params, stats=per)[0], per.mean_sq[0], rtol=1e-12)
    np.testing.assert_allclose(moments.from_stats(stats, "mean_var", scale=s)[0], get("data")[0])
    np.testing.assert_allclose(moments.from_stats(stats, "mean", scale=s)[1], get("grad-mean")[1])


def test_same_key_same_numbers_across_namespaces(xp):
    """The portable RNG: identical v0 on numpy and array_api_strict from one key."""
    import array_api_compat.numpy as npx
    a = moments.random_chi2([npx.zeros((5, 7))], key=KEY)[0]
    b = moments.random_chi2([xp.zeros((5, 7), dtype=xp.float32)], key=KEY)[0]
    np.testing.assert_allclose(to_numpy(b), a, rtol=1e-13)
    c = moments.random_chi2([npx.zeros((5, 7))], key=v0ref.random.key(2025))[0]
    assert not np.allclose(a, c)
    assert np.array_equal(moments.random_chi2([npx.zeros((5, 7))], key=2024)[0], a)   # int seed accepted


@pytest.mark.torch
def test_same_key_same_numbers_on_torch():
    torch = pytest.importorskip("torch")
    a = moments.random_chi2([np.zeros((5, 7))], key=KEY)[0]
    b = moments.random_chi2([torch.zeros((5, 7), dtype=torch.float64)], key=KEY)[0]
    assert isinstance(b, torch.Tensor)
    np.testing.assert_allclose(b.numpy(), a, rtol=1e-13)


def test_every_strategy_runs_and_has_docs():
    params = [np.zeros((3, 4)), np.zeros(4)]
    stats = _stats(params)
    for name, strategy in STRATEGIES.items():
        assert strategy.formula_v0 and strategy.source
        for which in ("v0", "m0"):
            if getattr(strategy, which) is None:
                continue
            out = resolve(which, name, params, key=KEY, stats=stats)
            assert [a.shape for a in out] == [(3, 4), (4,)], name
            if which == "v0":
                assert all(np.all(a >= 0) for a in out), name


def test_strategy_errors():
    p = [np.zeros((2, 2))]
    with pytest.raises(ValueError, match=r"unknown v0 strategy 'rand'; valid: zeros, constant, random-chi2"):
        resolve("v0", "rand", p)
    with pytest.raises(ValueError, match=r"strategy 'random' draws random numbers: pass key="):
        resolve("v0", "random", p)
    with pytest.raises(ValueError, match=r"strategy 'data' needs gradient statistics"):
        resolve("v0", "data", p)
    with pytest.raises(ValueError, match=r"strategy 'grad-var' defines no m0; strategies with a m0: zeros, constant"):
        resolve("m0", "grad-var", p)
    with pytest.raises(ValueError, match=r"v0_scale must be a finite number >= 0; got -1"):
        resolve("v0", "constant", p, scale=-1)
    with pytest.raises(ValueError, match=r"v0_min_ndim must be an int >= 0; got -1"):
        resolve("v0", "constant", p, min_ndim=-1)
    with pytest.raises(ValueError, match=r"v0 has 2 entries but there are 1 parameters"):
        resolve("v0", [np.zeros((2, 2))] * 2, p)
    with pytest.raises(ValueError, match=r"gathered for parameters of other shapes"):
        resolve("v0", "data", p, stats=_stats([np.zeros(3)]))
