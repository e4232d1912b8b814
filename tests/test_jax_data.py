"""Data-driven v0 on JAX (`v0ref.backends._jax_data`) against closed-form gradients and the oracle.

The model is linear least squares, ``loss = mean_i ½‖x_i W + b − y_i‖²``, whose per-sample
gradients are known in closed form (``∇_W = x_iᵀ r_i``, ``∇_b = r_i``, ``r_i = x_i W + b − y_i``), so
the oracle's statistics are computed with NumPy from those formulas with the repo's stop rule,
independently of JAX's autodiff, vmap and batching.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

jax = pytest.importorskip("jax")
jnp = jax.numpy

from v0ref import moments  # noqa: E402
from v0ref.backends._jax_data import DATA_KINDS, data_v0, grad_stats  # noqa: E402
from v0ref.stats import GradStats  # noqa: E402

RTOL = 1e-12   # float64 statistics from float64 gradients: only summation-order rounding differs


def loss_fn(params, batch):
    x, y = batch
    r = x @ params["W"] + params["b"] - y
    return 0.5 * jnp.mean(jnp.sum(r * r, axis=-1))


def closed_form_grads(params, x, y):
    """Per-sample gradients ``(n, d_in, d_out)`` and ``(n, d_out)`` in float64 NumPy."""
    r = x @ params["W"] + params["b"] - y
    return np.einsum("ni,no->nio", x, r), r


def problem(seed, n, d_in, d_out):
    rng = np.random.default_rng(seed)
    params = {"W": rng.standard_normal((d_in, d_out)), "b": rng.standard_normal(d_out)}
    x, y = rng.standard_normal((n, d_in)), rng.standard_normal((n, d_out)) + 0.5
    return params, x, y


def batches_of(x, y, size):
    return [(x[i:i + size], y[i:i + size]) for i in range(0, len(x), size)]


def oracle_stats(params, x, y, *, mode, batch, data_size):
    """The repo's estimate with NumPy: minibatch means until K·B > data_size, or data_size samples.
    Leaves in `jax.tree.leaves` order of ``{"W", "b"}``, i.e. (W, b)."""
    gw, gb = closed_form_grads(params, x, y)
    shapes = [np.zeros(params["W"].shape), np.zeros(params["b"].shape)]
    if mode == "per_sample":
        stats = GradStats(shapes, mode="per_sample", data_size=data_size)
        for i in range(min(data_size, len(x))):
            stats.update([gw[i], gb[i]])
        return stats
    stats = GradStats(shapes, mode="minibatch", batch_size=batch, data_size=data_size)
    for i in range(0, len(x) - batch + 1, batch):
        if stats.update([gw[i:i + batch].mean(0), gb[i:i + batch].mean(0)]):
            break
    return stats


def to_jax(params):
    return jax.tree.map(jnp.asarray, params)


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**31), d_in=st.integers(1, 4), d_out=st.integers(1, 3),
       batch=st.sampled_from([1, 4, 7]), data_size=st.integers(5, 40), mode=st.sampled_from(["minibatch", "per_sample"]),
       scale=st.sampled_from([1.0, 0.25, 100.0]))
def test_v0_matches_oracle_from_closed_form_gradients(seed, d_in, d_out, batch, data_size, mode, scale):
    """Eq. 10 from JAX's gradients == the oracle's ``data`` strategy from closed-form gradients."""
    params, x, y = problem(seed, 48, d_in, d_out)
    with jax.enable_x64(True):
        stats = grad_stats(loss_fn, to_jax(params), batches_of(x, y, batch), mode=mode, data_size=data_size)
        v0 = data_v0(None, to_jax(params), None, stats=stats, scale=scale)
    ref = oracle_stats(params, x, y, mode=mode, batch=batch, data_size=data_size)
    assert stats.count == ref.count and stats.batch_size == ref.batch_size
    for got, want in zip(stats.mean + stats.var, ref.mean + ref.var):
        np.testing.assert_allclose(got, want, rtol=RTOL, atol=1e-13)
    want = moments.resolve("v0", "data", [params["W"], params["b"]], scale=scale, stats=ref)
    for name, w in zip(("W", "b"), want):
        assert v0[name].dtype == jnp.float64 and v0[name].shape == params[name].shape
        np.testing.assert_allclose(np.asarray(v0[name]), w, rtol=RTOL, atol=1e-13)


def test_v0_is_eq10_numerically():
    """Per-sample ``data`` v0 is σ·E[g²] of the closed-form per-sample gradients (Eq. 10 at any σ)."""
    params, x, y = problem(3, 30, 3, 2)
    gw, gb = closed_form_grads(params, x, y)
    with jax.enable_x64(True):
        v0 = data_v0(loss_fn, to_jax(params), batches_of(x, y, 8), mode="per_sample", data_size=30, scale=0.5)
    np.testing.assert_allclose(np.asarray(v0["W"]), 0.5 * (gw ** 2).mean(0), rtol=1e-11)
    np.testing.assert_allclose(np.asarray(v0["b"]), 0.5 * (gb ** 2).mean(0), rtol=1e-11)


def test_per_sample_equals_minibatch_with_batch_one():
    params, x, y = problem(1, 25, 3, 2)
    with jax.enable_x64(True):
        p = to_jax(params)
        per = grad_stats(loss_fn, p, batches_of(x, y, 5), mode="per_sample", data_size=25)
        # minibatch stops at the first K with K·1 > data_size: data_size = 24 covers all 25
        mini = grad_stats(loss_fn, p, batches_of(x, y, 1), mode="minibatch", data_size=24)
        v_per = data_v0(None, p, None, stats=per)
        v_mini = data_v0(None, p, None, stats=mini)
    assert per.count == mini.count == 25 and mini.batch_size == 1
    for a, b in zip(per.mean + per.var, mini.mean + mini.var):
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=1e-14)
    for name in ("W", "b"):
        np.testing.assert_allclose(np.asarray(v_per[name]), np.asarray(v_mini[name]), rtol=RTOL)


def test_per_sample_statistics_do_not_depend_on_batching():
    """Exactly data_size samples are used (the last batch is cut), whatever the batch size."""
    params, x, y = problem(2, 40, 2, 2)
    with jax.enable_x64(True):
        runs = [grad_stats(loss_fn, to_jax(params), batches_of(x, y, b), mode="per_sample", data_size=23)
                for b in (1, 6, 40)]
    for stats in runs:
        assert stats.count == 23 and stats.done
        for a, b in zip(stats.mean + stats.var, runs[0].mean + runs[0].var):
            np.testing.assert_allclose(a, b, rtol=RTOL, atol=1e-14)


def test_minibatch_stop_rule_is_the_repos():
    """B = 4, data_size = 10: K = 3 batches (3·4 = 12 > 10), the rest of the data is not read."""
    params, x, y = problem(0, 40, 2, 1)
    seen = []
    with jax.enable_x64(True):
        stats = grad_stats(loss_fn, to_jax(params), batches_of(x, y, 4), data_size=10,
                           progress=lambda done, total: seen.append((done, total)))
    assert (stats.count, stats.batch_size, stats.samples) == (3, 4, 12)
    assert seen == [(4, 10), (8, 10), (12, 10)]


def test_float32_params_get_float32_v0_without_x64():
    params, x, y = problem(4, 16, 3, 2)
    p32 = jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), params)
    stats = grad_stats(loss_fn, p32, batches_of(x.astype(np.float32), y.astype(np.float32), 4),
                       mode="per_sample", data_size=16)
    assert stats.mean[0].dtype == np.float64            # host statistics stay float64
    v0 = data_v0(None, p32, None, stats=stats)
    assert v0["W"].dtype == jnp.float32 and v0["b"].dtype == jnp.float32
    gw, gb = closed_form_grads(params, x, y)
    np.testing.assert_allclose(np.asarray(v0["W"]), (gw ** 2).mean(0), rtol=1e-4)


@pytest.mark.parametrize("kind", DATA_KINDS)
def test_every_data_kind_matches_the_oracle_strategy(kind):
    params, x, y = problem(5, 24, 3, 2)
    key = 7
    with jax.enable_x64(True):
        stats = grad_stats(loss_fn, to_jax(params), batches_of(x, y, 6), data_size=12)
        v0 = data_v0(None, to_jax(params), None, stats=stats, kind=kind, scale=3.0, key=key)
        m0 = (data_v0(None, to_jax(params), None, stats=stats, kind=kind, scale=2.0, key=key, which="m0")
              if moments.STRATEGIES[kind].m0 else None)
    leaves = [params["W"], params["b"]]
    want = moments.resolve("v0", kind, leaves, scale=3.0, stats=stats, key=key, layout="jax")
    assert sorted(DATA_KINDS) == sorted(["data", "grad-mean", "grad-mean-var", "grad-mean-random",
                                         "grad-var", "grad-sq"])
    np.testing.assert_array_equal(np.asarray(v0["W"]), want[0])
    np.testing.assert_array_equal(np.asarray(v0["b"]), want[1])
    if m0 is not None:
        np.testing.assert_array_equal(np.asarray(m0["b"]), 2.0 * stats.mean[1])


def test_invalid_arguments_name_the_parameter():
    params, x, y = problem(0, 8, 2, 1)
    p, data = to_jax(params), batches_of(x, y, 4)
    with pytest.raises(ValueError, match="mode must be one of"):
        grad_stats(loss_fn, p, data, mode="batch")
    with pytest.raises(ValueError, match="data_size must be a positive int"):
        grad_stats(loss_fn, p, data, data_size=0)
    with pytest.raises(TypeError, match="loss_fn must be callable"):
        grad_stats("loss", p, data)
    with pytest.raises(TypeError, match="batches must be an iterable"):
        grad_stats(loss_fn, p, 3)
    with pytest.raises(ValueError, match="batches yielded no samples"):
        grad_stats(loss_fn, p, [])
    with pytest.raises(ValueError, match=r"batches\[1\] has 3"):
        grad_stats(loss_fn, p, [(x[:4], y[:4]), (x[4:7], y[4:7])], data_size=100)
    with pytest.raises(ValueError, match="disagree on the batch length"):
        grad_stats(loss_fn, p, [(x[:4], y[:3])])
    with pytest.raises(ValueError, match="kind must be one of"):
        data_v0(loss_fn, p, data, kind="random")
    with pytest.raises(ValueError, match="scale must be a finite number"):
        data_v0(loss_fn, p, data, scale=-1.0)
    with pytest.raises(ValueError, match="which must be"):
        data_v0(loss_fn, p, data, which="v1")
    with pytest.raises(ValueError, match="needs loss_fn and batches"):
        data_v0(None, p, None)
    stats = grad_stats(loss_fn, p, data, data_size=4)
    with pytest.raises(ValueError, match="not both"):
        data_v0(loss_fn, p, data, stats=stats)
    with pytest.raises(TypeError, match="stats must be"):
        data_v0(None, p, None, stats=object())
    with pytest.raises(ValueError, match="other shapes"):
        data_v0(None, {"W": p["W"]}, None, stats=stats)
    with pytest.warns(UserWarning, match="ran out after 8 samples"):
        grad_stats(loss_fn, p, data, mode="per_sample", data_size=100)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        grad_stats(loss_fn, p, data, mode="per_sample", data_size=8)


_SHARDED = textwrap.dedent("""
    import json, sys
    import numpy as np, jax, jax.numpy as jnp
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
    from v0ref.backends._jax_data import grad_stats, data_v0

    assert len(jax.devices()) == 4, jax.devices()
    def loss_fn(params, batch):
        x, y = batch
        h = jnp.tanh(x @ params["w1"] + params["b1"])
        return jnp.mean((h @ params["w2"] - y) ** 2)

    rng = np.random.default_rng(0)
    params = {"w1": rng.standard_normal((5, 8)), "b1": np.zeros(8), "w2": rng.standard_normal((8, 2))}
    x, y = rng.standard_normal((96, 5)), rng.standard_normal((96, 2))
    mesh = Mesh(np.array(jax.devices()), ("data",))
    shard, repl = NamedSharding(mesh, P("data")), NamedSharding(mesh, P())
    one = jax.devices()[0]
    out = {}
    for mode, data_size in (("minibatch", 40), ("per_sample", 70)):
        def batches(sharding):
            return [tuple(jax.device_put(a[i:i + 16], sharding) for a in (x, y)) for i in range(0, 96, 16)]
        sharded_batches = batches(shard)
        assert all(len(b[0].sharding.device_set) == 4 for b in sharded_batches)
        p_many = jax.device_put(params, repl)
        p_one = jax.device_put(params, one)
        s_many = grad_stats(loss_fn, p_many, sharded_batches, mode=mode, data_size=data_size)
        s_one = grad_stats(loss_fn, p_one, batches(one), mode=mode, data_size=data_size)
        v_many = data_v0(None, p_many, None, stats=s_many)
        assert all(v.sharding.is_equivalent_to(repl, v.ndim) for v in jax.tree.leaves(v_many))
        v_one = data_v0(None, p_one, None, stats=s_one)
        rel = lambda a, b: float(np.max(np.abs(np.asarray(a) - np.asarray(b)) / (np.abs(np.asarray(b)) + 1e-300)))
        out[mode] = {"count": [s_many.count, s_one.count],
                     "stats": max(rel(a, b) for a, b in zip(s_many.mean + s_many.var, s_one.mean + s_one.var)),
                     "v0": max(rel(v_many[k], v_one[k]) for k in params)}
    print(json.dumps(out))
""")


def test_sharded_batches_give_one_devices_statistics(tmp_path):
    """4 host devices, batches split along the batch axis: the same statistics and v0 as one device."""
    script = tmp_path / "sharded.py"
    script.write_text(_SHARDED)
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=4", JAX_PLATFORMS="cpu",
               JAX_ENABLE_X64="1", PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["minibatch"]["count"] == [3, 3]          # 3·16 = 48 > 40
    assert result["per_sample"]["count"] == [70, 70]
    for mode in ("minibatch", "per_sample"):
        assert result[mode]["stats"] < 1e-11, result
        assert result[mode]["v0"] < 1e-11, result
