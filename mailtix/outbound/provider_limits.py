"""What ``mailtix check`` warns about the SMTP accounts of a config, from what providers are
known to enforce: Exchange Online takes 30 mails a minute from one mailbox (it refuses the
rest), and one login sends From another address only with Send As rights on it (else
"550 5.7.60 Client does not have permissions to send as this sender"). Pure: reads the config.
"""

from __future__ import annotations

from mailtix.config.model import Config
from mailtix.outbound.accounts import send_accounts

EXCHANGE_HOSTS = frozenset({"smtp.office365.com", "smtp-mail.outlook.com"})
EXCHANGE_PER_MINUTE = 30


def provider_warnings(config: Config) -> list[str]:
    """One "warning: ..." line per account over Exchange Online's rate, and per mailbox whose
    mail goes out through another address's Exchange Online login."""
    accounts = send_accounts(config)
    lines = []
    for account in accounts.distinct():
        smtp = account.smtp
        paced = 0 < smtp.max_per_minute <= EXCHANGE_PER_MINUTE
        if smtp.host.lower() in EXCHANGE_HOSTS and not paced:
            now = smtp.max_per_minute or "0, no limit"
            lines.append(
                f"warning: {_section(account.name)} max_per_minute is {now}: Exchange Online "
                f"takes {EXCHANGE_PER_MINUTE} mails a minute from one mailbox; set "
                f"max_per_minute = {EXCHANGE_PER_MINUTE} so the outbox paces itself"
            )
    for mailbox in config.mailboxes:
        smtp = accounts.for_sender(mailbox.address).smtp
        login = (smtp.username or "").lower()
        if smtp.host.lower() in EXCHANGE_HOSTS and login and login != mailbox.address:
            lines.append(
                f"warning: mail From {mailbox.address} (mailbox {mailbox.name}) goes out signed "
                f"in as {login}: Exchange Online needs Send As rights for {login} on that "
                "mailbox, or give the mailbox its own [mailbox.smtp]"
            )
    return lines


def _section(account: str) -> str:
    return "[smtp]" if account == "smtp" else f"{account} ([mailbox.smtp])"
