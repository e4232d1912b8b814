"""Objectives: hand-written loss, gradient, Hessian- and Gauss-Newton-vector products against
central finite differences and against torch.func / jax autodiff; namespaces; errors."""

from __future__ import annotations

import numpy as np
import pytest

from v0ref.objectives import OBJECTIVES, NGOSLinear, Quadratic, SaddleToy

# small instances so every check runs in milliseconds
SMALL = {
    "quadratic": dict(n=5, cond=10.0, shapes=((2,), (3,))),
    "rosenbrock": dict(n=5),
    "beale": {},
    "himmelblau": {},
    "logistic_regression": dict(n_samples=12, n_features=3),
    "softmax_regression": dict(n_samples=12, n_features=3, n_classes=4),
    "mlp": dict(sizes=(3, 4, 2), n_samples=6, l2=0.1),
    "deep_autoencoder": dict(sizes=(5, 4, 2, 4, 5), n_samples=6),
    "ngos_linear": dict(n=4),
    "saddle_toy": {},
}
NAMES = sorted(OBJECTIVES)


def _point(f, seed=0):
    rng = np.random.default_rng(seed)
    return [s + 0.3 * rng.standard_normal(s.shape) for s in f.x0()], \
           [rng.standard_normal(s.shape) for s in f.x0()]


def _dot(a, b):
    return float(sum(np.sum(x * y) for x, y in zip(a, b)))


def test_registry_is_complete():
    assert set(SMALL) == set(OBJECTIVES)
    with pytest.raises(KeyError, match="unknown objective 'rosenbrok'; valid: beale"):
        OBJECTIVES["rosenbrok"]


@pytest.mark.parametrize("name", NAMES)
def test_gradient_and_hvp_match_finite_differences(name):
    f = OBJECTIVES[name](**SMALL[name])
    x, v = _point(f)
    h = 1e-6
    xp_, xm = [a + h * b for a, b in zip(x, v)], [a - h * b for a, b in zip(x, v)]
    fd = (float(f.loss(xp_)) - float(f.loss(xm))) / (2 * h)
    assert fd == pytest.approx(_dot(f.grad(x), v), rel=1e-7, abs=1e-7)
    fd_hv = [(a - b) / (2 * h) for a, b in zip(f.grad(xp_), f.grad(xm))]
    for got, want in zip(f.hvp(x, v), fd_hv):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    loss, grads = f.value_and_grad(x)
    assert float(loss) == float(f.loss(x))
    for a, b in zip(grads, f.grad(x)):
        np.testing.assert_array_equal(a, b)


def _torch_fn(f):
    torch = pytest.importorskip("torch")

    def loss(*xs):
        return f.loss(list(xs))
    return torch, loss


@pytest.mark.parametrize("name", NAMES)
def test_against_torch_func(name):
    torch, loss = _torch_fn(f := OBJECTIVES[name](**SMALL[name]))
    x, v = _point(f, 1)
    tx, tv = [torch.tensor(a) for a in x], [torch.tensor(a) for a in v]
    grads = torch.func.grad(loss, argnums=tuple(range(len(tx))))(*tx)
    for got, want in zip(f.grad(tx), grads):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12, atol=1e-12)
    # Hessian-vector product: forward-over-reverse
    gfn = torch.func.grad(loss, argnums=tuple(range(len(tx))))
    _, hv = torch.func.jvp(gfn, tuple(tx), tuple(tv))
    for got, want in zip(f.hvp(tx, tv), hv):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-10, atol=1e-10)


def _gn_reference(f, x, v):
    """``G v = Jᵀ H_ℓ J v`` built with jax: J from the model outputs / residuals, H_ℓ by autodiff."""
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    name = f.name
    if name in ("rosenbrock", "beale", "himmelblau"):
        def outputs(*p):
            if name == "rosenbrock":
                (z,) = p
                return jnp.concatenate([10.0 * (z[1:] - z[:-1] ** 2), 1.0 - z[:-1]])
            res = f._residuals(*p)
            return jnp.stack([r for r, *_ in res])

        def outer(o):
            return jnp.sum(o * o)
    elif name in ("quadratic", "ngos_linear"):
        return [np.asarray(a) for a in f.hvp(x, v)]          # G = H (a quadratic / linear loss)
    elif name in ("logistic_regression", "softmax_regression"):
        def outputs(w, b):
            return jnp.asarray(f.X) @ w + b

        def outer(z):
            if name == "logistic_regression":
                return jnp.mean(jnp.logaddexp(0.0, z) - jnp.asarray(f.y) * z)
            return -jnp.sum(jnp.asarray(f.Y) * jax.nn.log_softmax(z)) / f.X.shape[0]
    else:   # networks: outputs = last pre-activation
        def outputs(*p):
            return f._forward(list(p))[2]

        def outer(o):
            return f._per_sample(o, o)[0] / f.n_samples

    xs, vs = tuple(jnp.asarray(a) for a in x), tuple(jnp.asarray(a) for a in v)
    out, jv = jax.jvp(outputs, xs, vs)
    _, hjv = jax.jvp(jax.grad(outer), (out,), (jv,))
    _, vjp = jax.vjp(outputs, *xs)
    gv = vjp(hjv)
    l2 = getattr(f, "l2", 0.0)
    if name in ("logistic_regression", "softmax_regression") or name in ("mlp", "deep_autoencoder"):
        weights = [0] if name in ("logistic_regression", "softmax_regression") else range(0, len(x), 2)
        gv = [np.asarray(g) + (l2 * v[i] if i in weights else 0.0) for i, g in enumerate(gv)]
    return [np.asarray(g) for g in gv]


@pytest.mark.parametrize("name", [n for n in NAMES if OBJECTIVES[n](**SMALL[n]).has_gnvp])
def test_gnvp_against_jax(name):
    f = OBJECTIVES[name](**SMALL[name])
    x, v = _point(f, 2)
    want = _gn_reference(f, x, v)
    for got, w in zip(f.gnvp(x, v), want):
        np.testing.assert_allclose(got, w, rtol=1e-10, atol=1e-12)
    # G is symmetric positive semi-definite: vᵀGv >= 0 and uᵀGv = vᵀGu
    _, u = _point(f, 3)
    assert _dot(v, f.gnvp(x, v)) >= -1e-12
    assert _dot(u, f.gnvp(x, v)) == pytest.approx(_dot(v, f.gnvp(x, u)), rel=1e-10, abs=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_against_jax_autodiff(name):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    f = OBJECTIVES[name](**SMALL[name])
    x, v = _point(f, 4)
    jx, jv = [jax.numpy.asarray(a) for a in x], [jax.numpy.asarray(a) for a in v]
    grad_fn = jax.grad(lambda p: f.loss(p))
    for got, want in zip(f.grad(jx), grad_fn(jx)):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-12, atol=1e-12)
    _, hv = jax.jvp(grad_fn, (jx,), (jv,))
    for got, want in zip(f.hvp(jx, jv), hv):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("name", ["mlp", "deep_autoencoder", "logistic_regression", "softmax_regression"])
def test_fisher_diag_is_mean_of_squared_per_sample_gradients(name):
    f = OBJECTIVES[name](**SMALL[name])
    x, _ = _point(f, 5)
    n = f.X.shape[0]
    per_sample = []
    for i in range(n):   # ℓ_i alone: an objective on sample i only (mean over 1 sample)
        g = type(f).__new__(type(f))
        g.__dict__.update(f.__dict__)
        g.X = f.X[i:i + 1]
        if hasattr(f, "Y"):
            g.Y = f.Y[i:i + 1]
        if hasattr(f, "y") and not hasattr(f, "Y"):
            g.y = f.y[i:i + 1]
        per_sample.append(g.grad(x))
    want = [np.mean([ps[j] ** 2 for ps in per_sample], axis=0) for j in range(len(x))]
    for got, w in zip(f.fisher_diag(x), want):
        np.testing.assert_allclose(got, w, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("name", NAMES)
def test_array_api_strict_and_float32(name):
    xps = pytest.importorskip("array_api_strict")
    f = OBJECTIVES[name](**SMALL[name])
    x, v = _point(f, 6)
    sx, sv = [xps.asarray(a) for a in x], [xps.asarray(a) for a in v]
    np.testing.assert_allclose(float(f.loss(sx)), float(f.loss(x)), rtol=1e-14)
    for a, b in zip(f.hvp(sx, sv), f.hvp(x, v)):
        np.testing.assert_allclose(np.asarray(a), b, rtol=1e-12, atol=1e-14)
    x32 = f.x0(xps, "float32")
    assert all(a.dtype == xps.float32 for a in f.grad(x32))


def test_known_optima():
    for name in ("rosenbrock", "beale", "himmelblau", "quadratic", "saddle_toy", "logistic_regression",
                 "softmax_regression"):
        f = OBJECTIVES[name](**SMALL[name])
        g = np.concatenate([np.ravel(a) for a in f.grad(f.optimum)])
        assert np.max(np.abs(g)) < 1e-9, name
        assert float(f.loss(f.optimum)) == pytest.approx(f.f_opt, abs=1e-12)
    h = OBJECTIVES["himmelblau"]()
    for opt in h.optima:
        assert float(h.loss(opt)) < 1e-10


def test_quadratic_spectrum():
    f = Quadratic(n=6, cond=1e3)
    np.testing.assert_allclose(np.linalg.eigvalsh(f.A), np.geomspace(1, 1e3, 6), rtol=1e-10)
    with pytest.raises(ValueError, match="cond must be a finite number >= 1"):
        Quadratic(n=3, cond=0.5)
    with pytest.raises(ValueError, match="eigenvalues must be 3 finite positive numbers"):
        Quadratic(n=3, eigenvalues=[1.0, -1.0, 2.0])
    with pytest.raises(ValueError, match="shapes"):
        Quadratic(n=3, shapes=((2,),))


def test_ngos_noise_moments_and_determinism():
    f = NGOSLinear(n=3, c=[1.0, -2.0, 0.5], sigma=[0.1, 1.0, 3.0], seed=7)
    x = f.x0()
    draws = np.stack([f.sample_grad(x, t)[0] for t in range(4000)])
    np.testing.assert_array_equal(f.sample_grad(x, 5)[0], draws[5])          # same seed, same step
    assert not np.array_equal(draws[5], draws[6])
    se = np.sqrt(f.second_moment / 4000)
    assert np.all(np.abs(draws.mean(0) - f.mean) < 5 * se)                   # E[g] = c
    assert np.all(np.abs((draws ** 2).mean(0) - f.second_moment) < 0.15 * f.second_moment)   # E[g²] = c² + σ²
    torch = pytest.importorskip("torch")
    tg = f.sample_grad([torch.zeros(3, dtype=torch.float64)], 5)[0]
    np.testing.assert_allclose(tg.numpy(), draws[5], rtol=1e-12)             # same bits on torch
    with pytest.raises(ValueError, match="step must be an integer >= 0"):
        f.sample_grad(x, -1)


def test_saddle_toy_landscape():
    f = SaddleToy()
    assert f.f_opt < f.f_local < float(f.loss(f.x0()))
    assert f.optimum[0][1] < 0 < f.local_minimum[0][1]
    # both are minima: positive definite Hessians
    for point in (f.optimum, f.local_minimum):
        h = np.stack([f.hvp(point, [e])[0] for e in np.eye(2)], axis=1)
        assert np.all(np.linalg.eigvalsh(h) > 0)


def test_bad_inputs():
    f = OBJECTIVES["rosenbrock"](n=3)
    with pytest.raises(ValueError, match=r"rosenbrock: x has shapes \[\(2,\)\]; expected \[\(3,\)\]"):
        f.loss([np.zeros(2)])
    with pytest.raises(TypeError, match="x must be a list of arrays"):
        f.grad(np.zeros(3))
    with pytest.raises(NotImplementedError, match="no Gauss-Newton"):
        SaddleToy().gnvp(SaddleToy().x0(), SaddleToy().x0())
    with pytest.raises(ValueError, match="activation must be one of"):
        OBJECTIVES["mlp"](activation="relu")
    with pytest.raises(ValueError, match="n must be an integer >= 2"):
        OBJECTIVES["rosenbrock"](n=1)
