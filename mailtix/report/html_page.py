"""The report as one self-contained HTML page: inline CSS, inline SVG charts (``svg``), no
script, font or image from anywhere. Every value is escaped; ticket subjects are never shown."""

from __future__ import annotations

from html import escape
from typing import Any

from mailtix.report import svg
from mailtix.report.agent_privacy import agents_note
from mailtix.report.formats import HEADERS, group_rows

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
BLUE, GREEN, ORANGE = "#1f6feb", "#2da44e", "#d4a72c"
CSS = """
body{font-family:sans-serif;margin:24px;color:#1f2328;max-width:1100px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px}
.muted{color:#57606a;font-size:13px}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}
.card{border:1px solid #d0d7de;border-radius:6px;padding:10px 14px;min-width:120px}
.card b{display:block;font-size:22px}.card span{font-size:12px;color:#57606a}
table{border-collapse:collapse;font-size:13px;margin:6px 0}
th,td{border-bottom:1px solid #d0d7de;padding:4px 10px;text-align:right}
th:first-child,td:first-child{text-align:left}
svg{max-width:100%;height:auto;display:block;margin:6px 0}
"""


def _cards(report: dict[str, Any]) -> str:
    overall = report["overall"]
    fr, res, sat = overall["first_response"], overall["resolution"], overall["satisfaction"]
    sla = overall["sla"]["first_response"]
    measured = sla["met"] + sla["breached"]
    items = [
        ("created", overall["created"]),
        ("resolved", overall["resolved"]),
        ("reopened", overall["reopened"]),
        ("open backlog", overall["backlog"]),
        ("median first response", _hours(fr["median_hours"])),
        ("median resolution", _hours(res["median_hours"])),
        ("first response SLA met", f"{100 * sla['met'] // measured}%" if measured else "-"),
        ("satisfaction", "-" if sat["average"] is None else f"{sat['average']} / 5"),
    ]
    cells = "".join(
        f'<div class="card"><b>{escape(str(v))}</b><span>{escape(k)}</span></div>' for k, v in items
    )
    return f'<div class="cards">{cells}</div>'


def _hours(value: float | None) -> str:
    return "-" if value is None else f"{value:g} h"


def _table(rows: list[list[str]], headers: list[str]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _charts(report: dict[str, Any]) -> list[str]:
    days = report["by_day"]
    labels = [d["date"][5:] for d in days]
    every = max(1, len(days) // 15)
    departments = report["by_department"]
    names = [d["department"] for d in departments]
    histogram, backlog = report["first_response_histogram"], report["backlog_by_age"]
    return [
        "<h2>Volume over time</h2>",
        svg.bars(
            labels,
            [
                ("created", [d["created"] for d in days], BLUE),
                ("resolved", [d["resolved"] for d in days], GREEN),
            ],
            title="Tickets created and resolved per day",
            label_every=every,
        ),
        "<h2>First-response time</h2>",
        svg.bars(
            list(histogram),
            [("tickets", list(histogram.values()), BLUE)],
            title="Tickets by time to first response",
            height=200,
        ),
        "<h2>Open backlog by age</h2>",
        svg.bars(
            list(backlog),
            [("open tickets", list(backlog.values()), ORANGE)],
            title="Open tickets by age",
            height=200,
        ),
        "<h2>Departments</h2>",
        svg.hbars(
            names,
            [
                ("created", [d["created"] for d in departments], BLUE),
                ("resolved", [d["resolved"] for d in departments], GREEN),
                ("backlog", [d["backlog"] for d in departments], ORANGE),
            ],
            title="Tickets per department",
        ),
        svg.hbars(
            names,
            [
                (
                    "median first response (h)",
                    [d["first_response"]["median_hours"] or 0 for d in departments],
                    BLUE,
                ),
                (
                    "median resolution (h)",
                    [d["resolution"]["median_hours"] or 0 for d in departments],
                    GREEN,
                ),
            ],
            title="Median hours per department",
        ),
        "<h2>When tickets arrive</h2>",
        svg.heatmap(report["by_hour_of_week"], WEEKDAYS, title="Tickets by weekday and hour"),
    ]


def render_html(report: dict[str, Any], title: str = "Help desk report") -> str:
    """The whole page as one string."""
    period = report["period"]
    subtitle = (
        f"{period['since']} to {period['until']} · times in {period['timezone']} · "
        f"durations in {report['hours']} hours · generated {report['generated_at']}"
    )
    body = [
        f"<h1>{escape(title)}</h1>",
        f'<p class="muted">{escape(subtitle)}</p>',
        _cards(report),
        *_charts(report),
        "<h2>By department</h2>",
        _table(group_rows(report["by_department"], "department"), ["Department", *HEADERS]),
        "<h2>By agent</h2>",
        *([f'<p class="muted">{escape(note)}</p>'] if (note := agents_note(report)) else []),
        _table(group_rows(report["by_agent"], "agent"), ["Agent", *HEADERS]),
        "<h2>By organisation</h2>",
        _table(
            group_rows(report.get("by_organisation", []), "organisation", "(none)"),
            ["Organisation", *HEADERS],
        ),
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{CSS}</style></head>"
        f"<body>{''.join(body)}</body></html>\n"
    )
