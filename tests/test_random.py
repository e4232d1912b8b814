"""Tests for v0ref.random: Threefry-2x32-20 known answers, JAX compatibility, cross-backend
reproducibility, statistical checks (fixed seeds, so deterministic; significance 1e-3) and
argument validation."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from v0ref import random as R
from v0ref._backend import namespace

stats = pytest.importorskip("scipy.stats")

BACKENDS = ["numpy", "array_api_strict", "torch", "jax"]
_MODULE = {"numpy": "numpy", "array_api_strict": "array_api_strict", "torch": "torch", "jax": "jax"}
ALPHA = 1e-3  # significance of the statistical tests (fixed seeds: each test is deterministic)


def ns(name: str):
    pytest.importorskip(_MODULE[name])
    return namespace(name)


def to_np(a) -> np.ndarray:
    mod = type(a).__module__
    if mod.startswith("torch"):
        return a.detach().cpu().numpy()
    if mod.startswith("array_api_strict"):
        return np.from_dlpack(a)
    return np.asarray(a)


def words_np(k: R.Key, counters) -> tuple[np.ndarray, np.ndarray]:
    """Reference: the scalar Python block function applied counter by counter."""
    out = [R._threefry2x32_py(k.k0, k.k1, c >> 32, c & 0xFFFFFFFF) for c in counters]
    return np.array([o[0] for o in out], dtype=np.uint32), np.array([o[1] for o in out], dtype=np.uint32)


# ------------------------------------------------------------------ known answers

# Random123 kat_vectors, "threefry2x32 20 <ctr0> <ctr1> <key0> <key1> <out0> <out1>".
KAT = [
    ((0x00000000, 0x00000000), (0x00000000, 0x00000000), (0x6B200159, 0x99BA4EFE)),
    ((0xFFFFFFFF, 0xFFFFFFFF), (0xFFFFFFFF, 0xFFFFFFFF), (0x1CB996FC, 0xBB002BE7)),
    ((0x13198A2E, 0x03707344), (0x243F6A88, 0x85A308D3), (0xC4923A9C, 0x483DF7A0)),
]


@pytest.mark.parametrize("k, ctr, want", KAT)
def test_kat_scalar(k, ctr, want):
    assert R._threefry2x32_py(*k, *ctr) == want


@pytest.mark.parametrize("backend", BACKENDS)
def test_kat_array(backend):
    xp = ns(backend)
    rep = R._rep(xp)
    for k, (c0, c1), want in KAT:
        y0, y1 = R._threefry2x32(xp, rep, *k, xp.asarray([c0], dtype=rep), xp.asarray([c1], dtype=rep))
        assert (int(to_np(y0)[0]), int(to_np(y1)[0])) == want


@pytest.mark.parametrize("backend", BACKENDS)
def test_array_block_equals_scalar_block(backend):
    xp = ns(backend)
    rep = R._rep(xp)
    rng = np.random.default_rng(1234)
    for _ in range(8):
        k0, k1 = (int(v) for v in rng.integers(0, 2**32, size=2))
        c = rng.integers(0, 2**32, size=(2, 64), dtype=np.uint64)
        y0, y1 = R._threefry2x32(
            xp, rep, k0, k1, xp.asarray(c[0].tolist(), dtype=rep), xp.asarray(c[1].tolist(), dtype=rep)
        )
        want = [R._threefry2x32_py(k0, k1, int(a), int(b)) for a, b in zip(c[0], c[1])]
        assert to_np(y0).tolist() == [w[0] for w in want]
        assert to_np(y1).tolist() == [w[1] for w in want]


def test_word_representation():
    assert R._rep(ns("numpy")) == ns("numpy").uint32
    assert R._rep(ns("array_api_strict")) == ns("array_api_strict").uint32


def test_word_representation_jax_is_uint32():
    xp = ns("jax")  # int64 would silently become int32 without jax_enable_x64
    assert R._rep(xp) == xp.uint32


@pytest.mark.parametrize("backend", BACKENDS)
def test_counters_carry_into_high_word(backend):
    xp = ns(backend)
    k = R.key(99)
    start = 2**32 - 3
    y0, y1 = R._words(xp, R._rep(xp), k, start, 7)
    w0, w1 = words_np(k, range(start, start + 7))
    assert np.array_equal(to_np(y0).astype(np.uint32), w0)
    assert np.array_equal(to_np(y1).astype(np.uint32), w1)


# ------------------------------------------------------------------ JAX compatibility


@pytest.fixture
def jax_random():
    jax = pytest.importorskip("jax")
    if not jax.config.jax_threefry_partitionable:
        pytest.skip("layout matches JAX only with jax_threefry_partitionable=True (its default)")
    return jax.random


def test_threefry_matches_jax_block(jax_random):
    jnp = pytest.importorskip("jax.numpy")
    try:
        from jax._src.random.threefry2x32 import threefry_2x32
    except ImportError:  # private location changes between JAX versions
        from jax._src.prng import threefry_2x32
    rng = np.random.default_rng(7)
    for _ in range(16):
        k = rng.integers(0, 2**32, size=2, dtype=np.uint64).tolist()
        c = rng.integers(0, 2**32, size=2, dtype=np.uint64).tolist()
        got = threefry_2x32(jnp.asarray(k, dtype=jnp.uint32), jnp.asarray(c, dtype=jnp.uint32))
        assert tuple(int(v) for v in got) == R._threefry2x32_py(*k, *c)


@pytest.mark.parametrize("seed", [0, 1, 42, 2**31 - 1, 2**32 - 1])
def test_key_split_fold_in_bits_match_jax(jax_random, seed):
    jk = jax_random.PRNGKey(seed)
    k = R.key(seed)
    assert [k.k0, k.k1] == np.asarray(jk).tolist()
    assert [[s.k0, s.k1] for s in R.split(k, 5)] == np.asarray(jax_random.split(jk, 5)).tolist()
    for d in (0, 3, 2**32 - 1):
        f = R.fold_in(k, d)
        assert [f.k0, f.k1] == np.asarray(jax_random.fold_in(jk, d)).tolist()
    got = R.bits(k, (3, 5), xp="numpy")
    assert np.array_equal(got, np.asarray(jax_random.bits(jk, (3, 5), dtype=np.uint32)))   # uint32: x64 mode (set by other tests) would default to uint64


# ------------------------------------------------------------------ cross-backend equality


def _across(fn, backends=BACKENDS):
    """fn(xp) on every available backend, as numpy arrays."""
    out = {}
    for b in backends:
        try:
            xp = ns(b)
        except pytest.skip.Exception:
            continue
        out[b] = fn(xp)
    assert "numpy" in out
    return out


def test_bits_identical_across_backends():
    k = R.fold_in(R.key(2024), 5)
    res = _across(lambda xp: R.bits(k, (7, 301), xp=xp))
    ref = to_np(res["numpy"])
    assert ref.dtype == np.uint32 and ref.shape == (7, 301)
    for b, a in res.items():
        assert to_np(a).dtype == np.uint32, b
        assert np.array_equal(to_np(a), ref), b


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_float_draws_across_backends(dtype):
    n = 4099
    k = R.key(31337)
    backends = BACKENDS if dtype == "float32" else ["numpy", "array_api_strict", "torch"]

    def draw(xp):
        dt = getattr(xp, dtype)
        return [
            to_np(R.uniform(k, (n,), dtype=dt, xp=xp)),
            to_np(R.uniform(k, (n,), low=-2.5, high=7.0, dtype=dt, xp=xp)),
            to_np(R.normal(k, (n,), dtype=dt, xp=xp)),
            to_np(R.truncated_normal(k, -0.5, 2.0, (n,), dtype=dt, xp=xp)),
            to_np(R.chisquare(k, (n,), 2, dtype=dt, xp=xp)),
        ]

    res = _across(draw, backends)
    eps = np.finfo(dtype).eps
    ref = res["numpy"]
    for b, got in res.items():
        assert all(g.dtype == np.dtype(dtype) for g in got), b
        # uniform: exactly equal (integer->float conversion and power-of-two scaling are exact)
        assert np.array_equal(got[0], ref[0]), b
        assert np.array_equal(got[1], ref[1]), b
        # log/sqrt/cos differ by backend: a few ulps
        for g, r in zip(got[2:], ref[2:]):
            np.testing.assert_allclose(g, r, rtol=16 * eps, atol=16 * eps, err_msg=b)


def test_permutation_and_choice_identical_across_backends():
    k = R.key(77)
    res = _across(
        lambda xp: [
            to_np(R.permutation(k, 1000, xp=xp)),
            to_np(R.choice(k, 1000, 50, xp=xp)),
            to_np(R.choice(k, 12345, 500, replace=True, xp=xp)),
            to_np(R.choice(k, 2**31, 500, replace=True, xp=xp)),
        ]
    )
    for b, got in res.items():
        for g, r in zip(got, res["numpy"]):
            assert np.array_equal(g.astype(np.int64), r.astype(np.int64)), b


# ------------------------------------------------------------------ defined formulas


def test_uniform_formulas_from_words():
    xp = ns("numpy")
    k = R.key(5)
    b = R.bits(k, (1000,), xp=xp)
    u32 = R.uniform(k, (1000,), dtype=xp.float32, xp=xp)
    assert np.array_equal(u32, (b >> 8).astype(np.float32) * np.float32(2.0**-24))
    y0, y1 = words_np(k, range(1000))
    top53 = (y0.astype(np.uint64) << np.uint64(21)) | (y1.astype(np.uint64) >> np.uint64(11))
    u64 = R.uniform(k, (1000,), dtype=xp.float64, xp=xp)
    assert np.array_equal(u64, top53.astype(np.float64) * 2.0**-53)


def test_permutation_and_choice_formulas_from_words():
    xp = ns("numpy")
    k = R.key(6)
    y0, y1 = words_np(k, range(500))
    assert np.array_equal(R.permutation(k, 500, xp=xp), np.lexsort((y1, y0)))  # sort by y0, then y1
    v = (y0.astype(np.uint64) << np.uint64(32)) | y1.astype(np.uint64)
    for n in (1, 3, 1000, 65537, 2**31):
        assert np.array_equal(R.choice(k, n, 500, replace=True, xp=xp), (v % np.uint64(n)).astype(np.int64))


def test_chisquare_is_sum_of_squared_normals():
    xp = ns("numpy")
    k = R.key(8)
    z = R.normal(k, (3, 4, 5), dtype=xp.float64, xp=xp)
    assert np.array_equal(R.chisquare(k, (4, 5), 1, dtype=xp.float64, xp=xp), z[0] ** 2)
    assert np.array_equal(R.chisquare(k, (4, 5), 3, dtype=xp.float64, xp=xp), z[0] ** 2 + z[1] ** 2 + z[2] ** 2)


def test_shape_is_a_view_of_the_flat_stream():
    xp = ns("numpy")
    k = R.key(9)
    assert np.array_equal(R.bits(k, (4, 6), xp=xp).ravel(), R.bits(k, 24, xp=xp))
    assert np.array_equal(R.normal(k, (2, 3), xp=xp).ravel(), R.normal(k, (6,), xp=xp))
    assert R.bits(k, (), xp=xp).shape == ()
    assert R.bits(k, (), xp=xp) == R.bits(k, (1,), xp=xp)[0]


def test_default_dtype_follows_namespace():
    assert R.uniform(R.key(0), 3, xp="numpy").dtype == np.float64
    torch = pytest.importorskip("torch")
    assert R.normal(R.key(0), 3, xp="torch").dtype == torch.get_default_dtype()


# ------------------------------------------------------------------ statistics (numpy)

N = 100_000


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_uniform_ks(dtype):
    xp = ns("numpy")
    u = R.uniform(R.key(1), N, dtype=getattr(xp, dtype), xp=xp)
    assert u.min() >= 0.0 and u.max() < 1.0
    assert stats.kstest(u, "uniform").pvalue > ALPHA
    x = R.uniform(R.key(2), N, low=-3.0, high=5.0, dtype=getattr(xp, dtype), xp=xp)
    assert x.min() >= -3.0 and x.max() < 5.0
    assert stats.kstest(x, stats.uniform(loc=-3.0, scale=8.0).cdf).pvalue > ALPHA


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_normal_ks(dtype):
    xp = ns("numpy")
    z = R.normal(R.key(3), N, dtype=getattr(xp, dtype), xp=xp)
    assert np.isfinite(z).all()
    p = 24 if dtype == "float32" else 53
    assert np.abs(z).max() <= math.sqrt(2 * p * math.log(2)) * (1 + 1e-6)  # Box-Muller bound
    assert stats.kstest(z.astype(np.float64), "norm").pvalue > ALPHA
    assert abs(z.mean()) < 5 / math.sqrt(N) and abs(z.var() - 1) < 5 * math.sqrt(2 / N)


def test_chisquare_stats():
    xp = ns("numpy")
    c1 = R.chisquare(R.key(4), N, 1, xp=xp)
    assert abs(c1.mean() - 1.0) < 5 * math.sqrt(2 / N)
    assert stats.kstest(c1, stats.chi2(1).cdf).pvalue > ALPHA
    c3 = R.chisquare(R.key(5), N, 3, xp=xp)
    assert stats.kstest(c3, stats.chi2(3).cdf).pvalue > ALPHA


@pytest.mark.parametrize(
    "lower, upper",
    [(-1.0, 2.0), (0.5, math.inf), (-math.inf, -2.0), (3.0, 4.0), (-6.0, -5.5), (-0.1, 0.1), (-math.inf, math.inf)],
)
def test_truncated_normal_ks(lower, upper):
    xp = ns("numpy")
    x = R.truncated_normal(R.key(6), lower, upper, N, dtype=xp.float64, xp=xp)
    assert x.min() >= lower and x.max() <= upper
    assert stats.kstest(x, stats.truncnorm(lower, upper).cdf).pvalue > ALPHA


def test_truncated_normal_float32_far_tail():
    xp = ns("numpy")
    x = R.truncated_normal(R.key(7), 8.0, 9.0, 20_000, dtype=xp.float32, xp=xp)
    assert x.dtype == np.float32 and x.min() >= 8.0 and x.max() <= 9.0
    assert stats.kstest(x.astype(np.float64), stats.truncnorm(8.0, 9.0).cdf).pvalue > ALPHA


def test_permutation_is_uniform_permutation():
    xp = ns("numpy")
    p = R.permutation(R.key(10), 10_000, xp=xp)
    assert np.array_equal(np.sort(p), np.arange(10_000))
    assert R.permutation(R.key(10), 0, xp=xp).shape == (0,)
    # position of element 0 in 2000 permutations of 10 is uniform on 0..9
    k = R.key(11)
    pos = [int(np.argmax(R.permutation(R.fold_in(k, i), 10, xp=xp) == 0)) for i in range(2000)]
    assert stats.chisquare(np.bincount(pos, minlength=10)).pvalue > ALPHA


def test_choice():
    xp = ns("numpy")
    c = R.choice(R.key(12), 1000, 300, xp=xp)
    assert c.shape == (300,) and len(set(c.tolist())) == 300 and c.min() >= 0 and c.max() < 1000
    assert R.choice(R.key(12), 5, 5, xp=xp).tolist() != [] and sorted(R.choice(R.key(12), 5, 5, xp=xp)) == [0, 1, 2, 3, 4]
    r = R.choice(R.key(13), 7, 70_000, replace=True, xp=xp)
    assert r.min() >= 0 and r.max() < 7
    assert stats.chisquare(np.bincount(r, minlength=7)).pvalue > ALPHA
    big = R.choice(R.key(14), 2**31, 20_000, replace=True, xp=xp).astype(np.float64) / 2**31
    assert big.max() < 1.0 and stats.kstest(big, "uniform").pvalue > ALPHA
    assert np.array_equal(R.choice(R.key(15), 1, 4, replace=True, xp=xp), np.zeros(4))


def test_split_and_fold_in_keys_are_distinct():
    k = R.key(123)
    kids = R.split(k, 1000)
    assert len(set(kids)) == 1000 and k not in kids
    folded = [R.fold_in(k, d) for d in range(1000)]
    assert len(set(folded)) == 1000 and k not in folded
    assert folded == list(kids)  # documented: fold_in(key, i) == split(key, n)[i]
    assert R.split(k, 0) == ()
    assert R.split(k) != R.split(R.key(124))
    assert hash(k) == hash(R.key(123)) and k == R.Key(0, 123)


def test_streams_of_different_keys_are_uncorrelated():
    xp = ns("numpy")
    k = R.key(0)
    a, b = R.split(k)
    pairs = [(R.key(0), R.key(1)), (a, b), (R.fold_in(k, 0), R.fold_in(k, 1)), (R.key(2**32), R.key(0))]
    for k1, k2 in pairs:
        u1 = R.uniform(k1, N, xp=xp)
        u2 = R.uniform(k2, N, xp=xp)
        assert not np.array_equal(u1, u2)
        assert abs(np.corrcoef(u1, u2)[0, 1]) < 5 / math.sqrt(N)
    # adjacent elements of one stream
    u = R.uniform(R.key(3), N + 1, xp=xp)
    assert abs(np.corrcoef(u[:-1], u[1:])[0, 1]) < 5 / math.sqrt(N)


# ------------------------------------------------------------------ hypothesis: shapes & dtypes

shapes = st.lists(st.integers(0, 4), max_size=3).map(tuple)


@settings(max_examples=60, deadline=None)
@given(
    shape=shapes,
    dtype=st.sampled_from(["float32", "float64"]),
    backend=st.sampled_from(["numpy", "array_api_strict"]),
    seed=st.integers(0, 2**64 - 1),
    low=st.floats(-1e6, 1e6),
    width=st.floats(1e-3, 1e6),
)
def test_draws_shape_dtype_namespace(shape, dtype, backend, seed, low, width):
    import array_api_compat

    xp = namespace(backend)
    dt = getattr(xp, dtype)
    k = R.key(seed)
    high = low + max(width, abs(low) * 1e-4)  # distinct after rounding to float32
    for arr in (
        R.uniform(k, shape, low=low, high=high, dtype=dt, xp=xp),
        R.normal(k, shape, dtype=dt, xp=xp),
        R.truncated_normal(k, -1.0, 0.5, shape, dtype=dt, xp=xp),
        R.chisquare(k, shape, 2, dtype=dt, xp=xp),
        R.bits(k, shape, xp=xp),
    ):
        assert arr.shape == shape
        assert array_api_compat.array_namespace(arr) is xp
    assert R.bits(k, shape, xp=xp).dtype == xp.uint32
    u = R.uniform(k, shape, low=low, high=high, dtype=dt, xp=xp)
    assert u.dtype == dt
    un = to_np(u)
    lo, hi = np.asarray(low, dtype=dtype), np.asarray(high, dtype=dtype)
    assert np.all(un >= lo) and np.all(un < hi)


# ------------------------------------------------------------------ validation


def test_key_validation():
    assert R.key(2**64 - 1) == R.Key(2**32 - 1, 2**32 - 1)
    assert R.key(np.int64(5)) == R.key(5)
    with pytest.raises(ValueError, match="seed"):
        R.key(-1)
    with pytest.raises(ValueError, match="seed"):
        R.key(2**64)
    with pytest.raises(TypeError, match="seed"):
        R.key(1.5)
    with pytest.raises(TypeError, match="seed"):
        R.key(True)
    with pytest.raises(ValueError, match="k0"):
        R.Key(2**32, 0)
    with pytest.raises(TypeError, match="key"):
        R.bits((0, 0), 3, xp="numpy")
    with pytest.raises(ValueError, match="n"):
        R.split(R.key(0), -1)
    with pytest.raises(ValueError, match="data"):
        R.fold_in(R.key(0), -1)


def test_argument_validation():
    k = R.key(0)
    xp = ns("numpy")
    with pytest.raises(ValueError, match="shape"):
        R.bits(k, (2, -1), xp=xp)
    with pytest.raises(TypeError, match="shape"):
        R.uniform(k, (2.0,), xp=xp)
    with pytest.raises(ValueError, match="df"):
        R.chisquare(k, 3, 0, xp=xp)
    with pytest.raises(TypeError, match="df"):
        R.chisquare(k, 3, 1.5, xp=xp)
    with pytest.raises(ValueError, match="k must be at most n"):
        R.choice(k, 3, 4, xp=xp)
    with pytest.raises(ValueError, match="n must be positive"):
        R.choice(k, 0, 1, replace=True, xp=xp)
    with pytest.raises(ValueError, match="lower"):
        R.truncated_normal(k, 1.0, 1.0, 3, xp=xp)
    with pytest.raises(ValueError, match="lower"):
        R.truncated_normal(k, 2.0, 1.0, 3, xp=xp)
    with pytest.raises(ValueError, match="tail"):
        R.truncated_normal(k, 50.0, 60.0, 3, xp=xp)
    with pytest.raises(ValueError, match="low"):
        R.uniform(k, 3, low=1.0, high=1.0, xp=xp)
    with pytest.raises(ValueError, match="low"):
        R.uniform(k, 3, low=1.0, high=1.0 + 1e-12, dtype=xp.float32, xp=xp)
    with pytest.raises(ValueError, match="dtype"):
        R.normal(k, 3, dtype=xp.int32, xp=xp)
    with pytest.raises(ValueError, match="n"):
        R.permutation(k, -1, xp=xp)


def test_jax_float64_without_x64_is_rejected():
    jax = pytest.importorskip("jax")
    if jax.config.jax_enable_x64:
        pytest.skip("x64 enabled")
    xp = namespace("jax")
    with pytest.raises(ValueError, match="dtype"):
        R.uniform(R.key(0), 3, dtype=xp.float64, xp=xp)


def test_import_loads_no_framework():
    code = (
        "import sys, v0ref.random as r; r.key(1); r.split(r.key(1)); "
        "bad = [m for m in ('numpy', 'torch', 'jax', 'array_api_strict') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
