"""The oracle: every optimizer written once over the Python array API standard.

``OPTIMIZERS`` is the one registry (a read-only mapping name -> `Algorithm`) that tests, docs,
the CLI and the conformance harness iterate.  Every public module in this package registers its
entries when imported; they are discovered automatically, so adding an algorithm is adding one
file here.
"""

from __future__ import annotations

import importlib
import pkgutil

from ._core import Algorithm, ErrorCase, Hyper, Reference, registry

OPTIMIZERS = registry

for _module in pkgutil.iter_modules(__path__):
    if not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["OPTIMIZERS", "Algorithm", "ErrorCase", "Hyper", "Reference"]
