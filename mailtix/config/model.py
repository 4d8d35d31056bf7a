"""The frozen, validated configuration objects every part of mailtix reads. Their ``key(...)``
fields are the mailtix.toml schema: each key's type, limits and default (config/schema.py)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from mailtix.config.lifecycle import LifecycleConfig, SlaConfig, SurveyConfig
from mailtix.config.lmtp import LmtpConfig
from mailtix.config.oauth2 import AUTH_MODES, OAuth2Config
from mailtix.config.operations import LoggingConfig, MetricsConfig
from mailtix.config.organisations import OrganisationDirectory
from mailtix.config.privacy import PrivacyConfig
from mailtix.config.reader import is_domain, is_email
from mailtix.config.report import ReportConfig
from mailtix.config.schema import key
from mailtix.domain.languages import language_tag

SECURITY_MODES = ("tls", "starttls", "none")
PREFIX = re.compile(r"^[A-Z][A-Z0-9]{0,9}$")


def _prefix_problem(text: str) -> str:
    if PREFIX.match(text):
        return ""
    return f'must be 1-10 upper-case letters or digits starting with a letter, got "{text}"'


def _domain_problem(text: str) -> str:
    return f'must be a domain name, got "{text}"' if text and not is_domain(text) else ""


def _address_problem(text: str) -> str:
    if not text or is_email(text):
        return ""
    return f'must be an email address like support@example.com, got "{text}"'


def _language_problem(text: str) -> str:
    if language_tag(text) is None:
        return f'must be a language tag like "de" or "pt-br", got "{text}"'
    return ""


def _lower(text: str) -> str:
    return text.strip().lower()


ACKNOWLEDGE_MODES = ("always", "authenticated", "never")


@dataclass(frozen=True)
class StoreConfig:
    url: str = key("sqlite:///var/mailtix.db")  # sqlite URLs carry an absolute path once loaded


@dataclass(frozen=True)
class TicketsConfig:
    prefix: str = key("SUP", check=_prefix_problem)
    acknowledge_followups: bool = key(False)
    # default: the domain of the first mailbox address
    message_id_domain: str = key("", derived=True, clean=str.lower, check=_domain_problem)
    auto_reply_limit_per_hour: int = key(5, low=0)  # automatic mails to one address per hour
    max_mails_per_ticket_per_hour: int = key(20, low=1)  # to one address about one ticket
    automated_mail: str = key("ticket", choices=("ticket", "ignore"))  # not a reply: ticket?
    suppression_days: int = key(30, low=1)  # a permanent bounce holds back automatic mail
    x_mailer: bool = key(False)  # an X-Mailer header naming mailtix and its version
    acknowledge: str = key("always", choices=ACKNOWLEDGE_MODES)  # decisions.acknowledgement
    auto_reply_budget_per_hour: int = key(200, low=0)  # automatic mails of one mailbox per hour


@dataclass(frozen=True)
class AgentsConfig:
    secret: str | None = key(None, "text", secret=True)  # None: a secret kept in the store
    secret_file: Path | None = None  # where the secret was read from, when secret_file
    notify: str = key("department", choices=("department", "assignee"))
    trusted_authserv_ids: tuple[str, ...] = key((), "strings")
    cc_policy: str = key("participants", choices=("participants", "ignore"))
    relay_name: str = key("{agent} via {mailbox}")
    notifications_per_hour: int = key(60, low=1)  # to one agent per hour, all tickets


@dataclass(frozen=True)
class SmtpConfig:
    host: str = key("", clean=str.strip)
    port: int = key(587, low=1, high=65535)
    security: str = key("starttls", choices=SECURITY_MODES)
    username: str | None = key(None, "text", clean=str.strip)
    password: str | None = key(None, "text", secret=True)
    auth: str = key("password", choices=AUTH_MODES)  # "oauth2": sign in with [smtp.oauth2]
    oauth2: OAuth2Config | None = key(None, "table")  # read by config.oauth2
    timeout: float = key(30.0, low=1.0)
    maildir: Path | None = key(
        None, "path", clean=str.strip
    )  # deliver outgoing mail into this Maildir instead
    connections: int = key(2, low=1, high=16)  # parallel SMTP connections
    max_per_minute: int = key(0, low=0)  # mails sent through this account a minute; 0: no limit


BLOCKED_ATTACHMENTS = (
    ".exe", ".scr", ".com", ".pif", ".cpl", ".dll", ".bat", ".cmd", ".js", ".jse", ".vbs",
    ".vbe", ".wsf", ".wsh", ".hta", ".jar", ".ps1", ".psm1", ".msi", ".msp", ".lnk", ".reg",
    ".iso", ".img", ".vhd", ".docm", ".dotm", ".xlsm", ".xltm", ".xlam", ".pptm", ".potm",
    ".ppam", ".sldm",
)  # fmt: skip


@dataclass(frozen=True)
class AttachmentsConfig:
    """``[attachments]``: what is kept in the store but never sent on (decisions.attachments)."""

    blocked: tuple[str, ...] = key(BLOCKED_ATTACHMENTS, "strings")


@dataclass(frozen=True)
class MailboxConfig:
    name: str = key("", required=True, clean=str.strip)
    address: str = key("", required=True, clean=_lower, check=_address_problem)
    display_name: str = key("Support")
    host: str = key("", clean=str.strip)
    port: int = key(993, low=1, high=65535)
    security: str = key("tls", choices=SECURITY_MODES)
    username: str = key("", derived=True, clean=str.strip)  # default: the address
    password: str | None = key(None, "text", secret=True)
    auth: str = key("password", choices=AUTH_MODES)  # "oauth2": sign in with [mailbox.oauth2]
    oauth2: OAuth2Config | None = key(None, "table")  # read by config.oauth2
    folder: str = key("INBOX", nonempty=True)
    processed_folder: str = key("Processed", nonempty=True)
    quarantine_folder: str = key("Quarantine", nonempty=True)
    spam_folder: str = key("Spam", nonempty=True)  # mail flagged as spam is moved here
    acknowledge: str = key("", choices=("", *ACKNOWLEDGE_MODES))  # "": as [tickets] acknowledge
    department: str = key("general", nonempty=True, clean=str.strip)
    language: str = key("", clean=_lower, check=_language_problem)  # its mails' templates
    poll_interval: int = key(60, low=1)
    max_message_bytes: int = key(26214400, low=1024)
    timeout: float = key(30.0, low=1.0)
    maildir: Path | None = key(
        None, "path", clean=str.strip
    )  # read from this Maildir instead of IMAP
    smtp: SmtpConfig | None = key(None, "table")  # [mailbox.smtp]: its own account (mailbox_smtp)

    @property
    def polled(self) -> bool:
        """False for a mailbox with neither host nor maildir: the MTA delivers it by LMTP."""
        return bool(self.host) or self.maildir is not None


@dataclass(frozen=True)
class RulesFiles:
    """The ``[rules]`` section: where the departments, routing and organisations files are."""

    departments: str = key("config/departments.toml", "path")
    routing: str = key("config/routing.toml", "path")
    organisations: str = key("config/organisations.toml", "path")


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
    spam: bool = False  # no ticket, no reply; moved to the mailbox's spam_folder


@dataclass(frozen=True)
class Rule:
    name: str
    when: tuple[Condition, ...]
    then: Action
    continue_: bool = False


@dataclass(frozen=True)
class TemplatesConfig:
    dir: Path = key(Path("templates"), "path")


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
    organisations: OrganisationDirectory = field(default_factory=OrganisationDirectory)
    organisations_path: Path | None = None
    # optional sections ([lifecycle], [sla], [survey], [report]) as parsed, for their own modules
    sections: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    agents_policy: AgentsConfig = field(default_factory=AgentsConfig)
    lifecycle: LifecycleConfig = field(default_factory=LifecycleConfig)
    sla: SlaConfig = field(default_factory=SlaConfig)
    survey: SurveyConfig = field(default_factory=SurveyConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    lmtp: LmtpConfig = field(default_factory=LmtpConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    attachments: AttachmentsConfig = field(default_factory=AttachmentsConfig)
    # problems in the rule files when they were read leniently (``strict_rule_files=False``)
    warnings: tuple[str, ...] = ()

    @cached_property
    def _mailboxes_by_name(self) -> Mapping[str, MailboxConfig]:
        return {m.name: m for m in self.mailboxes}

    @cached_property
    def _departments_by_name(self) -> Mapping[str, Department]:
        return {d.name: d for d in self.departments}

    @cached_property
    def _agents_by_email(self) -> Mapping[str, Agent]:
        return {a.email: a for a in self.agents}

    def mailbox(self, name: str) -> MailboxConfig | None:
        return self._mailboxes_by_name.get(name)

    def department(self, name: str) -> Department | None:
        return self._departments_by_name.get(name)

    def agent(self, email: str) -> Agent | None:
        return self._agents_by_email.get(email.lower())

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
