"""``mailtix report``: analytics for a period, as a table, JSON, CSV or an HTML page."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from mailtix.cli.common import open_store_view
from mailtix.cli.terminal_text import json_safe
from mailtix.domain.clock import utcnow
from mailtix.domain.private_files import write_private


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    report = sub.add_parser(
        "report", parents=[common], help="volumes, response and resolution times, SLA, satisfaction"
    )
    report.add_argument("--since", help="start date or ISO time (default: 30 days before --until)")
    report.add_argument("--until", help="end date or ISO time, exclusive (default: now)")
    report.add_argument("--format", choices=("table", "json", "csv", "html"), default="table")
    report.add_argument("--output", help="write the report to FILE instead of stdout")
    report.set_defaults(func=print_report)


def print_report(args: argparse.Namespace) -> int:
    from mailtix.report.command import run_report

    view = open_store_view(args)
    text = run_report(view, args.since, args.until, args.format, utcnow())
    text = json_safe(text) if args.format == "json" else text  # exact data, safe to print
    if args.output:
        write_private(Path(args.output), text)
        print(f"report written to {args.output}")
        return 0
    if args.format == "csv":  # its rows end in CRLF (RFC 4180): the stream would show CR as ␍
        text = text.replace("\r\n", "\n")
    sys.stdout.write(text if text.endswith("\n") else text + "\n")
    return 0
