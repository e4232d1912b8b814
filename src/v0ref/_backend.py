"""The active backend: ``v0ref.use()`` (function and context manager) and namespace lookup.

A *backend* is a name ("numpy", "array_api_strict", "torch", "jax", "cupy") that fixes two things:

* the array namespace used by functions that create arrays from nothing (random draws,
  initializers) when they are called without ``xp=``;
* the port that ``v0ref.optimizer(...)`` builds its optimizer with (see ``v0ref.backends``).

Functions that receive arrays always follow the arrays' own namespace; the active backend
only matters when there is no array to look at.  Frameworks are imported lazily, so
``import v0ref`` never loads torch, jax or cupy.
"""

from __future__ import annotations

import importlib
import threading
from types import ModuleType
from typing import Any

__all__ = ["BACKENDS", "use", "get_backend", "namespace"]

# name -> (module to import, attribute path of the array namespace inside it or "")
_NAMESPACES: dict[str, tuple[str, str]] = {
    "numpy": ("array_api_compat.numpy", ""),
    "array_api_strict": ("array_api_strict", ""),
    "torch": ("array_api_compat.torch", ""),
    "jax": ("jax.numpy", ""),
    "cupy": ("array_api_compat.cupy", ""),
}
BACKENDS: tuple[str, ...] = tuple(_NAMESPACES)

_state = threading.local()
_DEFAULT = "numpy"


def _check_name(name: str) -> str:
    if not isinstance(name, str) or name not in _NAMESPACES:
        raise ValueError(f"unknown backend {name!r}; valid backends: {', '.join(BACKENDS)}")
    return name


def get_backend() -> str:
    """Name of the active backend (``"numpy"`` unless changed with :func:`use`)."""
    return getattr(_state, "name", _DEFAULT)


class use:
    """Select the active backend, globally or for a ``with`` block.

    ``v0ref.use("torch")`` switches for the rest of the thread; ``with v0ref.use("jax"): ...``
    switches back when the block ends.  An unknown name raises ``ValueError`` listing the
    valid ones; a known name whose framework is not installed raises ``ImportError`` now,
    not at the first array operation.
    """

    def __init__(self, name: str):
        _check_name(name)
        namespace(name)  # fail early if the framework is missing
        if name == "cupy":   # ... or, for CuPy, the GPU
            from .backends.cupy import _cupy
            _cupy()
        self._previous = get_backend()
        self.name = name
        _state.name = name

    def __enter__(self) -> "use":
        return self

    def __exit__(self, *exc: Any) -> None:
        _state.name = self._previous

    def __repr__(self) -> str:
        return f"v0ref.use({self.name!r})"


def namespace(xp: Any = None) -> ModuleType:
    """Resolve ``xp`` to an array-API namespace.

    ``None`` gives the active backend's namespace, a string names a backend, and anything
    else is taken to be a namespace already and returned as it is.
    """
    if xp is None:
        xp = get_backend()
    if not isinstance(xp, str):
        return xp
    module, _ = _NAMESPACES[_check_name(xp)]
    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - depends on the environment
        framework = {"torch": "torch", "jax": "jax", "cupy": "cupy"}.get(xp, module.split(".")[0])
        raise ImportError(f"backend {xp!r} needs {framework!r}, which is not installed") from exc
