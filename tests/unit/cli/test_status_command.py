"""``mailtix status`` as a user runs it: light (no mail library, no pipeline, no
prometheus-client or scheduler loaded), working while a rule file is broken, exit 2 for a bad
config, and a ``poll --once`` (cron without the daemon) recorded for it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from support.config import small_config

HEAVY = ("jinja2", "imapclient", "aiosmtplib", "asyncio", "mailparser", "prometheus_client",
         "apscheduler", "nh3", "playhouse.db_url")  # fmt: skip
LOADED = """\
import sys
from mailtix.cli.main import main
code = main(sys.argv[1:])
heavy = [m for m in {heavy!r} if m in sys.modules]
heavy += [m for m in sys.modules if m.startswith(("mailtix.desks", "mailtix.outbound"))]
print("LOADED", " ".join(sorted(heavy)) or "-", file=sys.stderr)
sys.exit(code)
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    for sub in ("cur", "new", "tmp"):
        (tmp_path / "inbox" / sub).mkdir(parents=True)
    return small_config(tmp_path, routing="")


def mailtix(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mailtix", "--config", str(config), *args],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_status_loads_no_mail_library_no_pipeline_no_metrics(config: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", LOADED.format(heavy=HEAVY), "--config", str(config), "status"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr  # no daemon: unhealthy
    assert "LOADED -" in proc.stderr, proc.stderr


def test_a_poll_that_finds_nothing_new_loads_no_pipeline_and_no_mail_library(
    config: Path,
) -> None:
    """The pipeline (every desk, the templates, the parser) is built only for a mailbox with
    mail to handle; a poll of an empty one, the usual one, starts no faster without it."""
    poll = [sys.executable, "-c", LOADED.format(heavy=HEAVY), "--config", str(config)]
    proc = subprocess.run([*poll, "poll", "--once"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "nothing new" in proc.stdout
    assert loaded(proc.stderr) <= LIGHT, proc.stderr
    (config.parent / "inbox" / "new" / "1.eml").write_bytes(
        b"From: c@example.org\r\nTo: support@example.org\r\nSubject: Help\r\n"
        b"Message-ID: <1@example.org>\r\n\r\nIt broke.\r\n"
    )
    proc = subprocess.run([*poll, "poll", "--once"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "1 ticket" in proc.stdout
    assert {"mailtix.desks.pipeline", "jinja2"} <= loaded(proc.stderr)  # it handled the mail


# what a poll imports of the desks and of outgoing mail before it knows there is mail
LIGHT = {"mailtix.desks", "mailtix.desks.outcome", "mailtix.desks.quarantine", "mailtix.outbound",
         "mailtix.outbound.sender_process"}  # fmt: skip


def loaded(stderr: str) -> set[str]:
    (line,) = [line for line in stderr.splitlines() if line.startswith("LOADED ")]
    return set(line.split()[1:]) - {"-"}


def test_status_after_poll_once_and_with_a_broken_rule_file(config: Path) -> None:
    assert mailtix(config, "poll", "--once").returncode == 0
    (config.parent / "routing.toml").write_text('[[rule]]\nname = "x"\nwhen = { subject = \n')
    proc = mailtix(config, "status", "--json")
    assert proc.returncode == 1, proc.stderr  # unhealthy only because no daemon runs
    report = json.loads(proc.stdout)
    assert report["problems"] == ["daemon: no `mailtix run` has used this store"]
    [mailbox] = report["mailboxes"]
    assert mailbox["healthy"] is True and mailbox["last_success"] and mailbox["waiting"] == 0


def test_a_bad_config_is_exit_2_with_one_line(config: Path) -> None:
    config.write_text(config.read_text() + '\n[metrics]\nlisten = "0.0.0.0:9464"\n')
    proc = mailtix(config, "status")
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith('mailtix.toml: metrics.listen: "0.0.0.0" is not a loopback')
    assert len(proc.stderr.splitlines()) == 1


def test_a_mailbox_lmtp_delivers_is_not_shown_as_never_polled(tmp_path: Path) -> None:
    config = tmp_path / "mailtix.toml"
    config.write_text(
        '[store]\nurl = "sqlite:///mailtix.db"\n[smtp]\nmaildir = "outgoing"\n'
        '[lmtp]\nlisten = "127.0.0.1:2424"\n'
        '[[mailbox]]\nname = "support"\naddress = "support@acme.example"\n'
    )
    report = json.loads(mailtix(config, "status", "--json").stdout)
    assert [m["polled"] for m in report["mailboxes"]] == [False]
    assert "mailbox" not in " ".join(report["problems"])
    [row] = [line for line in mailtix(config, "status").stdout.splitlines() if "support" in line]
    assert "- (LMTP)" in row and "never" not in row
