"""The thread that runs LMTP deliveries through the pipeline, off the server's event loop.

Deliveries that arrive while one is being handled wait in a queue; the worker takes all that
are waiting (up to GROUP_SIZE), runs each message through ``Pipeline.process`` for each of its
mailboxes (a transaction per message and mailbox, relaxed: it survives a crash of the process),
then makes them all durable with one synced commit (``durability.durable_point``) and only then
answers them: no 250 goes to the MTA for a message that a power loss could still undo, at one
disk flush per group instead of one per mail. A failure anywhere answers the affected
deliveries "try again" (None); what was committed of them makes the retry a duplicate.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

from mailtix.desks.pipeline import Outcome, Pipeline, Source
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
        delivery = Delivery(raw, tuple(mailboxes))
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
        results = [self._process(delivery) for delivery in group]
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

    def _process(self, delivery: Delivery) -> Results:
        found: Results = {}
        with relaxed():
            for mailbox in delivery.mailboxes:
                with log_context(mailbox=mailbox):
                    try:
                        source = Source(mailbox, folderless=True)  # spam, ignored: kept
                        found[mailbox] = self.pipeline.process(delivery.raw, source)
                    except Exception as exc:  # the store is down, locked, full…
                        log.error("LMTP delivery to %s deferred: %s: %s", mailbox,
                                  type(exc).__name__, exc)  # fmt: skip
                        found[mailbox] = None
        return found
