"""``mailtix auth status [--json]``: each account that signs in with OAuth2, its provider,
flow, token expiry and last refresh (read from its token cache; never a token)."""

from __future__ import annotations

import argparse
from typing import Any

from mailtix.cli.common import config_path, print_json
from mailtix.config.load import load_config
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


def accounts(args: argparse.Namespace) -> list[Account]:
    config = load_config(config_path(args), secrets=False, strict_rule_files=False)
    found = [mailbox_account(m) for m in config.mailboxes if m.oauth2 is not None]
    if config.smtp.oauth2 is not None:
        found.append(smtp_account(config.smtp))
    return found


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
