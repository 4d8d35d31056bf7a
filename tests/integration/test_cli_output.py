"""What the command line prints from hostile mail, run as a user runs it (a subprocess, no servers):
terminal escapes and bidi overrides are shown, never obeyed; JSON keeps the data exact; ids too
large for the store are one line; a cut list says so; check warns about backtracking rules.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.config import small_config

REPO = Path(__file__).resolve().parents[2]
ESCAPES = REPO / "tests" / "data" / "mails" / "terminal-escapes.eml"
PLAIN = REPO / "tests" / "data" / "mails" / "plain-customer.eml"
OBEYED = ("\x1b", "\x07", "\r", "\x9b", "\u202e")  # ESC, BEL, CR, CSI, RIGHT-TO-LEFT OVERRIDE
ROUTING = """\
[[rule]]
name = "Printers"
when = { subject = "printer" }
then = { tags = ["hardware"] }

[[rule]]
name = "Words"
when = { body = "(\\\\w+\\\\s?)*$" }
then = { tags = ["words"] }
"""


def run(config: Path, *args: str, stdin: bytes | None = None) -> tuple[int, str, str]:
    """The CLI's exit code, stdout and stderr, decoded without translating line ends."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MAILTIX_")}
    proc = subprocess.run(
        [sys.executable, "-m", "mailtix", "--config", str(config), *args],
        env=environment,
        input=stdin,
        capture_output=True,
        timeout=120,
    )
    return proc.returncode, proc.stdout.decode(), proc.stderr.decode()


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return small_config(
        tmp_path, address="support@example.org", store='url = "sqlite:///var/mailtix.db"',
        routing=ROUTING, templates=True,
    )  # fmt: skip


@pytest.fixture
def hostile(config: Path) -> Path:
    code, out, err = run(config, "ingest", "--mailbox", "support", stdin=ESCAPES.read_bytes())
    assert code == 0 and out.startswith("ticket SUP-1"), err
    return config


def test_tickets_show_shows_escapes_and_bidi_overrides_instead_of_obeying_them(
    hostile: Path,
) -> None:
    code, out, err = run(hostile, "tickets", "show", "SUP-1")
    assert code == 0, err
    assert not [c for c in OBEYED if c in out]
    assert "down.␛[2J␛]0;title␇␛]52;c;aGVsbG8=␇" in out
    assert "Printer <U+009B>2J down <U+202E>txt.exe" in out
    assert "    Tab\there, and a carriage" in out  # tabs and line breaks stay


def test_tickets_list_shows_c1_and_bidi_controls_in_subjects_visibly(hostile: Path) -> None:
    code, out, err = run(hostile, "tickets", "list")
    assert code == 0, err
    assert not [c for c in OBEYED if c in out]
    assert "Printer <U+009B>2J down <U+202E>txt.exe" in out


def test_json_keeps_the_data_exact_and_writes_c1_and_bidi_as_escapes(hostile: Path) -> None:
    code, out, err = run(hostile, "tickets", "show", "1", "--json")
    assert code == 0, err
    assert not [c for c in OBEYED if c in out]
    assert "\\u009b" in out and "\\u202e" in out and "\\u001b" in out
    data = json.loads(out)
    assert data["subject"] == "Printer \x9b2J down \u202etxt.exe"
    assert "down.\x1b[2J\x1b]0;title\x07\x1b]52;c;aGVsbG8=\x07" in data["messages"][0]["text"]
    listed = json.loads(run(hostile, "tickets", "list", "--json")[1])
    assert listed[0]["subject"] == data["subject"]


def test_rules_test_quotes_the_subject_without_its_controls(config: Path) -> None:
    code, out, err = run(config, "rules", "test", str(ESCAPES))
    assert code == 0, err
    assert not [c for c in OBEYED if c in out]
    assert 'subject "Printer <U+009B>2J down <U+202E>txt.exe" matches /printer/' in out


@pytest.mark.parametrize(
    "args, line",
    [
        (("tickets", "show", "99999999999999999999999"), "no ticket 99999999999999999999999"),
        (("tickets", "show", "SUP-9223372036854775808"), "no ticket SUP-9223372036854775808"),
        (("outbox", "retry", "99999999999999999999999"), "no outbox row 99999999999999999999999"),
        (("quarantine", "retry", "99999999999999999999999"), "no quarantined message 9999999"),
    ],
)
def test_an_id_too_large_for_the_store_is_one_line_not_a_traceback(
    config: Path, args: tuple[str, ...], line: str
) -> None:
    code, out, err = run(config, *args)
    assert code == 2
    assert "Traceback" not in out + err
    (only,) = err.splitlines()
    assert only.startswith(f"mailtix: {line}")


def test_tickets_list_says_on_stderr_when_more_tickets_exist(config: Path) -> None:
    raw = PLAIN.read_bytes()
    for n in range(3):
        mail = raw.replace(b"Message-ID: <", f"Message-ID: <more{n}-".encode(), 1)
        assert run(config, "ingest", "--mailbox", "support", stdin=mail)[0] == 0
    code, out, err = run(config, "tickets", "list", "--limit", "2", "--json")
    assert code == 0
    assert [t["ref"] for t in json.loads(out)] == ["SUP-3", "SUP-2"]
    assert err == "mailtix: the newest 2 of 3 tickets; --limit N shows more\n"
    code, out, err = run(config, "tickets", "list", "--limit", "2")
    assert code == 0 and "SUP-3" in out and "SUP-1" not in out
    assert "the newest 2 of 3 tickets" in err
    code, out, err = run(config, "tickets", "list", "--limit", "3", "--json")
    assert (code, err, len(json.loads(out))) == (0, "", 3)
    code, out, err = run(config, "tickets", "list", "--limit", "99999999999999999999")
    assert code == 2 and "Traceback" not in err
    assert "--limit: must be a whole number from 1 to 9223372036854775807" in err


def test_check_warns_about_a_rule_that_repeats_a_repeat(config: Path) -> None:
    code, out, err = run(config, "check")
    assert code == 0, err
    (warning,) = [line for line in err.splitlines() if "repeats a repeat" in line]
    assert warning.startswith('routing.toml:6: rule "Words": when.body: /(\\w+\\s?)*$/')
