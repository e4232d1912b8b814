"""Generic tests over the registry: every algorithm, every hyperparameter case, every namespace.

Adding an algorithm to ``v0ref/algorithms/`` adds it here with no edit: its ``cases`` and
``errors`` are data on the entry.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from v0ref import OPTIMIZERS

from .conftest import to_numpy

# the element-wise contract (one array in, one array out); whole-vector entries: tests/test_whole_vector.py
ELEMENTWISE = [name for name, alg in OPTIMIZERS.items() if alg.kind == "elementwise"]
CASES = [pytest.param(name, kw, id=f"{name}-{i}") for name, alg in OPTIMIZERS.items() if alg.kind == "elementwise"
         for i, kw in enumerate(alg.cases)]
ERRORS = [pytest.param(name, e, id=f"{name}-{i}") for name, alg in OPTIMIZERS.items()
          for i, e in enumerate(alg.errors)]
SHAPES = [(), (0,), (1,), (5,), (3, 4), (2, 3, 3, 3)]


def _run(alg, hp, xp, dtype, shape, steps=4, seed=0, with_moments=True):
    rng = np.random.default_rng(seed)
    mk = lambda a: xp.asarray(a.astype(dtype))  # noqa: E731
    p = mk(rng.standard_normal(shape))
    v0 = mk(rng.chisquare(1, size=shape) * 1e-2) if with_moments and alg.second_moment else None
    m0 = mk(1e-2 * rng.standard_normal(shape)) if with_moments and alg.first_moment else None
    state = alg.init(p, hp, v0=v0, m0=m0)
    out = []
    for _ in range(steps):
        g = mk(rng.standard_normal(shape))
        p, state = alg.update(p, g, state, hp)
        out.append((p, state))
    return out


def _arrays(state):
    return {k: v for k, v in state._asdict().items() if hasattr(v, "shape")}


@pytest.mark.parametrize(("name", "kw"), CASES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_namespace_dtype_shape_preserved(name, kw, dtype, xp):
    alg = OPTIMIZERS[name]
    hp = alg.hyper(**kw)
    for shape in SHAPES:
        p, state = _run(alg, hp, xp, dtype, shape)[-1]
        want = getattr(xp, dtype)
        assert p.dtype == want and tuple(p.shape) == shape
        assert state.step == 4
        assert set(state._fields) >= {"step"}
        for field, arr in _arrays(state).items():
            assert arr.dtype == want, f"state {field} is {arr.dtype}"
            assert tuple(arr.shape) == shape
            assert type(arr) is type(p)


@pytest.mark.parametrize(("name", "kw"), CASES)
def test_array_api_strict_equals_numpy_bitwise(name, kw):
    """The same oracle code on array_api_strict and numpy: identical bits (strict wraps numpy)."""
    strict = pytest.importorskip("array_api_strict")
    import array_api_compat.numpy as npx
    alg = OPTIMIZERS[name]
    hp = alg.hyper(**kw)
    a = _run(alg, hp, npx, "float64", (3, 4))[-1][0]
    b = _run(alg, hp, strict, "float64", (3, 4))[-1][0]
    np.testing.assert_array_equal(to_numpy(a), to_numpy(b))


@pytest.mark.parametrize(("name", "kw"), CASES)
def test_float32_tracks_float64(name, kw):
    """The oracle in float32 stays within float32 rounding of itself in float64 (a sanity bound)."""
    import array_api_compat.numpy as npx
    alg = OPTIMIZERS[name]
    hp = alg.hyper(**kw)
    lo = _run(alg, hp, npx, "float32", (50,), steps=10)
    hi = _run(alg, hp, npx, "float64", (50,), steps=10)
    for (p32, _), (p64, _) in zip(lo, hi):
        np.testing.assert_allclose(p32, p64, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(("name", "kw"), CASES)
def test_update_is_pure(name, kw):
    alg = OPTIMIZERS[name]
    hp = alg.hyper(**kw)
    rng = np.random.default_rng(1)
    p, g = rng.standard_normal(6), rng.standard_normal(6)
    state = alg.init(p, hp, v0=np.full(6, 0.1) if alg.second_moment else None)
    p_copy, g_copy, state_copy = p.copy(), g.copy(), copy.deepcopy(state)
    alg.update(p, g, state, hp)
    np.testing.assert_array_equal(p, p_copy)
    np.testing.assert_array_equal(g, g_copy)
    for field, arr in _arrays(state).items():
        np.testing.assert_array_equal(arr, getattr(state_copy, field))


@pytest.mark.parametrize(("name", "kw"), CASES)
def test_zero_gradient_still_advances_state(name, kw):
    alg = OPTIMIZERS[name]
    hp = alg.hyper(**kw)
    p = np.ones(4)
    state = alg.init(p, hp, m0=np.full(4, 0.5) if alg.first_moment else None,
                     v0=np.full(4, 0.5) if alg.second_moment else None)
    _, new = alg.update(p, np.zeros(4), state, hp)
    assert new.step == 1
    for field in alg.first_moment:   # m decays towards 0 unless beta1 = 0 makes it 0 at once
        assert np.all(np.abs(getattr(new, field)) <= 0.5)


@pytest.mark.parametrize(("name", "kw"), CASES)
def test_nonfinite_gradients_propagate(name, kw):
    """NaN where the gradient is NaN, finite elsewhere: no silent skipping (DESIGN, edge cases)."""
    alg = OPTIMIZERS[name]
    hp = alg.hyper(**kw)
    p = np.ones(3)
    g = np.array([np.nan, 0.5, -0.25])
    new_p, _ = alg.update(p, g, alg.init(p, hp), hp)
    assert np.isnan(new_p[0])
    assert np.all(np.isfinite(new_p[1:]))


@pytest.mark.parametrize(("name", "error"), ERRORS)
def test_error_cases(name, error):
    with pytest.raises(error.error, match=error.match):
        OPTIMIZERS[name].hyper(**error.kwargs)


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_unknown_hyperparameter_lists_valid_names(name):
    valid = ".*lr" if "lr" in OPTIMIZERS[name].defaults() else ".*convention"
    with pytest.raises(TypeError, match=r"unknown hyperparameter\(s\) lrr; valid: " + valid):
        OPTIMIZERS[name].hyper(lrr=0.1)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_moment_shape_and_namespace_checked(name, xp):
    alg = OPTIMIZERS[name]
    p = xp.zeros((3, 2), dtype=xp.float64)
    for moment, targets in (("v0", alg.second_moment), ("m0", alg.first_moment)):
        if targets:
            with pytest.raises(ValueError, match=rf"{moment} has shape \(2, 3\) but the parameter has shape \(3, 2\)"):
                alg.init(p, alg.hyper(), **{moment: xp.zeros((2, 3), dtype=xp.float64)})
        else:
            with pytest.raises(ValueError, match=rf"keeps no .*-moment state; {moment} does not apply"):
                alg.init(p, alg.hyper(), **{moment: xp.zeros((3, 2), dtype=xp.float64)})
    with pytest.raises(ValueError, match=r"grad has shape \(3,\) but the parameter has shape \(3, 2\)"):
        alg.update(p, xp.zeros((3,), dtype=xp.float64), alg.init(p, alg.hyper()), alg.hyper())


def test_unknown_algorithm_lists_valid_ones():
    with pytest.raises(KeyError, match=r"unknown algorithm 'adamm'; valid: .*adam, adamax, adamw"):
        OPTIMIZERS["adamm"]


def test_registry_is_read_only():
    with pytest.raises(TypeError):
        OPTIMIZERS["mine"] = OPTIMIZERS["adam"]  # type: ignore[index]
    assert "adam" in OPTIMIZERS and len(OPTIMIZERS) == len(list(OPTIMIZERS))


def test_whole_vector_entry_metadata_is_consistent():
    for name, alg in OPTIMIZERS.items():
        if alg.kind != "whole_vector":
            continue
        state = alg.init([np.zeros(2), np.zeros((2, 3))], alg.hyper())
        assert set(alg.state_names) <= set(state._fields), name
        assert set(alg.first_moment) | set(alg.second_moment) <= set(alg.state_names)
        assert alg.summary and alg.doc and alg.cases[0] == {}


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_entry_metadata_is_consistent(name):
    alg = OPTIMIZERS[name]
    state = alg.init(np.zeros(2), alg.hyper(**({"amsgrad": True} if "amsgrad" in alg.defaults() else {})))
    assert set(alg.state_names) <= set(state._fields)
    assert set(alg.first_moment) | set(alg.second_moment) <= set(alg.state_names)
    assert alg.summary and alg.doc and alg.cases[0] == {}


@pytest.mark.parametrize("name", ELEMENTWISE)
@settings(max_examples=30, deadline=None)
@given(shape=st.lists(st.integers(0, 4), max_size=4).map(tuple), dtype=st.sampled_from(["float32", "float64"]),
       lr=st.floats(0.0, 10.0), b1=st.floats(0.0, 0.999), b2=st.floats(0.0, 0.9999),
       eps=st.floats(1e-12, 1e-1), seed=st.integers(0, 2**31), with_v0=st.booleans())
def test_hypothesis_finite_and_well_formed(name, shape, dtype, lr, b1, b2, eps, seed, with_v0):
    """Random shapes (0-d, empty), dtypes and hyperparameters: finite results of the right form."""
    import array_api_compat.numpy as npx
    alg = OPTIMIZERS[name]
    fields = alg.defaults()
    proposed = {"lr": lr, "betas": (b1, b2), "eps": eps}
    hp = alg.hyper(**{k: v for k, v in proposed.items() if k in fields})
    for p, state in _run(alg, hp, npx, dtype, shape, steps=3, seed=seed, with_moments=with_v0):
        assert p.dtype == np.dtype(dtype) and p.shape == shape
        assert np.all(np.isfinite(p))
        for arr in _arrays(state).values():
            assert np.all(np.isfinite(arr))
