"""``mailtix init DIR``: a starting configuration for an admin to edit, then the next steps.

Writes mailtix.toml (the shipped example, its ``[agents] secret_file`` pointing at a freshly
generated secret), that secret in secrets/agent-secret, the shipped config/*.toml files and an
empty templates/ for the admin's own versions of the shipped templates. Paths in the example
are relative to the config file, so they stay as they are. Nothing is ever overwritten: when
any of the files exists, nothing at all is written (exit 2). Files 0600, directories 0700.
"""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path
from typing import Any

from mailtix.config.shipped import EXAMPLE_CONFIG, shipped_dir, shipped_templates
from mailtix.domain.errors import MailtixError, UsageError
from mailtix.domain.private_files import make_private_dir, private_umask
from mailtix.domain.version import mailtix_version

SECRET_FILE = "secrets/agent-secret"
TEMPLATES = "templates"
_COMMENTED_SECRET_FILE = re.compile(r"^#\s*secret_file\s*=.*$", re.MULTILINE)


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    init = sub.add_parser("init", help="write a starting configuration into DIR")
    init.add_argument("directory", metavar="DIR", type=Path, help="where (created if missing)")
    init.set_defaults(func=run_init)


def run_init(args: argparse.Namespace) -> int:
    base: Path = args.directory
    files = starting_files()
    existing = [str(base / name) for name in files if os.path.lexists(base / name)]
    if os.path.lexists(base / TEMPLATES) and not (base / TEMPLATES).is_dir():
        existing.append(str(base / TEMPLATES))
    if existing:
        raise UsageError(f"{', '.join(existing)}: already there; init overwrites nothing, "
                         "nothing was written")  # fmt: skip
    with private_umask():
        for name, text in files.items():
            try:
                make_private_dir((base / name).parent)
                _create(base / name, text)
            except OSError as exc:
                raise MailtixError(f"cannot write {base / name}: {exc.strerror or exc}") from None
        make_private_dir(base / TEMPLATES)
    config = base / "mailtix.toml"
    print(f"Wrote into {base}: {', '.join(files)} (0600; the secret keys agents' reply tokens), "
          f"{TEMPLATES}/ (empty).")  # fmt: skip
    print(f"""
Next:
  1. Edit {config}: [smtp] and [[mailbox]] (passwords: set MAILTIX_SMTP_PASSWORD and
     MAILTIX_IMAP_PASSWORD, or use password_file), and the agents in {base / "config"}/.
  2. mailtix --config {config} check --connect
  3. mailtix --config {config} run
     or as a service: {shipped_dir() / "config" / "mailtix.service"} (see its comments)

To change a mail, copy its template from {shipped_templates()}
into {base / TEMPLATES}/ and edit it there: a file there wins over the shipped one.""")
    return 0


def starting_files() -> dict[str, str]:
    """Each file init writes (path relative to DIR) with its text."""
    import secrets  # hmac and hashlib: only for init

    example = (shipped_dir() / EXAMPLE_CONFIG).read_text(encoding="utf-8")
    files = {"mailtix.toml": _config_text(example), SECRET_FILE: secrets.token_urlsafe(32) + "\n"}
    for path in sorted((shipped_dir() / "config").glob("*.toml")):
        files[f"config/{path.name}"] = path.read_text(encoding="utf-8")
    return files


def _config_text(example: str) -> str:
    """The example, with its agents' secret read from SECRET_FILE."""
    line = f'secret_file = "{SECRET_FILE}"'
    text, found = _COMMENTED_SECRET_FILE.subn(line, example, count=1)
    if not found:
        text = re.sub(r"^\[agents\]$", f"[agents]\n{line}", example, count=1, flags=re.MULTILINE)
    head = f"# Written by `mailtix init` (mailtix {mailtix_version()}) from {EXAMPLE_CONFIG}.\n"
    return head + text


def _create(path: Path, text: str) -> None:
    """A new 0600 file; never follows a link nor replaces a file that appeared meanwhile."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        raise UsageError(f"{path}: appeared while init was writing; stopped there") from None
    with open(fd, "w", encoding="utf-8") as out:
        out.write(text)
