"""``mailtix check [--connect]``: the config, rules and templates, and optionally every server.

A check changes nothing: ``--connect`` logs in and leaves, says how each account signed in
(OAUTHBEARER or XOAUTH2 and when its access token expires, or the password) and which folders
the first poll would create instead of creating them. Warnings (a store others can read, a
rule pattern that can backtrack) are printed but keep the exit code 0.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from typing import Any

from mailtix.cli.common import config_path
from mailtix.config.load import load_config
from mailtix.config.model import Config, MailboxConfig, SmtpConfig
from mailtix.config.shipped import shipped_templates
from mailtix.domain.errors import MailtixError
from mailtix.domain.version import mailtix_version


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    check = sub.add_parser("check", parents=[common], help="validate config, rules and templates")
    check.add_argument("--connect", action="store_true", help="also log in to every server")
    check.set_defaults(func=check_all)


def check_all(args: argparse.Namespace) -> int:
    from mailtix.config.rules import rule_warnings
    from mailtix.outbound.provider_limits import provider_warnings
    from mailtix.outbound.render import KINDS
    from mailtix.outbound.template_check import check_templates
    from mailtix.runtime.exposure import exposure_warnings

    config = load_config(config_path(args))
    departments = [d.name for d in config.departments]
    problems = check_templates(
        config.templates.dir, KINDS, departments, defaults=shipped_templates()
    )
    reached: list[str] = []
    notes: list[str] = []
    if args.connect:
        reached, failed, notes = _connect_all(config)
        problems += failed
    for line in problems:
        print(line, file=sys.stderr)
    if problems:
        return 2
    warnings = [
        *exposure_warnings(config), *rule_warnings(config), *provider_warnings(config),
        *_language_warnings(config),
    ]  # fmt: skip
    for line in warnings:  # warnings, not problems: the exit code stays 0
        print(line, file=sys.stderr)
    for note in notes:
        print(note)
    print(
        f"ok: {len(config.mailboxes)} mailbox(es), {len(config.departments)} department(s), "
        f"{len(config.agents)} agent(s), {len(config.rules)} rule(s)"
        + (f", {len(o)} organisation(s)" if (o := config.organisations.organisations) else "")
        + (f"; connected to {', '.join(reached)}" if args.connect else "")
    )
    print(f"mailtix {mailtix_version()}, config {config.path}")
    return 0


Connect = Callable[[], tuple[list[str], str]]  # folders the first poll would create, sign-in


def _connect_all(config: Config) -> tuple[list[str], list[str], list[str]]:
    """Log in to (or open) every mailbox and each SMTP account once ([smtp] and every
    distinct [mailbox.smtp]), then leave, changing nothing: what was reached, one line per
    problem, and one line per account saying how it signed in and per mailbox whose first
    poll would create folders."""
    from mailtix.outbound.accounts import send_accounts

    checks: list[tuple[str, str, Connect]] = [
        (f"mailbox {m.name}", f" ({m.host}:{m.port})" if m.maildir is None else "",
         partial(_would_create, m))
        for m in config.mailboxes if m.polled  # one delivered by LMTP has nothing to log in to
    ]  # fmt: skip
    signed_in: list[SmtpConfig] = []  # accounts that differ only in pace or connections: once
    for account in send_accounts(config).distinct():
        smtp = account.smtp
        sign_in = replace(smtp, connections=1, max_per_minute=0)
        if smtp.maildir is None and sign_in not in signed_in:
            signed_in.append(sign_in)
            own = f" as {smtp.username} ({account.name})" if account.name != "smtp" else ""
            name = f"smtp {smtp.host}:{smtp.port}{own}"
            checks.append((name, "", partial(_log_in_to_smtp, smtp, account.name)))
    reached: list[str] = []
    problems: list[str] = []
    notes: list[str] = []
    for name, where, connect in checks:
        try:
            missing, how = connect()
        except MailtixError as exc:
            problems.append(f"connect: {name}: {exc}")
        else:
            reached.append(name + where)
            if how:
                notes.append(how)
            if missing:
                notes.append(f"{name}: would create {', '.join(missing)} (the first poll does)")
    return reached, problems, notes


def signed_in_line(account: str, mechanism: str, expires_at: float) -> str:
    """How ``account`` signed in: its SASL mechanism and, for OAuth2, its token's expiry."""
    if expires_at == float("inf"):
        return f"signed in: {account} with {mechanism}"
    expires = datetime.fromtimestamp(expires_at, UTC).isoformat(timespec="seconds")
    return f"signed in: {account} with {mechanism} (OAuth2; access token expires {expires})"


def _log_in_to_smtp(smtp: SmtpConfig, account: str) -> tuple[list[str], str]:
    import asyncio

    from mailtix.outbound.smtp_sender import SignedIn, SmtpSender

    async def sign_in() -> SignedIn | None:
        # the account's name goes to the sender for OAuth2 only: its login command names it
        async with SmtpSender(smtp, account=account if smtp.auth == "oauth2" else "smtp") as s:
            return s.signed_in  # a check sends nothing

    done = asyncio.run(sign_in())
    if done is None:
        return [], f"{account}: sends without signing in (no username)"
    return [], signed_in_line(account, done.mechanism, done.expires_at)


def _would_create(mailbox: MailboxConfig) -> tuple[list[str], str]:
    """Log in to (or look at) a mailbox without changing it: what its first poll would create,
    and how it signed in."""
    from mailtix.inbound.imap_source import ImapSource
    from mailtix.inbound.maildir_source import missing_parts

    if mailbox.maildir is not None:
        return missing_parts(mailbox), ""
    with ImapSource(mailbox, create_folders=False) as source:
        mechanism, expires = source.sign_in or ("LOGIN (password)", float("inf"))
        line = signed_in_line(f"mailbox {mailbox.name}", mechanism, expires)
        return source.missing_folders(), line


def _language_warnings(config: Config) -> list[str]:
    from mailtix.config.organisations import language_warnings
    from mailtix.config.rules import file_label
    from mailtix.config.shipped import shipped_templates

    if config.organisations_path is None:
        return []
    label = file_label(config.organisations_path, config.path.absolute().parent)
    templates = config.templates.dir
    return language_warnings(config.organisations, templates, label, shipped_templates())
