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
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from mailtix.config import lmtp, mailbox_smtp, operations, sections
from mailtix.config.lifecycle import LifecycleConfig, SlaKeys, SurveyConfig, load_lifecycle
from mailtix.config.model import (
    AgentsConfig,
    AttachmentsConfig,
    Config,
    Department,
    MailboxConfig,
    RulesFiles,
    SmtpConfig,
    StoreConfig,
    TemplatesConfig,
    TicketsConfig,
)
from mailtix.config.privacy import PrivacyConfig, load_privacy
from mailtix.config.reader import Problems, Reader, optional_sections, read_toml
from mailtix.config.report import ReportConfig, load_report
from mailtix.config.schema import keys, read_keys
from mailtix.domain.errors import ConfigError

SECTIONS = {
    "store": StoreConfig, "tickets": TicketsConfig, "smtp": SmtpConfig, "mailbox": MailboxConfig,
    "rules": RulesFiles, "templates": TemplatesConfig, "agents": AgentsConfig,
    "metrics": operations.MetricsConfig, "logging": operations.LoggingConfig,
    "attachments": AttachmentsConfig, "lmtp": lmtp.LmtpConfig,
}  # fmt: skip
OPTIONAL_SECTIONS = {
    "lifecycle": LifecycleConfig, "sla": SlaKeys, "survey": SurveyConfig, "report": ReportConfig,
    "privacy": PrivacyConfig,
}  # fmt: skip
__all__ = ["check_problems", "load_config"]


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
    from mailtix.config.agents import load_agents_policy
    from mailtix.config.organisations import load_organisations
    from mailtix.config.rules import Known, load_departments, load_routing

    label, base = path.name, path.absolute().parent
    data = read_toml(path, label, problems)
    if data is None:
        return None
    top = Reader(problems, label, "", data, (*SECTIONS, *OPTIONAL_SECTIONS))

    def section(name: str) -> Reader:
        return Reader(problems, label, name, data.get(name, {}), keys(SECTIONS[name]))

    store = sections.store(section("store"), base)
    mailboxes = sections.mailboxes(top, base, env)
    tickets = sections.tickets(section("tickets"), mailboxes)
    if "smtp" in data:
        smtp = sections.smtp(section("smtp"), base, env)
    else:
        problems.add(label, "smtp", "section missing: add [smtp] with host (or maildir)")
        smtp = SmtpConfig()
    mailboxes = mailbox_smtp.attach(top, data.get("smtp"), mailboxes, base, env, smtp)
    rules_section = section("rules")
    departments_path, routing_path = sections.rule_files(rules_section, base)
    organisations_path = sections.organisations_file(rules_section, base)
    templates = sections.templates(section("templates"), base)
    departments, agents, readable = load_departments(
        departments_path, base, rule_problems, mailboxes
    )
    if readable:
        _check_mailbox_departments(top, mailboxes, departments)
    organisations = load_organisations(
        organisations_path, _label(organisations_path, base), rule_problems,
        frozenset(d.name for d in departments) if readable else None,
    )  # fmt: skip
    known = Known(
        frozenset(m.name for m in mailboxes),
        frozenset(d.name for d in departments),
        frozenset(a.email for a in agents),
        readable,
        frozenset(o.name.casefold() for o in organisations.organisations),
    )
    optional = optional_sections(top, tuple(OPTIONAL_SECTIONS))
    report = load_report(optional, label, problems)
    lifecycle, sla, survey = load_lifecycle(optional, label, problems)
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
        organisations=organisations,
        organisations_path=organisations_path,
        sections=optional,
        agents_policy=load_agents_policy(section("agents"), base, env),
        lifecycle=lifecycle,
        sla=sla,
        survey=survey,
        report=report,
        privacy=load_privacy(optional, label, problems),
        metrics=operations.metrics(section("metrics")),
        lmtp=lmtp.lmtp(section("lmtp")),
        logging=operations.logging_config(section("logging")),
        attachments=AttachmentsConfig(**read_keys(AttachmentsConfig, section("attachments"))),
    )


def _label(path: Path | None, base: Path) -> str:
    from mailtix.config.rules import file_label

    return file_label(path, base) if path is not None else ""


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
