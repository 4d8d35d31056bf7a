"""The config schema: mailtix.toml.example names every key with its real default, and what is
used per mail or per minute (agent index, digest trigger) is prepared once, at load."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from support.config import small_config

from mailtix.config import report
from mailtix.config.load import OPTIONAL_SECTIONS, SECTIONS, load_config
from mailtix.config.schema import specs

EXAMPLE = Path(__file__).resolve().parents[3] / "mailtix.toml.example"
HEADER = re.compile(r"^#?\s*\[\[?\s*([a-z0-9_.]+)\s*\]\]?\s*$")
KEY_LINE = re.compile(r"^(#\s*)?([a-z_]+)\s*=\s*(.+)$")
SCHEMA = {**SECTIONS, **OPTIONAL_SECTIONS}


def example_keys() -> dict[str, dict[str, list[tuple[bool, Any]]]]:
    """Per section: each key the example names, with (commented, value) per line naming it."""
    found: dict[str, dict[str, list[tuple[bool, Any]]]] = {}
    section = ""
    for line in EXAMPLE.read_text(encoding="utf-8").splitlines():
        header, pair = HEADER.match(line), KEY_LINE.match(line)
        if header:
            section = header[1]
            found.setdefault(section, {})
        elif pair and section:
            try:
                value = tomllib.loads(f"v = {pair[3]}")["v"]
            except tomllib.TOMLDecodeError:
                continue  # prose that happens to contain " = "
            found[section].setdefault(pair[2], []).append((bool(pair[1]), value))
    return found


def as_default(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def section_problems(section: str, cls: type, named: dict[str, dict[str, list]]) -> list[str]:
    """What the example gets wrong about one section: missing keys, wrong defaults, strays.
    A key that is unset by default (None, "", (), a secret, derived from another key) may be
    shown with any example value; any other key's first uncommented line has its default."""
    lines = named.get(section, {})
    known = {n for name, _, _ in specs(cls) for n in (name, f"{name}_env", f"{name}_file")}
    problems = [f"{section}.{k}: not a key of the schema" for k in lines if k not in known]
    for name, spec, default in specs(cls):
        where = f"{section}.{name}"
        if spec.kind == "table":
            problems += [] if where in named else [f"{where}: no [{where}] table"]
            continue
        forms = (name, f"{name}_env", f"{name}_file") if spec.secret else (name,)
        given = [line for form in forms for line in lines.get(form, [])]
        if not given:
            problems.append(f"{where}: not in the example")
            continue
        if spec.secret or spec.derived or default in (None, "", ()):
            continue
        value = next((v for commented, v in given if not commented), given[0][1])
        shown = str(default) if isinstance(default, Path) else default
        if as_default(value) != shown:
            problems.append(f"{where}: example says {value!r}, default is {shown!r}")
    return problems


def example_problems() -> list[str]:
    named = example_keys()
    problems = [f"[{n}]: not a section" for n in named if n.split(".")[0] not in SCHEMA]
    for section, cls in SCHEMA.items():
        problems += section_problems(section, cls, named)
    return problems


def test_example_names_every_key_with_its_default() -> None:
    assert example_problems() == []


def test_example_check_finds_a_wrong_default(monkeypatch: Any, tmp_path: Path) -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    wrong = tmp_path / "example"
    wrong.write_text(
        text.replace("poll_interval = 60", "poll_interval = 30").replace("notify = ", "# x = ")
    )
    monkeypatch.setattr(f"{__name__}.EXAMPLE", wrong)
    assert example_problems() == [
        "mailbox.poll_interval: example says 30, default is 60",
        "agents.x: not a key of the schema",
        "agents.notify: not in the example",
    ]


REPORT = """\
[report]
digest_to = ["lead@example.org"]
digest_schedule = "0 8 * * 1"
timezone = "Europe/Berlin"
"""

DEPARTMENTS = """\
[[department]]
name = "general"
agents = ["alice@example.org", "bob@example.org"]
"""


def reporting(tmp_path: Path, extra: str = "") -> Path:
    """A config with a weekly digest."""
    return small_config(tmp_path, address="support@example.org", extra=REPORT + extra)


def test_agent_lookup_is_an_index_built_once(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "departments.toml").write_text(DEPARTMENTS)  # the default place
    config = load_config(reporting(tmp_path), {})
    assert config.agent("Bob@Example.org") is config.agents[1]
    assert config.agent("carol@example.org") is None
    assert config.__dict__["_agents_by_email"] == {a.email: a for a in config.agents}


def test_digest_trigger_is_built_at_load(tmp_path: Path) -> None:
    report.cron_trigger.cache_clear()
    config = load_config(reporting(tmp_path), {})
    built = report.cron_trigger.cache_info().currsize
    trigger = report.cron_trigger(config.report.digest_schedule or "", config.report.zone)
    assert report.cron_trigger.cache_info().currsize == built  # the digest job builds nothing
    assert report.cron_trigger.cache_info().hits >= 1 and trigger is not None
    assert config.report.digest_to == ("lead@example.org",)


def test_an_empty_list_means_none_not_the_default(tmp_path: Path) -> None:
    none = reporting(tmp_path, "\n[attachments]\nblocked = []\n")
    assert load_config(none, {}).attachments.blocked == ()
    assert ".exe" in load_config(reporting(tmp_path), {}).attachments.blocked
