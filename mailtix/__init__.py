"""mailtix: a help desk that lives in a mailbox."""

from __future__ import annotations


def __getattr__(name: str) -> str:
    """``mailtix.__version__``, read from the installed distribution's metadata on first use."""
    if name == "__version__":
        from mailtix.domain.version import mailtix_version

        return mailtix_version()
    raise AttributeError(f"module 'mailtix' has no attribute {name!r}")
