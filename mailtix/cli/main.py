"""The command line: parse arguments, call the library, print, map errors to exit codes.

0 ok · 1 runtime failure · 2 bad usage or invalid config (one line per problem, no traceback).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import TextIO, cast

from mailtix import __version__
from mailtix.cli.terminal_text import PrintableStream
from mailtix.domain.errors import ConfigError, MailtixError, UsageError
from mailtix.domain.private_files import restrict_process_umask

Handler = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mailtix", description="A help desk that lives in a mailbox."
    )
    parser.add_argument("--config", help="config file (default: $MAILTIX_CONFIG, ./mailtix.toml)")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    parser.add_argument("--version", action="version", version=f"mailtix {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    # --config is also accepted after the command (`mailtix tickets list --config FILE`)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", default=argparse.SUPPRESS, help="config file")

    demo = sub.add_parser("demo", help="run the whole pipeline on embedded defaults, no server")
    demo.add_argument("--dir", help="where to put the demo files (default: a new temp directory)")
    sub.add_parser(
        "run",
        parents=[common],
        help="the daemon: poll every mailbox, drain the outbox, until stopped",
    )
    poll = sub.add_parser(
        "poll", parents=[common], help="one cycle over every mailbox, then drain the outbox"
    )
    poll.add_argument("--once", action="store_true", help="one cycle (the only mode)")
    ingest = sub.add_parser(
        "ingest", parents=[common], help="process one raw message from FILE or stdin"
    )
    ingest.add_argument("--mailbox", required=True, help="the mailbox it was delivered to")
    ingest.add_argument("file", nargs="?", help="the message (default: stdin)")
    check = sub.add_parser("check", parents=[common], help="validate config, rules and templates")
    check.add_argument("--connect", action="store_true", help="also log in to every server")

    tickets = sub.add_parser("tickets", help="list and show tickets").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    tlist = tickets.add_parser("list", parents=[common], help="tickets, newest first")
    tlist.add_argument("--status")
    tlist.add_argument("--department")
    tlist.add_argument(
        "--limit", type=positive, default=100, metavar="N", help="at most N tickets (default 100)"
    )
    tlist.add_argument("--json", action="store_true")
    tshow = tickets.add_parser(
        "show", parents=[common], help="one ticket with its messages and events"
    )
    tshow.add_argument("ref", help="SUP-42 or 42")
    tshow.add_argument("--json", action="store_true")

    rules = sub.add_parser("rules", help="routing rules").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    rtest = rules.add_parser(
        "test", parents=[common], help="which rules match a message and why; changes nothing"
    )
    rtest.add_argument("file")
    rtest.add_argument("--mailbox", help="as if delivered to this mailbox (default: the first)")
    rtest.add_argument("--json", action="store_true")

    box = sub.add_parser("outbox", help="outgoing mail").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    olist = box.add_parser(
        "list", parents=[common], help="pending and failed mail with the last error"
    )
    olist.add_argument("--all", action="store_true", help="include sent mail")
    olist.add_argument("--json", action="store_true")
    oretry = box.add_parser("retry", parents=[common], help="make a row (or --all) due now")
    oretry.add_argument("id", nargs="?", type=int)
    oretry.add_argument("--all", action="store_true")
    osupp = box.add_parser(
        "suppressions", parents=[common],
        help="addresses that get no automatic mail after a permanent bounce, and until when",
    )  # fmt: skip
    osupp.add_argument("--json", action="store_true")
    ounsupp = box.add_parser(
        "unsuppress", parents=[common], help="let automatic mail go to ADDRESS again"
    )
    ounsupp.add_argument("address")

    quar = sub.add_parser("quarantine", help="messages that could not be processed").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    qlist = quar.add_parser("list", parents=[common], help="held messages with the reason")
    qlist.add_argument("--json", action="store_true")
    qretry = quar.add_parser(
        "retry", parents=[common], help="run a held message through the pipeline again"
    )
    qretry.add_argument("id", type=int)

    jobs = sub.add_parser("jobs", help="timed jobs").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    jrun = jobs.add_parser(
        "run", parents=[common],
        help="SLA escalation, reminders, auto-resolve/close, digest: once, as at TIME",
    )  # fmt: skip
    jrun.add_argument("--at", help="ISO 8601 time (naive = UTC; default: now)")

    report = sub.add_parser(
        "report", parents=[common], help="volumes, response and resolution times, SLA, satisfaction"
    )
    report.add_argument("--since", help="start date or ISO time (default: 30 days before --until)")
    report.add_argument("--until", help="end date or ISO time, exclusive (default: now)")
    report.add_argument("--format", choices=("table", "json", "csv", "html"), default="table")
    report.add_argument("--output", help="write the report to FILE instead of stdout")
    return parser


def positive(text: str) -> int:
    """An argparse type: a whole number from 1 to 2**63 - 1 (what the store can hold)."""
    try:
        number = int(text)
    except ValueError:
        number = 0
    if not 0 < number < 2**63:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1 to {2**63 - 1}: {text}")
    return number


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
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
    from mailtix.cli import commands  # imported late: --help stays fast
    from mailtix.cli import suppressions as suppression_commands

    handlers = {**commands.HANDLERS, **suppression_commands.HANDLERS}
    handler: Handler = handlers[_command_key(args)]
    try:
        code = handler(args)
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


def _command_key(args: argparse.Namespace) -> str:
    action = getattr(args, "action", None)
    return f"{args.command} {action}" if action else args.command


def _setup_logging(verbose: int) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("mailparser", "apscheduler", "imapclient", "aiosmtplib"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
