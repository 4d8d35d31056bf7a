"""The thread that runs LMTP deliveries through the pipeline, off the server's event loop.

Deliveries that arrive while one is being handled wait in a queue; the worker takes all that
are waiting (up to GROUP_SIZE) and runs them, mailbox by mailbox, through the poll's grouped
path (``Pipeline.process_batch``: their first attempts counted in one commit, then groups of
messages sharing a transaction, a savepoint each, their receipts read and written together; a
message tried before is handled alone, and so is a mailbox's only delivery of the group, with
``Pipeline.process``). A delivery to two mailboxes is in both mailboxes' groups, its first
recipient's first (the ticket is there, a copy in the other). The commits are relaxed (they
survive a crash of the process); the worker then makes them all durable with one synced commit
(``durability.durable_point``) and only then answers them: no 250 goes to the MTA for a message
that a power loss could still undo. When something escapes the
grouped path (the store failed), the mailbox's messages without an outcome are handled alone
(``Pipeline.process``), so one failing delivery does not fail the others; one that still
fails, or a failed synced commit, is answered "try again" (None), and what was committed of it
makes the retry a duplicate.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

from mailtix.desks.outcome import Outcome, Source
from mailtix.desks.pipeline import Pipeline
from mailtix.domain.log_lines import log_context
from mailtix.store.durability import durable_point, relaxed

log = logging.getLogger(__name__)

GROUP_SIZE = 50  # deliveries made durable by one synced commit

Results = dict[str, Outcome | None]  # mailbox -> outcome; None: could not be handled now


@dataclass
class Delivery:
    raw: bytes
    mailboxes: Sequence[str]
    done: Future[Results] = field(default_factory=Future)


class DeliveryWorker:
    """``submit`` a delivery, get a future of its outcomes; ``stop`` after the queue is done."""

    def __init__(
        self,
        pipeline: Pipeline,
        on_commit: Callable[[], None] | None = None,
        on_outcome: Callable[[str, str], None] | None = None,
    ) -> None:
        """``on_commit``: after each durable commit (the daemon kicks its sender);
        ``on_outcome(mailbox, kind)``: for each mail stored (the daemon's metrics)."""
        self.pipeline = pipeline
        self.on_commit = on_commit
        self.on_outcome = on_outcome
        self._queue: queue.Queue[Delivery | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="lmtp-delivery", daemon=True)
        self.groups = 0  # durable commits made (for tests and the benchmark)

    def start(self) -> DeliveryWorker:
        self._thread.start()
        return self

    def submit(self, raw: bytes, mailboxes: Sequence[str]) -> Future[Results]:
        delivery = Delivery(raw, tuple(dict.fromkeys(mailboxes)))
        self._queue.put(delivery)
        return delivery.done

    def stop(self, timeout: float | None = None) -> None:
        """Handle what was submitted, then end the thread."""
        self._queue.put(None)
        self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            group, last = [first], False
            while len(group) < GROUP_SIZE:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    last = True
                    break
                group.append(more)
            # a session that went away before its turn: nothing to answer, the MTA retries
            group = [d for d in group if d.done.set_running_or_notify_cancel()]
            try:
                self._handle(group)
            except Exception:  # the thread must go on: what is unanswered is told to retry
                log.exception("LMTP delivery worker")
                for delivery in group:
                    if not delivery.done.done():
                        delivery.done.set_result(dict.fromkeys(delivery.mailboxes, None))
            if last:
                return

    def _handle(self, group: list[Delivery]) -> None:
        if not group:
            return
        results = self._store(group)
        stored = [r for r in results if any(o is not None for o in r.values())]
        if stored:
            try:
                durable_point(next(m for r in stored for m in r))
            except Exception:
                log.exception("LMTP: the synced commit failed; %d deliveries deferred", len(group))
                results = [dict.fromkeys(r, None) for r in results]
        for delivery, result in zip(group, results, strict=True):
            delivery.done.set_result(result)
        self.groups += 1
        if stored and self.on_commit is not None:
            self.on_commit()
        if self.on_outcome is not None:
            for result in results:
                for mailbox, outcome in result.items():
                    if outcome is not None:
                        self.on_outcome(mailbox, outcome.kind)

    def _store(self, group: list[Delivery]) -> list[Results]:
        """Each delivery's outcome per mailbox (None: not stored): first every delivery in its
        first recipient's mailbox, then in the others, so the ticket is in the first
        recipient's mailbox and the rest are copies of it, as when each delivery was handled
        alone; each pass by mailbox, in order of first arrival."""
        results: list[Results] = [dict.fromkeys(d.mailboxes) for d in group]
        for first in (True, False):
            by_mailbox: dict[str, list[int]] = {}
            for n, delivery in enumerate(group):
                mailboxes = delivery.mailboxes[:1] if first else delivery.mailboxes[1:]
                for mailbox in mailboxes:
                    by_mailbox.setdefault(mailbox, []).append(n)
            with relaxed():
                for mailbox, members in by_mailbox.items():
                    with log_context(mailbox=mailbox):
                        outcomes = self._store_in(mailbox, [group[n].raw for n in members])
                    for n, outcome in zip(members, outcomes, strict=True):
                        results[n][mailbox] = outcome
        return results

    def _store_in(self, mailbox: str, raws: list[bytes]) -> list[Outcome | None]:
        """The outcomes of ``raws`` in ``mailbox``, in order: grouped (a lone one alone, which
        costs less), and after a failure that escaped the grouped path, the rest one at a
        time."""
        source = Source(mailbox, folderless=True)  # spam, ignored: kept
        found: list[Outcome | None] = []
        if len(raws) == 1:
            return [self._alone(raws[0], source)]
        try:
            for outcomes in self.pipeline.process_batch(mailbox, [(raw, source) for raw in raws]):
                found.extend(outcomes)
        except Exception as exc:  # the store is down, locked, full… for one of them, or all
            left = len(raws) - len(found)
            log.error("LMTP: a group of deliveries to %s failed (%s: %s); %d handled alone",
                      mailbox, type(exc).__name__, exc, left)  # fmt: skip
        for raw in raws[len(found) :]:
            found.append(self._alone(raw, source))
        return found

    def _alone(self, raw: bytes, source: Source) -> Outcome | None:
        try:
            return self.pipeline.process(raw, source)
        except Exception as exc:
            log.error("LMTP delivery to %s deferred: %s: %s", source.mailbox,
                      type(exc).__name__, exc)  # fmt: skip
            return None
