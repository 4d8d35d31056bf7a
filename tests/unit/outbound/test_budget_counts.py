"""The budgets' outbox counts within a group of messages: read once, then kept current by the
group's own rows, so they hold back the same mail the store's counts would; a savepoint rolled
back takes its rows' counts back; every statement reads an index within the hour."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from mailtix.desks.outcome import Outcome, Source
from mailtix.outbound import budget_counts
from mailtix.outbound.notify import Notifier
from mailtix.runtime.app import App
from mailtix.store.lookups import execute
from mailtix.store.models import Event, OutboxItem, Suppression, Ticket, database_proxy
from tests.unit.desks.test_pipeline import app, clock, mail, make_app  # noqa: F401 - fixtures


def run_group(app: App, raws: list[bytes]) -> list[Outcome]:  # noqa: F811
    messages = [(raw, Source("support", 1, uid)) for uid, raw in enumerate(raws, start=1)]
    return [o for group in app.pipeline.process_batch("support", messages) for o in group]


def acknowledged() -> list[str]:
    rows = OutboxItem.select().where(OutboxItem.kind == "acknowledgement")
    return sorted(Ticket.get_by_id(row.ticket_id).subject for row in rows)


def test_the_rate_limit_holds_within_one_group(app: App) -> None:  # noqa: F811
    """Eight new tickets from one customer in one group: auto_reply_limit_per_hour (5) lets
    five acknowledgements go, as the store's counts would one mail at a time."""
    outcomes = run_group(app, [mail(subject=f"Question {n}") for n in range(8)])
    assert [o.kind for o in outcomes] == ["ticket"] * 8
    assert acknowledged() == [f"Question {n}" for n in range(5)]
    held = Event.select().where(Event.type == "suppressed", Event.reason == "rate limit")
    assert held.count() == 3


def test_a_rolled_back_mail_takes_its_count_back(
    app: App,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The fifth mail fails after its acknowledgement was queued: its rows are rolled back,
    and so is its count, so the next mail still gets the fifth acknowledgement."""
    real = Notifier.notify

    def notify(self: Notifier, ticket: Ticket, *args: Any, **kwargs: Any) -> Any:
        if ticket.subject == "boom":
            raise RuntimeError("notification failed")
        return real(self, ticket, *args, **kwargs)

    monkeypatch.setattr(Notifier, "notify", notify)
    subjects = ["q1", "q2", "q3", "q4", "boom", "q5", "q6"]
    outcomes = run_group(app, [mail(subject=s) for s in subjects])
    assert [o.kind for o in outcomes] == ["ticket"] * 4 + ["deferred"] + ["ticket"] * 2
    assert acknowledged() == ["q1", "q2", "q3", "q4", "q5"]


def test_a_count_read_outside_a_group_comes_from_the_store(app: App) -> None:  # noqa: F811
    since = app.clock() - timedelta(hours=1)
    wanted = [budget_counts.to("carol@example.org")]
    assert budget_counts.read(wanted, since)[1] == {"to": 0}
    run_group(app, [mail(subject="One")])
    assert budget_counts.read(wanted, since)[1] == {"to": 1}


def test_every_count_statement_reads_an_index_within_the_hour(app: App) -> None:  # noqa: F811
    """Each combination of counts the budgets ask for, with and without the suppression."""
    db = database_proxy.obj
    plans: list[str] = []
    now = app.clock()
    wanted = {
        "to": budget_counts.to("a@x"),
        "from": budget_counts.sent_from("s@x"),
        "notified": budget_counts.notified("a@x"),
        "ticket": budget_counts.about("a@x", 1),
    }
    for key in wanted.values():
        for bounced in (None, ("a@x", now - timedelta(days=30))):
            budget_counts.read([key], now - timedelta(hours=1), bounced=bounced)
    for sql in budget_counts._SQL.values():
        params = [None] * sql.count("?")
        rows = db.execute_sql("EXPLAIN QUERY PLAN " + sql, params).fetchall()
        plans.append(" ".join(str(row[-1]) for row in rows))
    assert len(plans) >= 8  # and any the tests before made
    for plan in plans:
        rest = plan.replace("SCAN CONSTANT ROW", "").replace("SCAN s ", "")  # s: LIMIT 1
        assert "SCAN" not in rest, plan
        assert "created_at>?" in plan, plan
    assert execute("SELECT 1", []).fetchone() == (1,)


def test_a_bounce_earlier_in_a_group_holds_back_the_mail_after_it(
    app: App,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The suppression is never remembered: an address suppressed by a mail of the group
    (here: as the first mail's notification goes) gets no acknowledgement from the next."""
    real = Notifier.notify

    def notify(self: Notifier, ticket: Ticket, *args: Any, **kwargs: Any) -> Any:
        if ticket.subject == "first":
            Suppression.create(address="carol@example.org", reason="5.1.1", created_at=app.clock())
        return real(self, ticket, *args, **kwargs)

    monkeypatch.setattr(Notifier, "notify", notify)
    outcomes = run_group(app, [mail(subject="first"), mail(subject="second")])
    assert [o.kind for o in outcomes] == ["ticket", "ticket"]
    assert acknowledged() == ["first"]
    held = Event.select().where(Event.type == "suppressed", Event.reason == "undeliverable")
    assert held.count() == 1
