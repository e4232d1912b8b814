r"""The PyTorch port: one ``torch.optim.Optimizer`` subclass per registry entry, with v0/m0 init.

Every class (``Adam``, ``AdamW``, ``AMSGrad``, ``Adamax``, ``NAdam``, ``RAdam``, ``SGD``, ``SignSGD``,
``Signum``, ``Adagrad``, ``RMSprop``, ``Adadelta``, ``AdaBound``, ``AMSBound``, ``AdaBelief``,
``Yogi``, and one for any entry added to ``v0ref.OPTIMIZERS`` later) is generated from its registry
entry: the constructor takes the entry's hyperparameters with the names and defaults of
torch.optim (``lr``, ``betas``, ``eps``, ``weight_decay``, ``maximize``, ``momentum``, ...), the
moment-init keywords of every v0ref optimizer and torch's path flags::

    Adam(params, lr=1e-3, *, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False,
         maximize=False, bias_correction="standard", convention="torch", ...,
         v0=None, v0_scale=1.0, m0=None, m0_scale=1.0, v0_min_ndim=None, key=None,
         grad_stats=None, fan_layout="torch", loss_fn=None, batches=None, model=None,
         data_options=None, foreach=None, fused=None, impl=None,
         differentiable=False, capturable=False)

``v0``/``m0`` take what `v0ref.moments.resolve` takes (``None``, a strategy name, a number, a list
of tensors, a callable ``params -> list``); the state is filled at construction, so
``state_dict()`` carries v0 from the start.  ``v0="data"`` with ``model=``, ``loss_fn=`` and
``batches=`` computes the paper's Eq. 10 v0 with `data_v0` (or pass ``grad_stats=``).

**State** uses torch's names where torch has the method (``step``, ``exp_avg``, ``exp_avg_sq``,
``max_exp_avg_sq``, ``square_avg``, ``acc_delta``, ``sum``, ``momentum_buffer``, ``grad_avg``,
``exp_inf``, ``mu_product``), else pytorch_optimizer's (``exp_avg_var`` ...), else the oracle's:
the registry's ``Reference.state`` maps give them.  ``step`` is a 0-d float32 tensor as in torch;
scalar state (NAdam's ``mu_product``) a 0-d float64 tensor.  A torch.optim checkpoint loads into
the v0ref class and back.

**Paths** (every one checked against the oracle by the conformance harness):

* ``"oracle"`` — the registry's ``update`` on each tensor (through array-api-compat), results copied
  into the parameter and state in place: the readable reference path (``foreach=False``);
* ``"oracle-foreach"`` — the same ``update`` run once over the whole list of tensors with
  ``torch._foreach_*`` operations (`v0ref.backends._torch_foreach`), bit-identical to ``"oracle"``;
* ``"oracle-compiled"`` — the same ``update`` recorded once by `v0ref.backends._codegen` (expression
  DAG, host scalar program, guards such as RAdam's rectification or SGD's empty momentum buffer)
  and compiled with the system C compiler into one multi-tensor kernel
  (`v0ref.backends._cpu_kernels`): a single call per step updates every CPU tensor of a group in
  place (float32/float64, complex as the real view), bit-identical to ``"oracle"``; it needs a C
  compiler and the tensors on the CPU;
* ``"torch-fused"`` / ``"torch-foreach"`` / ``"torch-forloop"`` — torch.optim's own kernels, used
  where a registry ``Reference`` to torch applies to the hyperparameters (the registry's tests
  prove torch computes exactly the oracle's algorithm then, v0/m0 being just the state torch
  reads): Adam, AdamW, AMSGrad, SGD and Adagrad have fused CPU kernels; RMSprop, Adadelta, Adamax,
  NAdam and RAdam torch's for-loop and foreach code.

Default (``foreach=None, fused=None``): ``"torch-fused"`` where available, else
``"oracle-compiled"`` for CPU float32/float64 parameters when a C compiler is present, else
``"torch-forloop"`` where torch has the algorithm under the chosen convention, else
``"oracle-foreach"`` (see ``benchmarks/torch_step.py`` for the measurements behind the choice).
Should a kernel fail to build, the step falls back to ``"oracle-foreach"`` with a warning.
``fused=True`` demands the fused kernel (a ``ValueError`` where there is none), ``foreach=True``
a foreach path (torch's or the oracle's), ``foreach=False`` the oracle path; ``impl=`` names one.

Parameters without a gradient are skipped; sparse gradients raise ``ValueError``; complex
parameters are optimized as their real view (``torch.view_as_real``), as torch does.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import inspect
import itertools
import numbers
import operator
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from .. import moments as _moments
from ..algorithms import OPTIMIZERS
from ..algorithms._core import Algorithm, Reference
from . import _codegen, _cpu_kernels, _torch_native
from ._torch_foreach import TensorList

__all__ = ["V0Optimizer", "ScheduleLR", "PORT", "TorchPort", "optimizer_class", "data_v0", "IMPLS"]

IMPLS = ("oracle", "oracle-foreach", "oracle-compiled", "torch-forloop", "torch-foreach", "torch-fused")
_CLASS_NAMES = {
    "adam": "Adam", "adamw": "AdamW", "amsgrad": "AMSGrad", "adamax": "Adamax", "nadam": "NAdam",
    "radam": "RAdam", "sgd": "SGD", "signsgd": "SignSGD", "signum": "Signum", "adagrad": "Adagrad",
    "rmsprop": "RMSprop", "adadelta": "Adadelta", "adabound": "AdaBound", "amsbound": "AMSBound",
    "adabelief": "AdaBelief", "yogi": "Yogi", "nag_lookahead": "NAGLookahead",
    "rmsprop_nesterov": "RMSpropNesterov", "lbfgs": "LBFGS", "cg": "CG", "hessian_free": "HessianFree",
}
_FUSED_TARGETS = ("torch.optim.Adam", "torch.optim.AdamW", "torch.optim.SGD", "torch.optim.Adagrad")
_FLAGS = ("foreach", "fused", "impl", "differentiable", "capturable")
_SCALAR_DTYPE = torch.float64          # scalar state (NAdam's mu_product): the oracle keeps a Python float
_COMPILED_MODES = {torch.float32: "float32", torch.float64: "float64",      # param dtype -> kernel mode
                   torch.complex64: "float32", torch.complex128: "float64"}
_KERNEL_SETS: dict[str, _codegen.KernelSet] = {}      # algorithm name -> its recorded traces
_KERNEL_FAILURES: dict[tuple, str] = {}              # (algorithm, structure, mode) -> why no kernel


def _class_name(name: str) -> str:
    return _CLASS_NAMES.get(name) or "".join(part[:1].upper() + part[1:] for part in name.split("_"))


def _torch_references(alg: Algorithm) -> tuple[Reference, ...]:
    return tuple(r for r in alg.references if r.framework == "torch")


def _state_map(alg: Algorithm) -> dict[str, str]:
    """Oracle state name -> torch state key: torch's names where torch has the method, else
    pytorch_optimizer's, else the oracle's own."""
    names = {n: n for n in alg.state_names}
    for framework in ("pytorch_optimizer", "torch"):          # torch wins
        for ref in alg.references:
            if ref.framework == framework:
                names.update({k: v for k, v in ref.state.items() if k in names and v})
    return names


def _resolve_target(target: str) -> type:
    module, _, attr = target.rpartition(".")
    return getattr(importlib.import_module(module), attr)


def _real(t: torch.Tensor) -> torch.Tensor:
    return torch.view_as_real(t) if t.is_complex() else t


def _hyper_fields(alg: Algorithm) -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(alg.hyper_cls)]


_HYPER_NAMES: dict[type, tuple[str, ...]] = {}


def _hyper_names(alg: Algorithm) -> tuple[str, ...]:
    names = _HYPER_NAMES.get(alg.hyper_cls)
    if names is None:
        names = _HYPER_NAMES[alg.hyper_cls] = tuple(f.name for f in _hyper_fields(alg))
    return names


# -------------------------------------------------------------------------------------------------
# the optimizer base class
# -------------------------------------------------------------------------------------------------

_GRAD = operator.attrgetter("grad")
_DTYPE = operator.attrgetter("dtype")
_NATIVE_MIN_TENSORS = 128        # kept plans this large check their tensors in C++ (`_torch_native`)
_ABSENT = object()               # a hyperparameter the group does not set
_PLAIN = (int, float, bool, str, type(None))


def _plain(values: tuple) -> bool:
    """Values whose ``==`` compares what they hold (not a tensor or list changed in place)."""
    return all(type(v) in _PLAIN or v is _ABSENT or (type(v) is tuple and all(type(x) in _PLAIN for x in v))
               for v in values)


def _path_flags(group: Mapping[str, Any]) -> tuple:
    """The group keys that choose its path (besides the tensors themselves)."""
    return group.get("impl"), group.get("fused"), group.get("foreach")


class _Plan:
    """One validated launch of a compiled kernel over a bucket of tensors: the operand addresses
    (``ptrs``, a row per operand; the grad row is rewritten every step), the scalar state's
    addresses, and the state tensors they were read from (``watched``).  A group's steady-state
    plan is kept (`keep`) with what `V0Optimizer._replay` checks before running it again."""

    def __init__(self, params: list[torch.Tensor], states: list[dict], kernels: Any, program: Any,
                 kernel: Any, mode: str, sizes: np.ndarray):
        self.params, self.states, self.kernels, self.program, self.kernel = params, states, kernels, program, kernel
        self.mode, self.sizes = mode, sizes
        self.pptrs = list(map(torch.Tensor.data_ptr, params))
        self.ptrs = np.empty((len(kernel.operands), len(params)), dtype=np.uint64)
        self.grad_row: int | None = None
        self.created: dict[str, list[torch.Tensor]] = {}     # state key -> arrays this launch creates
        self.scalars: dict[str, tuple[np.ndarray, str]] = {}  # state key -> (addresses, dtype)
        self.watched: list[tuple[str, list[torch.Tensor]]] = []
        self.arrays: set[str] = set()                          # oracle names of the state arrays read
        self.dropped: list[str] = []                           # state keys this launch removes
        self.group = self.group_params = self.mask = self.flags = self.state_map = self.state_values = None
        # `V0Optimizer._replay_hyper`'s result and the group values it was made from (``None``:
        # not kept, the values were not plain)
        self.hyper_key: tuple | None = None
        self.hyper: tuple | None = None

    def uniform(self, key: str) -> float | None:
        """The value scalar state ``key`` holds for every tensor, read from memory (``None`` when
        they differ or it is NaN)."""
        addresses, dtype = self.scalars[key]
        return self.kernel.uniform(dtype, len(addresses), addresses.ctypes.data)

    @property
    def steady(self) -> bool:
        """No state array is created or dropped: the next step can run the same launch."""
        return not self.program.new_arrays and not self.dropped

    def keep(self, optimizer: V0Optimizer, group: dict[str, Any]) -> None:
        """Record what the group looked like when this plan ran on it."""
        self.group, self.group_params = group, list(group["params"])
        present = [g is not None for g in map(_GRAD, self.group_params)]
        self.mask = None if all(present) else present
        self.flags = _path_flags(group)
        self.state_map, self.state_values = optimizer.state, list(optimizer.state.values())
        # what the C++ helper (`_torch_native`) checks the group against, as raw buffers; below
        # _NATIVE_MIN_TENSORS tensors the Python checks cost little and the helper is not built
        self.native = len(self.params) >= _NATIVE_MIN_TENSORS and all(type(st) is dict for st in self.states)
        self.mask_bytes = None if self.mask is None else np.array(self.mask, dtype=np.uint8)
        self.pptr_array = np.array(self.pptrs, dtype=np.uint64)
        self.numel_list = list(map(torch.Tensor.numel, self.params))
        self.numels = np.array(self.numel_list, dtype=np.int64)
        self.grad_out = (self.ptrs[self.grad_row] if self.grad_row is not None
                         else np.empty(len(self.params), dtype=np.uint64))

    def gather(self, native: Any, params: list) -> bool:
        """The helper's checks of the group's tensors (see `_torch_native`): ``params``, the
        group's list now, holds the kept objects; on success the grad row holds this step's
        gradient addresses and the parameters' versions are bumped."""
        return native.gather(params, self.group_params, None if self.mask_bytes is None else self.mask_bytes.ctypes.data,
                             len(self.params), self.pptr_array.ctypes.data, self.numels.ctypes.data,
                             self.params[0].dtype, self.grad_out.ctypes.data)


class V0Optimizer(torch.optim.Optimizer):
    """Base of the generated classes: a registry entry as a ``torch.optim.Optimizer``.

    Subclasses set ``algorithm`` (the `v0ref.algorithms.Algorithm`); see the module docstring for
    the constructor, the state names and the paths.
    """

    algorithm: Algorithm
    _state_names: dict[str, str]

    def __init__(self, params: Any, lr: Any = None, *, v0: Any = None, v0_scale: float = 1.0, m0: Any = None,
                 m0_scale: float = 1.0, v0_min_ndim: int | None = None, key: Any = None, grad_stats: Any = None,
                 fan_layout: str = "torch", loss_fn: Callable | None = None, batches: Iterable | None = None,
                 model: torch.nn.Module | None = None, data_options: Mapping[str, Any] | None = None,
                 foreach: bool | None = None, fused: bool | None = None, impl: str | None = None,
                 differentiable: bool = False, capturable: bool = False, **hyperparameters: Any):
        alg = self.algorithm
        if lr is not None:
            hyperparameters["lr"] = lr
        hp = alg.hyper(**hyperparameters)                # validates; unknown names are a TypeError
        for name, value in (("differentiable", differentiable), ("capturable", capturable)):
            if not isinstance(value, bool):
                raise TypeError(f"{name} must be True or False; got {value!r}")
            if value:
                raise ValueError(f"{name}=True is not supported by v0ref's {type(self).__name__} "
                                 "(its steps write the result into the parameters in place)")
        defaults = {**dataclasses.asdict(hp), "foreach": foreach, "fused": fused, "impl": impl,
                    "differentiable": False, "capturable": False}
        self._ready = False
        self._kinds_cache: dict[Any, dict[str, str]] = {}
        self._shadows: dict[int, tuple[Any, torch.optim.Optimizer]] = {}
        self._plans: dict[int, _Plan] = {}     # oracle-compiled: a group's kept launch (see _replay)
        super().__init__(params, defaults)
        self._ready = True
        all_params = [p for g in self.param_groups for p in g["params"]]
        if v0 == "data" and grad_stats is None:
            v0, v0_scale = self._data_v0(all_params, model, loss_fn, batches, v0_scale, data_options), 1.0
        reals = [_real(p.detach()) for p in all_params]
        common = dict(key=key, stats=grad_stats, min_ndim=v0_min_ndim, layout=fan_layout)
        v0s = _moments.resolve("v0", v0, reals, scale=v0_scale, **common) or [None] * len(reals)
        m0s = _moments.resolve("m0", m0, reals, scale=m0_scale, **common) or [None] * len(reals)
        starts = dict(zip(map(id, all_params), zip(v0s, m0s)))
        for group in self.param_groups:
            ghp = self._hyper(group)
            for p in group["params"]:
                self._init_param(p, ghp, *starts[id(p)])

    # ---- construction helpers ----------------------------------------------------------------
    def _data_v0(self, params, model, loss_fn, batches, scale, options) -> list[Any]:
        if model is None or loss_fn is None or batches is None:
            raise ValueError("v0='data' needs model=, loss_fn= and batches= (or grad_stats=, a "
                             "v0ref.stats.GradStats gathered beforehand)")
        from . import _torch_data
        # complex parameters are optimized through their real view; their v0 must match it
        return [_real(v) for v in _torch_data.data_v0(model, loss_fn, batches, scale=scale, params=list(params),
                                                      **dict(options or {}))]

    def _init_param(self, p: torch.Tensor, hp: Any, v0: Any = None, m0: Any = None) -> None:
        x = _real(p.detach())
        state = self.algorithm.init(x, hp, v0=v0, m0=m0)
        self.state[p] = {}
        self._write_state(p, state, hp)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """torch's ``add_param_group``, then the group's hyperparameters are validated (a bad value
        is a ``ValueError``/``TypeError`` naming it) and, after construction, the new parameters get
        the algorithm's default state (zeros, or its own initial values)."""
        unknown = sorted(set(param_group) - set(self.defaults) - {"params", "initial_lr", "name"})
        if unknown:
            raise TypeError(f"{type(self).__name__}: unknown hyperparameter(s) {', '.join(unknown)} in a "
                            f"param group; valid: {', '.join(sorted(self.defaults))}")
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        try:
            hp = self._hyper(group)
            self._check_flags(group, hp)
        except (ValueError, TypeError):
            self.param_groups.pop()
            raise
        if self._ready:
            for p in group["params"]:
                self._init_param(p, hp)

    def _hyper(self, group: Mapping[str, Any]) -> Any:
        """The group's validated hyperparameter object (0-d tensors, e.g. a tensor lr, become floats)."""
        kw = {}
        for f in _hyper_fields(self.algorithm):
            if f.name in group:
                v = group[f.name]
                if isinstance(v, torch.Tensor) and v.ndim == 0:
                    v = v.item()
                elif isinstance(v, list) and f.name == "betas":
                    v = tuple(v)
                kw[f.name] = v
        return self.algorithm.hyper(**kw)

    def _check_flags(self, group: Mapping[str, Any], hp: Any) -> None:
        fused, foreach, impl = group.get("fused"), group.get("foreach"), group.get("impl")
        for name, value in (("fused", fused), ("foreach", foreach)):
            if value is not None and not isinstance(value, bool):
                raise TypeError(f"{name} must be None, True or False; got {value!r}")
        if fused and foreach:
            raise ValueError("fused=True and foreach=True cannot be set together")
        if impl is not None and impl not in IMPLS:
            raise ValueError(f"impl must be None or one of {', '.join(map(repr, IMPLS))}; got {impl!r}")
        wanted = impl or ("torch-fused" if fused else None)
        if wanted == "torch-fused" and not self._fusable(hp, group["params"]):
            raise ValueError(f"fused=True: torch has no fused kernel for {self.algorithm.name!r} with these "
                             "hyperparameters and parameters (fused: Adam/AdamW/SGD/Adagrad in torch's "
                             "convention, real floating-point parameters on CPU or CUDA)")
        if wanted == "oracle-compiled":
            if not _cpu_kernels.available():
                raise ValueError("impl='oracle-compiled' needs a C compiler ($CC, cc, gcc or clang on PATH); "
                                 "none was found")
            bad = [tuple(p.shape) for p in group["params"] if not self._compilable([p])]
            if bad:
                raise ValueError("impl='oracle-compiled' runs on CPU float32/float64 (or complex64/128) "
                                 f"parameters; got other parameters of shapes {bad[:3]}")
        if wanted and wanted.startswith("torch") and self._reference(hp) is None:
            raise ValueError(f"impl={wanted!r}: torch.optim has no implementation of {self.algorithm.name!r} "
                             "with these hyperparameters (registry references do not apply)")

    # ---- state conversion ----------------------------------------------------------------------
    def _layout(self, hp: Any) -> tuple[type, dict[str, str]]:
        """The oracle's state type and, per field, ``"scalar"`` (a Python number there) or ``"array"``."""
        layout = self._kinds_cache.get(hp)
        if layout is None:
            template = self.algorithm.init(torch.zeros(1, dtype=torch.float64), hp)
            kinds = {k: ("scalar" if isinstance(v, numbers.Number) else "array")
                     for k, v in template._asdict().items() if k != "step"}
            layout = self._kinds_cache[hp] = (type(template), kinds)
        return layout

    def _kinds(self, hp: Any) -> dict[str, str]:
        return self._layout(hp)[1]

    def _read_state(self, p: torch.Tensor, hp: Any) -> Any:
        """The oracle's state record for ``p`` (arrays are views of the stored tensors)."""
        st, (state_type, kinds) = self.state[p], self._layout(hp)
        fields: dict[str, Any] = {}
        step = st.get("step", 0)
        fields["step"] = int(step.item()) if isinstance(step, torch.Tensor) else int(step)
        for name in self.algorithm.state_names:
            v = st.get(self._state_names[name])
            if v is None:
                fields[name] = None
            elif kinds.get(name) == "scalar":
                fields[name] = float(v.item()) if isinstance(v, torch.Tensor) else float(v)
            else:
                fields[name] = _real(v)
        return state_type(**fields)

    def _write_state(self, p: torch.Tensor, state: Any, hp: Any) -> None:
        """Store an oracle state record into ``self.state[p]`` (in place where the tensors exist)."""
        st, kinds = self.state[p], self._kinds(hp)
        step = st.get("step")
        if isinstance(step, torch.Tensor):
            step.fill_(float(state.step))
        else:
            st["step"] = torch.tensor(float(state.step), dtype=torch.float32)
        for name, value in state._asdict().items():
            if name == "step":
                continue
            key = self._state_names[name]
            old = st.get(key)
            if value is None:
                st.pop(key, None)
            elif kinds.get(name) == "scalar":
                if isinstance(old, torch.Tensor) and old.ndim == 0:
                    old.fill_(float(value))
                else:
                    st[key] = torch.tensor(float(value), dtype=_SCALAR_DTYPE)
            elif isinstance(old, torch.Tensor) and _real(old).shape == value.shape:
                _real(old).copy_(value)
            else:
                new = value.detach().clone()
                if p.is_complex():          # an empty (0, 2) clone may lack the unit last stride
                    new = (torch.view_as_complex(new) if new.numel()
                           else torch.empty(new.shape[:-1], dtype=p.dtype, device=p.device))
                st[key] = new

    def oracle_state(self, p: torch.Tensor) -> Any:
        """The state of ``p`` as the oracle's record (``step`` an int, scalars Python floats)."""
        group = next(g for g in self.param_groups if any(q is p for q in g["params"]))
        return self._read_state(p, self._hyper(group))

    def load_oracle_state(self, p: torch.Tensor, state: Any) -> None:
        """Set the state of ``p`` from an oracle record (a NamedTuple or a dict of oracle names)."""
        group = next(g for g in self.param_groups if any(q is p for q in g["params"]))
        hp = self._hyper(group)
        if isinstance(state, Mapping):
            state = self._layout(hp)[0](**{k: (torch.as_tensor(v, dtype=_real(p).dtype)
                                               if isinstance(v, np.ndarray) else v) for k, v in state.items()})
        self.state[p] = {}
        self._write_state(p, state, hp)

    # ---- state_dict ------------------------------------------------------------------------------
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """torch's ``load_state_dict`` (a torch.optim checkpoint of the same method loads too);
        group keys the checkpoint lacks (``convention``, ``bias_correction``, ...) take this
        optimizer's defaults, and scalar state keeps its float64 precision."""
        super().load_state_dict(state_dict)
        for group in self.param_groups:
            for k, v in self.defaults.items():
                group.setdefault(k, v)
            self._hyper(group)
        saved_ids = [i for g in state_dict["param_groups"] for i in g["params"]]
        params = [p for g in self.param_groups for p in g["params"]]
        scalar_keys = [self._state_names[n] for n, k in self._kinds(self._hyper(self.param_groups[0])).items()
                       if k == "scalar"] if self.param_groups else []
        for i, p in zip(saved_ids, params):
            saved = state_dict["state"].get(i, {})
            for key in scalar_keys:
                if key in saved and key in self.state[p]:
                    self.state[p][key] = torch.tensor(float(saved[key]), dtype=_SCALAR_DTYPE)
            step = self.state[p].get("step")
            if step is not None and not isinstance(step, torch.Tensor):
                self.state[p]["step"] = torch.tensor(float(step), dtype=torch.float32)

    # ---- the step -----------------------------------------------------------------------------------
    def _reference(self, hp: Any) -> Reference | None:
        for ref in _torch_references(self.algorithm):
            if ref.applies(hp):
                return ref
        return None

    def _fusable(self, hp: Any, params: Sequence[torch.Tensor]) -> bool:
        ref = self._reference(hp)
        return (ref is not None and ref.target in _FUSED_TARGETS
                and all(p.device.type in ("cpu", "cuda") and p.dtype.is_floating_point for p in params))

    @staticmethod
    def _compilable(params: Sequence[torch.Tensor]) -> bool:
        # is_cpu, not device.type: asked for every tensor on every step (2000 tensors: 0.2 vs 0.9 ms)
        return _cpu_kernels.available() and all(p.is_cpu and p.dtype in _COMPILED_MODES for p in params)

    def path(self, group: Mapping[str, Any] | None = None, hp: Any = None) -> str:
        """The path a step takes for ``group`` (default: the first), one of `IMPLS`."""
        group = self.param_groups[0] if group is None else group
        hp = self._hyper(group) if hp is None else hp
        if group.get("impl"):
            return group["impl"]
        ref = self._reference(hp)
        if group.get("fused"):
            return "torch-fused"
        if group.get("foreach") is False:
            return "oracle"
        if group.get("foreach"):
            return "torch-foreach" if ref is not None else "oracle-foreach"
        # CPU: the oracle's compiled kernel first — it matches or beats torch's fused CPU kernels
        # (benchmarks/torch_step.py: Adam 16 vs 29 ms at 2000 tensors, AdamW 8.4 vs 10.0 ms at 100)
        # and computes every convention; torch's fused kernels on CUDA or without a C compiler
        if self._compilable(group["params"]):
            return "oracle-compiled"
        if self._fusable(hp, group["params"]):
            return "torch-fused"
        return "torch-forloop" if ref is not None else "oracle-foreach"

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter that has a gradient; returns ``closure()``'s loss if given."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for gi, group in enumerate(self.param_groups):
            if self._plans and self._replay(group):
                continue
            params = [p for p in group["params"] if p.grad is not None]
            if any(p.grad.is_sparse for p in params):
                p = next(p for p in params if p.grad.is_sparse)
                raise ValueError(f"{type(self).__name__} does not support sparse gradients (group {gi}, "
                                 f"parameter of shape {tuple(p.shape)}); use torch.optim.SparseAdam or "
                                 "densify the gradient")
            if not params:
                continue
            hp = self._hyper(group)
            path = self.path(group, hp)
            if path == "oracle":
                self._step_oracle(params, hp)
            elif path == "oracle-foreach":
                self._step_foreach(params, hp)
            elif path == "oracle-compiled":
                self._step_compiled(params, hp, group)
            else:
                self._step_torch(group, hp, path)
        return loss

    def _step_oracle(self, params: Sequence[torch.Tensor], hp: Any) -> None:
        for p in params:
            x = _real(p)
            new_p, new_state = self.algorithm.update(x, _real(p.grad), self._read_state(p, hp), hp)
            x.copy_(new_p)
            self._write_state(p, new_state, hp)

    def _step_foreach(self, params: Sequence[torch.Tensor], hp: Any) -> None:
        """The oracle once per bucket of tensors sharing device, dtype, step and state layout."""
        buckets: dict[Any, list[tuple[torch.Tensor, Any]]] = {}
        for p in params:
            state = self._read_state(p, hp)
            layout = tuple((k, v is None, v if isinstance(v, float) else None)
                           for k, v in state._asdict().items() if k != "step")
            buckets.setdefault((p.device, p.dtype, state.step, layout), []).append((p, state))
        for members in buckets.values():
            ps = [p for p, _ in members]
            states = [s for _, s in members]
            first = states[0]
            fields = {"step": first.step}
            for name, value in first._asdict().items():
                if name == "step":
                    continue
                fields[name] = (value if value is None or isinstance(value, numbers.Number)
                                else TensorList([getattr(s, name) for s in states]))
            xs = [_real(p) for p in ps]
            new_p, new_state = self.algorithm.update(TensorList(xs), TensorList([_real(p.grad) for p in ps]),
                                                     type(first)(**fields), hp)
            torch._foreach_copy_(xs, new_p.tensors)
            for j, p in enumerate(ps):
                record = {k: (v.tensors[j] if isinstance(v, TensorList) else v)
                          for k, v in new_state._asdict().items()}
                self._write_state(p, type(first)(**record), hp)

    def _step_compiled(self, params: Sequence[torch.Tensor], hp: Any, group: dict[str, Any]) -> None:
        """The oracle's recorded kernel, compiled: one C call per bucket of tensors sharing dtype,
        step, scalar state and which state arrays exist (the kernel's structure).  A group that is
        one bucket in steady state keeps its validated launch as a `_Plan`, which later steps
        replay (`_replay`) touching each tensor only a few times."""
        self._plans.pop(id(group), None)
        names, kinds = self._state_names, self._kinds(hp)
        array_fields = [n for n, k in kinds.items() if k == "array"]
        scalar_fields = [n for n, k in kinds.items() if k == "scalar"]
        states = [self.state[p] for p in params]
        item = torch.Tensor.item
        steps = list(map(item, [st["step"] for st in states]))
        scalars = [list(map(item, [st[names[n]] for st in states])) for n in scalar_fields]
        buckets: dict[tuple, list[int]] = {}
        for i, (p, st) in enumerate(zip(params, states)):
            present = tuple(names[n] in st for n in array_fields)
            key = (p.dtype, int(steps[i]), present, tuple(col[i] for col in scalars))
            buckets.setdefault(key, []).append(i)
        for (dtype, step, present, scalar_values), members in buckets.items():
            ps, sts = [params[i] for i in members], [states[i] for i in members]
            mode = _COMPILED_MODES.get(dtype)
            fields = {"step": step, **dict(zip(scalar_fields, scalar_values)),
                      **{n: (ps[0] if here else None) for n, here in zip(array_fields, present)}}
            built = None if mode is None else self._build_plan(ps, sts, hp, mode, self._layout(hp)[0](**fields))
            if built is None:
                self._step_foreach(ps, hp)
                continue
            plan, values = built
            self._run_plan(plan, [p.grad for p in ps], values)
            if len(buckets) == 1 and plan.steady:
                plan.keep(self, group)
                self._plans[id(group)] = plan

    def _build_plan(self, ps: list[torch.Tensor], states: list[dict], hp: Any, mode: str,
                    like: Any) -> tuple[_Plan, dict] | None:
        """Validate one bucket for the compiled kernel and gather its addresses; ``None`` (and a
        warning when no kernel can be built) when it cannot run."""
        alg, names = self.algorithm, self._state_names
        kernels = _KERNEL_SETS.get(alg.name)
        if kernels is None:
            kernels = _KERNEL_SETS[alg.name] = _codegen.KernelSet(alg)
        failure_key = (alg.name, _codegen.structure_key(alg, hp, like), mode)
        if failure_key in _KERNEL_FAILURES:
            return None
        try:
            program, values = kernels.select(hp, like)
            kernel = _cpu_kernels.kernel(program, mode)
        except (_codegen.RecordingError, _cpu_kernels.KernelUnavailable) as exc:
            _KERNEL_FAILURES[failure_key] = str(exc)
            warnings.warn(f"v0ref.{type(self).__name__}: no compiled CPU kernel ({exc}); using the "
                          "'oracle-foreach' path", RuntimeWarning, stacklevel=5)
            return None
        T_ = torch.Tensor
        dtype = ps[0].dtype
        grads = [p.grad for p in ps]
        if list(map(T_.numel, grads)) != list(map(T_.numel, ps)):     # torch's grad setter checks, set_ does not
            i, g = next((i, g) for i, (g, p) in enumerate(zip(grads, ps)) if g.numel() != p.numel())
            raise ValueError(f"{type(self).__name__}: the gradient of parameter {i} of this bucket has shape "
                             f"{tuple(g.shape)}, the parameter {tuple(ps[i].shape)}")
        if (not all(map(T_.is_contiguous, ps)) or not all(map(T_.is_contiguous, grads))
                or any(g.dtype != dtype for g in grads)):
            return None
        factor = 2 if dtype.is_complex else 1                    # the real view's element count
        sizes = np.array([factor * p.numel() for p in ps], dtype=np.int64)
        plan = _Plan(ps, states, kernels, program, kernel, mode, sizes)
        ptrs = plan.ptrs
        for j, name in enumerate(kernel.operands):
            if name == "param":
                ptrs[j] = plan.pptrs
            elif name == "grad":
                plan.grad_row = j
            elif name in program.new_arrays:           # written before read (SGD's first buffer)
                made = [torch.empty_like(p, memory_format=torch.contiguous_format) for p in ps]
                plan.created[names[name]] = made
                ptrs[j] = list(map(T_.data_ptr, made))
            else:
                ts = [st[names[name]] for st in states]
                if not all(t.dtype == dtype and t.is_cpu and t.is_contiguous() and factor * t.numel() == size
                           for t, size in zip(ts, sizes.tolist())):
                    return None
                ptrs[j] = list(map(T_.data_ptr, ts))
                plan.watched.append((names[name], ts))
        kinds = self._kinds(hp)
        plan.arrays = {n for n, k in kinds.items() if k == "array" and getattr(like, n) is not None}
        plan.dropped = [names[n] for n in program.none_outputs if names[n] in states[0]]
        scalar_keys = dict.fromkeys(["step", *(names[n] for n, k in kinds.items() if k == "scalar"),
                                     *(names[n] for n in program.scalar_outputs if n != "step")])
        for key in scalar_keys:                        # 0-d CPU float32/float64 tensors, read and written by C
            ts = [st[key] for st in states]
            kind = {torch.float32: "float32", torch.float64: "float64"}.get(ts[0].dtype)
            if kind is None or any(t.dtype != ts[0].dtype or not t.is_cpu or t.ndim != 0 for t in ts):
                return None
            plan.scalars[key] = (np.array(list(map(T_.data_ptr, ts)), dtype=np.uint64), kind)
            plan.watched.append((key, ts))
        return plan, values

    def _run_plan(self, plan: _Plan, grads: list[torch.Tensor] | None, values: dict) -> None:
        """One kernel call over ``plan`` with these gradients, then its scalar state writes.
        ``grads=None``: `_Plan.gather` has already written their addresses and bumped versions."""
        program, kernel, states, names = plan.program, plan.kernel, plan.states, self._state_names
        if grads is not None and plan.grad_row is not None:
            plan.ptrs[plan.grad_row] = list(map(torch.Tensor.data_ptr, grads))
        for key, made in plan.created.items():
            for st, t in zip(states, made):
                st[key] = t
        sc = np.array(program.kernel_scalars(values) or [0.0], dtype=plan.mode)
        kernel(len(plan.params), plan.ptrs.ctypes.data, plan.sizes.ctypes.data, sc.ctypes.data,
               torch.get_num_threads())
        for key in plan.dropped:
            for st in states:
                st.pop(key, None)
        for name, value in program.new_scalar_state(values).items():
            addresses, kind = plan.scalars["step" if name == "step" else names[name]]
            kernel.fill(kind, len(addresses), addresses.ctypes.data, float(value))
        if grads is not None:
            torch.autograd.graph.increment_version(plan.params)  # in-place writes autograd must know of

    def _replay(self, group: dict[str, Any]) -> bool:
        """Run the group's kept `_Plan` if everything it was validated on still holds; ``False``
        (nothing written) otherwise, and the step takes the general path.

        Checked every step, each in one pass over C-level calls: the same parameter objects with
        the same data addresses and the same set of gradients, dense and contiguous (torch's grad
        setter already guarantees their dtype, device and shape); the same state dicts holding the
        same state tensors; one step count and equal scalar state, read from memory by the kernel
        library; group flags unchanged and the same recorded program for this step's scalars.  The
        per-tensor checks run in one C++ loop (`_torch_native`) once that helper is built, and in
        Python until then or without it."""
        plan = self._plans.get(id(group))
        if plan is None or plan.group is not group:
            return False
        group_params = group["params"]
        native = _torch_native.helper() if plan.native else None
        grads = None
        if native is None:                             # the helper's checks, from Python (see _Plan.gather)
            if len(group_params) != len(plan.group_params) or not all(map(operator.is_, group_params,
                                                                             plan.group_params)):
                return False
            grads = list(map(_GRAD, group_params))
            if plan.mask is None:
                if not all(map(operator.is_not, grads, itertools.repeat(None))):
                    return False
            else:
                if list(map(operator.is_not, grads, itertools.repeat(None))) != plan.mask:
                    return False
                grads = list(itertools.compress(grads, plan.mask))
            try:
                if not all(map(torch.Tensor.is_contiguous, grads)):
                    return False
            except RuntimeError:                       # sparse layouts have no is_contiguous
                return False
            if (list(map(torch.Tensor.numel, grads)) != plan.numel_list        # grad.set_(...), param.data = view
                    or list(map(torch.Tensor.numel, plan.params)) != plan.numel_list):
                return False
            dtype = plan.params[0].dtype                               # grad.data = grad.data.double()
            if not all(map(operator.is_, map(_DTYPE, grads), itertools.repeat(dtype))):
                return False
            if list(map(torch.Tensor.data_ptr, plan.params)) != plan.pptrs:
                return False
        if self.state is not plan.state_map:
            return False
        if native is not None:
            if not (native.values_are(self.state, plan.state_values)
                    and all(native.dicts_hold(plan.states, key, ts) for key, ts in plan.watched)):
                return False
        else:
            values_now = list(self.state.values())
            if len(values_now) != len(plan.state_values) or not all(map(operator.is_, values_now,
                                                                        plan.state_values)):
                return False
            try:
                for key, ts in plan.watched:
                    if not all(map(operator.is_, map(operator.itemgetter(key), plan.states), ts)):
                        return False
            except KeyError:
                return False
        if _path_flags(group) != plan.flags:
            return False
        scalar_fields, inputs = self._replay_hyper(plan, group)
        inputs = dict(inputs)
        step = plan.uniform("step")
        if step is None:
            return False
        inputs["step"] = int(step)
        for name in scalar_fields:
            value = plan.uniform(self._state_names[name])
            if value is None:
                return False
            inputs[f"state.{name}"] = value
        # the plan's own trace, if its guards hold for this step's scalars (`KernelSet.select`
        # would pick it: at most one trace's guards hold); else another trace is due (RAdam
        # rectifying, say) and the general path records or finds it
        values = plan.program.scalars(inputs)
        if values is None:
            return False
        if native is not None and not plan.gather(native, group_params):
            return False
        self._run_plan(plan, grads, values)
        return True

    def _replay_hyper(self, plan: _Plan, group: Mapping[str, Any]) -> tuple[list[str], dict[str, Any]]:
        """The group's hyperparameters as `_replay` needs them: ``(scalar state fields, the
        scalar inputs the validated hyperparameters give the recorded program)``, kept on the plan
        while the group's values stay equal and plain (numbers, strings, tuples of them; a tensor
        or list changed in place compares equal to itself, so such groups are validated every
        step)."""
        key = tuple([group.get(name, _ABSENT) for name in _hyper_names(self.algorithm)])
        if plan.hyper_key is not None:
            try:
                if key == plan.hyper_key:
                    return plan.hyper
            except RuntimeError:           # a tensor of several values: _hyper names the problem
                pass
        hp = self._hyper(group)
        state_type, kinds = self._layout(hp)
        scalar_fields = [n for n, k in kinds.items() if k == "scalar"]
        blank = state_type(**{n: None for n in state_type._fields})
        inputs = {k: v for k, v in _codegen.scalar_inputs(hp, blank).items() if k.startswith("hp.")}
        plan.hyper = (scalar_fields, inputs)
        plan.hyper_key = key if _plain(key) else None
        return plan.hyper

    def _step_torch(self, group: dict[str, Any], hp: Any, path: str) -> None:
        """torch.optim's own implementation on this group, sharing this optimizer's state dicts."""
        ref = self._reference(hp)
        if ref is None:
            raise ValueError(f"path {path!r}: torch.optim has no implementation of {self.algorithm.name!r} "
                             "with these hyperparameters")
        kwargs = dict(ref.kwargs(hp))
        flags = {"torch-fused": dict(fused=True, foreach=False), "torch-foreach": dict(foreach=True),
                 "torch-forloop": dict(foreach=False)}[path]
        key = (tuple(map(id, group["params"])), ref.target, path)
        cached = self._shadows.get(id(group))
        if cached is None or cached[0] != key:
            shadow = _resolve_target(ref.target)(group["params"], **kwargs, **flags)
            cached = (key, shadow)
            self._shadows[id(group)] = cached
        shadow = cached[1]
        shadow.state = self.state                        # torch reads and writes our state dicts
        shadow.param_groups[0].update(kwargs)
        counts_steps = ref.state.get("step", "step") is not None
        shadow.step()
        if not counts_steps:                             # e.g. torch SGD keeps no step: count it here
            torch._foreach_add_([self.state[p]["step"] for p in group["params"] if p.grad is not None], 1.0)

    def __repr__(self) -> str:
        return super().__repr__().replace(type(self).__name__, f"v0ref.{type(self).__name__}", 1)


# -------------------------------------------------------------------------------------------------
# class factory over the registry
# -------------------------------------------------------------------------------------------------

def _signature(alg: Algorithm) -> inspect.Signature:
    P = inspect.Parameter
    defaults = alg.defaults()
    params = [P("self", P.POSITIONAL_OR_KEYWORD), P("params", P.POSITIONAL_OR_KEYWORD)]
    fields = _hyper_fields(alg)
    if any(f.name == "lr" for f in fields):
        params.append(P("lr", P.POSITIONAL_OR_KEYWORD, default=defaults["lr"]))
    params += [P(f.name, P.KEYWORD_ONLY, default=defaults[f.name]) for f in fields if f.name != "lr"]
    base = inspect.signature(V0Optimizer.__init__).parameters
    params += [p for name, p in base.items() if p.kind is P.KEYWORD_ONLY]
    return inspect.Signature(params)


def _make_class(alg: Algorithm) -> type[V0Optimizer]:
    name = _class_name(alg.name)
    torch_refs = ", ".join(r.target for r in _torch_references(alg)) or "none"
    doc = (f"{alg.summary}.\n\nv0ref's ``{alg.name}`` as a ``torch.optim.Optimizer`` (generated from the "
           f"registry entry; torch counterpart: {torch_refs}).\n\nHyperparameters (defaults): "
           + ", ".join(f"``{k}={v!r}``" for k, v in alg.defaults().items())
           + ".\n\nSee `v0ref.backends.torch` for the moment-init keywords, state names and paths, and "
           f"``v0ref.OPTIMIZERS[{alg.name!r}].doc`` for the math.\n")

    def __init__(self, params, *args, **kwargs):
        V0Optimizer.__init__(self, params, *args, **kwargs)

    __init__.__signature__ = _signature(alg)          # type: ignore[attr-defined]
    __init__.__qualname__ = f"{name}.__init__"
    cls = type(name, (V0Optimizer,), {"algorithm": alg, "_state_names": _state_map(alg), "__doc__": doc,
                                      "__init__": __init__, "__module__": __name__})
    return cls


_CLASSES: dict[str, type[V0Optimizer]] = {}


def optimizer_class(name: str) -> type[V0Optimizer]:
    """The torch optimizer class of the registry entry ``name`` (generated once)."""
    alg = OPTIMIZERS[name]
    if alg.name not in _CLASSES:
        if alg.kind != "elementwise":
            if importlib.util.find_spec(f"{__package__}._torch_wv") is None:
                raise NotImplementedError(f"the torch port has no class for the whole-vector method "
                                          f"{alg.name!r} yet")
            from . import _torch_wv
            _CLASSES[alg.name] = _torch_wv.make_class(alg, _class_name(alg.name))
        else:
            _CLASSES[alg.name] = _make_class(alg)
    return _CLASSES[alg.name]


for _name in OPTIMIZERS:
    if OPTIMIZERS[_name].kind == "elementwise":
        globals()[_class_name(_name)] = optimizer_class(_name)
        __all__.append(_class_name(_name))
del _name


def __getattr__(attr: str) -> Any:
    """Classes of entries that are not element-wise (whole-vector methods) are built on first use."""
    for name in OPTIMIZERS:
        if _class_name(name) == attr:
            try:
                return optimizer_class(name)
            except NotImplementedError as exc:
                raise AttributeError(str(exc)) from None
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")


def data_v0(*args: Any, **kwargs: Any) -> list[torch.Tensor]:
    """The paper's data-driven v0 (Eq. 10) for a torch model: see `v0ref.backends._torch_data.data_v0`."""
    from ._torch_data import data_v0 as _impl
    return _impl(*args, **kwargs)


# -------------------------------------------------------------------------------------------------
# v0ref.schedules on torch optimizers
# -------------------------------------------------------------------------------------------------

class ScheduleLR(torch.optim.lr_scheduler.LRScheduler):
    """A `v0ref.schedules` schedule (``step -> lr``) as a torch LR scheduler.

    After ``scheduler.step()`` has been called k times, every group's ``lr`` is ``schedule(k)``
    (the schedules' step convention); ``schedule`` may also be a list, one per param group.

    >>> import torch, v0ref.schedules as S
    >>> from v0ref.backends.torch import Adam, ScheduleLR
    >>> opt = Adam([torch.zeros(2, requires_grad=True)], lr=1.0)
    >>> sched = ScheduleLR(opt, S.linear(1.0, 0.0, 4))
    >>> first = opt.param_groups[0]["lr"]
    >>> opt.step(); sched.step()
    >>> first, round(opt.param_groups[0]["lr"], 3)
    (1.0, 0.75)
    """

    def __init__(self, optimizer: torch.optim.Optimizer, schedule: Callable[[int], float] | Sequence[Callable],
                 last_epoch: int = -1):
        schedules = list(schedule) if isinstance(schedule, Sequence) else [schedule] * len(optimizer.param_groups)
        if len(schedules) != len(optimizer.param_groups) or not all(callable(s) for s in schedules):
            raise ValueError(f"schedule must be a callable or a list of {len(optimizer.param_groups)} callables "
                             "(one per param group)")
        self.schedules = schedules
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [float(s(max(self.last_epoch, 0))) for s in self.schedules]

    def state_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "schedules")}


# -------------------------------------------------------------------------------------------------
# the conformance Port
# -------------------------------------------------------------------------------------------------

class TorchRun:
    """One algorithm on torch tensors for the conformance harness (see `v0ref.backends.PortRun`)."""

    def __init__(self, algorithm: str, hyper: Mapping[str, Any], params: Sequence[Any], *, impl: str | None,
                 states: Sequence[Mapping[str, Any]] | None = None, moments: Mapping[str, Any] | None = None,
                 objective: Any = None):
        self.params = [torch.tensor(np.array(p)) for p in params]
        cls = optimizer_class(algorithm)
        kwargs = {**dict(hyper), **dict(moments or {})}
        if impl is not None and algorithm_kind(algorithm) == "elementwise":
            kwargs["impl"] = impl
        if objective is not None:
            kwargs["objective"] = objective
        self.opt = cls(self.params, **kwargs) if self.params else None
        if states is not None and self.opt is not None:
            for p, s in zip(self.params, states):
                self.opt.load_oracle_state(p, s)

    def step(self, grads: Sequence[Any] | None) -> None:
        if self.opt is None:
            return
        if grads is None:                                 # whole-vector methods: the objective drives
            self.opt.step()
            return
        for p, g in zip(self.params, grads):
            p.grad = torch.tensor(np.array(g))
        self.opt.step()

    def export(self) -> tuple[list[Any], list[dict[str, Any]]]:
        out_p = [_to_numpy(p) for p in self.params]
        if self.opt is None or algorithm_kind(self.opt.algorithm.name) != "elementwise":
            return out_p, []
        states = []
        for p in self.params:
            record = self.opt.oracle_state(p)._asdict()
            states.append({k: (_to_numpy(v) if isinstance(v, torch.Tensor) else v) for k, v in record.items()})
        return out_p, states


def algorithm_kind(name: str) -> str:
    return OPTIMIZERS[name].kind


def _to_numpy(t: torch.Tensor) -> np.ndarray:
    t = t.detach()
    return (torch.view_as_real(t) if t.is_complex() else t).cpu().numpy().copy()


class TorchPort:
    """The torch port as a `v0ref.backends.Port`; ``impl`` forces one path (default: the user's)."""

    dtypes = ("float32", "float64")

    def __init__(self, impl: str | None = None):
        if impl is not None and impl not in IMPLS:
            raise ValueError(f"impl must be None or one of {', '.join(map(repr, IMPLS))}; got {impl!r}")
        self.impl = impl
        self.name = "torch" if impl is None else f"torch[{impl}]"

    def supports(self, algorithm: str) -> bool:
        if algorithm not in OPTIMIZERS:
            return False
        if OPTIMIZERS[algorithm].kind != "elementwise":
            return importlib.util.find_spec("v0ref.backends._torch_wv") is not None
        return True

    def supports_hyper(self, algorithm: str, hyper: Mapping[str, Any]) -> bool:
        if self.impl == "oracle-compiled":
            return _cpu_kernels.available()
        if self.impl is None or not self.impl.startswith("torch"):
            return True
        cls = optimizer_class(algorithm)
        hp = cls.algorithm.hyper(**dict(hyper))
        ref = next((r for r in _torch_references(cls.algorithm) if r.applies(hp)), None)
        return ref is not None and (self.impl != "torch-fused" or ref.target in _FUSED_TARGETS)

    def optimizer(self, name: str, params: Any, **kwargs: Any) -> V0Optimizer:
        return optimizer_class(name)(params, **kwargs)

    def open(self, algorithm: str, hyper: Mapping[str, Any], params: Sequence[Any], *,
             states: Sequence[Mapping[str, Any]] | None = None, moments: Mapping[str, Any] | None = None,
             objective: Any = None) -> TorchRun:
        return TorchRun(algorithm, hyper, params, impl=self.impl, states=states, moments=moments,
                        objective=objective)


PORT = TorchPort()
