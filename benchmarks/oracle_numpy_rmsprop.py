"""Oracle RMSprop on NumPy vs a hand-written in-place NumPy RMSprop (and torch.optim.RMSprop on CPU).

One step over 10M float32 parameters split into 100 tensors, torch defaults (lr 1e-2, α 0.99,
ε 1e-8 outside the sqrt, no momentum), all measured side by side in one run (median of --repeat
runs after a warm-up), all single-threaded.  The oracle is pure (no in-place ops), so it pays for
temporaries; the target is a ratio of at most 3x to the in-place version.

    python benchmarks/oracle_numpy_rmsprop.py [--params 10_000_000] [--tensors 100] [--repeat 7]
"""

from __future__ import annotations

import numpy as np

from _bench import run


def inplace_rmsprop_step(params, grads, vs, lr=1e-2, alpha=0.99, eps=1e-8):
    """The usual fast NumPy RMSprop: every update in place, one scratch buffer per tensor."""
    for p, g, v in zip(params, grads, vs):
        v *= alpha
        tmp = g * g
        tmp *= 1 - alpha
        v += tmp
        np.sqrt(v, out=tmp)
        tmp += eps
        np.divide(g, tmp, out=tmp)
        tmp *= lr
        p -= tmp


def inplace(params, grads):
    vs = [np.zeros_like(p) for p in params]
    return lambda: inplace_rmsprop_step(params, grads, vs)


if __name__ == "__main__":
    run(doc=__doc__, algorithm="rmsprop", title="RMSprop", inplace=inplace, bytes_per_element=20,  # p, g, v in; p, v out
        torch_variants=[("torch.optim.RMSprop (for-loop)", "RMSprop", {"lr": 1e-2, "foreach": False}),
                        ("torch.optim.RMSprop (foreach)", "RMSprop", {"lr": 1e-2, "foreach": True})])
