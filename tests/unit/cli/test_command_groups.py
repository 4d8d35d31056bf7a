"""``cli.main`` imports only the command group a command belongs to: the table that says which
group registers which command matches what the groups register, an unknown word or a help
request gets every group, and a short command loads no other group and no mail library."""

from __future__ import annotations

import argparse
import subprocess
import sys
from importlib import import_module
from pathlib import Path

import pytest
from support.config import small_config

from mailtix.cli.main import GROUPS, build_parser, command_name, groups_for

MAIL = Path(__file__).resolve().parents[2] / "data" / "mails" / "plain-customer.eml"


def registered(group: str) -> set[str]:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    import_module(f"mailtix.cli.{group}").register(sub, argparse.ArgumentParser(add_help=False))
    return set(sub.choices)


@pytest.mark.parametrize("group", list(GROUPS))
def test_each_group_registers_the_commands_the_table_names(group: str) -> None:
    assert registered(group) == set(GROUPS[group])


def test_the_whole_parser_knows_every_command_once() -> None:
    parser = build_parser(["--help"])
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    every = [c for commands in GROUPS.values() for c in commands]
    assert list(sub.choices) == every and len(set(every)) == len(every)


@pytest.mark.parametrize(
    "argv, name",
    [
        (["tickets", "list"], "tickets"),
        (["--config", "x.toml", "-vv", "ingest", "--mailbox", "support"], "ingest"),
        (["--config=x.toml", "outbox", "list"], "outbox"),
        (["-v", "--help", "tickets"], None),
        (["--version"], None),
        ([], None),
        (["--config", "tickets"], None),  # "tickets" is the config file here
        (["--conf", "tickets", "outbox", "list"], "outbox"),  # an abbreviation argparse takes
        (["-vh", "tickets"], None),
        (["--he"], None),
        (["--ver"], None),  # --verbose or --version: argparse says it is ambiguous
    ],
)
def test_the_command_is_the_first_word_that_is_no_option(argv: list[str], name: str) -> None:
    assert command_name(argv) == name


def test_an_unknown_word_or_help_registers_every_group() -> None:
    assert groups_for(["tikets", "list"]) == list(GROUPS)
    assert groups_for(["--conf", "tickets", "list"]) == list(GROUPS)  # "list" names none
    assert groups_for(["-h"]) == list(GROUPS)
    assert groups_for(["ingest", "--mailbox", "support"]) == ["mail"]


LOADED = """\
import sys
from mailtix.cli.main import main
code = main(sys.argv[1:])
print("LOADED", " ".join(sorted(m for m in sys.modules if m.startswith({prefixes!r}))) or "-",
      file=sys.stderr)
sys.exit(code)
"""
NOT_FOR_INGEST = ("imapclient", "apscheduler", "prometheus_client", "msal", "google",
                  "mailtix.runtime.daemon", "mailtix.runtime.metrics",
                  "mailtix.inbound.imap_source", "mailtix.privacy", "flufl")  # fmt: skip
OTHER_GROUPS = tuple(f"mailtix.cli.{g}" for g in GROUPS if g not in ("mail", "tickets"))


def loaded(config: Path, *command: str, prefixes: tuple[str, ...], stdin: bytes = b"") -> str:
    script = LOADED.format(prefixes=prefixes)
    proc = subprocess.run([sys.executable, "-c", script, "--config", str(config), *command],
                          input=stdin, capture_output=True, timeout=60)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc.stderr.decode().strip().splitlines()[-1]


def test_ingest_loads_no_imap_scheduler_metrics_or_other_command(
    tmp_path: Path,
) -> None:
    config = small_config(tmp_path)
    ingest = ("ingest", "--mailbox", "support")
    prefixes = NOT_FOR_INGEST + OTHER_GROUPS
    assert loaded(config, *ingest, prefixes=prefixes, stdin=MAIL.read_bytes()) == "LOADED -"
    assert loaded(config, "tickets", "list", prefixes=OTHER_GROUPS) == "LOADED -"
    light = ("mailtix.signin", "importlib.metadata", "jinja2", "mailparser")
    assert loaded(config, "tickets", "list", prefixes=light) == "LOADED -"
    assert "mailtix.cli.tickets" in loaded(config, "tickets", "list", prefixes=("mailtix.cli",))


def test_a_mistyped_status_is_a_usage_error_not_an_empty_list(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["tickets", "list", "--status", "opne"]
    with pytest.raises(SystemExit) as exit_:
        build_parser(argv).parse_args(argv)
    assert exit_.value.code == 2
    assert "invalid choice: 'opne'" in capsys.readouterr().err
