"""Which acknowledgement a new customer mail gets (pure; no I/O): ``full`` (the template
``acknowledgement``, their subject repeated), ``bare`` (``acknowledgement_minimal``: only the
reference, nothing of their mail) or none.

``[tickets] acknowledge`` (or the mailbox's own ``acknowledge``): ``always`` acknowledges in
full; ``never`` not at all; ``authenticated`` in full only when the trusted
Authentication-Results vouch for the From address (``agent_auth.authenticated_sender``, the
same rules agent verification uses), and bare otherwise: a forged From then receives a mail
that carries none of the forger's text, so mailtix cannot relay spam to a victim.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from mailtix.config.model import Config, MailboxConfig
from mailtix.decisions.agent_auth import authenticated_sender
from mailtix.domain.values import ParsedMail

FULL = "acknowledgement"
BARE = "acknowledgement_minimal"


@dataclass(frozen=True)
class AckForm:
    """The template to acknowledge with (None: no acknowledgement) and why."""

    template: str | None
    reason: str


def mode(config: Config, mailbox: MailboxConfig) -> str:
    """always | authenticated | never: the mailbox's own setting, else [tickets]'."""
    return mailbox.acknowledge or config.tickets.acknowledge


def form(mode_: str, mail: ParsedMail, trusted_authserv_ids: Collection[str]) -> AckForm:
    """How to acknowledge ``mail`` under ``mode_``."""
    if mode_ == "never":
        return AckForm(None, "acknowledge = never")
    if mode_ == "always":
        return AckForm(FULL, "acknowledge = always")
    verdict = authenticated_sender(mail, trusted_authserv_ids)
    if verdict.verified:
        return AckForm(FULL, f"sender authenticated ({verdict.method})")
    return AckForm(BARE, f"sender not authenticated: {verdict.reason}")
