"""The documentation site: it builds with warnings as errors, every registry entry has its
generated page, every Python example in README.md and docs/**/*.md runs, and the keras rows of
the convention table reproduce keras' arithmetic.

Markdown examples: the ```python blocks of one page run in order in one namespace.  A block whose
first line is ``# requires: mod1, mod2`` runs only where those modules import; otherwise it is
skipped and reported by `test_markdown_block_requirements` (one skip per block, naming the
module), so a page's examples are enabled as soon as the API they use lands.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
sys.path.insert(0, str(DOCS / "_ext"))

import v0ref  # noqa: E402
import v0ref_registry as reg  # noqa: E402

_FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)
_REQUIRES = re.compile(r"^#\s*requires:\s*(.+)$")


def _markdown_pages() -> list[Path]:
    pages = [ROOT / "README.md"]
    pages += sorted(p for p in DOCS.rglob("*.md") if not {"_build", "generated"} & set(p.relative_to(DOCS).parts))
    return pages


def _blocks(page: Path) -> list[tuple[int, str, list[str]]]:
    """``(line, code, required modules)`` of every ```python block of ``page``."""
    text = page.read_text(encoding="utf-8")
    out = []
    for match in _FENCE.finditer(text):
        code = match.group(1)
        first = code.splitlines()[0] if code.strip() else ""
        req = _REQUIRES.match(first)
        mods = [m.strip() for m in req.group(1).split(",")] if req else []
        out.append((text.count("\n", 0, match.start()) + 1, code, mods))
    return out


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _rel(page: Path) -> str:
    return page.relative_to(ROOT).as_posix()


# --------------------------------------------------------------------------------------------
# (a) the site builds with -W; (c) every registry entry has its page
# --------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("html")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-E", "-W", "--keep-going", "-q", "-b", "html",
                           str(DOCS), str(out)], cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    print(f"sphinx-build -W: {seconds:.1f} s")
    return out, proc, seconds


def test_site_builds_without_warnings(site):
    out, proc, seconds = site
    assert proc.returncode == 0, f"sphinx-build -W failed after {seconds:.1f} s:\n{proc.stderr[-6000:]}"
    assert (out / "index.html").exists()


def _ids(html: Path) -> set[str]:
    return set(re.findall(r'id="([^"]+)"', html.read_text(encoding="utf-8")))


def _label_id(label: str) -> str:
    from docutils.nodes import make_id
    return make_id(label)


def test_every_optimizer_has_a_generated_page(site):
    out, proc, _ = site
    assert proc.returncode == 0
    for name, alg in v0ref.OPTIMIZERS.items():
        page = out / "generated" / "optimizers" / f"{name}.html"
        assert page.exists(), f"no generated page for optimizer {name!r}"
        text = page.read_text(encoding="utf-8")
        for f in alg.defaults():                               # every hyperparameter is documented
            assert f">{f}<" in text, f"{name}: hyperparameter {f!r} missing from its page"
        assert _label_id(f"conv-{name}") in _ids(out / "generated" / "conventions.html")


@pytest.mark.parametrize("registry, page, prefix", [
    ("STRATEGIES", "strategies", "strategy"),
    ("INITS", "initializers", "init"),
    ("SCHEDULES", "schedules", "schedule"),
])
def test_every_registry_entry_has_a_section(site, registry, page, prefix):
    out, proc, _ = site
    assert proc.returncode == 0
    ids = _ids(out / "generated" / f"{page}.html")
    missing = [n for n in getattr(v0ref, registry) if _label_id(f"{prefix}-{n}") not in ids]
    assert not missing, f"{registry} entries without a section on {page}.html: {missing}"


def test_objectives_have_sections_when_present(site):
    objectives = pytest.importorskip("v0ref.objectives")
    if not hasattr(objectives, "OBJECTIVES"):
        pytest.skip("v0ref.objectives has no OBJECTIVES registry yet")
    out, proc, _ = site
    assert proc.returncode == 0
    ids = _ids(out / "generated" / "objectives.html")
    assert not [n for n in objectives.OBJECTIVES if _label_id(f"objective-{n}") not in ids]


def test_generated_pages_cover_the_registries_without_a_build():
    pages = reg.render_all()
    for name in v0ref.OPTIMIZERS:
        assert f"optimizers/{name}.rst" in pages
        assert f".. _alg-{name}:" in pages[f"optimizers/{name}.rst"]
    for registry, page, prefix in (("STRATEGIES", "strategies.rst", "strategy"), ("INITS", "initializers.rst", "init"),
                                   ("SCHEDULES", "schedules.rst", "schedule")):
        for name in getattr(v0ref, registry):
            assert f".. _{prefix}-{name}:" in pages[page], (registry, name)


# --------------------------------------------------------------------------------------------
# facts the generator derives must be the code's facts
# --------------------------------------------------------------------------------------------

def test_ranges_come_from_the_validators():
    cons = reg.constraints(v0ref.OPTIMIZERS["adam"])
    assert "lr must be a finite number >= 0" in cons["lr"]
    assert "betas[1] must be in [0, 1)" in cons["betas"]
    assert any("bias_correction must be one of" in m for m in cons["bias_correction"])


def test_first_step_table_matches_the_paper_values():
    rows = reg.first_steps(v0ref.OPTIMIZERS["adam"], {"torch": v0ref.OPTIMIZERS["adam"].hyper()})
    conv, label, zero, prefilled = rows[0]
    assert (conv, label) == ("torch", "defaults")
    assert zero == pytest.approx(-1e-3 * 0.5 / (0.5 + 1e-8), rel=1e-14)   # torch float64: -9.9999998e-4
    assert prefilled == pytest.approx(-1.5625e-4, rel=1e-10)


def test_framework_reproductions_are_verified_or_say_why():
    for name, alg in v0ref.OPTIMIZERS.items():
        for ref in alg.references:
            fw = reg.framework_defaults(ref.target)
            if fw is None or reg._ref_start(alg, ref) is None:
                continue
            rep = reg.reproduce(alg, ref, fw)
            assert rep.verified or rep.unmatched, f"{name} vs {ref.target}: {rep}"


def test_name_map_finds_renamed_keywords():
    alg = v0ref.OPTIMIZERS["adam"]
    ref = next(r for r in alg.references if r.target == "optax.adam")
    names = reg.name_map(alg, ref, alg.hyper(convention="optax"))
    assert names["lr"] == ["learning_rate"] and names["betas"] == ["b1", "b2"]


# --------------------------------------------------------------------------------------------
# keras rows: NumPy transcriptions of keras 3's update_step (keras/src/optimizers/*.py)
# --------------------------------------------------------------------------------------------

def _keras_adam(p, g, s, t, lr, b1=0.9, b2=0.999, eps=1e-7, amsgrad=False):
    m, v, vh = s
    alpha = lr * np.sqrt(1 - b2**t) / (1 - b1**t)
    m = m + (g - m) * (1 - b1)
    v = v + (g * g - v) * (1 - b2)
    if amsgrad:
        vh = np.maximum(vh, v)
    return p - m * alpha / (np.sqrt(vh if amsgrad else v) + eps), (m, v, vh)


def _keras_adamw(p, g, s, t, lr, wd=0.004):
    return _keras_adam(p - p * wd * lr, g, s, t, lr)


def _keras_adagrad(p, g, s, t, lr, eps=1e-7):
    (acc,) = s
    acc = acc + g * g
    return p - lr * g / np.sqrt(acc + eps), (acc,)


def _keras_rmsprop(p, g, s, t, lr, rho=0.9, momentum=0.0, eps=1e-7, centered=False):
    vel, mom, avg = s
    vel = rho * vel + (1 - rho) * g * g
    if centered:
        avg = rho * avg + (1 - rho) * g
        denom = vel - avg * avg + eps
    else:
        denom = vel + eps
    inc = lr * g / np.sqrt(denom)
    if momentum > 0:
        mom = momentum * mom + inc
        return p - mom, (vel, mom, avg)
    return p - inc, (vel, mom, avg)


def _keras_sgd(p, g, s, t, lr, momentum=0.0, nesterov=False):
    (m,) = s
    m = m * momentum - g * lr
    return (p + m * momentum - g * lr if nesterov else p + m), (m,)


def _keras_adadelta(p, g, s, t, lr, rho=0.95, eps=1e-7):
    acc_g, acc_d = s
    acc_g = rho * acc_g + (1 - rho) * g * g
    delta = -np.sqrt(acc_d + eps) * g / np.sqrt(acc_g + eps)
    acc_d = rho * acc_d + (1 - rho) * delta * delta
    return p + lr * delta, (acc_g, acc_d)


def _keras_nadam(p, g, s, t, lr, b1=0.9, b2=0.999, eps=1e-7):
    m, v, u_prod = s
    u_t = b1 * (1 - 0.5 * 0.96**t)
    u_next = b1 * (1 - 0.5 * 0.96 ** (t + 1))
    u_prod = u_prod * u_t                       # keras updates the product before the step
    m = m + (g - m) * (1 - b1)
    v = v + (g * g - v) * (1 - b2)
    m_hat = u_next * m / (1 - u_prod * u_next) + (1 - u_t) * g / (1 - u_prod)
    return p - m_hat * lr / (np.sqrt(v / (1 - b2**t)) + eps), (m, v, u_prod)


def _keras_adamax(p, g, s, t, lr, b1=0.9, b2=0.999, eps=1e-7):
    m, u = s
    m = m + (g - m) * (1 - b1)
    u = np.maximum(b2 * u, np.abs(g))
    return p - lr * m / ((1 - b1**t) * (u + eps)), (m, u)


_KERAS_CASES = [   # (registry name, transcription, keras kwargs, extra v0ref hyperparameters, initial keras state)
    ("adam", _keras_adam, {}, {}, lambda z: (z, z, z)),
    ("adam", _keras_adam, {"amsgrad": True}, {"amsgrad": True}, lambda z: (z, z, z)),
    ("adamw", _keras_adamw, {}, {}, lambda z: (z, z, z)),
    ("adagrad", _keras_adagrad, {}, {}, lambda z: (z + 0.1,)),
    ("rmsprop", _keras_rmsprop, {}, {}, lambda z: (z, z, z)),
    ("rmsprop", _keras_rmsprop, {"momentum": 0.9, "centered": True}, {"momentum": 0.9, "centered": True},
     lambda z: (z, z, z)),
    ("sgd", _keras_sgd, {"momentum": 0.9}, {"momentum": 0.9}, lambda z: (z,)),
    ("sgd", _keras_sgd, {"momentum": 0.9, "nesterov": True}, {"momentum": 0.9, "nesterov": True}, lambda z: (z,)),
    ("adadelta", _keras_adadelta, {}, {}, lambda z: (z, z)),
    ("nadam", _keras_nadam, {}, {}, lambda z: (z, z, 1.0)),
]


@pytest.mark.parametrize("name, keras_step, keras_kw, extra, state0", _KERAS_CASES,
                         ids=[f"{c[0]}-{'-'.join(c[2]) or 'defaults'}" for c in _KERAS_CASES])
def test_keras_rows_reproduce_keras(name, keras_step, keras_kw, extra, state0):
    entry = reg.KERAS[name]
    assert entry.exact
    alg = v0ref.OPTIMIZERS[name]
    hp = alg.hyper(**{**entry.hyper, **extra})
    lr = entry.defaults["learning_rate"]
    rng = np.random.default_rng(7)
    p = q = rng.standard_normal(12)
    state, ks = alg.init(p, hp), state0(np.zeros(12))
    for t in range(1, 31):
        g = rng.standard_normal(12) * 10.0 ** rng.uniform(-3, 1, 12)
        p, state = alg.update(p, g, state, hp)
        q, ks = keras_step(q, g, ks, t, lr, **keras_kw)
        np.testing.assert_allclose(p, q, rtol=1e-10, atol=1e-15, err_msg=f"{name} step {t}")


def test_keras_adamax_row_is_marked_approximate_because_it_differs():
    entry = reg.KERAS["adamax"]
    alg = v0ref.OPTIMIZERS["adamax"]
    hp = alg.hyper(**entry.hyper)
    # step 1 agrees (u = |g| + ε either way); at step 2, with |g_1| ≪ ε, torch's max(β2·u, |g| + ε)
    # and keras' max(β2·u, |g|) + ε differ
    grads = [np.array([1e-10, 1.0]), np.array([0.0, 0.5])]
    p, s, q, ks = np.zeros(2), alg.init(np.zeros(2), hp), np.zeros(2), (np.zeros(2), np.zeros(2))
    for t, g in enumerate(grads, start=1):
        p, s = alg.update(p, g, s, hp)
        q, ks = _keras_adamax(q, g, ks, t, 1e-3)
    assert not entry.exact
    assert abs(p[0] - q[0]) > 1e-4 * abs(q[0])
    assert np.isclose(p[1], q[1], rtol=1e-6)


def test_keras_rows_name_real_hyperparameters():
    for name, entry in reg.KERAS.items():
        alg = v0ref.OPTIMIZERS[name]
        alg.hyper(**entry.hyper)
        fields = set(alg.defaults())
        assert {v.split("[")[0] for v in entry.names.values()} <= fields, name


# --------------------------------------------------------------------------------------------
# (b) every Python example in README.md and docs/**/*.md runs
# --------------------------------------------------------------------------------------------

_PAGES = [p for p in _markdown_pages() if _blocks(p)]       # pages with at least one python block


@pytest.mark.parametrize("page", _PAGES, ids=[_rel(p) for p in _PAGES])
def test_markdown_examples_run(page, tmp_path, monkeypatch):
    blocks = _blocks(page)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__docs__"}
    ran = 0
    for line, code, mods in blocks:
        if not all(_importable(m) for m in mods):
            continue                 # reported by test_markdown_block_requirements
        for m in mods:
            importlib.import_module(m)
        try:
            exec(compile(code, f"{_rel(page)}:{line}", "exec"), namespace)
        except Exception as exc:
            raise AssertionError(f"example at {_rel(page)}:{line} failed: {type(exc).__name__}: {exc}") from exc
        ran += 1
    assert ran, f"no runnable python block in {_rel(page)}"


_GATED = [(page, line, [m for m in mods if not _importable(m)]) for page in _PAGES for line, _, mods in _blocks(page)
          if mods and not all(_importable(m) for m in mods)]


def test_markdown_block_requirements():
    """Examples gated on a framework that is not importable here are named (skipped, never silent)."""
    if _GATED:
        pytest.skip("examples not run here: " + "; ".join(f"{_rel(p)}:{ln} needs {', '.join(m)}"
                                                          for p, ln, m in _GATED))
