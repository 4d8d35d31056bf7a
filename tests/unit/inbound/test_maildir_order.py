"""A Maildir is read in the order its mail was delivered, not in the string order of its
file names (whose microseconds and counters are not zero-padded)."""

from __future__ import annotations

from pathlib import Path

from mailtix.config.model import MailboxConfig
from mailtix.inbound.maildir_source import MaildirSource, arrival_order

DELIVERED = [
    "1796283809.M999871P24474Q9.vm",  # first: 999,871 microseconds into the second
    "1796283810.M3P24474Q10.vm",  # the next second
    "1796283810.M12P24474Q11.vm",
    "1796283810.M12P24474Q100.vm",
]


def test_names_sort_by_their_numbers() -> None:
    assert sorted(reversed(DELIVERED), key=arrival_order) == DELIVERED
    assert sorted(DELIVERED) != DELIVERED  # string order would read them wrongly


def test_source_lists_keys_in_delivery_order(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    for sub in ("new", "cur", "tmp"):
        (inbox / sub).mkdir(parents=True)
    for n, name in enumerate(DELIVERED):
        (inbox / "new" / name).write_bytes(b"Subject: %d\r\n\r\nx\r\n" % n)
    config = MailboxConfig(name="support", address="support@acme.example", maildir=inbox)
    with MaildirSource(config) as source:
        keys = source.list_keys()
        assert keys == DELIVERED
        assert [raw.split(b"\r\n")[0] for _, raw in source.fetch(keys)] == [
            b"Subject: 0",
            b"Subject: 1",
            b"Subject: 2",
            b"Subject: 3",
        ]
