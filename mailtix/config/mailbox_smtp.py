"""A mailbox's own SMTP account, ``[mailbox.smtp]``: read by the ``[smtp]`` loader itself over
``[smtp]``'s table, so it takes every key ``[smtp]`` takes, and what it does not give comes
from ``[smtp]``, key by key, except two groups that come only whole:

- the server, ``host`` / ``maildir``: giving either takes neither from ``[smtp]``;
- the sign-in, ``username``, ``password`` (``_env``, ``_file``), ``auth``, ``[smtp.oauth2]``:
  giving any of them takes none of ``[smtp]``'s. ``[smtp]``'s sign-in is never sent to another
  server: a ``[mailbox.smtp]`` with another host must give its own (``username = ""`` for none).

A problem ``[smtp]`` itself has (and lends) is reported once, under ``[smtp]``; any other is
reported under ``mailbox[N].smtp`` (e.g. ``security = "none"`` lent to another host). An
inherited sign-in is ``[smtp]``'s own, as loaded (one token cache, not one per mailbox).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from mailtix.config import sections
from mailtix.config.model import MailboxConfig, SmtpConfig
from mailtix.config.reader import Problems, Reader, kind
from mailtix.config.schema import keys

SERVER = ("host", "maildir")
SIGN_IN = ("username", "password", "password_env", "password_file", "auth", "oauth2")


def attach(
    top: Reader,
    smtp_table: object,
    mailboxes: tuple[MailboxConfig, ...],
    base: Path,
    env: dict[str, str] | None,
    smtp: SmtpConfig | None = None,
) -> tuple[MailboxConfig, ...]:
    """``mailboxes`` (one per ``[[mailbox]]`` table, as ``sections.mailboxes`` read them) with
    the ``smtp`` account of those that have a ``[mailbox.smtp]``; ``smtp``: ``[smtp]`` as
    loaded from ``smtp_table``, whose sign-in an account inherits."""
    tables = top.raw("mailbox")
    if not isinstance(tables, list) or len(tables) != len(mailboxes):
        return mailboxes
    shared = smtp_table if isinstance(smtp_table, dict) else {}
    found = []
    for index, (mailbox, table) in enumerate(zip(mailboxes, tables, strict=True)):
        own = table.get("smtp") if isinstance(table, dict) else None
        if own is not None:
            account = _account(top, index, shared, own, base, env)
            if account is not None and smtp is not None and _inherits_sign_in(shared, own):
                account = replace(account, **{k: getattr(smtp, k) for k in _sign_in_fields()})
            mailbox = replace(mailbox, smtp=account)
        found.append(mailbox)
    return tuple(found)


def _account(
    top: Reader,
    index: int,
    shared: Mapping[str, Any],
    own: object,
    base: Path,
    env: dict[str, str] | None,
) -> SmtpConfig | None:
    prefix = f"mailbox[{index}].smtp"
    if not isinstance(own, dict):
        top.problems.add(top.file, prefix, f"must be a table ([mailbox.smtp]), got {kind(own)}")
        return None
    inherited = inherit(shared, own)
    local = Problems()
    reader = Reader(local, top.file, prefix, {**inherited, **own}, keys(SmtpConfig))
    account = sections.smtp(reader, base, env)
    for line in local.lines:  # what [smtp] itself said of what it lent is not said twice
        as_smtp = line.replace(f": {prefix}", ": smtp", 1)
        if as_smtp not in top.problems.lines:
            top.problems.lines.append(line)
    if _other_server(shared, own) and not any(k in own for k in SIGN_IN):
        top.problems.add(
            top.file,
            f"{prefix}.username",
            "this account's server is not [smtp]'s, so [smtp]'s sign-in is not sent to it: "
            'give username and password_env (or username = "" to send without signing in)',
        )
    return account


def _inherits_sign_in(shared: Mapping[str, Any], own: Mapping[str, Any]) -> bool:
    return not any(k in own for k in SIGN_IN) and not _other_server(shared, own)


def _sign_in_fields() -> list[str]:
    return [f.name for f in fields(SmtpConfig) if f.name in SIGN_IN]


def inherit(shared: Mapping[str, Any], own: Mapping[str, Any]) -> dict[str, Any]:
    """The keys of ``[smtp]`` that ``[mailbox.smtp]`` (``own``) takes, by the rules above."""
    dropped = {
        name for group in (SERVER, SIGN_IN) if any(k in own for k in group) for name in group
    }
    if _other_server(shared, own):
        dropped.update(SIGN_IN)
    return {k: v for k, v in shared.items() if k not in own and k not in dropped}


def _other_server(shared: Mapping[str, Any], own: Mapping[str, Any]) -> bool:
    """``own`` names a server, and not the one ``[smtp]`` names."""
    if not any(k in own for k in SERVER):
        return False
    return any(_same(own.get(k)) != _same(shared.get(k)) for k in SERVER)


def _same(value: object) -> object:
    return value.strip().lower() if isinstance(value, str) else value
