"""``mailtix jobs run [--at TIME]``: the timed jobs once (retention included), as the daemon
runs them."""

from __future__ import annotations

import argparse
from typing import Any

from mailtix.cli.common import open_app
from mailtix.domain.clock import utcnow


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    jobs = sub.add_parser("jobs", help="timed jobs").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    run = jobs.add_parser(
        "run", parents=[common],
        help="SLA escalation, reminders, auto-resolve/close, digest, retention: once, as at TIME",
    )  # fmt: skip
    run.add_argument("--at", help="ISO 8601 time (naive = UTC; default: now)")
    run.set_defaults(func=run_jobs_once)


def run_jobs_once(args: argparse.Namespace) -> int:
    from mailtix.lifecycle.jobs import parse_at, run_jobs
    from mailtix.outbound import outbox
    from mailtix.outbound.accounts import send_accounts

    now = parse_at(args.at) if args.at else utcnow()
    app = open_app(args)
    for result in run_jobs(app, now):
        print(result.line())
    # mail queued at TIME goes out as if it were TIME
    sent = outbox.drain(send_accounts(app.config), lambda: max(now, app.clock()))
    sent_text = ", ".join(f"{n} {k}" for k, n in sorted(sent.items()))
    print(f"outbox: {sent_text or 'nothing to send'}")
    return 0
