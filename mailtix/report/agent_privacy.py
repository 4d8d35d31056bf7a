"""What the report shows of agents (``[privacy] agent_reports`` and ``min_group``), applied to
the finished report document, so every format and the digest show the same.

- ``named``: each agent's row under their address (as before).
- ``pseudonymous``: each agent's row under ``agent-…``, an HMAC of the address under a random
  key made for this one report and then forgotten: stable within the report, meaningless in the
  next one, not reversible from it; rows are ordered by pseudonym, not by address. A row about
  fewer than ``min_group`` tickets shows no figures (it is left out and counted).
- ``off``: no per-agent rows at all.

With ``pseudonymous`` and ``off``, a department with fewer than ``min_group`` agents shows no
figures either, since they would be one or two people's. The document says what was done in
``agents`` (mode, min_group, how many rows were left out).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from mailtix.config.model import Config

NAMED, PSEUDONYMOUS, OFF = "named", "pseudonymous", "off"


def _size(row: dict[str, Any]) -> int:
    """How many tickets a row's figures are about."""
    return max(int(row.get("created", 0)), int(row.get("resolved", 0)), int(row["backlog"]))


def apply_agent_policy(report: dict[str, Any], config: Config) -> dict[str, Any]:
    mode, min_group = config.privacy.agent_reports, config.privacy.min_group
    summary: dict[str, Any] = {"mode": mode}
    if mode == NAMED:
        report["agents"] = summary
        return report
    summary.update(min_group=min_group, suppressed_agents=0, suppressed_departments=0)
    if mode == OFF:
        report["by_agent"] = []
    else:
        key = secrets.token_bytes(32)
        rows = []
        for row in report["by_agent"]:
            if row["agent"] is None:  # unassigned tickets: no person
                rows.append(row)
            elif _size(row) < min_group:
                summary["suppressed_agents"] += 1
            else:
                digest = hmac.new(key, row["agent"].encode("utf-8"), hashlib.sha256).hexdigest()
                rows.append({**row, "agent": f"agent-{digest[:10]}"})
        report["by_agent"] = sorted(rows, key=lambda r: (r["agent"] is None, r["agent"] or ""))
    staff = {d.name: len(d.agents) for d in config.departments}
    kept = []
    for row in report["by_department"]:
        if staff.get(row["department"] or "", 0) < min_group:
            summary["suppressed_departments"] += 1
        else:
            kept.append(row)
    report["by_department"] = kept
    report["agents"] = summary
    return report


def agents_note(report: dict[str, Any]) -> str:
    """One line saying what ``agent_reports`` hid ("" when agents are named)."""
    summary = report.get("agents") or {"mode": NAMED}
    if summary["mode"] == NAMED:
        return ""
    shown = (
        "no per-agent figures"
        if summary["mode"] == OFF
        else "agents under pseudonyms new to this report"
    )
    left = [f"{summary[key]} {what}" for key, what in
            (("suppressed_agents", "agent row(s)"), ("suppressed_departments", "department(s)"))
            if summary.get(key)]  # fmt: skip
    small = f"; left out, fewer than {summary['min_group']}: {', '.join(left)}" if left else ""
    return f"[privacy] agent_reports = {summary['mode']}: {shown}{small}"
