"""Experiments 4 and 6 (torch): the --quick runs hold their exact claims, plus independent checks
of the sequence task, the model and the first Adam step they rest on."""

from __future__ import annotations

import json
import math
from functools import partial
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("matplotlib")

from experiments import _seqtask as T  # noqa: E402
from v0ref import diagnostics as D  # noqa: E402
from v0ref.backends.torch import Adam  # noqa: E402


def test_task_batches_reverse_and_are_reproducible():
    task = T.SeqTask(symbols=5, length=4, task="reverse")
    (x, y), = task.batches(3, 6, 1)
    (x2, y2), = task.batches(3, 6, 1)
    assert torch.equal(x, x2) and torch.equal(y, y2)
    assert x.shape == (6, task.seq_len) and y.shape == (6, 4)
    assert torch.all(x[:, 4] == task.sep)
    assert torch.equal(y, x[:, :4].flip(1))                     # the answer is the reversed string
    assert torch.equal(x[:, 5:], y[:, :-1])                     # teacher forcing: y shifted right
    (xc, yc), = T.SeqTask(symbols=5, length=4, task="copy").batches(3, 6, 1)
    assert torch.equal(yc, xc[:, :4])
    with pytest.raises(ValueError):
        T.SeqTask(task="sort")


def test_model_is_causal_post_ln_and_loss_starts_near_chance():
    task = T.SeqTask(symbols=16, length=8)
    model = T.build(task, 0, dim=32, heads=2, layers=2, ffn=64)
    assert all(not layer.norm_first for layer in model.blocks.layers)           # post-LN
    (x, y), = task.batches(0, 4, 1)
    with torch.no_grad():
        a = model(x)
        x2 = x.clone()
        x2[:, 10:] = (x2[:, 10:] + 1) % task.symbols
        b = model(x2)
    assert torch.allclose(a[:, :10], b[:, :10], atol=1e-6)      # positions < 10 cannot see the change
    assert not torch.allclose(a[:, 10:], b[:, 10:])
    loss = T.seq_loss(model, (x, y), length=task.length).item()
    assert abs(loss - math.log(task.vocab)) < 0.5               # an untrained model is near chance
    # same seed, same initialization
    assert all(torch.equal(p, q) for p, q in zip(model.parameters(), T.build(task, 0, dim=32, heads=2,
                                                                               layers=2, ffn=64).parameters()))


def test_first_adam_step_on_the_transformer_is_sign_descent_and_eq12():
    """Independent of the experiments' code paths: one step by hand against the closed forms."""
    task = T.SeqTask(symbols=16, length=8)
    lr, betas, eps = 2e-2, (0.9, 0.98), 1e-8
    batch = task.batches(5, 16, 1)[0]
    loss_fn = partial(T.seq_loss, length=task.length)
    for v0 in (None, "random-chi2"):
        model = T.build(task, 1, dim=32, heads=2, layers=1, ffn=64)
        w = model.blocks.layers[0].linear1.weight
        opt = Adam(model.parameters(), lr=lr, betas=betas, eps=eps, v0=v0, key=3)
        v_start = opt.state[w]["exp_avg_sq"].clone()
        before = w.detach().clone()
        loss_fn(model, batch).backward()
        g = w.grad.detach().clone()
        opt.step()
        delta = (w.detach() - before).double()
        g64 = g.double()
        if v0 is None:
            assert torch.count_nonzero(v_start) == 0
            # float32: |θ| < 1, so θ + Δθ is rounded by ≤ 2^-25 ≈ 3e-8 absolute; lr·ε/|g| < 2e-8 here
            big = g64.abs() > 1e-5
            assert big.double().mean() > 0.9
            sign = -lr * torch.sign(g64)                        # sign descent (ALGORITHMS §1.2)
            assert torch.allclose(delta[big], sign[big], rtol=0, atol=lr * 1e-8 / 1e-5 + 6e-8)
            exact = -lr * g64 / (g64.abs() + eps)               # with ε, every coordinate
            assert torch.allclose(delta, exact, rtol=0, atol=6e-8)
        else:
            assert torch.all(v_start > 0)
            expected = D.eq12_first_step(g64, v_start.double(), lr=lr, beta1=betas[0], beta2=betas[1], eps=eps)
            assert torch.allclose(delta, expected, rtol=0, atol=1.2e-7)
            # Eq. 12 is far from sign descent here: v0 dominates g² for almost every coordinate
            assert float((delta.abs() - lr).abs().le(0.01 * lr).double().mean()) < 0.01


def _check_result(result, tmp_path: Path, name: str):
    assert result.failed == [], [(c.name, c.detail) for c in result.failed]
    data = json.loads((tmp_path / f"{name}.json").read_text())
    assert data["quick"] is True and data["experiment"] == name
    assert all(c["holds"] for c in data["claims"] if c["kind"] == "exact")
    return data


def test_transformer_warmup_quick(tmp_path):
    from experiments import transformer_warmup as E
    result = E.run(quick=True, out=tmp_path, plot=False)
    data = _check_result(result, tmp_path, E.NAME)
    names = [c.name for c in result.claims]
    margin = [n for n in names if "below v0=0's at step 75" in n]
    assert len(margin) == 2 and all(result.claim(n).kind == "exact" for n in margin)
    runs = data["numbers"]["runs"]
    zero, rnd = runs["lr=0.02 v0=0"], runs["lr=0.02 v0,rnd"]
    # the sign step moves each coordinate by lr, so ‖Δθ_1‖ ≈ lr·√(#params with a gradient)
    n = data["numbers"]["n_params"]
    assert zero["first_step"]["l2"] == pytest.approx(0.02 * math.sqrt(n), rel=0.01)
    assert zero["norms"][0] == pytest.approx(zero["first_step"]["l2"], rel=1e-3)
    assert rnd["first_step"]["l2"] < 0.5 * zero["first_step"]["l2"]
    # warmup starts at 1e-7 (inverse_sqrt) and the others at the full lr
    assert runs["lr=0.02 warmup"]["lr_at"]["1"] == pytest.approx(1e-7)
    assert runs["lr=0.02 warmup"]["lr_at"]["50"] == pytest.approx(1e-7 + 49 * (0.02 - 1e-7) / 100)
    assert zero["lr_at"]["1"] == zero["lr_at"]["75"] == 0.02 and len(zero["losses"]) == 75


def test_update_histograms_quick(tmp_path):
    from experiments import update_histograms as E
    result = E.run(quick=True, out=tmp_path, plot=False)
    data = _check_result(result, tmp_path, E.NAME)
    runs = data["numbers"]["runs"]
    adam = runs["Adam v0=0"]
    # float64 model: the v0=0 first-step median is lr·|g|/(|g|+ε), i.e. lr to ~1e-5 relative
    assert adam["median_abs_update"]["1"]["mean"] == pytest.approx(1e-3, rel=1e-4)
    assert adam["first_step"]["sign_fraction"] >= 0.9
    assert runs["Adam v0,rnd"]["first_step"]["sign_fraction"] <= 0.1
    # SGD's first step is lr·g: its norm is 0.1·‖g‖, far below Adam's 1e-3·√n
    assert runs["SGD"]["first_step"]["l2"] < adam["first_step"]["l2"]
    assert len(adam["update_norm_first_seed"]) == data["numbers"]["steps"] == 100
    assert np.isfinite(adam["update_norm_first_seed"]).all()
