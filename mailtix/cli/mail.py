"""``mailtix demo``, ``run``, ``poll --once`` and ``ingest``: the commands that handle mail."""

from __future__ import annotations

import argparse
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from mailtix.cli.common import open_app
from mailtix.domain.errors import UsageError

EX_TEMPFAIL = 75  # sysexits.h: the MTA keeps the message and delivers it again later


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    demo = sub.add_parser("demo", help="run the whole pipeline on embedded defaults, no server")
    demo.add_argument("--dir", help="where to put the demo files (default: a new temp directory)")
    demo.set_defaults(func=demo_command)
    run = sub.add_parser(
        "run", parents=[common],
        help="the daemon: poll every mailbox, drain the outbox, until stopped",
    )  # fmt: skip
    run.set_defaults(func=run_daemon)
    poll = sub.add_parser(
        "poll", parents=[common], help="one cycle over every mailbox, then drain the outbox"
    )
    poll.add_argument("--once", action="store_true", help="one cycle (the only mode)")
    poll.set_defaults(func=poll_once)
    ingest = sub.add_parser(
        "ingest", parents=[common], help="process one raw message from FILE or stdin"
    )
    ingest.add_argument("--mailbox", required=True, help="the mailbox it was delivered to")
    ingest.add_argument("file", nargs="?", help="the message (default: stdin)")
    ingest.set_defaults(func=ingest_one)


def demo_command(args: argparse.Namespace) -> int:
    from mailtix.cli.demo import run_demo

    return run_demo(Path(args.dir) if args.dir else None)


def run_daemon(args: argparse.Namespace) -> int:
    from mailtix.runtime.daemon import Daemon

    Daemon(open_app(args)).run_forever()
    return 0


def poll_once(args: argparse.Namespace) -> int:
    """One poll of every mailbox and one drain of the outbox: a line a mailbox and one for the
    outbox on stdout. A mailbox's failure is already on stderr, logged where it happened (at
    ERROR, which every ``[logging] level`` shows), so here it only sets the exit code."""
    from mailtix.runtime.app import poll_cycle

    result = poll_cycle(open_app(args))
    for poll in result.polls:
        print(poll.summary())
    sent = ", ".join(f"{n} {k}" for k, n in sorted(result.sent.items())) or "nothing to send"
    print(f"outbox: {result.send_error or sent}")
    deferred = sum(p.outcomes.get("deferred", 0) for p in result.polls)
    return 1 if result.errors or result.send_error or deferred else 0


def ingest_one(args: argparse.Namespace) -> int:
    from mailtix.desks.outcome import Source
    from mailtix.inbound.bounded_read import read_at_most
    from mailtix.outbound import outbox
    from mailtix.outbound.accounts import send_accounts
    from mailtix.runtime.app import ingest

    app = open_app(args)
    mailbox = app.mailbox(args.mailbox)
    try:
        with open(args.file, "rb") if args.file else nullcontext(sys.stdin.buffer) as stream:
            raw, size = read_at_most(stream, mailbox.max_message_bytes)
    except OSError as exc:
        raise UsageError(f"cannot read {args.file}: {exc.strerror or exc}") from exc
    if raw is None:  # quarantined with its size and no bytes, as the poller does
        outcome = app.pipeline.quarantine_oversized(Source(mailbox.name), size)
    else:
        outcome = ingest(app, mailbox.name, raw)
    print(f"{outcome.kind} {outcome.ticket_ref or ''} {outcome.detail}".strip())
    outbox.drain(send_accounts(app.config), app.clock)
    return EX_TEMPFAIL if outcome.kind == "deferred" else 0
