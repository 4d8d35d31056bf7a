"""``mailtix report``: the period from the command line, the report, the chosen format."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mailtix.config.report import report_config
from mailtix.report.build import build_report
from mailtix.report.formats import render_csv, render_json, render_table
from mailtix.report.html_page import render_html
from mailtix.report.period import parse_period

RENDERERS = {"table": render_table, "json": render_json, "csv": render_csv, "html": render_html}


def run_report(app: Any, since: str | None, until: str | None, fmt: str, now: datetime) -> str:
    """The report for ``--since``/``--until`` (default: the 30 days up to ``now``) as text."""
    zone = report_config(app.config).zone
    period = parse_period(since, until, now, zone)
    return RENDERERS[fmt](build_report(app.db, app.config, period, now))
