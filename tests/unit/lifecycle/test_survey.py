"""The satisfaction survey: reading a rating from a reply, the mailto links, and the whole
round trip through the pipeline (survey on resolve; a plain reply or a mailto answer sets
``satisfaction`` and its comment, and does not reopen the ticket)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from mailtix.lifecycle.survey import parse_answer, rating_links
from mailtix.runtime.app import App
from mailtix.store.models import Event, Ticket
from tests.unit.lifecycle import test_jobs as j


@pytest.mark.parametrize(
    ("text", "subject", "expected"),
    [
        ("5 great service", "", (5, "great service")),
        ("5\n", "", (5, "")),
        (
            "4/5 - quick, but the first answer missed the point",
            "",
            (4, "quick, but the first answer missed the point"),
        ),
        ("  3. ok\nsecond line\n", "", (3, "ok\nsecond line")),
        ("1!\n\nOn Mon, Support wrote:\n> How did we do?\n> 5\n", "", (1, "")),
        ("2 out of 5", "", (2, "")),
        ("", "Re: [SUP-7] Rating 4", (4, "")),
        ("6 stars", "", None),
        ("55", "", None),
        ("4.5", "", None),
        ("Thanks, but it is broken again", "Re: [SUP-7] How did we do?", None),
        ("great service", "", None),
    ],
)
def test_parse_answer(text: str, subject: str, expected: tuple[int, str] | None) -> None:
    assert parse_answer(text, subject) == expected


def test_mailto_links_prefill_subject_and_body() -> None:
    links = rating_links("support@acme.example", "SUP-42")
    assert [link["rating"] for link in links] == [1, 2, 3, 4, 5]
    parts = urlsplit(str(links[3]["href"]))
    assert parts.scheme == "mailto" and parts.path == "support@acme.example"
    query = parse_qs(parts.query)
    assert query["subject"] == ["Re: [SUP-42] Rating 4"] and query["body"] == ["4"]
    assert " " not in str(links[3]["href"]) and unquote(parts.query).startswith("subject=Re: ")


@pytest.fixture
def clock() -> j.Clock:
    return j.Clock()


@pytest.fixture
def app(tmp_path: Path, clock: j.Clock) -> App:
    return j.make_app(tmp_path, clock)


def resolved_ticket(app: App, clock: j.Clock) -> Ticket:
    ticket = j.new_ticket(app, clock)
    clock.now = j.START + timedelta(minutes=10)
    j.feed(app, j.agent_reply(ticket.id, "#status resolved\n\nReplaced the fuser.\n"))
    assert Ticket.get_by_id(ticket.id).status == "resolved"
    return ticket


def test_survey_is_sent_on_resolve_with_links(app: App, clock: j.Clock) -> None:
    ticket = resolved_ticket(app, clock)
    [row] = j.sent("survey")
    mail = j.parsed(row)
    assert mail["Subject"].startswith(f"[SUP-{ticket.id}] How did we do?")
    assert mail["To"] == "Carol <carol@example.org>"
    html = mail.get_body(("html",)).get_content()
    assert "Rating%204&amp;body=4" in html or "Rating%204&body=4" in html
    assert Event.select().where((Event.ticket == ticket) & (Event.type == "survey")).exists()


def test_plain_reply_to_survey_records_rating_and_keeps_status(app: App, clock: j.Clock) -> None:
    ticket = resolved_ticket(app, clock)
    survey_id = j.sent("survey")[0].message_id
    clock.now = j.START + timedelta(hours=2)
    reply = j.customer_mail(subject=f"Re: [SUP-{ticket.id}] How did we do?",
                            body="5 great service\n\n> How satisfied are you?\n",
                            In_Reply_To=survey_id)  # fmt: skip
    assert j.feed(app, reply).kind == "followup"
    ticket = Ticket.get_by_id(ticket.id)
    assert (ticket.satisfaction, ticket.satisfaction_comment) == (5, "great service")
    assert ticket.status == "resolved"
    [event] = Event.select().where((Event.ticket == ticket) & (Event.type == "satisfaction"))
    assert event.detail == "5/5: great service" and event.actor == "carol@example.org"
    assert j.sent("status")[-1].created_at < clock.now  # no "reopened" mail


def test_mailto_answer_without_thread_headers(app: App, clock: j.Clock) -> None:
    ticket = resolved_ticket(app, clock)
    clock.now = j.START + timedelta(hours=2)
    answer = j.customer_mail(subject=f"Re: [SUP-{ticket.id}] Rating 4", body="4\n")
    j.feed(app, answer)
    ticket = Ticket.get_by_id(ticket.id)
    assert (ticket.satisfaction, ticket.status) == (4, "resolved")


def test_a_real_reply_to_the_survey_reopens(app: App, clock: j.Clock) -> None:
    ticket = resolved_ticket(app, clock)
    survey_id = j.sent("survey")[0].message_id
    clock.now = j.START + timedelta(hours=2)
    reply = j.customer_mail(subject=f"Re: [SUP-{ticket.id}] How did we do?",
                            body="It is jamming again.\n", In_Reply_To=survey_id)  # fmt: skip
    j.feed(app, reply)
    ticket = Ticket.get_by_id(ticket.id)
    assert ticket.satisfaction is None and ticket.status == "open"


def test_no_survey_when_disabled(tmp_path: Path, clock: j.Clock) -> None:
    (tmp_path / "x").mkdir()
    app = j.make_app(tmp_path / "x", clock)
    app.config = app.pipeline.config = _without_survey(app)
    resolved_ticket(app, clock)
    assert j.sent("survey") == []


def _without_survey(app: App):  # type: ignore[no-untyped-def]
    from dataclasses import replace

    from mailtix.config.lifecycle import SurveyConfig

    return replace(app.config, survey=SurveyConfig(enabled=False))
