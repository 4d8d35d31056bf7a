"""Letters made ahead: in a large poll, the child that parses mail ahead of the pipeline
(``inbound.parse_ahead``) also renders and composes the mail the poll queues, on the other core,
while the poll goes on with the next messages.

Inside a group of messages (``desks.pipeline``) the mailer queues a letter as ever, with all
that is decided about it: budgets, recipients, Message-ID, threading, its outbox row and its
record on the ticket, and the context of its templates, as plain values. Only the pure part,
rendering the templates and composing the bytes (``make``), goes to the child, PER_REQUEST
letters at a time; the record waits with empty text, the outbox row in memory (counted in the
group's budgets, ``budget_counts``). Before the group commits, ``Deferred.finish`` makes here,
with the same function, the last letters, not sent yet, while the child makes the others; then
inserts every outbox row with its bytes and fills every record, making here each letter the
child has not answered within WAIT; after such a wait ran out, none is waited for until the
child answers again (``ParseAhead.answer``).
A record is filled by id *and* Message-ID, so a record rolled back with its message's savepoint
(its letters are dropped with it, ``restore``) whose id is used again cannot receive another
letter's text.

A template that fails here fails the group (``LetterFailed``): the pipeline then handles the
group's messages one at a time, their letters made in line, so the failure lands on its own
message, as it always has. The child is the program itself, fed only by the poll; what it
answers is read as plain values (``parse_ahead``'s unpickler).

The child is this module: ``python -m mailtix.outbound.letters_ahead DIR [DEFAULTS]``, the
template directories of the poll's renderer.
"""

from __future__ import annotations

import pickle
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from mailtix.domain.errors import TemplateError
from mailtix.domain.values import OutgoingMail
from mailtix.outbound.compose import compose
from mailtix.outbound.render import TemplateRenderer

if TYPE_CHECKING:
    from concurrent.futures import Future

    from mailtix.inbound.parse_ahead import ParseAhead
    from mailtix.store.models import OutboxItem

HANDLER = "letter"

Made = tuple[str, str, str, bytes]  # subject, text, HTML, the composed bytes
PER_REQUEST = 8  # letters a request to the child carries (fewer requests: fewer thread switches)
WAIT = 0.05  # seconds a group waits, at most, for letters still being made by the child


class LetterFailed(Exception):
    """A deferred letter could not be made: the group is handled again, a message at a time."""


class Job(NamedTuple):
    """What making one letter needs: its templates and their context, and the mail around
    them (subject, text and HTML still empty)."""

    template: str
    context: Mapping[str, object]
    department: str | None
    language: str
    mail: OutgoingMail
    date: datetime
    mailer: str  # the X-Mailer value, "" for none


def make(renderer: TemplateRenderer, job: Job) -> Made:
    """Render ``job``'s templates and compose its mail (TemplateError when a template fails)."""
    rendered = renderer.render(job.template, job.context, job.department, job.language)
    mail = replace(job.mail, subject=rendered.subject, text=rendered.text, html=rendered.html)
    return (
        rendered.subject,
        rendered.text,
        rendered.html,
        compose(mail, now=job.date, mailer=job.mailer),
    )


@dataclass
class _Pending:
    row: OutboxItem  # not saved yet: saved with its bytes by finish
    record_id: int | None
    job: bytes  # pickled when queued: made later, it is still what it was then
    made: Made | None = None  # made here already
    answer: Future[list[object]] | None = None  # the child's, once sent
    place: int = 0  # in that answer


class Deferred:
    """The letters of one group, sent to the child a few at a time as they are queued."""

    def __init__(self, worker: ParseAhead) -> None:
        self._worker = worker
        self._pending: list[_Pending] = []
        self._sent = 0  # the letters before this one went to the child

    def add(
        self, renderer: TemplateRenderer, job: Job, row: OutboxItem, record_id: int | None
    ) -> None:
        """Have ``job`` made for its outbox ``row`` (not saved) and its record; made here and
        now when it does not pickle (its context is not plain values), so an error is raised
        in its message's savepoint."""
        try:
            frame = pickle.dumps(tuple(job), protocol=5)
        except Exception:
            self._pending.append(_Pending(row, record_id, b"", make(renderer, job)))
            return
        self._pending.append(_Pending(row, record_id, frame))
        if len(self._pending) - self._sent >= PER_REQUEST:
            self._send()

    def _send(self) -> None:
        batch = [p for p in self._pending[self._sent :] if p.made is None]
        self._sent = len(self._pending)
        if batch:
            answer = self._worker.submit_job(pickle.dumps((HANDLER, [p.job for p in batch]), 5))
            for place, letter in enumerate(batch):
                letter.answer, letter.place = answer, place

    def mark(self) -> int:
        return len(self._pending)

    def restore(self, mark: int) -> None:
        """Forget the letters queued since ``mark``: their rows were rolled back."""
        del self._pending[mark:]
        self._sent = min(self._sent, mark)

    def finish(self, renderer: TemplateRenderer) -> None:
        """Save every outbox row queued with its letter, and fill every record (the letter
        made here when the child's is not back); LetterFailed when a template fails or a
        record is not there to fill."""
        from mailtix.store.tickets import store_letters  # the poll's: the child has no store

        pending, self._pending, sent, self._sent = self._pending, [], self._sent, 0
        for letter in pending[sent:]:  # made here, while the child makes those sent before
            letter.made = letter.made or _make_here(renderer, letter.job)
        outbox: list[OutboxItem] = []
        records: list[tuple[str, str, str, int, str]] = []
        deadline = time.monotonic() + WAIT
        for letter in pending:
            made = letter.made or self._answer(letter, deadline)
            if made is None:
                made = _make_here(renderer, letter.job)
            subject, text, html, letter.row.rfc822 = made
            outbox.append(letter.row)
            if letter.record_id is not None:
                records.append((subject, text, html, letter.record_id, letter.row.message_id))
        filled = store_letters(outbox, records)
        if filled != len(outbox) + len(records):
            raise LetterFailed(f"{filled} of {len(outbox) + len(records)} letter rows filled")

    def _answer(self, letter: _Pending, deadline: float) -> Made | None:
        """The child's answer for ``letter``, waited for until ``deadline``
        (``ParseAhead.answer``); None when it is not back by then, the child failed, or it is
        not this letter's four parts."""
        if letter.answer is None:
            return None
        answer = self._worker.answer(letter.answer, max(0.0, deadline - time.monotonic()))
        if answer is None or letter.place >= len(answer):
            return None
        return _made(answer[letter.place], letter.row.message_id)


def _make_here(renderer: TemplateRenderer, job: bytes) -> Made:
    try:
        return make(renderer, Job(*pickle.loads(job)))
    except TemplateError as exc:
        raise LetterFailed(str(exc)) from exc


def _made(answer: object, message_id: str) -> Made | None:
    """``answer`` if it is a letter's four parts, and the letter of ``message_id`` (its header
    block says so): an answer out of place goes to no one else's row."""
    if not (isinstance(answer, tuple) and len(answer) == 4):
        return None
    subject, text, html, rfc822 = answer
    if not (isinstance(subject, str) and isinstance(text, str) and isinstance(html, str)):
        return None
    if not isinstance(rfc822, bytes):
        return None
    head = rfc822[: rfc822.find(b"\r\n\r\n") + 2]
    mine = f"\r\nMessage-ID: {message_id}\r\n".encode("ascii", "replace")
    return (subject, text, html, rfc822) if mine in b"\r\n" + head else None


def _made_or_none(renderer: TemplateRenderer, job: bytes) -> Made | None:
    try:
        return make(renderer, Job(*pickle.loads(job)))  # from the parent, which started us
    except Exception:  # the parent makes it again and says why
        return None


def child(renderer: TemplateRenderer) -> list[str]:
    """The module and arguments of a child that makes ``renderer``'s letters (and parses)."""
    return [__name__, *(str(d) for d in renderer.directories[:2])]


def main(argv: list[str] | None = None) -> int:
    """The child: parses, and makes letters with the templates of ``argv``."""
    args = sys.argv[1:] if argv is None else argv
    if not args:
        sys.stderr.write("usage: python -m mailtix.outbound.letters_ahead DIR [DEFAULTS]\n")
        return 2
    from mailtix.inbound.parse_ahead import parse_all, serve  # the child's; not the mailer's

    renderer = TemplateRenderer(Path(args[0]), defaults=Path(args[1]) if len(args) > 1 else None)

    def letters(jobs: list[bytes]) -> list[Made | None]:
        return [_made_or_none(renderer, job) for job in jobs]

    return serve({"parse": parse_all, HANDLER: letters})


if __name__ == "__main__":  # as the module itself, so what it is sent unpickles under its name
    from mailtix.outbound.letters_ahead import main as module_main

    raise SystemExit(module_main())
