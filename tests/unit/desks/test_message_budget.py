"""The per-message CPU budget of the pipeline (issue 13, breakage 2): a message that takes too
long is quarantined with the reason, none of its rows are kept, and the batch goes on - in the
main thread and in a worker thread, where the daemon's APScheduler jobs run it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest

import mailtix.desks.pipeline
from mailtix.desks.cpu_budget import CpuBudget, OverBudget
from mailtix.desks.outcome import Outcome, Source
from mailtix.runtime.app import App
from mailtix.store.models import Message, OutboxItem, QuarantineItem, Ticket
from tests.unit.desks.test_pipeline import app, clock, mail, make_app  # noqa: F401 - fixtures


class SlowClock:
    """A CPU clock on which every reading is ``step`` seconds after the one before."""

    def __init__(self, step: float) -> None:
        self.now = 0.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


@pytest.fixture
def slow_budget(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[float], None]]:
    def make(step: float) -> None:
        monkeypatch.setattr(
            mailtix.desks.pipeline, "CpuBudget", lambda seconds: CpuBudget(seconds, SlowClock(step))
        )

    yield make


def test_budget_check_raises_only_over_the_budget() -> None:
    budget = CpuBudget(5, SlowClock(3))  # started at 3; then 6 (3 s used), 9 (6 s)
    budget.check("parsing")
    with pytest.raises(OverBudget, match=r"6.0 s of CPU after handling \(budget 5 s\)"):
        budget.check("handling")


def test_the_cpu_clock_is_read_once_the_wall_clock_says_the_budget_may_be_spent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reads: list[float] = []
    real = time.thread_time

    def counted() -> float:
        reads.append(real())
        return reads[-1]

    monkeypatch.setattr(time, "thread_time", counted)
    budget = CpuBudget(60)
    budget.check("parsing")
    budget.check("handling")
    assert len(reads) == 1  # its start: a minute of wall time has not passed
    budget.charge(61)  # the CPU a child spent parsing the message counts
    with pytest.raises(OverBudget, match="after threading"):
        budget.check("threading")
    assert len(reads) == 2
    spent = CpuBudget(0.0)
    time.sleep(0.001)
    with pytest.raises(OverBudget):  # the wall clock says it may be: the CPU clock says it is
        while True:
            sum(range(1000))
            spent.check("parsing")


def test_message_over_budget_is_quarantined_and_the_batch_goes_on(
    app: App,  # noqa: F811
    slow_budget: Callable[[float], None],
) -> None:
    slow_budget(4.0)  # three readings after the start: 12 s of "CPU" with a 10 s budget
    slow = app.pipeline.process(mail(subject="slow"), Source("support", 1, 1))
    assert slow.kind == "quarantined"
    assert slow.detail.startswith("too slow to process: ") and "budget 10 s" in slow.detail
    assert Ticket.select().count() == 0 and Message.select().count() == 0  # rolled back
    assert OutboxItem.select().count() == 0  # no acknowledgement for it
    assert QuarantineItem.get().reason == slow.detail
    slow_budget(0.001)
    assert app.pipeline.process(mail(subject="next"), Source("support", 1, 2)).kind == "ticket"


def test_budget_is_enforced_in_a_worker_thread(app: App) -> None:  # noqa: F811
    app.pipeline.cpu_budget = 0.0  # any CPU at all is over it
    outcomes: list[Outcome] = []
    worker = threading.Thread(
        target=lambda: outcomes.append(app.pipeline.process(mail(), Source("support", 1, 1)))
    )
    worker.start()
    worker.join()
    assert [o.kind for o in outcomes] == ["quarantined"]
    assert "after parsing" in outcomes[0].detail


def test_the_cpu_a_child_spent_parsing_counts_against_the_budget(app: App) -> None:  # noqa: F811
    """A mail parsed ahead (``inbound.parse_ahead``) brings its parse's CPU time: over the
    budget there, it is quarantined as if it had been parsed here; the child's ParseError
    quarantines it as unparseable."""
    from mailtix.inbound.parse import parse_message
    from mailtix.inbound.parse_ahead import Parsed

    slow, broken, fine = mail(subject="slow"), b"\r\n", mail(subject="fine")
    aheads = [
        lambda: Parsed(parse_message(slow), "", 11.0),
        lambda: Parsed(None, "not an email: no headers", 0.001),
        lambda: Parsed(parse_message(fine), "", 0.001),
    ]
    messages = [(raw, Source("support", 1, uid)) for uid, raw in enumerate([slow, broken, fine])]
    outcomes = [
        o for group in app.pipeline.process_batch("support", messages, aheads) for o in group
    ]
    assert [o.kind for o in outcomes] == ["quarantined", "quarantined", "ticket"]
    assert outcomes[0].detail.startswith("too slow to process: 11.0 s of CPU after parsing")
    assert outcomes[1].detail == "unparseable: not an email: no headers"
