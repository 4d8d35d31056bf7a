"""Read mailtix.toml (+ departments and routing files) once into frozen, validated objects.

Every problem found is reported as one line "FILE: KEY: what is wrong" in a ConfigError; nothing
here raises anything else for bad input. Defaults worth knowing: a missing *default* departments or
routing file means no departments (one implicit "general" with no agents) or no rules, while an
explicitly named missing file is an error; ``[templates] dir`` falls back to the templates/
directory shipped next to the mailtix package when the default "templates" does not exist; a
relative SQLite path is made absolute against the config file's directory.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import mailtix
from mailtix.config.lifecycle import load_lifecycle
from mailtix.config.model import (
    SECURITY_MODES,
    Config,
    Department,
    MailboxConfig,
    SmtpConfig,
    StoreConfig,
    TemplatesConfig,
    TicketsConfig,
)
from mailtix.config.reader import (
    MISSING,
    Problems,
    Reader,
    absolute_store_url,
    check_secret,
    is_domain,
    is_email,
    is_loopback,
    optional_file,
    optional_sections,
    read_toml,
)
from mailtix.domain.errors import ConfigError

MAIN_KEYS = ("store", "tickets", "smtp", "mailbox", "rules", "templates", "agents")
OPTIONAL_SECTIONS = ("lifecycle", "sla", "survey", "report")
STORE_KEYS = ("url",)
TICKETS_KEYS = (
    *("prefix", "acknowledge_followups", "message_id_domain", "auto_reply_limit_per_hour"),
    *("max_mails_per_ticket_per_hour", "automated_mail", "suppression_days"),
)
SECRET_KEYS = ("password", "password_env", "password_file")
SMTP_KEYS = (
    "host", "port", "security", "username", "timeout", "maildir", "connections", *SECRET_KEYS
)  # fmt: skip
MAILBOX_KEYS = (
    *("name", "address", "display_name", "host", "port", "security", "username", "folder"),
    *("processed_folder", "quarantine_folder", "department", "poll_interval"),
    *("max_message_bytes", "timeout", "maildir", *SECRET_KEYS),
)
RULES_KEYS = ("departments", "routing")
TEMPLATES_KEYS = ("dir",)
DEFAULT_STORE_URL = "sqlite:///var/mailtix.db"
DEFAULT_DEPARTMENTS = "config/departments.toml"
DEFAULT_ROUTING = "config/routing.toml"
DEFAULT_TEMPLATES = "templates"
SHIPPED_TEMPLATES = Path(mailtix.__file__).resolve().parent.parent / "templates"
PREFIX = re.compile(r"^[A-Z][A-Z0-9]{0,9}$")


def load_config(
    path: Path,
    env: Mapping[str, str] | None = None,
    *,
    secrets: bool = True,
    strict_rule_files: bool = True,
) -> Config:
    """Read and validate the config at ``path``; raise ConfigError listing every problem.

    ``env`` (default ``os.environ``) is where ``password_env`` variables are looked up.
    ``secrets=False`` (commands that only read the store): ``*_env`` and ``*_file`` secrets
    are not looked up, so a missing variable or an unreadable file is no problem; they stay
    None. ``strict_rule_files=False`` (the same commands): the routing file is not read (no
    rules), and problems in the departments file are kept in ``Config.warnings`` instead of
    raised.
    """
    problems = Problems()
    rule_problems = problems if strict_rule_files else Problems()
    lookup = dict(os.environ if env is None else env) if secrets else None
    config = _build(Path(path), problems, lookup, rule_problems, strict=strict_rule_files)
    if problems.lines or config is None:
        raise ConfigError(problems.lines or [f"{Path(path).name}: invalid configuration"])
    if rule_problems.lines:
        config = replace(config, warnings=tuple(rule_problems.lines))
    return config


def check_problems(path: Path, env: Mapping[str, str] | None = None) -> list[str]:
    """Every problem with the config at ``path``, one line each; empty when it is fine."""
    try:
        load_config(path, env)
    except ConfigError as exc:
        return list(exc.problems)
    return []


def _build(
    path: Path,
    problems: Problems,
    env: dict[str, str] | None,
    rule_problems: Problems,
    *,
    strict: bool = True,
) -> Config | None:
    from mailtix.config.agents import AGENTS_KEYS, load_agents_policy
    from mailtix.config.report import check_report
    from mailtix.config.rules import Known, load_departments, load_routing

    label, base = path.name, path.absolute().parent
    data = read_toml(path, label, problems)
    if data is None:
        return None
    top = Reader(problems, label, "", data, MAIN_KEYS + OPTIONAL_SECTIONS)

    def section(name: str, keys: tuple[str, ...]) -> Reader:
        return Reader(problems, label, name, data.get(name, {}), keys)

    store = _store(section("store", STORE_KEYS), base)
    mailboxes = _mailboxes(top, base, env)
    tickets = _tickets(section("tickets", TICKETS_KEYS), mailboxes)
    if "smtp" in data:
        smtp = _smtp(section("smtp", SMTP_KEYS), base, env)
    else:
        problems.add(label, "smtp", "section missing: add [smtp] with host (or maildir)")
        smtp = SmtpConfig()
    rules = section("rules", RULES_KEYS)
    departments_path = optional_file(rules, "departments", DEFAULT_DEPARTMENTS, base)
    routing_path = optional_file(rules, "routing", DEFAULT_ROUTING, base)
    templates = _templates(section("templates", TEMPLATES_KEYS), base)
    departments, agents, readable = load_departments(
        departments_path, base, rule_problems, mailboxes
    )
    if readable:
        _check_mailbox_departments(top, mailboxes, departments)
    known = Known(
        frozenset(m.name for m in mailboxes),
        frozenset(d.name for d in departments),
        frozenset(a.email for a in agents),
        readable,
    )
    sections = optional_sections(top, OPTIONAL_SECTIONS)
    check_report(sections, label, problems)
    lifecycle, sla, survey = load_lifecycle(sections, label, problems)
    return Config(
        path=path,
        store=store,
        tickets=tickets,
        smtp=smtp,
        mailboxes=mailboxes,
        departments=departments,
        agents=agents,
        rules=load_routing(routing_path, base, rule_problems, known) if strict else (),
        templates=templates,
        departments_path=departments_path,
        routing_path=routing_path,
        sections=sections,
        agents_policy=load_agents_policy(section("agents", AGENTS_KEYS), base, env),
        lifecycle=lifecycle,
        sla=sla,
        survey=survey,
    )


def _store(reader: Reader, base: Path) -> StoreConfig:
    url = reader.text("url", DEFAULT_STORE_URL)
    absolute = absolute_store_url(url, base)
    if absolute is None:
        shown = re.sub(r"://[^@/]*@", "://***@", url)
        reader.problem(
            "url", f'must be "sqlite:///PATH" or "postgresql://USER@HOST:PORT/DB", got "{shown}"'
        )
        return StoreConfig(DEFAULT_STORE_URL)
    return StoreConfig(absolute)


def _tickets(reader: Reader, mailboxes: tuple[MailboxConfig, ...]) -> TicketsConfig:
    prefix = reader.text("prefix", "SUP")
    if not PREFIX.match(prefix):
        reader.problem(
            "prefix",
            f'must be 1-10 upper-case letters or digits starting with a letter, got "{prefix}"',
        )
    domain = reader.text("message_id_domain", "").lower()
    if domain and not is_domain(domain):
        reader.problem("message_id_domain", f'must be a domain name, got "{domain}"')
    if not domain and mailboxes:
        domain = mailboxes[0].address.rpartition("@")[2]
    return TicketsConfig(
        prefix=prefix,
        acknowledge_followups=reader.boolean("acknowledge_followups", False),
        message_id_domain=domain,
        auto_reply_limit_per_hour=reader.integer("auto_reply_limit_per_hour", 5, 0),
        max_mails_per_ticket_per_hour=reader.integer("max_mails_per_ticket_per_hour", 20, 1),
        automated_mail=reader.choice("automated_mail", "ticket", ("ticket", "ignore")),
        suppression_days=reader.integer("suppression_days", 30, 1),
    )


def _transport(
    reader: Reader, base: Path, default_port: int, default_security: str
) -> dict[str, Any]:
    """The keys [smtp] and [[mailbox]] share: host or maildir, port, security, timeout."""
    host = reader.text("host").strip()
    maildir_name = reader.text("maildir").strip()
    if reader.has("host") and reader.has("maildir"):
        reader.problem("maildir", "give either host or maildir, not both")
    elif not host and not maildir_name:
        reader.problem("host", 'required (or maildir = "path" for a local Maildir)')
    security = reader.choice("security", default_security, SECURITY_MODES)
    if security == "none" and host and not is_loopback(host):
        reader.problem(
            "security",
            f'"none" would send the password unencrypted; it is only allowed for a loopback host '
            f'(127.0.0.1, ::1, localhost), not "{host}" — use tls or starttls',
        )
    return {
        "host": host,
        "port": reader.integer("port", default_port, 1, 65535),
        "security": security,
        "timeout": reader.number("timeout", 30.0, 1.0),
        "maildir": (base / maildir_name) if maildir_name and not host else None,
    }


def _smtp(reader: Reader, base: Path, env: dict[str, str] | None) -> SmtpConfig:
    common = _transport(reader, base, 587, "starttls")
    username = reader.text("username").strip() or None
    password = check_secret(reader, base, env)
    if username and password is None and not any(reader.has(k) for k in SECRET_KEYS):
        reader.problem(
            "password", "required when username is set (or password_env / password_file)"
        )
    if username is None and any(reader.has(k) for k in SECRET_KEYS):
        reader.problem("username", "required when a password is given")
    connections = reader.integer("connections", 2, 1, 16)
    return SmtpConfig(username=username, password=password, connections=connections, **common)


def _mailboxes(top: Reader, base: Path, env: dict[str, str] | None) -> tuple[MailboxConfig, ...]:
    tables = top.tables("mailbox")
    if top.raw("mailbox") in (MISSING, []):
        top.problem(
            "mailbox", "at least one [[mailbox]] is required (name, address, host or maildir)"
        )
    found: list[MailboxConfig] = []
    for index, table in enumerate(tables):
        reader = Reader(top.problems, top.file, f"mailbox[{index}]", table, MAILBOX_KEYS)
        mailbox = _mailbox(reader, base, env)
        if mailbox.name and any(m.name == mailbox.name for m in found):
            reader.problem("name", f'duplicate mailbox name "{mailbox.name}"')
        elif mailbox.address and any(m.address == mailbox.address for m in found):
            reader.problem("address", f'"{mailbox.address}" is already used by another mailbox')
        found.append(mailbox)
    return tuple(found)


def _mailbox(reader: Reader, base: Path, env: dict[str, str] | None) -> MailboxConfig:
    name = reader.text("name", required=True).strip()
    address = reader.text("address", required=True).strip().lower()
    if address and not is_email(address):
        reader.problem(
            "address", f'must be an email address like support@example.com, got "{address}"'
        )
    common = _transport(reader, base, 993, "tls")
    password = check_secret(reader, base, env)
    imap = common["host"] and not reader.has("maildir")
    if imap and password is None and not any(reader.has(k) for k in SECRET_KEYS):
        reader.problem("password", "required for IMAP (password, password_env or password_file)")
    folders = {k: reader.text(k, d, required=reader.has(k)) for k, d in FOLDERS.items()}
    for key in ("processed_folder", "quarantine_folder"):
        if folders[key] == folders["folder"]:
            reader.problem(key, f'must differ from folder ("{folders["folder"]}")')
    return MailboxConfig(
        name=name,
        address=address,
        display_name=reader.text("display_name", "Support"),
        username=reader.text("username", address).strip(),
        password=password,
        department=reader.text("department", "general", required=reader.has("department")).strip(),
        poll_interval=reader.integer("poll_interval", 60, 1),
        max_message_bytes=reader.integer("max_message_bytes", 26214400, 1024),
        folder=folders["folder"],
        processed_folder=folders["processed_folder"],
        quarantine_folder=folders["quarantine_folder"],
        **common,
    )


FOLDERS = {"folder": "INBOX", "processed_folder": "Processed", "quarantine_folder": "Quarantine"}


def _check_mailbox_departments(
    top: Reader, mailboxes: tuple[MailboxConfig, ...], departments: tuple[Department, ...]
) -> None:
    names = [d.name for d in departments]
    for index, mailbox in enumerate(mailboxes):
        if mailbox.department and mailbox.department not in names:
            top.problems.add(
                top.file,
                f"mailbox[{index}].department",
                f'unknown department "{mailbox.department}" (defined: {", ".join(names)})',
            )


def _templates(reader: Reader, base: Path) -> TemplatesConfig:
    """``dir`` relative to the config file; the default falls back to the shipped templates/."""
    name = reader.text("dir", DEFAULT_TEMPLATES) or DEFAULT_TEMPLATES
    path = base / name
    if path.is_dir():
        return TemplatesConfig(path)
    if name.rstrip("/") == DEFAULT_TEMPLATES:
        return TemplatesConfig(SHIPPED_TEMPLATES)
    reader.problem("dir", f"directory not found: {path}")
    return TemplatesConfig(SHIPPED_TEMPLATES)
