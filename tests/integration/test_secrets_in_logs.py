"""No secret in any output line, and every file mailtix writes is private, on the real mail
stack: a desk with known secrets (agent secret, IMAP password, an SMTP password the server
refuses, a mailbox with a wrong password) runs a few commands with debug logging and a daemon
cycle; every stdout/stderr line is searched for the secrets. Under umask 022, the SQLite
store with its -wal and -shm (while the daemon holds it open), the export zip and the Maildir
output are owner-only."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.live import customer_mail, unique, write_config

pytestmark = pytest.mark.integration

AGENT_SECRET = "agentSecret-7f3e9a1c5b2d4e6f8a0b"
IMAP_PASSWORD = "imapPassword-Q8w7e6r5"
WRONG_PASSWORD = "wrongPassword-Z1x2c3v4"
SMTP_PASSWORD = "smtpPassword-M9n8b7v6"
SECRETS = (AGENT_SECRET, IMAP_PASSWORD, WRONG_PASSWORD, SMTP_PASSWORD)


def run(config: Path, *args: str) -> str:
    old = os.umask(0o022)  # what an admin's shell usually has; inherited by the child
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "mailtix", "-vv", "--config", str(config), *args],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    finally:
        os.umask(old)
    return proc.stdout + proc.stderr


@pytest.fixture
def desk(mailstack: Any, tmp_path: Path) -> Iterator[dict[str, Any]]:
    support, broken = unique("support"), unique("broken")
    config = write_config(
        tmp_path, mailstack,
        [{"name": "support", "user": support, "password": IMAP_PASSWORD},
         {"name": "broken", "user": broken, "password": WRONG_PASSWORD}],
        extra=f'[agents]\nsecret = "{AGENT_SECRET}"\n',
    )  # fmt: skip
    text = config.read_text()  # add_user gave "broken" the stack's password, not ours
    text = text.replace(
        'security = "none"\n\n[[mailbox]]',
        f'security = "none"\nusername = "mailtix"\npassword = "{SMTP_PASSWORD}"\n\n[[mailbox]]',
        1,
    )
    config.write_text(text)
    mailstack.add_user(support, IMAP_PASSWORD)  # after write_config, which sets the default
    yield {"config": config, "support": support, "dir": tmp_path}


def test_no_secret_in_any_output_line_and_files_are_private(
    mailstack: Any, desk: dict[str, Any]
) -> None:
    config, support = desk["config"], desk["support"]
    msg = customer_mail("Carol <carol@customer.test>", f"{support}@example.test", "Hello")
    mailstack.append(support, "INBOX", msg)
    outputs = [run(config, "check", "--connect"), run(config, "poll", "--once")]
    outputs += [run(config, *args) for args in (("tickets", "list"), ("outbox", "list"),
                ("status",), ("jobs", "run"), ("privacy", "export", "carol@customer.test",
                "--output", str(desk["dir"] / "carol.zip")))]  # fmt: skip
    log = desk["dir"] / "daemon.log"
    old = os.umask(0o022)
    try:
        with log.open("w") as out:
            daemon = subprocess.Popen(
                [sys.executable, "-m", "mailtix", "-vv", "--config", str(config), "run"],
                stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
    finally:
        os.umask(old)
    try:
        time.sleep(4)  # a poll of each mailbox, a drain of the outbox, the jobs
        store = [desk["dir"] / f"mailtix.db{suffix}" for suffix in ("", "-wal", "-shm")]
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in store if p.exists()}
        assert modes == {"mailtix.db": 0o600, "mailtix.db-wal": 0o600, "mailtix.db-shm": 0o600}
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=60)
    outputs.append(log.read_text())
    lines = [line for output in outputs for line in output.splitlines()]
    print(f"{len(lines)} output lines searched")
    assert any("(broken): [AUTHENTICATIONFAILED]" in line for line in lines)  # said, no password
    assert not any("(support): [AUTHENTICATIONFAILED]" in line for line in lines)
    assert any("smtp" in line and "login failed" in line for line in lines)  # refused AUTH
    leaks = [line for line in lines if any(s.lower() in line.lower() for s in SECRETS)]
    assert leaks == []
    assert stat.S_IMODE((desk["dir"] / "carol.zip").stat().st_mode) == 0o600
    assert "carol.zip: 1 ticket(s)" in outputs[-2]
    for path in desk["dir"].iterdir():
        if path.name.startswith("mailtix.db") or path.name == "carol.zip":
            assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
