r"""Weight and bias initializers, written once over the array API (ALGORITHMS §6, §2.3).

Every random initializer takes a portable key first (`v0ref.random.Key`, or an int seed, which
becomes ``v0ref.random.key(seed)``) and ``xp=None, dtype=None`` keywords, so the same key gives
the same numbers on numpy, array_api_strict, torch and jax (bit-identical for the uniform-based
initializers, a few ulps for normal / truncated-normal ones, ~1e-12 relative for ``orthogonal``,
whose QR comes from each library's LAPACK).  ``xp=None`` is the active backend (`v0ref.use`);
``dtype=None`` its default real floating dtype.  Nothing here mutates an array.

Fans and layouts (ALGORITHMS §6.1, computed by `v0ref.moments.fans`)
    ``layout="torch"``: weight ``(out, in, *kernel)``, ``fan_in = in·∏kernel``,
    ``fan_out = out·∏kernel``.  ``layout="jax"``: ``(*kernel, in, out)``.  Functions named after
    torch (``xavier_*``, ``kaiming_*``, ``orthogonal``, ``sparse``, ``dirac``, ``torch_default``)
    default to ``"torch"``; functions named after jax (``glorot_*``, ``he_*``, ``lecun_*``,
    ``variance_scaling``) default to ``"jax"``.  Where fans are needed, a shape with < 2 dims
    raises ``ValueError``.

torch vs jax, same name family, different numbers (both sources kept faithfully):
    ``xavier_normal``/``kaiming_normal`` draw a *plain* normal (torch); ``glorot_normal``,
    ``he_normal``, ``lecun_normal`` draw a normal truncated at ±2σ and rescaled by
    1/0.87962566103423978 (jax ``variance_scaling(..., "truncated_normal")``).  The uniform
    variants agree between the two libraries.

Sparse conventions (ALGORITHMS §2.3, §6.7)
    `sparse` is Martens (2010) / Sutskever et al. (2013): every unit gets exactly ``k`` non-zero
    *incoming* weights.  The incoming axis is axis 1 (plus kernel axes) for ``layout="torch"``
    — each row ``W[o]`` has exactly ``k`` non-zeros — and axes ``(*kernel, in)`` for
    ``layout="jax"`` — each column ``W[..., o]`` has exactly ``k`` non-zeros.
    `torch_sparse` is ``torch.nn.init.sparse_``: per *column* of a 2-D tensor, a fraction of rows
    is zeroed (outgoing weights of an input unit for a torch Linear).

QR (`orthogonal`, `lsuv`) needs the array-API ``linalg`` extension: a namespace without
``xp.linalg.qr`` raises ``NotImplementedError`` (draw with ``xp="numpy"`` and convert instead).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, NamedTuple

from . import random as _random
from ._backend import namespace
from .moments import fans as _fans

__all__ = [
    "INITIALIZERS", "NONLINEARITIES", "MODES", "DISTRIBUTIONS", "LSUVReport",
    "calculate_gain", "compute_fans",
    "xavier_uniform", "xavier_normal", "glorot_uniform", "glorot_normal",
    "kaiming_uniform", "kaiming_normal", "he_uniform", "he_normal",
    "lecun_uniform", "lecun_normal", "variance_scaling",
    "orthogonal", "sparse", "torch_sparse", "eye", "dirac", "zeros", "ones", "constant",
    "torch_default", "torch_default_bias", "torch_rnn_default",
    "relu_bias", "lstm_forget_bias", "output_bias_from_marginals", "sigmoid_output_bias", "lsuv",
]

Array = Any
_LINEAR = ("linear", "identity", "conv1d", "conv2d", "conv3d",
           "conv_transpose1d", "conv_transpose2d", "conv_transpose3d")
NONLINEARITIES: tuple[str, ...] = _LINEAR + ("sigmoid", "tanh", "relu", "leaky_relu", "selu")
MODES: tuple[str, ...] = ("fan_in", "fan_out", "fan_avg", "fan_geo_avg")
DISTRIBUTIONS: tuple[str, ...] = ("truncated_normal", "normal", "uniform")
_TRUNC_STD = 0.87962566103423978  # std of N(0,1) truncated to [-2, 2] (jax initializers.py)


# ------------------------------------------------------------------------------- helpers


def _choice(name: str, value: Any, valid: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in valid:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, valid))}; got {value!r}")
    return value


def _nonneg(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number; got {type(value).__name__}")
    v = float(value)
    if not (math.isfinite(v) and v >= 0):
        raise ValueError(f"{name} must be finite and >= 0; got {value!r}")
    return v


def _setup(key: Any, shape: Any, xp: Any, dtype: Any) -> tuple[Any, Any, tuple[int, ...], Any]:
    if isinstance(key, numbers.Integral) and not isinstance(key, bool):
        key = _random.key(int(key))
    key = _random._as_key(key)
    xp = namespace(xp)
    shape, _ = _random._as_shape(shape)
    return key, xp, shape, _random._as_float_dtype(xp, dtype)


def compute_fans(shape: Any, layout: str = "torch") -> tuple[int, int]:
    """``(fan_in, fan_out)`` via `v0ref.moments.fans`; ``ValueError`` naming ``shape`` below 2-D."""
    shape, _ = _random._as_shape(shape)
    _choice("layout", layout, ("torch", "jax"))
    if len(shape) < 2:
        raise ValueError(f"shape must have at least 2 dimensions to compute fans; got {shape}")
    return _fans(shape, layout)


def _fan(shape: tuple[int, ...], mode: str, layout: str) -> float:
    fan_in, fan_out = compute_fans(shape, layout)
    return {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2,
            "fan_geo_avg": math.sqrt(fan_in * fan_out)}[mode]


def _uniform(key, shape, bound: float, xp, dtype) -> Array:
    if bound == 0.0:
        return xp.zeros(shape, dtype=dtype)
    return _random.uniform(key, shape, low=-bound, high=bound, dtype=dtype, xp=xp)


def _normal(key, shape, std: float, xp, dtype) -> Array:
    return xp.multiply(_random.normal(key, shape, dtype=dtype, xp=xp), xp.asarray(std, dtype=dtype))


# ------------------------------------------------------------------------------- gains


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """Recommended gain of ``torch.nn.init.calculate_gain`` (ALGORITHMS §6.4 table).

    linear / conv* / conv_transpose* / sigmoid: 1; tanh: 5/3; relu: √2; leaky_relu:
    √(2/(1+s²)) with s = ``param`` (0.01 if None); selu: 3/4 (empirical, torch PR #50664).
    ``"identity"`` (1) is accepted in addition to torch's names.
    """
    _choice("nonlinearity", nonlinearity, NONLINEARITIES)
    if nonlinearity in _LINEAR or nonlinearity == "sigmoid":
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "selu":
        return 3.0 / 4
    if param is None:
        slope = 0.01
    elif isinstance(param, numbers.Real) and not isinstance(param, bool) and math.isfinite(param):
        slope = float(param)
    else:
        raise ValueError(f"negative_slope (param) must be a finite real number; got {param!r}")
    return math.sqrt(2.0 / (1 + slope**2))


# ---------------------------------------------------------------- variance-scaling family


def xavier_uniform(key, shape, *, gain: float = 1.0, layout: str = "torch", xp=None, dtype=None) -> Array:
    """``U(-a, a)``, ``a = gain·√(6/(fan_in+fan_out))``.

    ``torch.nn.init.xavier_uniform_``; Glorot & Bengio (2010), Eq. 16; Goodfellow et al. Eq. 8.23.
    """
    key, xp, shape, dtype = _setup(key, shape, xp, dtype)
    gain = _nonneg("gain", gain)
    return _uniform(key, shape, gain * math.sqrt(3.0 / _fan(shape, "fan_avg", layout)), xp, dtype)


def xavier_normal(key, shape, *, gain: float = 1.0, layout: str = "torch", xp=None, dtype=None) -> Array:
    """``N(0, σ²)``, ``σ = gain·√(2/(fan_in+fan_out))`` (plain normal). ``torch.nn.init.xavier_normal_``."""
    key, xp, shape, dtype = _setup(key, shape, xp, dtype)
    gain = _nonneg("gain", gain)
    return _normal(key, shape, gain / math.sqrt(_fan(shape, "fan_avg", layout)), xp, dtype)


def _kaiming_std(shape, a, mode, nonlinearity, layout) -> float:
    _choice("mode", mode, ("fan_in", "fan_out"))
    gain = calculate_gain(nonlinearity, a)
    return gain / math.sqrt(_fan(shape, mode, layout))


def kaiming_uniform(key, shape, *, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                    layout: str = "torch", xp=None, dtype=None) -> Array:
    """``U(-b, b)``, ``b = gain·√(3/fan_mode)``, gain = ``calculate_gain(nonlinearity, a)``.

    ``torch.nn.init.kaiming_uniform_``; He et al. (2015), Eq. 10 (forward) / Eq. 14 (backward, fan_out).
    """
    key, xp, shape, dtype = _setup(key, shape, xp, dtype)
    return _uniform(key, shape, math.sqrt(3.0) * _kaiming_std(shape, a, mode, nonlinearity, layout), xp, dtype)


def kaiming_normal(key, shape, *, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu",
                   layout: str = "torch", xp=None, dtype=None) -> Array:
    """``N(0, σ²)``, ``σ = gain/√fan_mode`` (plain normal). ``torch.nn.init.kaiming_normal_``; He et al. (2015) Eq. 10."""
    key, xp, shape, dtype = _setup(key, shape, xp, dtype)
    return _normal(key, shape, _kaiming_std(shape, a, mode, nonlinearity, layout), xp, dtype)


def variance_scaling(key, shape, scale: float = 1.0, mode: str = "fan_in", distribution: str = "truncated_normal",
                     *, layout: str = "jax", xp=None, dtype=None) -> Array:
    """jax.nn.initializers.variance_scaling: variance ``scale/n``, n from ``mode``.

    n = fan_in, fan_out, (fan_in+fan_out)/2 (``fan_avg``) or √(fan_in·fan_out) (``fan_geo_avg``).
    ``truncated_normal``: ``√(scale/n)/0.87962566103423978 · T``, T ~ N(0,1) truncated to [-2, 2];
    ``normal``: ``√(scale/n)·Z``; ``uniform``: ``U(-√(3 scale/n), √(3 scale/n))``.
    """
    key, xp, shape, dtype = _setup(key, shape, xp, dtype)
    scale = _nonneg("scale", scale)
    _choice("mode", mode, MODES)
    _choice("distribution", distribution, DISTRIBUTIONS)
    var = scale / _fan(shape, mode, layout)
    if distribution == "uniform":
        return _uniform(key, shape, math.sqrt(3.0 * var), xp, dtype)
    if distribution == "normal":
        return _normal(key, shape, math.sqrt(var), xp, dtype)
    t = _random.truncated_normal(key, -2.0, 2.0, shape, dtype=dtype, xp=xp)
    return xp.multiply(t, xp.asarray(math.sqrt(var) / _TRUNC_STD, dtype=dtype))


def _vs(scale, mode, distribution, doc):
    def init(key, shape, *, layout: str = "jax", xp=None, dtype=None) -> Array:
        return variance_scaling(key, shape, scale, mode, distribution, layout=layout, xp=xp, dtype=dtype)
    init.__doc__ = doc
    return init


he_uniform = _vs(2.0, "fan_in", "uniform",
                 "jax.nn.initializers.he_uniform = variance_scaling(2, 'fan_in', 'uniform'): U(±√(6/fan_in)).")
he_uniform.__name__ = he_uniform.__qualname__ = "he_uniform"
he_normal = _vs(2.0, "fan_in", "truncated_normal",
                "jax.nn.initializers.he_normal = variance_scaling(2, 'fan_in', 'truncated_normal'); He et al. 2015.")
he_normal.__name__ = he_normal.__qualname__ = "he_normal"
lecun_uniform = _vs(1.0, "fan_in", "uniform",
                    "jax.nn.initializers.lecun_uniform = variance_scaling(1, 'fan_in', 'uniform'): U(±√(3/fan_in)).")
lecun_uniform.__name__ = lecun_uniform.__qualname__ = "lecun_uniform"
lecun_normal = _vs(1.0, "fan_in", "truncated_normal",
                   "jax.nn.initializers.lecun_normal = variance_scaling(1, 'fan_in', 'truncated_normal'); "
                   "LeCun et al. 1998 (Efficient BackProp), variance 1/fan_in.")
lecun_normal.__name__ = lecun_normal.__qualname__ = "lecun_normal"


def glorot_uniform(key, shape, *, gain: float = 1.0, layout: str = "jax", xp=None, dtype=None) -> Array:
    """jax.nn.initializers.glorot_uniform = variance_scaling(gain², 'fan_avg', 'uniform') (= xavier_uniform)."""
    return variance_scaling(key, shape, _nonneg("gain", gain) ** 2, "fan_avg", "uniform", layout=layout, xp=xp, dtype=dtype)


def glorot_normal(key, shape, *, gain: float = 1.0, layout: str = "jax", xp=None, dtype=None) -> Array:
    """jax.nn.initializers.glorot_normal = variance_scaling(gain², 'fan_avg', 'truncated_normal').

    Truncated at ±2σ, unlike torch's ``xavier_normal_`` (ALGORITHMS §6.3); Glorot & Bengio (2010).
    """
    return variance_scaling(key, shape, _nonneg("gain", gain) ** 2, "fan_avg", "truncated_normal",
                            layout=layout, xp=xp, dtype=dtype)


# ------------------------------------------------------------------ structured initializers


def _qr_orthogonal(xp, a: Array) -> Array:
    """Q of ``a`` (rows >= cols) times sign(diag R): Haar-distributed orthonormal columns."""
    linalg = getattr(xp, "linalg", None)
    if linalg is None or not hasattr(linalg, "qr"):
        raise NotImplementedError(
            f"namespace {getattr(xp, '__name__', xp)!r} lacks the array-API linalg extension "
            "(xp.linalg.qr); draw with xp='numpy' and convert the result")
    q, r = linalg.qr(a)
    d = linalg.diagonal(r) if hasattr(linalg, "diagonal") else xp.sum(xp.multiply(r, xp.eye(r.shape[0], r.shape[1], dtype=r.dtype)), axis=0)
    return xp.multiply(q, xp.sign(d)[None, :])


def orthogonal(key, shape, *, gain: float = 1.0, layout: str = "torch", xp=None, dtype=None) -> Array:
    """(Semi-)orthogonal matrix times ``gain`` — ``torch.nn.init.orthogonal_`` (Saxe et al. 2014).

    torch layout: flatten to ``(rows=shape[0], cols=numel/rows)``, fill N(0,1), transpose if
    rows < cols, ``Q, R = qr``, ``Q·sign(diag R)``, transpose back, times gain; so rows are
    orthonormal when rows <= cols and columns otherwise.  jax layout: the same with the roles of
    the last axis and the rest swapped (jax's ``orthogonal(column_axis=-1)`` matrix
    ``(numel/shape[-1], shape[-1])``).  Needs ``xp.linalg.qr``.
    """
    key, xp, shape, dtype = _setup(key, shape, xp, dtype)
    gain = _nonneg("gain", gain)
    _choice("layout", layout, ("torch", "jax"))
    if len(shape) < 2:
        raise ValueError(f"shape must have at least 2 dimensions for orthogonal; got {shape}")
    numel = math.prod(shape)
    if numel == 0:
        return xp.zeros(shape, dtype=dtype)
    rows = shape[0] if layout == "torch" else shape[-1]
    cols = numel // rows
    flat = _random.normal(key, (rows, cols), dtype=dtype, xp=xp)
    if rows < cols:
        flat = xp.matrix_transpose(flat)
    q = _qr_orthogonal(xp, flat)
    if rows < cols:
        q = xp.matrix_transpose(q)
    if layout == "jax":
        q = xp.matrix_transpose(q)
    return xp.reshape(xp.multiply(q, xp.asarray(gain, dtype=dtype)), shape)


def _rank_mask(xp, key, units: int, n: int, k: int) -> Array:
    """Boolean ``(units, n)``: per row exactly ``k`` True at uniformly random positions.

    Rank = argsort(argsort(random 32-bit words)) along the row (stable, ties by index), True
    where rank < k; identical on every backend.
    """
    b = _random.bits(key, (units, n), xp=xp)
    order = xp.argsort(b, axis=1, stable=True)
    rank = xp.argsort(order, axis=1, stable=True)
    return xp.less(rank, xp.asarray(k, dtype=rank.dtype))


def sparse(key, shape, k: int = 15, *, scale: float = 1.0, layout: str = "torch", xp=None, dtype=None) -> Array:
    """Martens (2010) sparse init: exactly ``k`` non-zero incoming weights per unit, N(0, scale²).

    Sutskever et al. (2013) §2.3 use k = 15 and unit Gaussians; biases are 0 (use `zeros`).
    Incoming axes: torch ``(out, in, *kernel)`` → each ``W[o]`` (``fan_in`` entries) has ``k``
    non-zeros; jax ``(*kernel, in, out)`` → each ``W[..., o]``.  ``k > fan_in`` raises.
    """
    key, xp, shape, dtype = _setup(key, shape, xp, dtype)
    scale = _nonneg("scale", scale)
    k = _random._as_int(k, "k")
    fan_in, _ = compute_fans(shape, layout)
    units = shape[0] if layout == "torch" else shape[-1]
    if not 0 <= k <= fan_in:
        raise ValueError(f"k must be in [0, fan_in={fan_in}] for shape {shape} ({layout} layout); got {k}")
    k_mask, k_val = _random.split(key, 2)
    mask = _rank_mask(xp, k_mask, units, fan_in, k)
    if layout == "jax":
        mask = xp.matrix_transpose(mask)
    mask = xp.reshape(mask, shape)
    values = _normal(k_val, shape, scale, xp, dtype)
    return xp.where(mask, values, xp.zeros_like(values))


def torch_sparse(key, shape, sparsity: float, *, std: float = 0.01, xp=None, dtype=None) -> Array:
    """``torch.nn.init.sparse_``: N(0, std²), then in each column zero ``ceil(sparsity·rows)`` random rows.

    2-D only, shape ``(rows, cols)`` as given (no layout: for a torch Linear ``(out, in)`` a column
    is an input unit's outgoing weights, ALGORITHMS §6.7).  ``sparsity`` in [0, 1].
    """
    key, xp, shape, dtype = _setup(key, shape, xp, dtype)
    std = _nonneg("std", std)
    sparsity = _nonneg("sparsity", sparsity)
    if sparsity > 1:
        raise ValueError(f"sparsity must be in [0, 1]; got {sparsity}")
    if len(shape) != 2:
        raise ValueError(f"shape must be 2-D for torch_sparse; got {shape}")
    rows, cols = shape
    n_zero = math.ceil(sparsity * rows)
    k_mask, k_val = _random.split(key, 2)
    zero = xp.matrix_transpose(_rank_mask(xp, k_mask, cols, rows, n_zero))
    values = _normal(k_val, shape, std, xp, dtype)
    return xp.where(zero, xp.zeros_like(values), values)


def eye(key, shape, *, xp=None, dtype=None) -> Array:
    """Ones on the main diagonal, rectangular allowed: ``torch.nn.init.eye_`` (``torch.eye(*shape)``). ``key`` unused."""
    key, xp, shape, dtype = _setup(key, shape, xp, dtype)
    if len(shape) != 2:
        raise ValueError(f"shape must be 2-D for eye; got {shape}")
    return xp.eye(shape[0], shape[1], dtype=dtype)


def dirac(key, shape, *, groups: int = 1, layout: str = "torch", xp=None, dtype=None) -> Array:
    """Identity-preserving conv kernel: ``torch.nn.init.dirac_`` (3-, 4- or 5-D, ``groups``).

    torch layout ``(out, in, *k)``: ``W[g·opg + d, d, k//2…] = 1`` for every group g and
    ``d < min(opg, in)``, ``opg = out/groups``; zero elsewhere.  jax layout ``(*k, in, out)``:
    the same array with axes permuted.  ``key`` unused.
    """
    key, xp, shape, dtype = _setup(key, shape, xp, dtype)
    _choice("layout", layout, ("torch", "jax"))
    groups = _random._as_int(groups, "groups")
    if len(shape) not in (3, 4, 5):
        raise ValueError(f"shape must be 3-, 4- or 5-D for dirac; got {shape}")
    tshape = shape if layout == "torch" else (shape[-1], shape[-2], *shape[:-2])
    out, inp, kernel = tshape[0], tshape[1], tshape[2:]
    if groups <= 0 or out % groups:
        raise ValueError(f"groups must be a positive divisor of out_channels={out}; got {groups}")
    opg = out // groups
    idx = xp.__array_namespace_info__().default_dtypes()["indexing"]
    o = xp.reshape(xp.remainder(xp.arange(out, dtype=idx), xp.asarray(opg, dtype=idx)), (out, 1))
    hit = xp.equal(o, xp.reshape(xp.arange(inp, dtype=idx), (1, inp)))
    hit = xp.reshape(hit, (out, inp) + (1,) * len(kernel))
    for j, kj in enumerate(kernel):
        c = xp.equal(xp.arange(kj, dtype=idx), xp.asarray(kj // 2, dtype=idx))
        sh = [1] * (2 + len(kernel))
        sh[2 + j] = kj
        hit = xp.logical_and(hit, xp.reshape(c, tuple(sh)))
    w = xp.astype(hit, dtype)
    if layout == "jax":
        nd = len(tshape)
        w = xp.permute_dims(w, tuple(range(2, nd)) + (1, 0))
    return w


def constant(key, shape, value: float = 0.0, *, xp=None, dtype=None) -> Array:
    """Every entry ``value``: ``torch.nn.init.constant_`` / jax.nn.initializers.constant. ``key`` unused."""
    key, xp, shape, dtype = _setup(key, shape, xp, dtype)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"value must be a real number; got {type(value).__name__}")
    return xp.full(shape, float(value), dtype=dtype)


def zeros(key, shape, *, xp=None, dtype=None) -> Array:
    """All zeros (default bias; Martens sparse-init biases): torch ``zeros_`` / jax zeros."""
    return constant(key, shape, 0.0, xp=xp, dtype=dtype)


def ones(key, shape, *, xp=None, dtype=None) -> Array:
    """All ones: torch ``ones_`` / jax ones."""
    return constant(key, shape, 1.0, xp=xp, dtype=dtype)


def relu_bias(key, shape, value: float = 0.1, *, xp=None, dtype=None) -> Array:
    """Small positive bias for ReLU hidden units (0.1; Goodfellow et al. §8.4)."""
    return constant(key, shape, value, xp=xp, dtype=dtype)


# ------------------------------------------------------------------------- torch defaults


def torch_default(key, weight_shape, *, xp=None, dtype=None) -> Array:
    """torch Linear/Conv weight default ``kaiming_uniform_(a=√5)`` = ``U(±1/√fan_in)`` (torch layout).

    Goodfellow et al. §8.4 heuristic ``U(-1/√m, 1/√m)``, m = fan_in (ALGORITHMS §6.2).
    """
    key, xp, shape, dtype = _setup(key, weight_shape, xp, dtype)
    fan_in, _ = compute_fans(shape, "torch")
    return _uniform(key, shape, 1.0 / math.sqrt(fan_in) if fan_in else 0.0, xp, dtype)


def torch_default_bias(key, weight_shape, *, xp=None, dtype=None) -> Array:
    """torch Linear/Conv bias default: shape ``(weight_shape[0],)``, ``U(±1/√fan_in)`` of the weight."""
    key, xp, shape, dtype = _setup(key, weight_shape, xp, dtype)
    fan_in, _ = compute_fans(shape, "torch")
    return _uniform(key, (shape[0],), 1.0 / math.sqrt(fan_in) if fan_in else 0.0, xp, dtype)


def torch_rnn_default(key, shape, hidden_size: int, *, xp=None, dtype=None) -> Array:
    """torch RNN/LSTM/GRU default for every weight and bias: ``U(±1/√hidden_size)``."""
    key, xp, shape, dtype = _setup(key, shape, xp, dtype)
    h = _random._as_int(hidden_size, "hidden_size")
    if h <= 0:
        raise ValueError(f"hidden_size must be positive; got {h}")
    return _uniform(key, shape, 1.0 / math.sqrt(h), xp, dtype)


# ---------------------------------------------------------------------- deterministic biases


def lstm_forget_bias(hidden_size: int, value: float = 1.0, *, xp=None, dtype=None) -> Array:
    """``(4·hidden,)`` bias in torch's gate order i, f, g, o: ``value`` on f, 0 elsewhere.

    Jozefowicz et al. (2015); Goodfellow et al. §8.4.  torch adds ``bias_ih + bias_hh``: set one
    of them to this and the other to zeros for an effective forget bias of ``value``.
    """
    xp = namespace(xp)
    dtype = _random._as_float_dtype(xp, dtype)
    h = _random._as_int(hidden_size, "hidden_size")
    if h <= 0:
        raise ValueError(f"hidden_size must be positive; got {h}")
    gate = xp.floor_divide(xp.arange(4 * h), xp.asarray(h))
    return xp.where(xp.equal(gate, xp.asarray(1)), xp.asarray(float(value), dtype=dtype),
                    xp.asarray(0.0, dtype=dtype))


def _as_prob_array(p: Any, xp: Any, dtype: Any) -> tuple[Any, Any]:
    if xp is None and hasattr(p, "__array_namespace__"):
        from array_api_compat import array_namespace
        xp = array_namespace(p)
    xp = namespace(xp)
    if dtype is None and getattr(p, "dtype", None) in (xp.float32, xp.float64):
        dtype = p.dtype
    dtype = _random._as_float_dtype(xp, dtype)
    return xp.asarray(p, dtype=dtype), xp


def output_bias_from_marginals(class_probs: Any, *, xp=None, dtype=None) -> Array:
    """Softmax output bias ``b_i = log c_i`` so that ``softmax(b) = c`` (Goodfellow et al. §8.4).

    ``class_probs``: positive, summing to 1 (within 1e-6).  Any ``b + C`` works; C = 0 here.
    """
    c, xp = _as_prob_array(class_probs, xp, dtype)
    if c.ndim != 1 or c.shape[0] == 0:
        raise ValueError(f"class_probs must be a non-empty 1-D array; got shape {c.shape}")
    if not bool(xp.all(xp.greater(c, xp.asarray(0.0, dtype=c.dtype)))):
        raise ValueError("class_probs must be all > 0")
    total = float(xp.sum(c))
    if abs(total - 1.0) > 1e-6:
        raise ValueError(f"class_probs must sum to 1; got sum {total}")
    return xp.log(c)


def sigmoid_output_bias(p: Any, *, xp=None, dtype=None) -> Any:
    """Sigmoid output bias ``log(p/(1-p))`` so that ``sigmoid(b) = p`` (Goodfellow et al. §8.4).

    A Python real gives a float; an array gives an array.  ``p`` must lie in (0, 1).
    """
    if isinstance(p, numbers.Real) and not isinstance(p, bool):
        if not 0.0 < p < 1.0:
            raise ValueError(f"p must be in (0, 1); got {p}")
        return math.log(p / (1.0 - p))
    a, xp = _as_prob_array(p, xp, dtype)
    zero, one = xp.asarray(0.0, dtype=a.dtype), xp.asarray(1.0, dtype=a.dtype)
    if not bool(xp.all(xp.logical_and(xp.greater(a, zero), xp.less(a, one)))):
        raise ValueError("p must be in (0, 1)")
    return xp.subtract(xp.log(a), xp.log1p(xp.negative(a)))


# ------------------------------------------------------------------------------------ LSUV


class LSUVReport(NamedTuple):
    """Per layer: rescaling iterations done, output variance after them, whether ``|var - target|`` < tol."""

    iterations: tuple[int, ...]
    variances: tuple[float, ...]
    converged: tuple[bool, ...]


def lsuv(key, weights: Sequence[Array], forward: Callable[[list], Sequence[Array]], *, tol: float = 0.1,
         max_iter: int = 10, needed_variance: float = 1.0, layout: str = "torch") -> tuple[list, LSUVReport]:
    """Layer-sequential unit-variance init (Mishkin & Matas 2016, Alg. 1; ALGORITHMS §6.10).

    ``W_i ← orthogonal(fold_in(key, i), W_i.shape)`` (in ``W_i``'s namespace and dtype); then for
    each layer L in order: ``v = Var(forward(W)[L])`` over all elements; while
    ``|v − needed_variance| >= tol`` and fewer than ``max_iter`` iterations:
    ``W_L ← W_L·√(needed_variance/v)`` and recompute (stops if √v < 1e-7).  ``forward(weights)``
    returns the per-layer outputs (pre- or post-activation: the caller's choice).  Pure: returns
    ``(new_weights, LSUVReport)``; the input list is not changed.  The official code's skip of
    layers with < 32 outputs is not applied.
    """
    if isinstance(key, numbers.Integral) and not isinstance(key, bool):
        key = _random.key(int(key))
    key = _random._as_key(key)
    tol = _nonneg("tol", tol)
    needed_variance = _nonneg("needed_variance", needed_variance)
    if needed_variance == 0:
        raise ValueError("needed_variance must be > 0; got 0")
    max_iter = _random._as_int(max_iter, "max_iter")
    if max_iter < 0:
        raise ValueError(f"max_iter must be >= 0; got {max_iter}")
    from array_api_compat import array_namespace
    ws = []
    for i, w in enumerate(weights):
        wxp = array_namespace(w)
        ws.append(orthogonal(_random.fold_in(key, i), tuple(w.shape), layout=layout, xp=wxp, dtype=w.dtype))
    iters, variances, converged = [], [], []

    def var_of(layer: int) -> float:
        outs = forward(list(ws))
        y = outs[layer]
        return float(array_namespace(y).var(y))

    for layer in range(len(ws)):
        v, it = var_of(layer), 0
        while abs(v - needed_variance) >= tol and it < max_iter:
            if math.sqrt(v) < 1e-7:
                break
            wxp = array_namespace(ws[layer])
            ws[layer] = wxp.multiply(ws[layer], wxp.asarray(math.sqrt(needed_variance / v), dtype=ws[layer].dtype))
            v, it = var_of(layer), it + 1
        iters.append(it)
        variances.append(v)
        converged.append(abs(v - needed_variance) < tol)
    return ws, LSUVReport(tuple(iters), tuple(variances), tuple(converged))


# -------------------------------------------------------------------------------- registry

_REG: dict[str, Callable] = {}
for _names, _fn in [
    (("xavier_uniform", "xavier_uniform_"), xavier_uniform),
    (("xavier_normal", "xavier_normal_"), xavier_normal),
    (("glorot_uniform",), glorot_uniform),
    (("glorot_normal",), glorot_normal),
    (("kaiming_uniform", "kaiming_uniform_"), kaiming_uniform),
    (("kaiming_normal", "kaiming_normal_"), kaiming_normal),
    (("he_uniform",), he_uniform),
    (("he_normal",), he_normal),
    (("lecun_uniform",), lecun_uniform),
    (("lecun_normal",), lecun_normal),
    (("variance_scaling",), variance_scaling),
    (("orthogonal", "orthogonal_"), orthogonal),
    (("sparse", "martens_sparse"), sparse),
    (("torch_sparse", "sparse_"), torch_sparse),
    (("eye", "eye_", "identity"), eye),
    (("dirac", "dirac_"), dirac),
    (("zeros", "zeros_"), zeros),
    (("ones", "ones_"), ones),
    (("constant", "constant_"), constant),
    (("torch_default",), torch_default),
    (("torch_default_bias",), torch_default_bias),
    (("torch_rnn_default",), torch_rnn_default),
    (("relu_bias",), relu_bias),
    (("lstm_forget_bias",), lstm_forget_bias),
    (("output_bias_from_marginals",), output_bias_from_marginals),
    (("sigmoid_output_bias",), sigmoid_output_bias),
    (("lsuv",), lsuv),
]:
    for _n in _names:
        _REG[_n] = _fn

INITIALIZERS: Mapping[str, Callable] = MappingProxyType(_REG)
"""Read-only: name (library, torch ``*_`` and jax names) → function."""
