"""What mailtix answers an MTA delivering over LMTP, without any protocol: which configured
mailbox a recipient address is (case and a ``+tag`` ignored), and the reply for each recipient
(RFC 2033: one per accepted RCPT after DATA) from what became of the mail in that mailbox.

Codes: 250 once the message's ticket (or whatever the pipeline decided) is committed; 451 when
it could not be (the MTA keeps the mail queued and tries again; the ledger makes the retry a
duplicate, never a second ticket); 552 over the mailbox's ``max_message_bytes``; 550 for an
address that is no mailbox's; 452 for more recipients than one transaction may carry. No reply
repeats anything of the mail or its envelope.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from mailtix.config.model import MailboxConfig
from mailtix.domain.addresses import address_key

MAX_RECIPIENTS = 100  # RFC 5321 4.5.3.1.8: at least 100 must be accepted

ACCEPTED = "250 2.1.5 Recipient ok"
UNKNOWN = "550 5.1.1 No such mailbox here"
TOO_MANY = "452 4.5.3 Too many recipients"
TOO_BIG = "552 5.3.4 Message too big for this mailbox"
TRY_LATER = "451 4.3.0 Temporary failure, please try again later"
TOO_BUSY = "421 4.3.2 Too many connections, try again later"
SHUTTING_DOWN = "421 4.3.2 Shutting down, try again later"
SESSION_TOO_LONG = "421 4.4.2 Session open too long, closing"
TOO_MANY_COMMANDS = "421 4.7.0 Too many commands without a mail, closing"
# Outcome kinds (desks.outcome.Outcome) that mean the message is safely in the store
KEPT = frozenset({"ticket", "followup", "ignored", "spam", "duplicate", "quarantined"})


@dataclass(frozen=True)
class RecipientMap:
    """Recipient address key -> mailbox name, built once from the config."""

    by_address: Mapping[str, str]
    delimiter: str = "+"

    @classmethod
    def of(cls, mailboxes: Iterable[MailboxConfig], delimiter: str = "+") -> RecipientMap:
        return cls({address_key(m.address): m.name for m in mailboxes}, delimiter)

    def mailbox_for(self, address: str) -> str | None:
        """The mailbox ``address`` delivers to: its own address in any case, or with a tag
        after the delimiter (``Support+Billing@Example.COM``); None when it is none's."""
        key = address_key(address.strip().strip("<>"))
        found = self.by_address.get(key)
        if found is not None or not self.delimiter:
            return found
        local, at, domain = key.rpartition("@")
        if not at or self.delimiter not in local:
            return None
        return self.by_address.get(f"{local.split(self.delimiter, 1)[0]}@{domain}")


def rcpt_reply(mailbox: str | None, accepted_so_far: int) -> str:
    """The reply to one RCPT TO: ok, unknown, or too many for this transaction."""
    if mailbox is None:
        return UNKNOWN
    if accepted_so_far >= MAX_RECIPIENTS:
        return TOO_MANY
    return ACCEPTED


def too_big(size: int, max_message_bytes: int) -> bool:
    return size > max_message_bytes


def delivered_reply(kind: str | None, ticket_ref: str | None = None) -> str:
    """The reply for one recipient after DATA, from its mailbox's outcome kind (None: the
    pipeline could not run, e.g. the store is down)."""
    if kind not in KEPT:
        return TRY_LATER
    if ticket_ref is not None and _is_ref(ticket_ref):
        return f"250 2.0.0 {kind} {ticket_ref}"
    return f"250 2.0.0 {kind}"


def _is_ref(ref: str) -> bool:
    prefix, dash, number = ref.partition("-")
    return bool(dash) and prefix.isalnum() and prefix.isascii() and number.isdigit()
