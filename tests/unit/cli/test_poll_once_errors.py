"""``mailtix poll --once`` against a mailbox it cannot reach says so once, on stderr, in the
format ``[logging]`` asks for, and exits 1."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from support.mailstack import free_ports

CONFIG = """\
[store]
url = "sqlite:///{dir}/store.db"
[smtp]
maildir = "{dir}/outgoing"
[logging]
format = "{fmt}"
[[mailbox]]
name = "support"
address = "support@example.com"
host = "127.0.0.1"
port = {port}
security = "none"
username = "support"
password = "secret"
"""


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_unreachable_mailbox_is_one_line_on_stderr(tmp_path: Path, fmt: str) -> None:
    [port] = free_ports(1)  # free a moment ago: nothing listens, connecting is refused
    config = tmp_path / "mailtix.toml"
    config.write_text(CONFIG.format(dir=tmp_path, fmt=fmt, port=port))
    proc = subprocess.run(
        [sys.executable, "-m", "mailtix", "--config", str(config), "poll", "--once"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    [line] = lines
    assert f"IMAP 127.0.0.1:{port} (support)" in line
    if fmt == "json":
        assert json.loads(line)["level"].upper() == "ERROR"
    else:
        assert "ERROR" in line
    assert "secret" not in proc.stderr + proc.stdout
    assert proc.stdout.strip() == "outbox: nothing to send"
