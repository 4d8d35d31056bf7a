"""The ``[privacy]`` section: retention off and agents named unless configured; one problem
line per bad value."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.config import small_config

from mailtix.config.load import load_config
from mailtix.config.privacy import PrivacyConfig
from mailtix.domain.errors import ConfigError


def load(tmp_path: Path, privacy: str) -> PrivacyConfig:
    return load_config(small_config(tmp_path, extra=privacy)).privacy


def test_defaults_keep_everything_and_name_agents(tmp_path: Path) -> None:
    found = load(tmp_path, "")
    assert (found.keep_raw_days, found.erase_closed_days, found.quarantine_days) == (0, 0, 0)
    assert (found.agent_reports, found.min_group) == ("named", 5)


def test_values_are_read(tmp_path: Path) -> None:
    found = load(tmp_path, '[privacy]\nkeep_raw_days = 90\nagent_reports = "off"\nmin_group = 3\n')
    assert (found.keep_raw_days, found.agent_reports, found.min_group) == (90, "off", 3)


def test_each_bad_value_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        load(tmp_path, '[privacy]\nkeep_raw_days = -1\nagent_reports = "anon"\nmin_group = 0\n'
                       'erase_after = 3\n')  # fmt: skip
    lines = raised.value.problems
    assert len(lines) == 4, lines
    assert all(line.startswith("mailtix.toml: privacy.") for line in lines)
    assert any("agent_reports" in line and "anon" in line for line in lines)
    assert any("erase_after" in line and "unknown key" in line for line in lines)
