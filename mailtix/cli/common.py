"""What the commands share: finding the config, opening the app or just the store, printing
JSON, and the argument types.

Commands that only read or mark the store (``tickets``, ``outbox list``, ``quarantine list``,
``report``…) open a ``StoreView``: the config without server secrets, read leniently where the
rule files are concerned (a broken routing.toml must not keep an admin from listing tickets),
and the store. Only commands that poll, send or run the pipeline import the pipeline.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mailtix.cli.terminal_text import json_safe
from mailtix.config.load import load_config
from mailtix.config.model import Config
from mailtix.config.operations import config_secrets
from mailtix.domain.errors import UsageError
from mailtix.domain.log_lines import level_for, setup_logging
from mailtix.store import open_store

if TYPE_CHECKING:
    from peewee import Database

    from mailtix.runtime.app import App

MAX_ROW_ID = 2**63 - 1  # SQLite INTEGER and PostgreSQL bigint: no row has a larger id


def config_path(args: argparse.Namespace) -> Path:
    """--config, else $MAILTIX_CONFIG, else ./mailtix.toml."""
    chosen = args.config or os.environ.get("MAILTIX_CONFIG") or "mailtix.toml"
    resolved = Path(chosen)
    if not resolved.is_file():
        raise UsageError(
            f"{chosen}: config file not found (use --config or $MAILTIX_CONFIG, or write "
            "one with `mailtix init DIR`)"
        )
    return resolved


def open_app(args: argparse.Namespace) -> App:
    """The whole app (config with secrets, store, pipeline): for commands that handle mail."""
    from mailtix.runtime.app import App

    config = load_config(config_path(args))
    use_config_logging(config, args)  # before the store: its migrations log too
    return App(config, open_store(config.store.url))


@dataclass(frozen=True)
class StoreView:
    """The config and the store, for commands that only read or mark the store."""

    config: Config
    db: Database


def open_store_view(args: argparse.Namespace) -> StoreView:
    """The config without secrets (rule-file problems only warned about) and the store."""
    config = load_config(config_path(args), secrets=False, strict_rule_files=False)
    use_config_logging(config, args)
    if config.warnings:
        more = f" (and {len(config.warnings) - 1} more)" if len(config.warnings) > 1 else ""
        print(f"mailtix: warning: {config.warnings[0]}{more}; `mailtix check` lists them; "
              "not needed for this command", file=sys.stderr)  # fmt: skip
    return StoreView(config, open_store(config.store.url))


def use_config_logging(config: Config, args: argparse.Namespace) -> None:
    """Log as ``[logging]`` says (format, level; each -v one step lower), secrets masked."""
    level = level_for(config.logging.level, getattr(args, "verbose", 0))
    setup_logging(level, config.logging.format, config_secrets(config))


def print_json(data: object) -> None:
    print(json_safe(json.dumps(data, indent=2, ensure_ascii=False)))


def storable(number: int | None) -> bool:
    """Whether ``number`` could be a row id at all (a larger one overflows the driver)."""
    return number is not None and 0 < number <= MAX_ROW_ID


def positive(text: str) -> int:
    """An argparse type: a whole number from 1 to 2**63 - 1 (what the store can hold)."""
    try:
        number = int(text)
    except ValueError:
        number = 0
    if not 0 < number <= MAX_ROW_ID:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1 to {MAX_ROW_ID}: {text}")
    return number
