"""The paper's code path, reproduced: torch.optim.Adam whose state is prefilled by ``init_optim``.

Walleclipse/Adam_Initialization fills ``state['step'] = torch.zeros(1)``, ``exp_avg = m0`` and
``exp_avg_sq = v0`` before the first ``step()`` (ALGORITHMS §1.7-1.8); torch then keeps its bias
correction from t = 1.  v0ref's oracle optimizer with ``v0="random"`` (and ``m0="random"`` for
``init_state='mv'``) must equal that run to float64 rounding, for a small MLP whose 1-D biases get
no random v0 (the paper's ndim ≥ 2 rule).
"""

from __future__ import annotations

import numpy as np
import pytest

import v0ref

pytestmark = pytest.mark.torch


@pytest.mark.parametrize("init_state", ["v", "mv"])
@pytest.mark.parametrize(("algo", "kw"), [("adam", {}), ("adamw", {"weight_decay": 5e-4}),
                                          ("amsgrad", {}), ("nadam", {}), ("radam", {})])
def test_oracle_equals_prefilled_torch(init_state, algo, kw):
    torch = pytest.importorskip("torch")
    torch_cls = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "amsgrad": torch.optim.Adam,
                 "nadam": torch.optim.NAdam, "radam": torch.optim.RAdam}[algo]
    torch_kw = dict(kw, amsgrad=True) if algo == "amsgrad" else kw
    rng = np.random.default_rng(5)
    shapes = [(16, 8), (16,), (4, 16), (4,)]                 # Linear(8,16) -> Linear(16,4)
    params = [rng.standard_normal(s) * 0.1 for s in shapes]
    key, scale, scale_m = v0ref.random.key(11), 100.0, 1.0

    v0 = v0ref.moments.resolve("v0", "random", params, scale=scale, key=key)
    m0 = v0ref.moments.resolve("m0", "random", params, scale=scale_m, key=key) if init_state == "mv" else None
    assert all(np.all(v == 0) for v, s in zip(v0, shapes) if len(s) == 1)   # biases: no random v0
    opt = v0ref.optimizer(algo, params, v0="random", v0_scale=scale, m0="random" if init_state == "mv" else None,
                          m0_scale=scale_m, key=key, lr=1e-3, **kw)

    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        tparams = [torch.tensor(p, requires_grad=True) for p in params]
        topt = torch_cls(tparams, lr=1e-3, **torch_kw)
        for i, tp in enumerate(tparams):                     # exactly what init_optim writes
            topt.state[tp]["step"] = torch.zeros(1)
            topt.state[tp]["exp_avg"] = torch.tensor(m0[i]) if m0 is not None else torch.zeros_like(tp)
            topt.state[tp]["exp_avg_sq"] = torch.tensor(v0[i])
            if algo == "amsgrad":
                topt.state[tp]["max_exp_avg_sq"] = torch.tensor(v0[i])
            if algo == "nadam":
                topt.state[tp]["mu_product"] = torch.ones(())
        for _ in range(20):
            grads = [rng.standard_normal(s) * 1e-2 for s in shapes]
            params = opt.step(params, grads)
            for tp, g in zip(tparams, grads):
                tp.grad = torch.tensor(g)
            topt.step()
            for p, tp in zip(params, tparams):
                np.testing.assert_allclose(tp.detach().numpy(), p, rtol=1e-12, atol=1e-15)
    finally:
        torch.set_default_dtype(previous)
