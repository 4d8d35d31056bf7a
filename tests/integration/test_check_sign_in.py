"""``mailtix check --connect`` says how each account signed in: the password (IMAP LOGIN), or
no login for an SMTP relay that takes mail without one. (OAuth2 accounts, with mechanism and
token expiry: test_oauth2_live.py.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support.live import mailtix, unique, write_config

pytestmark = pytest.mark.integration


def test_check_connect_says_how_each_account_signed_in(mailstack: Any, tmp_path: Path) -> None:
    config = write_config(tmp_path, mailstack, [{"name": "support", "user": unique("support")}])
    proc = mailtix(config, "check", "--connect")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "signed in: mailbox support with LOGIN (password)" in lines, lines
    assert "smtp: sends without signing in (no username)" in lines, lines
    assert "signed in" not in mailtix(config, "check").stdout  # without --connect: no claim
