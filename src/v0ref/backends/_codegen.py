r"""Kernel generation from the oracle: record ``update`` on symbolic arrays, emit fused C/CUDA.

The element-wise oracle (``alg.update(param, grad, state, hp)``) is array-API code.  Run once on
the *recording namespace* below, its arrays build an expression DAG instead of computing:

* array leaves are ``param``, ``grad`` and the state arrays; scalar leaves are ``step``, every
  numeric hyperparameter (``hp.lr``, ``hp.betas[0]``, ...) and scalar state (NAdam's
  ``mu_product``), so the Python arithmetic the oracle does on them (bias corrections
  ``1 − β^t``, RAdam's ``ρ_t``, a scheduled ``lr``) is recorded as a *scalar program* that is
  replayed on the host before every launch; its results enter the kernel as parameters, so one
  compiled kernel serves every step and every learning rate;
* where the oracle branches in Python on a scalar (``if rho_t > threshold``, ``if wd != 0``),
  the branch taken is recorded as a **guard**; a trace is valid only while all its guards hold —
  when one fails the update is recorded again on that path (RAdam gets two kernels: before and
  after rectification starts), exactly as a tracing JIT specializes;
* nodes are hash-consed on creation (``(op, operands)`` → one node), which is common-subexpression
  elimination; emission walks only the nodes the outputs reach (dead-code elimination).  No
  algebraic rewriting is done beyond ``x·1.0 → x`` (bitwise exact), so the emitted code performs
  the oracle's operations in the oracle's order: with IEEE float arithmetic, correctly rounded
  ``sqrt`` and FMA contraction off (``-ffp-contract=off`` for gcc, ``--fmad=false`` for NVRTC) the
  kernel is bit-identical to the NumPy oracle in float32 and float64.

Scalars follow NumPy's rule for Python scalars (NEP 50): the host value (a Python float, as the
oracle computes it) is rounded to the array dtype and the operation runs in that dtype.

Emitters (`Program.c_source`, `Program.cuda_function`, `Program.elementwise_kernel_args`,
`Program.multi_tensor_source`) share one body.  Precision modes: ``float32`` and ``float64``
(params, grads, state and arithmetic in that type), and ``float16`` params/grads with **float32
state and float32 arithmetic** (the param is widened on load and rounded to nearest-even on store).
bfloat16 is not offered: CuPy has no bfloat16 array dtype.
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import math
import numbers
import operator
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["Program", "RecordingError", "Tracer", "record", "scalar_inputs", "structure_key", "MODES"]

# precision mode -> (param/grad storage dtype, compute/state dtype)
MODES: dict[str, tuple[str, str]] = {
    "float32": ("float32", "float32"),
    "float64": ("float64", "float64"),
    "float16": ("float16", "float32"),
}
_C_TYPES = {"float32": "float", "float64": "double"}
_C_STORAGE = {"float32": "float", "float64": "double", "float16": "_Float16"}
_CUDA_STORAGE = {"float32": "float", "float64": "double", "float16": "float16"}   # cupy's half type

_SCALAR_BIN = {"add": operator.add, "sub": operator.sub, "mul": operator.mul, "truediv": operator.truediv,
               "floordiv": operator.floordiv, "mod": operator.mod, "pow": operator.pow,
               "lt": operator.lt, "le": operator.le, "gt": operator.gt, "ge": operator.ge,
               "eq": operator.eq, "ne": operator.ne}
_SCALAR_UN = {"neg": operator.neg, "pos": operator.pos, "abs": abs}
_CMP = {"lt": "<", "le": "<=", "gt": ">", "ge": ">=", "eq": "==", "ne": "!="}
_ARITH = {"add": "+", "sub": "-", "mul": "*", "truediv": "/"}


class RecordingError(TypeError):
    """The update used an operation the recording namespace does not provide."""


# ------------------------------------------------------------------------------------------------
# the graph
# ------------------------------------------------------------------------------------------------

class Tracer:
    """One recording: the node list (hash-consed), the concrete scalar values seen, the guards.

    A node is ``(op, args, kind)``; ``kind`` is ``"s"`` (host scalar), ``"a"`` (float array) or
    ``"b"`` (bool array).  ``args`` are node indices, except for the leaves ``("in", name)``
    (array input), ``("sin", name)`` (scalar input) and ``("const", value)``.
    """

    def __init__(self) -> None:
        self.nodes: list[tuple[str, tuple, str]] = []
        self.values: list[Any] = []            # concrete value of scalar nodes (None for arrays)
        self.guards: list[tuple[int, Any]] = []  # (scalar node, value it had when the trace branched)
        self._intern: dict[tuple, int] = {}
        self.namespace = _Namespace(self)

    def node(self, op: str, args: tuple, kind: str, value: Any = None) -> int:
        key = (op, args, kind)
        if op == "const":   # by bits: -0.0 and 0.0 (equal in Python) are different constants
            v = args[0]
            key = (op, (type(v).__name__, v.hex() if isinstance(v, float) else v), kind)
        found = self._intern.get(key)
        if found is not None:
            return found
        self.nodes.append((op, args, kind))
        self.values.append(value)
        self._intern[key] = len(self.nodes) - 1
        return len(self.nodes) - 1

    # leaves and lifting
    def scalar_input(self, name: str, value: Any) -> "Scalar":
        return _scalar(self, self.node("sin", (name,), "s", value), value)

    def array_input(self, name: str) -> "SymArray":
        return SymArray(self, self.node("in", (name,), "a"))

    def const(self, value: Any) -> int:
        return self.node("const", (value,), "s", value)

    def operand(self, x: Any) -> int:
        """Node index of an operand: a symbolic value or a Python number (a constant)."""
        if isinstance(x, (SymArray, Scalar)):
            if x.tracer is not self:
                raise RecordingError("operands from two different recordings")
            return x.idx
        if isinstance(x, bool):
            return self.const(x)
        if isinstance(x, numbers.Real) and not isinstance(x, np.ndarray):
            return self.const(float(x) if isinstance(x, (float, np.floating)) else int(x))
        raise RecordingError(f"the recording namespace cannot use an operand of type {type(x).__name__}")

    def kind(self, idx: int) -> str:
        return self.nodes[idx][2]


def _scalar(tracer: Tracer, idx: int, value: Any) -> "Scalar":
    if isinstance(value, bool):
        return Scalar(tracer, idx, value)
    if isinstance(value, numbers.Integral):
        return IntScalar(tracer, idx, value)
    return Scalar(tracer, idx, value)


class Scalar:
    """A host scalar the oracle computes in Python (a bias correction, a decayed ``lr``).

    It carries the concrete value of this recording (so Python control flow can proceed) and its
    node; ``bool()`` and ``float()`` on it record a guard.
    """

    __slots__ = ("tracer", "idx", "value")
    __array_priority__ = -1

    def __init__(self, tracer: Tracer, idx: int, value: Any):
        self.tracer, self.idx, self.value = tracer, idx, value

    def _bin(self, op: str, other: Any, reflected: bool = False) -> Any:
        if isinstance(other, SymArray):
            return NotImplemented
        if not isinstance(other, (Scalar, numbers.Real)) or isinstance(other, np.ndarray):
            return NotImplemented
        ov = other.value if isinstance(other, Scalar) else other
        a, b = (ov, self.value) if reflected else (self.value, ov)
        value = _SCALAR_BIN[op](a, b)
        ia, ib = self.tracer.operand(other), self.idx
        args = (ia, ib) if reflected else (ib, ia)
        return _scalar(self.tracer, self.tracer.node(op, args, "s", value), value)

    def _un(self, op: str) -> "Scalar":
        value = _SCALAR_UN[op](self.value)
        return _scalar(self.tracer, self.tracer.node(op, (self.idx,), "s", value), value)

    def __add__(self, o): return self._bin("add", o)
    def __radd__(self, o): return self._bin("add", o, True)
    def __sub__(self, o): return self._bin("sub", o)
    def __rsub__(self, o): return self._bin("sub", o, True)
    def __mul__(self, o): return self._bin("mul", o)
    def __rmul__(self, o): return self._bin("mul", o, True)
    def __truediv__(self, o): return self._bin("truediv", o)
    def __rtruediv__(self, o): return self._bin("truediv", o, True)
    def __floordiv__(self, o): return self._bin("floordiv", o)
    def __rfloordiv__(self, o): return self._bin("floordiv", o, True)
    def __mod__(self, o): return self._bin("mod", o)
    def __rmod__(self, o): return self._bin("mod", o, True)
    def __pow__(self, o): return self._bin("pow", o)
    def __rpow__(self, o): return self._bin("pow", o, True)
    def __lt__(self, o): return self._bin("lt", o)
    def __le__(self, o): return self._bin("le", o)
    def __gt__(self, o): return self._bin("gt", o)
    def __ge__(self, o): return self._bin("ge", o)
    def __eq__(self, o): return self._bin("eq", o)    # type: ignore[override]
    def __ne__(self, o): return self._bin("ne", o)    # type: ignore[override]
    def __neg__(self): return self._un("neg")
    def __pos__(self): return self._un("pos")
    def __abs__(self): return self._un("abs")
    __hash__ = object.__hash__

    def __bool__(self) -> bool:
        outcome = bool(self.value)
        self.tracer.guards.append((self.idx, outcome))
        return outcome

    def _concrete(self) -> Any:
        """The value itself, guarded: the trace is then valid only for this exact value."""
        self.tracer.guards.append((self.tracer.node("eq", (self.idx, self.tracer.const(self.value)), "s",
                                                    True), True))
        return self.value

    def __float__(self) -> float:
        return float(self._concrete())

    def __int__(self) -> int:
        return int(self._concrete())

    def __index__(self) -> int:
        return operator.index(self._concrete())

    def __repr__(self) -> str:
        return f"Scalar(#{self.idx}={self.value!r})"


class IntScalar(Scalar):
    """A symbolic integer (the step count), registered as `numbers.Integral`."""

    __slots__ = ()


numbers.Real.register(Scalar)
numbers.Integral.register(IntScalar)


class SymArray:
    """An array of the recording: every operation adds a node to the DAG."""

    __slots__ = ("tracer", "idx")
    __array_priority__ = 1000   # numpy scalars defer to us

    def __init__(self, tracer: Tracer, idx: int):
        self.tracer, self.idx = tracer, idx

    # array-API surface the oracle touches
    shape: tuple = ()
    ndim = 0

    @property
    def dtype(self) -> str:
        return "bool" if self.tracer.kind(self.idx) == "b" else "float"

    def __array_namespace__(self, api_version: str | None = None) -> "_Namespace":
        return self.tracer.namespace

    def _new(self, op: str, args: tuple, kind: str = "a") -> "SymArray":
        if op == "mul" and kind == "a":          # x·1.0 is x bit for bit: keep the input's node
            for a, b in (args, args[::-1]):
                node = self.tracer.nodes[b]
                if node[0] == "const" and node[1][0] == 1.0 and self.tracer.kind(a) == "a":
                    return SymArray(self.tracer, a)
        return SymArray(self.tracer, self.tracer.node(op, args, kind))

    def _bin(self, op: str, other: Any, reflected: bool = False, kind: str = "a") -> Any:
        try:
            o = self.tracer.operand(other)
        except RecordingError:
            return NotImplemented
        args = (o, self.idx) if reflected else (self.idx, o)
        for a in args:
            if self.tracer.kind(a) == "b" and op in _ARITH:
                raise RecordingError(f"arithmetic ({op}) on a boolean array is not supported; use where()")
        return self._new(op, args, kind)

    def __add__(self, o): return self._bin("add", o)
    def __radd__(self, o): return self._bin("add", o, True)
    def __sub__(self, o): return self._bin("sub", o)
    def __rsub__(self, o): return self._bin("sub", o, True)
    def __mul__(self, o): return self._bin("mul", o)
    def __rmul__(self, o): return self._bin("mul", o, True)
    def __truediv__(self, o): return self._bin("truediv", o)
    def __rtruediv__(self, o): return self._bin("truediv", o, True)
    def __lt__(self, o): return self._bin("lt", o, kind="b")
    def __le__(self, o): return self._bin("le", o, kind="b")
    def __gt__(self, o): return self._bin("gt", o, kind="b")
    def __ge__(self, o): return self._bin("ge", o, kind="b")
    def __eq__(self, o): return self._bin("eq", o, kind="b")   # type: ignore[override]
    def __ne__(self, o): return self._bin("ne", o, kind="b")   # type: ignore[override]
    __hash__ = object.__hash__

    def __and__(self, o): return self._logic("and", o)
    def __or__(self, o): return self._logic("or", o)

    def _logic(self, op: str, other: Any) -> "SymArray":
        o = self.tracer.operand(other)
        if self.tracer.kind(self.idx) != "b" or self.tracer.kind(o) != "b":
            raise RecordingError(f"'{op}' needs two boolean arrays")
        return self._new(op, (self.idx, o), "b")

    def __invert__(self) -> "SymArray":
        if self.tracer.kind(self.idx) != "b":
            raise RecordingError("~ is supported on boolean arrays only")
        return self._new("not", (self.idx,), "b")

    def __neg__(self): return self._new("neg", (self.idx,))
    def __pos__(self): return self

    def __abs__(self): return self._new("abs", (self.idx,))

    def __pow__(self, o: Any) -> "SymArray":
        exponent = o.value if isinstance(o, Scalar) else o
        if isinstance(o, Scalar):
            o._concrete()
        if exponent == 2:                        # numpy's power fast paths: x·x and sqrt(x)
            return self._new("mul", (self.idx, self.idx))
        if exponent == 0.5:
            return self._new("sqrt", (self.idx,))
        raise RecordingError(f"array ** {exponent!r} is not supported (only ** 2 and ** 0.5)")

    def __bool__(self) -> bool:
        raise RecordingError("the update branches on an array value; element-wise kernels cannot "
                             "record data-dependent Python control flow")

    def __float__(self) -> float:
        raise RecordingError("the update converts an array to a Python float")

    def __repr__(self) -> str:
        return f"SymArray(#{self.idx})"


class _Namespace:
    """The recording namespace: the array-API functions the element-wise oracle updates use."""

    def __init__(self, tracer: Tracer):
        self._t = tracer
        self.__name__ = "v0ref.backends._codegen.recording"

    def _arr(self, x: Any) -> int:
        idx = self._t.operand(x)
        return idx

    def _un(self, op: str, x: Any) -> SymArray:
        if not isinstance(x, SymArray):
            raise RecordingError(f"{op}() of a scalar: the oracle computes scalars in Python")
        return x._new(op, (x.idx,))

    def sqrt(self, x): return self._un("sqrt", x)
    def abs(self, x): return self._un("abs", x)
    def sign(self, x): return self._un("sign", x)
    def negative(self, x): return self._un("neg", x)
    def square(self, x): return x * x
    def add(self, a, b): return a + b
    def subtract(self, a, b): return a - b
    def multiply(self, a, b): return a * b
    def divide(self, a, b): return a / b

    def _pair(self, op: str, a: Any, b: Any) -> SymArray:
        ia, ib = self._arr(a), self._arr(b)
        if self._t.kind(ia) == "s" and self._t.kind(ib) == "s":
            raise RecordingError(f"{op}() of two scalars")
        return SymArray(self._t, self._t.node(op, (ia, ib), "a"))

    def maximum(self, a, b): return self._pair("maximum", a, b)
    def minimum(self, a, b): return self._pair("minimum", a, b)

    def clip(self, x, min=None, max=None):   # noqa: A002 (array-API names)
        """array-api-compat's order: ``min`` replaces ``x < min`` (or NaN min), then ``max``."""
        out = x
        if min is not None:
            out = SymArray(self._t, self._t.node("clip_lo", (self._arr(out), self._arr(min)), "a"))
        if max is not None:
            out = SymArray(self._t, self._t.node("clip_hi", (self._arr(out), self._arr(max)), "a"))
        return out

    def where(self, cond, a, b):
        if isinstance(cond, (Scalar, bool)):   # a host condition (the step-count branch of
            return a if bool(cond) else b      # _math.branch/rectifier under a tracer): a guard
        ic = self._arr(cond)
        if self._t.kind(ic) != "b":
            raise RecordingError("where() needs a boolean array condition")
        return SymArray(self._t, self._t.node("where", (ic, self._arr(a), self._arr(b)), "a"))

    def full_like(self, x, fill_value, *, dtype=None, device=None):
        return SymArray(self._t, self._t.node("full", (self._arr(fill_value),), "a"))

    def zeros_like(self, x, *, dtype=None, device=None): return self.full_like(x, 0.0)
    def ones_like(self, x, *, dtype=None, device=None): return self.full_like(x, 1.0)

    def astype(self, x, dtype, /, *, copy=True, device=None):
        if dtype not in (None, "float") and not (isinstance(x, SymArray) and dtype == x.dtype):
            raise RecordingError(f"astype to {dtype!r}: the kernel computes in one float type")
        return x

    def asarray(self, x, dtype=None, device=None, copy=None):
        return x

    def isnan(self, x):
        return x != x

    def __getattr__(self, name: str) -> Any:
        raise RecordingError(f"the recording namespace has no {name!r}; add it to "
                             "v0ref.backends._codegen if an element-wise update needs it")


# ------------------------------------------------------------------------------------------------
# recording one update
# ------------------------------------------------------------------------------------------------

def _numeric(v: Any) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool)


def scalar_inputs(hp: Any, state: Any) -> dict[str, Any]:
    """The scalar leaves of a recording and their current values: ``step``, ``hp.<field>``
    (``hp.<field>[i]`` for tuples) and ``state.<field>`` for scalar state."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(hp):
        v = getattr(hp, f.name)
        if _numeric(v):
            out[f"hp.{f.name}"] = v
        elif isinstance(v, tuple) and v and all(_numeric(x) for x in v):
            for i, x in enumerate(v):
                out[f"hp.{f.name}[{i}]"] = x
    for name, v in state._asdict().items():
        if _numeric(v):
            out["step" if name == "step" else f"state.{name}"] = v
    return out


def structure_key(alg: Any, hp: Any, state: Any) -> tuple:
    """What a recording depends on besides scalar values: the non-numeric hyperparameters (flags,
    conventions), the Python types of the numeric ones and which state fields are arrays."""
    hyper = []
    for f in dataclasses.fields(hp):
        v = getattr(hp, f.name)
        if _numeric(v) or (isinstance(v, tuple) and v and all(_numeric(x) for x in v)):
            hyper.append((f.name, type(v).__name__ if not isinstance(v, tuple) else
                          tuple(type(x).__name__ for x in v)))
        else:
            hyper.append((f.name, v))
    fields = tuple((k, "scalar:" + type(v).__name__ if _numeric(v) else ("none" if v is None else "array"))
                   for k, v in state._asdict().items())
    return (alg.name, type(hp).__name__, tuple(hyper), fields)


def record(alg: Any, hp: Any, state: Any) -> "Program":
    """Record ``alg.update`` for hyperparameters ``hp`` from a state shaped like ``state``.

    ``state`` is a real state (NumPy arrays or any arrays; only which fields are arrays, ``None``
    or numbers matters, and the numbers' values, which the guards of this trace are taken at).
    """
    if getattr(alg, "kind", "elementwise") != "elementwise":
        raise ValueError(f"{alg.name} is a {alg.kind} method; only element-wise updates can be recorded")
    tr = Tracer()
    sym_hp = copy.copy(hp)
    for f in dataclasses.fields(hp):
        v = getattr(hp, f.name)
        if _numeric(v):
            object.__setattr__(sym_hp, f.name, tr.scalar_input(f"hp.{f.name}", v))
        elif isinstance(v, tuple) and v and all(_numeric(x) for x in v):
            object.__setattr__(sym_hp, f.name,
                               tuple(tr.scalar_input(f"hp.{f.name}[{i}]", x) for i, x in enumerate(v)))
    fields: dict[str, Any] = {}
    array_state: list[str] = []
    for name, v in state._asdict().items():
        if name == "step":
            fields[name] = tr.scalar_input("step", v)
        elif v is None:
            fields[name] = None
        elif _numeric(v):
            fields[name] = tr.scalar_input(f"state.{name}", v)
        else:
            fields[name] = tr.array_input(name)
            array_state.append(name)
    sym_state = type(state)(**fields)
    param, grad = tr.array_input("param"), tr.array_input("grad")
    new_param, new_state = alg.update_fn(param, grad, sym_state, sym_hp)
    return Program(alg.name, tr, structure_key(alg, hp, state), array_state, new_param, new_state)


# ------------------------------------------------------------------------------------------------
# the recorded program
# ------------------------------------------------------------------------------------------------

class Program:
    """One trace of an update: host scalar program + guards + element-wise kernel body.

    Attributes
    ----------
    inputs : array inputs of the kernel, ``["param", "grad", *state arrays]``.
    outputs : ``{name: node}`` of the arrays the kernel writes (``"param"`` and the state arrays
        whose value changes; a state array whose output is its own input is not written).
    new_arrays : state fields that are ``None`` on input and arrays on output (SGD's buffer at its
        first step): write-only outputs.
    scalar_outputs : ``{field: node or constant}`` of scalar state (``step``, ``mu_product``).
    none_outputs : state fields that are ``None`` after the step.
    params : scalar nodes the kernel takes as parameters, in order (``sc0``, ``sc1``, ...).
    """

    def __init__(self, algorithm: str, tracer: Tracer, key: tuple, array_state: list[str],
                 new_param: Any, new_state: Any):
        self.algorithm, self.key = algorithm, key
        self.nodes, self.guards = tracer.nodes, list(tracer.guards)
        self.record_values = list(tracer.values)
        self.inputs = ["param", "grad", *array_state]
        self.state_fields = list(new_state._fields)
        self.outputs: dict[str, int] = {}
        self.new_arrays: list[str] = []
        self.scalar_outputs: dict[str, Any] = {}
        self.none_outputs: list[str] = []

        def as_array_node(x: Any, what: str) -> int:
            if isinstance(x, SymArray):
                return x.idx
            if isinstance(x, (Scalar, numbers.Real)):       # a constant result: broadcast it
                return tracer.node("full", (tracer.operand(x),), "a")
            raise RecordingError(f"{algorithm}: {what} is a {type(x).__name__}, not an array")

        p = as_array_node(new_param, "the new parameter")
        if p != self._leaf("param"):
            self.outputs["param"] = p
        for name, v in new_state._asdict().items():
            if name == "step" or _numeric(v) or isinstance(v, Scalar):
                self.scalar_outputs[name] = v.idx if isinstance(v, Scalar) else ("const", v)
            elif v is None:
                self.none_outputs.append(name)
            else:
                node = as_array_node(v, f"state {name!r}")
                if name in array_state:
                    if node != self._leaf(name):
                        self.outputs[name] = node
                else:
                    self.outputs[name] = node
                    self.new_arrays.append(name)
        self.nodes = tracer.nodes     # as_array_node may have added nodes
        self.record_values = list(tracer.values)
        self._order = self._reachable()
        self.params = [i for i in self._scalar_operands() if self.nodes[i][0] != "const"
                       or not _finite_const(self.nodes[i][1][0])]
        self._scalar_nodes = [i for i, n in enumerate(self.nodes) if n[2] == "s"]
        self._guard_at: dict[int, list[Any]] = {}
        for idx, outcome in self.guards:
            self._guard_at.setdefault(idx, []).append(outcome)

    # --- structure --------------------------------------------------------------------------------
    def _leaf(self, name: str) -> int | None:
        for i, (op, args, _) in enumerate(self.nodes):
            if op == "in" and args[0] == name:
                return i
        return None

    def _reachable(self) -> list[int]:
        """Array nodes the outputs depend on, in creation (= topological) order."""
        seen: set[int] = set()
        stack = list(self.outputs.values())
        while stack:
            i = stack.pop()
            if i in seen or self.nodes[i][2] == "s":
                continue
            seen.add(i)
            op, args, _ = self.nodes[i]
            if op not in ("in",):
                stack.extend(a for a in args if isinstance(a, int))
        return sorted(seen)

    def _scalar_operands(self) -> list[int]:
        out: list[int] = []
        for i in self._order:
            op, args, _ = self.nodes[i]
            if op == "in":
                continue
            for a in args:
                if self.nodes[a][2] == "s" and a not in out:
                    out.append(a)
        return out

    @property
    def read_inputs(self) -> list[str]:
        """Array inputs the kernel reads (a leaf no output reaches is not loaded)."""
        used = {self.nodes[i][1][0] for i in self._order if self.nodes[i][0] == "in"}
        return [n for n in self.inputs if n in used]

    @property
    def written(self) -> list[str]:
        return list(self.outputs)

    def bytes_per_element(self, mode: str = "float32") -> int:
        """Bytes moved per parameter element (loads of read inputs + stores of outputs)."""
        storage, compute = MODES[mode]
        size = lambda n: np.dtype(storage if n in ("param", "grad") else compute).itemsize  # noqa: E731
        return sum(size(n) for n in self.read_inputs) + sum(size(n) for n in self.written)

    # --- host side ------------------------------------------------------------------------------
    def scalars(self, inputs: Mapping[str, Any]) -> dict[int, Any] | None:
        """Replay the scalar program on ``inputs`` (see `scalar_inputs`); ``None`` when a guard
        fails (the oracle would take another branch: record again)."""
        values: dict[int, Any] = {}
        try:
            for i in self._scalar_nodes:
                op, args, _ = self.nodes[i]
                if op == "sin":
                    v = inputs[args[0]]
                elif op == "const":
                    v = args[0]
                elif op in _SCALAR_BIN:
                    v = _SCALAR_BIN[op](values[args[0]], values[args[1]])
                else:
                    v = _SCALAR_UN[op](values[args[0]])
                values[i] = v
                for outcome in self._guard_at.get(i, ()):
                    if bool(v) != outcome:
                        return None
        except (ArithmeticError, KeyError, TypeError, ValueError):
            return None
        return values

    def kernel_scalars(self, values: Mapping[int, Any]) -> list[Any]:
        return [values[i] for i in self.params]

    def new_scalar_state(self, values: Mapping[int, Any]) -> dict[str, Any]:
        return {k: (v[1] if isinstance(v, tuple) else values[v]) for k, v in self.scalar_outputs.items()}

    # --- NumPy evaluation (reference semantics of the emitted code) -------------------------------
    def evaluate(self, arrays: Mapping[str, np.ndarray], values: Mapping[int, Any],
                 mode: str = "float64") -> dict[str, np.ndarray]:
        """Run the kernel body with NumPy, element-wise ops in the mode's compute dtype, scalars
        rounded to it (as the kernel parameters are); returns the written arrays (param in its
        storage dtype)."""
        storage, compute = MODES[mode]
        ct = np.dtype(compute).type
        env: dict[int, Any] = {}
        shape = np.shape(arrays["param"])

        def val(i: int) -> Any:
            if self.nodes[i][2] == "s":
                return ct(values[i] if self.nodes[i][0] != "const" else self.nodes[i][1][0])
            return env[i]

        with np.errstate(all="ignore"):
            for i in self._order:
                op, args, _ = self.nodes[i]
                if op == "in":
                    env[i] = np.asarray(arrays[args[0]]).astype(compute)
                    continue
                x = [val(a) for a in args]
                if op in _ARITH:
                    r = getattr(operator, op)(x[0], x[1])
                elif op in _CMP:
                    r = getattr(operator, op)(x[0], x[1])
                elif op == "neg":
                    r = -x[0]
                elif op == "abs":
                    r = np.abs(x[0])
                elif op == "sqrt":
                    r = np.sqrt(x[0])
                elif op == "sign":
                    r = np.sign(x[0])
                elif op == "maximum":
                    r = np.maximum(x[0], x[1])
                elif op == "minimum":
                    r = np.minimum(x[0], x[1])
                elif op == "clip_lo":
                    r = np.where((x[0] < x[1]) | np.isnan(x[1]), x[1], x[0])
                elif op == "clip_hi":
                    r = np.where((x[0] > x[1]) | np.isnan(x[1]), x[1], x[0])
                elif op == "where":
                    r = np.where(x[0], x[1], x[2])
                elif op == "full":
                    r = x[0]
                elif op == "and":
                    r = x[0] & x[1]
                elif op == "or":
                    r = x[0] | x[1]
                elif op == "not":
                    r = ~x[0]
                else:
                    raise RecordingError(f"no NumPy rule for node {op!r}")
                env[i] = np.broadcast_to(np.asarray(r, dtype=bool if self.nodes[i][2] == "b" else compute),
                                         shape)
        out = {}
        for name, i in self.outputs.items():
            dt = storage if name == "param" else compute
            out[name] = np.array(env[i], dtype=dt)
        return out

    # --- emission -------------------------------------------------------------------------------
    def _body(self, compute: str, ref: Any, load: Any, store: Any, *, cuda: bool) -> list[str]:
        """Statements of the update: loads, one ``const`` local per node, stores."""
        T = _C_TYPES[compute]
        suffix = "f" if compute == "float32" else ""
        pnames = {i: f"sc{k}" for k, i in enumerate(self.params)}

        def lit(v: Any) -> str:
            if isinstance(v, bool):
                return "1" if v else "0"
            return f"(({T}){float(v)!r})"

        def operand(i: int) -> str:
            op, args, kind = self.nodes[i]
            if kind == "s":
                return pnames[i] if i in pnames else lit(args[0])
            return f"t{i}"

        lines = []
        for i in self._order:
            op, args, kind = self.nodes[i]
            ctype = "bool" if kind == "b" else T
            x = [] if op == "in" else [operand(a) for a in args]
            if op == "in":
                expr = load(args[0])
            elif op in _ARITH:
                expr = f"{x[0]} {_ARITH[op]} {x[1]}"
            elif op in _CMP:
                expr = f"{x[0]} {_CMP[op]} {x[1]}"
            elif op == "neg":
                expr = f"-{x[0]}"
            elif op == "abs":
                expr = f"fabs{suffix}({x[0]})"
            elif op == "sqrt":
                expr = f"sqrt{suffix}({x[0]})"
            elif op == "sign":       # NumPy: NaN stays NaN, ±0 -> +0; branch-free so loops vectorize
                a = x[0]
                expr = f"({a} != {a} ? {a} : ({T})({a} > 0) - ({T})({a} < 0))"
            elif op == "maximum":    # NumPy: a NaN operand wins
                expr = f"(({x[0]} >= {x[1]} || {x[0]} != {x[0]}) ? {x[0]} : {x[1]})"
            elif op == "minimum":
                expr = f"(({x[0]} <= {x[1]} || {x[0]} != {x[0]}) ? {x[0]} : {x[1]})"
            elif op == "clip_lo":
                expr = f"(({x[0]} < {x[1]} || {x[1]} != {x[1]}) ? {x[1]} : {x[0]})"
            elif op == "clip_hi":
                expr = f"(({x[0]} > {x[1]} || {x[1]} != {x[1]}) ? {x[1]} : {x[0]})"
            elif op == "where":
                expr = f"({x[0]} ? ({T})({x[1]}) : ({T})({x[2]}))"
            elif op == "full":
                expr = f"({T})({x[0]})"
            elif op == "and":
                expr = f"{x[0]} && {x[1]}"
            elif op == "or":
                expr = f"{x[0]} || {x[1]}"
            elif op == "not":
                expr = f"!{x[0]}"
            else:
                raise RecordingError(f"no C rule for node {op!r}")
            lines.append(f"  const {ctype} t{i} = {expr};")
        for name, i in self.outputs.items():
            lines.append(f"  {store(name, f't{i}')};")
        return lines

    @property
    def digest(self) -> str:
        """8 hex digits identifying the trace (its body, parameters and outputs)."""
        text = repr(([self.nodes[i] for i in self._order], self.params, self.outputs, self.new_arrays))
        return hashlib.sha1(text.encode()).hexdigest()[:8]

    def function_name(self, mode: str) -> str:
        """``v0ref_<algorithm>_<mode>_<digest>``: unique per trace (shows in GPU profiles)."""
        return f"v0ref_{self.algorithm}_{mode}_{self.digest}"

    def _signature(self, mode: str, *, cuda: bool, half: str = "float16") -> tuple[list[str], Any, Any, Any]:
        storage, compute = MODES[mode]
        T = _C_TYPES[compute]
        P = half if storage == "float16" and cuda else (_CUDA_STORAGE if cuda else _C_STORAGE)[storage]
        decl = []
        for name in self.inputs + self.new_arrays:
            ctype = P if name in ("param", "grad") else T
            if name == "grad":
                decl.append(f"const {ctype} {_arg(name)}")
            else:
                decl.append(f"{ctype}{'&' if cuda else '*'} {_arg(name)}")
        decl += [f"const {T} sc{k}" for k in range(len(self.params))]
        deref = (lambda n: _arg(n)) if cuda else (lambda n: n if n == "grad" else f"(*{_arg(n)})")  # noqa: E731

        def load(name: str) -> str:
            return f"({T})({deref(name)})"

        def store(name: str, value: str) -> str:
            ctype = P if name == "param" else T
            return f"{deref(name)} = ({ctype})({value})"
        return decl, deref, load, store

    def _function(self, mode: str, *, cuda: bool, name: str | None = None, half: str = "float16") -> str:
        storage, compute = MODES[mode]
        decl, deref, load, store = self._signature(mode, cuda=cuda, half=half)
        head = "__device__ __forceinline__ void" if cuda else "static inline void"
        body = self._body(compute, deref, load, store, cuda=cuda)
        name = name or self.function_name(mode)
        doc = f"/* {self.algorithm}: generated by v0ref from the oracle's update ({len(body)} statements) */"
        return "\n".join([doc, f"{head} {name}({', '.join(decl)}) {{", *body, "}"])

    def c_source(self, mode: str = "float64", *, name: str = "v0ref_apply") -> str:
        """A C11 translation unit: the update function and ``name(n, param, grad, <state>, sc)``
        looping over ``n`` elements (``sc`` the kernel scalars as an array).  Compile with
        ``-ffp-contract=off`` and without ``-ffast-math``."""
        storage, compute = MODES[mode]
        T, P = _C_TYPES[compute], _C_STORAGE[storage]
        args, call = ["long long n"], []
        for n in self.inputs + self.new_arrays:
            ctype = P if n in ("param", "grad") else T
            args.append(f"{'const ' if n == 'grad' else ''}{ctype}* {_arg(n)}")
            call.append(f"{_arg(n)}[i]" if n == "grad" else f"&{_arg(n)}[i]")
        args.append(f"const {T}* sc")
        call += [f"sc[{k}]" for k in range(len(self.params))]
        fn = self.function_name(mode)
        return "\n".join([
            "#include <math.h>", "#include <stdbool.h>", "",
            self._function(mode, cuda=False), "",
            f"void {name}({', '.join(args)}) {{",
            f"  for (long long i = 0; i < n; ++i) {fn}({', '.join(call)});",
            "}", ""])

    def cuda_function(self, mode: str = "float32", *, half: str = "float16") -> str:
        """The update as a ``__device__`` function (references for written arrays); ``half`` is
        the C++ type of float16 storage (CuPy's ``float16`` in ElementwiseKernel, ``__half`` of
        ``cuda_fp16.h`` in a RawKernel)."""
        return self._function(mode, cuda=True, half=half)

    def elementwise_kernel_args(self, mode: str = "float32") -> dict[str, Any]:
        """Keyword arguments for ``cupy.ElementwiseKernel``: ``in_params`` (grad, scalars),
        ``out_params`` (param and every state array, read and written in place), ``operation``,
        ``name``, ``preamble`` (the device function) and ``options`` (no FMA contraction)."""
        storage, compute = MODES[mode]
        ins = [f"{storage} {_arg('grad')}"] + [f"{compute} sc{k}" for k in range(len(self.params))]
        outs = [f"{storage} {_arg('param')}"] + [f"{compute} {_arg(n)}" for n in self.inputs[2:] + self.new_arrays]
        call = [_arg(n) for n in self.inputs + self.new_arrays] + [f"sc{k}" for k in range(len(self.params))]
        return dict(in_params=", ".join(ins), out_params=", ".join(outs),
                    operation=f"{self.function_name(mode)}({', '.join(call)});",
                    name=f"{self.function_name(mode)}_ew", preamble=self.cuda_function(mode),
                    options=("--fmad=false",), no_return=True)

    def multi_tensor_source(self, mode: str = "float32") -> tuple[str, str]:
        """``(source, kernel name)`` of a RawKernel over a list of tensors in one launch.

        Arguments: ``const unsigned long long* param_ptrs, grad_ptrs`` (device pointers per
        tensor), one flat state buffer per state array (tensor ``k`` at ``offsets[k]``),
        ``const long long* offsets`` (n_tensors + 1), ``const int* chunk_tensor``,
        ``const long long* chunk_start`` (one entry per block: which tensor, from which element),
        ``long long chunk``, then the kernel scalars.  Block ``b`` updates elements
        ``[chunk_start[b], chunk_start[b] + chunk)`` of tensor ``chunk_tensor[b]``.
        """
        storage, compute = MODES[mode]
        T, P = _C_TYPES[compute], "__half" if storage == "float16" else _CUDA_STORAGE[storage]
        kname = f"{self.function_name(mode)}_mt"
        state = self.inputs[2:] + self.new_arrays
        args = ["const unsigned long long* param_ptrs", "const unsigned long long* grad_ptrs"]
        args += [f"{T}* {_arg(n)}_flat" for n in state]
        args += ["const long long* offsets", "const int* chunk_tensor", "const long long* chunk_start",
                 "const long long chunk"]
        args += [f"const {T} sc{k}" for k in range(len(self.params))]
        call = ["p[j]", "g[j]"] + [f"{_arg(n)}_flat[base + j]" for n in state]
        call += [f"sc{k}" for k in range(len(self.params))]
        src = "\n".join([
            "#include <cuda_fp16.h>" if storage == "float16" else "",
            self.cuda_function(mode, half="__half"), "",
            f'extern "C" __global__ void {kname}({", ".join(args)}) {{',
            "  const int k = chunk_tensor[blockIdx.x];",
            "  const long long base = offsets[k];",
            "  const long long size = offsets[k + 1] - base;",
            "  const long long start = chunk_start[blockIdx.x];",
            "  const long long stop = start + chunk < size ? start + chunk : size;",
            f"  {P}* p = reinterpret_cast<{P}*>(param_ptrs[k]);",
            f"  const {P}* g = reinterpret_cast<const {P}*>(grad_ptrs[k]);",
            "  for (long long j = start + threadIdx.x; j < stop; j += blockDim.x) {",
            f"    {self.function_name(mode)}({', '.join(call)});",
            "  }",
            "}", ""])
        return src, kname


def _arg(name: str) -> str:
    """Kernel argument name of an array input (prefixed: no clash with CuPy's ``i``/``_ind``)."""
    return {"param": "param", "grad": "grad"}.get(name, f"st_{name}")


def _finite_const(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def guard_summary(program: Program) -> list[str]:
    """Readable guards (for error messages and docs): ``node op ... == outcome``."""
    return [f"#{i} ({program.nodes[i][0]}) is {outcome}" for i, outcome in program.guards]


class KernelSet:
    """The traces of one algorithm: finds the one whose guards hold for the current scalars,
    recording a new trace when none does.  ``recordings`` counts them (a step-dependent guard that
    fails every step would show as one recording per step)."""

    def __init__(self, alg: Any):
        self.alg = alg
        self.programs: dict[tuple, list[Program]] = {}
        self.recordings = 0

    def select(self, hp: Any, state: Any) -> tuple[Program, dict[int, Any]]:
        key = structure_key(self.alg, hp, state)
        inputs = scalar_inputs(hp, state)
        for program in self.programs.get(key, ()):
            values = program.scalars(inputs)
            if values is not None:
                return program, values
        program = record(self.alg, hp, state)
        self.recordings += 1
        values = program.scalars(inputs)
        if values is None:      # cannot happen for a deterministic update: the trace was taken here
            raise RecordingError(f"{self.alg.name}: a fresh trace's guards fail on its own inputs")
        self.programs.setdefault(key, []).append(program)
        return program, values


__all__ += ["KernelSet", "guard_summary"]
