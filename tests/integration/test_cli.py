"""The real command line in a subprocess, as a user runs it: exit codes, one-line errors, JSON,
the demo, and README's command table kept in sync with ``--help``. No servers needed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support.config import small_config

REPO = Path(__file__).resolve().parents[2]
MAILS = REPO / "tests" / "data" / "mails"

DEPARTMENTS = """\
[[department]]
name = "general"
agents = ["alice@example.com"]

[[department]]
name = "facilities"
agents = ["bob@example.com"]
"""

ROUTING = """\
[[rule]]
name = "Invoices go to general"
when = { subject = "invoice" }
then = { priority = "high" }

[[rule]]
name = "Printers go to facilities"
when = { subject = "printer", from_domain = "example.com" }
then = { department = "facilities", priority = "urgent", tags = ["hardware"] }
"""


def mailtix(
    *args: str,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MAILTIX_")}
    environment["COLUMNS"] = "200"  # --help layout does not depend on the terminal
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "mailtix", *args],
        cwd=cwd,
        env=environment,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def no_traceback(proc: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr


@pytest.fixture
def config(tmp_path: Path) -> Path:
    return small_config(
        tmp_path, address="support@example.org", store='url = "sqlite:///var/mailtix.db"',
        departments=DEPARTMENTS, routing=ROUTING, templates=True,
    )  # fmt: skip


# --- mailtix check -------------------------------------------------------------------------------


def test_check_accepts_the_shipped_example(tmp_path: Path) -> None:
    shutil.copy(REPO / "mailtix.toml.example", tmp_path / "mailtix.toml")
    shutil.copytree(REPO / "config", tmp_path / "config")
    env = {"MAILTIX_SMTP_PASSWORD": "smtp-secret", "MAILTIX_IMAP_PASSWORD": "imap-secret"}
    proc = mailtix("check", cwd=tmp_path, env=env)  # ./mailtix.toml is the default
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("ok:")
    assert "smtp-secret" not in proc.stdout + proc.stderr
    no_traceback(proc)


def test_check_example_without_its_secrets_names_the_variables(tmp_path: Path) -> None:
    shutil.copy(REPO / "mailtix.toml.example", tmp_path / "mailtix.toml")
    shutil.copytree(REPO / "config", tmp_path / "config")
    proc = mailtix("check", cwd=tmp_path)
    assert proc.returncode == 2
    assert "MAILTIX_SMTP_PASSWORD" in proc.stderr
    assert "MAILTIX_IMAP_PASSWORD" in proc.stderr
    no_traceback(proc)


def test_check_reports_every_problem_on_its_own_line(tmp_path: Path) -> None:
    path = tmp_path / "mailtix.toml"
    path.write_text(
        """\
[tickets]
prefx = "SUP"

[smtp]
maildir = "outgoing"
port = "abc"

[[mailbox]]
name = "support"
address = "not-an-address"
maildir = "inbox"
"""
    )
    proc = mailtix("--config", str(path), "check")
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert len(lines) == 3, proc.stderr
    assert all(line.startswith("mailtix.toml: ") for line in lines)
    keys = {line.split(": ")[1] for line in lines}
    assert keys == {"tickets.prefx", "smtp.port", "mailbox[0].address"}
    assert proc.stdout == ""
    no_traceback(proc)


def test_toml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "mailtix.toml"
    path.write_text('[store]\nurl = "sqlite:///x.db"\n[smtp\nhost = "x"\n')
    proc = mailtix("--config", str(path), "check")
    assert proc.returncode == 2
    (line,) = proc.stderr.splitlines()
    assert line.startswith("mailtix.toml: line 3: ")
    no_traceback(proc)


def test_missing_config_file_is_one_line(tmp_path: Path) -> None:
    proc = mailtix("--config", str(tmp_path / "nope.toml"), "tickets", "list")
    assert proc.returncode == 2
    (line,) = proc.stderr.splitlines()
    assert "nope.toml" in line and "not found" in line
    no_traceback(proc)


def test_default_config_comes_from_the_environment(config: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = mailtix("check", cwd=elsewhere, env={"MAILTIX_CONFIG": str(config)})
    assert proc.returncode == 0, proc.stderr


# --- tickets, outbox, quarantine ----------------------------------------------------------------


def test_tickets_show_unknown_ref(config: Path) -> None:
    proc = mailtix("--config", str(config), "tickets", "show", "SUP-999")
    assert proc.returncode == 2
    (line,) = proc.stderr.splitlines()
    assert "no ticket SUP-999" in line
    no_traceback(proc)


def test_tickets_list_json_on_an_empty_store(config: Path) -> None:
    proc = mailtix("--config", str(config), "tickets", "list", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []


def test_outbox_retry_needs_an_id_or_all(config: Path) -> None:
    proc = mailtix("--config", str(config), "outbox", "retry")
    assert proc.returncode == 2
    assert "ID or --all" in proc.stderr
    no_traceback(proc)


def test_quarantine_retry_unknown_id(config: Path) -> None:
    proc = mailtix("--config", str(config), "quarantine", "retry", "999")
    assert proc.returncode == 2
    assert "999" in proc.stderr
    no_traceback(proc)


def test_ingest_then_show(config: Path) -> None:
    raw = (MAILS / "plain-customer.eml").read_text()
    proc = mailtix("--config", str(config), "ingest", "--mailbox", "support", stdin=raw)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("ticket SUP-1")
    shown = json.loads(mailtix("--config", str(config), "tickets", "show", "1", "--json").stdout)
    assert shown["ref"] == "SUP-1"
    assert shown["department"] == "facilities"
    assert shown["tags"] == ["hardware"]


# --- rules test ----------------------------------------------------------------------------------


def test_rules_test_explains_and_changes_nothing(config: Path, tmp_path: Path) -> None:
    proc = mailtix(
        "--config", str(config), "rules", "test", str(MAILS / "plain-customer.eml"), "--json"
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    decision = result["decision"]
    assert decision["department"] == "facilities"
    assert decision["priority"] == "urgent"
    assert decision["tags"] == ["hardware"]
    assert decision["matched_rules"] == ["Printers go to facilities"]
    first, second = result["rules"]
    assert first["rule"] == "Invoices go to general" and first["matched"] is False
    assert any("does not match" in r for r in first["reasons"])
    assert second["matched"] is True
    assert len(second["reasons"]) == 2  # one per condition: subject and from_domain
    assert any("subject" in r and "printer" in r for r in second["reasons"])
    assert any("from_domain" in r for r in second["reasons"])

    assert not (tmp_path / "var" / "mailtix.db").exists()  # the store was never opened
    listed = mailtix("--config", str(config), "tickets", "list", "--json")
    assert json.loads(listed.stdout) == []


# --- demo ----------------------------------------------------------------------------------------


def test_demo_runs_and_leaves_a_usable_store(tmp_path: Path) -> None:
    directory = tmp_path / "demo"
    proc = mailtix("demo", "--dir", str(directory))
    assert proc.returncode == 0, proc.stderr
    for ref in ("SUP-1", "SUP-2", "SUP-3", "SUP-4"):
        assert ref in proc.stdout
    assert "SUP-5" not in proc.stdout
    assert "ignored" in proc.stdout
    no_traceback(proc)
    # --config is accepted after the command as well as before it
    listed = mailtix("tickets", "list", "--json", "--config", str(directory / "mailtix.toml"))
    assert listed.returncode == 0, listed.stderr
    tickets = json.loads(listed.stdout)
    assert sorted(t["ref"] for t in tickets) == ["SUP-1", "SUP-2", "SUP-3", "SUP-4"]


# --- README and --help agree --------------------------------------------------------------------


def readme_commands() -> list[tuple[str, list[str]]]:
    """(command, options) for every command in README's "Command line" table."""
    text = (REPO / "README.md").read_text()
    section = text.split("## Command line", 1)[1].split("\n## ", 1)[0]
    found: list[tuple[str, list[str]]] = []
    for row in section.splitlines():
        if not row.startswith("| `mailtix "):
            continue
        first_cell = row.split(" | ")[0]
        for usage in re.findall(r"`mailtix ([^`]+)`", first_cell):
            words = re.match(r"[a-z][a-z ]*[a-z]", usage)
            assert words is not None, usage
            options = re.findall(r"--[a-z][a-z-]*", usage)
            found.append((words.group(0), options))
    return found


def test_readme_command_table_matches_help() -> None:
    commands = readme_commands()
    assert len(commands) >= 12
    top = mailtix("--help")
    assert top.returncode == 0
    listed = set(re.findall(r"^ {4}([a-z]+)\s", top.stdout, re.M))
    for command, options in commands:
        head, _, action = command.partition(" ")
        assert head in listed, f"README command {command!r} missing from `mailtix --help`"
        if action:
            group = mailtix(head, "--help")
            assert re.search(rf"^ {{4}}{action}\s", group.stdout, re.M), command
        usage = mailtix(*command.split(), "--help")
        assert usage.returncode == 0, command
        for option in options:
            assert option in usage.stdout, f"README option {option} of {command!r} not in --help"
    documented = {command.partition(" ")[0] for command, _ in commands}
    assert listed == documented, "commands in --help but not in README's table (or vice versa)"


def test_closed_stdout_pipe_is_not_a_traceback(config: Path) -> None:
    """`mailtix tickets list | head` where head exits first: no traceback, no noise."""
    mailtix("--config", str(config), "ingest", "--mailbox", "support", str(MAILS / "html-only.eml"))
    reader, writer = os.pipe()
    os.close(reader)  # the reader is gone before mailtix writes a byte
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "mailtix", "--config", str(config), "tickets", "list"],
            stdout=writer,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(writer)
    assert proc.returncode == 1
    assert proc.stderr == ""


# --- private files and where the secret lives -----------------------------------------------------


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def under_umask_022(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    old = os.umask(0o022)  # inherited by the child: what an admin's shell usually has
    try:
        return mailtix(*args, stdin=stdin)
    finally:
        os.umask(old)


def test_store_and_report_written_by_the_cli_are_private_under_umask_022(config: Path) -> None:
    raw = (MAILS / "plain-customer.eml").read_text()
    proc = under_umask_022("--config", str(config), "ingest", "--mailbox", "support", stdin=raw)
    assert proc.returncode == 0, proc.stderr
    var = config.parent / "var"
    assert mode(var) == 0o700
    assert sorted(p.name for p in var.iterdir()) == ["mailtix.db"]  # its WAL went at close
    assert mode(var / "mailtix.db") == 0o600  # (the WAL and SHM of an open store: unit test)
    assert under_umask_022("--config", str(config), "poll", "--once").returncode == 0
    for directory in ("inbox", "inbox/.Processed", "inbox/.Quarantine", "outgoing"):
        assert mode(config.parent / directory) == 0o700, directory
    for written in (config.parent / "outgoing" / "new").iterdir():
        assert mode(written) == 0o600, written
    report = config.parent / "report.html"
    proc = under_umask_022("--config", str(config), "report", "--format", "html", "--output",
                           str(report))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert mode(report) == 0o600


def test_check_warns_about_a_store_other_users_can_read(config: Path) -> None:
    mailtix("--config", str(config), "tickets", "list")  # creates the store, privately
    database = config.parent / "var" / "mailtix.db"
    quiet = mailtix("--config", str(config), "check")
    assert "accessible" not in quiet.stderr, quiet.stderr
    database.chmod(0o644)
    (config.parent / "var").chmod(0o755)
    proc = mailtix("--config", str(config), "check")
    assert proc.returncode == 0, proc.stderr  # a warning, not an error
    assert proc.stdout.startswith("ok:")
    lines = [line for line in proc.stderr.splitlines() if "accessible" in line]
    assert lines == [
        f"warning: the store's directory {database.parent} is accessible to other users "
        f"(mode 0755); run: chmod 700 {database.parent}",
        f"warning: the store {database} is accessible to other users (mode 0644); "
        f"run: chmod 600 {database}",
    ]
    no_traceback(proc)


def test_check_warns_when_the_reply_token_key_lives_only_in_the_store(config: Path) -> None:
    proc = mailtix("--config", str(config), "check")
    assert proc.returncode == 0, proc.stderr
    [line] = [line for line in proc.stderr.splitlines() if "[agents] secret" in line]
    assert line.startswith("warning: [agents] secret is not set")

    secret = config.parent / "agent-secret"
    secret.write_text("s3cr3t-" * 6 + "\n")
    secret.chmod(0o600)
    config.write_text(config.read_text() + '\n[agents]\nsecret_file = "agent-secret"\n')
    private = mailtix("--config", str(config), "check")
    assert private.returncode == 0 and private.stderr == "", private.stderr

    secret.chmod(0o644)
    readable = mailtix("--config", str(config), "check")
    assert readable.returncode == 0, readable.stderr
    assert readable.stderr.splitlines() == [
        f"warning: [agents] secret_file {secret} is accessible to other users (mode 0644); "
        f"run: chmod 600 {secret}"
    ]
    assert "s3cr3t" not in readable.stdout + readable.stderr


def test_check_connect_on_a_maildir_mailbox_creates_nothing(config: Path) -> None:
    proc = mailtix("--config", str(config), "check", "--connect")
    assert proc.returncode == 0, proc.stderr
    inbox = config.parent / "inbox"
    wanted = f"mailbox support: would create Maildir {inbox}, Processed, Quarantine, Spam"
    assert wanted in proc.stdout
    assert not inbox.exists() and not (config.parent / "var").exists()


# --- a light, forgiving command line for reading the store ---------------------------------------
HEAVY = ("jinja2", "imapclient", "aiosmtplib", "asyncio", "mailparser", "nh3", "regex")
LOADED = """\
import sys
from mailtix.cli.main import main
code = main(sys.argv[1:])
heavy = [m for m in {heavy!r} if m in sys.modules]
heavy += [m for m in sys.modules if m.startswith(("mailtix.desks", "mailtix.outbound"))]
print("LOADED", " ".join(sorted(heavy)) or "-", file=sys.stderr)
sys.exit(code)
"""


@pytest.mark.parametrize(
    "command",
    [("tickets", "list"), ("tickets", "show", "1"), ("outbox", "list"), ("quarantine", "list")],
)
def test_read_only_commands_load_no_mail_library_and_no_pipeline(
    config: Path, command: tuple[str, ...]
) -> None:
    assert mailtix("--config", str(config), "ingest", "--mailbox", "support",
                   stdin=(MAILS / "plain-customer.eml").read_text()).returncode == 0  # fmt: skip
    script = LOADED.format(heavy=HEAVY)
    proc = subprocess.run(
        [sys.executable, "-c", script, "--config", str(config), *command],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "LOADED -" in proc.stderr, proc.stderr


def test_read_only_commands_work_when_a_rule_file_is_broken(config: Path) -> None:
    raw = (MAILS / "plain-customer.eml").read_text()
    assert (
        mailtix("--config", str(config), "ingest", "--mailbox", "support", stdin=raw).returncode
        == 0
    )
    (config.parent / "routing.toml").write_text('[[rule]]\nname = "broken\n')
    listed = mailtix("--config", str(config), "tickets", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [t["ref"] for t in json.loads(listed.stdout)] == ["SUP-1"]
    assert listed.stderr == ""  # the routing file is not even read
    (config.parent / "departments.toml").write_text("[[department]]\nname = 3\n")
    shown = mailtix("--config", str(config), "tickets", "show", "SUP-1")
    assert shown.returncode == 0, shown.stderr
    [warning] = shown.stderr.splitlines()
    assert warning.startswith("mailtix: warning: departments.toml:") and "mailtix check" in warning
    checked = mailtix("--config", str(config), "check")  # check still refuses it
    assert checked.returncode == 2 and "departments.toml" in checked.stderr
    no_traceback(checked)
