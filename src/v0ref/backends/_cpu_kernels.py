r"""The oracle's recorded update compiled for the CPU: one C call updates a whole list of tensors.

`v0ref.backends._codegen` records an element-wise registry entry's ``update`` into an expression
DAG plus a host-side scalar program (bias corrections, RAdam's rectification term, a scheduled
``lr``), with guards for the Python branches the oracle takes.  This module turns one such trace
into a shared library with a **multi-tensor entry point**::

    void v0ref_step(long long n_tensors, void* const* ptrs, const long long* sizes,
                    const T* sc, int n_threads);

``ptrs`` holds ``n_operands × n_tensors`` data pointers, operand-major in the order
``program.inputs + program.new_arrays`` (``param``, ``grad``, then the state arrays), ``sizes``
the element count of each tensor and ``sc`` the kernel scalars replayed on the host for this step.
Every operand array is updated in place.  With ``n_threads > 1`` (and OpenMP) the tensors are cut
into chunks of `CHUNK` elements shared out by a parallel-for; the arithmetic of an element never
depends on how the work is split.

Exactness.  The body performs the oracle's IEEE operations in the oracle's order (see
`_codegen`); it is compiled with ``-O3 -ffp-contract=off -fno-fast-math`` (no FMA contraction,
no reassociation, no reciprocal approximations) plus ``-fno-math-errno`` and ``-fno-trapping-math``
(``sqrt`` stays correctly rounded and comparisons keep their IEEE results; only ``errno`` and the
floating-point exception flags are given up, which lets the loop, selects included, vectorize)
and ``-march=native`` (wider vectors, same IEEE results), so the result is bit-identical to the NumPy
oracle and to the torch port's ``"oracle"`` path in float32 and float64
(``tests/test_torch_generated.py``).

Cache.  Libraries are kept in ``$V0REF_CACHE`` or ``$XDG_CACHE_HOME/v0ref`` (default
``~/.cache/v0ref``), under ``cpu-kernels/``, named by a hash of the source, the flags, the
compiler's version and (for ``-march=native``) the host CPU; a build writes a private temporary
file and renames it into place (atomic on POSIX), so concurrent processes never load a partial
library.  Without a C compiler (``$CC``, else ``cc``/``gcc``/``clang`` on ``PATH``) `available`
is ``False`` and callers take another path; nothing here raises at import.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from . import _codegen as cg

__all__ = ["CHUNK", "KernelUnavailable", "Kernel", "available", "cache_dir", "compiler", "kernel", "source"]

CHUNK = 1 << 16              # elements per parallel work item
ENTRY = "v0ref_step"
_BASE_FLAGS = ("-O3", "-std=c11", "-fPIC", "-shared", "-ffp-contract=off", "-fno-fast-math", "-fno-math-errno",
               "-fno-trapping-math")
_OPTIONAL_FLAGS = (("-march=native",), ("-fopenmp",))   # dropped one by one when the compiler refuses them

_lock = threading.Lock()
_libraries: dict[tuple[str, str], "Kernel"] = {}
_compiler_info: dict[str, Any] = {}


class KernelUnavailable(RuntimeError):
    """The compiled path cannot run here (no C compiler, or the compiler rejected the source)."""


# ------------------------------------------------------------------------------------ environment

def compiler() -> str | None:
    """Path of the C compiler: ``$CC`` if set (and found), else the first of ``cc``, ``gcc``,
    ``clang`` on ``PATH``; ``None`` when there is none.  Asked on every step (path selection), so
    the ``PATH`` search is remembered per (``$CC``, ``$PATH``)."""
    return _find_compiler(os.environ.get("CC"), os.environ.get("PATH"))


@functools.lru_cache(maxsize=8)
def _find_compiler(cc: str | None, path: str | None) -> str | None:
    if cc:
        return shutil.which(cc, path=path)
    for name in ("cc", "gcc", "clang"):
        found = shutil.which(name, path=path)
        if found:
            return found
    return None


def available() -> bool:
    """A C compiler is present (building may still fail; `kernel` then raises `KernelUnavailable`)."""
    return compiler() is not None


def cache_dir() -> Path:
    """``$V0REF_CACHE/cpu-kernels``, else ``$XDG_CACHE_HOME/v0ref/cpu-kernels``, else
    ``~/.cache/v0ref/cpu-kernels``."""
    root = os.environ.get("V0REF_CACHE")
    if not root:
        xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        root = os.path.join(xdg, "v0ref")
    return Path(root) / "cpu-kernels"


def _version(cc: str) -> str:
    """The compiler's ``--version`` banner (part of the cache key)."""
    if cc not in _compiler_info:
        try:
            out = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=60).stdout
        except (OSError, subprocess.SubprocessError):
            out = ""
        _compiler_info[cc] = out.strip().splitlines()[0] if out.strip() else cc
    return _compiler_info[cc]


def _cpu_signature() -> str:
    """What ``-march=native`` depends on: machine and CPU feature flags."""
    flags = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("flags", "Features", "model name")):
                    flags += line
                if line.strip() == "":
                    break
    except OSError:
        pass
    return platform.machine() + "\n" + (flags or platform.processor())


# ------------------------------------------------------------------------------------ the source

# scalar state (step counts, NAdam's mu_product), read and written through arrays of addresses
_SCALAR_HELPERS = [line for ctype in ("float", "double") for line in (
    f"/* fill: one value into n 0-d {ctype} tensors */",
    f"void v0ref_fill_{ctype}(long long n, {ctype}* const* ptrs, double v) {{",
    f"  for (long long k = 0; k < n; ++k) *ptrs[k] = ({ctype})v;",
    "}",
    f"/* uniform: 1 and the value when the n {ctype} scalars all hold the same number (not NaN), else 0 */",
    f"int v0ref_uniform_{ctype}(long long n, const {ctype}* const* ptrs, double* value) {{",
    f"  const {ctype} first = *ptrs[0];",
    "  for (long long k = 1; k < n; ++k) if (*ptrs[k] != first) return 0;",
    "  *value = first;",
    "  return first == first;",
    "}")]


def source(program: cg.Program, mode: str) -> str:
    """The C translation unit of ``program`` in precision ``mode`` (``"float32"``/``"float64"``):
    the recorded update function and the multi-tensor entry point `ENTRY`."""
    if mode not in ("float32", "float64"):
        raise ValueError(f"mode must be 'float32' or 'float64' for the CPU kernels; got {mode!r}")
    T = {"float32": "float", "float64": "double"}[mode]
    fn = program.function_name(mode)
    operands = program.inputs + program.new_arrays
    n_sc = len(program.params)
    decl = []
    for j, name in enumerate(operands):
        qual = "const " if name == "grad" else ""
        decl.append(f"  {qual}{T}* restrict o{j} = ({qual}{T}*)ptrs[{j} * n_tensors + k];")
    decl += [f"  const {T} sc{k} = sc[{k}];" for k in range(n_sc)]
    call = [f"o{j}[i]" if name == "grad" else f"&o{j}[i]" for j, name in enumerate(operands)]
    call += [f"sc{k}" for k in range(n_sc)]
    return "\n".join([
        f"/* v0ref CPU kernel: {program.algorithm} ({mode}), generated from the oracle's update. */",
        "#include <math.h>", "#include <stdbool.h>", "#include <stdlib.h>", "",
        program._function(mode, cuda=False), "",
        f"static void run_range(void* const* ptrs, long long n_tensors, long long k, long long lo, "
        f"long long hi, const {T}* sc) {{",
        *decl,
        f"  for (long long i = lo; i < hi; ++i) {fn}({', '.join(call)});",
        "}", "",
        f"void {ENTRY}(long long n_tensors, void* const* ptrs, const long long* sizes, const {T}* sc, "
        "int n_threads) {",
        "  long long total = 0;",
        "  for (long long k = 0; k < n_tensors; ++k) total += sizes[k];",
        "#ifdef _OPENMP",
        f"  if (n_threads > 1 && total > 2LL * {CHUNK}) {{",
        "    long long* first = (long long*)malloc((size_t)(n_tensors + 1) * sizeof(long long));",
        "    if (first) {",
        "      first[0] = 0;",
        f"      for (long long k = 0; k < n_tensors; ++k) first[k + 1] = first[k] + (sizes[k] + {CHUNK - 1}) / {CHUNK};",
        "      const long long n_chunks = first[n_tensors];",
        "      #pragma omp parallel for num_threads(n_threads) schedule(static)",
        "      for (long long c = 0; c < n_chunks; ++c) {",
        "        long long lo = 0, hi = n_tensors - 1;          /* tensor k with first[k] <= c < first[k+1] */",
        "        while (lo < hi) { long long mid = (lo + hi + 1) / 2; if (first[mid] <= c) lo = mid; else hi = mid - 1; }",
        f"        const long long start = (c - first[lo]) * {CHUNK};",
        f"        const long long stop = start + {CHUNK} < sizes[lo] ? start + {CHUNK} : sizes[lo];",
        "        run_range(ptrs, n_tensors, lo, start, stop, sc);",
        "      }",
        "      free(first);",
        "      return;",
        "    }",
        "  }",
        "#else",
        "  (void)n_threads;",
        "#endif",
        "  for (long long k = 0; k < n_tensors; ++k) run_range(ptrs, n_tensors, k, 0, sizes[k], sc);",
        "}", "",
        *_SCALAR_HELPERS, ""])


# ------------------------------------------------------------------------------------ building

class Kernel:
    """A loaded library: ``kernel(n_tensors, ptrs, sizes, sc, n_threads)`` with raw addresses
    (``ptrs``: ``n_operands × n_tensors`` uint64, ``sizes``: int64, ``sc``: the compute dtype)."""

    def __init__(self, path: Path, program: cg.Program, mode: str, flags: tuple[str, ...]):
        self.path, self.mode, self.flags = path, mode, flags
        self.operands = program.inputs + program.new_arrays
        self.n_scalars = len(program.params)
        self._lib = ctypes.CDLL(str(path))
        fn = getattr(self._lib, ENTRY)
        fn.restype = None
        fn.argtypes = [ctypes.c_longlong, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int]
        self._fn = fn
        self._fill, self._uniform = {}, {}
        for dtype, ctype in (("float32", "float"), ("float64", "double")):
            f = getattr(self._lib, f"v0ref_fill_{ctype}")
            f.restype = None
            f.argtypes = [ctypes.c_longlong, ctypes.c_void_p, ctypes.c_double]
            self._fill[dtype] = f
            u = getattr(self._lib, f"v0ref_uniform_{ctype}")
            u.restype = ctypes.c_int
            u.argtypes = [ctypes.c_longlong, ctypes.c_void_p, ctypes.c_void_p]
            self._uniform[dtype] = u

    @property
    def openmp(self) -> bool:
        return "-fopenmp" in self.flags

    def __call__(self, n_tensors: int, ptrs: int, sizes: int, sc: int, n_threads: int = 1) -> None:
        self._fn(n_tensors, ptrs, sizes, sc, n_threads)

    def fill(self, dtype: str, n: int, ptrs: int, value: float) -> None:
        """Write ``value`` (rounded to ``dtype``, ``"float32"``/``"float64"``, as ``fill_`` does)
        into the ``n`` scalars whose addresses are at ``ptrs``."""
        self._fill[dtype](n, ptrs, value)

    def uniform(self, dtype: str, n: int, ptrs: int) -> float | None:
        """The value the ``n`` (≥ 1) scalars of ``dtype`` at addresses ``ptrs`` all hold, read
        from memory in one call; ``None`` when they differ or it is NaN."""
        value = ctypes.c_double()                   # per call: kernels are shared between threads
        return value.value if self._uniform[dtype](n, ptrs, ctypes.byref(value)) else None


def _writable(folder: Path) -> Path:
    """``folder`` (created), or a per-user folder under the system temp dir when it cannot be."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if os.access(folder, os.W_OK):
            return folder
    except OSError:
        pass
    uid = os.getuid() if hasattr(os, "getuid") else "user"
    fallback = Path(tempfile.gettempdir()) / f"v0ref-{uid}" / "cpu-kernels"
    fallback.mkdir(parents=True, exist_ok=True)
    return fallback


_COMPILE_TIMEOUT = 600                 # seconds one compiler run may take
_swept: set[Path] = set()


def _sweep(folder: Path) -> None:
    """Remove build folders left in ``folder`` by processes that died mid-build (a daemon build
    thread stopped at interpreter exit, a killed process): those older than two compile timeouts,
    so no build still running anywhere loses its folder.  Once per folder and process."""
    if folder in _swept:
        return
    _swept.add(folder)
    cutoff = time.time() - 2 * _COMPILE_TIMEOUT
    for stale in folder.glob(".build-*"):
        try:
            if stale.is_dir() and stale.stat().st_mtime < cutoff:
                shutil.rmtree(stale, ignore_errors=True)
        except OSError:
            pass


def _compile(cc: str, src: str, flags: tuple[str, ...], out: Path, *, suffix: str = ".c",
             link: tuple[str, ...] = ("-lm",)) -> str | None:
    """Compile ``src`` into ``out`` (atomically); the compiler's error text on failure."""
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=".build-") as tmp:
        c_file, so_file = Path(tmp) / f"kernel{suffix}", Path(tmp) / "kernel.so"
        try:
            c_file.write_text(src)
            done = subprocess.run([cc, *flags, str(c_file), "-o", str(so_file), *link],
                                  capture_output=True, text=True, timeout=_COMPILE_TIMEOUT)
        except (OSError, subprocess.SubprocessError) as exc:
            return str(exc)
        if done.returncode != 0:
            return done.stderr[-2000:] or f"exit status {done.returncode}"
        os.replace(so_file, out)          # atomic: readers see no file or a whole one
    return None


def build_library(stem: str, src: str, *, what: str = "a kernel", cc: str | None = None,
                  base: tuple[str, ...] = _BASE_FLAGS, optional: tuple[tuple[str, ...], ...] = _OPTIONAL_FLAGS,
                  suffix: str = ".c", link: tuple[str, ...] = ("-lm",), key: str = "") -> tuple[Path, tuple[str, ...]]:
    """Compile source ``src`` into the cache as ``<stem>-<digest>.so`` (or find it there) and
    return ``(path, flags)``.  The digest covers the source, the flags, the compiler's version,
    ``key`` and, with ``-march=native``, the host CPU; the ``optional`` flag groups are dropped one
    by one when the compiler refuses them.  ``cc`` defaults to `compiler` (C); a C++ source passes
    its compiler, ``base`` flags, ``suffix=".cpp"`` and ``link`` flags.  Raises
    `KernelUnavailable` without a compiler, without a writable cache folder, or when even the base
    flags fail."""
    cc = cc or compiler()
    if cc is None:
        raise KernelUnavailable("no C compiler found (set $CC or install cc/gcc/clang)")
    try:
        folder = _writable(cache_dir())
    except OSError as exc:
        raise KernelUnavailable(f"no writable cache folder for compiled kernels ({exc})") from exc
    _sweep(folder)
    errors = []
    optional_left = list(optional)
    while True:
        flags = base + tuple(f for group in optional_left for f in group)
        ident = "\n".join([src, " ".join(flags), " ".join(link), _version(cc), key,
                           _cpu_signature() if "-march=native" in flags else ""])
        path = folder / f"{stem}-{hashlib.sha256(ident.encode()).hexdigest()[:24]}.so"
        if path.exists():
            return path, flags
        err = _compile(cc, src, flags, path, suffix=suffix, link=link)
        if err is None:
            return path, flags
        errors.append(f"{' '.join(flags)}: {err}")
        if not optional_left:
            raise KernelUnavailable(f"{cc} could not build {what}:\n" + "\n".join(errors))
        optional_left.pop()            # retry without the last optional flag group


def kernel(program: cg.Program, mode: str) -> Kernel:
    """The compiled multi-tensor kernel of ``program`` (built on first use, then cached on disk
    and in memory).  Raises `KernelUnavailable` without a compiler or when compilation fails."""
    key = (program.function_name(mode), mode)
    found = _libraries.get(key)
    if found is not None:
        return found
    with _lock:
        found = _libraries.get(key)
        if found is not None:
            return found
        path, flags = build_library(program.function_name(mode), source(program, mode),
                                    what=f"the {program.algorithm} kernel")
        try:
            built = Kernel(path, program, mode, flags)
        except (OSError, AttributeError) as exc:      # unloadable or foreign file under our name
            raise KernelUnavailable(f"cannot load {path}: {exc}") from exc
        _libraries[key] = built
        return built
