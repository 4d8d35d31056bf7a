"""The version of the installed mailtix, as its distribution's metadata (from pyproject.toml)
records it. Looked up only when asked for: importlib.metadata costs ~40 ms to import."""

from __future__ import annotations

from functools import cache


@cache
def mailtix_version() -> str:
    """e.g. "0.1.0"; "unknown" when mailtix runs from a source tree that was never installed."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mailtix")
    except PackageNotFoundError:
        return "unknown"
