"""The ``v0ref`` command.

``v0ref list`` prints every registered algorithm, moment strategy, backend and port — all read
from the registries, never from a hand-kept list.  ``--json`` prints the same as JSON.
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
            "defaults": {k: v for k, v in alg.defaults().items()},
            "references": [r.target for r in alg.references],
        })
    strategies = [{"name": s.name, "v0": s.formula_v0, "m0": s.formula_m0, "min_ndim": s.min_ndim,
                   "needs": s.needs, "source": s.source} for s in STRATEGIES.values()]
    return {"version": __version__, "algorithms": algorithms, "strategies": strategies,
            "backends": list(BACKENDS), "ports": list(available_ports())}


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
    console.print(f"backends: {', '.join(inv['backends'])}")
    console.print(f"ports:    {', '.join(inv['ports'])}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="v0ref", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"v0ref {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    p_list = sub.add_parser("list", help="list algorithms, moment strategies, backends and ports")
    p_list.add_argument("--json", action="store_true", help="print JSON instead of tables")
    args = parser.parse_args(argv)

    if args.command == "list":
        inv = _inventory()
        if args.json:
            json.dump(inv, sys.stdout, indent=2, default=str)
            sys.stdout.write("\n")
        else:
            _print_tables(inv)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
