"""The conformance harness: proves that a port computes what the oracle computes, step by step.

>>> from v0ref import conformance
>>> report = conformance.run(ports=["numpy"], algorithms=["adam"], dtypes=["float32"], steps=8)
>>> report.passed
True

See `v0ref.conformance.runner` for the three checks (init, step-wise with re-sync,
free-running under the tolerance rule) and `v0ref.conformance.cases` for what is covered.
"""

from __future__ import annotations

from .cases import SHAPES, Case, cases_for, gradient_stream, initial_params
from .report import Report, run
from .runner import DEFAULT_TOLERANCE, CaseResult, Failure, Tolerance, run_case

__all__ = ["Case", "CaseResult", "DEFAULT_TOLERANCE", "Failure", "Report", "SHAPES", "Tolerance",
           "cases_for", "gradient_stream", "initial_params", "run", "run_case"]
