"""What must never reach a customer in a relayed agent answer (pure; no I/O).

An agent's answer goes out From the support address, so nothing in it may show the agent's
address, a reply token (the Message-ID of a notification: whoever holds it can act as the
agent) or the notification itself (the ticket's internal fields, the command help). Mail
clients attach the original ("include original" in Outlook), quote it under headers no
heuristic knows, or paste it. ``relayable_attachments`` drops attachments that carry a token or
are mailtix's own mail; ``leaks`` names what the relayed text would still give away, so the
desk can hold the relay and tell the agent alone.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Collection, Iterable, Sequence

from mailtix.decisions.agent_auth import TOKEN_IN_BYTES
from mailtix.decisions.attachments import blocked_reason
from mailtix.domain.values import Attachment
from mailtix.inbound.reply_text import normalise_line

MAX_DECODED = 16 * 1024 * 1024  # bytes of a base64 attachment decoded to look for a token
_BASE64 = re.compile(rb"[A-Za-z0-9+/=\s]+")
MIN_MARKER = 12  # characters: shorter notification lines ("Status: new") prove nothing alone
#: Lines of the shipped notification template (templates/notification.txt.j2), normalised: the
#: markers when the notification answered is not known (a reply verified by DMARC).
TEMPLATE_MARKERS = (
    "reply to this mail to answer the customer (your address is never shown).",
    "commands at the top of your reply, one per line:",
    "#note text internal note, nothing is sent to the customer",
)


def carries_token(data: bytes) -> bool:
    """Whether ``data`` holds a reply token, as ASCII/UTF-8, as UTF-16 (Outlook .msg) or, when
    it is all base64 (an attached message some clients encode, against RFC 2046), decoded."""
    if TOKEN_IN_BYTES.search(data) or TOKEN_IN_BYTES.search(data.replace(b"\x00", b"")):
        return True
    if _BASE64.fullmatch(data[:MAX_DECODED]):
        try:
            decoded = binascii.a2b_base64(data[:MAX_DECODED])
        except binascii.Error:
            return False
        return bool(TOKEN_IN_BYTES.search(decoded))
    return False


def relayable_attachments(
    attachments: Sequence[Attachment], own_domain: str, blocked: Collection[str] = ()
) -> tuple[tuple[Attachment, ...], tuple[str, ...]]:
    """(attachments that may go to the customer, why each other one may not); ``blocked``:
    ``[attachments] blocked`` (``decisions.attachments``)."""
    kept: list[Attachment] = []
    refused: list[str] = []
    own = f"@{own_domain.lower()}>".encode()
    for item in attachments:
        name = item.filename or "attachment"
        if blocked and (why := blocked_reason(item, blocked)) is not None:
            refused.append(f"{name}: {why}")
        elif carries_token(item.content):
            refused.append(f"{name}: carries a mailtix reply token (a notification)")
        elif item.content_type.startswith("message/") and own in _message_id(item.content):
            refused.append(f"{name}: a mail mailtix sent")
        else:
            kept.append(item)
    return tuple(kept), tuple(refused)


def _message_id(message: bytes) -> bytes:
    """The lower-cased Message-ID header line of an attached message (its header block only)."""
    head = message[: message.find(b"\n\n") if b"\n\n" in message else 65536][:65536]
    head = head.replace(b"\r\n", b"\n").lower()
    start = head.find(b"\nmessage-id:")
    if start == -1:
        return b""
    end = head.find(b"\n", start + 1)
    return head[start : end if end != -1 else None]


def notification_markers(notification_text: str) -> tuple[str, ...]:
    """Lines of a notification that are its own, not the customer's: its first line (the title)
    and everything from its first rule line on (fields, command help), normalised."""
    lines = notification_text.replace("\r\n", "\n").split("\n")
    own = lines[:1]
    rule = next((i for i, line in enumerate(lines) if re.fullmatch(r"\s*-{10,}\s*", line)), None)
    if rule is not None:
        own += lines[rule:]
    return tuple(m for m in map(normalise_line, own) if len(m) >= MIN_MARKER and "-" * 10 not in m)


def leaks(text: str, agent: str, markers: Iterable[str]) -> list[str]:
    """What ``text`` would give away to the customer; empty when it may be relayed."""
    found: list[str] = []
    if agent.lower() in text.lower():
        found.append(f"your address {agent}")
    if carries_token(text.encode("utf-8", "replace")):
        found.append("a mailtix reply token (it lets anyone holding it act as you)")
    lines = {normalise_line(line) for line in text.split("\n")}
    shown = [marker for marker in markers if marker in lines]
    if shown:
        found.append(f'the notification\'s own text ("{shown[0][:60]}")')
    return found
