"""Sphinx configuration of the v0ref documentation.

Build: ``sphinx-build -W -b html docs docs/_build/html`` (warnings are errors).  The reference
pages under ``docs/generated/`` are written at build time by ``docs/_ext/v0ref_registry.py``
from the registries; do not edit them.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))
try:
    import v0ref
except ImportError:                                 # a checkout that is not installed
    sys.path.insert(0, str(HERE.parent / "src"))
    import v0ref

project = "v0ref"
author = "v0ref developers"
copyright = "v0ref developers"
release = version = v0ref.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx_copybutton",
    "v0ref_registry",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "README.md"]
templates_path: list[str] = []

# Markdown: $...$ / $$...$$ math, ::: fences, definition lists, heading anchors for links.
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

# Single backticks in docstrings are cross-references to Python objects; ones that do not
# resolve render as code (nitpicky stays off: docstrings name arrays such as `param`, too).
default_role = "py:obj"

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
napoleon_numpy_docstring = True
napoleon_google_docstring = False
napoleon_use_rtype = False

copybutton_prompt_text = r">>> |\.\.\. |\$ "
copybutton_prompt_is_regexp = True

html_theme = "pydata_sphinx_theme"
html_title = f"v0ref {version}"
html_theme_options = {
    "navigation_depth": 2,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
}
html_static_path: list[str] = []
