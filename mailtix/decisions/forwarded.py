"""Who the customer is when an agent forwards a customer's mail to the support address (pure).

Looks at an attached original (message/rfc822) first, then at the first header block of a
forwarded message in the body ("From: Carol <carol@example.org>", also Von:/De:/Da:/Van:).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from email.utils import parseaddr

from mailtix.domain.values import Address, ParsedMail

FROM_LINE = re.compile(
    r"^[>\s*]*(?:from|von|de|da|van|fra|från|od)\s*:[\s*]*(.+?)[\s*]*$", re.I | re.M
)
FORWARD_PREFIX = re.compile(r"^\s*((fwd?|wg|tr|rv|vs|i|enc)\s*:\s*)+", re.I)
VALID = re.compile(r"^[^@\s<>()\[\],;:\"]+@[^@\s<>()\[\],;:\"]+\.[^@\s<>()\[\],;:\"]+$")


def forwarded_sender(
    mail: ParsedMail, ignore: Collection[str], parse_attached: object = None
) -> Address | None:
    """The original sender of a forwarded mail, or None. ``ignore`` holds addresses that can't
    be the customer (the agents, the mailboxes). ``parse_attached`` turns an attached message's
    bytes into a ParsedMail (injected so this module stays free of the parser)."""
    if callable(parse_attached):
        for item in mail.attachments:
            if item.content_type == "message/rfc822":
                inner = parse_attached(item.content)
                sender = getattr(inner, "sender", None)
                if isinstance(sender, Address) and sender.email not in ignore:
                    return sender
    for match in FROM_LINE.finditer(mail.text):
        name, email = parseaddr(match.group(1).replace("mailto:", ""))
        email = email.strip().lower()
        if VALID.match(email) and email not in ignore:
            return Address(email, name.strip())
    return None


#: Wrappers whole forwards get: neomutt's default ``[carol@example.org: Subject]``
#: (``forward_format = "[%a: %s]"``), Netscape's ``[Fwd: Subject]``, pine's ``Subject (fwd)``.
FORWARD_WRAPPERS = (
    re.compile(r"^\[\s*[^\s\[\]:@]+@[^\s\[\]:]+\s*:\s*(.*)\]$", re.S),
    re.compile(r"^\[\s*fwd?\s*:\s*(.*)\]$", re.I | re.S),
    re.compile(r"^(.*?)\s*\(fwd\)$", re.I | re.S),
)
MAX_WRAPPERS = 5  # forwards of forwards are peeled this often


def strip_forward_prefix(subject: str) -> str:
    """ "Fwd: WG: Printer broken", "[carol@example.org: Fw: Printer broken]" → "Printer
    broken"."""
    text = subject.strip()
    for _ in range(MAX_WRAPPERS):
        peeled = FORWARD_PREFIX.sub("", text).strip()
        for wrapper in FORWARD_WRAPPERS:
            match = wrapper.match(peeled)
            if match is not None:
                peeled = match.group(1).strip()
                break
        if peeled == text or not peeled:
            break
        text = peeled
    return text or subject
