"""Delivery status notifications (RFC 3464 and the many non-standard kinds): which addresses
failed, permanently or not (flufl.bounce does the parsing), and which of our messages bounced.

A bounce is tied to a ticket only through the Message-ID of a message mailtix sent (found in
the returned headers of the DSN). Those ids are random and unguessable, but everyone who
received that mail knows it, a co-recipient included; so a bounce suppresses an address only
when it looks like the work of a mail server that handled that address (``suppression_refused``):
sent from a null sender, not written by anyone on the ticket or that mail, and reported from
the failed address's own domain or from ours.
"""

from __future__ import annotations

import email
import logging
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from email.message import Message

log = logging.getLogger(__name__)

MESSAGE_ID_LINE = re.compile(rb"^\s*Message-ID\s*:\s*(<[^<>\s]{3,250}>)", re.I | re.M)
MAX_SCAN = 2_000_000  # bytes of a DSN searched for returned headers


@dataclass(frozen=True)
class Bounce:
    permanent: frozenset[str]
    temporary: frozenset[str]
    returned_ids: tuple[str, ...]  # Message-IDs of the returned (original) messages
    reporting_mta: str = ""  # the host named by Reporting-MTA (RFC 3464), lower-case

    @property
    def addresses(self) -> frozenset[str]:
        return self.permanent | self.temporary


def read_bounce(raw: bytes) -> Bounce:
    """What a bounce says; never raises (an unreadable DSN simply names nothing)."""
    from flufl.bounce import all_failures  # 10 ms to import: only once a bounce arrives

    message = email.message_from_bytes(raw[:MAX_SCAN])
    try:
        temporary, permanent = all_failures(message)
    except Exception:  # a detector bug must not cost the message
        log.warning("bounce detectors failed", exc_info=True)
        temporary, permanent = frozenset(), frozenset()
    return Bounce(
        permanent=_addresses(permanent),
        temporary=_addresses(temporary) - _addresses(permanent),
        returned_ids=returned_message_ids(message, raw[:MAX_SCAN]),
        reporting_mta=_reporting_mta(message),
    )


def suppression_refused(
    failed: str,
    authors: Iterable[str],
    return_path: str | None,
    reporters: Iterable[str],
    own_domains: Iterable[str],
    insiders: Collection[str],
) -> str | None:
    """Why a bounce may not mark ``failed`` undeliverable, or None when it plausibly may.

    ``authors``: the bounce's From, Reply-To and Return-Path addresses; ``reporters``: the
    domains it claims to come from (From's domain, Reporting-MTA); ``insiders``: everyone the
    bounced mail went to and the ticket's people, who know its Message-ID."""
    for author in authors:
        if author.lower() in insiders:
            return f"written by {author}, who received that mail"
    if return_path:
        return f"not sent from a null sender (Return-Path: <{return_path}>)"
    domain = failed.rpartition("@")[2].lower()
    trusted = {domain, *(d.lower() for d in own_domains if d)}
    named = [r.lower().rstrip(".") for r in reporters if r]
    if not any(_within(r, t) for r in named for t in trusted):
        shown = ", ".join(dict.fromkeys(named)) or "no domain"
        return f"reported by {shown}: neither {domain} nor one of ours"
    return None


def _within(host: str, domain: str) -> bool:
    return host == domain or host.endswith("." + domain)


def _reporting_mta(message: Message) -> str:
    """The host of ``Reporting-MTA: dns; mx.example.org`` in the message/delivery-status part."""
    for part in message.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        blocks = part.get_payload()
        first = blocks[0] if isinstance(blocks, list) and blocks else None
        value = str(first.get("Reporting-MTA", "")) if isinstance(first, Message) else ""
        return value.rpartition(";")[2].strip().lower()[:253]
    return ""


def returned_message_ids(message: Message, raw: bytes) -> tuple[str, ...]:
    """Message-IDs of the returned message: the message/rfc822 or text/rfc822-headers part
    first, then any Message-ID line in the body (free-text bounces quote the headers)."""
    ids: list[str] = []
    for part in message.walk():
        kind = part.get_content_type()
        if kind == "message/rfc822" and part.is_multipart():
            inner = part.get_payload(0)
            if isinstance(inner, Message) and inner.get("Message-ID"):
                ids.append(str(inner["Message-ID"]).strip())
        elif kind == "text/rfc822-headers":
            payload = part.get_payload(decode=True)
            if isinstance(payload, bytes):
                ids += [m.decode("ascii", "replace") for m in MESSAGE_ID_LINE.findall(payload)]
    own_id = str(message.get("Message-ID", "")).strip()
    body = raw.split(b"\n\n", 1)[-1]
    ids += [m.decode("ascii", "replace") for m in MESSAGE_ID_LINE.findall(body)]
    return tuple(i for i in dict.fromkeys(ids) if i and i != own_id)


def _addresses(found: frozenset[bytes]) -> frozenset[str]:
    return frozenset(a.decode("utf-8", "replace").strip().lower() for a in found if b"@" in a)
