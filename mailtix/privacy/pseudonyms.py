"""Pseudonyms that stand in for an address once its person's data is anonymised or erased.

Retention: a stable pseudonym per address (an HMAC under a key generated once and kept in the
store), so one person's old tickets still belong together and count as one customer. Erase: a
random pseudonym per request, which links the person to nothing. Both end in ``.invalid``
(RFC 2606): no mail can ever go to one.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from mailtix.domain.addresses import address_key
from mailtix.store import settings

PSEUDONYM_KEY = "privacy.pseudonym_key"
ANONYMISED_DOMAIN = "anonymised.invalid"
ERASED_DOMAIN = "erased.invalid"


def stable_pseudonym(address: str) -> str:
    """The same ``anon-…@anonymised.invalid`` for every spelling of ``address``."""
    return _pseudonym(settings.get_or_create(PSEUDONYM_KEY, secrets.token_hex(32)), address)


def known_pseudonym(address: str) -> str | None:
    """The stable pseudonym ``address`` has had, if any ticket was ever anonymised (an erase
    replaces it too, so nothing links the person to their old tickets any more)."""
    key = settings.get(PSEUDONYM_KEY)
    return None if key is None else _pseudonym(key, address)


def _pseudonym(key: str, address: str) -> str:
    digest = hmac.new(key.encode(), address_key(address).encode("utf-8"), hashlib.sha256)
    return f"anon-{digest.hexdigest()[:12]}@{ANONYMISED_DOMAIN}"


def erased_pseudonym() -> str:
    """A fresh ``erased-…@erased.invalid``, derived from nothing."""
    return f"erased-{secrets.token_hex(6)}@{ERASED_DOMAIN}"
