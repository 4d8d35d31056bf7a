"""Read one message from a stream without holding more than the size limit in memory."""

from __future__ import annotations

from typing import BinaryIO

CHUNK = 1 << 20


def read_at_most(stream: BinaryIO, limit: int) -> tuple[bytes | None, int]:
    """The whole of ``stream`` and its size if it holds at most ``limit`` bytes; else None and
    its size: what follows the first ``limit + 1`` bytes is read and dropped, so a writer (an
    MTA's pipe) is not cut off mid-message and memory stays bounded by the limit."""
    kept = bytearray()
    while len(kept) <= limit:
        chunk = stream.read(min(CHUNK, limit + 1 - len(kept)))
        if not chunk:
            return bytes(kept), len(kept)
        kept += chunk
    size = len(kept)
    del kept
    while chunk := stream.read(CHUNK):
        size += len(chunk)
    return None, size
