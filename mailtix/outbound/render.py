"""Render mail templates (jinja2 is imported only here, in ``template_sandbox`` and in
``template_check``).

Templates are fixed files chosen by mailtix (``<kind>.subject.j2``, ``<kind>.txt.j2``,
``<kind>.html.j2``), optionally overridden per department in ``<dir>/<department>/`` and per
language in ``<dir>/<lang>/`` (``templates/de/``); of each file the first that exists is used:
``<department>/<lang>/``, ``<lang>/``, ``<department>/``, the default. The directory may lie
over a second one of defaults (the shipped templates): a file missing from the first comes from
the second. Customer data only ever enters as *context*: it is never compiled, so
``{{ 7*7 }}`` in a subject stays literally ``{{ 7*7 }}``. Templates are compiled once per
process (and again only when their file changes) in the sandbox of ``template_sandbox``, with
limits on output size, repetition and rendering time. Every failure is a ``TemplateError`` with
one line naming the template file.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

import jinja2

from mailtix.domain.errors import TemplateError
from mailtix.domain.languages import language_tag
from mailtix.outbound.template_sandbox import (
    MAX_OUTPUT_CHARS,
    describe,
    make_environment,
    one_line,
)

log = logging.getLogger(__name__)

PARTS = ("subject", "txt", "html")
MAX_SUBJECT_CHARS = 250
MAX_RENDER_SECONDS = 5.0
#: Output pieces a template yields between checks of the size and the clock; every range()
#: item is checked too, so a loop that yields nothing still meets the deadline.
CHECK_EVERY = 16
RECHECK_SECONDS = 1.0  # a template file is looked at again (edited? overridden?) after this
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")
_SUBJECT_JUNK = re.compile(r"[\s\x00-\x1f\x7f-\x9f\u2028\u2029]+")

KINDS = (
    "acknowledgement", "acknowledgement_minimal", "notification", "relay", "command_error",
    "unverified", "status", "reminder", "escalation", "survey", "lookup", "forward_hint",
)  # fmt: skip
#: Kinds rendered with only ``ticket.ref`` and ``mailbox`` (``bare_context``): nothing a
#: possibly forged sender wrote, whatever the template asks for.
BARE_KINDS = frozenset({"acknowledgement_minimal"})
REPLIES = "replies"  # canned replies (#reply NAME): <dir>/replies/NAME.txt.j2


@dataclass(frozen=True)
class RenderedMail:
    """The three rendered parts of one mail: a one-line subject, plain text and HTML."""

    subject: str
    text: str
    html: str


def clean_subject(value: str) -> str:
    """One line: control characters and line breaks become one space; capped at 250 chars."""
    return _SUBJECT_JUNK.sub(" ", value).strip()[:MAX_SUBJECT_CHARS].rstrip()


class TemplateRenderer:
    """Renders mail ``kind``s from the templates in ``directory`` (per-department overrides),
    and from ``defaults`` what ``directory`` lacks.

    Which file renders a part, and whether it changed, is looked up at most once every
    ``recheck_seconds`` per part (``monotonic`` is the clock): an edited or newly added
    template takes effect within that time, and a poll does not stat six files per mail.
    """

    def __init__(
        self,
        directory: Path,
        *,
        defaults: Path | None = None,
        recheck_seconds: float = RECHECK_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.directory = Path(directory)
        self.directories = [self.directory]
        if defaults is not None and Path(defaults).resolve() != self.directory.resolve():
            self.directories.append(Path(defaults))
        self.recheck_seconds = recheck_seconds
        self._monotonic = monotonic
        self._started = 0.0
        self._env = make_environment(self.directories, self._check_deadline)
        self._looked_up: dict[tuple[str, ...], tuple[float, str, jinja2.Template]] = {}
        self._replies: tuple[float, tuple[str, ...]] | None = None  # (when listed, names)

    def render(
        self,
        kind: str,
        context: Mapping[str, object],
        department: str | None = None,
        language: str = "",
    ) -> RenderedMail:
        """Render the subject, text and HTML of ``kind``; raise TemplateError on any problem."""
        if not _SAFE_NAME.match(kind):
            raise TemplateError(f"invalid template kind {kind!r}")
        values = dict(context)
        where = (department or "", language_tag(language) or "")
        subject = self._render_part(kind, "subject", values, where)
        return RenderedMail(
            subject=clean_subject(subject),
            text=self._render_part(kind, "txt", values, where),
            html=self._render_part(kind, "html", values, where),
        )

    def template_name(
        self, kind: str, part: str, department: str | None = None, language: str = ""
    ) -> str:
        """The file (relative to the directory) that renders ``part`` of ``kind``."""
        base = f"{kind}.{part}.j2"
        dept = department if department and _SAFE_NAME.match(department) else ""
        lang = language_tag(language) or ""
        candidates = [f"{dept}/{lang}", lang, dept] if dept and lang else [lang or dept]
        for folder in candidates:
            if folder and self._exists(f"{folder}/{base}"):
                return f"{folder}/{base}"
        return base

    def _render_part(
        self, kind: str, part: str, context: dict[str, object], where: tuple[str, str]
    ) -> str:
        key, now = (kind, part, *where), self._monotonic()
        known = self._looked_up.get(key)  # (when looked up, file name, template): see above
        if known is not None and now - known[0] < self.recheck_seconds:
            _, name, template = known
        else:
            name, template = self.template_name(kind, part, *where), None
        try:
            if template is None:
                template = self._env.get_template(name)  # compiled again if the file changed
                self._looked_up[key] = (now, name, template)
            return self._generate(template, context)
        except TemplateError as exc:
            raise TemplateError(f"{self._path(name)}: {exc}") from None
        except jinja2.TemplateNotFound as exc:
            if exc.name == name:
                raise TemplateError(f"{self._path(name)}: template not found") from None
            raise TemplateError(f"{self._path(name)}: {describe(exc)}") from None
        except jinja2.TemplateSyntaxError as exc:
            failed = self._path(exc.name or name)
            raise TemplateError(f"{failed}: {one_line(describe(exc))}") from None
        except Exception as exc:  # anything a template can raise at run time
            raise TemplateError(f"{self._path(name)}: {one_line(describe(exc))}") from None

    def _generate(self, template: jinja2.Template, context: dict[str, object]) -> str:
        self._started = time.monotonic()
        chunks: list[str] = []
        size = 0
        pieces = template.generate(context)
        while batch := list(islice(pieces, CHECK_EVERY)):
            size += sum(map(len, batch))
            if size > MAX_OUTPUT_CHARS:
                raise TemplateError(f"output larger than {MAX_OUTPUT_CHARS} characters")
            self._check_deadline()
            chunks += batch
        return "".join(chunks)

    def _check_deadline(self) -> None:
        if time.monotonic() - self._started > MAX_RENDER_SECONDS:
            raise TemplateError(f"rendering took longer than {MAX_RENDER_SECONDS:g} seconds")

    def _exists(self, name: str) -> bool:
        return any((d / name).is_file() for d in self.directories)

    def _path(self, name: str) -> str:
        """The file that renders ``name`` (the first directory's when none has it)."""
        found = (d / name for d in self.directories if (d / name).is_file())
        return str(next(found, self.directory / name))

    def reply_names(self) -> list[str]:
        """The canned replies installed (``replies/NAME.txt.j2``), sorted; the directories
        are listed again at most every ``recheck_seconds`` (every notification shows them)."""
        now = self._monotonic()
        if self._replies is not None and now - self._replies[0] < self.recheck_seconds:
            return list(self._replies[1])
        names = self._list_replies()
        self._replies = (now, tuple(names))
        return names

    def _list_replies(self) -> list[str]:
        suffix = ".txt.j2"
        names = {
            p.name[: -len(suffix)]
            for folder in (d / REPLIES for d in self.directories)
            if folder.is_dir()
            for p in folder.iterdir()
            if p.name.endswith(suffix)
        }
        return sorted(n for n in names if _SAFE_NAME.match(n))

    def render_reply(
        self, name: str, context: Mapping[str, object], language: str | None = None
    ) -> str:
        """Canned reply ``name`` rendered with ``context`` (the ticket, its customer, the
        agent), in the sandbox like every template; ``<language>/replies/`` first when given.
        TemplateError when it is missing or fails."""
        if not _SAFE_NAME.match(name):
            raise TemplateError(f"invalid canned reply name {name!r}")
        base = f"{REPLIES}/{name}.txt.j2"
        chosen = base
        localised = f"{language}/{base}" if language and _SAFE_NAME.match(language) else None
        if localised and self._exists(localised):
            chosen = localised
        if not self._exists(chosen):
            raise TemplateError(f"{self._path(chosen)}: no such canned reply")
        try:
            return self._generate(self._env.get_template(chosen), dict(context)).strip("\n")
        except TemplateError as exc:
            raise TemplateError(f"{self._path(chosen)}: {exc}") from None
        except Exception as exc:  # syntax errors, sandbox, undefined: one line
            raise TemplateError(f"{self._path(chosen)}: {one_line(describe(exc))}") from None


def bare_context(context: Mapping[str, Any]) -> dict[str, object]:
    """What a bare kind sees of ``context``: the ticket's reference and the mailbox."""
    ticket = context.get("ticket")
    ref = ticket.get("ref", "") if isinstance(ticket, Mapping) else ""
    return {"ticket": {"ref": ref}, "mailbox": context.get("mailbox", {})}
