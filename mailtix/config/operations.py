"""The ``[metrics]`` and ``[logging]`` sections: where the daemon serves Prometheus metrics
(loopback only, unless ``allow_remote``: the figures tell whoever reaches them how much mail
flows and which mailboxes fail), and how log lines look (text or JSON) from which level."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from mailtix.config.reader import Reader, is_loopback
from mailtix.config.schema import key, read_keys

LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("debug", "info", "warning", "error")


@dataclass(frozen=True)
class MetricsConfig:
    listen: str = key("", clean=str.strip)  # "127.0.0.1:9464"; empty: no metrics served
    allow_remote: bool = key(False)  # true: listen may be an address others can reach

    @property
    def address(self) -> tuple[str, int] | None:
        """(host, port) to serve on, or None when metrics are off."""
        return split_listen(self.listen) if self.listen else None


@dataclass(frozen=True)
class LoggingConfig:
    format: str = key("text", choices=LOG_FORMATS)
    level: str = key("warning", choices=LOG_LEVELS)  # each -v lowers it one step


def split_listen(text: str) -> tuple[str, int] | None:
    """ "HOST:PORT" or "[V6]:PORT" as (host, port); None when it is neither."""
    host, _, port = text.rpartition(":")
    host = host.removeprefix("[").removesuffix("]") if host.startswith("[") else host
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        return None
    if ":" in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return None
    return host, int(port)


def metrics(reader: Reader) -> MetricsConfig:
    found = MetricsConfig(**read_keys(MetricsConfig, reader))
    if not found.listen:
        return found
    address = split_listen(found.listen)
    if address is None:
        reader.problem("listen", f'must be "HOST:PORT" like "127.0.0.1:9464", got "{found.listen}"')
        return MetricsConfig()
    if not is_loopback(address[0]) and not found.allow_remote:
        reader.problem(
            "listen",
            f'"{address[0]}" is not a loopback address (127.0.0.1, ::1, localhost); metrics '
            "show anyone who reaches them your mail flow: keep them on loopback behind your "
            "scraper, or set allow_remote = true",
        )
        return MetricsConfig()
    return found


def logging_config(reader: Reader) -> LoggingConfig:
    return LoggingConfig(**read_keys(LoggingConfig, reader))


def config_secrets(config: Any) -> tuple[str, ...]:
    """Every secret a loaded config holds, to be masked in log lines."""
    accounts = [config.smtp, *config.mailboxes]
    accounts += [m.smtp for m in config.mailboxes if getattr(m, "smtp", None) is not None]
    found = [getattr(a, "password", None) for a in accounts]
    for oauth in (getattr(a, "oauth2", None) for a in accounts):
        found += [getattr(oauth, "client_secret", None), getattr(oauth, "refresh_token", None)]
    found.append(config.agents_policy.secret)
    return tuple(s for s in found if isinstance(s, str) and s)
