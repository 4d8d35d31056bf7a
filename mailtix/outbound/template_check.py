"""``mailtix check``'s look at the templates: every file compiles, every kind renders for
every department and language with a sample context (``SAMPLE_CONTEXT``), every canned reply
too, and no override directory is one that is never used.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import jinja2

from mailtix.domain.errors import TemplateError
from mailtix.domain.languages import language_tag
from mailtix.outbound.render import BARE_KINDS, PARTS, REPLIES, TemplateRenderer, bare_context
from mailtix.outbound.template_sandbox import describe, one_line

# Context used by check_templates() for a trial render of every kind.
SAMPLE_CONTEXT: Mapping[str, object] = {
    "ticket": {
        "ref": "SUP-42",
        "subject": "Printer on fire",
        "status": "new",
        "priority": "normal",
        "department": "general",
        "customer": "carol@example.org",
        "assignee": "alice@example.com",
        "tags": ["printer"],
    },
    "customer": {"email": "carol@example.org", "name": "Carol Customer"},
    "mailbox": {"name": "support", "address": "support@example.com", "display_name": "Support"},
    "agent": {"email": "alice@example.com", "name": "Alice Agent"},
    "event": {"kind": "reply", "title": "Customer reply", "detail": ""},
    "message": {
        "from": "carol@example.org",
        "from_name": "Carol Customer",
        "text": "The printer is on fire again.",
        "attachments": ["photo.jpg"],
        "withheld": [{"name": "invoice.pdf.exe", "why": "double extension .pdf.exe"}],
    },
    "errors": ['#status done: "done" is not one of new | open | pending | resolved | closed'],
    "organisation": {"name": "BigCorp", "notes": "Key account; contract #881"},
    "other_tickets": [{"ref": "SUP-41", "status": "open", "subject": "Toner low"}],
    "change": {
        "status": "resolved",
        "previous": "open",
        "title": "Resolved",
        "automatic": False,
        "autoclose_days": 3,
    },  # fmt: skip
    "reminder": {"days_waiting": 3, "autoresolve_days": 7},
    "replies": ["thanks", "need-details"],
    "notice": "42.0123456789abcdef",
    "audience": ["carol@example.org", "dan@example.org"],
    "lookup": {
        "kind": "find",
        "query": "printer",
        "tickets": [{"ref": "SUP-7", "status": "open", "subject": "Printer jams"}],
        "more": False,
    },
    "sla": {
        "target": "first response",
        "state": "breached",
        "title": "SLA first response breached",
        "due": "2026-11-23 17:00 CET",
    },  # fmt: skip
    "survey": {
        "ratings": [1, 2, 3, 4, 5],
        "links": [
            {
                "rating": n,
                "href": f"mailto:support@example.com?subject=Re%3A%20%5BSUP-42"
                f"%5D%20Rating%20{n}&body={n}",
            }
            for n in range(1, 6)
        ],
    },  # fmt: skip
}


def check_templates(
    directory: Path,
    kinds: Iterable[str],
    departments: Iterable[str],
    sample_context: Mapping[str, object] = SAMPLE_CONTEXT,
    defaults: Path | None = None,
) -> list[str]:
    """Compile every template in ``directory`` (over ``defaults``, if given) and trial-render
    every kind for every department.

    Returns one problem line per missing required template, stray override directory, syntax
    error, sandbox violation or undefined variable; an empty list means all is well.
    """
    directory = Path(directory)
    if not directory.is_dir():
        return [f"{directory}: templates directory does not exist"]
    kinds, departments = list(kinds), list(departments)
    renderer = TemplateRenderer(directory, defaults=defaults)
    problems = [
        f"{directory / f'{kind}.{part}.j2'}: required template is missing"
        for kind in kinds
        for part in PARTS
        if not renderer._exists(f"{kind}.{part}.j2")
    ]
    problems += _stray_directories(directory, departments)
    languages = sorted({
        lang for d in renderer.directories for lang in language_directories(d, departments)
    })  # fmt: skip
    for name in renderer._env.list_templates(extensions=["j2"]):
        try:
            renderer._env.get_template(name)
        except jinja2.TemplateSyntaxError as exc:
            problems.append(f"{renderer._path(exc.name or name)}: {one_line(describe(exc))}")
    if problems:
        return problems
    for kind in kinds:
        for department in [None, *departments]:
            for language in ["", *languages]:
                context = bare_context(sample_context) if kind in BARE_KINDS else sample_context
                try:
                    renderer.render(kind, context, department, language)
                except TemplateError as exc:
                    if str(exc) not in problems:
                        problems.append(str(exc))
    for name in renderer.reply_names():  # canned replies (#reply NAME) get a trial render too
        for language in ["", *languages]:
            try:
                renderer.render_reply(name, sample_context, language)
            except TemplateError as exc:
                if str(exc) not in problems:
                    problems.append(str(exc))
    return problems


def language_directories(directory: Path, departments: list[str]) -> list[str]:
    """The language directories (``de/``) of ``directory`` and of its department directories."""
    known = set(departments)
    return sorted({
        child.name
        for folder in [directory, *(directory / d for d in departments)]
        if folder.is_dir()
        for child in folder.iterdir()
        if child.is_dir() and child.name not in known and language_tag(child.name) == child.name
    })  # fmt: skip


def _stray_directories(directory: Path, departments: list[str]) -> list[str]:
    known = set(departments)
    return [
        f"{child}: not a configured department or a language, these overrides are never used"
        for child in sorted(directory.iterdir())
        if child.is_dir()
        and not child.name.startswith(".")
        and child.name not in known
        and child.name != REPLIES
        and language_tag(child.name) != child.name
    ]
