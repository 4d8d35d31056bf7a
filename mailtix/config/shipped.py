"""Where this installation keeps the files mailtix ships: the default templates/, the example
config/ files and mailtix.toml.example.

A wheel carries them as package data in ``mailtix/shipped/`` beside the installed package
(pyproject.toml maps the repository's top-level templates/, config/ and mailtix.toml.example
there); that is where ``importlib.resources.files("mailtix")`` points, found here without
importing importlib.resources (~20 ms). An editable install (``pip install -e .``) has no copy:
its files stay in the project directory the install points to, which the distribution's
``direct_url.json`` (PEP 610) names, read from its ``.dist-info`` without importlib.metadata.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from urllib.parse import unquote, urlsplit

import mailtix
from mailtix.domain.errors import MailtixError

EXAMPLE_CONFIG = "mailtix.toml.example"


@cache
def shipped_dir() -> Path:
    """The directory holding templates/, config/ and mailtix.toml.example."""
    packaged = _package_dir() / "shipped"
    if (packaged / EXAMPLE_CONFIG).is_file():
        return packaged
    project = _editable_project()
    if project is not None and (project / EXAMPLE_CONFIG).is_file():
        return project
    raise MailtixError(
        "the files mailtix ships (templates/, mailtix.toml.example) are missing from this "
        "installation: reinstall mailtix (pip install mailtix, or pip install -e . in a checkout)"
    )


def shipped_templates() -> Path:
    """The default mail templates."""
    return shipped_dir() / "templates"


def _editable_project() -> Path | None:
    """The project directory of the editable install that holds the running mailtix, or None.

    Every installed "mailtix" distribution is looked at (a checkout's mailtix.egg-info has no
    direct_url.json and is passed over)."""
    code = _package_dir().resolve()
    for text in _direct_urls():
        try:
            info = json.loads(text or "{}")
        except ValueError:
            continue
        url = urlsplit(str(info.get("url", "")))
        if info.get("dir_info", {}).get("editable") and url.scheme == "file":
            project = Path(unquote(url.path))
            if (project / "mailtix").resolve() == code:
                return project
    return None


def _direct_urls() -> Iterator[str]:
    """The direct_url.json of each mailtix distribution on sys.path, in path order: what
    ``importlib.metadata.distributions(name="mailtix")`` would read, without its ~20 ms of
    CPU to import (every command of an editable install loads its config through here)."""
    for entry in sys.path:
        try:
            found = sorted(Path(entry or ".").glob("mailtix-*.dist-info/direct_url.json"))
        except OSError:
            continue
        for path in found:
            try:
                yield path.read_text(encoding="utf-8")
            except OSError:
                continue


def _package_dir() -> Path:
    """The directory the running mailtix package was imported from."""
    return Path(mailtix.__file__).parent
