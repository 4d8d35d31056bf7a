"""``[privacy] agent_reports`` on a report document: named as before, pseudonymous stable
within one report and new in the next, small groups left out, off without agent rows."""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path
from typing import Any

from mailtix.config.model import Config, Department
from mailtix.config.privacy import PrivacyConfig
from mailtix.report.agent_privacy import apply_agent_policy


def config(mode: str, min_group: int = 1, agents: int = 6) -> Config:
    staff = tuple(f"a{n}@acme.example" for n in range(agents))
    base = Config(Path("x.toml"), *([None] * 4), (Department("general", staff),), (), (), None)  # type: ignore[arg-type]
    return replace(base, privacy=PrivacyConfig(agent_reports=mode, min_group=min_group))


def row(agent: str | None, created: int) -> dict[str, Any]:
    return {"agent": agent, "created": created, "resolved": 0, "backlog": 0}


REPORT = {
    "by_agent": [row(None, 4), row("zed@acme.example", 9), row("amy@acme.example", 2)],
    "by_department": [{"department": "general", **row(None, 15)}, {"department": "tiny"}],
}


def test_named_is_unchanged() -> None:
    report = apply_agent_policy(copy.deepcopy(REPORT), config("named"))
    assert report["by_agent"] == REPORT["by_agent"] and report["agents"] == {"mode": "named"}


def test_pseudonyms_are_stable_within_a_report_only() -> None:
    first = apply_agent_policy(copy.deepcopy(REPORT), config("pseudonymous"))
    second = apply_agent_policy(copy.deepcopy(REPORT), config("pseudonymous"))
    names = [r["agent"] for r in first["by_agent"] if r["agent"]]
    assert len(names) == 2 and all(n.startswith("agent-") for n in names)
    assert names == sorted(names) and first["by_agent"][-1]["agent"] is None
    assert set(names).isdisjoint(r["agent"] for r in second["by_agent"])
    assert "acme.example" not in str(first)


def test_min_group_leaves_out_small_rows_and_departments() -> None:
    report = apply_agent_policy(copy.deepcopy(REPORT), config("pseudonymous", min_group=5))
    assert [r["created"] for r in report["by_agent"]] == [9, 4]
    assert [d["department"] for d in report["by_department"]] == ["general"]
    assert report["agents"]["suppressed_agents"] == 1
    assert report["agents"]["suppressed_departments"] == 1


def test_off_has_no_agent_rows() -> None:
    report = apply_agent_policy(copy.deepcopy(REPORT), config("off", min_group=7))
    assert report["by_agent"] == [] and report["by_department"] == []


def test_the_table_and_the_page_say_what_was_left_out() -> None:
    from mailtix.report.agent_privacy import agents_note

    report = apply_agent_policy(copy.deepcopy(REPORT), config("pseudonymous", min_group=5))
    note = agents_note(report)
    assert note == ("[privacy] agent_reports = pseudonymous: agents under pseudonyms new to this "
                    "report; left out, fewer than 5: 1 agent row(s), 1 department(s)")  # fmt: skip
    assert agents_note(apply_agent_policy(copy.deepcopy(REPORT), config("named"))) == ""
