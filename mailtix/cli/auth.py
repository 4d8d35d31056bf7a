"""``mailtix auth login --mailbox NAME | --smtp | --mailbox NAME --smtp``: sign one OAuth2
account in now (the device flow prints a URL and a code, waits for a person to enter it and
keeps the tokens); ``mailtix auth status [--json]``: each account that signs in with OAuth2,
its provider, flow, token expiry and last refresh (read from its token cache; never a token)."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import Any

from mailtix.cli.common import config_path, print_json
from mailtix.config.load import load_config
from mailtix.config.model import Config
from mailtix.domain.errors import UsageError
from mailtix.report.formats import table
from mailtix.signin.tokens import Account, account_status, mailbox_account, smtp_account


def register(sub: Any, common: argparse.ArgumentParser) -> None:
    auth = sub.add_parser("auth", help="OAuth2 sign-in of mailboxes and SMTP").add_subparsers(
        dest="action", required=True, metavar="ACTION"
    )
    status = auth.add_parser(
        "status", parents=[common], help="each OAuth2 account with its token expiry"
    )
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=show_status)
    login = auth.add_parser(
        "login", parents=[common], help="sign an OAuth2 account in (device flow: URL and code)"
    )
    login.add_argument("--mailbox", metavar="NAME", help="the mailbox's account (IMAP)")
    login.add_argument(
        "--smtp", action="store_true",
        help="[smtp]'s account; with --mailbox: that mailbox's own [mailbox.smtp]",
    )  # fmt: skip
    login.set_defaults(func=log_in)


def accounts(args: argparse.Namespace) -> list[Account]:
    """Every OAuth2 account once: the mailboxes', [smtp]'s, each [mailbox.smtp] of its own."""
    config = load_config(config_path(args), secrets=False, strict_rule_files=False)
    found = [mailbox_account(m) for m in config.mailboxes if m.oauth2 is not None]
    if config.smtp.oauth2 is not None:
        found.append(smtp_account(config.smtp))
    for mailbox in config.mailboxes:
        own = mailbox.smtp.oauth2 if mailbox.smtp is not None else None
        if own is not None and own.token_cache not in {a.oauth2.token_cache for a in found}:
            assert mailbox.smtp is not None
            found.append(smtp_account(mailbox.smtp, f"mailbox {mailbox.name} smtp"))
    return found


def chosen(config: Config, mailbox_name: str | None, smtp: bool) -> Account:
    """The account ``auth login`` signs in; UsageError for one that does not use OAuth2."""
    if mailbox_name is None:
        if not smtp:
            raise UsageError("auth login: name the account: --mailbox NAME or --smtp")
        if config.smtp.oauth2 is None:
            raise UsageError('auth login: [smtp] does not sign in with OAuth2 (auth = "oauth2")')
        return smtp_account(config.smtp)
    mailbox = next((m for m in config.mailboxes if m.name == mailbox_name), None)
    if mailbox is None:
        known = ", ".join(m.name for m in config.mailboxes)
        raise UsageError(f"auth login: no mailbox {mailbox_name!r} (known: {known})")
    if not smtp:
        if mailbox.oauth2 is None:
            raise UsageError(f"auth login: mailbox {mailbox.name} signs in with a password")
        return mailbox_account(mailbox)
    own = mailbox.smtp
    if own is None or own.oauth2 is None:
        raise UsageError(
            f"auth login: mailbox {mailbox.name} has no [mailbox.smtp] signing in with OAuth2"
        )
    if config.smtp.oauth2 is not None and own.oauth2.token_cache == config.smtp.oauth2.token_cache:
        return smtp_account(config.smtp)  # inherited: [smtp]'s own account
    return smtp_account(own, f"mailbox {mailbox.name} smtp")


def _line(text: str) -> str:
    """A provider's text on one line (no CR/LF or other control to the terminal)."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())[:300]


def log_in(args: argparse.Namespace) -> int:
    from mailtix.signin.login import log_in as sign_in

    config = load_config(config_path(args), strict_rule_files=False)
    account = chosen(config, args.mailbox, args.smtp)

    def show(url: str, code: str, seconds: float) -> None:
        print(
            f"{account.name}: to sign in as {account.username}, open {_line(url)} and enter "
            f"the code {_line(code)} (within {max(1, round(seconds / 60))} min)",
            flush=True,
        )
        print("waiting for the sign-in (Ctrl-C to stop) ...", flush=True)

    try:
        token = sign_in(account, show)
    except KeyboardInterrupt:
        print(f"{account.name}: stopped; not signed in", file=sys.stderr)
        return 130
    expires = datetime.fromtimestamp(token.expires_at, UTC).isoformat(timespec="seconds")
    if account.oauth2.flow == "client_credentials":
        print(f"{account.name}: flow client_credentials needs no person to sign in: the app "
              f"signed itself in; access token expires {expires}")  # fmt: skip
        return 0
    print(
        f"{account.name}: signed in ({account.oauth2.provider}, flow {account.oauth2.flow}); "
        f"access token expires {expires}; tokens kept in {account.oauth2.token_cache}"
    )
    return 0


def show_status(args: argparse.Namespace) -> int:
    rows = [account_status(account) for account in accounts(args)]
    if args.json:
        print_json(rows)
        return 0
    if not rows:
        print('no account signs in with OAuth2 (auth = "oauth2")')
        return 0
    columns = ("account", "user", "provider", "flow", "expires_at", "last_refresh")
    print(table([[str(row[c] or "-") for c in columns] for row in rows], list(columns)))
    return 0
