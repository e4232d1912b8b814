"""Ports: the registry's algorithms mapped onto one framework each, and the port registry.

A port is an object implementing `Port`.  Two things use it:

* ``v0ref.optimizer(name, params, **kwargs)`` calls ``port.optimizer`` for the active backend —
  the framework-idiomatic optimizer a user gets;
* the conformance harness (`v0ref.conformance`) calls ``port.open(...)`` to drive one algorithm
  step by step on framework arrays, injecting the oracle's state and reading every state array back.

v0ref's own ports are listed in ``_BUILTIN``; third-party ports register under the entry point
group ``"v0ref.ports"``::

    [project.entry-points."v0ref.ports"]
    myport = "mypkg.port:PORT"

Ports are loaded lazily, so listing them imports no framework (except CuPy, where one is
installed: whether a GPU is present decides whether its port is listed).
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Mapping, Sequence
from importlib.metadata import entry_points
from typing import Any, Protocol, runtime_checkable

__all__ = ["Port", "PortRun", "available_ports", "get_port"]

# port name -> "module:attribute" of its port object
_BUILTIN: dict[str, str] = {
    "numpy": "v0ref.backends.numpy:PORT",
    "array_api_strict": "v0ref.backends.numpy:STRICT_PORT",
    "torch": "v0ref.backends.torch:PORT",
    "jax": "v0ref.backends.jax:PORT",
    "cupy": "v0ref.backends.cupy:PORT",
}
# built-in ports that need a framework: listed as available only where it is installed
_REQUIRES: dict[str, tuple[str, ...]] = {
    "array_api_strict": ("array_api_strict",),
    "torch": ("torch",),
    "jax": ("jax", "optax"),
    "cupy": ("cupy",),
}


@runtime_checkable
class PortRun(Protocol):
    """One algorithm running on a port's arrays, as the conformance harness drives it."""

    def step(self, grads: Sequence[Any]) -> None:
        """One update of every parameter with these gradients (NumPy arrays in the run's dtype)."""

    def export(self) -> tuple[list[Any], list[dict[str, Any]]]:
        """The current parameters and **all** state, as NumPy arrays: one dict per parameter keyed by
        the oracle's state names (``step`` as an int, scalar state as Python numbers, ``None`` where
        the oracle keeps ``None``)."""


@runtime_checkable
class Port(Protocol):
    """What a port provides.

    ``name``: the port's name.  ``dtypes``: the parameter dtypes it supports (``"float32"``,
    ``"float64"``, ...).  ``supports(algorithm)``: whether it implements a registry entry.
    ``optimizer(name, params, **kwargs)``: the user-facing factory.  ``open(algorithm, hyper,
    params, states=..., moments=...)``: a `PortRun` for the harness — ``hyper`` are the oracle's
    hyperparameter keywords, ``params`` NumPy arrays in the run's dtype; either ``states`` (one dict
    per parameter in the `PortRun.export` format, to be used as the initial state) or ``moments``
    (the moment-init keywords ``v0``, ``v0_scale``, ``m0``, ``m0_scale``, ``v0_min_ndim``, ``key``,
    ``grad_stats``, ``fan_layout``, which the port resolves itself as it would for a user).
    Optionally ``supports_hyper(algorithm, hyper) -> bool`` declares hyperparameter sets a port
    does not implement (e.g. another framework's convention); the harness skips those cases.
    """

    name: str
    dtypes: tuple[str, ...]

    def supports(self, algorithm: str) -> bool: ...

    def optimizer(self, name: str, params: Any, **kwargs: Any) -> Any: ...

    def open(self, algorithm: str, hyper: Mapping[str, Any], params: Sequence[Any], *,
             states: Sequence[Mapping[str, Any]] | None = None,
             moments: Mapping[str, Any] | None = None) -> PortRun: ...


def _installed(name: str) -> bool:
    if not all(importlib.util.find_spec(mod) is not None for mod in _REQUIRES.get(name, ())):
        return False
    if name == "cupy":   # cupy installed is not enough: it needs a CUDA device
        return importlib.import_module("v0ref.backends.cupy").available()
    return True


def _targets() -> dict[str, str]:
    targets = {name: target for name, target in _BUILTIN.items() if _installed(name)}
    for ep in entry_points(group="v0ref.ports"):
        targets.setdefault(ep.name, ep.value)
    return targets


def available_ports() -> tuple[str, ...]:
    """Names of the installed ports: built-in ones whose framework is importable, and those
    registered through entry points."""
    return tuple(sorted(_targets()))


def get_port(name: str) -> Port:
    """The port called ``name``; a clear error lists the known ones when there is none."""
    targets = _targets()
    if name not in targets:
        raise LookupError(f"no optimizer port for backend {name!r} is installed; "
                          f"available ports: {', '.join(sorted(targets))}")
    module, _, attr = targets[name].partition(":")
    port = getattr(importlib.import_module(module), attr)
    missing = [m for m in ("name", "dtypes", "supports", "optimizer", "open") if not hasattr(port, m)]
    if missing:
        raise TypeError(f"port {name!r} ({targets[name]}) lacks {', '.join(missing)} of the Port protocol")
    return port
