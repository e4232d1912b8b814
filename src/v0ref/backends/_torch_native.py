r"""A small C++ helper for the torch port's kept-plan replay (`v0ref.backends.torch._Plan`).

At many small tensors the compiled step is bound by per-tensor Python work, not by the kernel:
reading ``p.grad``, checking it, reading its address and bumping each parameter's version costs
~0.2 µs per tensor per pass from Python, and about twice that after the kernel has streamed the
tensors through the caches and evicted the tensor objects (measured at 2000 tensors: 3.4 ms cold
against 1.6 ms warm for the replay's checks).  The helper does the same checks in one C++ loop
over the parameter list, where the processor overlaps the cache misses of consecutive tensors:

``v0ref_gather``
    the group's parameter list holds the kept plan's objects, in order; for every parameter:
    still a tensor, gradient present exactly where the plan
    says, dense, contiguous, of the parameter's dtype and element count; parameter at the same
    data address with the same element count and dtype.  Writes each gradient's address into the
    plan's operand table and, only when every check holds, bumps each updated parameter's version
    counter (what ``torch.autograd.graph.increment_version`` does).  Returns 1, or 0 with nothing
    bumped.
``v0ref_values_are``
    ``list(d.values())`` is, item by item, the given list (identity), without building it.
``v0ref_dicts_hold``
    ``all(d.get(key) is v for d, v in zip(dicts, values))`` over exact ``dict`` objects.

It is compiled against the installed torch's headers with the system C++ compiler (``$CXX``, else
``c++``/``g++``/``clang++``) into the kernel cache (`v0ref.backends._cpu_kernels.build_library`;
the digest covers torch's version, the Python ABI and the compiler).  The first build takes
~30 s, so it runs in a background thread started by the first kept plan; until it is ready, or
when it cannot be built (no compiler, no headers) or ``V0REF_TORCH_NATIVE=0`` is set, the replay
makes the same checks in Python.  `helper` returns the loaded helper or ``None``; `error` says why
there is none.
"""

from __future__ import annotations

import ctypes
import functools
import os
import shutil
import sys
import sysconfig
import threading
from typing import Any

import torch

from . import _cpu_kernels

__all__ = ["Helper", "error", "helper"]

_SOURCE = r"""
// v0ref: checks and gathers of the torch port's kept-plan replay (see _torch_native.py).
#include <Python.h>
#include <torch/csrc/autograd/python_variable.h>
#include <cstdint>

namespace {
inline const at::Tensor* unpack(PyObject* obj) {
  return THPVariable_Check(obj) ? &THPVariable_Unpack(obj) : nullptr;
}
}  // namespace

extern "C" int v0ref_gather(PyObject* params, PyObject* kept, const unsigned char* mask, long long n_present,
                            const uint64_t* param_ptrs, const int64_t* numels, int dtype,
                            uint64_t* grad_ptrs) {
  try {
    if (!PyList_CheckExact(params) || !PyList_CheckExact(kept)) return 0;
    const Py_ssize_t n = PyList_GET_SIZE(params);
    if (PyList_GET_SIZE(kept) != n) return 0;
    const auto want = static_cast<c10::ScalarType>(dtype);
    long long j = 0;
    for (Py_ssize_t i = 0; i < n; ++i) {
      if (PyList_GET_ITEM(params, i) != PyList_GET_ITEM(kept, i)) return 0;
      const at::Tensor* p = unpack(PyList_GET_ITEM(params, i));
      if (p == nullptr || !p->defined()) return 0;
      const at::Tensor& g = p->grad();
      const bool present = g.defined();
      if (present != (mask == nullptr || mask[i] != 0)) return 0;
      if (!present) continue;
      if (j >= n_present) return 0;
      if (p->layout() != c10::kStrided || p->scalar_type() != want || p->numel() != numels[j]
          || reinterpret_cast<uint64_t>(p->const_data_ptr()) != param_ptrs[j]) return 0;
      if (g.layout() != c10::kStrided || g.scalar_type() != want || g.numel() != numels[j]
          || g.device() != p->device() || !g.is_contiguous()) return 0;
      grad_ptrs[j++] = reinterpret_cast<uint64_t>(g.const_data_ptr());
    }
    if (j != n_present) return 0;
    for (Py_ssize_t i = 0; i < n; ++i) {           // all checks held: the in-place writes to come
      const at::Tensor* p = unpack(PyList_GET_ITEM(params, i));
      if ((mask == nullptr || mask[i] != 0) && !p->is_inference())
        p->unsafeGetTensorImpl()->bump_version();
    }
    return 1;
  } catch (...) {
    return 0;
  }
}

extern "C" int v0ref_values_are(PyObject* dict, PyObject* values) {
  if (!PyDict_Check(dict) || !PyList_CheckExact(values)) return 0;
  if (PyDict_GET_SIZE(dict) != PyList_GET_SIZE(values)) return 0;
  Py_ssize_t pos = 0, i = 0;
  PyObject *key, *value;
  while (PyDict_Next(dict, &pos, &key, &value))
    if (value != PyList_GET_ITEM(values, i++)) return 0;
  return 1;
}

extern "C" int v0ref_dicts_hold(PyObject* dicts, PyObject* key, PyObject* values) {
  if (!PyList_CheckExact(dicts) || !PyList_CheckExact(values)) return 0;
  const Py_ssize_t n = PyList_GET_SIZE(dicts);
  if (PyList_GET_SIZE(values) != n) return 0;
  for (Py_ssize_t i = 0; i < n; ++i) {
    PyObject* d = PyList_GET_ITEM(dicts, i);
    if (!PyDict_CheckExact(d)) return 0;
    PyObject* v = PyDict_GetItemWithError(d, key);
    if (v == nullptr) { PyErr_Clear(); return 0; }
    if (v != PyList_GET_ITEM(values, i)) return 0;
  }
  return 1;
}
"""

# torch's ScalarType numbering (c10/core/ScalarType.h), for the dtypes the compiled path runs
_SCALAR_TYPE = {torch.float32: 6, torch.float64: 7, torch.complex64: 9, torch.complex128: 10}


class Helper:
    """The loaded library; each call holds the GIL (``ctypes.PyDLL``)."""

    def __init__(self, path: str):
        lib = ctypes.PyDLL(path)
        self._gather = lib.v0ref_gather
        self._gather.restype = ctypes.c_int
        self._gather.argtypes = [ctypes.py_object, ctypes.py_object, ctypes.c_void_p, ctypes.c_longlong,
                                 ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
        self._values_are = lib.v0ref_values_are
        self._values_are.restype = ctypes.c_int
        self._values_are.argtypes = [ctypes.py_object, ctypes.py_object]
        self._hold = lib.v0ref_dicts_hold
        self._hold.restype = ctypes.c_int
        self._hold.argtypes = [ctypes.py_object, ctypes.py_object, ctypes.py_object]

    def gather(self, params: list, kept: list, mask: int | None, n_present: int, param_ptrs: int, numels: int,
               dtype: torch.dtype, grad_ptrs: int) -> bool:
        """See the module docstring; the integers are buffer addresses (``ndarray.ctypes.data``)."""
        code = _SCALAR_TYPE.get(dtype)
        if code is None:
            return False
        return bool(self._gather(params, kept, mask, n_present, param_ptrs, numels, code, grad_ptrs))

    def values_are(self, mapping: dict, values: list) -> bool:
        return bool(self._values_are(mapping, values))

    def dicts_hold(self, dicts: list, key: str, values: list) -> bool:
        return bool(self._hold(dicts, key, values))


_state: dict[str, Any] = {"helper": None, "error": None, "thread": None}
_lock = threading.Lock()


def _cxx() -> str | None:
    cxx = os.environ.get("CXX")
    if cxx:
        return shutil.which(cxx)
    for name in ("c++", "g++", "clang++"):
        found = shutil.which(name)
        if found:
            return found
    return None


@functools.lru_cache(maxsize=1)
def _build_options() -> dict[str, Any]:
    from torch.utils import cpp_extension
    lib_dir = os.path.join(os.path.dirname(torch.__file__), "lib")
    includes = [*cpp_extension.include_paths(), sysconfig.get_paths()["include"]]
    abi = int(bool(getattr(torch._C, "_GLIBCXX_USE_CXX11_ABI", True)))
    base = ("-O2", "-std=c++20", "-fPIC", "-shared", "-w", f"-D_GLIBCXX_USE_CXX11_ABI={abi}",
            *(f"-I{d}" for d in includes))
    link = (f"-L{lib_dir}", "-ltorch_python", "-ltorch_cpu", "-lc10", f"-Wl,-rpath,{lib_dir}")
    key = f"torch {torch.__version__} {sys.implementation.cache_tag} {sysconfig.get_config_var('SOABI')}"
    return dict(base=base, link=link, key=key)


def _build() -> None:
    try:
        cxx = _cxx()
        if cxx is None:
            raise _cpu_kernels.KernelUnavailable("no C++ compiler found (set $CXX or install c++/g++/clang++)")
        path, _ = _cpu_kernels.build_library("v0ref_torch_replay", _SOURCE, what="the torch replay helper",
                                             cc=cxx, optional=(), suffix=".cpp", **_build_options())
        made = Helper(str(path))
    except Exception as exc:                   # any failure leaves the Python checks in charge
        _state["error"] = f"{type(exc).__name__}: {exc}"
        return
    _state["helper"] = made


def helper(*, wait: bool = False) -> Helper | None:
    """The loaded helper, or ``None`` while it builds (in a background thread started by the
    first call), when it cannot be built or when ``V0REF_TORCH_NATIVE=0``.  ``wait=True`` blocks
    until the build has finished."""
    if os.environ.get("V0REF_TORCH_NATIVE", "1") == "0":
        return None
    found = _state["helper"]
    if found is not None or _state["error"] is not None:
        return found
    with _lock:
        thread = _state["thread"]
        if thread is None:
            thread = _state["thread"] = threading.Thread(target=_build, name="v0ref-torch-native", daemon=True)
            thread.start()
    if wait:
        thread.join()
    return _state["helper"]


def error() -> str | None:
    """Why there is no helper (``None`` while it builds or once it is loaded)."""
    if os.environ.get("V0REF_TORCH_NATIVE", "1") == "0":
        return "disabled by V0REF_TORCH_NATIVE=0"
    return _state["error"]
