"""Shared fixtures: the array namespaces the oracle must run on, and strict comparison helpers."""

from __future__ import annotations

import os

# torch's OpenMP threads spin against each other on a loaded 2-core machine (a 100k-element op
# went from 0.04 s to 1.5 s); the oracle tests use small tensors, so one thread is also faster.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import sys  # noqa: E402
from pathlib import Path  # noqa: E402

# the repository root, so that tests import the paper experiments as ``experiments.<name>``
_ROOT = str(Path(__file__).resolve().parents[1])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from array_api_compat import array_namespace  # noqa: E402

NAMESPACES = ["numpy", "array_api_strict"]


def _get_namespace(name: str):
    if name == "numpy":
        import array_api_compat.numpy as xp
    elif name == "array_api_strict":
        xp = pytest.importorskip("array_api_strict")
    else:  # pragma: no cover
        raise ValueError(name)
    return xp


@pytest.fixture(params=NAMESPACES)
def xp(request):
    """Every oracle test that takes ``xp`` runs on numpy and on array_api_strict (array-API purity)."""
    return _get_namespace(request.param)


def to_numpy(x) -> np.ndarray:
    """Any array-API array (numpy, array_api_strict, torch, jax) as a NumPy array."""
    if hasattr(x, "detach"):
        return x.detach().cpu().numpy()
    if type(x).__module__.startswith("array_api_strict"):
        return np.asarray(x._array)
    return np.asarray(x)


def assert_close(actual, expected, *, rtol: float | None = None, atol: float = 0.0, xp=None) -> None:
    """Namespace, dtype and shape first, then values (default rtol from the dtype's eps, like scipy)."""
    if xp is not None:
        assert array_namespace(actual) is xp, f"namespace {array_namespace(actual).__name__} is not {xp.__name__}"
        if hasattr(expected, "dtype") and not isinstance(expected, np.ndarray):
            assert actual.dtype == expected.dtype, f"dtype {actual.dtype} != {expected.dtype}"
    a, e = to_numpy(actual), to_numpy(expected)
    assert a.shape == e.shape, f"shape {a.shape} != {e.shape}"
    if rtol is None:
        rtol = 4 * float(np.finfo(a.dtype).eps) ** 0.5 if a.dtype.kind == "f" else 0.0
    np.testing.assert_allclose(a, e, rtol=rtol, atol=atol)


@pytest.fixture(autouse=True)
def _isolate_jax_x64():
    """Tests that switch ``jax_enable_x64`` on globally must not leak it into later tests (JAX's
    default is off; float32 bit-identity tests against optax depend on it)."""
    import sys
    jax = sys.modules.get("jax")
    before = bool(jax.config.jax_enable_x64) if jax is not None else False
    yield
    jax = sys.modules.get("jax")
    if jax is not None and bool(jax.config.jax_enable_x64) != before:
        jax.config.update("jax_enable_x64", before)
