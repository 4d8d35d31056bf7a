"""Is this mail an agent forwarding mailtix's own notification back to the desk? (pure)

Agents hit Forward instead of Reply (neomutt ``f``, inline or as an attachment). Such a mail
carries no reply token in its headers, so it is unverified; instead of the "someone is using
your address" warning she gets a short hint. Only proof counts, never a look-alike text (a
customer knows the template and their own words):

- as an attachment: the attached mail's Message-ID is a reply token minted for this very
  agent (``agent_auth.verify_token``);
- inline: the forwarded text shows the notification's *notice*, ``mailtix notice 42.<tag>``,
  an HMAC of (ticket, agent) under the site secret, separate from reply tokens (it proves
  "mailtix sent this agent this notification", and authorises nothing).

Either way the answer goes to the real agent alone, as the warning would, so an attacker who
got hold of a notice can at most swap her warning for a hint.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import re
from collections.abc import Sequence

from mailtix.decisions.agent_auth import TOKEN_IN_BYTES, verify_token
from mailtix.domain.values import ParsedMail

NOTICE_LENGTH = 16  # hex characters: 64 bits, enough for a hint that authorises nothing
NOTICE = re.compile(rf"mailtix notice ([1-9][0-9]{{0,17}})\.([0-9a-f]{{{NOTICE_LENGTH}}})\b")
MAX_SCANNED = 4 * 1024 * 1024  # bytes of an attachment searched for a token
MAX_NOTICES = 20
_BASE64 = re.compile(rb"[A-Za-z0-9+/=\s]+")


def notice(secret: bytes, ticket_id: int, agent: str) -> str:
    """The notice line's value for a notification to ``agent`` about ``ticket_id``."""
    message = f"notice\n{ticket_id}\n{agent.strip().lower()}".encode()
    digest = hmac.new(secret, message, hashlib.sha256).hexdigest()[:NOTICE_LENGTH]
    return f"{ticket_id}.{digest}"


def forwarded_notification(secret: bytes, mail: ParsedMail, agent: str) -> int | None:
    """The ticket whose notification to ``agent`` this mail provably forwards, or None."""
    tokens: list[str] = []
    for item in mail.attachments:
        if item.content_type.startswith("message/"):
            found = TOKEN_IN_BYTES.findall(_readable(item.content[:MAX_SCANNED]))
            tokens += [t.decode("ascii").lower() + "invalid" for t in found[:MAX_NOTICES]]
    proven = verify_token(secret, tokens, agent)  # "mtx.42.nonce.tag@" + any domain
    if proven is not None:
        return proven
    return _by_notice(secret, [mail.text, mail.html or ""], agent)


def _readable(data: bytes) -> bytes:
    """An attached mail as bytes to search: as it is (7bit/8bit, as RFC 2046 wants), or decoded
    when some client base64-encoded it anyway."""
    if TOKEN_IN_BYTES.search(data) or not _BASE64.fullmatch(data):
        return data
    try:
        return binascii.a2b_base64(data)
    except binascii.Error:
        return data


def _by_notice(secret: bytes, texts: Sequence[str], agent: str) -> int | None:
    for text in texts:
        for match in list(NOTICE.finditer(text))[:MAX_NOTICES]:
            number = int(match.group(1))
            if hmac.compare_digest(notice(secret, number, agent), match.group(0).split()[-1]):
                return number
    return None
