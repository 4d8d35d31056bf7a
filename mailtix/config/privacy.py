"""The ``[privacy]`` section: how long raw mail, closed tickets and quarantined mail are kept,
and what the report and the digest show of agents. Read once into a frozen ``PrivacyConfig``.

Every retention period defaults to 0, which keeps the data forever: an upgrade never starts
deleting anyone's mail by itself; an admin turns each period on in mailtix.toml.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mailtix.config.reader import Problems, Reader
from mailtix.config.schema import key, keys, read_keys

AGENT_REPORTS = ("named", "pseudonymous", "off")


@dataclass(frozen=True)
class PrivacyConfig:
    keep_raw_days: int = key(0, low=0, high=36500)  # raw bytes + attachments; 0 = forever
    erase_closed_days: int = key(0, low=0, high=36500)  # closed tickets anonymised; 0 = never
    quarantine_days: int = key(0, low=0, high=36500)  # quarantined mail deleted; 0 = never
    agent_reports: str = key("named", choices=AGENT_REPORTS)  # per-agent report figures
    min_group: int = key(5, low=1, high=1000)  # no figure for a smaller group (not "named")


def load_privacy(
    sections: Mapping[str, Mapping[str, Any]], file: str, problems: Problems
) -> PrivacyConfig:
    """The [privacy] section, one problem line per bad value (defaults stand in)."""
    reader = Reader(problems, file, "privacy", sections.get("privacy", {}), keys(PrivacyConfig))
    return PrivacyConfig(**read_keys(PrivacyConfig, reader))
