"""The command line: parse arguments, run the chosen command, map errors to exit codes.

0 ok · 1 runtime failure · 2 bad usage or invalid config (one line per problem, no traceback).
Each command group lives in a module of its own (``cli.tickets``, ``cli.outbox``…) that adds its
parsers with ``set_defaults(func=…)`` and imports what its commands use only when they run.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from importlib import import_module
from typing import Any, TextIO, cast

from mailtix.cli.terminal_text import PrintableStream
from mailtix.domain.errors import ConfigError, MailtixError, UsageError
from mailtix.domain.log_lines import level_for, setup_logging
from mailtix.domain.private_files import restrict_process_umask

# Each command group's module (mailtix.cli.NAME) and the commands it registers, in --help
# order. A command imports its own group only; --help, no command or a typo import them all.
GROUPS = {
    "mail": ("demo", "run", "poll", "ingest"),
    "check": ("check",),
    "tickets": ("tickets",),
    "rules": ("rules",),
    "outbox": ("outbox",),
    "quarantine": ("quarantine",),
    "jobs": ("jobs",),
    "report": ("report",),
    "status": ("status",),
    "privacy": ("privacy",),
    "customers": ("customers",),
    "init": ("init",),
    "backup": ("backup",),
    "auth": ("auth",),
    "lmtp": ("lmtp",),
}


class _Version(argparse.Action):
    """``--version``: looked up only when asked for (importlib.metadata is slow to import)."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, help=kwargs.get("help"))

    def __call__(self, parser: argparse.ArgumentParser, *args: Any) -> None:
        from mailtix.domain.version import mailtix_version

        print(f"mailtix {mailtix_version()}")
        parser.exit()


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser for ``argv``: with its command's group only, or with every group."""
    parser = argparse.ArgumentParser(
        prog="mailtix", description="A help desk that lives in a mailbox."
    )
    parser.add_argument("--config", help="config file (default: $MAILTIX_CONFIG, ./mailtix.toml)")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    parser.add_argument("--version", action=_Version, help="show the version and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    # --config is also accepted after the command (`mailtix tickets list --config FILE`)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", default=argparse.SUPPRESS, help="config file")
    for group in groups_for(argv):
        import_module(f"mailtix.cli.{group}").register(sub, common)
    return parser


def groups_for(argv: Sequence[str] | None) -> list[str]:
    """The group that registers the command ``argv`` names, else every group."""
    command = command_name(sys.argv[1:] if argv is None else argv)
    chosen = [group for group, commands in GROUPS.items() if command in commands]
    return chosen or list(GROUPS)


def command_name(argv: Sequence[str]) -> str | None:
    """The first word that is neither an option nor --config's value (``--conf X`` too: argparse
    takes abbreviations); None when help or the version is asked for before it."""
    words = iter(argv)
    for word in words:
        if word.startswith("--") and len(word) > 2 and "=" not in word:
            if "--help".startswith(word) or "--version".startswith(word):
                return None
            if "--config".startswith(word):
                next(words, None)
        elif word.startswith("-") and word != "-":
            if "h" in word[1:] and not word.startswith("--"):
                return None  # -h, -vh
        else:
            return word
    return None


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    restrict_process_umask()  # every file mailtix writes holds mail or secrets: 0600
    streams = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = (cast(TextIO, PrintableStream(s)) for s in streams)
    try:
        return _run(args)
    finally:
        sys.stdout, sys.stderr = streams


def _run(args: argparse.Namespace) -> int:
    """The command, with stdout and stderr showing control characters instead of obeying them."""
    _setup_logging(args.verbose)
    try:
        code: int = args.func(args)
        sys.stdout.flush()  # a closed pipe (`mailtix tickets list | head`) shows up here
        return code
    except BrokenPipeError:  # the reader went away: stop quietly, as other CLI tools do
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except ConfigError as exc:
        for line in exc.problems:
            print(line, file=sys.stderr)
        return 2
    except UsageError as exc:
        print(f"mailtix: {exc}", file=sys.stderr)
        return 2
    except MailtixError as exc:
        print(f"mailtix: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _setup_logging(verbose: int) -> None:
    """Text from warnings on (each -v one step lower) until a command has read ``[logging]``
    (``cli.common.use_config_logging``)."""
    setup_logging(level_for("warning", verbose))
