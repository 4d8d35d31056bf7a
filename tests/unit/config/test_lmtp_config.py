"""The ``[lmtp]`` section: off unless listen is set, loopback unless allow_remote, and a mailbox
with neither host nor maildir only when LMTP delivers it (then nothing polls it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailtix.config.load import load_config
from mailtix.config.model import Config
from mailtix.domain.errors import ConfigError

BASE = """\
[smtp]
maildir = "out"

[[mailbox]]
name = "support"
address = "support@acme.example"
{mailbox}
{lmtp}
"""


def load(tmp_path: Path, lmtp: str = "", mailbox: str = 'maildir = "in"') -> Config:
    path = tmp_path / "mailtix.toml"
    path.write_text(BASE.format(mailbox=mailbox, lmtp=lmtp))
    return load_config(path)


def problems(tmp_path: Path, lmtp: str = "", mailbox: str = 'maildir = "in"') -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, lmtp, mailbox)
    return list(caught.value.problems)


def test_off_by_default(tmp_path: Path) -> None:
    config = load(tmp_path)
    assert config.lmtp.address is None
    assert config.lmtp.max_sessions == 20 and config.lmtp.recipient_delimiter == "+"
    assert config.mailboxes[0].polled


def test_listen_on_loopback(tmp_path: Path) -> None:
    config = load(tmp_path, '[lmtp]\nlisten = "127.0.0.1:2424"\nrecipient_delimiter = "-"')
    assert config.lmtp.address == ("127.0.0.1", 2424)
    assert config.lmtp.recipient_delimiter == "-"
    assert load(tmp_path, '[lmtp]\nlisten = "[::1]:24"').lmtp.address == ("::1", 24)


def test_a_remote_address_needs_allow_remote(tmp_path: Path) -> None:
    [line] = problems(tmp_path, '[lmtp]\nlisten = "0.0.0.0:2424"')
    assert line.startswith('mailtix.toml: lmtp.listen: "0.0.0.0" is not a loopback address')
    allowed = load(tmp_path, '[lmtp]\nlisten = "0.0.0.0:2424"\nallow_remote = true')
    assert allowed.lmtp.address == ("0.0.0.0", 2424)


def test_bad_values_are_one_line_each(tmp_path: Path) -> None:
    found = problems(
        tmp_path, '[lmtp]\nlisten = "localhost"\nmax_sessions = 0\nrecipient_delimiter = "++"'
    )
    assert len(found) == 3
    assert any(p.startswith('mailtix.toml: lmtp.listen: must be "HOST:PORT"') for p in found)
    assert any("lmtp.max_sessions" in p for p in found)
    assert any("lmtp.recipient_delimiter: must be one character" in p for p in found)
    assert problems(tmp_path, '[lmtp]\nlisten = "x:1"\nlistn = "y"')[0].startswith(
        "mailtix.toml: lmtp.listn"
    )


def test_a_mailbox_without_host_or_maildir_only_with_lmtp(tmp_path: Path) -> None:
    [line] = problems(tmp_path, mailbox="")
    assert "mailbox[0].host: required" in line
    config = load(tmp_path, '[lmtp]\nlisten = "127.0.0.1:2424"', mailbox="")
    [mailbox] = config.mailboxes
    assert not mailbox.polled and mailbox.host == "" and mailbox.maildir is None
