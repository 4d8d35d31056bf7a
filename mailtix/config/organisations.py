"""Read config/organisations.toml into Organisation values, checking it like the rule files.

Every problem is one line ``FILE:LINE: organisation "NAME" (organisation[i]): KEY: what is
wrong``. A domain or member may belong to one organisation only; free-mail domains
(``domain.free_mail``) cannot be an organisation's domain; ``department`` must be one of
departments.toml. A missing default file means no organisations.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from mailtix.config.reader import (
    MISSING,
    Problems,
    Reader,
    is_domain,
    is_email,
    read_toml,
    show,
    table_lines,
)
from mailtix.domain.addresses import address_key, domain_key
from mailtix.domain.free_mail import is_free_mail
from mailtix.domain.languages import language_tag
from mailtix.domain.vocabulary import PRIORITIES

ORGANISATION_KEYS = (
    "name", "domains", "members", "department", "priority", "tags", "language", "notes",
)  # fmt: skip
MAX_NAME = 100
MAX_NOTES = 2_000  # characters of notes shown in every notification


@dataclass(frozen=True)
class Organisation:
    """One organisation: who belongs to it, and the defaults of its customers' new tickets."""

    name: str
    domains: tuple[str, ...] = ()  # domain keys (lower-case, punycode)
    members: tuple[str, ...] = ()  # address keys
    department: str | None = None
    priority: str | None = None
    tags: tuple[str, ...] = ()
    language: str = ""
    notes: str = ""


@dataclass(frozen=True)
class OrganisationDirectory:
    """Every organisation, with the look-ups matching needs built once per config."""

    organisations: tuple[Organisation, ...] = ()

    @cached_property
    def by_name(self) -> Mapping[str, Organisation]:
        return {o.name.casefold(): o for o in self.organisations}

    @cached_property
    def by_member(self) -> Mapping[str, Organisation]:
        return {m: o for o in self.organisations for m in o.members}

    @cached_property
    def by_domain(self) -> Mapping[str, Organisation]:
        return {d: o for o in self.organisations for d in o.domains}

    def named(self, name: str | None) -> Organisation | None:
        return self.by_name.get(name.casefold()) if name else None

    def __bool__(self) -> bool:
        return bool(self.organisations)


def load_organisations(
    path: Path | None, label: str, problems: Problems, departments: frozenset[str] | None
) -> OrganisationDirectory:
    """The organisations of ``path`` (none without a file); ``departments`` None: unknown."""
    if path is None:
        return OrganisationDirectory()
    data = read_toml(path, label, problems)
    if data is None:
        return OrganisationDirectory()
    top = Reader(problems, label, "", data, ("organisation",))
    lines = table_lines(path, "organisation")
    found: list[Organisation] = []
    owners: dict[str, str] = {}  # domain or member -> organisation name
    for index, table in enumerate(top.tables("organisation")):
        name = table.get("name") if isinstance(table, dict) else None
        prefix = f'organisation "{name}" (organisation[{index}])' if isinstance(name, str) and \
            name else f"organisation[{index}]"  # fmt: skip
        where = f"{label}:{lines[index]}" if index < len(lines) else label
        reader = Reader(problems, where, prefix, table, ORGANISATION_KEYS)
        organisation = _organisation(reader, departments, owners)
        if organisation.name and organisation.name.casefold() in {o.name.casefold() for o in found}:
            reader.problem("name", f'duplicate organisation "{organisation.name}"')
        elif organisation.name:
            found.append(organisation)
    return OrganisationDirectory(tuple(found))


def _organisation(
    reader: Reader, departments: frozenset[str] | None, owners: dict[str, str]
) -> Organisation:
    name = reader.text("name", required=True).strip()
    if len(name) > MAX_NAME or not name.isprintable():
        reader.problem("name", f"must be at most {MAX_NAME} printable characters")
        name = ""
    department = reader.text("department").strip() or None
    if department and departments is not None and department not in departments:
        known = ", ".join(sorted(departments))
        reader.problem("department", f'unknown department "{department}" (defined: {known})')
    priority = reader.choice("priority", "normal", PRIORITIES) if reader.has("priority") else None
    language = language_tag(reader.text("language"))
    if language is None:
        reader.problem("language", f'must be a language tag like "de" or "pt-br", got '
                       f"{show(reader.raw('language'))}")  # fmt: skip
    notes = reader.text("notes").strip()
    if len(notes) > MAX_NOTES:
        reader.problem("notes", f"must be at most {MAX_NOTES} characters, got {len(notes)}")
    return Organisation(
        name=name,
        domains=_domains(reader, name, owners),
        members=_members(reader, name, owners),
        department=department,
        priority=priority,
        tags=_tags(reader),
        language=language or "",
        notes=notes[:MAX_NOTES],
    )


def _list(reader: Reader, key: str) -> list[str]:
    raw = reader.raw(key)
    if raw is MISSING or raw == []:
        return []
    if isinstance(raw, list) and all(isinstance(v, str) for v in raw):
        return raw
    reader.problem(key, f"must be a list of strings, got {show(raw)}")
    return []


def _domains(reader: Reader, name: str, owners: dict[str, str]) -> tuple[str, ...]:
    found: list[str] = []
    for position, text in enumerate(_list(reader, "domains")):
        domain = domain_key(text)
        key = f"domains[{position}]"
        if not is_domain(domain) or "." not in domain:
            reader.problem(key, f'must be a domain name like bigcorp.example, got "{text}"')
        elif is_free_mail(domain):
            reader.problem(key, f'"{domain}" is a free-mail domain: anyone can have an address '
                           "there; list the organisation's people in members instead")  # fmt: skip
        elif _taken(reader, key, domain, name, owners):
            found.append(domain)
    return tuple(dict.fromkeys(found))


def _members(reader: Reader, name: str, owners: dict[str, str]) -> tuple[str, ...]:
    found: list[str] = []
    for position, text in enumerate(_list(reader, "members")):
        member = address_key(text)
        key = f"members[{position}]"
        if not is_email(member):
            reader.problem(key, f'must be an email address, got "{text}"')
        elif _taken(reader, key, member, name, owners):
            found.append(member)
    return tuple(dict.fromkeys(found))


def _taken(reader: Reader, key: str, value: str, name: str, owners: dict[str, str]) -> bool:
    """Record ``value`` for ``name``; False (and a problem) if another organisation has it."""
    owner = owners.setdefault(value, name)
    if owner != name:
        reader.problem(key, f'"{value}" already belongs to organisation "{owner}"')
        return False
    return True


def _tags(reader: Reader) -> tuple[str, ...]:
    tags = [t.strip() for t in _list(reader, "tags")]
    if any(not t for t in tags):
        reader.problem("tags", "tags must not be empty")
    return tuple(dict.fromkeys(t for t in tags if t))


def language_warnings(
    directory: OrganisationDirectory, templates: Path, label: str, shipped: Path | None = None
) -> list[str]:
    """One line per organisation whose ``language`` has no template directory, neither in
    ``templates`` nor among the ``shipped`` ones it lies over (its customers then get the
    default templates: allowed, but worth knowing)."""
    return [
        f'{label}: organisation "{o.name}": language: no {templates / o.language}/ directory '
        "(nor a shipped one); its customers get the default templates"
        for o in directory.organisations
        if o.language
        and not (templates / o.language).is_dir()
        and not (shipped is not None and (shipped / o.language).is_dir())
    ]
