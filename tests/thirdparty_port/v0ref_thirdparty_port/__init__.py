"""A third-party port as its authors would write it: its own Adam (torch semantics), in-place NumPy.

It implements only ``adam`` with torch's convention and standard bias correction, says so through
``supports_hyper``, and lets ``v0ref conform --port thirdparty`` prove it.
"""

from __future__ import annotations

import numpy as np

_SUPPORTED = {"lr", "betas", "eps", "weight_decay", "maximize", "convention", "amsgrad"}


class _AdamRun:
    def __init__(self, hyper, params, states):
        self.lr = hyper.get("lr", 1e-3)
        self.b1, self.b2 = hyper.get("betas", (0.9, 0.999))
        self.eps = hyper.get("eps", 1e-8)
        self.wd = hyper.get("weight_decay", 0.0)
        self.maximize = hyper.get("maximize", False)
        self.amsgrad = hyper.get("amsgrad", False)
        self.params = [np.array(p) for p in params]
        self.t = [int(s["step"]) for s in states]
        self.m = [np.array(s["m"]) for s in states]
        self.v = [np.array(s["v"]) for s in states]
        self.v_max = [np.array(s["v_max"]) if s.get("v_max") is not None else None for s in states]

    def step(self, grads):
        for i, g in enumerate(grads):
            p, m, v = self.params[i], self.m[i], self.v[i]
            g = -g if self.maximize else g
            if self.wd:
                g = g + self.wd * p
            self.t[i] += 1
            t = self.t[i]
            m += (1 - self.b1) * (g - m)
            v *= self.b2
            v += (1 - self.b2) * g * g
            denom_src = v
            if self.amsgrad:
                np.maximum(self.v_max[i], v, out=self.v_max[i])
                denom_src = self.v_max[i]
            denom = np.sqrt(denom_src) / np.sqrt(1 - self.b2 ** t) + self.eps
            p -= (self.lr / (1 - self.b1 ** t)) * m / denom

    def export(self):
        states = [{"step": t, "m": m.copy(), "v": v.copy(), "v_max": None if vm is None else vm.copy()}
                  for t, m, v, vm in zip(self.t, self.m, self.v, self.v_max)]
        return [p.copy() for p in self.params], states


class _Port:
    name = "thirdparty"
    dtypes = ("float32", "float64")

    def supports(self, algorithm):
        return algorithm == "adam"

    def supports_hyper(self, algorithm, hyper):
        return set(hyper) <= _SUPPORTED and hyper.get("convention", "torch") == "torch"

    def optimizer(self, name, params, **kwargs):
        raise NotImplementedError("this test port only implements the conformance interface")

    def open(self, algorithm, hyper, params, *, states=None, moments=None):
        if states is None:   # resolve the moment keywords exactly as a user's call would
            from v0ref import OPTIMIZERS, moments as mom
            alg = OPTIMIZERS["adam"]
            hp = alg.hyper(**hyper)
            kw = dict(moments or {})
            common = dict(key=kw.get("key"), stats=kw.get("grad_stats"), min_ndim=kw.get("v0_min_ndim"))
            v0 = mom.resolve("v0", kw.get("v0"), params, scale=kw.get("v0_scale", 1.0), **common) or [None] * len(params)
            m0 = mom.resolve("m0", kw.get("m0"), params, scale=kw.get("m0_scale", 1.0), **common) or [None] * len(params)
            states = []
            for p, v, m in zip(params, v0, m0):
                v = np.zeros_like(p) if v is None else np.asarray(v, dtype=p.dtype)
                states.append({"step": 0, "m": np.zeros_like(p) if m is None else np.asarray(m, dtype=p.dtype),
                               "v": v, "v_max": v.copy() if hp.amsgrad else None})
        return _AdamRun(dict(hyper), params, states)


PORT = _Port()
