"""Helpers for integration tests: a mailtix config pointing at the private mail stack, the CLI
run as a user runs it, and mail parsing for assertions."""

from __future__ import annotations

import email
import email.policy
import itertools
import json
import re
import subprocess
import sys
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
_counter = itertools.count(1)


def unique(name: str) -> str:
    return f"{name}{next(_counter)}"


def write_config(
    directory: Path,
    stack: Any,
    mailboxes: list[dict[str, Any]],
    extra: str = "",
    routing: str = "",
    departments: str = "",
    smtp_maildir: str | None = None,
    smtp_connections: int | None = None,
) -> Path:
    """A mailtix.toml for ``stack``; each mailbox dict has name, user and optional overrides.

    Outgoing mail goes to the stack's Postfix, or into the Maildir ``smtp_maildir`` if given."""
    for mb in mailboxes:
        stack.add_user(mb["user"])
    lines = ["[store]", 'url = "sqlite:///mailtix.db"', "", "[smtp]"]
    if smtp_maildir is not None:
        lines += [f"maildir = {json.dumps(smtp_maildir)}", ""]
    else:
        lines += [f'host = "{stack.host}"', f"port = {stack.smtp_port}", 'security = "none"']
        if smtp_connections is not None:
            lines.append(f"connections = {smtp_connections}")
        lines.append("")
    for mb in mailboxes:
        lines += [
            "[[mailbox]]",
            f'name = "{mb["name"]}"',
            f'address = "{mb["user"]}@example.test"',
            'display_name = "ACME Support"',
            f'host = "{stack.host}"',
            f"port = {stack.imap_port}",
            'security = "none"',
            f'username = "{mb["user"]}"',
            f"password = {json.dumps(mb.get('password', 'secret'))}",
            f"poll_interval = {mb.get('poll_interval', 2)}",
        ]
        own = ("name", "user", "password", "poll_interval")
        lines += [f"{k} = {json.dumps(v)}" for k, v in mb.items() if k not in own]
        lines.append("")
    lines += ["[rules]", 'departments = "departments.toml"', 'routing = "routing.toml"', ""]
    lines += ["[templates]", f'dir = "{REPO / "templates"}"', "", extra]
    departments = departments or (
        f'[[department]]\nname = "general"\nagents = ["{unique("alice")}@example.test"]\n'
    )
    for agent in sorted(set(re.findall(r"([\w.+-]+)@example\.test", departments))):
        stack.add_user(agent)  # notifications to agents must land somewhere real
    (directory / "departments.toml").write_text(departments)
    (directory / "routing.toml").write_text(routing)
    path = directory / "mailtix.toml"
    path.write_text("\n".join(lines))
    return path


def mailtix(
    config: Path, *args: str, check: bool = True, stdin: bytes | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a subprocess, as a user or cron would."""
    proc = subprocess.run(
        [sys.executable, "-m", "mailtix", "--config", str(config), *args],
        input=stdin.decode() if stdin is not None else None,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"mailtix {' '.join(args)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}"
        )
    return proc


def outbox_items(config: Path, *, include_sent: bool = False) -> list[dict[str, Any]]:
    args = ["outbox", "list", "--json"] + (["--all"] if include_sent else [])
    return list(json.loads(mailtix(config, *args).stdout))


def tickets(config: Path) -> list[dict[str, Any]]:
    return list(json.loads(mailtix(config, "tickets", "list", "--json").stdout))


def ticket(config: Path, ref: str) -> dict[str, Any]:
    return dict(json.loads(mailtix(config, "tickets", "show", ref, "--json").stdout))


def customer_mail(
    sender: str,
    to: str,
    subject: str,
    body: str = "Hello, something is broken.\n",
    **headers: str,
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="customer.test")
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg


def parse(raw: bytes) -> EmailMessage:
    return email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[return-value]
