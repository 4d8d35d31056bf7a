"""The frozen, validated configuration objects every part of mailtix reads."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from mailtix.config.lifecycle import LifecycleConfig, SlaConfig, SurveyConfig

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
    max_mails_per_ticket_per_hour: int = 20  # mails of any kind to one address about one ticket
    automated_mail: str = "ticket"  # ticket | ignore: automated mail that is not a reply
    suppression_days: int = 30  # a permanent bounce holds back automatic mail this long


@dataclass(frozen=True)
class AgentsConfig:
    secret: str | None = field(default=None, repr=False)  # None: a secret kept in the store
    secret_file: Path | None = None  # where the secret was read from, when secret_file
    notify: str = "department"  # department | assignee
    trusted_authserv_ids: tuple[str, ...] = ()
    cc_policy: str = "participants"  # participants | ignore
    relay_name: str = "{agent} via {mailbox}"
    notifications_per_hour: int = 60  # notifications to one agent per hour, all tickets


@dataclass(frozen=True)
class SmtpConfig:
    host: str = ""
    port: int = 587
    security: str = "starttls"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = 30.0
    maildir: Path | None = None  # deliver outgoing mail into this Maildir instead (demo, dev)
    connections: int = 2  # parallel SMTP connections (a crash still repeats at most one mail)


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
    assign: str | None = None  # agent email, "round-robin" or "least-open"
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
    # optional sections ([lifecycle], [sla], [survey], [report]) as parsed, for their own modules
    sections: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    agents_policy: AgentsConfig = field(default_factory=AgentsConfig)
    lifecycle: LifecycleConfig = field(default_factory=LifecycleConfig)
    sla: SlaConfig = field(default_factory=SlaConfig)
    survey: SurveyConfig = field(default_factory=SurveyConfig)
    # problems in the rule files when they were read leniently (``strict_rule_files=False``)
    warnings: tuple[str, ...] = ()

    def mailbox(self, name: str) -> MailboxConfig | None:
        return next((m for m in self.mailboxes if m.name == name), None)

    def department(self, name: str) -> Department | None:
        return next((d for d in self.departments if d.name == name), None)

    def agent(self, email: str) -> Agent | None:
        wanted = email.lower()
        return next((a for a in self.agents if a.email == wanted), None)

    def agent_name(self, email: str) -> str:
        """The agent's display name ("" when unknown or unnamed)."""
        agent = self.agent(email)
        return agent.name if agent else ""

    def available_agents(self, department: str) -> list[str]:
        """The agents of ``department`` who are not away, in file order."""
        dept = self.department(department)
        agents = dept.agents if dept else ()
        return [email for email in agents if not (self.agent(email) or Agent(email)).away]

    @cached_property
    def own_addresses(self) -> frozenset[str]:
        """The mailbox addresses (lower-case, as loaded), computed once per config."""
        return frozenset(m.address for m in self.mailboxes)
