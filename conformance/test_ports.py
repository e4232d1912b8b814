"""Every algorithm × port × dtype: all conformance cases must pass (see v0ref.conformance)."""

from __future__ import annotations

import pytest

from v0ref.backends import get_port
from v0ref.conformance import cases_for, run_case


def test_port_conforms(port_name, algorithm, dtype, request):
    port = get_port(port_name)
    if not port.supports(algorithm):
        pytest.skip(f"port {port_name!r} does not implement {algorithm!r}")
    steps, full = request.config.getoption("--steps"), request.config.getoption("--full")
    failures, ran = [], 0
    for case in cases_for(algorithm, dtype, steps=steps, full=full):
        if not getattr(port, "supports_hyper", lambda a, h: True)(algorithm, case.hyper):
            continue
        ran += 1
        result = run_case(port, case)
        if not result.passed:
            failures.append(f"{case.id}: {result.failure.describe()}")
    if ran == 0:
        pytest.skip(f"port {port_name!r} supports none of {algorithm!r}'s hyperparameter sets")
    assert not failures, "\n".join(failures)
