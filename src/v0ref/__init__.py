"""v0ref: the reference for neural-network optimization math.

Every optimizer and moment-initialization (v0/m0) strategy is written once over the Python
array API standard (the oracle, `v0ref.algorithms`); ports for PyTorch, JAX and CuPy are
verified against it step by step.

>>> import v0ref
>>> alg = v0ref.OPTIMIZERS["adam"]
>>> hp = alg.hyper(lr=1e-3)
"""

from __future__ import annotations

from typing import Any

from . import algorithms, init, moments, random, schedules, stats
from ._backend import BACKENDS, get_backend, namespace, use
from .algorithms import OPTIMIZERS

__version__ = "0.1.0"

__all__ = ["OPTIMIZERS", "STRATEGIES", "INITS", "SCHEDULES", "BACKENDS", "use", "get_backend", "namespace",
           "optimizer", "algorithms", "diagnostics", "init", "moments", "random", "schedules", "stats", "__version__"]

STRATEGIES = moments.STRATEGIES      # v0/m0 strategies
INITS = init.INITIALIZERS            # weight and bias initializers
SCHEDULES = schedules.SCHEDULES      # learning-rate and momentum schedules


def __getattr__(attr: str) -> Any:
    # v0ref.diagnostics reads results into NumPy: imported on first use, so that ``import v0ref``
    # (or v0ref.random alone) loads no array library it does not need
    if attr == "diagnostics":
        import importlib
        return importlib.import_module(".diagnostics", __name__)
    raise AttributeError(f"module 'v0ref' has no attribute {attr!r}")


def optimizer(name: str, params: Any = None, **kwargs: Any) -> Any:
    """Build the optimizer ``name`` for ``params`` with the active backend's port.

    numpy / array_api_strict / cupy: a v0ref ``Optimizer`` whose ``step(params, grads)`` returns
    the new parameters; torch: a ``torch.optim.Optimizer`` subclass instance; jax: an
    ``optax.GradientTransformation`` (``params`` omitted, as optax builds its state in ``init``).
    Keywords: the algorithm's hyperparameters plus the moment-init keywords
    ``v0, v0_scale, m0, m0_scale, v0_min_ndim, key, grad_stats, fan_layout``.
    """
    from .backends import get_port
    backend = get_backend()
    if params is None and backend != "jax":
        raise TypeError(f"v0ref.optimizer({name!r}) needs params on the {backend!r} backend "
                        "(only the jax backend builds its state later, in init)")
    return get_port(backend).optimizer(name, params, **kwargs)
