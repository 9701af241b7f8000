"""Sphinx configuration of the sk_i2m2 documentation.

Build with ``python -m sphinx -W --keep-going -b html docs docs/_build/html``.
The gallery's examples run during the build, as a user would run them: at the
package's defaults, or saying in a sentence what they change and why; they keep the
build to a few minutes by the size of their data.
"""

import os
import sys
import urllib.request
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))

import sk_i2m2  # noqa: E402

os.environ.setdefault("MPLBACKEND", "Agg")

# The gallery runs in this process. Its models are small, and one torch thread
# trains them faster than several, which contend with each other (and with whatever
# else runs on the machine) for a few milliseconds of work per batch.
import torch  # noqa: E402

torch.set_num_threads(int(os.environ.get("SK_I2M2_DOCS_THREADS", "1")))

project = "sk_i2m2"
author = "the sk_i2m2 developers"
copyright = "the sk_i2m2 developers"
version = release = sk_i2m2.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.mathjax",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
]

source_suffix = {".rst": "restructuredtext"}
exclude_patterns = ["_build", "**.ipynb_checkpoints"]
templates_path = ["_templates"]

# API pages: one page per name, generated from the docstrings.
autosummary_generate = True
autodoc_default_options = {}
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_validation_checks = set()
numpydoc_xref_param_type = False

# Markdown (the benchmark results) is read through myst-parser's ``include`` parser
# only, so .md files are not documents of their own.
myst_enable_extensions = ["dollarmath"]
myst_heading_anchors = 3

# Intersphinx: links to the projects sk_i2m2 builds on. A failed inventory fetch is
# an untyped warning (it cannot be suppressed), which -W turns into an error, so each
# inventory is fetched here first and only the ones that arrived are used: offline
# builds (or DOCS_OFFLINE=1) simply go without the external links.
_INVENTORIES = {
    "python": "https://docs.python.org/3/",
    "numpy": "https://numpy.org/doc/stable/",
    "pandas": "https://pandas.pydata.org/docs/",
    "sklearn": "https://scikit-learn.org/stable/",
    "skorch": "https://skorch.readthedocs.io/en/stable/",
    "torch": "https://pytorch.org/docs/stable/",
}


def _intersphinx_mapping():
    mapping = {}
    if os.environ.get("DOCS_OFFLINE"):
        return mapping
    cache = DOCS / "_build" / "inventories"
    cache.mkdir(parents=True, exist_ok=True)
    for name, url in _INVENTORIES.items():
        path = cache / f"{name}.inv"
        try:
            with urllib.request.urlopen(url + "objects.inv", timeout=5) as response:
                path.write_bytes(response.read())
        except Exception:  # offline, or the site is down: keep a fetched copy if any
            if not path.exists():
                continue
        mapping[name] = (url, str(path))
    return mapping


intersphinx_mapping = _intersphinx_mapping()

# The gallery: examples/gallery/*.py, run during the build. The other scripts in
# examples/ (a ten-minute study, a torchrun launcher) are not part of it.
sphinx_gallery_conf = {
    "examples_dirs": str(ROOT / "examples" / "gallery"),
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "reference_url": {"sk_i2m2": None},
    "doc_module": ("sk_i2m2",),
    "backreferences_dir": None,
    "matplotlib_animations": False,
    "abort_on_example_error": True,
    "show_memory": False,
}

html_theme = "pydata_sphinx_theme"
html_title = f"sk_i2m2 {release}"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
}
html_static_path = []


def _skip_metadata_requests(app, what, name, obj, skip, options):
    """Leave out the ``set_*_request`` methods scikit-learn generates for routing."""
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_metadata_requests)
