"""Installation-wide settings kept in the store, created on first use."""

from __future__ import annotations

import secrets

from peewee import IntegrityError

from mailtix.store.models import Setting, database_proxy

AGENT_SECRET = "agent_secret"


def get_or_create(key: str, make: str) -> str:
    """The stored value of ``key``; ``make`` is stored first when there is none (race-safe:
    of two workers creating it at once, the second reads the first one's value)."""
    found = Setting.get_or_none(Setting.key == key)
    if found is not None:
        return str(found.value)
    try:
        with database_proxy.atomic():
            Setting.create(key=key, value=make)
    except IntegrityError:
        pass
    return str(Setting.get(Setting.key == key).value)


def agent_secret(configured: str | None) -> bytes:
    """The reply-token key: from the config when given, else one generated for this store."""
    if configured:
        return configured.encode()
    return get_or_create(AGENT_SECRET, secrets.token_hex(32)).encode()


def get(key: str) -> str | None:
    """The stored value of ``key``, or None."""
    found = Setting.get_or_none(Setting.key == key)
    return None if found is None else str(found.value)


def compare_and_set(key: str, expected: str | None, value: str) -> bool:
    """Store ``value`` for ``key`` only if it still holds ``expected`` (None: not set yet);
    True when this call changed it. Of two workers racing, exactly one wins."""
    if expected is None:
        try:
            with database_proxy.atomic():
                Setting.create(key=key, value=value)
        except IntegrityError:
            return False
        return True
    query = Setting.update(value=value).where((Setting.key == key) & (Setting.value == expected))
    return int(query.execute()) == 1
