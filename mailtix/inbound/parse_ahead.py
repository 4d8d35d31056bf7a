"""Parse a poll's mails in a child process, ahead of the pipeline, on the other core.

Parsing is a pure function of the bytes (``parse.parse_message``), so a batch's mails are sent
to a child in chunks as soon as they are fetched, up to WINDOW chunks ahead of the one the
pipeline is at: the results waiting for it stay few, and each is let go once taken. The
pipeline takes a mail's result only if its chunk is back when the mail's turn comes, and
parses it itself otherwise. Nothing waits on
the child: a slow, stuck or dead child costs the parse it would have saved, never a mail, and
the pipeline's own checks (the CPU budget, quarantine of unparseable mail) see the same results
either way, the child's CPU time charged to the mail's budget.

The child is this module (``python -m mailtix.inbound.parse_ahead``): frames of a 4-byte
big-endian length and a pickle, a list of raw mails in, a list of ``Parsed`` out. The parent
reads the results with an unpickler that makes only the value classes of a ParsedMail, so even a
child subverted by a hostile mail cannot make the parent run code. Writes and reads run in two
threads of the parent, so a full pipe never blocks the poll.
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
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import IO, NamedTuple

from mailtix.domain.errors import ParseError
from mailtix.domain.values import ParsedMail
from mailtix.inbound.parse import parse_message
from mailtix.inbound.reply_text import visible_reply

log = logging.getLogger(__name__)

CHUNK = 20  # mails a request carries: the pipeline's group size
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
        self._requests: queue.Queue[_Request | None] = queue.Queue()
        self._waiting: queue.Queue[Future[list[Parsed]]] = queue.Queue()
        self._closed = False
        self._submitted = 0  # requests numbered in the order they were made
        self._reached = threading.Condition()
        self._taking = 0  # the request of the mail the pipeline last asked for
        self._writer = threading.Thread(target=self._write, name="parse-ahead-w", daemon=True)
        self._reader = threading.Thread(target=self._read, name="parse-ahead-r", daemon=True)
        self._writer.start()
        self._reader.start()

    @classmethod
    def start(cls) -> ParseAhead | None:
        """A running child, or None (the pipeline parses everything itself)."""
        argv = [sys.executable, "-m", "mailtix.inbound.parse_ahead"]
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
            future: Future[list[Parsed]] = Future()
            number, self._submitted = self._submitted, self._submitted + 1
            self._requests.put(_Request(number, [raws[i] for i in chunk], future))
            for position, i in enumerate(chunk):
                aheads[i] = self._taker(number, future, position)
        return aheads

    def _taker(self, number: int, future: Future[list[Parsed]], index: int) -> Ahead:
        def take() -> Parsed | None:
            taken = None
            if future.done() and future.exception() is None:
                results = future.result()
                if index < len(results):  # held only as long as the pipeline needs it
                    taken, results[index] = results[index], None
            if number > self._taking:  # the pipeline is past the requests before: send more
                with self._reached:
                    self._taking = number
                    self._reached.notify()
            return taken

        return take

    def close(self) -> None:
        """End the child (it is only ever ahead: what it has not sent back is not needed)."""
        if self._closed:
            return
        self._closed = True
        self._requests.put(None)
        with self._reached:
            self._reached.notify()
        self._proc.kill()
        self._proc.wait()
        self._writer.join(5)  # its write fails now, and it takes the None
        self._reader.join(5)  # it reads the end of the pipe
        for stream in (self._proc.stdin, self._proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError, ValueError):  # unflushed bytes to a dead child
                    stream.close()

    def _write(self) -> None:
        stdin = self._proc.stdin
        assert stdin is not None
        broken = False
        while (item := self._requests.get()) is not None:
            number, raws, future = item
            with self._reached:  # no more than WINDOW requests' results waiting to be taken
                while not self._closed and number > self._taking + WINDOW:
                    self._reached.wait()
            if not broken and not self._closed:
                try:
                    _write_frame(stdin, pickle.dumps(raws, protocol=5))
                    self._waiting.put(future)
                    continue
                except (OSError, ValueError):  # the child is gone
                    broken = True
            future.set_exception(EOFError("parse worker gone"))

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


class _Request(NamedTuple):
    number: int
    raws: list[bytes]
    future: Future[list[Parsed]]


def _none() -> Parsed | None:
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


def main() -> int:
    """The child: parse each request's mails, answer with their results, until stdin ends.
    Its answers go out on a copy of fd 1; anything else printing to stdout reaches stderr."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the poll's to handle: it ends us
    stdin = sys.stdin.buffer
    stdout = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    while (frame := _read_frame(stdin)) is not None:
        raws = pickle.loads(frame)  # from the parent, which started this process
        _write_frame(stdout, pickle.dumps([parse_one(raw) for raw in raws], protocol=5))
    return 0


if __name__ == "__main__":  # as the module itself, so its results pickle under its name
    from mailtix.inbound.parse_ahead import main as module_main

    raise SystemExit(module_main())
