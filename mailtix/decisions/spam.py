"""Whether our MX's spam filter flagged a mail (pure; no I/O).

A spam verdict counts only when the trusted MX wrote it: a header ``X-Spam-Flag: YES``
(SpamAssassin), ``X-Spam-Status: Yes, score=...`` (SpamAssassin) or ``X-Spam: Yes`` (Rspamd)
*above* the topmost Authentication-Results, and only when that one is our MX's
(``agent_auth.trusted_results_position``: its authserv-id is in ``[agents]
trusted_authserv_ids``). Anything below it was already in the mail when the MX received it, so
a sender's own spam header changes nothing. Without a trusted authserv-id no header counts.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from mailtix.decisions.agent_auth import trusted_results_position
from mailtix.domain.values import ParsedMail

_YES = re.compile(r"\s*yes\b", re.IGNORECASE | re.ASCII)
SPAM_HEADERS = ("x-spam-flag", "x-spam-status", "x-spam")


def flagged(mail: ParsedMail, trusted_authserv_ids: Collection[str]) -> str | None:
    """The trusted spam header that flags ``mail`` ("X-Spam-Flag: YES"), or None."""
    boundary = trusted_results_position(mail, trusted_authserv_ids)
    if boundary is None:
        return None
    for name, value in mail.headers[:boundary]:
        if name in SPAM_HEADERS and _YES.match(value):
            shown = "-".join(part.capitalize() for part in name.split("-"))
            return f"{shown}: {value[:60]}"
    return None
