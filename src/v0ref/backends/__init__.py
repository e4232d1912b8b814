"""Ports: the registry's algorithms mapped onto one framework each.

A port is an object with a ``name`` and ``optimizer(name, params, **kwargs)``, the factory that
``v0ref.optimizer`` calls while its backend is active.  v0ref's own ports are listed in
``_BUILTIN``; third-party ports register under the entry point group ``"v0ref.ports"``
(``[project.entry-points."v0ref.ports"] myport = "mypkg.port:PORT"``).  Ports are loaded lazily,
so listing them imports no framework.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any, Protocol, runtime_checkable

__all__ = ["Port", "available_ports", "get_port"]

# backend name -> "module:attribute" of its port object
_BUILTIN: dict[str, str] = {
    "numpy": "v0ref.backends.numpy:PORT",
    "array_api_strict": "v0ref.backends.numpy:PORT",
}


@runtime_checkable
class Port(Protocol):
    """What a port provides (the conformance harness will extend this)."""

    name: str

    def optimizer(self, name: str, params: Any, **kwargs: Any) -> Any: ...


def _targets() -> dict[str, str]:
    targets = dict(_BUILTIN)
    for ep in entry_points(group="v0ref.ports"):
        targets.setdefault(ep.name, ep.value)
    return targets


def available_ports() -> tuple[str, ...]:
    """Names of the ports v0ref knows of (built in or registered through entry points)."""
    return tuple(sorted(_targets()))


def get_port(backend: str) -> Port:
    """The port serving ``backend``; a clear error lists the known ones when there is none."""
    targets = _targets()
    if backend not in targets:
        raise LookupError(f"no optimizer port for backend {backend!r} is installed; "
                          f"available ports: {', '.join(sorted(targets))}")
    module, _, attr = targets[backend].partition(":")
    return getattr(importlib.import_module(module), attr)
