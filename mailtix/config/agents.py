"""The ``[agents]`` section of mailtix.toml: how agents are notified and verified."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from mailtix.config.model import AgentsConfig
from mailtix.config.reader import Reader, check_secret
from mailtix.config.schema import read_keys


def load_agents_policy(reader: Reader, base: Path, env: dict[str, str] | None) -> AgentsConfig:
    secret = check_secret(reader, base, env, key="secret")
    if secret is not None and len(secret) < 16:
        reader.problem("secret", "must be at least 16 characters (it keys the reply tokens)")
    policy = AgentsConfig(**read_keys(AgentsConfig, reader))
    relay_name = policy.relay_name
    if "{agent}" not in relay_name:
        reader.problem("relay_name", 'must contain "{agent}", e.g. "{agent} via {mailbox}"')
    try:
        relay_name.format(agent="a", mailbox="m")
    except (KeyError, IndexError, ValueError):
        reader.problem("relay_name", "may only use the placeholders {agent} and {mailbox}")
        relay_name = AgentsConfig.relay_name
    secret_file = reader.raw("secret_file") if reader.has("secret_file") else None
    return replace(
        policy,
        secret=secret,
        secret_file=base / secret_file if isinstance(secret_file, str) and secret else None,
        trusted_authserv_ids=tuple(s.strip().lower() for s in policy.trusted_authserv_ids),
        relay_name=relay_name,
    )
