"""One jitted optimizer step on CPU: v0ref's JAX transformations against optax's, side by side.

Workloads: 10M float32 parameters in 100 and in 2000 arrays.  Each transformation is timed as
``params, state = step(params, state, grads)`` (update + ``optax.apply_updates`` in one ``jax.jit``),
with and without buffer donation (``donate_argnums`` on params and state), the same for both
sides.  A streaming kernel measured in the same run gives the bandwidth limit: a step that must
read params, grads and k state arrays and write params and the k arrays moves ``(3 + 2k)·4`` bytes
per parameter, and cannot take less than those bytes over the streaming bandwidth.  The ``floor``
columns add the runtime's own bound, measured in the same run (`floor_time`): a donated step with
the same arrays in and out doing only ``p − lr·g``; with 2000 arrays JAX/XLA:CPU's per-buffer
cost (~6 µs per output array) makes it larger than the bytes bound, and ``floor %`` is the share
of what any per-array transformation could reach.

    python benchmarks/jax_step.py            # full size
    python benchmarks/jax_step.py --quick    # 1M params in 10/200 arrays, 3 algorithms: checks it runs
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from _bench import timeit, timeit_interleaved  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import optax  # noqa: E402

from v0ref.backends import jax as vj  # noqa: E402

# (label, v0ref factory call, optax factory call or None where optax lacks the method)
PAIRS = [
    ("adam", lambda: vj.adam(1e-3), lambda: optax.adam(1e-3)),
    ("adam (oracle path, torch conv.)", lambda: vj.adam(1e-3, convention="torch"), lambda: optax.adam(1e-3)),
    ("adamw", lambda: vj.adamw(1e-3), lambda: optax.adamw(1e-3)),
    ("amsgrad", lambda: vj.amsgrad(1e-3), lambda: optax.amsgrad(1e-3)),
    ("adamax", lambda: vj.adamax(1e-3), lambda: optax.adamax(1e-3)),
    ("nadam", lambda: vj.nadam(1e-3), lambda: optax.nadam(1e-3)),
    ("radam", lambda: vj.radam(1e-3), lambda: optax.radam(1e-3)),
    ("adabelief", lambda: vj.adabelief(1e-3), lambda: optax.adabelief(1e-3)),
    ("yogi", lambda: vj.yogi(1e-3), lambda: optax.yogi(1e-3)),
    ("adagrad", lambda: vj.adagrad(1e-2), lambda: optax.adagrad(1e-2)),
    ("rmsprop", lambda: vj.rmsprop(1e-2), lambda: optax.rmsprop(1e-2)),
    ("adadelta", lambda: vj.adadelta(1.0), lambda: optax.adadelta(1.0)),
    ("sgd momentum", lambda: vj.sgd(1e-2, momentum=0.9), lambda: optax.sgd(1e-2, momentum=0.9)),
    ("signum", lambda: vj.signum(1e-3), lambda: optax.signum(1e-3)),
    ("adabound", lambda: vj.adabound(1e-3, convention="torch"), None),
    ("amsbound", lambda: vj.amsbound(1e-3, convention="torch"), None),
]
QUICK = ("adam", "adam (oracle path, torch conv.)", "adabound")


def make_step(tx, donate: bool):
    def step(params, state, grads):
        updates, state = tx.update(grads, state, params)
        return optax.apply_updates(params, updates), state
    return jax.jit(step, donate_argnums=(0, 1) if donate else ())


def looped(step, params, state, grads):
    """A callable running ``params, state = step(params, state, grads)`` once, keeping the
    results for the next call (so donated buffers are never reused)."""
    box = {"p": params, "s": state}

    def once():
        box["p"], box["s"] = step(box["p"], box["s"], grads)
        jax.block_until_ready(box["p"])
    return once


def stepper(tx, params, grads, donate: bool):
    """A callable running one jitted step of ``tx`` on its own copy of ``params``."""
    params = jax.tree.map(jnp.copy, params)
    return looped(make_step(tx, donate), params, tx.init(params), grads)


def time_tx(tx, params, grads, donate: bool, repeat: int) -> float:
    return timeit(stepper(tx, params, grads, donate), repeat)


def stream_bandwidth(n: int, repeat: int) -> float:
    """Bytes/s of a donated triad ``a ← a + s·b`` over ``n`` float32 (read 2 arrays, write 1)."""
    triad = jax.jit(lambda a, b: a + 0.5 * b, donate_argnums=(0,))
    box = {"a": jnp.ones(n, jnp.float32)}
    b = jnp.ones(n, jnp.float32)

    def once():
        box["a"] = triad(box["a"], b)
        jax.block_until_ready(box["a"])
    return 12 * n / timeit(once, repeat)


def floor_time(params, grads, k: int, repeat: int) -> float:
    """The runtime floor of a per-array transformation with ``k`` state arrays per parameter:
    one donated jitted call taking params, k state arrays and grads per parameter and returning
    params and the k state arrays, doing only ``p − lr·g`` (state passed through).  What it
    costs beyond its 12 B/param is XLA:CPU's and JAX's per-buffer work (measured ~6 µs per
    output array at 2000 arrays), which no per-array optimizer, ours or optax's, can avoid."""
    step = jax.jit(lambda ps, ss, gs: ([p - 1e-3 * g for p, g in zip(ps, gs)], ss), donate_argnums=(0, 1))
    state = [jnp.zeros_like(p) for p in params for _ in range(k)]
    return timeit(looped(step, jax.tree.map(jnp.copy, params), state, grads), repeat)


def _flat(factory):
    return lambda: optax.flatten(factory())


def state_arrays(tx, params) -> int:
    """State arrays per parameter array (k in the byte count)."""
    return (len(jax.tree.leaves(tx.init(params))) - 1) // len(jax.tree.leaves(params))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--params", type=int, default=10_000_000)
    ap.add_argument("--tensors", type=int, nargs="+", default=[100, 2000])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--quick", action="store_true", help="1M params in 10 and 200 arrays, 3 repeats, 3 algorithms")
    ap.add_argument("--flatten", action="store_true",
                    help="also time every pair wrapped in optax.flatten (one flat vector per step; state kept flat)")
    ap.add_argument("--only", nargs="+", default=None, help="algorithm labels to run (default: all)")
    args = ap.parse_args()
    if args.quick:
        args.params, args.repeat, args.tensors = 1_000_000, 3, [10, 200]
    pairs = [p for p in PAIRS if not args.quick or p[0] in QUICK]
    if args.flatten:
        pairs += [(f"{label} [flatten]", _flat(ours), _flat(theirs) if theirs else None, ours)
                  for label, ours, theirs in pairs]
    if args.only is not None:       # labels as printed, e.g. "adam" or "adam [flatten]"
        pairs = [p for p in pairs if p[0] in args.only]
    bw = stream_bandwidth(args.params, args.repeat)
    print(f"jax {jax.__version__}, optax {optax.__version__}, {jax.devices()[0].platform}; "
          f"streaming bandwidth (donated triad): {bw / 1e9:.2f} GB/s")
    for n_tensors in args.tensors:
        n = args.params // n_tensors
        key = jax.random.key(0)
        params = [jax.random.normal(jax.random.fold_in(key, i), (n,), jnp.float32) for i in range(n_tensors)]
        grads = [jax.random.normal(jax.random.fold_in(key, 10_000 + i), (n,), jnp.float32) for i in range(n_tensors)]
        print(f"\n{n * n_tensors:,} float32 params in {n_tensors} arrays (median of {args.repeat} interleaved steps)")
        print(f"{'algorithm':32s} {'donate':>6s} {'v0ref ms':>9s} {'optax ms':>9s} {'ratio':>6s} "
              f"{'limit ms':>9s} {'% limit':>8s} {'floor ms':>9s} {'floor %':>8s}")
        floors: dict[int, float] = {}
        # the first jitted step over fresh 10M-element buffers pays page faults and allocator growth
        # (measured: 100-415 ms instead of ~20 ms for whichever row comes first): warm both up
        for donate in (False, True):
            time_tx(pairs[0][2]() if pairs[0][2] else pairs[0][1](), params, grads, donate, 3)
        for label, ours, theirs, *plain in pairs:
            k = state_arrays((plain[0] if plain else ours)(), params)
            limit = (3 + 2 * k) * 4 * n * n_tensors / bw
            if k not in floors:
                floors[k] = floor_time(params, grads, k, args.repeat)
            floor = max(floors[k], limit)        # the bytes bound or the runtime bound, the larger
            for donate in (False, True):
                sides = [stepper(ours(), params, grads, donate)]
                if theirs:
                    sides.append(stepper(theirs(), params, grads, donate))
                t_ours, *rest = timeit_interleaved(sides, args.repeat)     # ours, theirs, ours, ...
                t_theirs = rest[0] if rest else None
                del sides
                ratio = f"{t_ours / t_theirs:6.2f}" if t_theirs else "     —"
                theirs_ms = f"{t_theirs * 1e3:9.2f}" if t_theirs else "        —"
                print(f"{label:32s} {'yes' if donate else 'no':>6s} {t_ours * 1e3:9.2f} {theirs_ms} {ratio} "
                      f"{limit * 1e3:9.2f} {100 * limit / t_ours:7.0f}% "
                      f"{floor * 1e3:9.2f} {100 * floor / t_ours:7.0f}%")


if __name__ == "__main__":
    main()
