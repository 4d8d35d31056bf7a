"""``mailtix check`` warns when an Exchange Online account is not paced to its 30 mails a
minute, and when a mailbox's mail goes out through another address's Exchange login (Send As
rights needed); warnings keep the exit code 0."""

from __future__ import annotations

from pathlib import Path

import pytest

from mailtix.cli.main import main
from mailtix.config.load import load_config
from mailtix.outbound.provider_limits import provider_warnings

SMTP = """[smtp]
host = "smtp.office365.com"
username = "support@contoso.com"
password = "x"
{pace}
[[mailbox]]
name = "support"
address = "support@contoso.com"
maildir = "in-support"

[[mailbox]]
name = "sales"
address = "sales@contoso.com"
maildir = "in-sales"
{own}
"""


def warnings(tmp_path: Path, pace: str = "max_per_minute = 30", own: str = "") -> list[str]:
    path = tmp_path / "mailtix.toml"
    path.write_text(SMTP.format(pace=pace, own=own))
    return provider_warnings(load_config(path, {}))


def test_a_shared_login_needs_send_as_for_the_other_addresses(tmp_path: Path) -> None:
    [line] = warnings(tmp_path)
    assert line.startswith("warning: mail From sales@contoso.com (mailbox sales) goes out ")
    assert "signed in as support@contoso.com" in line and "Send As" in line


def test_its_own_paced_account_needs_nothing(tmp_path: Path) -> None:
    own = '[mailbox.smtp]\nusername = "sales@contoso.com"\npassword = "y"\n'
    assert warnings(tmp_path, own=own) == []


@pytest.mark.parametrize("pace", ["", "max_per_minute = 31"])
def test_an_unpaced_exchange_account_is_told_its_limit(tmp_path: Path, pace: str) -> None:
    own = '[mailbox.smtp]\nusername = "sales@contoso.com"\npassword = "y"\nmax_per_minute = 30\n'
    [line] = warnings(tmp_path, pace=pace, own=own)
    assert line.startswith("warning: [smtp] max_per_minute is ")
    assert "set max_per_minute = 30" in line


def test_check_prints_the_warnings_and_exits_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "mailtix.toml"
    path.write_text(SMTP.format(pace="", own=""))
    assert main(["--config", str(path), "check"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert sum(line.startswith("warning: [smtp] max_per_minute") for line in err) == 1
    assert sum("Send As" in line for line in err) == 1
