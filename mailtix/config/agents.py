"""The ``[agents]`` section of mailtix.toml: how agents are notified and verified."""

from __future__ import annotations

from pathlib import Path

from mailtix.config.model import AgentsConfig
from mailtix.config.reader import Reader, check_secret

AGENTS_KEYS = (
    "secret",
    "secret_env",
    "secret_file",
    "notify",
    "trusted_authserv_ids",
    "cc_policy",
    "relay_name",
    "notifications_per_hour",
)


def load_agents_policy(reader: Reader, base: Path, env: dict[str, str] | None) -> AgentsConfig:
    secret = check_secret(reader, base, env, key="secret")
    if secret is not None and len(secret) < 16:
        reader.problem("secret", "must be at least 16 characters (it keys the reply tokens)")
    relay_name = reader.text("relay_name", AgentsConfig.relay_name)
    if "{agent}" not in relay_name:
        reader.problem("relay_name", 'must contain "{agent}", e.g. "{agent} via {mailbox}"')
    try:
        relay_name.format(agent="a", mailbox="m")
    except (KeyError, IndexError, ValueError):
        reader.problem("relay_name", "may only use the placeholders {agent} and {mailbox}")
        relay_name = AgentsConfig.relay_name
    secret_file = reader.raw("secret_file") if reader.has("secret_file") else None
    return AgentsConfig(
        secret=secret,
        secret_file=base / secret_file if isinstance(secret_file, str) and secret else None,
        notify=reader.choice("notify", "department", ("department", "assignee")),
        trusted_authserv_ids=_trusted(reader),
        cc_policy=reader.choice("cc_policy", "participants", ("participants", "ignore")),
        relay_name=relay_name,
        notifications_per_hour=reader.integer("notifications_per_hour", 60, 1),
    )


def _trusted(reader: Reader) -> tuple[str, ...]:
    if not reader.has("trusted_authserv_ids") or reader.raw("trusted_authserv_ids") == []:
        return ()
    return tuple(s.strip().lower() for s in reader.strings("trusted_authserv_ids") or ())
