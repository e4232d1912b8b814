r"""Test objectives with exact, hand-written derivatives, in the array API.

An objective is a loss over a *list* of parameter arrays.  Every method follows the namespace,
dtype and device of its input, so one objective is evaluated on numpy, ``array_api_strict``,
torch or jax arrays alike (the whole-vector methods of the oracle and the ports call it on their
own arrays).  The protocol (``x`` and ``v`` are lists shaped like `Objective.shapes`):

* ``loss(x) -> 0-d array``; ``grad(x) -> list``; ``value_and_grad(x) -> (0-d array, list)``;
* ``hvp(x, v) -> list``: the Hessian-vector product ``∇²f(x)·v``;
* ``gnvp(x, v) -> list`` (where a Gauss-Newton matrix is defined, ``has_gnvp``): ``G(x)·v`` with
  ``G = Jᵀ H_ℓ J`` (Schraudolph 2002; ALGORITHMS §3.2), ``J`` the Jacobian of the model outputs
  (residuals) and ``H_ℓ`` the Hessian of the loss in the outputs;
* ``fisher_diag(x) -> list`` (data objectives): the empirical Fisher diagonal
  ``(1/N) Σ_i ∇ℓ_i ⊙ ∇ℓ_i`` of ``f = (1/N) Σ_i ℓ_i`` (Martens' preconditioner, ALGORITHMS §3.4);
* ``x0(xp=None, dtype="float64") -> list``: the documented start point;
* ``optimum`` (list of float64 numpy arrays or ``None``), ``f_opt`` (float or ``None``).

Data and constants are generated once (numpy ``default_rng(seed)``, float64) and cast to the
input's dtype on use, so the objective is deterministic given its seed.  ``OBJECTIVES`` maps a
name to its factory (keyword arguments = the constructor's).

>>> import numpy as np
>>> from v0ref.objectives import OBJECTIVES
>>> f = OBJECTIVES["rosenbrock"](n=2)
>>> float(f.loss(f.x0())), float(f.loss([np.ones(2)]))
(24.199999999999996, 0.0)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from array_api_compat import array_namespace, device as _device

__all__ = ["Objective", "Quadratic", "Rosenbrock", "Beale", "Himmelblau", "LogisticRegression",
           "SoftmaxRegression", "MLP", "DeepAutoencoder", "NGOSLinear", "SaddleToy", "OBJECTIVES"]

Array = Any


# --------------------------------------------------------------------------------------------- base

class Objective:
    """Base class: shapes, start point, constants cast to the input's namespace, checks."""

    name: str = ""
    has_gnvp: bool = False
    has_fisher: bool = False

    def __init__(self, shapes: Sequence[tuple[int, ...]], start: Sequence[np.ndarray],
                 optimum: Sequence[np.ndarray] | None = None, f_opt: float | None = None):
        self.shapes = tuple(tuple(int(d) for d in s) for s in shapes)
        self._start = [np.asarray(s, dtype=np.float64).reshape(shape) for s, shape in zip(start, self.shapes)]
        self.optimum = None if optimum is None else [np.asarray(o, dtype=np.float64).reshape(s)
                                                     for o, s in zip(optimum, self.shapes)]
        self.f_opt = f_opt

    # -- the protocol -------------------------------------------------------------------------
    def x0(self, xp: Any = None, dtype: str = "float64") -> list[Array]:
        """The start point in namespace ``xp`` (default numpy) and ``dtype``."""
        if xp is None:
            return [s.astype(dtype) for s in self._start]
        return [xp.asarray(s, dtype=getattr(xp, dtype)) for s in self._start]

    def loss(self, x: Sequence[Array]) -> Array:
        return self._loss(self._check(x))

    def grad(self, x: Sequence[Array]) -> list[Array]:
        return self._grad(self._check(x))

    def value_and_grad(self, x: Sequence[Array]) -> tuple[Array, list[Array]]:
        x = self._check(x)
        return self._loss(x), self._grad(x)

    def hvp(self, x: Sequence[Array], v: Sequence[Array]) -> list[Array]:
        return self._hvp(self._check(x), self._check(v, "v"))

    def gnvp(self, x: Sequence[Array], v: Sequence[Array]) -> list[Array]:
        if not self.has_gnvp:
            raise NotImplementedError(f"{self.name}: no Gauss-Newton matrix is defined for this objective")
        return self._gnvp(self._check(x), self._check(v, "v"))

    def fisher_diag(self, x: Sequence[Array]) -> list[Array]:
        if not self.has_fisher:
            raise NotImplementedError(f"{self.name}: no per-sample losses, so no empirical Fisher diagonal")
        return self._fisher(self._check(x))

    # -- helpers ------------------------------------------------------------------------------
    def _check(self, x: Any, name: str = "x") -> list[Array]:
        if hasattr(x, "shape") or isinstance(x, (str, bytes)) or not isinstance(x, Sequence):
            raise TypeError(f"{self.name}: {name} must be a list of arrays shaped {list(self.shapes)}; "
                            f"got {type(x).__name__}")
        x = list(x)
        got = [tuple(a.shape) for a in x]
        if got != list(self.shapes):
            raise ValueError(f"{self.name}: {name} has shapes {got}; expected {list(self.shapes)}")
        return x

    @staticmethod
    def _const(like: Array, value: Any) -> Array:
        """A float64 constant cast to ``like``'s namespace, dtype and device."""
        xp = array_namespace(like)
        return xp.asarray(np.asarray(value, dtype=np.float64), dtype=like.dtype, device=_device(like))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(shapes={list(self.shapes)})"


def _flat(xs: Sequence[Array]) -> Array:
    xp = array_namespace(*xs)
    return xp.concat([xp.reshape(a, (-1,)) for a in xs])


def _split(flat: Array, shapes: Sequence[tuple[int, ...]]) -> list[Array]:
    xp = array_namespace(flat)
    out, o = [], 0
    for s in shapes:
        n = math.prod(s)
        out.append(xp.reshape(flat[o:o + n], s))
        o += n
    return out


def _sigmoid(z: Array) -> Array:
    """``σ(z) = (1 + tanh(z/2))/2`` (no overflow for large |z|)."""
    xp = array_namespace(z)
    return 0.5 * (xp.tanh(0.5 * z) + 1.0)


# ----------------------------------------------------------------------------------- quadratic

class Quadratic(Objective):
    r"""``f(x) = ½ (x − x*)ᵀ A (x − x*) + f*`` with ``A = Q diag(λ) Qᵀ``.

    ``λ`` is geometric from 1 to ``cond`` (``λ_i = cond^{i/(n−1)}``) unless ``eigenvalues`` is
    given; ``Q`` is the Q factor of a Gaussian matrix, ``x* ~ N(0, I)``, start ``x_0 = 0``,
    ``f* = 0``.  ``shapes`` splits the n-vector into several parameters (default one ``(n,)``).
    ``∇f = A(x − x*)``, ``∇²f·v = G·v = A v``.
    """

    name = "quadratic"
    has_gnvp = True

    def __init__(self, n: int = 8, cond: float = 100.0, *, eigenvalues: Sequence[float] | None = None,
                 seed: int = 0, shapes: Sequence[tuple[int, ...]] | None = None):
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"n must be an integer >= 1; got {n!r}")
        if eigenvalues is None:
            if not (isinstance(cond, (int, float)) and math.isfinite(cond) and cond >= 1.0):
                raise ValueError(f"cond must be a finite number >= 1; got {cond!r}")
            lam = cond ** (np.arange(n) / max(n - 1, 1))
        else:
            lam = np.asarray(eigenvalues, dtype=np.float64)
            if lam.shape != (n,) or not np.all(np.isfinite(lam)) or np.any(lam <= 0):
                raise ValueError(f"eigenvalues must be {n} finite positive numbers; got {eigenvalues!r}")
        shapes = ((n,),) if shapes is None else tuple(tuple(s) for s in shapes)
        if sum(math.prod(s) for s in shapes) != n:
            raise ValueError(f"shapes {list(shapes)} hold {sum(math.prod(s) for s in shapes)} elements; n = {n}")
        rng = np.random.default_rng(seed)
        q, _ = np.linalg.qr(rng.standard_normal((n, n)))
        self.eigenvalues = lam
        self.A = (q * lam) @ q.T
        self.A = 0.5 * (self.A + self.A.T)
        self.x_star = rng.standard_normal(n)
        super().__init__(shapes, _split(np.zeros(n), shapes), _split(self.x_star, shapes), 0.0)

    def _r(self, x):
        z = _flat(x)
        return z - self._const(z, self.x_star), self._const(z, self.A)

    def _loss(self, x):
        r, a = self._r(x)
        xp = array_namespace(r)
        return 0.5 * xp.sum(r * (a @ r))

    def _grad(self, x):
        r, a = self._r(x)
        return _split(a @ r, self.shapes)

    def _hvp(self, x, v):
        z = _flat(v)
        return _split(self._const(z, self.A) @ z, self.shapes)

    _gnvp = _hvp


# --------------------------------------------------------------------------------- rosenbrock

class Rosenbrock(Objective):
    r"""``f(x) = Σ_{i<n} 100 (x_{i+1} − x_i²)² + (1 − x_i)²`` (Rosenbrock 1960, n-dim "extended"
    chain form); minimum ``f(1, …, 1) = 0``; start ``(−1.2, 1, −1.2, 1, …)``.

    It is a sum of squares of ``r = (10(x_{i+1} − x_i²), 1 − x_i)``, so ``G = 2 JᵀJ``.  The
    Hessian is tridiagonal: ``H_ii = 1200x_i² − 400x_{i+1} + 2`` (i < n) ``+ 200`` (i > 1),
    ``H_{i,i+1} = −400 x_i``.
    """

    name = "rosenbrock"
    has_gnvp = True

    def __init__(self, n: int = 2):
        if isinstance(n, bool) or not isinstance(n, int) or n < 2:
            raise ValueError(f"n must be an integer >= 2; got {n!r}")
        start = np.array([-1.2 if i % 2 == 0 else 1.0 for i in range(n)])
        super().__init__(((n,),), [start], [np.ones(n)], 0.0)

    def _loss(self, x):
        (z,) = x
        xp = array_namespace(z)
        a, b = z[:-1], z[1:]
        return xp.sum(100.0 * (b - a * a) ** 2 + (1.0 - a) ** 2)

    @staticmethod
    def _pad(head, tail):
        """``head`` on components 0..n−2 plus ``tail`` on components 1..n−1."""
        xp = array_namespace(head)
        zero = xp.zeros((1,), dtype=head.dtype, device=_device(head))
        return xp.concat([head, zero]) + xp.concat([zero, tail])

    def _grad(self, x):
        (z,) = x
        a, b = z[:-1], z[1:]
        w = b - a * a
        return [self._pad(-400.0 * a * w - 2.0 * (1.0 - a), 200.0 * w)]

    def _hvp(self, x, v):
        (z,), (u,) = x, v
        a, b = z[:-1], z[1:]
        ua, ub = u[:-1], u[1:]
        diag_head = (1200.0 * a * a - 400.0 * b + 2.0) * ua
        off = -400.0 * a
        return [self._pad(diag_head + off * ub, 200.0 * ub + off * ua)]

    def _gnvp(self, x, v):
        (z,), (u,) = x, v
        a = z[:-1]
        ju1 = 10.0 * (u[1:] - 2.0 * a * u[:-1])          # J v, first residual block
        ju2 = -u[:-1]                                    # second block
        return [self._pad(2.0 * (-20.0 * a * ju1 - ju2), 2.0 * (10.0 * ju1))]


# ---------------------------------------------------------------------- 2-D least squares classics

class _LeastSquares2D(Objective):
    """``f(x, y) = Σ_k r_k(x, y)²`` over two 0-d parameters, from each residual's value, gradient and
    Hessian: ``∇f = 2 Σ r_k ∇r_k``, ``∇²f = 2 Σ (∇r_k ∇r_kᵀ + r_k ∇²r_k)``, ``G = 2 Σ ∇r_k ∇r_kᵀ``."""

    has_gnvp = True

    def _residuals(self, x, y):   # -> list of (r, rx, ry, rxx, rxy, ryy)
        raise NotImplementedError

    def _loss(self, p):
        return sum(r * r for r, *_ in self._residuals(*p))

    def _grad(self, p):
        res = self._residuals(*p)
        return [sum(2.0 * r * rx for r, rx, *_ in res), sum(2.0 * r * ry for r, _, ry, *_ in res)]

    def _products(self, p, v, second_order: bool):
        (vx, vy), hx, hy = v, 0.0, 0.0
        for r, rx, ry, rxx, rxy, ryy in self._residuals(*p):
            jv = rx * vx + ry * vy
            hx = hx + 2.0 * rx * jv
            hy = hy + 2.0 * ry * jv
            if second_order:
                hx = hx + 2.0 * r * (rxx * vx + rxy * vy)
                hy = hy + 2.0 * r * (rxy * vx + ryy * vy)
        return [hx, hy]

    def _hvp(self, p, v):
        return self._products(p, v, True)

    def _gnvp(self, p, v):
        return self._products(p, v, False)


class Beale(_LeastSquares2D):
    r"""Beale's function ``Σ_{k=1}^{3} (c_k − x(1 − y^k))²``, ``c = (1.5, 2.25, 2.625)``; minimum
    ``f(3, ½) = 0``; start ``(1, 1)``.  Parameters: two 0-d arrays ``[x, y]``."""

    name = "beale"
    C = (1.5, 2.25, 2.625)

    def __init__(self, start: tuple[float, float] = (1.0, 1.0)):
        super().__init__(((), ()), [np.array(start[0]), np.array(start[1])], [np.array(3.0), np.array(0.5)], 0.0)

    def _residuals(self, x, y):
        out = []
        for k, c in enumerate(self.C, start=1):
            yk1 = y ** (k - 1)
            r = c - x * (1.0 - y * yk1)
            ryy = x * (k * (k - 1)) * y ** (k - 2) if k >= 2 else 0.0 * y
            out.append((r, -(1.0 - y * yk1), x * k * yk1, 0.0 * x, k * yk1, ryy))
        return out


class Himmelblau(_LeastSquares2D):
    r"""Himmelblau's function ``(x² + y − 11)² + (x + y² − 7)²``: four minima with ``f = 0``,
    (3, 2), (−2.805118, 3.131312), (−3.779310, −3.283186), (3.584428, −1.848126); a local maximum
    at (−0.270845, −0.923039); start ``(0, 0)``.  ``optimum`` is (3, 2); ``optima`` lists all four
    (to 6 decimals except the exact (3, 2))."""

    name = "himmelblau"
    OPTIMA = ((3.0, 2.0), (-2.805118, 3.131312), (-3.779310, -3.283186), (3.584428, -1.848126))

    def __init__(self, start: tuple[float, float] = (0.0, 0.0)):
        super().__init__(((), ()), [np.array(start[0]), np.array(start[1])], [np.array(3.0), np.array(2.0)], 0.0)
        self.optima = [[np.array(a), np.array(b)] for a, b in self.OPTIMA]

    def _residuals(self, x, y):
        zero = 0.0 * x
        return [(x * x + y - 11.0, 2.0 * x, 1.0 + zero, 2.0 + zero, zero, zero),
                (x + y * y - 7.0, 1.0 + zero, 2.0 * y, zero, zero, 2.0 + zero)]


# ------------------------------------------------------------------------------ data objectives

def _newton_optimum(obj: Objective, iters: int = 50) -> list[np.ndarray]:
    """Minimize a smooth convex data objective by Newton's method (float64, dense Hessian)."""
    x = [s.copy() for s in obj._start]
    n = sum(a.size for a in x)
    basis = np.eye(n)
    for _ in range(iters):
        g = _flat(obj.grad(x))
        if np.max(np.abs(g)) < 1e-13:
            break
        h = np.stack([_flat(obj.hvp(x, _split(basis[i], obj.shapes))) for i in range(n)], axis=1)
        x = _split(_flat(x) - np.linalg.solve(0.5 * (h + h.T), g), obj.shapes)
    return x


class LogisticRegression(Objective):
    r"""Binary logistic regression on generated data, parameters ``[w (d,), b ()]``:

    .. math:: f = \frac1N \sum_i \big(\log(1 + e^{z_i}) - y_i z_i\big) + \frac{λ}{2}\|w\|^2,\quad z = Xw + b

    ``X ~ N(0, I)`` (N × d), labels ``y_i ~ Bernoulli(σ(x_iᵀw_0 + b_0))`` for a random teacher.
    ``∇_w f = Xᵀ(σ(z) − y)/N + λw``; ``∇²f·v = Xᵀ(s ⊙ (X v_w + v_b))/N + λ v_w`` with ``s = σ(1 − σ)``;
    the model is linear in its parameters, so ``G = ∇²f``.  The optimum (unique for λ > 0) is
    computed once by Newton's method in float64.  Start: zeros.
    """

    name = "logistic_regression"
    has_gnvp = True
    has_fisher = True

    def __init__(self, n_samples: int = 64, n_features: int = 5, *, l2: float = 1e-2, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.X = rng.standard_normal((n_samples, n_features))
        w0, b0 = 2.0 * rng.standard_normal(n_features), 0.5
        self.y = (rng.uniform(size=n_samples) < 1.0 / (1.0 + np.exp(-(self.X @ w0 + b0)))).astype(np.float64)
        self.l2 = float(l2)
        super().__init__(((n_features,), ()), [np.zeros(n_features), np.array(0.0)])
        self.optimum = _newton_optimum(self)
        self.f_opt = float(self.loss(self.optimum))

    def _z(self, w, b):
        return self._const(w, self.X) @ w + b

    def _loss(self, p):
        w, b = p
        xp = array_namespace(w)
        z = self._z(w, b)
        return xp.mean(xp.logaddexp(xp.zeros_like(z), z) - self._const(w, self.y) * z) + 0.5 * self.l2 * xp.sum(w * w)

    def _grad(self, p):
        w, b = p
        xp = array_namespace(w)
        r = _sigmoid(self._z(w, b)) - self._const(w, self.y)
        n = self.X.shape[0]
        return [self._const(w, self.X).T @ r / n + self.l2 * w, xp.sum(r) / n]

    def _hvp(self, p, v):
        w, b = p
        vw, vb = v
        xp = array_namespace(w)
        x = self._const(w, self.X)
        s = _sigmoid(self._z(w, b))
        u = s * (1.0 - s) * (x @ vw + vb)
        n = self.X.shape[0]
        return [x.T @ u / n + self.l2 * vw, xp.sum(u) / n]

    _gnvp = _hvp

    def _fisher(self, p):
        w, b = p
        xp = array_namespace(w)
        x = self._const(w, self.X)
        r = _sigmoid(self._z(w, b)) - self._const(w, self.y)
        gw = x * r[:, None] + self.l2 * w            # per-sample gradients of ℓ_i + (λ/2)‖w‖²
        return [xp.mean(gw * gw, axis=0), xp.mean(r * r)]


def _log_softmax(z: Array) -> Array:
    xp = array_namespace(z)
    m = xp.max(z, axis=1, keepdims=True)
    return z - (m + xp.log(xp.sum(xp.exp(z - m), axis=1, keepdims=True)))


class SoftmaxRegression(Objective):
    r"""Multinomial logistic regression, parameters ``[W (d, k), b (k,)]``:

    .. math:: f = \frac1N \sum_i \big(\mathrm{lse}(z_i) - z_{i,y_i}\big) + \frac{λ}{2}\|W\|_F^2,\quad Z = XW + b

    Labels are the argmax of a random teacher's logits plus Gumbel noise.  With ``P = softmax(Z)``
    and one-hot ``Y``: ``∇_W f = Xᵀ(P − Y)/N + λW``; the output Hessian acts as
    ``H_ℓ u = P ⊙ u − P ⊙ (Σ_j P_j u_j)``, so ``∇²f·v = Xᵀ H_ℓ(X V_W + v_b)/N + λ V_W`` (= G·v).
    Optimum by Newton in float64 (the bias is only determined up to a constant shift across classes,
    so the Newton system is solved in the least-squares sense).  Start: zeros.
    """

    name = "softmax_regression"
    has_gnvp = True
    has_fisher = True

    def __init__(self, n_samples: int = 64, n_features: int = 4, n_classes: int = 3, *, l2: float = 1e-2,
                 seed: int = 0):
        rng = np.random.default_rng(seed)
        self.X = rng.standard_normal((n_samples, n_features))
        logits = self.X @ rng.standard_normal((n_features, n_classes)) + rng.gumbel(size=(n_samples, n_classes))
        self.Y = np.eye(n_classes)[np.argmax(logits, axis=1)]
        self.l2 = float(l2)
        super().__init__(((n_features, n_classes), (n_classes,)),
                         [np.zeros((n_features, n_classes)), np.zeros(n_classes)])
        self.optimum = self._optimum()
        self.f_opt = float(self.loss(self.optimum))

    def _optimum(self) -> list[np.ndarray]:
        x = [s.copy() for s in self._start]
        n = sum(a.size for a in x)
        for _ in range(50):
            g = _flat(self.grad(x))
            if np.max(np.abs(g)) < 1e-13:
                break
            h = np.stack([_flat(self.hvp(x, _split(e, self.shapes))) for e in np.eye(n)], axis=1)
            x = _split(_flat(x) - np.linalg.lstsq(0.5 * (h + h.T), g, rcond=None)[0], self.shapes)
        return x

    def _probs(self, p):
        w, b = p
        xp = array_namespace(w)
        z = self._const(w, self.X) @ w + b
        return z, xp.exp(_log_softmax(z))

    def _loss(self, p):
        w, _ = p
        xp = array_namespace(w)
        z, _ = self._probs(p)
        return -xp.sum(self._const(w, self.Y) * _log_softmax(z)) / self.X.shape[0] + 0.5 * self.l2 * xp.sum(w * w)

    def _grad(self, p):
        w, _ = p
        xp = array_namespace(w)
        _, prob = self._probs(p)
        r = (prob - self._const(w, self.Y)) / self.X.shape[0]
        return [self._const(w, self.X).T @ r + self.l2 * w, xp.sum(r, axis=0)]

    def _hvp(self, p, v):
        w, _ = p
        vw, vb = v
        xp = array_namespace(w)
        x = self._const(w, self.X)
        _, prob = self._probs(p)
        u = x @ vw + vb
        hu = (prob * u - prob * xp.sum(prob * u, axis=1, keepdims=True)) / self.X.shape[0]
        return [x.T @ hu + self.l2 * vw, xp.sum(hu, axis=0)]

    _gnvp = _hvp

    def _fisher(self, p):
        w, _ = p
        xp = array_namespace(w)
        x = self._const(w, self.X)
        _, prob = self._probs(p)
        r = prob - self._const(w, self.Y)                              # per-sample ∂ℓ_i/∂z_i
        gw = x[:, :, None] * r[:, None, :] + self.l2 * w                # (N, d, k)
        return [xp.mean(gw * gw, axis=0), xp.mean(r * r, axis=0)]


# ------------------------------------------------------------------------------------ networks

_ACTIVATIONS = ("tanh", "logistic", "linear")
_OUTPUT_LOSSES = ("squared", "softmax", "logistic")


def _act(name: str, a: Array) -> tuple[Array, Array, Array]:
    """``(φ(a), φ'(a), φ''(a))``."""
    xp = array_namespace(a)
    if name == "tanh":
        h = xp.tanh(a)
        d1 = 1.0 - h * h
        return h, d1, -2.0 * h * d1
    if name == "logistic":
        h = _sigmoid(a)
        d1 = h * (1.0 - h)
        return h, d1, d1 * (1.0 - 2.0 * h)
    return a, xp.ones_like(a), xp.zeros_like(a)


class _Network(Objective):
    r"""A fully connected network ``a_l = h_{l−1} W_l + b_l``, ``h_l = φ_l(a_l)``, ``h_0 = X``, with a
    loss on the last pre-activation ``a_L``; parameters ``[W_1 (n_0, n_1), b_1, …, W_L, b_L]``
    (the ``x @ W`` layout of jax/flax), ``f = (1/N) Σ_i ℓ(a_{L,i}, y_i) + (λ/2) Σ_l ‖W_l‖²``.

    Output losses (``δ_L = ∂f/∂a_L``, ``H_ℓ``): ``"squared"`` ``ℓ = ½‖a − y‖²``, ``δ = (a − y)/N``,
    ``H_ℓ = I/N``; ``"softmax"`` cross-entropy with one-hot ``y``, ``δ = (P − Y)/N``,
    ``H_ℓ u = (P⊙u − P⊙ΣPu)/N``; ``"logistic"`` sigmoid cross-entropy ``ℓ = Σ_j softplus(a_j) −
    y_j a_j`` (Martens' autoencoder loss for targets in [0, 1]), ``δ = (σ(a) − y)/N``,
    ``H_ℓ = diag(σ(1 − σ))/N``.

    Derivatives by hand: back-propagation for ``∇f``; Pearlmutter's (1994) R-operator applied to the
    forward and backward pass for ``∇²f·v`` (``R{a_l} = R{h_{l−1}}W_l + h_{l−1}V_l + v_{b_l}``,
    ``R{h_l} = φ'R{a_l}``, ``R{δ_L} = H_ℓ R{a_L}``, ``R{δ_{l−1}} = φ''R{a_{l−1}} ⊙ (δ_l W_lᵀ) +
    φ' ⊙ (R{δ_l}W_lᵀ + δ_l V_lᵀ)``, ``R{∇W_l} = R{h_{l−1}}ᵀδ_l + h_{l−1}ᵀR{δ_l}``); the Gauss-Newton
    product ``G v = Jᵀ H_ℓ J v`` is the same pass without the terms in ``δ`` (Schraudolph 2002).
    """

    has_gnvp = True
    has_fisher = True

    def __init__(self, sizes: Sequence[int], activations: Sequence[str], loss: str, X: np.ndarray,
                 Y: np.ndarray, start: list[np.ndarray], l2: float = 0.0):
        if len(activations) != len(sizes) - 2:
            raise ValueError(f"activations must name one activation per hidden layer ({len(sizes) - 2}); "
                             f"got {list(activations)}")
        for a in activations:
            if a not in _ACTIVATIONS:
                raise ValueError(f"activation must be one of {', '.join(map(repr, _ACTIVATIONS))}; got {a!r}")
        if loss not in _OUTPUT_LOSSES:
            raise ValueError(f"loss must be one of {', '.join(map(repr, _OUTPUT_LOSSES))}; got {loss!r}")
        self.sizes, self.activations, self.output_loss = tuple(sizes), tuple(activations), loss
        self.X, self.Y, self.l2 = np.asarray(X, np.float64), np.asarray(Y, np.float64), float(l2)
        shapes = [s for i in range(len(sizes) - 1) for s in ((sizes[i], sizes[i + 1]), (sizes[i + 1],))]
        super().__init__(shapes, start)

    @property
    def n_samples(self) -> int:
        return self.X.shape[0]

    def _forward(self, p):
        x = self._const(p[0], self.X)
        hs, derivs = [x], []
        n_layers = len(p) // 2
        for layer in range(n_layers):
            a = hs[-1] @ p[2 * layer] + p[2 * layer + 1]
            if layer < n_layers - 1:
                h, d1, d2 = _act(self.activations[layer], a)
                hs.append(h)
                derivs.append((d1, d2))
            else:
                out = a
        return hs, derivs, out

    def _per_sample(self, out, like):
        """``(Σ_i ℓ_i, ∂ℓ_i/∂a per sample, H_ℓ applied per sample as a function)`` (not divided by N)."""
        xp = array_namespace(out)
        y = self._const(like, self.Y)
        if self.output_loss == "squared":
            r = out - y
            return 0.5 * xp.sum(r * r), r, (lambda u: u)
        if self.output_loss == "softmax":
            logp = _log_softmax(out)
            prob = xp.exp(logp)
            return -xp.sum(y * logp), prob - y, (lambda u: prob * u - prob * xp.sum(prob * u, axis=1, keepdims=True))
        s = _sigmoid(out)
        return (xp.sum(xp.logaddexp(xp.zeros_like(out), out) - y * out), s - y, (lambda u: s * (1.0 - s) * u))

    def _reg(self, p):
        xp = array_namespace(p[0])
        return 0.5 * self.l2 * sum(xp.sum(w * w) for w in p[0::2])

    def _loss(self, p):
        _, _, out = self._forward(p)
        total, _, _ = self._per_sample(out, p[0])
        return total / self.n_samples + self._reg(p)

    def _backward(self, p, hs, derivs, delta):
        xp = array_namespace(p[0])
        grads = [None] * len(p)
        for layer in range(len(p) // 2 - 1, -1, -1):
            grads[2 * layer] = hs[layer].T @ delta + self.l2 * p[2 * layer]
            grads[2 * layer + 1] = xp.sum(delta, axis=0)
            if layer > 0:
                delta = derivs[layer - 1][0] * (delta @ p[2 * layer].T)
        return grads

    def _grad(self, p):
        hs, derivs, out = self._forward(p)
        _, dl, _ = self._per_sample(out, p[0])
        return self._backward(p, hs, derivs, dl / self.n_samples)

    def _rop(self, p, v, second_order: bool):
        xp = array_namespace(p[0])
        hs, derivs, out = self._forward(p)
        _, dl, h_out = self._per_sample(out, p[0])
        n_layers = len(p) // 2
        # forward R-pass
        r_h = xp.zeros_like(hs[0])
        r_as = []
        for layer in range(n_layers):
            r_a = r_h @ p[2 * layer] + hs[layer] @ v[2 * layer] + v[2 * layer + 1]
            r_as.append(r_a)
            if layer < n_layers - 1:
                r_h = derivs[layer][0] * r_a
        # backward R-pass
        delta = dl / self.n_samples
        r_delta = h_out(r_as[-1]) / self.n_samples
        r_hs = [xp.zeros_like(hs[0])] + [derivs[i][0] * r_as[i] for i in range(n_layers - 1)]
        out_v = [None] * len(p)
        for layer in range(n_layers - 1, -1, -1):
            w, vw = p[2 * layer], v[2 * layer]
            rg = hs[layer].T @ r_delta + self.l2 * vw
            if second_order:
                rg = rg + r_hs[layer].T @ delta
            out_v[2 * layer] = rg
            out_v[2 * layer + 1] = xp.sum(r_delta, axis=0)
            if layer > 0:
                d1, d2 = derivs[layer - 1]
                back = r_delta @ w.T
                if second_order:
                    g_h = delta @ w.T
                    r_delta_new = d2 * r_as[layer - 1] * g_h + d1 * (back + delta @ vw.T)
                    delta = d1 * g_h
                else:
                    r_delta_new = d1 * back
                    delta = d1 * (delta @ w.T)
                r_delta = r_delta_new
        return out_v

    def _hvp(self, p, v):
        return self._rop(p, v, True)

    def _gnvp(self, p, v):
        return self._rop(p, v, False)

    def _fisher(self, p):
        """``(1/N) Σ_i (∇ℓ_i + λW)²``: per-sample weight gradients are outer products
        ``h_{l−1,i} δ_{l,i}ᵀ``; with the decay term the square is expanded."""
        xp = array_namespace(p[0])
        hs, derivs, out = self._forward(p)
        _, delta, _ = self._per_sample(out, p[0])
        n = self.n_samples
        res = [None] * len(p)
        for layer in range(len(p) // 2 - 1, -1, -1):
            h, w = hs[layer], p[2 * layer]
            res[2 * layer] = ((h * h).T @ (delta * delta) + 2.0 * self.l2 * w * (h.T @ delta)) / n \
                + (self.l2 * w) ** 2
            res[2 * layer + 1] = xp.sum(delta * delta, axis=0) / n
            if layer > 0:
                delta = derivs[layer - 1][0] * (delta @ w.T)
        return res


def _dense_init(rng: np.random.Generator, sizes: Sequence[int], gain: float = 1.0) -> list[np.ndarray]:
    out = []
    for i in range(len(sizes) - 1):
        out += [gain * rng.standard_normal((sizes[i], sizes[i + 1])) / math.sqrt(sizes[i]), np.zeros(sizes[i + 1])]
    return out


def _sparse_init(rng: np.random.Generator, sizes: Sequence[int], k: int = 15, scale: float = 1.0) -> list[np.ndarray]:
    """Martens (2010) sparse initialization: each unit gets ``min(k, fan_in)`` non-zero incoming
    weights ``scale·N(0, 1)``; biases 0 (ALGORITHMS §2.3)."""
    out = []
    for i in range(len(sizes) - 1):
        w = np.zeros((sizes[i], sizes[i + 1]))
        for j in range(sizes[i + 1]):
            idx = rng.choice(sizes[i], size=min(k, sizes[i]), replace=False)
            w[idx, j] = scale * rng.standard_normal(idx.size)
        out += [w, np.zeros(sizes[i + 1])]
    return out


class MLP(_Network):
    r"""A small classifier: ``sizes`` (default 4 → 16 → 3), ``activation`` units in every hidden layer,
    softmax cross-entropy (``loss="softmax"``) or squared error to the teacher's one-hot labels.
    Data: ``X ~ N(0, I)``, labels the argmax of a random tanh teacher network.  Start: Gaussian
    weights with std ``1/√fan_in``, zero biases (seeded).  See `_Network` for the derivatives.
    """

    name = "mlp"

    def __init__(self, sizes: Sequence[int] = (4, 16, 3), *, activation: str = "tanh", loss: str = "softmax",
                 n_samples: int = 64, l2: float = 0.0, seed: int = 0):
        rng = np.random.default_rng(seed)
        x = rng.standard_normal((n_samples, sizes[0]))
        teacher = np.tanh(x @ rng.standard_normal((sizes[0], sizes[1]))) @ rng.standard_normal((sizes[1], sizes[-1]))
        y = np.eye(sizes[-1])[np.argmax(teacher, axis=1)]
        super().__init__(sizes, [activation] * (len(sizes) - 2), loss, x, y, _dense_init(rng, sizes), l2)


class DeepAutoencoder(_Network):
    r"""A small deep autoencoder in the Hinton & Salakhutdinov (2006) / Martens (2010) setting:
    logistic hidden units, a linear code layer in the middle, sigmoid cross-entropy on the
    reconstruction, Martens' sparse initialization (``min(15, fan_in)`` N(0, 1) weights per unit,
    zero biases).  Default ``sizes = (16, 12, 8, 4, 2, 4, 8, 12, 16)`` (eight weight layers),
    128 samples: deep and narrow enough that SGD with momentum crawls (ALGORITHMS §2.4).

    Data ("curves"-like, in [0, 1]): each sample is a smooth 1-D curve ``y_j = σ(3 sin(ω j/16 + φ)
    + c)`` over 16 positions with random frequency, phase and offset — points of a low-dimensional
    manifold, so a 2-unit code can reconstruct them well.  Inputs equal targets.
    """

    name = "deep_autoencoder"

    def __init__(self, sizes: Sequence[int] = (16, 12, 8, 4, 2, 4, 8, 12, 16), *, activation: str = "logistic",
                 n_samples: int = 128, init_scale: float = 1.0, seed: int = 0):
        if len(sizes) < 3 or sizes[0] != sizes[-1]:
            raise ValueError(f"sizes must start and end with the same width; got {list(sizes)}")
        rng = np.random.default_rng(seed)
        pos = np.arange(sizes[0]) / sizes[0]
        omega = rng.uniform(2.0, 6.0, size=(n_samples, 1))
        phase = rng.uniform(0.0, 2 * np.pi, size=(n_samples, 1))
        offset = rng.uniform(-1.0, 1.0, size=(n_samples, 1))
        data = 1.0 / (1.0 + np.exp(-(3.0 * np.sin(omega * pos + phase) + offset)))
        code = (len(sizes) - 1) // 2 - 1                     # the middle hidden layer is linear
        acts = [("linear" if i == code else activation) for i in range(len(sizes) - 2)]
        super().__init__(sizes, acts, "logistic", data, data, _sparse_init(rng, sizes, 15, init_scale))
        # the loss of a perfect reconstruction: Σ_j binary entropy of the targets, averaged
        ent = -(data * np.log(data) + (1 - data) * np.log1p(-data))
        self.f_floor = float(np.sum(ent) / n_samples)


# ------------------------------------------------------------------------------------- NGOS

class NGOSLinear(Objective):
    r"""The NGOS linear loss (ALGORITHMS §1.4): ``L(θ) = ⟨c, θ⟩`` observed through noisy gradients

    .. math:: g_t = c + σ ⊙ z_t,\qquad z_t \sim N(0, I)\ \text{i.i.d.},\qquad
              E[g_t] = c,\quad E[g_t^2] = c^2 + σ^2 =: s

    (Malladi et al. 2022's noisy gradient oracle with constant covariance ``diag(σ²)``).  The exact
    protocol methods see the noise-free loss: ``grad = c``, ``hvp = gnvp = 0``.  The stochastic
    source is ``sample_grad(x, step)``: the gradient at draw ``step`` (an int ≥ 0), deterministic
    given ``seed`` and ``step`` and identical on every namespace — ``z_t`` is
    ``v0ref.random.normal(fold_in(key(seed), step), shape)`` (Threefry; same bits on numpy, torch,
    jax).  ``mean`` and ``second_moment`` are ``c`` and ``s`` (float64 numpy), the targets of the
    data-driven v0 (ALGORITHMS §1.5).  Default: ``c`` and ``σ`` drawn once from the seed,
    ``c ~ N(0, 1)``, ``σ = 10^{U(−1, 1)}`` per coordinate.
    """

    name = "ngos_linear"
    has_gnvp = True

    def __init__(self, n: int = 8, *, c: Sequence[float] | None = None, sigma: Any = None, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.c = rng.standard_normal(n) if c is None else np.asarray(c, dtype=np.float64)
        if sigma is None:
            sigma = 10.0 ** rng.uniform(-1.0, 1.0, size=self.c.shape)
        self.sigma = np.broadcast_to(np.asarray(sigma, dtype=np.float64), self.c.shape).copy()
        if self.c.ndim != 1 or not np.all(np.isfinite(self.c)):
            raise ValueError(f"c must be a finite 1-D vector; got {c!r}")
        if not np.all(np.isfinite(self.sigma)) or np.any(self.sigma < 0):
            raise ValueError(f"sigma must be finite and >= 0; got {sigma!r}")
        self.seed = int(seed)
        super().__init__(((self.c.shape[0],),), [np.zeros(self.c.shape[0])])

    @property
    def mean(self) -> np.ndarray:
        return self.c.copy()

    @property
    def second_moment(self) -> np.ndarray:
        return self.c ** 2 + self.sigma ** 2

    def _loss(self, p):
        (th,) = p
        xp = array_namespace(th)
        return xp.sum(self._const(th, self.c) * th)

    def _grad(self, p):
        (th,) = p
        return [self._const(th, self.c) + 0.0 * th]

    def _hvp(self, p, v):
        return [0.0 * v[0]]

    _gnvp = _hvp

    def sample_grad(self, x: Sequence[Array], step: int) -> list[Array]:
        """The noisy gradient ``c + σ ⊙ z_step`` (same for any ``x``: the loss is linear)."""
        from . import random as R
        (th,) = self._check(x)
        if isinstance(step, bool) or not isinstance(step, int) or step < 0:
            raise ValueError(f"step must be an integer >= 0; got {step!r}")
        xp = array_namespace(th)
        z = R.normal(R.fold_in(R.key(self.seed), step), th.shape, dtype=xp.float64, xp=xp)
        z = xp.asarray(z, dtype=th.dtype, device=_device(th))
        return [self._const(th, self.c) + self._const(th, self.sigma) * z]


# ------------------------------------------------------------------------------------- saddle toy

class SaddleToy(Objective):
    r"""A 2-D saddle toy for the paper's §3.1 claim (its own constants are not in our sources,
    ALGORITHMS §1.12; these are ours):

    .. math:: f(x, y) = \frac{a}{2}(x - x_*)^2 + \frac{y^4}{4} - \frac{y^2}{2} + κ\,(x - x_s)\,y,
              \qquad a = 10,\ x_* = 2,\ x_s = 1,\ κ = 0.01,

    one parameter ``θ = (x, y)`` of shape (2,), start ``(0, 0)``.  In ``y`` it is a double well with
    minima near ``y = ±1`` and the ridge (a saddle of f) at ``y ≈ 0`` where the run starts; the
    small coupling ``κ(x − x_s)y`` tilts it: while ``x < x_s`` toward ``+1``, once ``x > x_s``
    toward ``−1``.  So the global minimum is near ``(2, −1)`` (``f ≈ −0.26``) and the worse local
    minimum near ``(2, +1)`` (``f ≈ −0.24``), separated by the ridge.

    Why Adam's v0 decides the basin (lr = 0.05, betas (0.9, 0.999), ε = 1e-8, 4000 steps):

    * **v0 = 0**: the first steps are sign descent, ``θ_1 = θ_0 − lr·sign(g_0)`` (ALGORITHMS §1.2)
      — every coordinate moves by lr however small its gradient.  At the start ``∂f/∂y = −κ(x_s) =
      −0.01`` is tiny but ``y`` still moves +0.05 a step, as fast as ``x``, and is already on the
      ``+1`` side of the ridge (``y³ − y`` dominates the ±κ tilt there) long before ``x`` passes
      ``x_s``: Adam ends at ``(2, +1)``, the worse basin.
    * **v0 ≠ 0** (e.g. a constant v0 = 1, or Eq. 11's random χ² v0 with key 0 and σ = 1): the first steps
      are ``lr·g/√v̂`` with ``v̂ ≈ v0/(1 − β2)`` — proportional to the gradient, so ``x``
      (``|∂f/∂x| = 20``) reaches ``x_s`` in a few dozen steps while ``y`` has moved ~1e-4.  Then the
      tilt points to ``−1`` and the unstable ridge direction carries ``y`` there: Adam reaches the
      global minimum.  Which basin a random v0 picks depends on the draw for ``y``: it reaches the
      optimum when that coordinate's v0 ≳ 0.053, i.e. with probability ``erfc(√(0.053/(2σ')))`` for
      ``v0_y = σ'·χ²₁`` (σ' = σ/(fan_in + fan_out) = σ/4 for the toy's one 2-vector): ≈ 0.65 at
      σ = 1, measured 13 of 20 draws (``experiments/saddle.py``).

    ``optimum`` and ``local_minimum`` are computed by Newton's method in float64.
    """

    name = "saddle_toy"
    has_gnvp = False

    def __init__(self, a: float = 10.0, x_opt: float = 2.0, x_switch: float = 1.0, kappa: float = 0.01,
                 start: tuple[float, float] = (0.0, 0.0)):
        self.a, self.x_opt, self.x_switch, self.kappa = float(a), float(x_opt), float(x_switch), float(kappa)
        super().__init__(((2,),), [np.asarray(start, dtype=np.float64)])
        self.optimum = [self._newton(np.array([x_opt, -1.0]))]
        self.local_minimum = [self._newton(np.array([x_opt, 1.0]))]
        self.f_opt = float(self.loss(self.optimum))
        self.f_local = float(self.loss(self.local_minimum))

    def _newton(self, z: np.ndarray) -> np.ndarray:
        for _ in range(50):
            g = self.grad([z])[0]
            h = np.stack([self.hvp([z], [e])[0] for e in np.eye(2)], axis=1)
            z = z - np.linalg.solve(h, g)
        return z

    def _loss(self, p):
        (t,) = p
        x, y = t[0], t[1]
        return 0.5 * self.a * (x - self.x_opt) ** 2 + 0.25 * y ** 4 - 0.5 * y ** 2 + self.kappa * (x - self.x_switch) * y

    def _grad(self, p):
        (t,) = p
        xp = array_namespace(t)
        x, y = t[0], t[1]
        gx = self.a * (x - self.x_opt) + self.kappa * y
        gy = y ** 3 - y + self.kappa * (x - self.x_switch)
        return [xp.stack([gx, gy])]

    def _hvp(self, p, v):
        (t,), (u,) = p, v
        xp = array_namespace(t)
        y = t[1]
        hx = self.a * u[0] + self.kappa * u[1]
        hy = self.kappa * u[0] + (3.0 * y * y - 1.0) * u[1]
        return [xp.stack([hx, hy])]


# ------------------------------------------------------------------------------------- registry

class _Objectives(Mapping[str, Callable[..., Objective]]):
    """Read-only name -> factory mapping (``OBJECTIVES["rosenbrock"](n=4)``)."""

    def __init__(self, factories: Mapping[str, Callable[..., Objective]]):
        self._f = dict(factories)

    def __getitem__(self, name: str) -> Callable[..., Objective]:
        try:
            return self._f[name]
        except KeyError:
            raise KeyError(f"unknown objective {name!r}; valid: {', '.join(sorted(self._f))}") from None

    def __iter__(self):
        return iter(sorted(self._f))

    def __len__(self) -> int:
        return len(self._f)

    def __repr__(self) -> str:
        return f"OBJECTIVES({', '.join(self)})"


OBJECTIVES = _Objectives({cls.name: cls for cls in (Quadratic, Rosenbrock, Beale, Himmelblau, LogisticRegression,
                                                    SoftmaxRegression, MLP, DeepAutoencoder, NGOSLinear, SaddleToy)})
