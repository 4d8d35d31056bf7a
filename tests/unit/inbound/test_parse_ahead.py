"""The child process that parses a poll's mails ahead of the pipeline: the same results as
parsing here, over the whole corpus; a dead or subverted child costs only the time it would
have saved."""

from __future__ import annotations

import logging
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mailtix.inbound.parse import parse_message
from mailtix.inbound.parse_ahead import (
    CHUNK,
    MAX_AHEAD_BYTES,
    VISIBLE_UP_TO,
    WINDOW,
    Ahead,
    ParseAhead,
    Parsed,
)
from mailtix.inbound.reply_text import visible_reply
from mailtix.outbound.notify import MAX_TEXT
from tests.unit.inbound.test_corpus_parse import corpus_files


def wait_for(aheads: list[Ahead], seconds: float = 60) -> list[Parsed | None]:
    """Each mail's parse, taken once it is back (a parse is taken once: a second take is None)."""
    deadline = time.monotonic() + seconds
    results: list[Parsed | None] = [None] * len(aheads)
    while time.monotonic() < deadline:
        results = [r if r is not None else take() for r, take in zip(results, aheads, strict=True)]
        if all(r is not None for r in results):
            break
        time.sleep(0.05)
    return results


def test_the_child_parses_the_corpus_as_the_pipeline_would() -> None:
    raws = [path.read_bytes() for path in corpus_files()]
    raws = [raw for raw in raws if len(raw) <= MAX_AHEAD_BYTES]  # the rest: the next test
    raws += [b"", b"no header here", b"Subject: x\r\n\r\n" + b"a" * 100]
    ahead = ParseAhead.start()
    assert ahead is not None
    try:
        results = wait_for(ahead.submit(raws))
    finally:
        ahead.close()
    assert all(r is not None for r in results), "the child did not answer every chunk"
    errors = 0
    for raw, result in zip(raws, results, strict=True):
        assert result is not None
        try:
            here = parse_message(raw)
        except Exception as exc:
            assert result.mail is None and result.error == str(exc)
            errors += 1
            continue
        assert result.error == "" and result.mail == here
        assert result.cpu >= 0
        if len(here.text) <= VISIBLE_UP_TO:
            assert result.visible == visible_reply(here.text).text
        else:
            assert result.visible is None
    assert errors >= 2  # the empty and the header-less bytes


def test_a_large_mail_is_not_sent_to_the_child() -> None:
    small = b"Subject: small\r\n\r\nhello\r\n"
    large = b"Subject: large\r\n\r\n" + b"x" * MAX_AHEAD_BYTES
    ahead = ParseAhead.start()
    assert ahead is not None
    try:
        aheads = ahead.submit([large, small])
        results = wait_for(aheads[1:])
        assert results[0] is not None and results[0].mail is not None
        assert aheads[0]() is None
    finally:
        ahead.close()


def test_a_parse_is_given_once_and_then_let_go() -> None:
    """The child's results are not held for the rest of the batch once the pipeline took them:
    a second take is None (the pipeline would parse again), the other mails' are still there."""
    ahead = ParseAhead.start()
    assert ahead is not None
    try:
        aheads = ahead.submit([b"Subject: one\r\n\r\n1\r\n", b"Subject: two\r\n\r\n2\r\n"])
        first = wait_for(aheads[:1])[0]
        assert first is not None and first.mail is not None and first.mail.subject == "one"
        assert aheads[0]() is None
        second = wait_for(aheads[1:])[0]
        assert second is not None and second.mail is not None and second.mail.subject == "two"
    finally:
        ahead.close()


def test_the_child_is_kept_only_a_few_chunks_ahead_of_the_pipeline() -> None:
    """Without a window the child would parse a whole batch ahead while the pipeline is still at
    its first mails, and every result would wait in the poll's memory."""
    ahead = ParseAhead.start()
    assert ahead is not None
    try:
        aheads = ahead.submit([b"Subject: x\r\n\r\nbody\r\n"] * (CHUNK * (WINDOW + 3)))
        assert wait_for(aheads[:1])[0] is not None  # the pipeline is at the first chunk
        time.sleep(0.5)  # time enough for the child to answer what it was sent
        beyond = aheads[CHUNK * (WINDOW + 1)]
        assert beyond() is None, "a chunk beyond the window was parsed"
        assert wait_for([beyond])[0] is not None  # asked for, so sent now
        assert wait_for(aheads[CHUNK * WINDOW : CHUNK * (WINDOW + 1)])[-1] is not None
    finally:
        ahead.close()


def test_after_a_wait_ran_out_the_child_is_waited_for_again_once_it_answers() -> None:
    """A stuck child is waited for once; a child that was only slow (still starting, say) is
    waited for again as soon as it answers anything, so one slow moment does not cost the
    rest of the poll its letters."""
    from concurrent.futures import Future

    ahead = ParseAhead.start()
    assert ahead is not None
    never: Future[list[object]] = Future()

    def waited() -> float:
        started = time.monotonic()
        assert ahead.answer(never, 0.2) is None
        return time.monotonic() - started

    try:
        assert waited() >= 0.2
        assert waited() < 0.1  # late: not waited for again
        assert wait_for(ahead.submit([b"Subject: x\r\n\r\nbody\r\n"]))[0] is not None
        assert waited() >= 0.2  # it answered: worth waiting for again
    finally:
        ahead.close()


def test_a_dead_child_leaves_the_parsing_to_the_pipeline() -> None:
    ahead = ParseAhead.start()
    assert ahead is not None
    ahead._proc.kill()
    ahead._proc.wait()
    aheads = ahead.submit([b"Subject: x\r\n\r\nbody\r\n"] * 30)
    time.sleep(0.5)
    assert [take() for take in aheads] == [None] * 30
    started = time.monotonic()
    ahead.close()
    assert time.monotonic() - started < 5


EVIL_CHILD = r"""
import os, pickle, struct, sys
class Evil:
    def __reduce__(self):
        return (os.system, ("touch " + sys.argv[1],))
head = sys.stdin.buffer.read(4)
sys.stdin.buffer.read(struct.unpack(">I", head)[0])
payload = pickle.dumps([Evil()])
sys.stdout.buffer.write(struct.pack(">I", len(payload)) + payload)
sys.stdout.buffer.flush()
sys.stdin.buffer.read()
"""


def test_a_subverted_child_cannot_make_the_parent_run_code(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    marker = tmp_path / "ran"
    proc = subprocess.Popen(
        [sys.executable, "-c", EVIL_CHILD, str(marker)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    caplog.set_level(logging.WARNING, "mailtix.inbound.parse_ahead")
    ahead = ParseAhead(proc)
    try:
        aheads = ahead.submit([b"Subject: x\r\n\r\nbody\r\n"])
        deadline = time.monotonic() + 10
        while "parse worker failed" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.05)
        assert aheads[0]() is None
    finally:
        ahead.close()
    assert "parse worker failed" in caplog.text and "posix.system" in caplog.text
    assert not marker.exists()


def test_the_child_trims_as_much_text_as_a_notification_shows() -> None:
    assert VISIBLE_UP_TO == 2 * MAX_TEXT  # desks/customer.py cuts the text so before trimming


def test_ctrl_c_is_left_to_the_poll() -> None:
    """The child shares the terminal's process group: Ctrl-C must not print its traceback
    or end it before the poll does."""
    ahead = ParseAhead.start()
    assert ahead is not None
    try:
        first = wait_for(ahead.submit([b"Subject: one\r\n\r\nbody\r\n"]))
        assert first[0] is not None
        ahead._proc.send_signal(signal.SIGINT)
        second = wait_for(ahead.submit([b"Subject: two\r\n\r\nbody\r\n"]))
        assert second[0] is not None and second[0].mail is not None
        assert ahead._proc.poll() is None
    finally:
        ahead.close()


def test_a_job_never_waits_behind_a_parse_the_child_has_not_started(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A parse is sent only once the child has answered all it was sent: a letter queued
    while the child is busy goes before a parse queued earlier (the group waiting for its
    letters at its end waits for them alone)."""
    monkeypatch.setenv("PYTHONPATH", str(Path(__file__).resolve().parents[2]))
    log = tmp_path / "order"
    ahead = ParseAhead.start(("support.noting_child", str(log)))
    assert ahead is not None
    try:
        first = ahead.submit_job(pickle.dumps(("slow", 0.5), protocol=5))
        deadline = time.monotonic() + 30
        while not log.exists() and time.monotonic() < deadline:  # the child has begun it
            time.sleep(0.01)
        parses = ahead.submit([b"Subject: x\r\n\r\nbody\r\n"])
        time.sleep(0.1)  # time for the writer to send the parse, if it would (the child sleeps)
        second = ahead.submit_job(pickle.dumps(("slow", 0), protocol=5))
        assert ahead.answer(first, 30) == ["slept"] and ahead.answer(second, 30) == ["slept"]
        assert wait_for(parses)[0] is not None
        assert log.read_text().split() == ["slow", "slow", "parse"]
    finally:
        ahead.close()
