"""The outbox sender's connections kept from one drain to the next: a sender that lives long
(``sender_thread``, ``sender_process``) drains every time a poll batch is committed, and opening
a connection each time (TCP, EHLO, STARTTLS, AUTH) cost more than the mail it then carried.

A connection a drain is done with waits here, per account, and the next drain of that account
takes it back after one RSET (the server may have hung up meanwhile: then a fresh one is
opened and no row pays for it). One idle for IDLE_SECONDS is closed with QUIT at the end of
the next drain, and all of them when the sender stops. Everything here runs on the sender's
one event loop (``outbox.SenderState``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from mailtix.outbound.senders import Sender

log = logging.getLogger(__name__)

IDLE_SECONDS = 30.0  # a connection unused this long is closed (servers drop them at 60-300)


class Connections:
    """Open connections not in use, by account name, with when each was last used."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._idle: dict[str, list[tuple[Sender, float]]] = {}
        self._monotonic = monotonic
        self.opened = 0  # connections opened over the sender's life (for the log and tests)

    def put(self, account: str, sender: Sender) -> None:
        self._idle.setdefault(account, []).append((sender, self._monotonic()))

    async def take(self, account: str) -> Sender | None:
        """An idle connection of ``account`` that still answers, or None."""
        idle = self._idle.get(account, [])
        while idle:
            sender, _ = idle.pop()  # the last used: the least likely to be timed out
            if await sender.reset():
                return sender
            await close(sender)
        return None

    async def close_idle(self, seconds: float = IDLE_SECONDS) -> None:
        """Close the connections unused for ``seconds`` (all of them with 0)."""
        now = self._monotonic()
        for account, idle in self._idle.items():
            old = [sender for sender, since in idle if now - since >= seconds]
            idle[:] = [(sender, since) for sender, since in idle if now - since < seconds]
            for sender in old:
                log.debug("closing an idle connection of %s", account)
                await close(sender)

    def __len__(self) -> int:
        return sum(len(idle) for idle in self._idle.values())


async def close(sender: Sender) -> None:
    """QUIT (or drop) ``sender``; a server that already hung up is no error."""
    try:
        await sender.__aexit__(None, None, None)
    except Exception:  # closing a broken connection: nothing left to lose
        log.debug("closing a connection failed", exc_info=True)
