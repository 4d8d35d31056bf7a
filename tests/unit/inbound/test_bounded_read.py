"""`mailtix ingest` reads at most max_message_bytes + 1 bytes of a message into memory."""

from __future__ import annotations

import io

import pytest

from mailtix.inbound import bounded_read
from mailtix.inbound.bounded_read import read_at_most


class CountingStream(io.BytesIO):
    """A stream that remembers the largest read it was asked for."""

    largest = 0

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self.largest = max(self.largest, len(chunk))
        return chunk


def test_a_message_within_the_limit_comes_back_whole() -> None:
    assert read_at_most(io.BytesIO(b"x" * 100), 100) == (b"x" * 100, 100)
    assert read_at_most(io.BytesIO(b""), 100) == (b"", 0)


def test_one_byte_over_the_limit_is_oversized_and_only_its_size_comes_back() -> None:
    assert read_at_most(io.BytesIO(b"x" * 101), 100) == (None, 101)


def test_an_oversized_stream_is_read_to_its_end_in_bounded_chunks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(bounded_read, "CHUNK", 64)
    stream = CountingStream(b"y" * 10_000)
    assert read_at_most(stream, 100) == (None, 10_000)
    assert stream.tell() == 10_000  # the writer (an MTA's pipe) is never cut off
    assert stream.largest <= 64
