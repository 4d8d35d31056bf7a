"""Parse a poll's mails in a child process, ahead of the pipeline, on the other core.

Parsing is a pure function of the bytes (``parse.parse_message``), so a batch's mails are sent
to a child in chunks as soon as they are fetched, up to WINDOW chunks ahead of the one the
pipeline is at: the results waiting for it stay few, and each is let go once taken. The
pipeline takes a mail's result only if its chunk is back when the mail's turn comes, and
parses it itself otherwise. Nothing waits on the child: a slow, stuck or dead child costs the
parse it would have saved, never a mail, and the pipeline's own checks (the CPU budget,
quarantine of unparseable mail) see the same results either way, the child's CPU time charged
to the mail's budget.

The child is a module that ``serve``s handlers by name: this one (``python -m
mailtix.inbound.parse_ahead``) only "parse"; a poll runs ``outbound.letters_ahead``, which also
makes the letters the poll queues (``submit_job``: sent before any parse waiting, and a parse
is sent only once the child has answered all it was sent, so a letter never queues behind
a parse the child has yet to start: the group waiting for its letters waits less). Frames are a
4-byte big-endian length and a pickle: (handler, payload) in, the handler's list out. The
parent reads the answers with an unpickler that makes only the value classes of a ParsedMail
(and builtins), so even a child subverted by a hostile mail cannot make the parent run code.
Writes and reads run in two threads of the parent, so a full pipe never blocks the poll.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import pickle
import queue
import signal
import struct
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import IO, Any, NamedTuple

from mailtix.domain.errors import ParseError
from mailtix.domain.values import ParsedMail
from mailtix.inbound.parse import parse_message
from mailtix.inbound.reply_text import visible_reply

log = logging.getLogger(__name__)

CHUNK = 20  # mails a request carries (a parse is back a chunk at a time)
WINDOW = 2  # requests sent ahead of the one the pipeline is taking from (bounds the results held)
MAX_AHEAD_BYTES = 1024 * 1024  # a larger mail is parsed by the pipeline (no copy to the child)
_LENGTH = struct.Struct(">I")
MAX_FRAME = 256 * 1024 * 1024
VISIBLE_UP_TO = 40_000  # characters: what a notification cuts the text to before trimming it
_ALLOWED = {
    ("mailtix.domain.values", "ParsedMail"),
    ("mailtix.domain.values", "Address"),
    ("mailtix.domain.values", "Attachment"),
    ("datetime", "datetime"),
    ("datetime", "timezone"),
    ("datetime", "timedelta"),
    ("mailtix.inbound.parse_ahead", "Parsed"),
}


class Parsed(NamedTuple):
    """One mail's parse: the mail, or the ParseError's text; the CPU seconds it took; what its
    sender wrote of its text (``reply_text.visible_reply``), when the text is at most
    VISIBLE_UP_TO characters (the desks cut a longer one first)."""

    mail: ParsedMail | None
    error: str
    cpu: float
    visible: str | None = None


Ahead = Callable[[], Parsed | None]  # a mail's parse if it is back, else None


class _ValuesOnly(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> type:
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"parse worker sent {module}.{name}")
        return super().find_class(module, name)


def parse_one(raw: bytes) -> Parsed:
    started = time.thread_time()
    visible = None
    try:
        mail: ParsedMail | None = parse_message(raw)
        error = ""
        if mail is not None and len(mail.text) <= VISIBLE_UP_TO:
            visible = visible_reply(mail.text).text
    except ParseError as exc:
        mail, error = None, str(exc)
    return Parsed(mail, error, time.thread_time() - started, visible)


class ParseAhead:
    """The child and the two threads that talk to it; ``close`` ends them."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self._proc = proc
        self._ready = threading.Condition()  # guards the two queues, _taking and _closed
        self._parses: deque[_Request] = deque()  # sent when the window allows
        self._jobs: deque[_Request] = deque()  # sent first, as soon as the writer can
        self._waiting: queue.Queue[Future[list[Any]]] = queue.Queue()
        self._closed = False
        self._submitted = 0  # parse requests numbered in the order they were made
        self._taking = 0  # the request of the mail the pipeline last asked for
        self._late = False  # a wait ran out, and nothing came back since (``answer``)
        self._writer = threading.Thread(target=self._write, name="parse-ahead-w", daemon=True)
        self._reader = threading.Thread(target=self._read, name="parse-ahead-r", daemon=True)
        self._writer.start()
        self._reader.start()

    @classmethod
    def start(cls, child: Sequence[str] = (__name__,)) -> ParseAhead | None:
        """A running child, or None (the pipeline parses everything itself); ``child``: the
        module to run (``-m``) and its arguments: one that ``serve``s "parse" at least."""
        argv = [sys.executable, "-m", *child]
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        except OSError as exc:
            log.info("parse worker not started (%s); parsing in the poll", exc)
            return None
        return cls(proc)

    def submit(self, raws: Sequence[bytes]) -> list[Ahead]:
        """For each mail of ``raws``: its parse once back (None until then, and for ever if
        the child fails); taken once (a second call gives None, and the mail is parsed
        again)."""
        aheads: list[Ahead] = [_none] * len(raws)
        small = [i for i, raw in enumerate(raws) if len(raw) <= MAX_AHEAD_BYTES]
        for start in range(0, len(small), CHUNK):
            chunk = small[start : start + CHUNK]
            future: Future[list[Any]] = Future()
            number, self._submitted = self._submitted, self._submitted + 1
            frame = pickle.dumps(("parse", [raws[i] for i in chunk]), protocol=5)
            self._put(self._parses, _Request(number, frame, future))
            for position, i in enumerate(chunk):
                aheads[i] = self._taker(number, future, position)
        return aheads

    def submit_job(self, frame: bytes) -> Future[list[Any]]:
        """Have the child run a handler: ``frame`` is ``pickle.dumps((handler, payload))``,
        sent ahead of any parse waiting; the future gets the handler's answer (an empty list
        when it failed there), or an exception when the child is gone."""
        future: Future[list[Any]] = Future()
        self._put(self._jobs, _Request(-1, frame, future))
        return future

    def answer(self, future: Future[list[Any]], timeout: float) -> list[Any] | None:
        """A job's answer, waited for at most ``timeout`` seconds, and not at all after a wait
        ran out until the child answers something again (stuck, it is waited for once); None
        when it is not back or the child failed."""
        try:
            return future.result(timeout=0 if self._late else timeout)
        except TimeoutError:
            self._late = True
            return None
        except Exception:  # the child is gone
            return None

    def _put(self, into: deque[_Request], request: _Request) -> None:
        with self._ready:
            if self._closed:
                request.future.set_exception(EOFError("parse worker gone"))
                return
            into.append(request)
            self._ready.notify()

    def _taker(self, number: int, future: Future[list[Any]], index: int) -> Ahead:
        def take() -> Parsed | None:
            taken = None
            if future.done() and future.exception() is None:
                results = future.result()
                if index < len(results):  # held only as long as the pipeline needs it
                    taken, results[index] = results[index], None
            if number > self._taking:  # the pipeline is past the requests before: send more
                with self._ready:
                    self._taking = number
                    self._ready.notify()
            return taken if isinstance(taken, Parsed) else None

        return take

    def close(self) -> None:
        """End the child (it is only ever ahead: what it has not sent back is not needed)."""
        with self._ready:
            if self._closed:
                return
            self._closed = True
            self._ready.notify()
        self._proc.kill()
        self._proc.wait()
        self._writer.join(5)  # its write fails now, and it sees _closed
        self._reader.join(5)  # it reads the end of the pipe
        for stream in (self._proc.stdin, self._proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError, ValueError):  # unflushed bytes to a dead child
                    stream.close()

    def _next(self) -> _Request | None:
        """The next request to send: a job first, else, once the child has answered all it
        was sent, the oldest parse the window allows (a job sent later then never waits
        behind a parse in the pipe); None once closed (what is left then fails)."""
        with self._ready:
            while not self._closed:
                if self._jobs:
                    return self._jobs.popleft()
                idle = self._waiting.empty()
                if idle and self._parses and self._parses[0].number <= self._taking + WINDOW:
                    return self._parses.popleft()
                self._ready.wait()
            left = [*self._jobs, *self._parses]
            self._jobs.clear()
            self._parses.clear()
        for request in left:
            request.future.set_exception(EOFError("parse worker gone"))
        return None

    def _write(self) -> None:
        stdin = self._proc.stdin
        assert stdin is not None
        broken = False
        while (request := self._next()) is not None:
            if not broken:
                try:
                    _write_frame(stdin, request.frame)
                    self._waiting.put(request.future)
                    continue
                except (OSError, ValueError):  # the child is gone
                    broken = True
            request.future.set_exception(EOFError("parse worker gone"))

    def _read(self) -> None:
        stdout = self._proc.stdout
        assert stdout is not None
        while True:
            try:
                frame = _read_frame(stdout)
                results = _ValuesOnly(io.BytesIO(frame)).load() if frame is not None else None
            except (OSError, ValueError, pickle.UnpicklingError, EOFError) as exc:
                if not self._closed:
                    log.warning("parse worker failed (%s); parsing in the poll", exc)
                results = None
            if not isinstance(results, list):
                if not self._closed:
                    log.warning("parse worker ended; parsing in the poll")
                while not self._waiting.empty():
                    self._waiting.get_nowait().set_exception(EOFError("parse worker gone"))
                return
            self._waiting.get().set_result(results)
            self._late = False  # it answers again: worth waiting for
            with self._ready:  # the writer may send the next parse now
                self._ready.notify()


class _Request(NamedTuple):
    number: int  # a parse request's place in the window (-1: a job)
    frame: bytes  # pickle.dumps((handler, payload))
    future: Future[list[Any]]


def _none() -> Any:
    return None


def _write_frame(stream: IO[bytes], payload: bytes) -> None:
    stream.write(_LENGTH.pack(len(payload)))
    stream.write(payload)
    stream.flush()


def _read_frame(stream: IO[bytes]) -> bytes | None:
    head = stream.read(_LENGTH.size)
    if len(head) < _LENGTH.size:
        return None
    (length,) = _LENGTH.unpack(head)
    if length > MAX_FRAME:
        raise ValueError(f"frame of {length} bytes")
    payload = stream.read(length)
    return payload if len(payload) == length else None


Handler = Callable[[Any], list[Any]]


def serve(handlers: dict[str, Handler]) -> int:
    """The child's loop: each request is (handler name, payload); the answer is the handler's
    list (an empty one when it has no such handler or fails: the parent does the work), in
    the order the requests came, until stdin ends. Its answers go out on a copy of fd 1;
    anything else printing to stdout reaches stderr."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the poll's to handle: it ends us
    stdin = sys.stdin.buffer
    stdout = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    while (frame := _read_frame(stdin)) is not None:
        kind, payload = pickle.loads(frame)  # from the parent, which started this process
        handler = handlers.get(kind)
        try:
            answer = handler(payload) if handler is not None else []
        except Exception:  # said by the parent, which does the same work again in the poll
            answer = []
        try:
            _write_frame(stdout, pickle.dumps(answer, protocol=5))
        except OSError:  # the poll is gone (it ends us when it is done)
            return 0
    return 0


def parse_all(raws: list[bytes]) -> list[Parsed]:
    return [parse_one(raw) for raw in raws]


def main() -> int:
    """The child that only parses."""
    return serve({"parse": parse_all})


if __name__ == "__main__":  # as the module itself, so its results pickle under its name
    from mailtix.inbound.parse_ahead import main as module_main

    raise SystemExit(module_main())
