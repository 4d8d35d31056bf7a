"""One poller per mailbox: the lock file next to a SQLite store excludes a second holder."""

from __future__ import annotations

from pathlib import Path

from mailtix.store import open_store
from mailtix.store.locks import lock_key, mailbox_lock


def test_second_holder_is_refused_until_the_first_lets_go(tmp_path: Path) -> None:
    open_store(f"sqlite:///{tmp_path / 'mailtix.db'}")
    with mailbox_lock("support") as first:
        assert first
        with mailbox_lock("support") as second:
            assert not second
        with mailbox_lock("billing") as other:
            assert other  # another mailbox is independent
    with mailbox_lock("support") as again:
        assert again


def test_lock_keys_are_stable_and_distinct() -> None:
    assert lock_key("support") == lock_key("support")
    assert lock_key("support") != lock_key("billing")
    assert -(2**63) <= lock_key("support") < 2**63
