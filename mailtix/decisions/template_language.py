"""Decide, purely, in which language mailtix writes to a customer.

The customer's own language (their record), else their organisation's, else the mailbox's
``language``, else none: the default templates. A language without templates of its own falls
back, file by file, to the defaults (``outbound.render``).
"""

from __future__ import annotations

from mailtix.domain.languages import language_tag


def template_language(customer: str, organisation: str, mailbox: str) -> str:
    """The first of the three that is a valid language tag ("" for the default templates)."""
    for candidate in (customer, organisation, mailbox):
        tag = language_tag(candidate or "")
        if tag:
            return tag
    return ""
