"""The ``v0ref`` command.

* ``v0ref list`` — every registered algorithm, moment strategy, initializer, schedule, backend and
  port, all read from the registries (``--json`` for machine-readable output);
* ``v0ref conform`` — verify ports against the oracle and print the table (exit status 1 when
  any case fails; ``--json FILE`` writes the full report);
* ``v0ref show ALGORITHM`` — its math, hyperparameters with defaults, state and references.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from . import __version__


def _inventory() -> dict[str, Any]:
    from . import BACKENDS, OPTIMIZERS, STRATEGIES
    from .backends import available_ports

    algorithms = []
    for name, alg in OPTIMIZERS.items():
        algorithms.append({
            "name": name, "family": alg.family, "kind": alg.kind, "summary": alg.summary,
            "state": list(alg.state_names), "v0": list(alg.second_moment), "m0": list(alg.first_moment),
            "defaults": alg.defaults(),
            "references": [r.target for r in alg.references],
        })
    strategies = [{"name": s.name, "v0": s.formula_v0, "m0": s.formula_m0, "min_ndim": s.min_ndim,
                   "needs": s.needs, "source": s.source} for s in STRATEGIES.values()]
    from . import INITS, SCHEDULES
    inits = [{"name": n, "summary": _first_line(f)} for n, f in INITS.items()]
    schedules = [{"name": n, "summary": _first_line(f)} for n, f in SCHEDULES.items()]
    return {"version": __version__, "algorithms": algorithms, "strategies": strategies,
            "initializers": inits, "schedules": schedules,
            "backends": list(BACKENDS), "ports": list(available_ports())}


def _first_line(obj: Any) -> str:
    doc = (getattr(obj, "__doc__", None) or "").strip()
    return doc.splitlines()[0] if doc else ""


def _print_tables(inv: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"v0ref {inv['version']} — algorithms ({len(inv['algorithms'])})")
    for col in ("name", "family", "v0 → state", "m0 → state", "compared with", "summary"):
        table.add_column(col, overflow="fold")
    for a in inv["algorithms"]:
        table.add_row(a["name"], a["family"], ", ".join(a["v0"]) or "—", ", ".join(a["m0"]) or "—",
                      ", ".join(a["references"]) or "—", a["summary"])
    console.print(table)

    table = Table(title=f"moment strategies ({len(inv['strategies'])}): v0=…, m0=…")
    for col in ("name", "v0", "m0", "ndim ≥", "needs", "source"):
        table.add_column(col, overflow="fold")
    for s in inv["strategies"]:
        table.add_row(s["name"], s["v0"], s["m0"], str(s["min_ndim"]), s["needs"] or "—", s["source"])
    console.print(table)
    for key, title in (("initializers", "weight and bias initializers (v0ref.init)"),
                       ("schedules", "learning-rate and momentum schedules (v0ref.schedules)")):
        table = Table(title=f"{title}: {len(inv[key])}")
        table.add_column("name")
        table.add_column("summary", overflow="fold")
        for item in inv[key]:
            table.add_row(item["name"], item["summary"])
        console.print(table)
    console.print(f"backends: {', '.join(inv['backends'])}")
    console.print(f"ports:    {', '.join(inv['ports'])}")


def _show(name: str) -> None:
    import dataclasses
    from rich.console import Console
    from rich.table import Table
    from . import OPTIMIZERS

    alg = OPTIMIZERS[name]
    console = Console()
    console.rule(f"{alg.name} — {alg.summary}")
    console.print(alg.doc.strip(), markup=False)   # docstrings hold [..] that are not rich markup
    table = Table(title="hyperparameters")
    for col in ("name", "default", "torch", "optax", "paper"):
        table.add_column(col)
    by_conv = {}
    for conv in alg.hyper_cls._conventions:
        try:
            by_conv[conv] = alg.hyper(convention=conv)
        except (TypeError, ValueError):
            pass
    for f in dataclasses.fields(alg.hyper_cls):
        cells = [repr(getattr(by_conv[c], f.name)) if c in by_conv else "—" for c in ("torch", "optax", "paper")]
        table.add_row(f.name, repr(getattr(alg.hyper(), f.name)), *cells)
    console.print(table)
    console.print(f"state: {', '.join(alg.state_names)} (+ step); v0 fills: {', '.join(alg.second_moment) or '—'}; "
                  f"m0 fills: {', '.join(alg.first_moment) or '—'}")
    console.print(f"conventions: {', '.join(alg.hyper_cls._conventions)}")
    console.print(f"compared with: {', '.join(r.target for r in alg.references) or '—'}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="v0ref", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"v0ref {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p_list = sub.add_parser("list", help="list algorithms, moment strategies, backends and ports")
    p_list.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p_conf = sub.add_parser("conform", help="verify ports against the oracle, step by step")
    p_conf.add_argument("--port", action="append", help="port to check (repeatable; default: every installed port)")
    p_conf.add_argument("--algorithm", action="append", help="algorithm to check (repeatable; default: all)")
    p_conf.add_argument("--dtype", action="append", help="dtype (repeatable; default: each port's own)")
    p_conf.add_argument("--steps", type=int, default=48, help="steps per case (default 48; a 1-ulp-per-step drift is caught by ~35)")
    p_conf.add_argument("--full", action="store_true", help="cross every hyperparameter set with every moment init")
    p_conf.add_argument("--json", metavar="FILE", help="write the full report as JSON")
    p_show = sub.add_parser("show", help="an algorithm's math, hyperparameters and conventions")
    p_show.add_argument("algorithm")
    args = parser.parse_args(argv)

    try:
        if args.command == "list":
            inv = _inventory()
            if args.json:
                json.dump(inv, sys.stdout, indent=2, default=str)
                sys.stdout.write("\n")
            else:
                _print_tables(inv)
            return 0
        if args.command == "show":
            _show(args.algorithm)
            return 0
        from . import conformance
        if args.steps < 1:
            parser.error("--steps must be at least 1")
        def progress(port: str, algorithm: str, dtype: str, results: list) -> None:
            ran = [r for r in results if not r.skipped]
            ok = sum(r.passed for r in ran)
            status = "skip" if not ran else ("ok" if ok == len(ran) else "FAIL")
            seconds = sum(r.seconds for r in results)
            print(f"  {port:>16s} {algorithm:<10s} {dtype:<8s} {ok}/{len(ran)} {status} ({seconds:.1f} s)",
                  file=sys.stderr, flush=True)

        report = conformance.run(ports=args.port, algorithms=args.algorithm, dtypes=args.dtype,
                                 steps=args.steps, full=args.full, progress=progress)
        report.print_table()
        if args.json:
            report.write_json(args.json)
        return 0 if report.passed else 1
    except (KeyError, LookupError, ValueError, TypeError) as exc:
        print(f"v0ref: error: {exc.args[0] if exc.args else exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
