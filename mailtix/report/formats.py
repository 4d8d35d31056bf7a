"""The report as aligned terminal tables, JSON or CSV (pure: the report dict in, text out)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from typing import Any

from mailtix.report.agent_privacy import agents_note

CSV_COLUMNS = (
    "section", "name", "created", "resolved", "reopened", "backlog",
    "first_response_count", "first_response_median_hours", "first_response_p90_hours",
    "resolution_count", "resolution_median_hours", "resolution_p90_hours",
    "sla_first_response_met", "sla_first_response_breached",
    "sla_resolution_met", "sla_resolution_breached", "sla_escalations",
    "satisfaction_responses", "satisfaction_average",
)  # fmt: skip
_UNSAFE_START = ("=", "+", "-", "@", "\t", "\r")


def render_json(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, ensure_ascii=False)


def spreadsheet_safe(value: object) -> object:
    """Text a spreadsheet would run as a formula (= + - @, tab, CR first) gets a ' in front."""
    if isinstance(value, str) and value.startswith(_UNSAFE_START):
        return "'" + value
    return value


def stats_row(section: str, name: str | None, stats: dict[str, Any]) -> list[object]:
    """One CSV row (CSV_COLUMNS) for a group's figures."""
    fr, res, sla, sat = (stats[k] for k in ("first_response", "resolution", "sla", "satisfaction"))
    return [
        section, name or "", stats["created"], stats["resolved"], stats["reopened"],
        stats["backlog"], fr["count"], fr["median_hours"], fr["p90_hours"], res["count"],
        res["median_hours"], res["p90_hours"], sla["first_response"]["met"],
        sla["first_response"]["breached"], sla["resolution"]["met"],
        sla["resolution"]["breached"], sla["escalations"], sat["responses"], sat["average"],
    ]  # fmt: skip


def csv_rows(report: dict[str, Any]) -> Iterable[list[object]]:
    """Overall, then one row per department, per agent, per organisation and per day."""
    yield stats_row("overall", "", report["overall"])
    for item in report["by_department"]:
        yield stats_row("department", item["department"], item)
    for item in report["by_agent"]:
        yield stats_row("agent", item["agent"] or "(unassigned)", item)
    for item in report.get("by_organisation", []):
        yield stats_row("organisation", item["organisation"] or "(none)", item)
    blank = [""] * (len(CSV_COLUMNS) - 4)
    for day in report["by_day"]:
        yield ["day", day["date"], day["created"], day["resolved"], *blank]


def render_csv(report: dict[str, Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for row in csv_rows(report):
        writer.writerow(["" if v is None else spreadsheet_safe(v) for v in row])
    return out.getvalue()


def _h(value: float | None) -> str:
    return "-" if value is None else f"{value:g}h"


def group_rows(
    items: list[dict[str, Any]], label: str, empty: str = "(unassigned)"
) -> list[list[str]]:
    rows = []
    for item in items:
        fr, res, sla = item["first_response"], item["resolution"], item["sla"]
        sat = item["satisfaction"]
        rows.append(
            [
                str(item[label] or empty), str(item["created"]), str(item["resolved"]),
                str(item["reopened"]), str(item["backlog"]),
                f"{_h(fr['median_hours'])} / {_h(fr['p90_hours'])}",
                f"{_h(res['median_hours'])} / {_h(res['p90_hours'])}",
                f"{sla['first_response']['met']}/{sla['first_response']['breached']}",
                f"{sla['resolution']['met']}/{sla['resolution']['breached']}",
                "-" if sat["average"] is None else f"{sat['average']} ({sat['responses']})",
            ]
        )  # fmt: skip
    return rows


HEADERS = [
    "CREATED", "RESOLVED", "REOPENED", "BACKLOG", "1ST RESPONSE MED/P90", "RESOLUTION MED/P90",
    "SLA 1ST MET/BR", "SLA RES MET/BR", "SATISFACTION",
]  # fmt: skip


def render_table(report: dict[str, Any]) -> str:
    """Aligned tables: overall, by department, by agent, backlog age, volume by day."""
    period = report["period"]
    overall = {**report["overall"], "name": "all tickets"}
    parts = [
        f"mailtix report {period['since']} .. {period['until']} ({period['timezone']}; "
        f"{report['hours']} hours)",
        "",
        table(group_rows([overall], "name"), ["", *HEADERS]),
        "",
        table(group_rows(report["by_department"], "department"), ["DEPARTMENT", *HEADERS]),
        "",
        table(group_rows(report["by_agent"], "agent"), ["AGENT", *HEADERS]),
        *([agents_note(report)] if agents_note(report) else []),
        "",
        table(
            group_rows(report.get("by_organisation", []), "organisation", "(none)"),
            ["ORGANISATION", *HEADERS],
        ),
        "",
        table([[k, str(v)] for k, v in report["backlog_by_age"].items()], ["BACKLOG AGE", "OPEN"]),
        "",
        table(
            [[d["date"], str(d["created"]), str(d["resolved"])] for d in report["by_day"]],
            ["DAY", "CREATED", "RESOLVED"],
        ),
    ]
    return "\n".join(parts)


def table(rows: list[list[str]], headers: list[str]) -> str:
    """Aligned plain-text columns; long cells are cut with an ellipsis."""
    cells = [[_cut(c) for c in row] for row in [headers, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _cut(value: str, width: int = 48) -> str:
    value = " ".join(value.split())
    return value if len(value) <= width else value[: width - 1] + "…"
