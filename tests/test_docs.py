"""Every public name has a page in the API reference (without building the docs)."""

import importlib
import re
from pathlib import Path

import pytest

API = Path(__file__).resolve().parents[1] / "docs" / "api.rst"

# The modules whose ``__all__`` the API reference must cover.
MODULES = [
    "sk_i2m2",
    "sk_i2m2.experts",
    "sk_i2m2.imaging",
    "sk_i2m2.plotting",
    "sk_i2m2.datasets",
    "sk_i2m2.metrics",
    "sk_i2m2.product",
    "sk_i2m2.inspection",
]


def _documented():
    """The fully qualified names listed in docs/api.rst's autosummary tables."""
    names, module, in_table = set(), None, False
    for line in API.read_text().splitlines():
        if match := re.match(r"\.\. (?:current)?module:: (\S+)$", line):
            module, in_table = match[1], False
        elif re.match(r"\.\. autosummary::", line):
            in_table = True
        elif in_table and (match := re.match(r"   ([~\w.]+)$", line)):
            name = match[1].lstrip("~")
            names.add(name if name.startswith("sk_i2m2") else f"{module}.{name}")
        elif in_table and line and not line.startswith(" "):
            in_table = False
    return names


@pytest.mark.parametrize("module", MODULES)
def test_every_public_name_is_in_the_api_reference(module):
    missing = [name for name in importlib.import_module(module).__all__
               if f"{module}.{name}" not in _documented()]
    assert not missing, f"add to docs/api.rst: {missing}"


def test_every_api_entry_exists():
    for qualified in sorted(_documented()):
        module, name = qualified.rsplit(".", 1)
        assert hasattr(importlib.import_module(module), name), qualified
