r"""Fused CPU kernels for the gradient statistics of `v0ref.backends._torch_data` (issue 8).

`_torch_data._Shifted` keeps, per parameter, the shifted sums of Chan, Golub & LeVeque (1983,
Am. Stat. 37(3), §3): with the shift ``c`` (the first observation) and ``d = g − c``,
``S1 = Σ d`` and ``S2 = Σ d²``.  With torch ops one mini-batch observation costs four memory
passes (``d ← g``, ``d −= c``, ``b1 += d``, ``b2 += d·d``); the kernels here do each job in one
pass over every operand, on a whole list of tensors per call:

* ``add`` (minibatch mode) — per element ``d = g − c; b1 ← b1 + d; b2 ← b2 + d·d`` in the
  gradient's dtype, optionally followed in the same pass by the fold of the float32 partial sums
  into the float64 totals (``s ← s + (double) b; b ← 0``, or ``s ← (double) b`` at the first fold).
  **Bit-identical** to the torch sequence: the same IEEE operations in the same order, compiled
  with ``-ffp-contract=off``; the one rounding torch leaves to its build, ``addcmul_``'s
  ``b + v·t1·t2`` (fused into one FMA where ATen was built with FMA, two roundings otherwise), is
  probed once per dtype against ``torch._foreach_addcmul_`` and ``Tensor.addcmul_`` on odd sizes
  and the kernel takes the matching form; with no match the dtype stays on the torch path.
* ``add_rows`` (per-sample mode) — ``n`` observations per call (the rows of a ``vmap(grad)``
  output, any row stride, each row contiguous): per element ``S1 += Σ_r (g_r − c)``,
  ``S2 += Σ_r (g_r − c)²`` in float64 (the differences formed in float64), one read of the
  per-sample gradients instead of four read/write passes.  Not bit-identical to the torch path
  (different summation order and precision; both agree with the float64 oracle, see the tests).
* ``form`` — the end of the pass, per element, in float64: with ``K`` observations,

  .. math::

      M_2 = \max(S_2 − S_1^2/K,\ 0),\quad \bar g = S_1/K + c,\quad \mathrm{Var} = M_2/K,

  then one of the data strategies of `v0ref.moments` (Abuduweili & Liu 2024, Eq. 10:
  ``σ·(ḡ² + B·Var)``; ``σ·ḡ²``; ``σ·ḡ``; ``σ·Var``; ``σ·(Var + ḡ²)``) written in the output
  dtype, or ``(ḡ, M2)`` themselves.  It performs the torch path's operations in its order
  (``S2.addcmul_(S1, S1, value=−1/K).clamp_min_(0)``, ``S1.div_(K).add_(c)``, ``M2 / K``, the
  strategy formula, the cast), so it is bit-identical to ``_Shifted.moments()`` followed by
  `v0ref.moments.resolve` when the float64 probe matched.

Multi-tensor calls are split into chunks of `CHUNK` elements shared out by OpenMP threads
(``torch.get_num_threads()``); an element's arithmetic never depends on the split.  The library
is built with `v0ref.backends._cpu_kernels`' compiler, flags and cache folder (built once per
machine, loaded once per process); without a compiler `kernels` returns ``None`` and the caller
stays on torch ops.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Sequence
from pathlib import Path

import torch

from . import _cpu_kernels as ck

__all__ = ["CHUNK", "FORMS", "StatsKernels", "kernels", "unavailable_reason"]

CHUNK = 1 << 16         # elements per parallel work item
SUB = 1024              # add_rows: elements per block whose row sums stay in L1 (2 × 8 KiB of float64)
# what `form` writes (index = the C `kind`)
FORMS = ("mean_var", "mean_sq", "mean", "var", "var_plus_mean_sq", "moments")

_SOURCE = r"""
/* v0ref: fused gradient-statistics kernels (see v0ref/backends/_stats_kernel.py). */
#include <math.h>
#include <stdlib.h>

#define CHUNK %(chunk)dLL
#define SUB %(sub)d
#define INLINE static inline __attribute__((always_inline))

typedef void (*range_fn)(void* const* p, long long n, long long k, long long lo, long long hi, const void* a);

/* run fn over every tensor's [0, sizes[k]), in CHUNK-element items shared out by OpenMP */
static void dispatch(range_fn fn, void* const* p, long long n, const long long* sizes, const void* a,
                     int n_threads) {
  long long total = 0;
  for (long long k = 0; k < n; ++k) total += sizes[k];
#ifdef _OPENMP
  if (n_threads > 1 && total > 2 * CHUNK) {
    long long* first = (long long*)malloc((size_t)(n + 1) * sizeof(long long));
    if (first) {
      first[0] = 0;
      for (long long k = 0; k < n; ++k) first[k + 1] = first[k] + (sizes[k] + CHUNK - 1) / CHUNK;
      const long long n_items = first[n];
      #pragma omp parallel for num_threads(n_threads) schedule(static)
      for (long long item = 0; item < n_items; ++item) {
        long long lo = 0, hi = n - 1;            /* tensor k with first[k] <= item < first[k+1] */
        while (lo < hi) { long long mid = (lo + hi + 1) / 2; if (first[mid] <= item) lo = mid; else hi = mid - 1; }
        const long long start = (item - first[lo]) * CHUNK;
        const long long stop = start + CHUNK < sizes[lo] ? start + CHUNK : sizes[lo];
        fn(p, n, lo, start, stop, a);
      }
      free(first);
      return;
    }
  }
#else
  (void)n_threads; (void)total;
#endif
  for (long long k = 0; k < n; ++k) fn(p, n, k, 0, sizes[k], a);
}

/* ---- add: one observation; operands g, c, b1, b2 (T), s1, s2 (double, fold only) ----------- */
/* fold: 0 none, 1 first fold (s = b), 2 fold (s = s + b); then b = 0.  fused: b2 + d*d as one FMA */
#define ADD(SFX, T, FMA)                                                                              \
INLINE void add_body_##SFX(const T* restrict g, const T* restrict c, T* restrict b1, T* restrict b2,  \
                           double* restrict s1, double* restrict s2, long long lo, long long hi,      \
                           const int fused, const int fold) {                                         \
  for (long long i = lo; i < hi; ++i) {                                                               \
    const T d = g[i] - c[i];                                                                          \
    const T n1 = b1[i] + d;                                                                           \
    const T n2 = fused ? FMA(d, d, b2[i]) : b2[i] + d * d;                                            \
    if (fold == 0) { b1[i] = n1; b2[i] = n2; }                                                        \
    else {                                                                                            \
      s1[i] = fold == 1 ? (double)n1 : s1[i] + (double)n1;                                            \
      s2[i] = fold == 1 ? (double)n2 : s2[i] + (double)n2;                                            \
      b1[i] = (T)0; b2[i] = (T)0;                                                                     \
    }                                                                                                 \
  }                                                                                                   \
}                                                                                                     \
static void add_range_##SFX(void* const* p, long long n, long long k, long long lo, long long hi,    \
                            const void* a) {                                                          \
  const int* flags = (const int*)a;                                                                   \
  const T* g = (const T*)p[k]; const T* c = (const T*)p[n + k];                                       \
  T* b1 = (T*)p[2 * n + k]; T* b2 = (T*)p[3 * n + k];                                                 \
  double* s1 = (double*)p[4 * n + k]; double* s2 = (double*)p[5 * n + k];                             \
  switch (flags[0] * 3 + flags[1]) {                                                                  \
    case 0: add_body_##SFX(g, c, b1, b2, s1, s2, lo, hi, 0, 0); break;                                \
    case 1: add_body_##SFX(g, c, b1, b2, s1, s2, lo, hi, 0, 1); break;                                \
    case 2: add_body_##SFX(g, c, b1, b2, s1, s2, lo, hi, 0, 2); break;                                \
    case 3: add_body_##SFX(g, c, b1, b2, s1, s2, lo, hi, 1, 0); break;                                \
    case 4: add_body_##SFX(g, c, b1, b2, s1, s2, lo, hi, 1, 1); break;                                \
    default: add_body_##SFX(g, c, b1, b2, s1, s2, lo, hi, 1, 2); break;                               \
  }                                                                                                   \
}                                                                                                     \
void v0ref_stats_add_##SFX(long long n, void* const* p, const long long* sizes, int fused, int fold,  \
                           int n_threads) {                                                           \
  const int flags[2] = {fused ? 1 : 0, fold};                                                         \
  dispatch(add_range_##SFX, p, n, sizes, flags, n_threads);                                           \
}

ADD(f32, float, fmaf)
ADD(f64, double, fma)

/* ---- add_rows: rows r of g (row stride rs[k]) into float64 totals t1, t2; operands g, c, t1, t2 */
/* per block of SUB elements: row sums in a1, a2 (L1), rows taken four at a time (same order) */
#define ROWS(SFX, T)                                                                                  \
static void rows_range_##SFX(void* const* p, long long n, long long k, long long lo, long long hi,   \
                             const void* a) {                                                         \
  const long long rows = ((const long long*)a)[0], rs = ((const long long*)a)[1 + k];                 \
  const T* g = (const T*)p[k]; const T* restrict c = (const T*)p[n + k];                              \
  double* restrict t1 = (double*)p[2 * n + k]; double* restrict t2 = (double*)p[3 * n + k];           \
  double a1[SUB], a2[SUB];                                                                            \
  for (long long j = lo; j < hi; j += SUB) {                                                          \
    const long long m = hi - j < SUB ? hi - j : SUB;                                                  \
    for (long long q = 0; q < m; ++q) { a1[q] = 0.0; a2[q] = 0.0; }                                   \
    long long r = 0;                                                                                  \
    for (; r + 4 <= rows; r += 4) {                                                                   \
      const T* restrict r0 = g + r * rs + j; const T* restrict r1 = r0 + rs;                          \
      const T* restrict r2 = r1 + rs; const T* restrict r3 = r2 + rs;                                 \
      for (long long q = 0; q < m; ++q) {                                                             \
        const double cq = (double)c[j + q];                                                           \
        const double d0 = (double)r0[q] - cq, d1 = (double)r1[q] - cq;                               \
        const double d2 = (double)r2[q] - cq, d3 = (double)r3[q] - cq;                                \
        a1[q] = (((a1[q] + d0) + d1) + d2) + d3;                                                      \
        a2[q] = (((a2[q] + d0 * d0) + d1 * d1) + d2 * d2) + d3 * d3;                                  \
      }                                                                                               \
    }                                                                                                 \
    for (; r < rows; ++r) {                                                                           \
      const T* restrict row = g + r * rs + j;                                                         \
      for (long long q = 0; q < m; ++q) {                                                             \
        const double d = (double)row[q] - (double)c[j + q];                                           \
        a1[q] = a1[q] + d;                                                                            \
        a2[q] = a2[q] + d * d;                                                                        \
      }                                                                                               \
    }                                                                                                 \
    for (long long q = 0; q < m; ++q) { t1[j + q] = t1[j + q] + a1[q]; t2[j + q] = t2[j + q] + a2[q]; } \
  }                                                                                                   \
}                                                                                                     \
void v0ref_stats_rows_##SFX(long long n, void* const* p, const long long* sizes, const long long* a,  \
                            int n_threads) {                                                          \
  dispatch(rows_range_##SFX, p, n, sizes, a, n_threads);                                              \
}

ROWS(f32, float)
ROWS(f64, double)

/* ---- form: operands c, b1, b2 (T), s1, s2 (double or NULL: S = b), out, out2 (O; out2: moments) */
/* b1 NULL (only when O is T): out holds b1 and is overwritten element by element (no new buffer)  */
typedef struct { double k, neg_inv_k, batch, scale; int kind, fused; } form_args;

#define FORM(SFX, T, O)                                                                               \
INLINE void form_body_##SFX(const T* restrict c, const T* restrict b1, const T* restrict b2,          \
                            const double* restrict s1, const double* restrict s2, O* restrict out,    \
                            O* restrict out2, long long lo, long long hi, const form_args* f,         \
                            const int totals, const int fused, const int kind) {                      \
  const double k = f->k, nk = f->neg_inv_k, batch = f->batch, scale = f->scale;                       \
  const int in_out = b1 == 0;                                                                         \
  for (long long i = lo; i < hi; ++i) {                                                               \
    const double B1 = in_out ? (double)out[i] : (double)b1[i];                                        \
    const double S1 = totals ? s1[i] + B1 : B1;                                                       \
    const double S2 = totals ? s2[i] + (double)b2[i] : (double)b2[i];                                 \
    double m2 = fused ? fma(nk * S1, S1, S2) : S2 + (nk * S1) * S1;                                   \
    m2 = m2 < 0.0 ? 0.0 : m2;                                                                         \
    const double mean = S1 / k + (double)c[i];                                                        \
    const double var = m2 / k;                                                                        \
    double v;                                                                                         \
    if (kind == 0) v = scale * (mean * mean + batch * var);                                           \
    else if (kind == 1) v = scale * (mean * mean);                                                    \
    else if (kind == 2) v = scale * mean;                                                             \
    else if (kind == 3) v = scale * var;                                                              \
    else if (kind == 4) v = scale * (var + mean * mean);                                              \
    else { v = mean; out2[i] = (O)m2; }                                                               \
    out[i] = (O)v;                                                                                    \
  }                                                                                                   \
}                                                                                                     \
FORM_KINDS(SFX, 0, 0) FORM_KINDS(SFX, 0, 1) FORM_KINDS(SFX, 1, 0) FORM_KINDS(SFX, 1, 1)                 \
static void form_range_##SFX(void* const* p, long long n, long long k, long long lo, long long hi,   \
                             const void* a) {                                                         \
  const form_args* f = (const form_args*)a;                                                           \
  const T* c = (const T*)p[k]; const T* b1 = (const T*)p[n + k]; const T* b2 = (const T*)p[2 * n + k]; \
  const double* s1 = (const double*)p[3 * n + k]; const double* s2 = (const double*)p[4 * n + k];     \
  O* out = (O*)p[5 * n + k]; O* out2 = (O*)p[6 * n + k];                                              \
  switch ((s1 != 0) * 2 + (f->fused ? 1 : 0)) {                                                       \
    case 0: form_kinds_##SFX##_0_0(c, b1, b2, s1, s2, out, out2, lo, hi, f); break;                   \
    case 1: form_kinds_##SFX##_0_1(c, b1, b2, s1, s2, out, out2, lo, hi, f); break;                   \
    case 2: form_kinds_##SFX##_1_0(c, b1, b2, s1, s2, out, out2, lo, hi, f); break;                   \
    default: form_kinds_##SFX##_1_1(c, b1, b2, s1, s2, out, out2, lo, hi, f); break;                  \
  }                                                                                                   \
}                                                                                                     \
void v0ref_stats_form_##SFX(long long n, void* const* p, const long long* sizes, double k, double batch, \
                            double scale, int kind, int fused, int n_threads) {                       \
  form_args f = {k, -1.0 / k, batch, scale, kind, fused};                                             \
  dispatch(form_range_##SFX, p, n, sizes, &f, n_threads);                                             \
}

/* one loop per (totals, fused, kind): every branch of the body is decided at compile time */
#define FORM_KINDS(SFX, TOT, FUS)                                                                     \
static void form_kinds_##SFX##_##TOT##_##FUS(const void* c, const void* b1, const void* b2,           \
    const double* s1, const double* s2, void* out, void* out2, long long lo, long long hi,            \
    const form_args* f) {                                                                             \
  switch (f->kind) {                                                                                  \
    case 0: form_body_##SFX(c, b1, b2, s1, s2, out, out2, lo, hi, f, TOT, FUS, 0); break;             \
    case 1: form_body_##SFX(c, b1, b2, s1, s2, out, out2, lo, hi, f, TOT, FUS, 1); break;             \
    case 2: form_body_##SFX(c, b1, b2, s1, s2, out, out2, lo, hi, f, TOT, FUS, 2); break;             \
    case 3: form_body_##SFX(c, b1, b2, s1, s2, out, out2, lo, hi, f, TOT, FUS, 3); break;             \
    case 4: form_body_##SFX(c, b1, b2, s1, s2, out, out2, lo, hi, f, TOT, FUS, 4); break;             \
    default: form_body_##SFX(c, b1, b2, s1, s2, out, out2, lo, hi, f, TOT, FUS, 5); break;            \
  }                                                                                                   \
}

FORM(f32_f32, float, float)
FORM(f32_f64, float, double)
FORM(f64_f64, double, double)
FORM(f64_f32, double, float)

/* ---- probe: out = c + a*b with torch addcmul's two possible roundings ----------------------- */
void v0ref_stats_muladd_f32(long long n, const float* a, const float* b, const float* c, float* out, int fused) {
  for (long long i = 0; i < n; ++i) out[i] = fused ? fmaf(a[i], b[i], c[i]) : c[i] + a[i] * b[i];
}
void v0ref_stats_muladd_f64(long long n, const double* a, const double* b, const double* c, double* out,
                            int fused) {
  for (long long i = 0; i < n; ++i) out[i] = fused ? fma(a[i], b[i], c[i]) : c[i] + a[i] * b[i];
}
""" % {"chunk": CHUNK, "sub": SUB}

_SUFFIX = {torch.float32: "f32", torch.float64: "f64"}
_P = ctypes.c_void_p
_LL = ctypes.c_longlong


def _ptrs(*groups: Sequence[torch.Tensor | None]) -> ctypes.Array:
    """Operand-major array of data pointers (``None`` -> NULL)."""
    flat = [None if t is None else t.data_ptr() for group in groups for t in group]
    return (_P * len(flat))(*flat)


def _sizes(tensors: Sequence[torch.Tensor]) -> ctypes.Array:
    return (_LL * len(tensors))(*(t.numel() for t in tensors))


class StatsKernels:
    """The loaded library.  ``fused[dtype]``: the rounding of torch's ``addcmul_`` on this build
    (``True``: one FMA, ``False``: multiply then add, ``None``: neither matched); `usable` says
    which dtypes the bit-identical kernels serve (callers check it: `add` needs the gradients'
    dtype, `form` float64)."""

    def __init__(self, path: Path, flags: tuple[str, ...]):
        self.path, self.flags = path, flags
        lib = ctypes.CDLL(str(path))
        self._add, self._rows, self._form, self._muladd = {}, {}, {}, {}
        for dtype, sfx in _SUFFIX.items():
            f = getattr(lib, f"v0ref_stats_add_{sfx}")
            f.restype, f.argtypes = None, [_LL, _P, _P, ctypes.c_int, ctypes.c_int, ctypes.c_int]
            self._add[dtype] = f
            f = getattr(lib, f"v0ref_stats_rows_{sfx}")
            f.restype, f.argtypes = None, [_LL, _P, _P, _P, ctypes.c_int]
            self._rows[dtype] = f
            f = getattr(lib, f"v0ref_stats_muladd_{sfx}")
            f.restype, f.argtypes = None, [_LL, _P, _P, _P, _P, ctypes.c_int]
            self._muladd[dtype] = f
            for out, osfx in _SUFFIX.items():
                f = getattr(lib, f"v0ref_stats_form_{sfx}_{osfx}")
                f.restype = None
                f.argtypes = [_LL, _P, _P, ctypes.c_double, ctypes.c_double, ctypes.c_double, ctypes.c_int,
                              ctypes.c_int, ctypes.c_int]
                self._form[dtype, out] = f
        self.fused = {dtype: self._probe(dtype) for dtype in _SUFFIX}

    def _probe(self, dtype: torch.dtype) -> bool | None:
        """Which rounding torch's ``addcmul_`` uses for ``dtype`` (see the class docstring)."""
        gen = torch.Generator().manual_seed(8)
        sizes = (1, 3, 7, 8, 9, 15, 16, 17, 31, 33, 63, 65, 1000, 4099)   # every vector tail
        base = [torch.rand(n, generator=gen, dtype=dtype) * 4 for n in sizes]
        t1 = [torch.randn(n, generator=gen, dtype=dtype) for n in sizes]
        t2 = [torch.randn(n, generator=gen, dtype=dtype) for n in sizes]
        found = None
        for value in (1.0, -1.0 / 7):
            listed = [b.clone() for b in base]
            torch._foreach_addcmul_(listed, t1, t2, value=value)
            single = [b.clone().addcmul_(x, y, value=value) for b, x, y in zip(base, t1, t2)]
            matches = set()
            for fused in (False, True):
                ok = True
                for b, x, y, want_a, want_b in zip(base, t1, t2, listed, single):
                    out = torch.empty_like(b)
                    a = x * value                                  # addcmul's value·t1
                    self._muladd[dtype](b.numel(), a.data_ptr(), y.data_ptr(), b.data_ptr(), out.data_ptr(),
                                        int(fused))
                    ok = ok and _same_bits(out, want_a) and _same_bits(out, want_b)
                if ok:
                    matches.add(fused)
            if len(matches) != 1 or (found is not None and found not in matches):
                return None
            found = matches.pop()
        return found

    def usable(self, dtype: torch.dtype) -> bool:
        """The bit-identical kernels serve ``dtype``: `add` for gradients of that dtype, `form`
        (whatever the gradients' dtype) for float64."""
        return self.fused.get(dtype) is not None

    def add(self, grads: Sequence[torch.Tensor], c: Sequence[torch.Tensor], b1: Sequence[torch.Tensor],
            b2: Sequence[torch.Tensor], s1: Sequence[torch.Tensor] | None, s2: Sequence[torch.Tensor] | None,
            fold: int) -> None:
        """``b1 += g − c``, ``b2 += (g − c)²`` for contiguous CPU tensors of one dtype (that of ``c``);
        ``fold`` 1/2: then ``s ← b`` / ``s ← s + b`` (float64) and ``b ← 0``."""
        dtype = c[0].dtype
        none = [None] * len(c)
        p = _ptrs(grads, c, b1, b2, s1 if fold else none, s2 if fold else none)
        self._add[dtype](len(c), p, _sizes(c), int(self.fused[dtype]), fold, torch.get_num_threads())

    def add_rows(self, grads: Sequence[torch.Tensor], c: Sequence[torch.Tensor], t1: Sequence[torch.Tensor],
                 t2: Sequence[torch.Tensor]) -> None:
        """Each ``grads[i]`` holds ``n`` observations along axis 0 (rows contiguous, any row
        stride): ``t1 += Σ_r (g_r − c)``, ``t2 += Σ_r (g_r − c)²`` in float64."""
        dtype = c[0].dtype
        rows = int(grads[0].shape[0])
        a = (_LL * (1 + len(c)))(rows, *(int(g.stride(0)) if g.ndim and rows > 1 else 0 for g in grads))
        self._rows[dtype](len(c), _ptrs(grads, c, t1, t2), _sizes(c), a, torch.get_num_threads())

    def form(self, c: Sequence[torch.Tensor], b1: Sequence[torch.Tensor], b2: Sequence[torch.Tensor],
             s1: Sequence[torch.Tensor] | None, s2: Sequence[torch.Tensor] | None, out: Sequence[torch.Tensor],
             *, count: int, what: str, batch: float = 1.0, scale: float = 1.0,
             out2: Sequence[torch.Tensor] | None = None) -> None:
        """Write `FORMS` ``what`` of the statistics (``count`` observations) into ``out`` (and ``M2``
        into ``out2`` for ``"moments"``); ``s1``/``s2`` ``None``: ``b1``/``b2`` are the totals.
        ``out`` may be ``b1`` itself (the same tensor objects, so the same dtype): each element is
        read before it is overwritten, and no output buffer is allocated."""
        dtype, odtype = c[0].dtype, out[0].dtype
        none = [None] * len(c)
        in_out = all(o is b for o, b in zip(out, b1))
        if not in_out and any(o is b for o, b in zip(out, b1)):
            raise ValueError("out is b1 for every tensor or for none")
        p = _ptrs(c, none if in_out else b1, b2, s1 or none, s2 or none, out, out2 or none)
        # M2 = S2 + (−1/K)·S1·S1 is torch's float64 addcmul_: its rounding is the float64 probe's
        self._form[dtype, odtype](len(c), p, _sizes(c), float(count), float(batch), float(scale), FORMS.index(what),
                                  int(self.fused[torch.float64]), torch.get_num_threads())


def _same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    view = torch.int32 if a.dtype == torch.float32 else torch.int64
    return a.shape == b.shape and torch.equal(a.view(view), b.view(view))


_lock = threading.Lock()
_state: dict[str, object] = {}


def kernels() -> StatsKernels | None:
    """The library (built on first use, then cached on disk and in memory), or ``None`` when it
    cannot be had: no C compiler, the build failed (the reason is in `unavailable_reason`)."""
    if "lib" in _state:
        return _state["lib"]  # type: ignore[return-value]
    with _lock:
        if "lib" not in _state:
            try:
                _state["lib"] = _build()
            except (ck.KernelUnavailable, OSError, AttributeError) as exc:
                _state["lib"], _state["reason"] = None, str(exc)
    return _state["lib"]  # type: ignore[return-value]


def unavailable_reason() -> str | None:
    """Why `kernels` returned ``None`` (``None`` when it did not, or was not asked yet)."""
    return _state.get("reason")  # type: ignore[return-value]


def _build() -> StatsKernels:
    path, flags = ck.build_library("v0ref_stats", _SOURCE, what="the statistics kernels")
    return StatsKernels(path, flags)
