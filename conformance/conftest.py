"""The conformance suite a port author runs: ``pytest conformance/ [--port NAME] [--steps N]``.

Parametrized over every registry algorithm × every available port (or the ones named) × each
port's dtypes; what a port does not declare is skipped with the reason.
"""

from __future__ import annotations


def pytest_addoption(parser):
    parser.addoption("--port", action="append", default=None, help="port(s) to check (default: all installed)")
    parser.addoption("--steps", type=int, default=48, help="steps per case (default 48)")
    parser.addoption("--full", action="store_true", help="cross every hyperparameter set with every moment init")


def pytest_generate_tests(metafunc):
    if {"port_name", "algorithm", "dtype"} <= set(metafunc.fixturenames):
        from v0ref import OPTIMIZERS
        from v0ref.backends import available_ports, get_port
        names = metafunc.config.getoption("--port") or list(available_ports())
        params = [(p, a, d) for p in names for d in get_port(p).dtypes for a in OPTIMIZERS]
        metafunc.parametrize(("port_name", "algorithm", "dtype"), params,
                             ids=[f"{p}-{a}-{d}" for p, a, d in params])
