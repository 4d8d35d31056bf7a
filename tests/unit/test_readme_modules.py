"""The README's package table names every module of the tree, so a reader finds each one."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = sorted(p.parent.name for p in (REPO / "mailtix").glob("*/__init__.py"))


def table_row(package: str) -> str:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    found = re.search(rf"^\| `{package}/` \|[^|]*\|(.*)\|$", readme, re.M)
    assert found, f"README: no row for {package}/ in the package table"
    return found.group(1)


@pytest.mark.parametrize("package", PACKAGES)
def test_every_module_is_named_in_its_packages_row(package: str) -> None:
    named = set(re.findall(r"`(\w+)`", table_row(package)))
    modules = {f.stem for f in (REPO / "mailtix" / package).glob("*.py") if f.stem != "__init__"}
    assert sorted(modules - named) == [], f"README: name these in the {package}/ row"
