"""The main sections of mailtix.toml ([store], [tickets], [smtp], [[mailbox]], [rules],
[templates]) read through their schema, plus what each checks across its keys: host or
maildir, passwords, folders that must differ, paths relative to the config file."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import Any

from mailtix.config.model import (
    MailboxConfig,
    RulesFiles,
    SmtpConfig,
    StoreConfig,
    TemplatesConfig,
    TicketsConfig,
)
from mailtix.config.oauth2 import read_oauth2
from mailtix.config.reader import (
    MISSING,
    Reader,
    absolute_store_url,
    check_secret,
    is_loopback,
    optional_file,
)
from mailtix.config.schema import keys, read_keys
from mailtix.config.shipped import shipped_templates

SECRET_KEYS = ("password", "password_env", "password_file")
DEFAULT_TEMPLATES = str(TemplatesConfig.dir)
FOLDERS = ("folder", "processed_folder", "quarantine_folder", "spam_folder")


def store(reader: Reader, base: Path) -> StoreConfig:
    url = read_keys(StoreConfig, reader)["url"]
    absolute = absolute_store_url(url, base)
    if absolute is None:
        shown = re.sub(r"://[^@/]*@", "://***@", url)
        reader.problem(
            "url", f'must be "sqlite:///PATH" or "postgresql://USER@HOST:PORT/DB", got "{shown}"'
        )
        return StoreConfig()
    return StoreConfig(absolute)


def tickets(reader: Reader, mailboxes: tuple[MailboxConfig, ...]) -> TicketsConfig:
    found = TicketsConfig(**read_keys(TicketsConfig, reader))
    if not found.message_id_domain and mailboxes:
        found = replace(found, message_id_domain=mailboxes[0].address.rpartition("@")[2])
    return found


def _transport(
    reader: Reader, cls: type, base: Path, env: dict[str, str] | None, lmtp: bool = False
) -> dict[str, Any]:
    """The keys [smtp] and [[mailbox]] share, read and checked: host or maildir (or, for a
    mailbox with ``lmtp``, neither: delivered by LMTP only), security."""
    values = read_keys(cls, reader)
    host, maildir_name = values["host"], values["maildir"]
    if reader.has("host") and reader.has("maildir"):
        reader.problem("maildir", "give either host or maildir, not both")
    elif not host and not maildir_name and not lmtp:
        also = ", or [lmtp] listen to have the MTA deliver it" if cls is MailboxConfig else ""
        reader.problem("host", f'required (or maildir = "path" for a local Maildir{also})')
    if values["security"] == "none" and host and not is_loopback(host):
        reader.problem(
            "security",
            f'"none" would send the password unencrypted; it is only allowed for a loopback host '
            f'(127.0.0.1, ::1, localhost), not "{host}" — use tls or starttls',
        )
    values["maildir"] = (base / maildir_name) if maildir_name and not host else None
    values["password"] = check_secret(reader, base, env)
    return values


def _sign_in(
    reader: Reader, values: dict[str, Any], base: Path, env: dict[str, str] | None, account: str
) -> bool:
    """Read ``[....oauth2]`` into ``values``; True when the account signs in with OAuth2 (then a
    password is a problem, not a requirement)."""
    values["oauth2"] = read_oauth2(reader, base, env, values["auth"], account)
    oauth2 = values["auth"] == "oauth2"
    given = [k for k in SECRET_KEYS if reader.has(k)]
    if oauth2 and given:
        reader.problem(given[0], 'not used with auth = "oauth2" (remove it)')
    return oauth2


def smtp(reader: Reader, base: Path, env: dict[str, str] | None) -> SmtpConfig:
    values = _transport(reader, SmtpConfig, base, env)
    values["username"] = values["username"] or None
    if _sign_in(reader, values, base, env, reader.prefix):
        if values["username"] is None:
            reader.problem("username", 'required with auth = "oauth2" (the account to send as)')
        return SmtpConfig(**values)
    given = any(reader.has(k) for k in SECRET_KEYS)
    if values["username"] and values["password"] is None and not given:
        reader.problem(
            "password", "required when username is set (or password_env / password_file)"
        )
    if values["username"] is None and given:
        reader.problem("username", "required when a password is given")
    return SmtpConfig(**values)


def mailboxes(top: Reader, base: Path, env: dict[str, str] | None) -> tuple[MailboxConfig, ...]:
    tables = top.tables("mailbox")
    if top.raw("mailbox") in (MISSING, []):
        top.problem(
            "mailbox", "at least one [[mailbox]] is required (name, address, host or maildir)"
        )
    found: list[MailboxConfig] = []
    lmtp = top.raw("lmtp")
    by_lmtp = isinstance(lmtp, dict) and bool(str(lmtp.get("listen", "")).strip())
    for index, table in enumerate(tables):
        reader = Reader(top.problems, top.file, f"mailbox[{index}]", table, keys(MailboxConfig))
        mailbox = _mailbox(reader, base, env, by_lmtp)
        if mailbox.name and any(m.name == mailbox.name for m in found):
            reader.problem("name", f'duplicate mailbox name "{mailbox.name}"')
        elif mailbox.address and any(m.address == mailbox.address for m in found):
            reader.problem("address", f'"{mailbox.address}" is already used by another mailbox')
        found.append(mailbox)
    return tuple(found)


def _mailbox(
    reader: Reader, base: Path, env: dict[str, str] | None, lmtp: bool = False
) -> MailboxConfig:
    """One [[mailbox]]; with ``lmtp`` (``[lmtp] listen`` is set) it may have no host or
    maildir: mail reaches it by LMTP only and nothing polls it."""
    values = _transport(reader, MailboxConfig, base, env, lmtp)
    imap = values["host"] and not reader.has("maildir")
    oauth2 = _sign_in(reader, values, base, env, values["name"] or reader.prefix)
    given = any(reader.has(k) for k in SECRET_KEYS)
    if imap and values["password"] is None and not given and not oauth2:
        reader.problem("password", "required for IMAP (password, password_env or password_file)")
    for name in FOLDERS[1:]:
        if values[name] == values["folder"]:
            reader.problem(name, f'must differ from folder ("{values["folder"]}")')
    values["username"] = values["username"] if reader.has("username") else values["address"]
    return MailboxConfig(**values)


def rule_files(reader: Reader, base: Path) -> tuple[Path | None, Path | None]:
    """The departments and routing files, when they exist (see ``optional_file``)."""
    return (
        optional_file(reader, "departments", RulesFiles.departments, base),
        optional_file(reader, "routing", RulesFiles.routing, base),
    )


def organisations_file(reader: Reader, base: Path) -> Path | None:
    """The organisations file, when it exists (see ``optional_file``)."""
    return optional_file(reader, "organisations", RulesFiles.organisations, base)


def templates(reader: Reader, base: Path) -> TemplatesConfig:
    """``dir`` relative to the config file; the default falls back to the shipped templates/."""
    name = read_keys(TemplatesConfig, reader)["dir"] or DEFAULT_TEMPLATES
    path = base / name
    if path.is_dir():
        return TemplatesConfig(path)
    if name.rstrip("/") == DEFAULT_TEMPLATES:
        return TemplatesConfig(shipped_templates())
    reader.problem("dir", f"directory not found: {path}")
    return TemplatesConfig(shipped_templates())
