"""Oracle Adam on NumPy vs a hand-written in-place NumPy Adam (and torch.optim.Adam on CPU).

One step over 10M float32 parameters split into 100 tensors, all measured side by side in one
run (median of --repeat runs after a warm-up), all single-threaded.  The oracle is pure (no in-place ops), so it pays
for temporaries; the target is a ratio of at most 3x to the in-place version.

    python benchmarks/oracle_numpy.py [--params 10_000_000] [--tensors 100] [--repeat 7]
"""

from __future__ import annotations

import numpy as np

from _bench import run


def inplace_adam_step(params, grads, ms, vs, t, lr=1e-3, b1=0.9, b2=0.999, eps=1e-8):
    """The usual fast NumPy Adam: every update in place, two scratch buffers per tensor."""
    c1, c2 = 1 - b1 ** t, 1 - b2 ** t
    step_size, c2_sqrt = lr / c1, c2 ** 0.5
    for p, g, m, v in zip(params, grads, ms, vs):
        m *= b1
        m += (1 - b1) * g
        v *= b2
        tmp = g * g
        tmp *= 1 - b2
        v += tmp
        np.sqrt(v, out=tmp)
        tmp /= c2_sqrt
        tmp += eps
        np.divide(m, tmp, out=tmp)
        tmp *= step_size
        p -= tmp


def inplace(params, grads):
    state = {"m": [np.zeros_like(p) for p in params], "v": [np.zeros_like(p) for p in params], "t": 0}

    def step():
        state["t"] += 1
        inplace_adam_step(params, grads, state["m"], state["v"], state["t"])
    return step


if __name__ == "__main__":
    run(doc=__doc__, algorithm="adam", title="Adam", inplace=inplace, bytes_per_element=28,  # ANCHORS §5 roofline
        torch_variants=[("torch.optim.Adam (for-loop)", "Adam", {"lr": 1e-3, "foreach": False}),
                        ("torch.optim.Adam (foreach)", "Adam", {"lr": 1e-3, "foreach": True}),
                        ("torch.optim.Adam (fused)", "Adam", {"lr": 1e-3, "fused": True})])
