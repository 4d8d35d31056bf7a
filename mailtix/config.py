"""Read mailtix.toml (+ departments and routing files) once into frozen, validated objects.

Every problem found is reported as one line "FILE: KEY: what is wrong" in a ConfigError; nothing
here raises anything else for bad input.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

PRIORITIES = ("low", "normal", "high", "urgent")
STATUSES = ("new", "open", "pending", "resolved", "closed")
SECURITY_MODES = ("tls", "starttls", "none")


@dataclass(frozen=True)
class StoreConfig:
    url: str  # sqlite URLs carry an absolute path once loaded


@dataclass(frozen=True)
class TicketsConfig:
    prefix: str = "SUP"
    acknowledge_followups: bool = False
    message_id_domain: str = ""  # default: the domain of the first mailbox address
    auto_reply_limit_per_hour: int = 5  # automatic mails to one address per hour


@dataclass(frozen=True)
class SmtpConfig:
    host: str = ""
    port: int = 587
    security: str = "starttls"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 30.0
    maildir: Path | None = None  # deliver outgoing mail into this Maildir instead (demo, dev)


@dataclass(frozen=True)
class MailboxConfig:
    name: str
    address: str
    display_name: str = "Support"
    host: str = ""
    port: int = 993
    security: str = "tls"
    username: str = ""
    password: str | None = field(default=None, repr=False)
    folder: str = "INBOX"
    processed_folder: str = "Processed"
    quarantine_folder: str = "Quarantine"
    department: str = "general"
    poll_interval: int = 60
    max_message_bytes: int = 26214400
    timeout: float = 30.0
    maildir: Path | None = None  # read from this Maildir instead of IMAP (demo, dev)


@dataclass(frozen=True)
class Agent:
    email: str
    name: str = ""
    away: bool = False


@dataclass(frozen=True)
class Department:
    name: str
    agents: tuple[str, ...] = ()


@dataclass(frozen=True)
class Condition:
    """One key of a rule's ``when`` table; ``values`` are OR-ed (a scalar becomes one value)."""

    key: str  # mailbox | to | from | from_domain | subject | body | header | has_attachment
    values: tuple[str, ...] = ()
    header: str = ""  # for key == "header": the header name (lower-case)
    flag: bool | None = None  # for has_attachment


@dataclass(frozen=True)
class Action:
    department: str | None = None
    priority: str | None = None
    assign: str | None = None  # agent email or "round-robin"
    tags: tuple[str, ...] = ()
    acknowledge: bool | None = None
    ignore: bool = False


@dataclass(frozen=True)
class Rule:
    name: str
    when: tuple[Condition, ...]
    then: Action
    continue_: bool = False


@dataclass(frozen=True)
class TemplatesConfig:
    dir: Path


@dataclass(frozen=True)
class Config:
    path: Path
    store: StoreConfig
    tickets: TicketsConfig
    smtp: SmtpConfig
    mailboxes: tuple[MailboxConfig, ...]
    departments: tuple[Department, ...]
    agents: tuple[Agent, ...]
    rules: tuple[Rule, ...]
    templates: TemplatesConfig
    departments_path: Path | None = None
    routing_path: Path | None = None

    def mailbox(self, name: str) -> MailboxConfig | None:
        return next((m for m in self.mailboxes if m.name == name), None)

    def department(self, name: str) -> Department | None:
        return next((d for d in self.departments if d.name == name), None)

    def agent(self, email: str) -> Agent | None:
        wanted = email.lower()
        return next((a for a in self.agents if a.email == wanted), None)

    @property
    def own_addresses(self) -> frozenset[str]:
        return frozenset(m.address for m in self.mailboxes)


def load_config(path: Path) -> Config:
    """Read and validate the config at ``path``; raise ConfigError listing every problem."""
    raise NotImplementedError
