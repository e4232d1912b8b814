"""The oracle's core: hyperparameter base class, validation helpers, the `Algorithm` entry and
the registry every other part of v0ref iterates (tests, docs, CLI, conformance harness).

An algorithm is two pure functions over one parameter array:

* ``init(param, hp, v0=None, m0=None) -> State`` — a NamedTuple of arrays plus the step count;
* ``update(param, grad, state, hp) -> (new_param, new_state)`` — out of place, no mutation.

Whole-vector methods (``kind="whole_vector"``: look-ahead NAG, RMSProp+Nesterov, L-BFGS, nonlinear
CG, Hessian-free) need the loss and its derivatives at other points, so they take the whole
parameter list and an *objective* (`v0ref.objectives`) instead of one gradient:
``init(params, hp, v0=None, m0=None)`` and ``update(params, objective, state, hp)``.

Both are written with the Python array API standard (``xp = array_namespace(param)``), so the
same code runs on numpy, array_api_strict, torch, jax and cupy arrays.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple

from array_api_compat import array_namespace

__all__ = [
    "Algorithm", "AdaptiveHyper", "DebiasedHyper", "ErrorCase", "Hyper", "Reference", "register", "registry",
    "check_nonneg", "check_range", "check_betas", "check_choice", "check_bool", "moment_array",
]

Array = Any
CONVENTIONS = ("torch", "optax", "paper")
BIAS_CORRECTIONS = ("standard", "none", "eps_hat")
KINDS = ("elementwise", "whole_vector")


# --------------------------------------------------------------------------------------------
# validation helpers: messages name the parameter, the allowed range and the value received
# --------------------------------------------------------------------------------------------

def _check_real(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number; got {value!r} of type {type(value).__name__}")
    if math.isnan(value):
        raise ValueError(f"{name} must not be NaN")
    return float(value)


def check_nonneg(name: str, value: Any) -> None:
    """``value`` is a finite real number >= 0."""
    v = _check_real(name, value)
    if not (0.0 <= v < math.inf):
        raise ValueError(f"{name} must be a finite number >= 0; got {value!r}")


def check_range(name: str, value: Any, low: float, high: float, *, closed_high: bool = False,
                open_low: bool = False) -> None:
    """``value`` lies in [low, high) (or the variants given by the flags)."""
    v = _check_real(name, value)
    ok_low = v > low if open_low else v >= low
    ok_high = v <= high if closed_high else v < high
    if not (ok_low and ok_high):
        interval = f"{'(' if open_low else '['}{low:g}, {high:g}{']' if closed_high else ')'}"
        raise ValueError(f"{name} must be in {interval}; got {value!r}")


def check_betas(value: Any, name: str = "betas") -> None:
    """A pair of decay rates, each in [0, 1)."""
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ValueError(f"{name} must be a pair (beta1, beta2); got {value!r}")
    for i, b in enumerate(value):
        check_range(f"{name}[{i}]", b, 0.0, 1.0)


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}; got {value!r}")


def check_bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False; got {value!r}")


# --------------------------------------------------------------------------------------------
# hyperparameters
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class Hyper:
    """Base of every hyperparameter dataclass: frozen, keyword-only, validated.

    Subclasses validate in ``__post_init__``.  ``convention`` selects whose arithmetic the oracle
    reproduces where frameworks differ: ``"torch"`` (torch 2.13, the default — the paper's code
    runs on torch), ``"optax"`` (optax 0.2.8) or ``"paper"`` (the algorithm's original paper).
    A field declared with default ``None`` and listed in ``_convention_defaults`` takes its
    default from the convention (AdamW's weight decay: 1e-2 in torch, 1e-4 in optax).
    """

    convention: str = "torch"
    _conventions: ClassVar[tuple[str, ...]] = CONVENTIONS   # a family may name others (e.g. "pto")
    _convention_defaults: ClassVar[Mapping[str, Mapping[str, Any]]] = {}

    def __post_init__(self) -> None:
        check_choice("convention", self.convention, self._conventions)
        for name, by_convention in self._convention_defaults.items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, by_convention[self.convention])
        for f in dataclasses.fields(self):
            if f.type in ("bool", bool):
                check_bool(f.name, getattr(self, f.name))
        if isinstance(getattr(self, "betas", None), list):
            object.__setattr__(self, "betas", tuple(self.betas))

    def replace(self, **changes: Any) -> "Hyper":
        """A validated copy with some fields changed (e.g. a scheduled ``lr``)."""
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True, kw_only=True)
class AdaptiveHyper(Hyper):
    """Fields every adaptive method shares, validated once: step size, decays, ε, decay, sign."""

    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float | None = 0.0
    maximize: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        check_nonneg("lr", self.lr)
        check_betas(self.betas)
        check_nonneg("eps", self.eps)
        check_nonneg("weight_decay", self.weight_decay)


@dataclass(frozen=True, kw_only=True)
class DebiasedHyper(AdaptiveHyper):
    """Adam-like methods with a debiased second moment: ε inside the sqrt, the bias-correction
    mode for a non-zero v0 (ALGORITHMS §1.3) and L2 vs decoupled weight decay."""

    eps_root: float = 0.0
    decoupled_weight_decay: bool = False
    bias_correction: str = "standard"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_nonneg("eps_root", self.eps_root)
        check_choice("bias_correction", self.bias_correction, BIAS_CORRECTIONS)


# --------------------------------------------------------------------------------------------
# state helpers
# --------------------------------------------------------------------------------------------

def moment_array(param: Array, init: Any, name: str, *, transform: Callable | None = None) -> Array:
    """The initial value of one state array: zeros, or ``init`` checked against ``param``.

    ``init`` may be ``None`` (zeros), a Python number (a constant fill) or an array of the
    parameter's shape (cast to the parameter's dtype and device).  ``transform`` maps the given
    value into the state's units (Adamax keeps sqrt(v0)).
    """
    xp = array_namespace(param)
    if init is None:
        return xp.zeros_like(param)
    if isinstance(init, numbers.Real) and not isinstance(init, bool):
        value = xp.full_like(param, float(init))
    else:
        try:
            init_xp = array_namespace(init)
        except TypeError:
            raise TypeError(f"{name} must be None, a number or an array; got {type(init).__name__}") from None
        if tuple(init.shape) != tuple(param.shape):
            raise ValueError(f"{name} has shape {tuple(init.shape)} but the parameter has shape "
                             f"{tuple(param.shape)}")
        if init_xp is not xp:
            raise TypeError(f"{name} is a {init_xp.__name__} array but the parameter is a {xp.__name__} array")
        value = xp.astype(init, param.dtype, copy=True)
    return transform(value) if transform is not None else value


# --------------------------------------------------------------------------------------------
# the registry entry
# --------------------------------------------------------------------------------------------

class Reference(NamedTuple):
    """A framework implementation that computes this algorithm under one convention.

    Tests and the conformance harness iterate these to compare the oracle with the framework:
    ``target`` is the dotted name of the class/factory, ``kwargs`` maps a hyperparameter object
    to the framework's constructor arguments, ``state`` maps oracle state names to the
    framework's (``None`` where the framework keeps no such array).
    """

    framework: str                      # "torch" | "optax" | "pytorch_optimizer"
    target: str                         # e.g. "torch.optim.Adam"
    kwargs: Callable[[Any], dict]       # hp -> framework constructor kwargs
    state: Mapping[str, str] = {}
    applies: Callable[[Any], bool] = lambda hp: True   # hp configurations this reference covers


class ErrorCase(NamedTuple):
    """Bad hyperparameters as data: ``hyper(**kwargs)`` must raise ``error`` matching ``match``."""

    kwargs: Mapping[str, Any]
    error: type[Exception]
    match: str


@dataclass(frozen=True)
class Algorithm:
    """One registry entry: an optimizer written once as array-API math.

    Attributes
    ----------
    name : registry key (lower case, e.g. ``"adam"``).
    hyper_cls : the frozen hyperparameter dataclass.
    init_fn, update_fn : the pure functions (see the module docstring).
    state_names : the state arrays, in order (the step count is always ``state.step``).
    first_moment / second_moment : which state arrays an ``m0`` / ``v0`` initializes.
    summary : one line for listings; ``doc`` the family's math (module docstring).
    cases : hyperparameter sets every generic test and the harness must cover.
    errors : bad-hyperparameter cases as data.
    references : framework implementations to compare with (see `Reference`).
    tolerance, tolerance_reason : conformance-harness overrides (``step_ulps``, ``k``, ``floor``) with
        the reason they are needed; empty for nearly every entry.
    """

    name: str
    hyper_cls: type[Hyper]
    init_fn: Callable[..., Any]
    update_fn: Callable[..., Any]
    state_names: tuple[str, ...]
    first_moment: tuple[str, ...] = ()
    second_moment: tuple[str, ...] = ()
    summary: str = ""
    doc: str = ""
    family: str = ""
    kind: str = "elementwise"           # "elementwise" | "whole_vector"
    cases: tuple[Mapping[str, Any], ...] = ({},)
    errors: tuple[ErrorCase, ...] = ()
    references: tuple[Reference, ...] = ()
    aliases: tuple[str, ...] = field(default=())
    tolerance: Mapping[str, float] = field(default_factory=dict)   # conformance overrides ...
    tolerance_reason: str = ""                                       # ... and why they are needed

    def __post_init__(self) -> None:
        check_choice("kind", self.kind, KINDS)
        if self.tolerance and not self.tolerance_reason:
            raise ValueError(f"{self.name}: a tolerance override needs its reason (tolerance_reason)")

    def hyper(self, **kwargs: Any) -> Hyper:
        """Validated hyperparameters; a misspelled name is a ``TypeError`` listing valid ones."""
        valid = {f.name for f in dataclasses.fields(self.hyper_cls)}
        unknown = sorted(set(kwargs) - valid)
        if unknown:
            raise TypeError(f"{self.name}: unknown hyperparameter(s) {', '.join(unknown)}; "
                            f"valid: {', '.join(sorted(valid))}")
        return self.hyper_cls(**kwargs)

    def init(self, param: Array, hp: Hyper | None = None, v0: Any = None, m0: Any = None) -> Any:
        """Initial state for one parameter; ``v0``/``m0`` fill the moment arrays (default zeros).

        A ``kind="whole_vector"`` entry takes the whole parameter list instead (and lists ``v0``/
        ``m0`` aligned with it)."""
        hp = self.hyper() if hp is None else hp
        if v0 is not None and not self.second_moment:
            raise ValueError(f"{self.name} keeps no second-moment state; v0 does not apply")
        if m0 is not None and not self.first_moment:
            raise ValueError(f"{self.name} keeps no first-moment state; m0 does not apply")
        return self.init_fn(param, hp, v0=v0, m0=m0)

    def update(self, param: Array, grad: Array, state: Any, hp: Hyper) -> tuple[Array, Any]:
        """One step: ``(new_param, new_state)``; the inputs are not modified.

        For a ``kind="whole_vector"`` entry ``param`` is the parameter list and ``grad`` an
        objective (`v0ref.objectives` protocol: loss/grad/hvp at any point): the method evaluates
        what it needs and returns ``(new_params, new_state)``."""
        if self.kind == "whole_vector":
            return self.update_fn(param, grad, state, hp)
        if tuple(grad.shape) != tuple(param.shape):
            raise ValueError(f"{self.name}: grad has shape {tuple(grad.shape)} but the parameter "
                             f"has shape {tuple(param.shape)}")
        return self.update_fn(param, grad, state, hp)

    def defaults(self) -> dict[str, Any]:
        """The default hyperparameters (after convention-dependent defaults are resolved)."""
        return dataclasses.asdict(self.hyper())


class _Registry(Mapping[str, Algorithm]):
    """Read-only name -> Algorithm mapping; aliases resolve but are not iterated."""

    def __init__(self) -> None:
        self._entries: dict[str, Algorithm] = {}
        self._aliases: dict[str, str] = {}

    def __getitem__(self, name: str) -> Algorithm:
        key = self._aliases.get(name, name)
        try:
            return self._entries[key]
        except KeyError:
            raise KeyError(f"unknown algorithm {name!r}; valid: {', '.join(sorted(self._entries))}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._entries or name in self._aliases

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"OPTIMIZERS({', '.join(self)})"

    def _add(self, alg: Algorithm) -> Algorithm:
        for name in (alg.name, *alg.aliases):
            if name in self:
                raise ValueError(f"algorithm name {name!r} is registered twice")
        self._entries[alg.name] = alg
        for alias in alg.aliases:
            self._aliases[alias] = alg.name
        return alg


registry = _Registry()


def register(alg: Algorithm) -> Algorithm:
    """Add an entry to ``v0ref.OPTIMIZERS`` (called once by each algorithm module)."""
    return registry._add(alg)
