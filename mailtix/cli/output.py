"""What every command prints through: JSON output and the config path it reads."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from mailtix.cli.terminal_text import json_safe


def print_json(data: object) -> None:
    print(json_safe(json.dumps(data, indent=2, ensure_ascii=False)))


def config_path(args: argparse.Namespace) -> Path:
    from mailtix.runtime.app import find_config

    return find_config(args.config)
