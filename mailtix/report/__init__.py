"""Reporting: figures for a period computed in the store, rendered as a terminal table, JSON,
CSV or a self-contained HTML page, and mailed as a scheduled digest.

``build_report`` is the entry point; ``formats`` and ``html_page`` render what it returns;
``digest`` decides when the digest is due and queues it in the outbox.
"""

from __future__ import annotations

from mailtix.report.build import build_report
from mailtix.report.period import Period, parse_period

__all__ = ["Period", "build_report", "parse_period"]
