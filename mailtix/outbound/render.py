"""Render mail templates: the only module that imports jinja2.

Templates are fixed files chosen by mailtix (``<kind>.subject.j2``, ``<kind>.txt.j2``,
``<kind>.html.j2``), optionally overridden per department in ``<dir>/<department>/`` and per
language in ``<dir>/<lang>/`` (``templates/de/``); of each file the first that exists is used:
``<department>/<lang>/``, ``<lang>/``, ``<department>/``, the default. The directory may lie
over a second one of defaults (the shipped templates): a file missing from the first comes from
the second. Customer
data only ever enters as *context*: it is never compiled, so ``{{ 7*7 }}`` in a subject stays
literally ``{{ 7*7 }}``. Templates are compiled in Jinja2's ``SandboxedEnvironment`` (they may be
edited by an administrator), with ``StrictUndefined``, HTML autoescaping for ``.html.j2`` and
limits on output size, repetition and rendering time. Every failure is a ``TemplateError`` with
one line naming the template file.
"""

from __future__ import annotations

import functools
import logging
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from jinja2.sandbox import SandboxedEnvironment, SecurityError

from mailtix.domain.errors import TemplateError
from mailtix.domain.languages import language_tag

log = logging.getLogger(__name__)

PARTS = ("subject", "txt", "html")
MAX_OUTPUT_CHARS = 1_000_000  # per rendered part
MAX_SUBJECT_CHARS = 250
MAX_RANGE = 10_000  # items a template's range() may produce
MAX_RENDER_SECONDS = 5.0
RECHECK_SECONDS = 1.0  # a template file is looked at again (edited? overridden?) after this
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*\Z")
_HUGE_WIDTH = re.compile(r"[%{][^a-zA-Z%{}]*\d{7,}")
_SUBJECT_JUNK = re.compile(r"[\s\x00-\x1f\x7f-\x9f\u2028\u2029]+")

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


def _guard_numbers(args: Iterable[Any]) -> None:
    """Refuse numbers big enough to make a value of more than MAX_OUTPUT_CHARS characters."""
    for arg in args:
        if isinstance(arg, int) and abs(arg) > MAX_OUTPUT_CHARS:
            raise SecurityError(f"number {arg} is too large for a template")


def _guard_format(value: Any) -> None:
    """Refuse a format string asking for a huge field width (``%999999999s``, ``{:999999999}``)."""
    if isinstance(value, str) and _HUGE_WIDTH.search(value):
        raise SecurityError("format width too large for a template")


def _guarded_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    first = 1 if hasattr(function, "jinja_pass_arg") else 0  # context/environment comes first

    @functools.wraps(function)  # keeps jinja's pass_context & co. markers
    def guarded(*args: Any, **kwargs: Any) -> Any:
        if name == "format":  # numbers are its data; the format string sets the size
            _guard_format(args[first] if len(args) > first else None)
        else:
            _guard_numbers([*args[first + 1 :], *kwargs.values()])  # arguments, not the value
        return function(*args, **kwargs)

    return guarded


class _LimitedSandbox(SandboxedEnvironment):
    """The Jinja2 sandbox, plus size checks on arguments so a template cannot build huge values
    (``"x" * 10**9``, ``"x".ljust(10**9)``, ``"x"|center(10**9)``, ``"%999999999s"|format(1)``).
    """

    intercepted_binops = frozenset({"*", "**", "%"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.filters = {name: _guarded_filter(name, f) for name, f in self.filters.items()}

    def call_binop(self, context: Any, operator_name: str, left: Any, right: Any) -> Any:
        if operator_name == "**" and isinstance(right, int) and abs(right) > 100:
            raise SecurityError("exponent too large for a template")
        if operator_name == "%":
            _guard_format(left)
        if operator_name == "*":
            for seq, count in ((left, right), (right, left)):
                sized = isinstance(seq, str | list | tuple) and isinstance(count, int)
                if sized and len(seq) * count > MAX_OUTPUT_CHARS:
                    raise SecurityError("repeated value too large for a template")
        return super().call_binop(context, operator_name, left, right)

    def call(
        __self,  # noqa: N805 (jinja's signature)
        __context: Any,
        __obj: Any,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        if getattr(__obj, "__name__", "") not in ("format", "format_map"):  # see below
            _guard_numbers([*args, *kwargs.values()])
        return super().call(__context, __obj, *args, **kwargs)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """``str.format``/``format_map``, reached as an attribute: refuse huge widths first."""
        if getattr(value, "__name__", "") in ("format", "format_map"):
            _guard_format(getattr(value, "__self__", None))
        return super().wrap_str_format(value)


def _autoescape(name: str | None) -> bool:
    return name is not None and name.endswith(".html.j2")


def _make_environment(
    directories: list[Path], deadline: Callable[[], None]
) -> SandboxedEnvironment:
    env = _LimitedSandbox(
        loader=jinja2.FileSystemLoader([str(d) for d in directories]),
        undefined=jinja2.StrictUndefined,
        autoescape=_autoescape,
        keep_trailing_newline=True,
        auto_reload=True,
    )

    def limited_range(*args: int) -> Iterator[int]:
        numbers = range(*args)
        if len(numbers) > MAX_RANGE:
            raise SecurityError(f"range() larger than {MAX_RANGE} items")
        for number in numbers:
            deadline()
            yield number

    env.globals["range"] = limited_range
    return env


def clean_subject(value: str) -> str:
    """One line: control characters and line breaks become one space; capped at 250 chars."""
    return _SUBJECT_JUNK.sub(" ", value).strip()[:MAX_SUBJECT_CHARS].rstrip()


def _describe(exc: Exception) -> str:
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return f"line {exc.lineno}: syntax error: {exc.message}"
    if isinstance(exc, SecurityError):
        return f"not allowed in the sandbox: {exc}"
    if isinstance(exc, jinja2.UndefinedError):
        return f"undefined: {exc.message}"
    if isinstance(exc, jinja2.TemplateNotFound):
        return f"includes a missing template {exc.name}"
    return f"{type(exc).__name__}: {exc}"


def _one_line(text: str) -> str:
    return " ".join(text.split())


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
        self._env = _make_environment(self.directories, self._check_deadline)
        self._looked_up: dict[tuple[str, ...], tuple[float, str, jinja2.Template]] = {}

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
            raise TemplateError(f"{self._path(name)}: {_describe(exc)}") from None
        except jinja2.TemplateSyntaxError as exc:
            failed = self._path(exc.name or name)
            raise TemplateError(f"{failed}: {_one_line(_describe(exc))}") from None
        except Exception as exc:  # anything a template can raise at run time
            raise TemplateError(f"{self._path(name)}: {_one_line(_describe(exc))}") from None

    def _generate(self, template: jinja2.Template, context: dict[str, object]) -> str:
        self._started = time.monotonic()
        chunks: list[str] = []
        size = 0
        for chunk in template.generate(context):
            size += len(chunk)
            if size > MAX_OUTPUT_CHARS:
                raise TemplateError(f"output larger than {MAX_OUTPUT_CHARS} characters")
            self._check_deadline()
            chunks.append(chunk)
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
        """The canned replies installed (``replies/NAME.txt.j2``), sorted."""
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
            raise TemplateError(f"{self._path(chosen)}: {_one_line(_describe(exc))}") from None


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
            problems.append(f"{renderer._path(exc.name or name)}: {_one_line(_describe(exc))}")
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


def bare_context(context: Mapping[str, Any]) -> dict[str, object]:
    """What a bare kind sees of ``context``: the ticket's reference and the mailbox."""
    ticket = context.get("ticket")
    ref = ticket.get("ref", "") if isinstance(ticket, Mapping) else ""
    return {"ticket": {"ref": ref}, "mailbox": context.get("mailbox", {})}


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
