"""v0ref.init: exact structure, variances vs formulas, agreement with torch.nn.init / jax.nn.initializers,
cross-backend reproducibility, LSUV and error messages.

Statistical tolerances: a sample variance of n i.i.d. draws has relative standard error
sqrt((kurtosis - 1)/n) (normal: sqrt(2/n); uniform: sqrt(0.8/n); the ±2σ truncated normal has a
smaller kurtosis, so sqrt(2/n) is conservative).  Checks use 5 sigma on fixed seeds.
"""

from __future__ import annotations

import math
import types

import numpy as np
import pytest
from scipy import stats

import v0ref
import v0ref.init as I
from v0ref import random as vr

from .conftest import to_numpy

torch = pytest.importorskip("torch")

SIGMA = 5.0


def _np(x):
    return np.asarray(to_numpy(x), dtype=np.float64)


def _var_tol(n, kind):
    return SIGMA * math.sqrt((2.0 if kind != "uniform" else 0.8) / n)


# ------------------------------------------------------------------------------ calculate_gain

TORCH_NONLIN = ["linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                "conv_transpose3d", "sigmoid", "tanh", "relu", "leaky_relu", "selu"]


@pytest.mark.parametrize("name", TORCH_NONLIN)
def test_calculate_gain_matches_torch(name):
    assert I.calculate_gain(name) == pytest.approx(torch.nn.init.calculate_gain(name), rel=1e-15)


@pytest.mark.parametrize("param", [None, 0, 0.2, 1, 3.5])
def test_calculate_gain_leaky_param(param):
    assert I.calculate_gain("leaky_relu", param) == pytest.approx(
        torch.nn.init.calculate_gain("leaky_relu", param), rel=1e-15)


def test_calculate_gain_values_and_errors():
    assert I.calculate_gain("selu") == 0.75
    assert I.calculate_gain("tanh") == 5.0 / 3
    assert I.calculate_gain("identity") == 1.0
    with pytest.raises(ValueError, match="nonlinearity must be one of.*'tanh'.*got 'gelu'"):
        I.calculate_gain("gelu")
    with pytest.raises(ValueError, match="negative_slope"):
        I.calculate_gain("leaky_relu", True)


# ------------------------------------------------------------------------------- orthogonal


@pytest.mark.parametrize("shape,layout", [((40, 10), "torch"), ((10, 40), "torch"), ((16, 3, 3, 3), "torch"),
                                          ((4, 3, 2, 2), "torch"), ((3, 3, 4, 6), "jax"), ((30, 7), "jax")])
@pytest.mark.parametrize("gain", [1.0, 2.5])
def test_orthogonal_is_orthogonal(xp, shape, layout, gain):
    w = I.orthogonal(7, shape, gain=gain, layout=layout, xp=xp, dtype=xp.float64)
    assert w.shape == shape and w.dtype == xp.float64
    a = _np(w)
    m = a.reshape(shape[0], -1) if layout == "torch" else a.reshape(-1, shape[-1]).T
    g = m @ m.T if m.shape[0] <= m.shape[1] else m.T @ m
    np.testing.assert_allclose(g, gain**2 * np.eye(g.shape[0]), atol=1e-12 * gain**2)


def test_orthogonal_distribution_matches_torch():
    # Haar: every entry of a 64x64 orthogonal matrix has mean 0, variance 1/64.
    ours = np.concatenate([_np(I.orthogonal(s, (64, 64))).ravel() for s in range(8)])
    torch.manual_seed(0)
    ref = np.concatenate([torch.nn.init.orthogonal_(torch.empty(64, 64, dtype=torch.float64)).numpy().ravel()
                          for _ in range(8)])
    assert stats.ks_2samp(ours, ref).pvalue > 1e-3
    assert abs(ours.var() * 64 - 1) < _var_tol(ours.size, "normal")


def test_orthogonal_is_torch_algorithm():
    # flatten, N(0,1) from the same key, transpose if rows < cols, QR, Q·sign(diag R), transpose back
    for shape in [(6, 4), (4, 6, 2)]:
        rows, cols = shape[0], math.prod(shape[1:])
        a = to_numpy(vr.normal(vr.key(3), (rows, cols), dtype=np.float64))
        t = a.T if rows < cols else a
        q, r = np.linalg.qr(t)
        q = q * np.sign(np.diag(r))
        want = (q.T if rows < cols else q).reshape(shape) * 1.5
        np.testing.assert_allclose(_np(I.orthogonal(3, shape, gain=1.5)), want, rtol=1e-12, atol=1e-13)


def test_orthogonal_diagonal_is_haar_centred():
    # Haar measure: E[Q_ii] = 0, Var = 1/n.  Plain Householder Q (no sign fix) is biased.
    d = np.concatenate([np.diag(_np(I.orthogonal(s, (4, 4)))) for s in range(400)])
    assert abs(d.mean()) < SIGMA * math.sqrt(0.25 / d.size)


def test_orthogonal_needs_linalg():
    import array_api_compat.numpy as cnp

    class NoLinalg(types.ModuleType):
        def __getattr__(self, name):
            if name == "linalg":
                raise AttributeError(name)
            return getattr(cnp, name)

    with pytest.raises(NotImplementedError, match="linalg"):
        I.orthogonal(0, (4, 4), xp=NoLinalg("nolinalg"))


# ----------------------------------------------------------------------------------- sparse


@pytest.mark.parametrize("shape,layout,k", [((50, 40), "torch", 15), ((40, 50), "jax", 15),
                                            ((12, 4, 3, 3), "torch", 15), ((3, 3, 4, 12), "jax", 7),
                                            ((5, 15), "torch", 15)])
def test_sparse_exactly_k_incoming(xp, shape, layout, k):
    w = _np(I.sparse(3, shape, k, layout=layout, xp=xp, dtype=xp.float64))
    per_unit = w.reshape(shape[0], -1) if layout == "torch" else w.reshape(-1, shape[-1]).T
    nz = (per_unit != 0).sum(axis=1)
    assert np.all(nz == k), nz
    if k < per_unit.shape[1]:  # positions really vary between units
        assert len({tuple(np.flatnonzero(r)) for r in per_unit}) > 1


def test_sparse_values_are_scaled_gaussians():
    w = _np(I.sparse(5, (2000, 100), 15, scale=2.0))
    v = w[w != 0]
    assert v.size == 2000 * 15
    assert abs(v.var() / 4.0 - 1) < _var_tol(v.size, "normal")
    assert abs(v.mean()) < SIGMA * 2.0 / math.sqrt(v.size)
    # every input position is used about equally often (uniform choice): chi-square test
    counts = (w != 0).sum(axis=0)
    assert stats.chisquare(counts).pvalue > 1e-3


def test_sparse_errors():
    with pytest.raises(ValueError, match=r"k must be in \[0, fan_in=10\]"):
        I.sparse(0, (20, 10), 15)  # torch layout: fan_in = 10
    I.sparse(0, (20, 10), 15, layout="jax")  # jax layout: fan_in = 20, fine
    with pytest.raises(ValueError, match="shape must have at least 2"):
        I.sparse(0, (20,), 5)
    with pytest.raises(ValueError, match="scale"):
        I.sparse(0, (20, 20), 5, scale=-1.0)


@pytest.mark.parametrize("shape,sparsity", [((10, 6), 0.3), ((17, 5), 0.5), ((8, 3), 0.0), ((9, 4), 1.0)])
def test_torch_sparse_zero_count_per_column(xp, shape, sparsity):
    w = _np(I.torch_sparse(1, shape, sparsity, xp=xp, dtype=xp.float64))
    t = torch.nn.init.sparse_(torch.empty(*shape, dtype=torch.float64), sparsity).numpy()
    want = math.ceil(sparsity * shape[0])
    assert np.all((w == 0).sum(axis=0) == want)
    assert np.all((t == 0).sum(axis=0) == want)  # torch's own convention, same axis


def test_torch_sparse_std_matches_torch():
    w = _np(I.torch_sparse(2, (400, 300), 0.1, std=0.05)).ravel()
    torch.manual_seed(0)
    t = torch.nn.init.sparse_(torch.empty(400, 300, dtype=torch.float64), 0.1, std=0.05).numpy().ravel()
    assert stats.ks_2samp(w, t).pvalue > 1e-3
    nz = w[w != 0]
    assert abs(nz.var() / 0.05**2 - 1) < _var_tol(nz.size, "normal")


# ----------------------------------------------------------------------------- eye / dirac


@pytest.mark.parametrize("shape", [(4, 4), (3, 5), (6, 2)])
def test_eye_matches_torch(xp, shape):
    np.testing.assert_array_equal(_np(I.eye(0, shape, xp=xp)), torch.nn.init.eye_(torch.empty(*shape)).numpy())


@pytest.mark.parametrize("shape,groups", [((4, 4, 3), 1), ((6, 3, 3, 3), 1), ((6, 3, 3, 3), 2), ((8, 2, 3, 4), 2),
                                          ((2, 5, 3, 3), 1), ((6, 2, 3, 3, 3), 3), ((4, 4, 2, 2), 4)])
def test_dirac_matches_torch(xp, shape, groups):
    ours = _np(I.dirac(0, shape, groups=groups, xp=xp))
    ref = torch.nn.init.dirac_(torch.empty(*shape), groups=groups).numpy()
    np.testing.assert_array_equal(ours, ref)
    jshape = (*shape[2:], shape[1], shape[0])
    jax_layout = _np(I.dirac(0, jshape, groups=groups, layout="jax", xp=xp))
    np.testing.assert_array_equal(jax_layout, np.moveaxis(ref, (0, 1), (-1, -2)))


def test_dirac_errors():
    with pytest.raises(ValueError, match="3-, 4- or 5-D"):
        I.dirac(0, (3, 3))
    with pytest.raises(ValueError, match="groups must be a positive divisor"):
        I.dirac(0, (6, 3, 3), groups=4)


# ----------------------------------------------------------------- variances vs the formulas

SHAPE = (512, 256)  # torch: fan_in 256, fan_out 512; jax: fan_in 512, fan_out 256

FORMULAS = [
    # name, kwargs, expected variance (torch/jax fan meaning per the function's layout), kind
    ("xavier_uniform", dict(gain=2.0), 4.0 * 2 / (256 + 512), "uniform"),
    ("xavier_normal", dict(gain=0.5), 0.25 * 2 / (256 + 512), "normal"),
    ("glorot_uniform", {}, 2 / (256 + 512), "uniform"),
    ("glorot_normal", {}, 2 / (256 + 512), "trunc"),
    ("kaiming_uniform", {}, 2 / 256, "uniform"),
    ("kaiming_normal", dict(mode="fan_out", nonlinearity="relu"), 2 / 512, "normal"),
    ("kaiming_normal", dict(a=0.3), 2 / (1 + 0.09) / 256, "normal"),
    ("kaiming_uniform", dict(nonlinearity="tanh", layout="jax"), (25 / 9) / 512, "uniform"),
    ("he_uniform", {}, 2 / 512, "uniform"),
    ("he_normal", {}, 2 / 512, "trunc"),
    ("lecun_uniform", {}, 1 / 512, "uniform"),
    ("lecun_normal", dict(layout="torch"), 1 / 256, "trunc"),
    ("torch_default", {}, 1 / 3 / 256, "uniform"),
]


@pytest.mark.parametrize("name,kwargs,var,kind", FORMULAS, ids=[f[0] + str(i) for i, f in enumerate(FORMULAS)])
def test_variance_matches_formula(name, kwargs, var, kind):
    w = _np(I.INITIALIZERS[name](11, SHAPE, **kwargs))
    assert w.shape == SHAPE
    assert abs(w.var() / var - 1) < _var_tol(w.size, kind)
    assert abs(w.mean()) < SIGMA * math.sqrt(var / w.size)
    if kind == "uniform":
        assert np.abs(w).max() <= math.sqrt(3 * var) * (1 + 1e-12)
    if kind == "trunc":
        assert np.abs(w).max() <= 2 * math.sqrt(var) / 0.87962566103423978 * (1 + 1e-12)


@pytest.mark.parametrize("mode,dist", [(m, d) for m in I.MODES for d in I.DISTRIBUTIONS])
def test_variance_scaling_modes(mode, dist):
    shape = (3, 3, 64, 32)  # jax layout: fan_in 576, fan_out 288
    n = {"fan_in": 576, "fan_out": 288, "fan_avg": 432, "fan_geo_avg": math.sqrt(576 * 288)}[mode]
    w = _np(I.variance_scaling(4, shape, 3.0, mode, dist))
    assert abs(w.var() / (3.0 / n) - 1) < _var_tol(w.size, "uniform" if dist == "uniform" else "normal")


def test_bias_defaults():
    b = _np(I.torch_default_bias(1, (300, 40, 3, 3)))
    assert b.shape == (300,) and np.abs(b).max() <= 1 / math.sqrt(360)
    r = _np(I.torch_rnn_default(2, (400, 100), 100))
    assert np.abs(r).max() <= 0.1 and abs(r.var() / (0.01 / 3) - 1) < _var_tol(r.size, "uniform")


# ------------------------------------------------------- agreement with torch.nn.init and jax

N_KS = (200, 150)


def _torch_draw(fn, shape=N_KS, **kw):
    torch.manual_seed(1234)
    return fn(torch.empty(*shape, dtype=torch.float64), **kw).numpy().ravel()


TORCH_CASES = [
    ("xavier_uniform", dict(gain=1.5), torch.nn.init.xavier_uniform_, dict(gain=1.5)),
    ("xavier_normal", dict(gain=1.5), torch.nn.init.xavier_normal_, dict(gain=1.5)),
    ("kaiming_uniform", dict(a=0.1, mode="fan_out"), torch.nn.init.kaiming_uniform_, dict(a=0.1, mode="fan_out")),
    ("kaiming_normal", dict(nonlinearity="relu"), torch.nn.init.kaiming_normal_, dict(nonlinearity="relu")),
    ("kaiming_normal", dict(nonlinearity="selu"), torch.nn.init.kaiming_normal_, dict(nonlinearity="selu")),
    ("torch_default", {}, lambda t: torch.nn.init.kaiming_uniform_(t, a=math.sqrt(5)), {}),
    ("orthogonal", dict(gain=0.7), torch.nn.init.orthogonal_, dict(gain=0.7)),
]


@pytest.mark.parametrize("name,ours_kw,tfn,tkw", TORCH_CASES, ids=[c[0] + str(i) for i, c in enumerate(TORCH_CASES)])
def test_distribution_matches_torch(name, ours_kw, tfn, tkw):
    ours = _np(I.INITIALIZERS[name](99, N_KS, **ours_kw)).ravel()
    ref = _torch_draw(tfn, **tkw)
    assert stats.ks_2samp(ours, ref).pvalue > 1e-3
    n = ours.size  # both variances estimated: difference has std sqrt(2)·sqrt(2/n) relative
    assert abs(ours.var() / ref.var() - 1) < SIGMA * math.sqrt(2) * math.sqrt(2 / n)
    assert abs(ours.mean() - ref.mean()) < SIGMA * math.sqrt(2 * ref.var() / n)


def test_torch_linear_module_default():
    lin = torch.nn.Linear(120, 90, dtype=torch.float64)
    ours = _np(I.torch_default(3, tuple(lin.weight.shape))).ravel()
    assert stats.ks_2samp(ours, lin.weight.detach().numpy().ravel()).pvalue > 1e-3
    assert stats.ks_2samp(_np(I.torch_default_bias(3, (90, 120))), lin.bias.detach().numpy()).pvalue > 1e-3


jax = pytest.importorskip("jax")
JI = jax.nn.initializers
JAX_CASES = [
    ("glorot_uniform", JI.glorot_uniform()), ("glorot_normal", JI.glorot_normal()),
    ("he_uniform", JI.he_uniform()), ("he_normal", JI.he_normal()),
    ("lecun_uniform", JI.lecun_uniform()), ("lecun_normal", JI.lecun_normal()),
]


@pytest.mark.parametrize("name,jfn", JAX_CASES, ids=[c[0] for c in JAX_CASES])
def test_distribution_matches_jax(name, jfn):
    shape = (3, 3, 40, 30)  # HWIO: fan_in 360, fan_out 270
    ours = _np(I.INITIALIZERS[name](5, shape, dtype=np.float32)).ravel()
    ref = np.asarray(jfn(jax.random.PRNGKey(5), shape, jax.numpy.float32), dtype=np.float64).ravel()
    assert stats.ks_2samp(ours, ref).pvalue > 1e-3
    n = ours.size
    assert abs(ours.var() / ref.var() - 1) < SIGMA * 2 * math.sqrt(1 / n) * math.sqrt(2)
    assert np.abs(ours).max() <= np.abs(ref).max() * 1.01  # same support (bound or ±2σ' truncation)


def test_truncated_normal_std_matches_jax():
    shape = (256, 1024)
    for scale, mode in [(2.0, "fan_in"), (1.0, "fan_avg"), (0.5, "fan_out")]:
        ours = _np(I.variance_scaling(8, shape, scale, mode, "truncated_normal", dtype=np.float32))
        ref = np.asarray(JI.variance_scaling(scale, mode, "truncated_normal")(jax.random.PRNGKey(8), shape),
                         dtype=np.float64)
        want = math.sqrt(scale / {"fan_in": 256, "fan_out": 1024, "fan_avg": 640}[mode])
        tol = SIGMA * math.sqrt(2 / ours.size) / 2  # relative error of a std is half that of a variance
        assert abs(ours.std() / want - 1) < tol
        assert abs(ref.std() / want - 1) < tol
        bound = 2 * want / 0.87962566103423978
        assert np.abs(ours).max() <= bound * (1 + 1e-6)
        assert np.abs(ours).max() > 0.99 * bound  # really truncated at ±2σ', not clipped earlier


# ----------------------------------------------------------------- cross-backend reproducibility

CROSS = [("xavier_uniform", {}, True), ("kaiming_uniform", {}, True), ("torch_default", {}, True),
         ("he_uniform", {}, True), ("xavier_normal", {}, False), ("kaiming_normal", {}, False),
         ("glorot_normal", {}, False), ("lecun_normal", {}, False), ("sparse", dict(k=5), False),
         ("torch_sparse", dict(sparsity=0.4), False), ("orthogonal", {}, False), ("dirac", {}, True)]


@pytest.mark.parametrize("name,kw,exact", CROSS, ids=[c[0] for c in CROSS])
def test_same_key_same_numbers_across_backends(name, kw, exact):
    import array_api_compat.numpy as cnp
    import array_api_compat.torch as ctorch
    import array_api_strict

    shape = (24, 12, 3) if name == "dirac" else (24, 36)
    fn = I.INITIALIZERS[name]
    for dt in ("float64", "float32"):
        ref = to_numpy(fn(vr.key(2024), shape, xp=cnp, dtype=getattr(cnp, dt), **kw))
        for xp in (array_api_strict, ctorch):
            got = to_numpy(fn(vr.key(2024), shape, xp=xp, dtype=getattr(xp, dt), **kw))
            assert got.dtype == ref.dtype and got.shape == ref.shape
            if exact:
                np.testing.assert_array_equal(got, ref)
            else:  # log/sqrt/cos (and LAPACK QR) differ by a few ulps between libraries
                eps = np.finfo(ref.dtype).eps
                np.testing.assert_allclose(got, ref, rtol=64 * eps, atol=64 * eps * np.abs(ref).max())
                np.testing.assert_array_equal(got == 0, ref == 0)


def test_use_torch_gives_torch_tensor_with_numpy_numbers():
    ref = I.glorot_uniform(0, (256, 128), dtype=np.float32)
    with v0ref.use("torch"):
        w = I.glorot_uniform(0, (256, 128))
        wn = I.glorot_normal(vr.key(0), (256, 128))
    assert isinstance(w, torch.Tensor) and w.dtype == torch.float32 and tuple(w.shape) == (256, 128)
    np.testing.assert_array_equal(w.numpy(), ref)
    np.testing.assert_allclose(wn.numpy(), I.glorot_normal(0, (256, 128), dtype=np.float32), rtol=1e-5, atol=1e-6)


def test_jax_same_uniform_numbers():
    w = I.he_uniform(3, (64, 32), xp="jax", dtype=jax.numpy.float32)
    np.testing.assert_array_equal(np.asarray(w), I.he_uniform(3, (64, 32), dtype=np.float32))


# ---------------------------------------------------------------------------------- biases


def test_bias_tricks(xp):
    b = _np(I.lstm_forget_bias(3, xp=xp))
    np.testing.assert_array_equal(b, [0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(_np(I.lstm_forget_bias(2, 2.5, xp=xp)), [0, 0, 2.5, 2.5, 0, 0, 0, 0])
    c = xp.asarray([0.1, 0.2, 0.7], dtype=xp.float64)
    ob = _np(I.output_bias_from_marginals(c))
    np.testing.assert_allclose(np.exp(ob) / np.exp(ob).sum(), [0.1, 0.2, 0.7], rtol=1e-14)
    sb = I.sigmoid_output_bias(0.05)
    assert 1 / (1 + math.exp(-sb)) == pytest.approx(0.05, rel=1e-14)
    sa = _np(I.sigmoid_output_bias(xp.asarray([0.25, 0.5], dtype=xp.float64)))
    np.testing.assert_allclose(sa, [math.log(1 / 3), 0.0], atol=1e-15)
    np.testing.assert_array_equal(_np(I.relu_bias(0, (5,), xp=xp)), np.full(5, 0.1))
    np.testing.assert_array_equal(_np(I.zeros(0, (2, 3), xp=xp)), np.zeros((2, 3)))
    np.testing.assert_array_equal(_np(I.ones(0, (2,), xp=xp)), np.ones(2))
    np.testing.assert_array_equal(_np(I.constant(0, (2,), -3.0, xp=xp)), [-3.0, -3.0])


def test_bias_errors():
    with pytest.raises(ValueError, match="sum to 1"):
        I.output_bias_from_marginals([0.2, 0.2])
    with pytest.raises(ValueError, match="> 0"):
        I.output_bias_from_marginals([0.0, 1.0])
    with pytest.raises(ValueError, match=r"p must be in \(0, 1\)"):
        I.sigmoid_output_bias(1.0)
    with pytest.raises(ValueError, match="hidden_size"):
        I.lstm_forget_bias(0)


# -------------------------------------------------------------------------------------- LSUV


def test_lsuv_three_layer_tanh_mlp():
    rng = np.random.default_rng(0)
    x = rng.normal(scale=3.0, size=(256, 64))
    shapes = [(128, 64), (96, 128), (48, 96)]  # torch layout (out, in)
    weights = [np.full(s, 7.0) for s in shapes]

    def forward(ws):
        outs, h = [], x
        for w in ws:
            h = np.tanh(h @ w.T) * 1.7  # scaled tanh so unit variance is reachable
            outs.append(h)
        return outs

    new, rep = I.lsuv(0, weights, forward, tol=0.05, max_iter=10)
    assert all(np.all(w == 7.0) for w in weights)  # pure
    assert len(rep.iterations) == 3 and all(0 <= it <= 10 for it in rep.iterations)
    assert all(rep.converged)
    for v_rep, out in zip(rep.variances, forward(new)):
        assert abs(out.var() - 1.0) < 0.05 and v_rep == pytest.approx(out.var())
    for w, s in zip(new, shapes):  # rescaled orthogonal: rows still mutually orthogonal
        g = w @ w.T if s[0] <= s[1] else w.T @ w
        np.testing.assert_allclose(g, g[0, 0] * np.eye(g.shape[0]), atol=1e-10 * g[0, 0])
    _, rep0 = I.lsuv(0, weights, forward, tol=0.05, max_iter=0)
    assert rep0.iterations == (0, 0, 0)


# ------------------------------------------------------------------------ registry and errors


def test_registry():
    reg = I.INITIALIZERS
    with pytest.raises(TypeError):
        reg["mine"] = I.zeros  # read-only
    for a, b in [("xavier_normal", "xavier_normal_"), ("kaiming_uniform", "kaiming_uniform_"),
                 ("sparse", "martens_sparse"), ("sparse_", "torch_sparse"), ("eye", "eye_"), ("dirac", "dirac_")]:
        assert reg[a] is reg[b]
    for name in ["glorot_normal", "glorot_uniform", "he_normal", "he_uniform", "lecun_normal", "lecun_uniform",
                 "variance_scaling", "orthogonal", "zeros", "ones", "constant", "lsuv"]:
        assert name in reg
    exported = {n for n in I.__all__ if callable(getattr(I, n)) and n[0].islower()} - {"calculate_gain", "compute_fans"}
    assert exported <= {f.__name__ for f in reg.values()}, exported - {f.__name__ for f in reg.values()}
    for name, fn in reg.items():
        assert fn.__doc__ and len(fn.__doc__) > 30, name


ERRORS = [
    (lambda: I.kaiming_normal(0, (4, 4), mode="fan_avg"), ValueError, r"mode must be one of 'fan_in', 'fan_out'"),
    (lambda: I.variance_scaling(0, (4, 4), 1.0, "fan_x"), ValueError, r"mode must be one of .*'fan_geo_avg'"),
    (lambda: I.variance_scaling(0, (4, 4), 1.0, "fan_in", "cauchy"), ValueError,
     r"distribution must be one of 'truncated_normal', 'normal', 'uniform'"),
    (lambda: I.kaiming_uniform(0, (4, 4), nonlinearity="swish"), ValueError, r"nonlinearity must be one of"),
    (lambda: I.xavier_uniform(0, (4,)), ValueError, r"shape must have at least 2 dimensions"),
    (lambda: I.he_normal(0, ()), ValueError, r"shape must have at least 2 dimensions"),
    (lambda: I.orthogonal(0, (5,)), ValueError, r"shape must have at least 2 dimensions"),
    (lambda: I.xavier_normal(0, (4, 4), gain=-1.0), ValueError, r"gain must be finite and >= 0; got -1.0"),
    (lambda: I.variance_scaling(0, (4, 4), -2.0), ValueError, r"scale must be finite and >= 0"),
    (lambda: I.torch_sparse(0, (4, 4), 0.5, std=-0.1), ValueError, r"std must be finite and >= 0"),
    (lambda: I.torch_sparse(0, (4, 4), 1.5), ValueError, r"sparsity must be in \[0, 1\]"),
    (lambda: I.torch_sparse(0, (4, 4, 2), 0.5), ValueError, r"2-D"),
    (lambda: I.xavier_uniform(0, (4, 4), layout="flax"), ValueError, r"layout must be one of 'torch', 'jax'"),
    (lambda: I.xavier_uniform("seed", (4, 4)), TypeError, r"key must be a v0ref.random.Key"),
    (lambda: I.xavier_uniform(0, (4, 4), scale=1.0), TypeError, r"scale"),
    (lambda: I.eye(0, (2, 2, 2)), ValueError, r"2-D"),
    (lambda: I.lsuv(0, [np.eye(3)], lambda w: [w[0]], tol=-1), ValueError, r"tol"),
]


@pytest.mark.parametrize("call,exc,msg", ERRORS, ids=[str(i) for i in range(len(ERRORS))])
def test_errors(call, exc, msg):
    with pytest.raises(exc, match=msg):
        call()
