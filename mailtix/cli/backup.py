"""``mailtix backup FILE``: a consistent copy of the SQLite store, safe while the daemon runs.

The store is opened without a schema upgrade, so a backup taken before an upgrade is of the old
schema. A PostgreSQL store is PostgreSQL's to back up (pg_dump): the command says so, exit 2.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from mailtix.cli.common import config_path
from mailtix.config.load import load_config
from mailtix.domain.errors import UsageError


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    backup = sub.add_parser(
        "backup", parents=[common], help="copy the SQLite store into FILE (mailtix may run)"
    )
    backup.add_argument("file", metavar="FILE", type=Path, help="the copy (must not exist)")
    backup.set_defaults(func=run_backup)


def run_backup(args: argparse.Namespace) -> int:
    from mailtix.store.backup import backup_sqlite

    config = load_config(config_path(args), secrets=False, strict_rule_files=False)
    url = config.store.url
    if url.startswith(("postgresql://", "postgres://")):
        raise UsageError(
            "the store is PostgreSQL: back it up with pg_dump (e.g. pg_dump -Fc -f FILE DBNAME); "
            "mailtix backup copies SQLite stores"
        )
    source = url.removeprefix("sqlite:///")
    if source == ":memory:":
        raise UsageError("the store is in memory (sqlite:///:memory:): nothing to back up")
    size = backup_sqlite(Path(source), args.file)
    print(f"backed up {source} to {args.file} ({size:,} bytes)")
    return 0
