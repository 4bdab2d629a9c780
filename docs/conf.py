"""Sphinx configuration: MyST pages, autodoc (Google docstrings), doctests, furo.

Build (warnings are errors)::

    sphinx-build -W --keep-going -b html docs docs/_build/html
    sphinx-build -W --keep-going -b doctest docs docs/_build/doctest

Links into the Python and pluggy documentation need their inventories from the network; set
``SECUREHOST_DOCS_INTERSPHINX=1`` to enable them (an unreachable inventory is a warning, and ``-W`` makes it an
error, so offline builds leave them out).
"""

from __future__ import annotations

import inspect
import os
import pathlib

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
if os.environ.get("SECUREHOST_DOCS_INTERSPHINX"):
    extensions.append("sphinx.ext.intersphinx")
    intersphinx_mapping = {
        "python": ("https://docs.python.org/3", None),
        "pluggy": ("https://pluggy.readthedocs.io/en/stable", None),
    }

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3
html_theme = "furo"
html_title = "securehost"
exclude_patterns = ["_build"]
suppress_warnings = ["myst.header"]
nitpicky = False

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True}
add_module_names = False
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_ivar = True


def build_demo_wheel(
    directory: str = "dist", *, name: str = "acme-hello", version: str = "1.0", source: str | None = None
) -> pathlib.Path:
    """Write the small unsigned wheel of the examples (the quick start's ``acme-hello``), as a build backend would."""
    import base64  # noqa: PLC0415 - the function runs inside the doctest namespace
    import hashlib  # noqa: PLC0415
    import zipfile  # noqa: PLC0415

    module = name.replace("-", "_")
    dist_info = f"{module}-{version}.dist-info"
    if source is None:
        source = "import pluggy\n\nhookimpl = pluggy.HookimplMarker('myapp')\n\n\n@hookimpl\ndef greet(name):\n"
        source += "    return f'hello {name}'\n"
    files = {
        f"{module}/__init__.py": source.encode(),
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        f"{dist_info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: docs\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        f"{dist_info}/entry_points.txt": f"[myapp.plugins]\nhello = {module}\n".encode(),
    }

    def row(path: str, data: bytes) -> str:
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        return f"{path},sha256={digest},{len(data)}\n"

    record = "".join(row(p, d) for p, d in files.items()) + f"{dist_info}/RECORD,,\n"
    out = pathlib.Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    wheel = out / f"{module}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
        archive.writestr(f"{dist_info}/RECORD", record)
    return wheel


# Each page's doctests run in a fresh temporary working directory, with build_demo_wheel defined.
doctest_global_setup = """
import os as _os, pathlib, tempfile as _tempfile
_docs_cwd = _os.getcwd()
_docs_tmp = _tempfile.TemporaryDirectory(prefix="securehost-doctest-")
_os.chdir(_docs_tmp.name)
""" + inspect.getsource(build_demo_wheel)
doctest_global_cleanup = """
_os.chdir(_docs_cwd)
_docs_tmp.cleanup()
"""
