"""``quarantine retry`` of a mail that was too large to download says how to take it after
all, and that way works: raised limit, message moved back, next poll."""

from __future__ import annotations

import mailbox
import subprocess
import sys
from pathlib import Path

from support.config import small_config

BIG = b"From: zed@example.org\r\nSubject: big\r\nMessage-ID: <big@example.org>\r\n\r\n"
BIG += b"x" * 3000 + b"\r\n"


def mailtix(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mailtix", "--config", str(config), *args],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_retry_of_a_never_downloaded_mail_says_what_to_do(tmp_path: Path) -> None:
    config = small_config(tmp_path, mailbox="max_message_bytes = 1024", routing="")
    inbox = mailbox.Maildir(tmp_path / "inbox", create=True)
    inbox.add(BIG)
    assert "1 quarantined" in mailtix(config, "poll", "--once").stdout
    proc = mailtix(config, "quarantine", "retry", "1")
    assert proc.returncode == 2
    assert proc.stderr.strip().endswith(
        "raise max_message_bytes and move it from Quarantine back to INBOX: the next poll reads it"
    ), proc.stderr
    config.write_text(config.read_text().replace("max_message_bytes = 1024", ""))
    held = inbox.get_folder("Quarantine")
    [key] = held.keys()
    inbox.add(held.get_bytes(key))
    held.remove(key)
    assert "1 ticket" in mailtix(config, "poll", "--once").stdout
