"""The shipped files: found in this installation, and every package of the source tree is in the
wheel's package list (pyproject.toml names them one by one)."""

from __future__ import annotations

import tomllib
from pathlib import Path

from mailtix.config.shipped import EXAMPLE_CONFIG, shipped_dir, shipped_templates

REPO = Path(__file__).resolve().parents[3]


def test_every_package_of_the_source_tree_goes_into_the_wheel() -> None:
    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
                 ["packages"])  # fmt: skip
    found = {
        ".".join(init.parent.relative_to(REPO).parts)
        for init in (REPO / "mailtix").rglob("__init__.py")
    }
    assert found - listed == set(), "add these to [tool.setuptools] packages in pyproject.toml"
    assert listed - found == {"mailtix.shipped"}


def test_the_shipped_files_are_found() -> None:
    assert (shipped_dir() / EXAMPLE_CONFIG).is_file()
    assert (shipped_dir() / "config" / "departments.toml").is_file()
    assert (shipped_templates() / "acknowledgement.txt.j2").is_file()


def test_the_editable_install_is_found_as_importlib_metadata_finds_it() -> None:
    from importlib.metadata import distributions

    from mailtix.config.shipped import _direct_urls

    expected = [d.read_text("direct_url.json") for d in distributions(name="mailtix")]
    assert list(_direct_urls()) == [text for text in expected if text is not None]
