"""Hot reload of the rule files: a good edit is picked up, a broken one is logged and ignored."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from support.config import small_config

from mailtix.config.load import load_config
from mailtix.runtime.reload import ConfigWatcher

DEPARTMENTS = '[[department]]\nname = "general"\n\n[[department]]\nname = "billing"\n'
RULE = (
    '[[rule]]\nname = "{name}"\n'
    'when = {{ subject = "invoice" }}\nthen = {{ department = "billing" }}\n'
)


def bump(path: Path, text: str) -> None:
    """Write ``text`` and move the mtime forward so the change is visible at once."""
    path.write_text(text)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10_000_000))


@pytest.fixture
def watcher(tmp_path: Path) -> ConfigWatcher:
    config = small_config(tmp_path, departments=DEPARTMENTS, routing=RULE.format(name="one"))
    return ConfigWatcher(load_config(config))


def test_nothing_changed_nothing_reloaded(watcher: ConfigWatcher) -> None:
    assert watcher.check() is None


def test_edited_rules_are_loaded(watcher: ConfigWatcher, tmp_path: Path) -> None:
    bump(tmp_path / "routing.toml", RULE.format(name="one") + "\n" + RULE.format(name="two"))
    fresh = watcher.check()
    assert fresh is not None
    assert [r.name for r in fresh.rules] == ["one", "two"]
    assert watcher.check() is None  # once only


def test_broken_edit_keeps_last_good_rules_and_logs_check_lines(
    watcher: ConfigWatcher, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bump(tmp_path / "routing.toml", RULE.format(name="one").replace('"invoice"', '"(unclosed"'))
    with caplog.at_level(logging.ERROR):
        assert watcher.check() is None
    assert [r.name for r in watcher.current.rules] == ["one"]
    messages = [r.getMessage() for r in caplog.records]
    assert any("routing.toml" in m and "when.subject" in m for m in messages), messages
    assert any("last good rules stay in force" in m for m in messages)
    caplog.clear()
    assert watcher.check() is None and not caplog.records  # reported once, not every poll


def test_fixing_the_broken_edit_loads_it(watcher: ConfigWatcher, tmp_path: Path) -> None:
    bump(tmp_path / "routing.toml", "[[rule]]\nname = 3\n")
    assert watcher.check() is None
    bump(tmp_path / "routing.toml", RULE.format(name="fixed"))
    fresh = watcher.check()
    assert fresh is not None and [r.name for r in fresh.rules] == ["fixed"]


def test_department_edit_is_live(watcher: ConfigWatcher, tmp_path: Path) -> None:
    bump(tmp_path / "departments.toml", DEPARTMENTS + '\n[[department]]\nname = "sales"\n')
    fresh = watcher.check()
    assert fresh is not None and fresh.department("sales") is not None
