"""The connections a sender keeps between drains (``outbound.connections``): taken back only
after an RSET answered, the most recently used first; closed once unused for IDLE_SECONDS,
all of them at the end; a close that fails is no error. Against stand-in connections that
record what was asked of them (tests/integration/test_sender_connections.py uses Postfix)."""

from __future__ import annotations

import asyncio
from types import TracebackType

from mailtix.outbound.connections import IDLE_SECONDS, Connections


class Kept:
    def __init__(self, name: str, answers: bool = True, breaks: bool = False) -> None:
        self.name, self.answers, self.breaks = name, answers, breaks
        self.closed = False

    async def reset(self) -> bool:
        return self.answers

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.closed = True
        if self.breaks:
            raise OSError("connection reset by peer")


def test_the_last_used_that_still_answers_is_taken_the_dead_ones_closed() -> None:
    pool = Connections(lambda: 0.0)
    old, dead = Kept("old"), Kept("dead", answers=False)
    pool.put("smtp", old)  # type: ignore[arg-type]
    pool.put("smtp", dead)  # type: ignore[arg-type]
    assert asyncio.run(pool.take("smtp")) is old and dead.closed and not old.closed
    assert asyncio.run(pool.take("smtp")) is None and asyncio.run(pool.take("other")) is None
    assert len(pool) == 0


def test_idle_ones_are_closed_after_idle_seconds_and_all_at_the_end() -> None:
    clock = [100.0]
    pool = Connections(lambda: clock[0])
    first, broken = Kept("first"), Kept("broken", breaks=True)
    pool.put("smtp", first)  # type: ignore[arg-type]
    clock[0] += IDLE_SECONDS - 1
    pool.put("mailbox sales smtp", broken)  # type: ignore[arg-type]
    asyncio.run(pool.close_idle())
    assert not first.closed and len(pool) == 2
    clock[0] += 1
    asyncio.run(pool.close_idle())
    assert first.closed and not broken.closed and len(pool) == 1
    asyncio.run(pool.close_idle(0))  # the sender stops: a failing QUIT is no error
    assert broken.closed and len(pool) == 0
