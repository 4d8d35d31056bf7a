"""Rendering the report: CSV safe for spreadsheets, HTML self-contained and escaped, tables."""

from __future__ import annotations

import csv
import html
import io
import json
import re
from typing import Any

from mailtix.report.formats import (
    CSV_COLUMNS,
    render_csv,
    render_json,
    render_table,
    spreadsheet_safe,
)
from mailtix.report.html_page import render_html

EVIL = '=HYPERLINK("http://evil.example","x")'


def stats(created: int = 3) -> dict[str, Any]:
    empty = {"met": 0, "breached": 0, "pending": 0}
    return {
        "created": created, "resolved": 1, "reopened": 0, "backlog": 2,
        "first_response": {"count": 1, "median_hours": 2.5, "p90_hours": 2.5, "average_hours": 2.5},
        "resolution": {"count": 0, "median_hours": None, "p90_hours": None, "average_hours": None},
        "sla": {"first_response": dict(empty), "resolution": dict(empty), "escalations": 0},
        "satisfaction": {"responses": 0, "average": None,
                         "distribution": {str(i): 0 for i in range(1, 6)}},
    }  # fmt: skip


def sample() -> dict[str, Any]:
    return {
        "schema": 1,
        "generated_at": "2026-03-09T00:00:00+00:00",
        "period": {"since": "2026-03-02T00:00:00+00:00", "until": "2026-03-09T00:00:00+00:00",
                   "timezone": "UTC"},
        "hours": "wall-clock",
        "sla_targets": {"first_response": {}, "resolution": {}},
        "overall": stats(),
        "backlog_by_age": {"<1d": 1, "1-3d": 0, "3-7d": 1, "7-30d": 0, ">30d": 0},
        "first_response_histogram": {"<1h": 0, "1-4h": 1, "4-8h": 0, "8-24h": 0, "1-2d": 0,
                                     "2-5d": 0, ">5d": 0},
        "by_department": [{"department": EVIL, **stats(2)},
                          {"department": "<script>alert(1)</script>", **stats(1)}],
        "by_agent": [{"agent": None, **stats(1)}, {"agent": "+alice@example.com", **stats(2)}],
        "by_day": [{"date": f"2026-03-0{d}", "created": d % 3, "resolved": 1} for d in range(2, 9)],
        "by_hour_of_week": [[(d + h) % 4 for h in range(24)] for d in range(7)],
    }  # fmt: skip


def test_csv_has_a_row_per_department_agent_and_day_and_defuses_formulas() -> None:
    rows = list(csv.reader(io.StringIO(render_csv(sample()))))
    assert tuple(rows[0]) == CSV_COLUMNS
    sections = [r[0] for r in rows[1:]]
    assert sections == ["overall"] + ["department"] * 2 + ["agent"] * 2 + ["day"] * 7
    names = [r[1] for r in rows[1:]]
    assert "'" + EVIL in names and EVIL not in names
    assert "'+alice@example.com" in names and "(unassigned)" in names
    assert all(len(r) == len(CSV_COLUMNS) for r in rows)
    assert rows[1][CSV_COLUMNS.index("first_response_median_hours")] == "2.5"


def test_spreadsheet_safe() -> None:
    for bad in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"):
        assert spreadsheet_safe(bad) == "'" + bad
    assert spreadsheet_safe("billing") == "billing"
    assert spreadsheet_safe(-1) == -1  # numbers are numbers, not text


def test_html_is_self_contained_and_escaped() -> None:
    page = render_html(sample())
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page.lower()
    assert "&lt;script&gt;" in page
    assert not re.search(r"""(src|href)\s*=|@import|url\(|<link|<iframe""", page, re.I)
    assert html.escape(EVIL) in page  # admin data shown as text, never as markup
    assert page.count("<svg") == 6  # volume, response times, backlog, 2 x departments, heatmap


def test_json_and_table() -> None:
    data = sample()
    assert json.loads(render_json(data)) == data
    text = render_table(data)
    assert "DEPARTMENT" in text and "(unassigned)" in text and "2.5h / 2.5h" in text
    assert "2026-03-08" in text
