"""Sphinx configuration."""

from __future__ import annotations

import securehost

project = "securehost"
author = "securehost developers"
copyright = "2026, securehost developers"
release = securehost.__version__
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.doctest",
]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
myst_enable_extensions = ["colon_fence", "deflist"]
html_theme = "furo"
html_title = "securehost"
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}
napoleon_google_docstring = True
napoleon_numpy_docstring = False
# No intersphinx: the docs build offline (CI has no network beyond package indexes).
nitpicky = False
suppress_warnings = ["myst.header"]
exclude_patterns = ["_build"]
