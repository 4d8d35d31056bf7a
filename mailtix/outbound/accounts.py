"""Which SMTP account sends a mail: the ``[mailbox.smtp]`` of the mailbox whose address the
mail is From (the outbox row's envelope sender, which ``mailer`` sets to the mailbox address),
else ``[smtp]``. Accounts whose settings are equal are one account: one set of connections in
a drain. Each account's ``max_per_minute`` is counted under its ``pace_key`` (server and user),
which every worker computes alike (``store.pace``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

from mailtix.config.model import Config, SmtpConfig

DEFAULT = "smtp"
MAX_PACE_KEY = 200  # store.models.SendPace.account holds 400


@dataclass(frozen=True)
class Account:
    name: str  # "smtp", or "mailbox NAME smtp" for a [mailbox.smtp] (as ``status`` says)
    smtp: SmtpConfig

    @property
    def pace_key(self) -> str:
        """The account as the provider counts it: who signs in, where (a long one hashed, to
        fit the store's column)."""
        smtp = self.smtp
        if smtp.maildir is not None:
            key = f"maildir:{smtp.maildir}"
        else:
            key = f"{smtp.username or ''}@{smtp.host.lower()}:{smtp.port}"
        if len(key) <= MAX_PACE_KEY:
            return key
        return "sha256:" + hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()

    @property
    def where(self) -> str:
        smtp = self.smtp
        if smtp.maildir is not None:
            return f"maildir {smtp.maildir}"
        return f"{smtp.host}:{smtp.port}" + (f" as {smtp.username}" if smtp.username else "")


@dataclass(frozen=True)
class SendAccounts:
    default: Account
    by_sender: Mapping[str, Account] = field(default_factory=dict)  # lower-case address

    @classmethod
    def single(cls, smtp: SmtpConfig) -> SendAccounts:
        """Everything through one account (a test's, or a config without [mailbox.smtp])."""
        return cls(Account(DEFAULT, smtp))

    def for_sender(self, address: str) -> Account:
        return self.by_sender.get(address.lower(), self.default)

    def distinct(self) -> list[Account]:
        """Every account once, ``[smtp]`` first."""
        found = [self.default]
        for account in self.by_sender.values():
            if account not in found:
                found.append(account)
        return found


def send_accounts(config: Config) -> SendAccounts:
    """The accounts of ``config``: ``[smtp]``, and each ``[mailbox.smtp]`` for its address."""
    default = Account(DEFAULT, config.smtp)
    known = [default]
    by_sender: dict[str, Account] = {}
    for mailbox in config.mailboxes:
        if mailbox.smtp is None:
            continue
        account = next((a for a in known if a.smtp == mailbox.smtp), None)
        if account is None:
            account = Account(f"mailbox {mailbox.name} smtp", mailbox.smtp)
            known.append(account)
        by_sender[mailbox.address.lower()] = account
    return SendAccounts(default, by_sender)
