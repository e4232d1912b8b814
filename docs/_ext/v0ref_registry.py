"""Sphinx extension: the reference pages generated from v0ref's registries.

Nothing in ``docs/generated/`` is written by hand.  At ``builder-inited`` this extension renders
one page per `v0ref.OPTIMIZERS` entry (its math from ``Algorithm.doc``, hyperparameters with
defaults per convention and the ranges the validators enforce, state arrays with v0/m0
eligibility, first steps computed by the oracle, framework references, port support), the
strategy / initializer / schedule / objective pages, the convention mapping table and the port
matrix, and writes them under ``docs/generated/`` (only files whose text changed are rewritten,
so incremental builds stay incremental).  Adding an algorithm file to ``v0ref/algorithms`` adds
its page; nothing here lists names.

The one hand-kept table is `KERAS`: keras 3 is not a dependency and has no ``Reference`` in the
registry, so its names, defaults and the v0ref flags that reproduce each optimizer are data here,
read from the keras 3 sources (``keras/src/optimizers/*.py``, ANCHORS.md §1) and checked against a
NumPy transcription of keras' update in ``tests/test_docs.py``.

`render_all` is a pure function (``relative path -> page text``), importable without Sphinx, so
the test suite can check coverage without a build.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import math
import textwrap
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

GENERATED = "generated"
FIRST_STEP_GRAD = 0.5          # the gradient of the first-step tables (ALGORITHMS §1.3 uses 0.5)
FIRST_STEP_V0 = 0.01           # the non-zero v0 of the first-step tables


# --------------------------------------------------------------------------------------------
# keras 3: names, defaults and the v0ref flags that reproduce each optimizer (data, see above)
# --------------------------------------------------------------------------------------------

class KerasEntry(NamedTuple):
    target: str                      # keras class
    defaults: Mapping[str, Any]      # keras constructor defaults (keras 3 source)
    names: Mapping[str, str]         # keras argument -> v0ref hyperparameter
    hyper: Mapping[str, Any]         # v0ref hyperparameters reproducing keras' defaults
    exact: bool                      # True: same arithmetic (tested); False: closest, see note
    note: str


_KERAS_WD = ("``weight_decay`` in keras is decoupled and lr-scaled for every optimizer, applied "
             "before the step: θ ← θ − lr·wd·θ (``BaseOptimizer._apply_weight_decay``).")
KERAS: Mapping[str, KerasEntry] = {
    "adam": KerasEntry(
        "keras.optimizers.Adam",
        {"learning_rate": 1e-3, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7, "amsgrad": False,
         "weight_decay": None},
        {"learning_rate": "lr", "beta_1": "betas[0]", "beta_2": "betas[1]", "epsilon": "eps",
         "amsgrad": "amsgrad"},
        {"lr": 1e-3, "eps": 1e-7, "bias_correction": "eps_hat"}, True,
        "ε̂ form: ``α·sqrt(1−β2^t)/(1−β1^t)·m/(sqrt(v) + ε)`` (keras' docstring: 'epsilon hat'); "
        "``amsgrad`` keeps the max of the uncorrected v, as torch. " + _KERAS_WD),
    "adamw": KerasEntry(
        "keras.optimizers.AdamW",
        {"learning_rate": 1e-3, "weight_decay": 0.004, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7,
         "amsgrad": False},
        {"learning_rate": "lr", "weight_decay": "weight_decay", "beta_1": "betas[0]", "beta_2": "betas[1]",
         "epsilon": "eps", "amsgrad": "amsgrad"},
        {"lr": 1e-3, "eps": 1e-7, "bias_correction": "eps_hat", "weight_decay": 0.004}, True,
        "keras Adam's ε̂ step after ``θ ← θ − lr·wd·θ``; the default decay is 0.004 (torch 1e-2, optax 1e-4)."),
    "adagrad": KerasEntry(
        "keras.optimizers.Adagrad",
        {"learning_rate": 1e-3, "initial_accumulator_value": 0.1, "epsilon": 1e-7, "weight_decay": None},
        {"learning_rate": "lr", "initial_accumulator_value": "initial_accumulator_value", "epsilon": "eps"},
        {"convention": "optax", "lr": 1e-3}, True,
        "ε inside the sqrt, ``g/sqrt(acc + ε)``, accumulator starting at 0.1: optax's arithmetic and "
        "defaults except the learning rate. " + _KERAS_WD),
    "rmsprop": KerasEntry(
        "keras.optimizers.RMSprop",
        {"learning_rate": 1e-3, "rho": 0.9, "momentum": 0.0, "epsilon": 1e-7, "centered": False,
         "weight_decay": None},
        {"learning_rate": "lr", "rho": "alpha", "momentum": "momentum", "epsilon": "eps", "centered": "centered"},
        {"convention": "optax", "lr": 1e-3, "eps": 1e-7}, True,
        "ε inside the sqrt (``sqrt(v + ε)``, centered ``sqrt(v − ḡ² + ε)``); the momentum buffer "
        "accumulates lr-scaled increments, ``b ← μb + lr·g/d``, ``θ ← θ − b`` — optax's order. " + _KERAS_WD),
    "sgd": KerasEntry(
        "keras.optimizers.SGD",
        {"learning_rate": 1e-2, "momentum": 0.0, "nesterov": False, "weight_decay": None},
        {"learning_rate": "lr", "momentum": "momentum", "nesterov": "nesterov"},
        {"form": "velocity", "lr": 1e-2}, True,
        "Sutskever's velocity form, ``v ← μv − lr·g``, ``θ ← θ + v`` (nesterov: ``θ ← θ + μv − lr·g``), "
        "not torch's buffer form; equal to torch's only for a constant lr. " + _KERAS_WD),
    "adadelta": KerasEntry(
        "keras.optimizers.Adadelta",
        {"learning_rate": 1e-3, "rho": 0.95, "epsilon": 1e-7, "weight_decay": None},
        {"learning_rate": "lr", "rho": "rho", "epsilon": "eps"},
        {"convention": "paper", "lr": 1e-3, "eps": 1e-7}, True,
        "Zeiler's recursion with ε inside both square roots and ρ = 0.95 (the paper's value), "
        "scaled by lr = 1e-3 (Zeiler: 1). " + _KERAS_WD),
    "nadam": KerasEntry(
        "keras.optimizers.Nadam",
        {"learning_rate": 1e-3, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7, "weight_decay": None},
        {"learning_rate": "lr", "beta_1": "betas[0]", "beta_2": "betas[1]", "epsilon": "eps"},
        {"lr": 1e-3, "eps": 1e-7, "momentum_decay": 1.0}, True,
        "Dozat's schedule ``μ_t = β1(1 − ½·0.96^t)``: torch's form with the exponent ``t`` instead of "
        "``t·ψ``, i.e. ``momentum_decay = 1`` (torch: ψ = 0.004). " + _KERAS_WD),
    "adamax": KerasEntry(
        "keras.optimizers.Adamax",
        {"learning_rate": 1e-3, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7, "weight_decay": None},
        {"learning_rate": "lr", "beta_1": "betas[0]", "beta_2": "betas[1]", "epsilon": "eps"},
        {"lr": 1e-3, "eps": 1e-7}, False,
        "keras adds ε *outside* the max, ``m/(max(β2·u, |g|) + ε)``; torch and optax (and the oracle) "
        "keep ``max(β2·u, |g| + ε)``.  No flag reproduces keras exactly; the listed flags differ "
        "where ``|g|`` is comparable to ε."),
}


# --------------------------------------------------------------------------------------------
# small reStructuredText helpers
# --------------------------------------------------------------------------------------------

def _esc(text: Any) -> str:
    """Plain text safe in reStructuredText (no accidental markup)."""
    out = str(text)
    for ch in ("\\", "*", "`", "|", "_", "[", "]"):
        out = out.replace(ch, "\\" + ch)
    return out


def _lit(value: Any) -> str:
    """An inline literal of ``value`` (``repr`` for non-strings)."""
    text = value if isinstance(value, str) else _fmt(value)
    text = text.replace("``", "`\u200b`")
    return f"``{text}``" if text.strip() else "—"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return repr(value) if value != 0 else "0.0"
    return repr(value)


def _title(text: str, char: str, overline: bool = False) -> str:
    line = char * max(len(text), 3)
    return f"{line}\n{text}\n{line}\n" if overline else f"{text}\n{line}\n"


def _table(header: Sequence[str], rows: Iterable[Sequence[str]], widths: Sequence[int] | None = None) -> str:
    """A ``list-table``; cells are reStructuredText already."""
    rows = list(rows)
    lines = [".. list-table::", "   :header-rows: 1"]
    if widths:
        lines.append(f"   :widths: {' '.join(str(w) for w in widths)}")
    lines.append("")
    for row in [list(header), *rows]:
        for i, cell in enumerate(row):
            cell = str(cell).replace("\n", " ") or "—"
            lines.append(f"   {'* -' if i == 0 else '  -'} {cell}")
    return "\n".join(lines) + "\n"


def _labelled_section(label: str, title: str, char: str = "-") -> str:
    return f".. _{label}:\n\n{_title(title, char)}\n"


def _docstring(obj: Any) -> str:
    return inspect.cleandoc(getattr(obj, "__doc__", None) or "")


# --------------------------------------------------------------------------------------------
# facts derived from the registry
# --------------------------------------------------------------------------------------------

def conventions_of(alg: Any) -> tuple[str, ...]:
    return tuple(alg.hyper_cls._conventions)


def hyper_by_convention(alg: Any) -> dict[str, Any]:
    """The default hyperparameters under each convention the entry knows."""
    out = {}
    for conv in conventions_of(alg):
        try:
            out[conv] = alg.hyper(convention=conv)
        except (TypeError, ValueError):
            pass
    return out


def _probes(ftype: str, default: Any) -> list[Any]:
    if "bool" in ftype and isinstance(default, bool):
        return [1]
    if "tuple" in ftype:
        return [0.5, (0.5, 1.0), (-0.5, 0.5), (float("nan"), 0.5)]
    if ftype.startswith("str") or isinstance(default, str):
        return ["not-a-choice"]
    return [-1.0, float("inf"), float("nan"), 1.5, 2.5, 0.0, "1", 0.5]


def constraints(alg: Any) -> dict[str, list[str]]:
    """What the validators enforce on each field, read from their own messages.

    Every field is set, alone, to a few probe values; the rejection messages that name the field
    (everything before ``"; got"``) are the allowed range.  Nothing is hand-written, so the page
    cannot disagree with the code.
    """
    out: dict[str, list[str]] = {}
    defaults = alg.hyper()
    for f in dataclasses.fields(alg.hyper_cls):
        msgs: list[str] = []
        for probe in _probes(str(f.type), getattr(defaults, f.name)):
            try:
                alg.hyper(**{f.name: probe})
            except (TypeError, ValueError) as exc:
                msg = str(exc).split("; got")[0].strip()
                if msg.startswith(f.name) and msg not in msgs:
                    msgs.append(msg)
        out[f.name] = msgs
    return out


def rejected(alg: Any) -> list[tuple[dict, str, str]]:
    """The entry's error cases, with the message the code actually raises."""
    rows = []
    for case in alg.errors:
        try:
            alg.hyper(**dict(case.kwargs))
            rows.append((dict(case.kwargs), "(accepted)", ""))
        except Exception as exc:  # noqa: BLE001 - the error type is what is shown
            rows.append((dict(case.kwargs), type(exc).__name__, str(exc)))
    return rows


def first_steps(alg: Any, convention_hypers: Mapping[str, Any]) -> list[tuple[str, str, float | None, float | None]]:
    """``(convention, variant, Δθ_1 with v0 = 0, Δθ_1 with v0 = FIRST_STEP_V0)`` from the oracle,
    float64, θ_0 = 0, g_1 = FIRST_STEP_GRAD."""
    import numpy as np

    def step(hp: Any, v0: Any) -> float | None:
        try:
            p0 = np.zeros(1)
            state = alg.init(p0, hp, v0=v0)
            p1, _ = alg.update(p0, np.full(1, FIRST_STEP_GRAD), state, hp)
            return float(p1[0])
        except (TypeError, ValueError, ZeroDivisionError):
            return None

    rows = []
    has_bc = "bias_correction" in {f.name for f in dataclasses.fields(alg.hyper_cls)}
    for conv, hp in convention_hypers.items():
        variants: list[tuple[str, dict]] = [("defaults", {})]
        if has_bc:   # the other bias-correction modes (ALGORITHMS §1.3)
            variants += [(f"bias_correction={b!r}", {"bias_correction": b})
                         for b in ("standard", "none", "eps_hat") if b != hp.bias_correction]
        for label, change in variants:
            try:
                h = hp.replace(**change)
            except (TypeError, ValueError):
                continue
            rows.append((conv, label, step(h, None), step(h, FIRST_STEP_V0) if alg.second_moment else None))
    return rows


def _import_target(target: str) -> Any:
    module, _, name = target.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)
    except Exception:  # noqa: BLE001 - an uninstalled or broken framework is "not available"
        return None


def framework_defaults(target: str) -> dict[str, Any] | None:
    """The keyword defaults of a framework's optimizer (``None`` when it is not importable)."""
    obj = _import_target(target)
    if obj is None:
        return None
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return None
    return {n: p.default for n, p in sig.parameters.items()
            if p.default is not inspect.Parameter.empty and p.kind is not inspect.Parameter.VAR_KEYWORD}


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b or (a == b and type(a) is type(b))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=1e-12, abs_tol=0.0) or (a == b)
    return a == b


def _perturbed(value: Any) -> list[Any]:
    if isinstance(value, bool):
        return [not value]
    if isinstance(value, float):
        return [value * 0.5 + 1e-3, value * 0.25 + 2e-3]
    if isinstance(value, int) and not isinstance(value, bool):
        return [value + 1]
    if isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, float) for v in value):
        return [(value[0] * 0.5, value[1]), (value[0], value[1] * 0.5)]
    return []


def name_map(alg: Any, ref: Any, hp: Any) -> dict[str, list[str]]:
    """v0ref field -> the framework keywords it feeds, found by perturbing one field at a time."""
    base = ref.kwargs(hp)
    out: dict[str, list[str]] = {}
    for f in dataclasses.fields(alg.hyper_cls):
        if f.name == "convention":
            continue
        changed: list[str] = []
        for value in _perturbed(getattr(hp, f.name)):
            try:
                h = hp.replace(**{f.name: value})
                if not ref.applies(h):
                    continue
                kw = ref.kwargs(h)
            except (TypeError, ValueError):
                continue
            changed += [k for k in kw if k in base and not _same(kw[k], base[k]) and k not in changed]
        if changed:
            out[f.name] = changed
    return out


def _ref_start(alg: Any, ref: Any) -> tuple[str, dict[str, Any], Any] | None:
    """Hyperparameters the reference covers: ``(convention, changes, hyper)``.

    Tried in order: each convention's defaults (the framework's own name first), the entry's
    conformance ``cases``, then each convention's defaults with one boolean flag flipped.
    """
    hypers = hyper_by_convention(alg)
    order = [ref.framework] + [c for c in hypers if c != ref.framework]
    candidates: list[tuple[str, dict[str, Any]]] = [(c, {}) for c in order if c in hypers]
    for case in alg.cases:
        case = dict(case)
        candidates.append((case.pop("convention", "torch"), case))
    for conv in order:
        if conv in hypers:
            candidates += [(conv, {f.name: not getattr(hypers[conv], f.name)})
                           for f in dataclasses.fields(alg.hyper_cls) if isinstance(getattr(hypers[conv], f.name), bool)]
    for conv, changes in candidates:
        try:
            hp = alg.hyper(convention=conv, **changes)
        except (TypeError, ValueError):
            continue
        if _safe(lambda: ref.applies(hp)):
            return conv, changes, hp
    return None


class Reproduction(NamedTuple):
    convention: str | None
    changes: dict[str, Any]          # v0ref hyperparameters to change from that convention's defaults
    verified: bool                   # ref.kwargs(hyper) equals the framework's defaults and ref.applies
    unmatched: dict[str, Any]        # framework defaults no v0ref hyperparameter reaches


def reproduce(alg: Any, ref: Any, fw_defaults: Mapping[str, Any]) -> Reproduction:
    """The v0ref hyperparameters whose ``ref.kwargs`` are the framework's own defaults.

    Start from the convention the reference covers, and for every keyword whose value differs
    from the framework's default, find the field that feeds it (`name_map`) and set it; the result
    is verified by recomputing ``ref.kwargs`` — never assumed.
    """
    found = _ref_start(alg, ref)
    if found is None:
        return Reproduction(None, {}, False, {})
    conv, start, hp = found
    fmap = name_map(alg, ref, hp)
    feeds = {kw: field for field, kws in fmap.items() for kw in kws}
    changes: dict[str, Any] = dict(start)
    unmatched: dict[str, Any] = {}
    base = ref.kwargs(hp)
    for kw, value in base.items():
        if kw not in fw_defaults or fw_defaults[kw] is None or _same(value, fw_defaults[kw]):
            continue
        field = feeds.get(kw)
        target = fw_defaults[kw]
        if field is None:
            unmatched[kw] = target
            continue
        current = changes.get(field, getattr(hp, field))
        if isinstance(current, tuple):   # a pair such as betas -> (b1, b2)
            idx = fmap[field].index(kw) if len(fmap[field]) == len(current) else None
            if idx is None:
                unmatched[kw] = target
                continue
            current = tuple(target if i == idx else c for i, c in enumerate(current))
            changes[field] = current
        else:
            changes[field] = type(current)(target) if isinstance(current, (int, float)) and not isinstance(current, bool) \
                and isinstance(target, (int, float)) else target
    verified = False
    try:
        h = hp.replace(**changes)
        kw = ref.kwargs(h)
        verified = ref.applies(h) and not unmatched and all(
            _same(v, fw_defaults[k]) for k, v in kw.items() if k in fw_defaults and fw_defaults[k] is not None)
    except (TypeError, ValueError):
        pass
    return Reproduction(conv, changes, verified, unmatched)


def _call(name: str, kwargs: Mapping[str, Any]) -> str:
    return f"{name}({', '.join(f'{k}={_fmt(v)}' for k, v in kwargs.items())})"


def hyper_call(alg: Any, convention: str | None, changes: Mapping[str, Any]) -> str:
    kw = ({"convention": convention} if convention and convention != "torch" else {}) | dict(changes)
    return _call(f"OPTIMIZERS[{alg.name!r}].hyper", kw)


def port_support(alg: Any, ports: Mapping[str, Any]) -> list[tuple[str, str]]:
    """``(port, status)`` for every installed port."""
    rows = []
    for name, port in ports.items():
        if isinstance(port, str):            # the import error
            rows.append((name, f"not loadable here ({port})"))
            continue
        try:
            ok = port.supports(alg.name)
        except Exception as exc:  # noqa: BLE001
            rows.append((name, f"supports() raised {type(exc).__name__}"))
            continue
        if not ok:
            rows.append((name, "no"))
            continue
        detail = ""
        check = getattr(port, "supports_hyper", None)
        if check is not None:
            convs = [c for c in conventions_of(alg) if _safe(lambda c=c: check(alg.name, {"convention": c}))]
            detail = f" (conventions: {', '.join(convs) or 'none'})"
        rows.append((name, f"yes{detail}; dtypes {', '.join(getattr(port, 'dtypes', ()))}"))
    return rows


def _safe(fn: Callable[[], Any]) -> bool:
    try:
        return bool(fn())
    except Exception:  # noqa: BLE001
        return False


def load_ports() -> dict[str, Any]:
    """Installed ports by name; a port that fails to import maps to its error text."""
    from v0ref.backends import available_ports, get_port
    out: dict[str, Any] = {}
    for name in available_ports():
        try:
            out[name] = get_port(name)
        except Exception as exc:  # noqa: BLE001 - shown on the page, not hidden
            out[name] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:80]}" if str(exc) else type(exc).__name__
    return out


# --------------------------------------------------------------------------------------------
# pages
# --------------------------------------------------------------------------------------------

def optimizer_page(alg: Any, ports: Mapping[str, Any], siblings: Sequence[str]) -> str:
    hypers = hyper_by_convention(alg)
    convs = list(hypers)
    parts = [f".. _alg-{alg.name}:\n\n", _title(f"{alg.name} — {alg.summary}", "=", overline=True), "\n"]
    meta = [f"family ``{alg.family}``", f"kind ``{alg.kind}``",
            f"hyperparameters ``{alg.hyper_cls.__module__}.{alg.hyper_cls.__qualname__}``"]
    if alg.aliases:
        meta.append("aliases " + ", ".join(_lit(a) for a in alg.aliases))
    parts.append("Registry entry ``v0ref.OPTIMIZERS[" + repr(alg.name) + "]``: " + "; ".join(meta) + ".\n")
    if siblings:
        parts.append("Same family (same module, same math): "
                     + ", ".join(f":ref:`{s} <alg-{s}>`" for s in siblings) + ".\n")
    parts.append("\n" + _title("Update rule, conventions and sources", "-") + "\n")
    parts.append((textwrap.dedent(alg.doc).strip() or "(no docstring)") + "\n\n")

    # hyperparameters
    parts.append(_title("Hyperparameters", "-") + "\n")
    parts.append("Defaults under each ``convention`` (``alg.hyper(convention=...)``) and what the "
                 "validators reject (their own messages, probed at build time).\n\n")
    cons = constraints(alg)
    rows = []
    for f in dataclasses.fields(alg.hyper_cls):
        cells = [_lit(f.name), _lit(str(f.type))]
        cells += [_lit(getattr(hypers[c], f.name)) for c in convs]
        cells.append("; ".join(_esc(m) for m in cons.get(f.name, [])) or "—")
        rows.append(cells)
    parts.append(_table(["field", "type", *[f"``{c}``" for c in convs], "allowed (from the validators)"], rows))
    if alg.errors:
        parts.append("\nRejected inputs (the entry's ``errors``, raised by ``alg.hyper(...)``):\n\n")
        parts.append(_table(["arguments", "error", "message"],
                            [[_lit(_call("hyper", kw)), _lit(err), _esc(msg)] for kw, err, msg in rejected(alg)]))

    # state
    parts.append("\n" + _title("State", "-") + "\n")
    parts.append("``state.step`` counts the updates taken; the arrays, which initial moment fills "
                 "each, and their names in the frameworks the oracle is compared with:\n\n")
    frameworks = []
    for ref in alg.references:
        if ref.state and ref.target not in [t for t, _ in frameworks]:
            frameworks.append((ref.target, ref.state))
    rows = []
    for s in alg.state_names:
        fill = "v0" if s in alg.second_moment else ("m0" if s in alg.first_moment else "—")
        rows.append([_lit(s), fill, *[_lit(m.get(s)) if m.get(s) else "—" for _, m in frameworks]])
    if rows:
        parts.append(_table(["array", "initialised by", *[f"``{t}``" for t, _ in frameworks]], rows))
    else:
        parts.append("No state arrays: v0 and m0 do not apply.\n")

    # first step
    if alg.kind == "elementwise":
        parts.append("\n" + _title("First step", "-") + "\n")
        v0_col = f"Δθ₁, v0 = {FIRST_STEP_V0}" if alg.second_moment else "Δθ₁, v0 (not applicable)"
        parts.append(f"Computed by the oracle at build time (float64, θ₀ = 0, g₁ = {FIRST_STEP_GRAD}, every "
                     "other hyperparameter at the convention's default): how the conventions and the "
                     "paper's non-zero v0 change the first update (see :doc:`/paper`).\n\n")
        rows = [[_lit(c), _lit(label), _lit(f"{a:.9g}") if a is not None else "—",
                 _lit(f"{b:.9g}") if b is not None else "—"] for c, label, a, b in first_steps(alg, hypers)]
        parts.append(_table(["convention", "variant", "Δθ₁, v0 = 0", v0_col], rows))

    # references
    parts.append("\n" + _title("Framework references", "-") + "\n")
    if not alg.references:
        parts.append("No framework implements this algorithm; the oracle is checked against closed forms.\n")
    else:
        parts.append("Each reference is compared with the oracle step by step in ``tests/test_references.py`` "
                     "(float64, with and without a prefilled v0/m0) for the hyperparameters it applies to. "
                     "The call below is ``Reference.kwargs`` applied to the v0ref hyperparameters on the right; the full "
                     "name and default mapping is on :ref:`conv-" + alg.name + "`.\n\n")
        rows = []
        for ref in alg.references:
            found = _ref_start(alg, ref)
            if found is None:
                rows.append([_lit(ref.framework), "(no default or conformance setting is covered)", "—"])
                continue
            rows.append([_lit(ref.framework), _lit(_call(ref.target, ref.kwargs(found[2]))),
                         _lit(hyper_call(alg, found[0], found[1]))])
        parts.append(_table(["framework", "equivalent call", "v0ref hyperparameters"], rows, widths=[15, 55, 30]))

    # ports
    parts.append("\n" + _title("Ports", "-") + "\n")
    rows = [[_lit(n), _esc(s)] for n, s in port_support(alg, ports)]
    parts.append(_table(["port", "implements"], rows) if rows else "No port is installed.\n")
    if alg.tolerance:
        parts.append(f"\nConformance tolerance override {_lit(dict(alg.tolerance))}: {_esc(alg.tolerance_reason)}\n")
    parts.append(f"\nConformance hyperparameter sets (``cases``): {len(alg.cases)}; "
                 + ", ".join(_lit(_call('hyper', c)) for c in alg.cases) + ".\n")
    return "".join(parts)


def optimizers_index(algs: Mapping[str, Any], ports: Mapping[str, Any]) -> str:
    parts = [".. _optimizers:\n\n", _title("Optimizers", "=", overline=True), "\n",
             f"{len(algs)} entries of ``v0ref.OPTIMIZERS``, generated from the registry. ",
             "``v0`` / ``m0`` name the state arrays an initial second / first moment fills.\n\n"]
    loaded = {n: p for n, p in ports.items() if not isinstance(p, str)}
    rows = []
    for name, alg in algs.items():
        supported = [n for n, p in loaded.items() if _safe(lambda p=p: p.supports(name))]
        rows.append([f":ref:`{name} <alg-{name}>`", _lit(alg.family), _lit(alg.kind),
                     ", ".join(alg.second_moment) or "—", ", ".join(alg.first_moment) or "—",
                     ", ".join(_lit(r.target) for r in alg.references) or "—",
                     ", ".join(supported) or "—", _esc(alg.summary)])
    parts.append(_table(["name", "family", "kind", "v0", "m0", "compared with", "ports", "summary"], rows))
    parts.append("\n.. toctree::\n   :hidden:\n\n" + "".join(f"   {n}\n" for n in algs))
    return "".join(parts)


def strategies_page(strategies: Mapping[str, Any]) -> str:
    import numpy as np

    import v0ref
    parts = [".. _strategies:\n\n", _title("Moment strategies (v0 / m0)", "=", overline=True), "\n",
             "Every entry of ``v0ref.STRATEGIES``; pass its name as ``v0=`` or ``m0=`` to any optimizer "
             "(``v0_scale`` is s or σ, ``m0_scale`` is s_m). Tensors with fewer than *ndim ≥* "
             "dimensions get zeros unless ``v0_min_ndim`` says otherwise. Details and the data "
             "estimator: `v0ref.moments`, `v0ref.stats.GradStats`.\n\n"]
    rows = [[f":ref:`{s.name} <strategy-{s.name}>`", _lit(s.formula_v0), _lit(s.formula_m0), str(s.min_ndim),
             _lit(s.needs or "—"), _esc(s.source)] for s in strategies.values()]
    parts.append(_table(["name", "v0", "m0", "ndim ≥", "needs", "source"], rows))

    # poster σ vs code scale: measured, not asserted
    parts.append("\n.. _sigma-vs-scale:\n\n" + _title("Poster σ vs the code's scale", "-") + "\n")
    shape = (256, 128)
    fan_in, fan_out = v0ref.moments.fans(shape)
    rows = []
    for name, theory in (("random-chi2", "σ/(fan_in+fan_out)"), ("random", "2s/(fan_in+fan_out)"),
                         ("random-kaiming", "2s/fan_in")):
        if name not in strategies:
            continue
        v0 = v0ref.moments.resolve("v0", name, [np.zeros(shape)], scale=1.0, key=v0ref.random.key(0))[0]
        expected = {"random-chi2": 1 / (fan_in + fan_out), "random": 2 / (fan_in + fan_out),
                    "random-kaiming": 2 / fan_in}[name]
        rows.append([_lit(name), _lit(theory), _lit(f"{float(np.mean(v0)):.5g}"), _lit(f"{expected:.5g}"),
                     _lit(f"{float(np.mean(v0)) / expected:.4f}")])
    parts.append(f"The poster's Eq. 11 is ``v0 ~ σ/(fan_in+fan_out)·χ²₁``; the code's ``random`` squares a "
                 f"Xavier-normal draw, whose variance is ``2/(fan_in+fan_out)``, so the code's ``init_scale = s`` "
                 f"is the poster's ``σ = 2s`` (ALGORITHMS §1.6). Measured at build time on a {shape} weight "
                 f"(fan_in = {fan_in}, fan_out = {fan_out}), scale 1, ``key(0)``:\n\n")
    parts.append(_table(["strategy", "E[v0]", "measured mean", "expected", "ratio"], rows))
    parts.append("\nThe code's CNN default ``s = 100`` is therefore poster ``σ = 200``; ``random-chi2`` takes σ "
                 "exactly as printed on the poster.\n\n")

    for s in strategies.values():
        parts.append(_labelled_section(f"strategy-{s.name}", s.name))
        parts.append(f"* v0: {_lit(s.formula_v0)}\n* m0: {_lit(s.formula_m0)}\n"
                     f"* default ndim rule: tensors with ``ndim >= {s.min_ndim}``\n"
                     f"* needs: {_lit(s.needs or 'nothing')}"
                     + (" (``key=``)" if s.needs and "key" in s.needs else "")
                     + (" (``grad_stats=`` a `v0ref.stats.GradStats`)" if s.needs and "stats" in s.needs else "")
                     + f"\n* source: {_esc(s.source)}\n\n")
    return "".join(parts)


def _group_by_object(registry: Mapping[str, Any]) -> list[tuple[Any, list[str]]]:
    groups: dict[int, tuple[Any, list[str]]] = {}
    for name, obj in registry.items():
        groups.setdefault(id(obj), (obj, []))[1].append(name)
    return list(groups.values())


def callables_page(title: str, label: str, intro: str, registry: Mapping[str, Any], module: str) -> str:
    parts = [f".. _{label}:\n\n", _title(title, "=", overline=True), "\n", intro, "\n\n"]
    groups = _group_by_object(registry)
    rows = [[f":ref:`{names[0]} <{label}-{names[0]}>`", ", ".join(_lit(n) for n in names[1:]) or "—",
             _esc(_docstring(obj).split("\n\n")[0].replace("\n", " "))] for obj, names in groups]
    parts.append(_table(["name", "also registered as", "summary"], rows, widths=[20, 20, 60]))
    parts.append("\n")
    for obj, names in groups:
        parts.append("".join(f".. _{label}-{n}:\n" for n in names) + "\n")
        parts.append(_title(names[0], "-") + "\n")
        if len(names) > 1:
            parts.append("Registered as " + ", ".join(_lit(n) for n in names) + ".\n\n")
        directive = "autoclass" if inspect.isclass(obj) else "autofunction"
        qual = f"{getattr(obj, '__module__', module)}.{obj.__qualname__}"
        parts.append(f".. {directive}:: {qual}\n   :no-index:\n\n")
    return "".join(parts)


FLAG_FIELDS = (
    ("eps_root", "ε inside the sqrt, added to v̂ (optax ``eps_root``)"),
    ("eps_in_sqrt", "ε inside (True) or outside (False) the sqrt"),
    ("bias_correction", "``standard`` / ``none`` / ``eps_hat`` (ε̂: ε on the uncorrected sqrt(v))"),
    ("decoupled_weight_decay", "L2 in the gradient (False) or decoupled θ ← θ − lr·λ·θ (True)"),
    ("fixed_decay", "decoupled decay not scaled by lr"),
    ("nesterov", "Nesterov momentum"),
    ("form", "SGD momentum: torch buffer or Sutskever velocity"),
    ("momentum_decay", "NAdam's ψ in μ_t = β1(1 − ½·0.96^{tψ})"),
    ("initial_accumulator_value", "constant start of the accumulator (AdaGrad)"),
    ("initial_scale", "constant start of v (optax rmsprop)"),
    ("initial_accumulator", "constant start of m and v (Yogi)"),
    ("amsgrad", "running max of v"),
    ("threshold", "RAdam rectification threshold on ρ_t"),
)


def conventions_page(algs: Mapping[str, Any]) -> str:
    parts = [".. _conventions:\n\n", _title("Convention mapping: torch.optim, optax, keras, v0ref", "=", overline=True),
             "\n",
             "The same optimizer name computes different numbers in different frameworks: ε inside or "
             "outside the square root or on the uncorrected moment (ε̂), L2 vs decoupled weight decay, "
             "the Nesterov form, the initial accumulator. For every registry entry this page gives the "
             "framework's hyperparameter names and defaults and the v0ref hyperparameters that reproduce "
             "them. Everything except the keras rows is derived from the registry at build time: "
             "``Reference.kwargs`` applied to v0ref's defaults gives the framework call, one-field "
             "perturbations give the name mapping, and the reproduction is verified by recomputing "
             "``Reference.kwargs`` against the framework's own signature defaults (needs the framework "
             "installed). Keras rows are data read from the keras 3 source (ANCHORS.md §1) and checked "
             "against a NumPy transcription of keras' update in ``tests/test_docs.py``.\n\n",
             _title("Flags across algorithms", "-"), "\n",
             "Defaults of the convention-sensitive fields under ``torch`` / ``optax`` / ``paper`` (``·`` "
             "where the entry has no such field):\n\n"]
    flags = [f for f, _ in FLAG_FIELDS if any(f in {x.name for x in dataclasses.fields(a.hyper_cls)} for a in algs.values())]
    rows = []
    for name, alg in algs.items():
        hypers = hyper_by_convention(alg)
        fields = {x.name for x in dataclasses.fields(alg.hyper_cls)}
        cells = []
        for flag in flags:
            if flag not in fields:
                cells.append("·")
                continue
            vals = [_fmt(getattr(hypers[c], flag)) for c in ("torch", "optax", "paper") if c in hypers]
            cells.append(_lit(vals[0]) if len(set(vals)) == 1 else _lit(" / ".join(vals)))
        rows.append([f":ref:`{name} <conv-{name}>`", *cells])
    parts.append(_table(["algorithm", *[f"``{f}``" for f in flags]], rows))
    parts.append("\n" + "".join(f"* ``{f}``: {d}\n" for f, d in FLAG_FIELDS if f in flags) + "\n")

    for name, alg in algs.items():
        parts.append(_labelled_section(f"conv-{name}", name))
        parts.append(f"Algorithm page: :ref:`alg-{name}`. Conventions: "
                     + ", ".join(_lit(c) for c in conventions_of(alg)) + ".\n\n")
        rows = []
        for ref in alg.references:
            fw = framework_defaults(ref.target)
            found = _ref_start(alg, ref)
            if found is None:
                rows.append([_lit(ref.target), "—", "—", "no default or conformance setting is covered"])
                continue
            names = name_map(alg, ref, found[2])
            names_txt = ", ".join(f"``{f}`` → " + ", ".join(f"``{k}``" for k in ks) for f, ks in names.items())
            if fw is None:
                rows.append([_lit(ref.target), "(not installed here)", names_txt or "—",
                             _lit(hyper_call(alg, found[0], found[1])) + " (framework defaults not checked)"])
                continue
            shown = {k: v for k, v in fw.items() if k in ref.kwargs(found[2])}
            rep = reproduce(alg, ref, fw)
            status = (_lit(hyper_call(alg, rep.convention, rep.changes)) + (" ✓ verified" if rep.verified else
                      " (not verified: " + _esc(", ".join(f"{k}={_fmt(v)}" for k, v in rep.unmatched.items())
                      or "kwargs differ") + ")"))
            rows.append([_lit(ref.target), ", ".join(_lit(f"{k}={_fmt(v)}") for k, v in shown.items()) or "—",
                         names_txt or "—", status])
        keras = KERAS.get(name)
        if keras is not None:
            alg.hyper(**keras.hyper)   # a renamed or removed field fails the build here
            rows.append([_lit(keras.target), ", ".join(_lit(f"{k}={_fmt(v)}") for k, v in keras.defaults.items()),
                         ", ".join(f"``{v}`` ← ``{k}``" for k, v in keras.names.items()),
                         _lit(hyper_call(alg, None, keras.hyper)) + (" ✓ tested" if keras.exact else " ≈ closest")
                         + ". " + keras.note])
        if rows:
            parts.append(_table(["implementation", "its defaults", "v0ref field → its keyword",
                                 "v0ref hyperparameters reproducing its defaults"], rows, widths=[15, 30, 25, 30]))
        else:
            parts.append("No framework implements this entry.\n")
        parts.append("\n")
    return "".join(parts)


def ports_page(algs: Mapping[str, Any], ports: Mapping[str, Any]) -> str:
    parts = [".. _port-matrix:\n\n", _title("Port support matrix", "=", overline=True), "\n",
             "Installed ports (``v0ref.backends.available_ports()``) and what each implements "
             "(``port.supports``), as found on the machine that built these pages. "
             "Verify a port with ``v0ref conform --port NAME`` (:doc:`/guides/ports`).\n\n"]
    rows = []
    for name, port in ports.items():
        if isinstance(port, str):
            rows.append([_lit(name), "—", _esc(f"not loadable here ({port})")])
        else:
            n = sum(_safe(lambda a=a: port.supports(a)) for a in algs)
            rows.append([_lit(name), ", ".join(getattr(port, "dtypes", ())), f"{n} of {len(algs)} algorithms"])
    parts.append(_table(["port", "dtypes", "implements"], rows))
    loaded = {n: p for n, p in ports.items() if not isinstance(p, str)}
    if loaded:
        parts.append("\n")
        rows = [[f":ref:`{a} <alg-{a}>`", *["✓" if _safe(lambda p=p: p.supports(a)) else "·" for p in loaded.values()]]
                for a in algs]
        parts.append(_table(["algorithm", *[f"``{n}``" for n in loaded]], rows))
    return "".join(parts)


def objectives_page(objectives: Mapping[str, Any]) -> str:
    return callables_page(
        "Objectives", "objective",
        "Test problems of ``v0ref.objectives.OBJECTIVES`` (loss, gradient, Hessian-vector products "
        "in any array-API namespace), used by the whole-vector methods and the conformance harness.",
        objectives, "v0ref.objectives")


def api_pages() -> dict[str, str]:
    """One autodoc page per public module of v0ref (found by walking the package)."""
    import pkgutil

    import v0ref
    names = ["v0ref"]
    for mod in pkgutil.walk_packages(v0ref.__path__, "v0ref."):
        parts = mod.name.split(".")
        if any(p.startswith("_") for p in parts[1:]) or parts[1] == "algorithms" and len(parts) > 2:
            continue     # private modules; algorithm modules are the optimizer pages
        names.append(mod.name)
    pages, toc = {}, []
    for name in sorted(names):
        try:
            importlib.import_module(name)
        except ImportError:      # an optional framework is missing here
            continue
        pages[f"api/{name}.rst"] = (_title(f"``{name}``", "=", overline=True) + "\n"
                                    f".. automodule:: {name}\n   :members:\n")
        toc.append(name)
    pages["api/index.rst"] = (".. _api:\n\n" + _title("API reference", "=", overline=True)
                              + "\nGenerated from the docstrings of every public module.\n\n"
                              ".. toctree::\n   :maxdepth: 1\n\n" + "".join(f"   {n}\n" for n in toc))
    return pages


def render_all() -> dict[str, str]:
    """Every generated page: ``relative path -> reStructuredText``."""
    import v0ref
    algs = dict(v0ref.OPTIMIZERS.items())
    ports = load_ports()
    families: dict[str, list[str]] = {}
    for name, alg in algs.items():
        families.setdefault(alg.family, []).append(name)
    pages = {f"optimizers/{name}.rst": optimizer_page(alg, ports, [s for s in families[alg.family] if s != name])
             for name, alg in algs.items()}
    pages["optimizers/index.rst"] = optimizers_index(algs, ports)
    pages["strategies.rst"] = strategies_page(v0ref.STRATEGIES)
    pages["initializers.rst"] = callables_page(
        "Initializers", "init",
        "Weight and bias initializers of ``v0ref.INITS`` (`v0ref.init`): the same key gives the same numbers "
        "on every backend. Torch-style ``*_`` names and jax names are registered too.",
        v0ref.INITS, "v0ref.init")
    pages["schedules.rst"] = callables_page(
        "Schedules", "schedule",
        "Learning-rate and momentum schedules of ``v0ref.SCHEDULES`` (`v0ref.schedules`): pure "
        "functions of the step, checked value by value against torch.optim.lr_scheduler and optax.",
        v0ref.SCHEDULES, "v0ref.schedules")
    pages["conventions.rst"] = conventions_page(algs)
    pages["ports.rst"] = ports_page(algs, ports)
    try:
        from v0ref import objectives
    except ImportError:
        objectives = None
    if objectives is not None and hasattr(objectives, "OBJECTIVES"):
        pages["objectives.rst"] = objectives_page(objectives.OBJECTIVES)
    pages.update(api_pages())
    pages["index.rst"] = (_title("Reference (generated)", "=", overline=True)
                          + "\nPages generated from the registries at build time.\n\n"
                          ".. toctree::\n   :maxdepth: 1\n\n"
                          + "".join(f"   {p[:-4]}\n" for p in ("optimizers/index.rst", "strategies.rst",
                                                                "initializers.rst", "schedules.rst",
                                                                "objectives.rst", "conventions.rst",
                                                                "ports.rst", "api/index.rst") if p in pages))
    return pages


def write_pages(root: Path, pages: Mapping[str, str]) -> int:
    """Write ``pages`` under ``root``; unchanged files are left alone, stale ones removed."""
    written = 0
    for rel, text in pages.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            written += 1
    for path in root.rglob("*.rst"):
        if path.relative_to(root).as_posix() not in pages:
            path.unlink()
    return written


def _generate(app: Any) -> None:
    from sphinx.util import logging
    written = write_pages(Path(app.srcdir) / GENERATED, render_all())
    logging.getLogger(__name__).info(f"v0ref_registry: {written} generated page(s) updated")


def setup(app: Any) -> dict[str, Any]:
    app.connect("builder-inited", _generate)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
