"""Portable counter-based random numbers: the same key gives the same numbers everywhere.

The generator is **Threefry-2x32 with 20 rounds**, the counter-based block cipher of
Salmon, Moraes, Dror & Shaw, "Parallel random numbers: as easy as 1, 2, 3", SC'11
(doi:10.1145/2063384.2063405), reference implementation Random123 (``threefry.h``); it is the
block function JAX uses (``jax._src.random.threefry2x32``).  A random draw is a pure function
``threefry(key, counter)``, so it needs no state and is written here with nothing but
array-API standard functions, through whatever namespace ``xp`` the caller picks.

Reproducibility contract
------------------------
* **Integer bits are identical on every backend** (numpy, array_api_strict, torch, jax, ...):
  :func:`bits`, :func:`permutation`, :func:`choice`, :func:`split`, :func:`fold_in`.
* **uniform** is identical too: it only converts integers to floats and scales by powers of
  two (exact), then applies ``low + (high - low) * u`` (correctly rounded IEEE ops).
* **normal, truncated_normal, chisquare** go through ``log``, ``sqrt`` and ``cos``, which the
  IEEE standard does not require to be correctly rounded; numpy, torch and XLA use different
  implementations, so results agree only to a few ulps across backends.
* The default ``dtype`` is the namespace's default real floating dtype (float64 for numpy and
  array_api_strict, float32 for torch and for jax without ``jax_enable_x64``), so pass
  ``dtype=`` explicitly when you compare backends.

Keys, counters and compatibility with JAX
-----------------------------------------
A :class:`Key` is two Python ints ``(k0, k1)`` in ``[0, 2**32)``, so keys are hashable and
independent of any framework.  ``key(seed)`` puts the high 32 bits of ``seed`` in ``k0`` and
the low 32 bits in ``k1`` (``jax.random.PRNGKey``'s threefry layout).  Element ``i``
(row-major flat index) of a draw uses the 64-bit counter ``i`` as the word pair
``(i >> 32, i & 0xFFFFFFFF)`` and gets the two output words ``(y0, y1)``.  :func:`bits` returns
``y0 ^ y1``; :func:`split` returns ``Key(y0, y1)`` of counters ``0..n-1``; :func:`fold_in`
returns ``Key(y0, y1)`` of counter ``data``.  This is JAX's layout with
``jax_threefry_partitionable=True`` (its default since 0.5), so ``key``, ``split``,
``fold_in`` and ``bits`` reproduce ``jax.random`` bit for bit.  As in JAX, a key should be
used either to draw numbers or to derive new keys, not both (``bits(k, (n,))[i]`` is the xor
of the two words of ``split(k, n)[i]``).

Word representation
-------------------
Threefry needs 32-bit wrap-around addition, shifts and xor.  The array API leaves integer
overflow unspecified, so the first use of a namespace runs a small probe: if ``uint32``
``add``/``bitwise_left_shift``/``bitwise_right_shift`` exist and wrap modulo 2**32 (numpy,
array_api_strict, jax), words are ``uint32``; otherwise (torch 2.x CPU implements no
``add`` or shifts for ``torch.uint32``) words are ``int64`` holding ``[0, 2**32)`` and every
add and left shift is masked with ``& 0xFFFFFFFF``.  ``int64`` is never used with jax, whose
default mode silently narrows it to ``int32``.  :func:`bits` converts back and always returns
``uint32`` (in torch that dtype supports storage, comparison, bitwise and/or/xor, sorting and
``astype``, not arithmetic; use ``xp.astype(b, xp.int64)`` for that).
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from typing import Any

from v0ref._backend import namespace

__all__ = [
    "Key",
    "bits",
    "chisquare",
    "choice",
    "fold_in",
    "key",
    "normal",
    "permutation",
    "split",
    "truncated_normal",
    "uniform",
]

_M32 = 0xFFFFFFFF
_PARITY = 0x1BD11BDA  # Threefry key-schedule constant (Skein's C240 for 32-bit words)
# Rotation constants of Threefry-2x32 (Random123 R_32x2_*), used in alternating groups of 4.
_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
_MAX_SIZE = 2**32 - 1  # elements per draw (counters of one call are built with a 32-bit arange)


# --------------------------------------------------------------------------------- keys


@dataclass(frozen=True)
class Key:
    """A Threefry-2x32 key: two Python ints ``k0, k1`` in ``[0, 2**32)``.

    Plain Python data, so hashable, comparable and the same on every backend.  Build one with
    :func:`key`; derive more with :func:`split` and :func:`fold_in`.
    """

    k0: int
    k1: int

    def __post_init__(self) -> None:
        for name in ("k0", "k1"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int):
                raise TypeError(f"Key.{name} must be an int, got {type(v).__name__}")
            if not 0 <= v <= _M32:
                raise ValueError(f"Key.{name} must be in [0, 2**32), got {v}")


def key(seed: int) -> Key:
    """Key from an integer ``seed`` in ``[0, 2**64)``: ``Key(seed >> 32, seed & 0xFFFFFFFF)``.

    Same layout as ``jax.random.PRNGKey(seed)`` (threefry implementation).  A negative or
    too-large seed raises ``ValueError``; a non-integer (bools included) raises ``TypeError``.
    """
    s = _as_int(seed, "seed")
    if not 0 <= s < 2**64:
        raise ValueError(f"seed must be a non-negative integer below 2**64, got {s}")
    return Key(s >> 32, s & _M32)


def split(key: Key, n: int = 2) -> tuple[Key, ...]:
    """``n`` new keys: ``split(key, n)[i] = Key(*threefry2x32(key, (i >> 32, i & 0xFFFFFFFF)))``.

    Computed on Python ints (no arrays).  Equal to ``jax.random.split`` with JAX's default
    ``jax_threefry_partitionable=True``, and ``split(key, n)[i] == fold_in(key, i)``.
    """
    k = _as_key(key)
    n = _as_int(n, "n")
    if n < 0:
        raise ValueError(f"n must be non-negative, got {n}")
    return tuple(Key(*_threefry2x32_py(k.k0, k.k1, i >> 32, i & _M32)) for i in range(n))


def fold_in(key: Key, data: int) -> Key:
    """Key derived from ``key`` and an integer ``data`` in ``[0, 2**64)``.

    ``fold_in(key, d) = Key(*threefry2x32(key, (d >> 32, d & 0xFFFFFFFF)))``, which equals
    ``jax.random.fold_in(key, d)`` for ``d < 2**32``.  Distinct ``data`` give distinct keys
    (Threefry is a bijection of the 64-bit counter for a fixed key).
    """
    k = _as_key(key)
    d = _as_int(data, "data")
    if not 0 <= d < 2**64:
        raise ValueError(f"data must be in [0, 2**64), got {d}")
    return Key(*_threefry2x32_py(k.k0, k.k1, d >> 32, d & _M32))


# ----------------------------------------------------------------------------- draws


def bits(key: Key, shape: int | tuple[int, ...], *, xp: Any = None) -> Any:
    """Uniform random 32-bit words of ``shape`` (``()`` and zero-size shapes allowed).

    Element with row-major flat index ``i`` is ``y0 ^ y1`` where
    ``(y0, y1) = threefry2x32(key, (i >> 32, i & 0xFFFFFFFF))`` -- ``jax.random.bits`` with its
    default (partitionable) threefry.  Returns ``uint32`` on every backend (see the module
    docstring for torch).
    """
    xp = namespace(xp)
    k = _as_key(key)
    shape, n = _as_shape(shape)
    rep = _rep(xp)
    y0, y1 = _words(xp, rep, k, 0, n)
    out = _xor(xp, y0, y1)
    if rep is not xp.uint32:
        out = xp.astype(out, xp.uint32)
    return xp.reshape(out, shape)


def uniform(
    key: Key,
    shape: int | tuple[int, ...],
    *,
    low: float = 0.0,
    high: float = 1.0,
    dtype: Any = None,
    xp: Any = None,
) -> Any:
    """Uniform floats on ``[low, high)``, identical on every backend for a given ``dtype``.

    ``u = m * 2**-p`` is built from the top ``p`` bits of the element's counter output:
    float32 uses ``p = 24`` (``m = bits >> 8``, so ``u == (bits(key, shape) >> 8) * 2**-24``);
    float64 uses ``p = 53`` from both words (``m = (y0 << 21) | (y1 >> 11)``, the top 53 bits
    of the 64-bit value ``y0:y1``).  Every such ``u`` is exact, so ``u`` is uniform on the
    grid ``{0, 2**-p, ..., 1 - 2**-p}``.  Then ``x = low + (high - low) * u`` in ``dtype``;
    a value that rounds up to ``high`` is replaced by the largest float below ``high``.
    ``low``/``high`` are Python reals (rounded to ``dtype``); they must be finite, with
    ``low < high`` after rounding.  ``dtype``: float32 or float64, default the namespace's
    default real floating dtype.
    """
    xp = namespace(xp)
    k = _as_key(key)
    shape, n = _as_shape(shape)
    dtype = _as_float_dtype(xp, dtype)
    low, high = _as_real(low, "low"), _as_real(high, "high")
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"low and high must be finite, got low={low}, high={high}")
    lo = xp.asarray(low, dtype=dtype)
    hi = xp.asarray(high, dtype=dtype)
    span = xp.asarray(high - low, dtype=dtype)
    if not bool(lo < hi):
        raise ValueError(f"low must be less than high in {dtype}, got low={low}, high={high}")
    if not bool(xp.isfinite(span)):
        raise ValueError(f"high - low overflows {dtype}: low={low}, high={high}")
    u = _unit(xp, k, 0, n, dtype)
    if (low, high) != (0.0, 1.0):
        x = xp.add(lo, xp.multiply(span, u))
        u = xp.where(xp.less(x, hi), x, xp.nextafter(hi, lo))
    return xp.reshape(u, shape)


def normal(key: Key, shape: int | tuple[int, ...], *, dtype: Any = None, xp: Any = None) -> Any:
    """Standard normal floats by the Box--Muller transform (Box & Muller 1958), cosine branch.

    With ``(ka, kb) = split(key)`` and ``U_a``, ``U_b`` the float ``uniform`` grids of
    ``ka``, ``kb`` (same element index): ``z = sqrt(-2 log(1 - U_a)) * cos(2 pi U_b)``.
    ``1 - U_a`` lies in ``(0, 1]`` exactly, so ``log(0)`` cannot happen; the largest
    attainable ``|z|`` is ``sqrt(2 p log 2)``: 5.77 for float32 (``p = 24``), 8.57 for float64
    (``p = 53``).  One normal per pair of uniforms (the sine branch is not used).  Computed in
    ``dtype``; agrees across backends up to a few ulps (``log``/``sqrt``/``cos``).
    """
    xp = namespace(xp)
    k = _as_key(key)
    shape, n = _as_shape(shape)
    dtype = _as_float_dtype(xp, dtype)
    return xp.reshape(_normal_flat(xp, k, 0, n, dtype), shape)


def truncated_normal(
    key: Key,
    lower: float,
    upper: float,
    shape: int | tuple[int, ...],
    *,
    dtype: Any = None,
    xp: Any = None,
) -> Any:
    """Standard normal truncated to ``[lower, upper]`` by the inverse-CDF method.

    ``x = Phi^-1(Phi(a) + U (Phi(b) - Phi(a)))`` with ``U`` uniform on the open grid
    ``{(m + 1/2) 2**-(p-1)}`` (never 0 or 1).  ``Phi(a)``, ``Phi(b)`` are computed in Python
    float64 with ``math.erfc``; ``Phi^-1`` is Wichura's algorithm AS 241 (PPND16, Applied
    Statistics 37, 1988, relative error ~1e-16), which needs only ``log``, ``sqrt``, rational
    functions and ``where`` -- the array API has no ``erfinv``.  If ``a + b > 0`` the interval
    is reflected to ``[-b, -a]`` (and the result negated) so that the probabilities are small
    and keep full relative precision in the tail.  No rejection: one draw per element, output
    clipped to ``[lower, upper]`` against rounding.

    ``lower``/``upper`` are Python reals, ``-inf``/``inf`` allowed, ``lower < upper``.  The
    interval's probability must be representable in ``dtype``: roughly bounds beyond ~37
    (float64) or ~12 (float32) on the same side of zero raise ``ValueError``.
    """
    xp = namespace(xp)
    k = _as_key(key)
    shape, n = _as_shape(shape)
    dtype = _as_float_dtype(xp, dtype)
    a, b = _as_real(lower, "lower"), _as_real(upper, "upper")
    if math.isnan(a) or math.isnan(b):
        raise ValueError(f"lower and upper must not be NaN, got lower={a}, upper={b}")
    if not a < b:
        raise ValueError(f"lower must be less than upper, got lower={a}, upper={b}")
    flip = a + b > 0  # NaN (a=-inf, b=inf) compares False: no reflection
    if flip:
        a, b = -b, -a
    p_lo, p_hi = _phi(a), _phi(b)
    finfo = xp.finfo(dtype)
    if not (p_hi - p_lo > 0 and p_hi * float(finfo.eps) >= float(finfo.smallest_normal)):
        raise ValueError(
            f"the interval [lower, upper] = [{lower}, {upper}] is too far in the tail to "
            f"sample in {dtype} (its normal probability is {p_hi - p_lo:.3g})"
        )
    u = _unit(xp, k, 0, n, dtype, open_=True)
    p = xp.add(xp.asarray(p_lo, dtype=dtype), xp.multiply(xp.asarray(p_hi - p_lo, dtype=dtype), u))
    # Rounding may push p to 0 or 1 (Phi^-1 = -inf/inf); keep it in [tiny, 1 - eps/2].
    p = xp.clip(p, float(finfo.smallest_normal), 1.0 - float(finfo.eps) / 2)
    x = xp.clip(_ndtri(xp, p), a, b)
    if flip:
        x = xp.negative(x)
    return xp.reshape(x, shape)


def chisquare(
    key: Key,
    shape: int | tuple[int, ...],
    df: int = 1,
    *,
    dtype: Any = None,
    xp: Any = None,
) -> Any:
    """Chi-square with a positive integer ``df``: the sum of ``df`` squared standard normals.

    ``chisquare(key, shape, df) = sum_j normal(key, (df, *shape))[j] ** 2``, summed in order
    ``j = 0, 1, ...`` (one normal block at a time, so memory stays ``O(prod(shape))``); for
    ``df = 1`` it is exactly ``normal(key, shape) ** 2``.  Cost grows linearly with ``df``.
    """
    xp = namespace(xp)
    k = _as_key(key)
    shape, n = _as_shape(shape)
    dtype = _as_float_dtype(xp, dtype)
    df = _as_int(df, "df")
    if df <= 0:
        raise ValueError(f"df must be a positive integer, got {df}")
    if df * n >= 2**64:
        raise ValueError(f"df * prod(shape) must be below 2**64, got df={df}, shape={shape}")
    acc = None
    for j in range(df):
        z = _normal_flat(xp, k, j * n, n, dtype)
        acc = xp.multiply(z, z) if acc is None else xp.add(acc, xp.multiply(z, z))
    return xp.reshape(acc, shape)


def permutation(key: Key, n: int, *, xp: Any = None) -> Any:
    """A uniformly random permutation of ``0..n-1`` (the namespace's index dtype).

    Sorts ``0..n-1`` by the 64-bit cipher outputs ``(y0, y1)`` of counters ``0..n-1``
    (lexicographically, two stable ``argsort`` passes).  For a fixed key Threefry is a
    bijection of the counter, so the sort keys are distinct: there are no ties, and the
    permutation is identical on every backend.
    """
    xp = namespace(xp)
    k = _as_key(key)
    n = _as_int(n, "n")
    if not 0 <= n <= _MAX_SIZE:
        raise ValueError(f"n must be in [0, 2**32 - 1], got {n}")
    rep = _rep(xp)
    y0, y1 = _words(xp, rep, k, 0, n)
    by_low = xp.argsort(y1, stable=True)
    by_high = xp.argsort(xp.take(y0, by_low), stable=True)
    return xp.take(by_low, by_high)


def choice(key: Key, n: int, k: int, *, replace: bool = False, xp: Any = None) -> Any:
    """``k`` random integers from ``0..n-1`` (the namespace's index dtype), shape ``(k,)``.

    ``replace=False``: the first ``k`` entries of ``permutation(key, n)`` (all distinct;
    needs ``k <= n``; costs ``O(n log n)``).  ``replace=True``: element ``i`` is
    ``(y0 * 2**32 + y1) mod n`` of counter ``i``, computed exactly by long division on
    32-bit words; the modulo bias is below ``n / 2**64 <= 2**-33``.  Needs ``n <= 2**31``
    (``n >= 1`` when ``k > 0``).
    """
    xp = namespace(xp)
    kk = _as_key(key)
    n = _as_int(n, "n")
    k = _as_int(k, "k")
    if n < 0:
        raise ValueError(f"n must be non-negative, got {n}")
    if k < 0:
        raise ValueError(f"k must be non-negative, got {k}")
    if not replace:
        if k > n:
            raise ValueError(f"k must be at most n without replacement, got k={k}, n={n}")
        return permutation(kk, n, xp=xp)[:k]
    if n > 2**31:
        raise ValueError(f"n must be at most 2**31 with replacement, got {n}")
    if n == 0 and k > 0:
        raise ValueError("n must be positive to draw k > 0 values with replacement")
    if k > _MAX_SIZE:
        raise ValueError(f"k must be below 2**32, got {k}")
    index = xp.__array_namespace_info__().default_dtypes()["indexing"]
    rep = _rep(xp)
    y0, y1 = _words(xp, rep, kk, 0, k)
    if n <= 1:
        return xp.zeros((k,), dtype=index)
    nn = _const(xp, rep, n)
    r = xp.remainder(y0, nn)
    step = 32 - (n - 1).bit_length()  # r < n <= 2**(32 - step): r << step fits in 32 bits
    done = 0
    while done < 32:
        t = min(step, 32 - done)
        chunk = xp.bitwise_and(_shr(xp, rep, y1, 32 - done - t), _const(xp, rep, (1 << t) - 1))
        r = xp.remainder(xp.bitwise_or(_shl(xp, rep, r, t), chunk), nn)
        done += t
    return xp.astype(r, index)


# --------------------------------------------------------------------- Threefry core


def _threefry2x32_py(k0: int, k1: int, x0: int, x1: int) -> tuple[int, int]:
    """Threefry-2x32-20 on Python ints (Random123 ``threefry2x32_R(20, ...)``)."""
    ks = (k0, k1, k0 ^ k1 ^ _PARITY)
    x0 = (x0 + ks[0]) & _M32
    x1 = (x1 + ks[1]) & _M32
    for i in range(5):  # 5 groups of 4 rounds, a key injection after each group
        for r in _ROTATIONS[i % 2]:
            x0 = (x0 + x1) & _M32
            x1 = ((x1 << r) & _M32) | (x1 >> (32 - r))
            x1 ^= x0
        x0 = (x0 + ks[(i + 1) % 3]) & _M32
        x1 = (x1 + ks[(i + 2) % 3] + i + 1) & _M32
    return x0, x1


def _threefry2x32(xp: Any, rep: Any, k0: int, k1: int, x0: Any, x1: Any) -> tuple[Any, Any]:
    """Threefry-2x32-20 on word arrays ``x0, x1`` (in representation ``rep``), key on ints."""
    ks = (k0, k1, k0 ^ k1 ^ _PARITY)
    x0 = _add(xp, rep, x0, _const(xp, rep, ks[0]))
    x1 = _add(xp, rep, x1, _const(xp, rep, ks[1]))
    for i in range(5):
        for r in _ROTATIONS[i % 2]:
            x0 = _add(xp, rep, x0, x1)
            x1 = _rotl(xp, rep, x1, r)
            x1 = _xor(xp, x1, x0)
        x0 = _add(xp, rep, x0, _const(xp, rep, ks[(i + 1) % 3]))
        x1 = _add(xp, rep, x1, _const(xp, rep, (ks[(i + 2) % 3] + i + 1) & _M32))
    return x0, x1


def _words(xp: Any, rep: Any, k: Key, start: int, n: int) -> tuple[Any, Any]:
    """Cipher outputs ``(y0, y1)``, shape ``(n,)``, of the 64-bit counters ``start..start+n-1``."""
    i = xp.arange(n, dtype=rep)
    s_hi, s_lo = start >> 32, start & _M32
    if s_lo:
        lo = _add(xp, rep, i, _const(xp, rep, s_lo))
        carry = xp.astype(xp.less(lo, _const(xp, rep, s_lo)), rep)  # lo wrapped around
        hi = _add(xp, rep, carry, _const(xp, rep, s_hi & _M32))
    else:
        lo = i
        hi = xp.full((n,), s_hi & _M32, dtype=rep)
    return _threefry2x32(xp, rep, k.k0, k.k1, hi, lo)


# Word-arithmetic helpers.  ``rep`` is xp.uint32 (wrap-around natively) or xp.int64 holding
# [0, 2**32) (explicit masking after every operation that can leave that range).


def _const(xp: Any, rep: Any, c: int) -> Any:
    # An array, not a Python int: jax rejects Python ints >= 2**31 next to uint32 arrays.
    return xp.asarray(c, dtype=rep)


def _add(xp: Any, rep: Any, a: Any, b: Any) -> Any:
    s = xp.add(a, b)
    return s if rep is xp.uint32 else xp.bitwise_and(s, _const(xp, rep, _M32))


def _shl(xp: Any, rep: Any, a: Any, r: int) -> Any:
    s = xp.bitwise_left_shift(a, _const(xp, rep, r))
    return s if rep is xp.uint32 else xp.bitwise_and(s, _const(xp, rep, _M32))


def _shr(xp: Any, rep: Any, a: Any, r: int) -> Any:
    return xp.bitwise_right_shift(a, _const(xp, rep, r))


def _rotl(xp: Any, rep: Any, a: Any, r: int) -> Any:
    return xp.bitwise_or(_shl(xp, rep, a, r), _shr(xp, rep, a, 32 - r))


def _xor(xp: Any, a: Any, b: Any) -> Any:
    return xp.bitwise_xor(a, b)


_REP_CACHE: dict[Any, Any] = {}


def _rep(xp: Any) -> Any:
    """Word dtype for ``xp``: uint32 if its add/shifts work and wrap, else int64."""
    try:
        return _REP_CACHE[xp]
    except (KeyError, TypeError):
        pass
    rep = xp.uint32 if _uint32_works(xp) else xp.int64
    try:
        _REP_CACHE[xp] = rep
    except TypeError:  # unhashable namespace object: probe again next time
        pass
    return rep


def _uint32_works(xp: Any) -> bool:
    u = xp.uint32
    try:
        a = xp.asarray([_M32, 0x80000001], dtype=u)
        got = xp.concat(
            [
                xp.add(a, xp.asarray(2, dtype=u)),
                xp.bitwise_left_shift(a, xp.asarray(1, dtype=u)),
                xp.bitwise_right_shift(a, xp.asarray(31, dtype=u)),
            ]
        )
        want = xp.asarray([1, 0x80000003, 0xFFFFFFFE, 2, 1, 1], dtype=u)
        return bool(xp.all(xp.equal(got, want)))
    except Exception:  # noqa: BLE001 - "not implemented" surfaces as various exception types
        return False


# ------------------------------------------------------------------- float helpers


def _unit(xp: Any, k: Key, start: int, n: int, dtype: Any, *, open_: bool = False) -> Any:
    """Uniform grid on [0, 1) (``m 2**-p``) or, with ``open_``, on (0, 1) (``(m + 1/2) 2**-(p-1)``).

    ``p`` = 24 for float32 (from ``y0 ^ y1``), 53 for float64 (from ``y0:y1``); all exact.
    """
    rep = _rep(xp)
    y0, y1 = _words(xp, rep, k, start, n)
    p = 24 if dtype == xp.float32 else 53
    if open_:
        p -= 1
    if p <= 32:
        m = xp.astype(_shr(xp, rep, _xor(xp, y0, y1), 32 - p), dtype)
    else:
        hi = xp.multiply(xp.astype(y0, dtype), xp.asarray(2.0 ** (p - 32), dtype=dtype))
        m = xp.add(hi, xp.astype(_shr(xp, rep, y1, 64 - p), dtype))
    if open_:
        m = xp.add(m, xp.asarray(0.5, dtype=dtype))
    return xp.multiply(m, xp.asarray(2.0**-p, dtype=dtype))


def _normal_flat(xp: Any, k: Key, start: int, n: int, dtype: Any) -> Any:
    ka, kb = split(k, 2)
    one = xp.asarray(1.0, dtype=dtype)
    u1 = xp.subtract(one, _unit(xp, ka, start, n, dtype))  # in (0, 1]: log never sees 0
    u2 = _unit(xp, kb, start, n, dtype)
    r = xp.sqrt(xp.multiply(xp.asarray(-2.0, dtype=dtype), xp.log(u1)))
    return xp.multiply(r, xp.cos(xp.multiply(xp.asarray(2.0 * math.pi, dtype=dtype), u2)))


def _phi(x: float) -> float:
    """Standard normal CDF in Python float64 (accurate in the lower tail)."""
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


# Wichura (1988), algorithm AS 241 PPND16: coefficients of the rational approximations.
_AS241_A = (3.3871328727963666080e0, 1.3314166789178437745e2, 1.9715909503065514427e3,
            1.3731693765509461125e4, 4.5921953931549871457e4, 6.7265770927008700853e4,
            3.3430575583588128105e4, 2.5090809287301226727e3)
_AS241_B = (1.0, 4.2313330701600911252e1, 6.8718700749205790830e2, 5.3941960214247511077e3,
            2.1213794301586595867e4, 3.9307895800092710610e4, 2.8729085735721942674e4,
            5.2264952788528545610e3)
_AS241_C = (1.42343711074968357734e0, 4.63033784615654529590e0, 5.76949722146069140550e0,
            3.64784832476320460504e0, 1.27045825245236838258e0, 2.41780725177450611770e-1,
            2.27238449892691845833e-2, 7.74545014278341407640e-4)
_AS241_D = (1.0, 2.05319162663775882187e0, 1.67638483018380384940e0, 6.89767334985100004550e-1,
            1.48103976427480074590e-1, 1.51986665636164571966e-2, 5.47593808499534494600e-4,
            1.05075007164441684324e-9)
_AS241_E = (6.65790464350110377720e0, 5.46378491116411436990e0, 1.78482653991729133580e0,
            2.96560571828504891230e-1, 2.65321895265761230930e-2, 1.24266094738807843860e-3,
            2.71155556874348757815e-5, 2.01033439929228813265e-7)
_AS241_F = (1.0, 5.99832206555887937690e-1, 1.36929880922735805310e-1, 1.48753612908506148525e-2,
            7.86869131145613259100e-4, 1.84631831751005468180e-5, 1.42151175831644588870e-7,
            2.04426310338993978564e-15)


def _horner(xp: Any, coeffs: tuple[float, ...], x: Any) -> Any:
    """``sum(coeffs[i] * x**i)`` by Horner's rule, in ``x``'s dtype."""
    acc = xp.full_like(x, coeffs[-1])
    for c in reversed(coeffs[:-1]):
        acc = xp.add(xp.multiply(acc, x), xp.asarray(c, dtype=x.dtype))
    return acc


def _ndtri(xp: Any, p: Any) -> Any:
    """Inverse standard normal CDF for ``p`` in (0, 1), Wichura's AS 241 (PPND16)."""
    dt = p.dtype
    q = xp.subtract(p, xp.asarray(0.5, dtype=dt))
    r = xp.subtract(xp.asarray(0.180625, dtype=dt), xp.multiply(q, q))
    central = xp.divide(xp.multiply(q, _horner(xp, _AS241_A, r)), _horner(xp, _AS241_B, r))
    tail_p = xp.where(xp.less(q, xp.asarray(0.0, dtype=dt)), p, xp.subtract(xp.asarray(1.0, dtype=dt), p))
    s = xp.sqrt(xp.negative(xp.log(tail_p)))  # tail_p in (0, 1/2]: finite, >= 0.83
    s1 = xp.subtract(s, xp.asarray(1.6, dtype=dt))
    s2 = xp.subtract(s, xp.asarray(5.0, dtype=dt))
    near = xp.divide(_horner(xp, _AS241_C, s1), _horner(xp, _AS241_D, s1))
    far = xp.divide(_horner(xp, _AS241_E, s2), _horner(xp, _AS241_F, s2))
    tail = xp.where(xp.less_equal(s, xp.asarray(5.0, dtype=dt)), near, far)
    tail = xp.where(xp.less(q, xp.asarray(0.0, dtype=dt)), xp.negative(tail), tail)
    return xp.where(xp.less_equal(xp.abs(q), xp.asarray(0.425, dtype=dt)), central, tail)


# ------------------------------------------------------------------------ validation


def _as_int(v: Any, name: str) -> int:
    if isinstance(v, bool):
        raise TypeError(f"{name} must be an int, got bool")
    try:
        return operator.index(v)
    except TypeError:
        raise TypeError(f"{name} must be an int, got {type(v).__name__}") from None


def _as_real(v: Any, name: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        try:
            return float(v)  # numpy scalars, 0-d arrays
        except (TypeError, ValueError):
            raise TypeError(f"{name} must be a real number, got {type(v).__name__}") from None
    return float(v)


def _as_key(k: Any) -> Key:
    if not isinstance(k, Key):
        raise TypeError(f"key must be a v0ref.random.Key (see key(seed)), got {type(k).__name__}")
    return k


def _as_shape(shape: Any) -> tuple[tuple[int, ...], int]:
    if isinstance(shape, bool):
        raise TypeError("shape must be an int or a tuple of ints, got bool")
    try:
        dims = (operator.index(shape),)
    except TypeError:
        try:
            dims = tuple(_as_int(d, "shape") for d in shape)
        except TypeError:
            raise TypeError(f"shape must be an int or a tuple of ints, got {shape!r}") from None
    if any(d < 0 for d in dims):
        raise ValueError(f"shape entries must be non-negative, got {dims}")
    n = math.prod(dims)
    if n > _MAX_SIZE:
        raise ValueError(f"shape {dims} has {n} elements; at most 2**32 - 1 per draw")
    return dims, n


def _as_float_dtype(xp: Any, dtype: Any) -> Any:
    info = xp.__array_namespace_info__()
    if dtype is None:
        dtype = info.default_dtypes()["real floating"]
    if not (dtype == xp.float32 or dtype == xp.float64):
        raise ValueError(f"dtype must be float32 or float64, got {dtype!r}")
    if not any(dtype == d for d in info.dtypes(kind="real floating").values()):
        raise ValueError(f"dtype {dtype!r} is not available in this namespace (jax needs jax_enable_x64)")
    return dtype
