"""Decide which ticket an incoming message belongs to (pure; the store is behind a protocol).

Rule, in order:
1. In-Reply-To, then References (newest first): any Message-ID stored or sent for a ticket joins
   that ticket.
2. A subject tag ``[PREFIX-N]`` anywhere in the subject (leftmost first, ASCII digits only) joins
   ticket N only when the sender is already one of its participants (addresses compared
   IDNA-normalised: a domain in Unicode or in punycode is the same domain). Otherwise the
   message opens a new ticket and nothing of the old one is disclosed.
3. Anything else opens a new ticket.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Protocol

from mailtix.domain.addresses import address_key
from mailtix.domain.values import ParsedMail, ThreadDecision


class ThreadLookup(Protocol):
    def ticket_for_message_ids(self, ids: Sequence[str]) -> tuple[int, str] | None:
        """The ticket owning the first of ``ids`` known to the store, with that id."""

    def ticket_participants(self, ticket_id: int) -> frozenset[str] | None:
        """The participant addresses of a ticket, or None when there is no such ticket."""


@lru_cache(maxsize=16)
def tag_pattern(prefix: str) -> re.Pattern[str]:
    return re.compile(r"\[" + re.escape(prefix) + r"-([0-9]{1,12})\]", re.IGNORECASE | re.ASCII)


def format_ref(prefix: str, ticket_id: int) -> str:
    return f"{prefix}-{ticket_id}"


def parse_ref(prefix: str, ref: str) -> int | None:
    """``SUP-42``, ``[SUP-42]`` or ``42`` → 42; anything else → None."""
    text = ref.strip().strip("[]")
    if text.isascii() and text.isdigit():
        return int(text)
    head, _, number = text.rpartition("-")
    if head.upper() == prefix.upper() and number.isascii() and number.isdigit():
        return int(number)
    return None


def subject_tags(subject: str, prefix: str) -> list[int]:
    return [int(m.group(1)) for m in tag_pattern(prefix).finditer(subject)]


def clean_subject(subject: str, prefix: str) -> str:
    """The subject without any of our tags (a new ticket never inherits an old reference)."""
    cleaned = tag_pattern(prefix).sub("", subject)
    cleaned = re.sub(r"\s{2,}", " ", cleaned).strip()
    return cleaned or "(no subject)"


def header_ids(mail: ParsedMail) -> list[str]:
    """In-Reply-To ids first, then References newest first, without repeats."""
    ordered = [*mail.in_reply_to, *reversed(mail.references)]
    return list(dict.fromkeys(ordered))


def decide(mail: ParsedMail, prefix: str, lookup: ThreadLookup) -> ThreadDecision:
    ids = header_ids(mail)
    if ids:
        found = lookup.ticket_for_message_ids(ids)
        if found is not None:
            ticket_id, matched = found
            header = "In-Reply-To" if matched in mail.in_reply_to else "References"
            return ThreadDecision(ticket_id, f"{header} {matched}")
    return _decide_by_tag(mail, prefix, lookup)


def _decide_by_tag(mail: ParsedMail, prefix: str, lookup: ThreadLookup) -> ThreadDecision:
    sender = mail.sender.email if mail.sender else None
    key = address_key(sender) if sender is not None else None
    refused: list[str] = []
    for ticket_id in subject_tags(mail.subject, prefix):
        participants = lookup.ticket_participants(ticket_id)
        ref = format_ref(prefix, ticket_id)
        if participants is None:
            refused.append(f"{ref} does not exist")
        elif key is not None and key in {address_key(p) for p in participants}:
            return ThreadDecision(ticket_id, f"subject tag {ref} from participant {sender}")
        else:
            refused.append(f"{ref} ignored: sender is not a participant")
    if refused:
        return ThreadDecision(None, "new ticket; subject tag " + "; ".join(refused))
    return ThreadDecision(None, "new ticket")
