"""Shared plumbing for the paper experiments: command line, claims, JSON and PNG output.

Every experiment module defines ``run(*, quick=False, out=None, seed=0, plot=True) -> Result`` and
ends with ``if __name__ == "__main__": raise SystemExit(cli(run, __doc__))``.  A run states each
check it makes as a `Claim`:

* ``kind="exact"`` — a statement that must hold (a closed form, a bound with a stated margin).  The
  command exits with status 1 when one fails, so CI and the tests catch it.
* ``kind="paper"`` — a comparison with the direction the paper reports.  It is printed as
  *agrees* / *disagrees* and never changes the exit status: a disagreement is a result to report
  honestly, not a bug.

Outputs go to ``experiments/results/<name>/`` (``--out`` overrides): ``<name>.json`` with the
numbers, the claims, the arguments and the versions, and ``<name>.png`` when plotting is on.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import platform
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

RESULTS = Path(__file__).resolve().parent / "results"
KINDS = ("exact", "paper")


@dataclass
class Claim:
    """One stated check: its name, whether it holds, and the measured numbers behind it."""

    name: str
    holds: bool
    detail: str
    kind: str = "exact"
    paper: str = ""

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}; got {self.kind!r}")
        self.holds = bool(self.holds)


@dataclass
class Result:
    """What one run measured: its numbers, its claims and the files it wrote."""

    experiment: str
    quick: bool
    seed: int
    numbers: dict
    claims: list[Claim]
    files: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def claim(self, name: str) -> Claim:
        for c in self.claims:
            if c.name == name:
                return c
        raise KeyError(f"no claim {name!r}; claims: {[c.name for c in self.claims]}")

    @property
    def failed(self) -> list[Claim]:
        """The exact claims that do not hold."""
        return [c for c in self.claims if c.kind == "exact" and not c.holds]


def jsonable(value: Any) -> Any:
    """Plain-JSON copy of nested numbers, arrays and containers (NaN/inf become strings)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):   # numpy / torch / jax arrays
        return jsonable(value.tolist())
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    return str(value)


def pyplot():
    """matplotlib.pyplot on the non-interactive Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def single_torch_thread(run: Callable[..., Result]) -> Callable[..., Result]:
    """Run ``run`` with one torch intra-op thread (restored afterwards): the experiments' timings
    and numbers are stated for one core, and threads oversubscribe a shared machine."""
    @functools.wraps(run)
    def wrapper(*args: Any, **kwargs: Any) -> Result:
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return run(*args, **kwargs)
        finally:
            torch.set_num_threads(threads)
    return wrapper


def _versions() -> dict:
    out = {"python": platform.python_version()}
    for mod in ("v0ref", "numpy", "torch", "jax", "optax"):
        module = sys.modules.get(mod)
        if module is not None:
            out[mod] = getattr(module, "__version__", "?")
    return out


class Recorder:
    """Collects one run's claims and files; `finish` writes the JSON and returns the `Result`."""

    def __init__(self, name: str, *, quick: bool, seed: int, out: str | Path | None = None,
                 plot: bool = True, args: dict | None = None):
        self.name = name
        self.quick = bool(quick)
        self.seed = int(seed)
        self.plot = bool(plot)
        self.out = Path(out) if out is not None else RESULTS / name
        self.args = dict(args or {})
        self.claims: list[Claim] = []
        self.files: list[str] = []
        self._start = time.perf_counter()

    def claim(self, name: str, holds: Any, detail: str, *, kind: str = "exact", paper: str = "") -> bool:
        c = Claim(name, holds, detail, kind=kind, paper=paper)
        self.claims.append(c)
        return c.holds

    def figure(self, fig: Any, stem: str | None = None) -> Path | None:
        """Save a matplotlib figure as ``<out>/<stem or name>.png`` and close it."""
        plt = pyplot()
        if not self.plot:
            plt.close(fig)
            return None
        self.out.mkdir(parents=True, exist_ok=True)
        path = self.out / f"{stem or self.name}.png"
        fig.savefig(path, dpi=120, bbox_inches="tight")
        plt.close(fig)
        self.files.append(str(path))
        return path

    def finish(self, numbers: dict) -> Result:
        seconds = time.perf_counter() - self._start
        result = Result(self.name, self.quick, self.seed, jsonable(numbers), self.claims, self.files, seconds)
        self.out.mkdir(parents=True, exist_ok=True)
        path = self.out / f"{self.name}.json"
        payload = {"experiment": self.name, "quick": self.quick, "seed": self.seed, "args": jsonable(self.args),
                   "seconds": round(seconds, 3), "versions": _versions(),
                   "claims": [asdict(c) for c in self.claims], "numbers": result.numbers}
        path.write_text(json.dumps(payload, indent=1, sort_keys=False) + "\n")
        result.files.append(str(path))
        return result


def report(result: Result, file: Any = None) -> None:
    """Print the claims as a table (rich) followed by the files written."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console(file=file)
    table = Table(title=f"{result.experiment}{' (quick)' if result.quick else ''}: "
                        f"{len(result.claims)} claims in {result.seconds:.1f} s")
    table.add_column("claim")
    table.add_column("kind")
    table.add_column("result")
    table.add_column("measured")
    for c in result.claims:
        if c.kind == "exact":
            verdict = "[green]holds[/]" if c.holds else "[red]FAILS[/]"
        else:
            verdict = "[green]agrees with paper[/]" if c.holds else "[yellow]disagrees with paper[/]"
        table.add_row(escape(c.name), c.kind, verdict,
                      escape(c.detail + (f"\npaper: {c.paper}" if c.paper else "")))
    console.print(table)
    for f in result.files:
        console.print(f"wrote {escape(f)}")


def cli(run: Callable[..., Result], description: str | None = None, argv: list[str] | None = None) -> int:
    """Command line shared by the experiments: ``--quick``, ``--out``, ``--seed``, ``--no-plot``."""
    parser = argparse.ArgumentParser(description=(description or "").strip().splitlines()[0] if description else None)
    parser.add_argument("--quick", action="store_true", help="small sizes for CI (seconds, not minutes)")
    parser.add_argument("--out", default=None, help="output folder (default: experiments/results/<name>)")
    parser.add_argument("--seed", type=int, default=0, help="base random seed")
    parser.add_argument("--no-plot", dest="plot", action="store_false", help="skip the PNG")
    args = parser.parse_args(argv)
    result = run(quick=args.quick, out=args.out, seed=args.seed, plot=args.plot)
    report(result)
    if result.failed:
        print(f"{len(result.failed)} exact claim(s) failed: {[c.name for c in result.failed]}", file=sys.stderr)
        return 1
    return 0
