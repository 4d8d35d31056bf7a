"""Language tags as mailtix accepts them (BCP 47, simplified): ``de``, ``pt-br``, ``zh-hant``.

A tag names a template directory (``templates/de/``), so only lower-case letters, digits and
single hyphens pass: never a path separator, a dot or anything a terminal would obey.
"""

from __future__ import annotations

import re

_TAG = re.compile(r"[a-z]{2,3}(?:-[a-z0-9]{2,8}){0,2}\Z")


def language_tag(text: str) -> str | None:
    """``text`` as a lower-case language tag ("DE" -> "de", "pt_BR" -> "pt-br"); None if it
    is not one. "" stays "" (no language)."""
    tag = text.strip().lower().replace("_", "-")
    if not tag:
        return ""
    return tag if _TAG.match(tag) else None
