"""Running the harness over ports × algorithms × dtypes, and reporting it (table and JSON)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..algorithms import OPTIMIZERS
from .cases import cases_for
from .runner import CaseResult, Tolerance, run_case

__all__ = ["Report", "run"]


@dataclass
class Report:
    results: list[CaseResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return all(r.passed for r in self.results)

    def rows(self) -> list[dict[str, Any]]:
        """One row per (port, algorithm, dtype): counts, worst errors and the first failure."""
        groups: dict[tuple[str, str, str], list[CaseResult]] = {}
        for r in self.results:
            groups.setdefault((r.port, r.case.algorithm, r.case.dtype), []).append(r)
        rows = []
        for (port, alg, dtype), rs in groups.items():
            ran = [r for r in rs if not r.skipped]
            failed = [r for r in ran if not r.passed]
            rows.append({
                "port": port, "algorithm": alg, "dtype": dtype, "cases": len(ran),
                "passed": len(ran) - len(failed), "skipped": len(rs) - len(ran),
                "stepwise_ratio": max((r.stepwise_ratio for r in ran), default=0.0),
                "free_ratio": max((r.free_ratio for r in ran), default=0.0),
                "status": "skip" if not ran else ("FAIL" if failed else "ok"),
                "first_failure": f"{failed[0].case.id}: {failed[0].failure.describe()}" if failed else "",
                "skip_reason": rs[0].skipped if not ran else "",
            })
        return rows

    def to_json(self) -> dict[str, Any]:
        return {"passed": self.passed, "seconds": self.seconds, "summary": self.rows(),
                "cases": [r.as_dict() for r in self.results]}

    def write_json(self, path: str) -> None:
        with open(path, "w") as fh:
            json.dump(self.to_json(), fh, indent=2, default=str)

    def print_table(self, console: Any = None) -> None:
        from rich.console import Console
        from rich.table import Table
        console = console or Console()
        table = Table(title="v0ref conform — ports against the float64 oracle")
        for col in ("port", "algorithm", "dtype", "cases", "step-wise / bound", "free-running / bound", "status"):
            table.add_column(col, justify="right" if col in ("cases", "step-wise / bound", "free-running / bound") else "left")
        for row in self.rows():
            style = {"ok": "green", "FAIL": "bold red", "skip": "yellow"}[row["status"]]
            table.add_row(row["port"], row["algorithm"], row["dtype"], f"{row['passed']}/{row['cases']}",
                          f"{row['stepwise_ratio']:.3f}", f"{row['free_ratio']:.3f}",
                          f"[{style}]{row['status']}[/{style}]")
        console.print(table)
        for row in self.rows():
            if row["first_failure"]:
                console.print(f"[bold red]FAIL[/] {row['port']}: {row['first_failure']}")
            elif row["skip_reason"]:
                console.print(f"[yellow]skip[/] {row['port']} {row['algorithm']} {row['dtype']}: {row['skip_reason']}")
        total = len([r for r in self.results if not r.skipped])
        bad = len([r for r in self.results if not r.passed])
        verdict = "[green]all conform[/]" if self.passed else f"[bold red]{bad} of {total} cases fail[/]"
        console.print(f"{total} cases in {self.seconds:.1f} s: {verdict}")


def run(ports: Sequence[Any] | None = None, algorithms: Sequence[str] | None = None,
        dtypes: Sequence[str] | None = None, *, steps: int = 48, seed: int = 0, full: bool = False,
        tolerance: Tolerance | None = None, progress: Callable[[str, str, str, list[CaseResult]], None] | None = None,
        ) -> Report:
    """Run the harness.  ``ports``: names or port objects (default: every available port);
    ``algorithms``: registry names (default: all); ``dtypes``: default each port's own;
    ``progress(port, algorithm, dtype, results)`` is called after each group."""
    from ..backends import available_ports, get_port
    t0 = time.perf_counter()
    port_objs = [get_port(p) if isinstance(p, str) else p for p in (ports or available_ports())]
    names = list(algorithms or OPTIMIZERS)
    for name in names:
        OPTIMIZERS[name]  # unknown names raise with the valid list
    report = Report()
    for port in port_objs:
        for dtype in (dtypes or port.dtypes):
            for name in names:
                group: list[CaseResult] = []
                for case in cases_for(name, dtype, steps=steps, seed=seed, full=full):
                    if not port.supports(name):
                        report.results.append(CaseResult(case, port.name, True, skipped="algorithm not supported"))
                    elif dtype not in port.dtypes:
                        report.results.append(CaseResult(case, port.name, True, skipped=f"{dtype} not supported"))
                    elif not getattr(port, "supports_hyper", lambda a, h: True)(name, case.hyper):
                        report.results.append(CaseResult(case, port.name, True,
                                                         skipped=f"hyperparameters {dict(case.hyper)} not supported"))
                    else:
                        report.results.append(run_case(port, case, tolerance))
                    group.append(report.results[-1])
                if progress is not None:
                    progress(port.name, name, dtype, group)
    report.seconds = time.perf_counter() - t0
    return report
