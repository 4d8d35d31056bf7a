"""Hot reload of the rule files: the daemon notices edits to config/routing.toml,
config/departments.toml, config/organisations.toml (and mailtix.toml) and loads them without a
restart.

An edit that does not validate is logged with exactly the lines ``mailtix check`` prints, and
the last good rules stay in force. Only rules, departments, agents and organisations are
swapped live; changes to mailboxes, SMTP or the store need a restart (the log says so).
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

from mailtix.config.load import load_config
from mailtix.config.model import Config
from mailtix.domain.errors import ConfigError

log = logging.getLogger(__name__)

LIVE_FIELDS = (
    "rules", "departments", "agents", "departments_path", "routing_path",
    "organisations", "organisations_path",
)  # fmt: skip


class ConfigWatcher:
    """Polls the config files' modification stamps; ``check()`` returns a new Config or None."""

    def __init__(self, current: Config) -> None:
        self.current = current
        self.stamps = self._stamps()

    def _files(self) -> list[Path]:
        current = self.current
        files = [current.path, current.departments_path, current.routing_path,
                 current.organisations_path]  # fmt: skip
        return [f for f in files if f is not None]

    def _stamps(self) -> dict[Path, tuple[int, int] | None]:
        stamps: dict[Path, tuple[int, int] | None] = {}
        for path in self._files():
            try:
                stat = path.stat()
                stamps[path] = (stat.st_mtime_ns, stat.st_size)
            except OSError:
                stamps[path] = None
        return stamps

    def check(self) -> Config | None:
        """The reloaded config when a file changed and validates; None otherwise."""
        stamps = self._stamps()
        if stamps == self.stamps:
            return None
        self.stamps = stamps  # a broken edit is reported once, not on every check
        try:
            fresh = load_config(self.current.path)
        except ConfigError as exc:
            for line in exc.problems:
                log.error("config not reloaded: %s", line)
            log.error("config not reloaded: the last good rules stay in force")
            return None
        merged = dataclasses.replace(
            self.current, **{name: getattr(fresh, name) for name in LIVE_FIELDS}
        )
        if dataclasses.replace(fresh, **{n: getattr(merged, n) for n in LIVE_FIELDS}) != merged:
            log.warning("config reloaded: rules and departments only; restart for other changes")
        else:
            log.warning(
                "config reloaded: %d rule(s), %d department(s), %d organisation(s)",
                len(merged.rules),
                len(merged.departments),
                len(merged.organisations.organisations),
            )
        self.current = merged
        self.stamps = self._stamps()
        return merged
