"""Experiment 7 (linear-mode connectivity and loss landscape) in its ``--quick`` form.

The quick run must hold every exact claim.  The independent checks do not go through the
experiment's own bookkeeping: the JSON's barriers recomputed from its own error paths (Eq. 22), the
barrier of a path from a solution to itself, the functional evaluation at an interpolated point
against a module that holds those weights, and the 2-D surface's centre against the module's loss.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")

from v0ref.diagnostics import (  # noqa: E402
    filter_normalized_direction,
    interpolation_barrier,
    loss_surface_2d,
)

from experiments import _digits as D  # noqa: E402
from experiments import landscape  # noqa: E402


def test_landscape_quick(tmp_path):
    result = landscape.run(quick=True, out=tmp_path, seed=0, plot=True)
    assert result.failed == [], [(c.name, c.detail) for c in result.failed]
    names = {c.name for c in result.claims}
    assert {"same init: barrier 0 at epoch 0", "barrier end points are the solutions' test errors",
            "slices at α = 0 equal the solution's loss", "our loop is experiments._digits.train"} <= names
    assert {c.kind for c in result.claims if "flatter" in c.name or "connected" in c.name} == {"paper"}
    assert (tmp_path / "landscape.png").stat().st_size > 0
    payload = json.loads((tmp_path / "landscape.json").read_text())
    numbers = payload["numbers"]
    for key, paths in numbers["paths"].items():
        for path in paths:
            errors = np.array(path["errors"])
            # Eq. 22 from the path itself: max over α minus the mean of the end points (α = 1, α = 0)
            assert path["alphas"][0] == 0.0 and path["alphas"][-1] == 1.0
            assert path["barrier"] == pytest.approx(errors.max() - 0.5 * (errors[0] + errors[-1]), abs=1e-12)
            # test errors are k/360 · 100
            assert np.allclose(errors * 3.6, np.round(errors * 3.6), atol=1e-9)
        along = numbers["barrier_along_epochs"][key]
        assert all(len(a) == landscape.QUICK["epochs"] + 1 and a[0] == 0.0 for a in along)
    assert len(numbers["runs"]) == 4 and all(r["finite"] for r in numbers["runs"])


def test_self_path_has_zero_barrier_and_functional_matches_module():
    model_a, model_b = D.make_model(0), D.make_model(1)
    pa = [p.detach().clone() for p in model_a.parameters()]
    pb = [p.detach().clone() for p in model_b.parameters()]
    err = landscape.error_fn(model_a)
    with torch.no_grad():
        own = landscape.model_error(model_a)
    # θ_α = α θ + (1 − α) θ is θ exactly in float32 for α ∈ {0, ½, 1} (scalings by powers of 2)
    same = interpolation_barrier(pa, pa, err, [0.0, 0.5, 1.0])
    assert same["barrier"] == 0.0 and np.all(same["errors"] == own)
    # the functional evaluation at a midpoint equals a module loaded with the midpoint's weights
    mid = [0.5 * a + 0.5 * b for a, b in zip(pa, pb)]
    holder = D.make_model(2)
    with torch.no_grad():
        for p, m in zip(holder.parameters(), mid):
            p.copy_(m)
        assert err(mid) == landscape.model_error(holder)
    # and the two end points of a real pair are the two models' own errors
    both = interpolation_barrier(pb, pa, err, [0.0, 1.0])
    with torch.no_grad():
        assert both["error_a"] == landscape.model_error(model_b) and both["error_b"] == own


def test_surface_center_is_the_loss():
    model = D.make_model(3)
    params = [p.detach().clone() for p in model.parameters()]
    x, y, _, _ = D.load_data()
    batch = (x[:128], y[:128])
    d1 = filter_normalized_direction(params, 11)
    d2 = filter_normalized_direction(params, 12)
    grid = np.linspace(-1.0, 1.0, 3)
    z = loss_surface_2d(landscape.loss_on(model, batch), params, d1, d2, grid, grid)
    with torch.no_grad():
        want = float(D.loss_fn(model, batch))
    assert z.shape == (3, 3) and z[1, 1] == pytest.approx(want, rel=1e-6)
    assert np.all(np.delete(z.reshape(-1), 4) != want)         # the directions do move the weights
    # filter normalization by hand: each row of a ≥ 2-D direction has its weight row's norm
    for d, p in zip(d1, params):
        if p.ndim >= 2:
            dn = d.double().reshape(d.shape[0], -1).norm(dim=1)
            pn = p.double().reshape(p.shape[0], -1).norm(dim=1)
            assert torch.allclose(dn, pn, rtol=1e-5, atol=0)
        else:
            assert torch.count_nonzero(d) == 0
