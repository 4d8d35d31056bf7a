"""What other local users could read: the SQLite store's files and directory, the OAuth2 token
caches, and where the reply-token secret lives. One warning line each, for ``mailtix check``
and the daemon's start; none of them is an error.
"""

from __future__ import annotations

from pathlib import Path

from mailtix.config.model import Config
from mailtix.domain.private_files import exposure_warning

SQLITE = "sqlite:///"


def store_file(url: str) -> Path | None:
    """The SQLite database file named by ``url``; None for PostgreSQL or in memory."""
    if not url.startswith(SQLITE) or url == SQLITE + ":memory:":
        return None
    return Path(url[len(SQLITE) :])


def exposure_warnings(config: Config) -> list[str]:
    """Every warning for ``config``; reads modes only, creates nothing."""
    lines: list[str] = []
    database = store_file(config.store.url)
    if database is not None:
        found = [
            exposure_warning(database.parent, "the store's directory"),
            exposure_warning(database, "the store"),
            *(
                exposure_warning(Path(f"{database}{end}"), "the store's")
                for end in ("-wal", "-shm")
            ),
        ]
        lines += [line for line in found if line is not None]
    for account, cache in _token_caches(config):
        line = exposure_warning(cache, f"the token cache of {account}")
        lines += [line] if line is not None else []
    agents = config.agents_policy
    if agents.secret_file is not None:
        line = exposure_warning(agents.secret_file, "[agents] secret_file")
        lines += [line] if line is not None else []
    if agents.secret is None and (config.agents or any(d.agents for d in config.departments)):
        lines.append(
            "warning: [agents] secret is not set, so the reply-token key is kept only in the "
            "store, where anyone with a copy of it can act as any agent; set [agents] "
            "secret_file (or secret_env) to a random value of 32+ characters"
        )
    return lines


def _token_caches(config: Config) -> list[tuple[str, Path]]:
    """(account, token cache) of every OAuth2 account, each cache once: they hold refresh
    tokens."""
    found: dict[Path, str] = {}
    for mailbox in config.mailboxes:
        if mailbox.oauth2 is not None and mailbox.oauth2.token_cache is not None:
            found.setdefault(mailbox.oauth2.token_cache, f"mailbox {mailbox.name}")
    if config.smtp.oauth2 is not None and config.smtp.oauth2.token_cache is not None:
        found.setdefault(config.smtp.oauth2.token_cache, "smtp")
    for mailbox in config.mailboxes:
        own = mailbox.smtp.oauth2 if mailbox.smtp is not None else None
        if own is not None and own.token_cache is not None:
            found.setdefault(own.token_cache, f"mailbox {mailbox.name} smtp")
    return [(account, cache) for cache, account in found.items()]
