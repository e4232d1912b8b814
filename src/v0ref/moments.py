r"""Moment initialization: every v0 / m0 strategy of Abuduweili & Liu (arXiv 2412.02153).

Adam with ``v_0 = 0`` takes a sign-descent first step; a non-zero second-moment start fixes it.
Two strategies from the paper and every ``init_method`` of its code
(``Walleclipse/Adam_Initialization``, ``optimizers/optim_utils.py``) under the code's name:

=====================  =====================================================  ==========================  ========
name                   v0                                                     m0                          ndim ≥
=====================  =====================================================  ==========================  ========
``zeros``              0                                                      0                           —
``constant``           s                                                      s_m                         0
``random-chi2``        σ/(fan_in+fan_out)·χ²₁ (paper Eq. 11, poster form)     —                           2
``data``               σ·(E[g]² + Var[g]) (paper Eq. 10)                      s_m·E[g]                    0
``random``             s·X², X ~ N(0, 2/(fan_in+fan_out)) (= Eq. 11, σ = 2s)   s_m·X' (independent draw)   2
``random-kaiming``     s·K², K ~ N(0, 2/fan_in)                               s_m·K'                      2
``randommv``           s·X²                                                   X' (unscaled)               2
``grad-mean``          s·ḡ²                                                   s_m·ḡ                       0
``grad-mean-var``      s·(ḡ² + B·Var[ḡ])                                      s_m·ḡ                       0
``grad-mean-random``   s·(ḡ² + [ndim ≥ 2]·X²)                                 s_m·ḡ                       0
``grad-var``           s·Var[ḡ]                                               —                           0
``grad-sq``            s·E[ḡ²]                                                —                           0
``constant-layer``     s/(n_in + n_out)                                       —                           0
``constant-w``         s/(n_in + n_out)                                       —                           2
``constant-layermv``   s/(n_in + n_out)                                       1/(n_in + n_out)            0
=====================  =====================================================  ==========================  ========

s = ``v0_scale`` (σ of the paper), s_m = ``m0_scale``.  ``ndim ≥``: tensors with fewer dimensions
get zeros — the paper's rule "only weight matrices with two or more dimensions are initialized"
for the random strategies; the code's data strategies cover every tensor.  ``min_ndim`` overrides.

* Fans (ALGORITHMS §6.1): ``layout="torch"`` — weight ``(out, in, *kernel)``,
  ``fan_in = in·∏kernel``, ``fan_out = out·∏kernel``; ``layout="jax"`` — ``(*kernel, in, out)``.
  ``constant-layer*`` use the code's *raw* dims ``n_in = shape[0]``, ``n_out = shape[1]``
  (1 for 1-D), not fans.  Below 2-D (reached only with ``min_ndim < 2``) both fans are ``size``.
* **Factor 2** (ALGORITHMS §1.6): the code's ``random`` draws ``s·X²`` with Var[X] = 2/(fan_in+fan_out),
  i.e. ``(2s)/(fan_in+fan_out)·χ²₁``; code ``init_scale = s`` is poster σ = 2s.  ``random-chi2`` is
  the poster form with σ exactly.
* Data strategies read a `v0ref.stats.GradStats`: ḡ = its mean, Var[ḡ] its variance, B its batch
  size (1 for per-sample statistics, which makes ``grad-mean-var`` exactly Eq. 10; ``data`` is that
  strategy under the paper's name).
* Random strategies take a portable key (`v0ref.random.key`): parameter i uses
  ``fold_in(key, i)``, with sub-streams 0 for v0 and 1 for m0, so numbers do not depend on the backend.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from array_api_compat import array_namespace
from array_api_compat import device as _device

__all__ = ["STRATEGIES", "MomentStrategy", "fans", "resolve", "random_chi2", "from_stats", "LAYOUTS"]

Array = Any
LAYOUTS = ("torch", "jax")
FROM_STATS_KINDS = ("mean_var", "mean", "mean_sq", "var")


# --------------------------------------------------------------------------------------------
# fans
# --------------------------------------------------------------------------------------------

def fans(shape: Sequence[int], layout: str = "torch") -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight of ``shape`` in torch or JAX layout (ALGORITHMS §6.1)."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(map(repr, LAYOUTS))}; got {layout!r}")
    shape = tuple(int(d) for d in shape)
    if len(shape) < 2:
        size = max(math.prod(shape), 1)
        return size, size
    if layout == "torch":
        receptive = math.prod(shape[2:])
        return shape[1] * receptive, shape[0] * receptive
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


def _raw_dims(shape: tuple[int, ...]) -> tuple[int, int]:
    """The code's ``constant-layer`` dims: ``(size(0), size(1) if ndim > 1 else 1)``."""
    n_in = shape[0] if len(shape) >= 1 else 1
    n_out = shape[1] if len(shape) >= 2 else 1
    return n_in, n_out


# --------------------------------------------------------------------------------------------
# strategies
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Context:
    scale: float
    key: Any
    stats: Any
    layout: str
    stream: int          # 0 for v0, 1 for m0


MomentFn = Callable[[Array, int, _Context], Array]


@dataclass(frozen=True)
class MomentStrategy:
    """A named v0/m0 rule.  ``v0``/``m0`` map ``(param, index, context)`` to an array (or are None
    when the strategy defines no such moment); ``min_ndim`` is its default ndim rule."""

    name: str
    v0: MomentFn | None
    m0: MomentFn | None
    min_ndim: int
    needs: str | None       # "key" | "stats" | None
    formula_v0: str
    formula_m0: str
    source: str


def _key_for(ctx: _Context, index: int) -> Any:
    from . import random as _random
    return _random.fold_in(_random.fold_in(ctx.key, index), ctx.stream)


def _on_device_of(x: Array, p: Array) -> Array:
    xp = array_namespace(p)
    return x if _device(x) == _device(p) else xp.asarray(x, device=_device(p))


def _normal(p: Array, index: int, ctx: _Context, std: float) -> Array:
    from . import random as _random
    xp = array_namespace(p)
    z = _random.normal(_key_for(ctx, index), tuple(p.shape), dtype=xp.float64, xp=xp)
    return std * _on_device_of(z, p)


def _xavier(p: Array, i: int, ctx: _Context) -> Array:
    fan_in, fan_out = fans(p.shape, ctx.layout)
    return _normal(p, i, ctx, math.sqrt(2.0 / (fan_in + fan_out)))


def _kaiming(p: Array, i: int, ctx: _Context) -> Array:
    fan_in, _ = fans(p.shape, ctx.layout)
    return _normal(p, i, ctx, math.sqrt(2.0 / fan_in))


def _stat(ctx: _Context, what: str, i: int, p: Array) -> Array:
    """A statistic of parameter i, moved into ``p``'s namespace and device if it lives elsewhere
    (statistics gathered from torch gradients can initialize a numpy or JAX optimizer)."""
    x = getattr(ctx.stats, what)[i]
    xp = array_namespace(p)
    if array_namespace(x) is xp:
        return _on_device_of(x, p)
    try:
        return xp.asarray(x, device=_device(p))
    except (TypeError, ValueError, RuntimeError):
        import numpy as np
        return xp.asarray(np.asarray(x), device=_device(p))


def _zeros(p, i, ctx):
    return array_namespace(p).zeros_like(p)


def _constant(p, i, ctx):
    return array_namespace(p).full_like(p, ctx.scale)


def _chi2(p, i, ctx):
    from . import random as _random
    xp = array_namespace(p)
    fan_in, fan_out = fans(p.shape, ctx.layout)
    chi = _random.chisquare(_key_for(ctx, i), tuple(p.shape), df=1, dtype=xp.float64, xp=xp)
    return (ctx.scale / (fan_in + fan_out)) * _on_device_of(chi, p)


def _random_sq(p, i, ctx):
    return ctx.scale * _xavier(p, i, ctx) ** 2


def _random_lin(p, i, ctx):
    return ctx.scale * _xavier(p, i, ctx)


def _random_unscaled(p, i, ctx):
    return _xavier(p, i, ctx)


def _kaiming_sq(p, i, ctx):
    return ctx.scale * _kaiming(p, i, ctx) ** 2


def _kaiming_lin(p, i, ctx):
    return ctx.scale * _kaiming(p, i, ctx)


def _grad_mean_sq(p, i, ctx):
    return ctx.scale * _stat(ctx, "mean", i, p) ** 2


def _grad_mean(p, i, ctx):
    return ctx.scale * _stat(ctx, "mean", i, p)


def _grad_mean_var(p, i, ctx):
    mean, var = _stat(ctx, "mean", i, p), _stat(ctx, "var", i, p)
    if ctx.stats.batch_size is None:
        raise ValueError("the data strategies need the mini-batch size B: pass GradStats(..., batch_size=B)")
    return ctx.scale * (mean * mean + ctx.stats.batch_size * var)


def _grad_mean_random(p, i, ctx):
    mean = _stat(ctx, "mean", i, p)
    if len(p.shape) > 1:
        x = _xavier(p, i, ctx)
        return ctx.scale * (mean * mean + x * x)
    return ctx.scale * (mean * mean)


def _grad_var(p, i, ctx):
    return ctx.scale * _stat(ctx, "var", i, p)


def _grad_sq(p, i, ctx):
    return ctx.scale * _stat(ctx, "mean_sq", i, p)


def _layer(p, i, ctx):
    n_in, n_out = _raw_dims(tuple(p.shape))
    return array_namespace(p).full_like(p, ctx.scale / (n_in + n_out))


def _layer_unscaled(p, i, ctx):
    n_in, n_out = _raw_dims(tuple(p.shape))
    return array_namespace(p).full_like(p, 1.0 / (n_in + n_out))


_REPO = "Walleclipse/Adam_Initialization optimizers/optim_utils.py::init_optim"
_REPO_OLD = "Walleclipse/Adam_Initialization CNN_CIFAR/utility/optim_utils.py (older version)"
_S = MomentStrategy
_TABLE = (
    _S("zeros", _zeros, _zeros, 0, None, "0", "0", "Kingma & Ba 2015 (the default)"),
    _S("constant", _constant, _constant, 0, None, "s", "s_m", _REPO_OLD + " ('constant')"),
    _S("random-chi2", _chi2, None, 2, "key", "σ/(fan_in+fan_out)·χ²₁", "—",
       "Abuduweili & Liu 2024, Eq. 11 (poster form)"),
    _S("data", _grad_mean_var, _grad_mean, 0, "stats", "σ·(E[g]² + B·Var[ḡ])  (= σ·(E[g]² + Var[g]))",
       "s_m·E[g]", "Abuduweili & Liu 2024, Eq. 10"),
    _S("random", _random_sq, _random_lin, 2, "key", "s·X², X ~ N(0, 2/(fan_in+fan_out))", "s_m·X'", _REPO),
    _S("random-kaiming", _kaiming_sq, _kaiming_lin, 2, "key", "s·K², K ~ N(0, 2/fan_in)", "s_m·K'", _REPO),
    _S("randommv", _random_sq, _random_unscaled, 2, "key", "s·X²", "X' (unscaled)", _REPO_OLD),
    _S("grad-mean", _grad_mean_sq, _grad_mean, 0, "stats", "s·ḡ²", "s_m·ḡ", _REPO),
    _S("grad-mean-var", _grad_mean_var, _grad_mean, 0, "stats", "s·(ḡ² + B·Var[ḡ])", "s_m·ḡ", _REPO),
    _S("grad-mean-random", _grad_mean_random, _grad_mean, 0, "stats+key", "s·(ḡ² + [ndim≥2]·X²)", "s_m·ḡ", _REPO),
    _S("grad-var", _grad_var, None, 0, "stats", "s·Var[ḡ]", "—", _REPO_OLD),
    _S("grad-sq", _grad_sq, None, 0, "stats", "s·E[ḡ²]", "—", _REPO_OLD),
    _S("constant-layer", _layer, None, 0, None, "s/(n_in+n_out)", "—", _REPO_OLD),
    _S("constant-w", _layer, None, 2, None, "s/(n_in+n_out)", "—", _REPO_OLD),
    _S("constant-layermv", _layer, _layer_unscaled, 0, None, "s/(n_in+n_out)", "1/(n_in+n_out)", _REPO_OLD),
)
STRATEGIES: Mapping[str, MomentStrategy] = MappingProxyType({s.name: s for s in _TABLE})


# --------------------------------------------------------------------------------------------
# entry points
# --------------------------------------------------------------------------------------------

def _as_key(key: Any, strategy: str) -> Any:
    from . import random as _random
    if key is None:
        raise ValueError(f"strategy {strategy!r} draws random numbers: pass key=v0ref.random.key(seed)")
    if isinstance(key, numbers.Integral) and not isinstance(key, bool):
        return _random.key(int(key))
    return key


def resolve(which: str, spec: Any, params: Sequence[Array], *, scale: float = 1.0, key: Any = None,
            stats: Any = None, min_ndim: int | None = None, layout: str = "torch") -> list[Array | None] | None:
    """Turn a v0/m0 specification into one initial array per parameter.

    ``which`` is ``"v0"`` or ``"m0"``.  ``spec`` is ``None`` (zeros; returns ``None``), a strategy
    name from `STRATEGIES`, a Python number (a constant fill), a callable ``params -> list`` or a
    list of arrays / ``None`` entries (used as given; shapes are checked by the algorithm's
    ``init``).  Strategy results are float64 where the namespace has it; ``init`` casts them to the
    parameter's dtype.
    """
    if which not in ("v0", "m0"):
        raise ValueError(f"which must be 'v0' or 'm0'; got {which!r}")
    params = list(params)
    if spec is None:
        return None
    if isinstance(spec, numbers.Real) and not isinstance(spec, bool):
        return [array_namespace(p).full_like(p, float(spec)) for p in params]
    if callable(spec) and not isinstance(spec, str):
        spec = spec(params)
    if isinstance(spec, str):
        return _apply_strategy(which, spec, params, scale=scale, key=key, stats=stats, min_ndim=min_ndim,
                               layout=layout)
    spec = list(spec)
    if len(spec) != len(params):
        raise ValueError(f"{which} has {len(spec)} entries but there are {len(params)} parameters")
    return spec


def _apply_strategy(which: str, name: str, params: list[Array], *, scale: float, key: Any, stats: Any,
                    min_ndim: int | None, layout: str) -> list[Array]:
    try:
        strategy = STRATEGIES[name]
    except KeyError:
        raise ValueError(f"unknown {which} strategy {name!r}; valid: {', '.join(STRATEGIES)}") from None
    fn = strategy.v0 if which == "v0" else strategy.m0
    if fn is None:
        valid = [s.name for s in STRATEGIES.values() if (s.v0 if which == "v0" else s.m0) is not None]
        raise ValueError(f"strategy {name!r} defines no {which}; strategies with a {which}: {', '.join(valid)}")
    if not (isinstance(scale, numbers.Real) and math.isfinite(scale) and scale >= 0):
        raise ValueError(f"{which}_scale must be a finite number >= 0; got {scale!r}")
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {', '.join(map(repr, LAYOUTS))}; got {layout!r}")
    if min_ndim is None:
        min_ndim = strategy.min_ndim
    elif isinstance(min_ndim, bool) or not isinstance(min_ndim, int) or min_ndim < 0:
        raise ValueError(f"{which[0]}0_min_ndim must be an int >= 0; got {min_ndim!r}")
    needs = strategy.needs or ""
    if "key" in needs:
        key = _as_key(key, name)
    if "stats" in needs:
        from .stats import GradStats
        if not isinstance(stats, GradStats):
            raise ValueError(f"strategy {name!r} needs gradient statistics: pass a v0ref.stats.GradStats "
                             f"(got {type(stats).__name__})")
        if stats.shapes != [tuple(p.shape) for p in params]:
            raise ValueError("the GradStats were gathered for parameters of other shapes")
    ctx = _Context(float(scale), key, stats, layout, 0 if which == "v0" else 1)
    return [fn(p, i, ctx) if len(p.shape) >= min_ndim else array_namespace(p).zeros_like(p)
            for i, p in enumerate(params)]


def random_chi2(params: Sequence[Array], scale: float = 1.0, *, key: Any, min_ndim: int = 2,
                layout: str = "torch") -> list[Array]:
    r"""Paper Eq. 11: ``v_0 ~ σ/(fan_in + fan_out)·χ²₁`` per element, zeros below ``min_ndim`` dims.

    >>> import numpy as np, v0ref
    >>> v0 = v0ref.moments.random_chi2([np.zeros((256, 128)), np.zeros(128)], scale=1.0, key=v0ref.random.key(0))
    >>> round(float(v0[0].mean()) * (256 + 128), 1), float(v0[1].max())
    (1.0, 0.0)
    """
    return resolve("v0", "random-chi2", params, scale=scale, key=key, min_ndim=min_ndim, layout=layout)


def from_stats(stats: Any, kind: str = "mean_var", scale: float = 1.0, batch_size: int | None = None) -> list[Array]:
    r"""v0 from gradient statistics (paper Eq. 10 and its variants).

    ``kind``: ``"mean_var"`` — ``σ·(E[g]² + B·Var)`` (Eq. 10; B = ``batch_size`` or the stats' own,
    1 for per-sample statistics); ``"mean"`` — ``σ·E[g]²``; ``"mean_sq"`` — ``σ·E[g²]``;
    ``"var"`` — ``σ·Var``.
    """
    from .stats import GradStats
    if not isinstance(stats, GradStats):
        raise TypeError(f"stats must be a v0ref.stats.GradStats; got {type(stats).__name__}")
    if kind not in FROM_STATS_KINDS:
        raise ValueError(f"kind must be one of {', '.join(map(repr, FROM_STATS_KINDS))}; got {kind!r}")
    if not (isinstance(scale, numbers.Real) and math.isfinite(scale) and scale >= 0):
        raise ValueError(f"scale must be a finite number >= 0; got {scale!r}")
    b = stats.batch_size if batch_size is None else batch_size
    if kind == "mean_var" and b is None:
        raise ValueError("kind='mean_var' of mini-batch statistics needs batch_size (B in σ·(ḡ² + B·Var[ḡ]))")
    if b is not None and (isinstance(b, bool) or not isinstance(b, int) or b < 1):
        raise ValueError(f"batch_size must be a positive int; got {batch_size!r}")
    if kind == "mean":
        return [scale * (mu * mu) for mu in stats.mean]
    if kind == "mean_sq":
        return [scale * s for s in stats.mean_sq]
    if kind == "var":
        return [scale * v for v in stats.var]
    return [scale * (mu * mu + b * v) for mu, v in zip(stats.mean, stats.var)]
