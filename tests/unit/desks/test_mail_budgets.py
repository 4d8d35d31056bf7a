"""Budgets on outgoing mail, through the whole pipeline (SQLite store, Maildir sink, no servers):
two autoresponders looping through a ticket, notifications per agent, warnings about forged
agent mail under a flood, X-Auto-Response-Suppress, ``[tickets] automated_mail``."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from support.config import small_config

from mailtix.desks.outcome import Outcome, Source
from mailtix.runtime.app import App
from mailtix.store.models import Event, Message, OutboxItem, Receipt, Ticket

SUPPORT = "support@acme.example"
ALICE = "alice@acme.example"
CAROL = "carol@example.org"
START = datetime(2026, 11, 23, 10, 0, 0)

DEPARTMENTS = f"""\
[[department]]
name = "general"
agents = ["{ALICE}"]

[[agent]]
email = "{ALICE}"
name = "Alice Agent"
"""

_ids = itertools.count(1)


class Desk:
    """A store with a clock the test moves, fed one message at a time."""

    def __init__(self, tmp_path: Path, tickets: str = "", agents: str = "") -> None:
        self.now = START
        config = small_config(
            tmp_path, address=SUPPORT, templates=True, departments=DEPARTMENTS,
            mailbox='display_name = "ACME Support"\ndepartment = "general"',
            extra=f"[tickets]\n{tickets}\n[agents]\n{agents}\n",
        )  # fmt: skip
        self.app = App.open(config, clock=lambda: self.now)
        self.uids = itertools.count(1)

    def __call__(self, raw: bytes) -> Outcome:
        return self.app.pipeline.process(raw, Source("support", 1, next(self.uids)))

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def make_desk(tmp_path: Path) -> Callable[..., Desk]:
    return lambda **keys: Desk(tmp_path, **keys)


def mail(
    sender: str = f"Carol <{CAROL}>",
    subject: str = "Printer on floor 3 eats paper",
    body: str = "The printer jams on every second page.\n",
    **headers: str,
) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = f"ACME Support <{SUPPORT}>"
    msg["Subject"] = subject
    msg["Date"] = "Mon, 23 Nov 2026 10:00:00 +0000"
    msg["Message-ID"] = f"<b{next(_ids)}@example.org>"
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg.as_bytes()


def answer(to: OutboxItem, sender: str, body: str) -> bytes:
    """A header-less autoresponder's answer to a mail mailtix sent (threads, no Auto-Submitted)."""
    return mail(sender, "Re: your mail", body, In_Reply_To=to.message_id)


def held(reason: str) -> list[Event]:
    return list(Event.select().where(Event.type == "suppressed", Event.detail.endswith(reason)))


def outbox(kind: str, to: str) -> list[OutboxItem]:
    query = OutboxItem.select().where(OutboxItem.kind == kind, OutboxItem.recipient_key == to)
    return list(query.order_by(OutboxItem.id))


# --- loops ---------------------------------------------------------------------------------


def test_two_header_less_autoresponders_stop_at_the_ticket_mail_budget(
    make_desk: Callable[..., Desk],
) -> None:
    """The agent's and the customer's autoresponders answer every mail, with no RFC 3834
    header and nothing that looks like an out-of-office: mail about the ticket stops at
    max_mails_per_ticket_per_hour (20) per address, and the loop is over."""
    desk = make_desk()
    desk(mail())
    seen = 0
    rounds = 0
    while rounds < 100:
        new = list(OutboxItem.select().where(OutboxItem.id > seen).order_by(OutboxItem.id))
        if not new:
            break
        seen = new[-1].id
        rounds += 1
        for item in new:
            desk.advance(seconds=30)
            if item.recipient_key == ALICE:
                desk(answer(item, f"Alice <{ALICE}>", "Please send the printer's serial number.\n"))
            elif item.kind == "relay":
                desk(answer(item, f"Carol <{CAROL}>", "Thank you, we will answer you soon.\n"))
    relays, notes = outbox("relay", CAROL), outbox("notification", ALICE)
    print(f"\nloop: {rounds} rounds, {len(relays)} relays, {len(notes)} notifications")
    assert rounds < 100
    assert Ticket.select().count() == 1
    mails_to_carol = OutboxItem.select().where(OutboxItem.recipient_key == CAROL).count()
    assert mails_to_carol == 20  # 1 acknowledgement + 19 relays
    assert len(notes) <= 20
    assert held("ticket mail budget")
    # an hour later the ticket may be written about again: the budget is per hour
    desk.advance(hours=1, minutes=1)
    desk(answer(relays[-1], f"Carol <{CAROL}>", "A real question this time.\n"))
    assert len(outbox("notification", ALICE)) == len(notes) + 1


def test_notifications_to_one_agent_stop_at_the_hourly_budget(
    make_desk: Callable[..., Desk],
) -> None:
    desk = make_desk(agents="notifications_per_hour = 3")
    for n in range(5):
        desk(mail(subject=f"Problem {n}", sender=f"c{n}@example.org"))
        desk.advance(minutes=1)
    assert len(outbox("notification", ALICE)) == 3
    assert len(held("notification budget")) == 2  # recorded on tickets 4 and 5
    assert OutboxItem.select().where(OutboxItem.kind == "acknowledgement").count() == 5
    desk.advance(hours=1)
    desk(mail(subject="Later", sender="later@example.org"))
    assert len(outbox("notification", ALICE)) == 4


# --- warnings about forged agent mail --------------------------------------------------------


def forged(desk: Desk, ref: str, n: int) -> Outcome:
    return desk(mail(f"Alice <{ALICE}>", f"Re: [{ref}] done #{n}", "#status closed\n"))


def test_warnings_are_not_held_by_other_automatic_mail_to_the_agent(
    make_desk: Callable[..., Desk],
) -> None:
    """Five automatic mails to the agent's address this hour (the auto-reply limit) do not
    silence the warning about a forgery in the agent's name."""
    desk = make_desk()
    ref = desk(mail()).ticket_ref
    assert ref is not None
    for n in range(5):
        OutboxItem.create(
            ticket=None, kind="acknowledgement", automatic=True, envelope_from=SUPPORT,
            recipients=[ALICE], recipient_key=ALICE, message_id=f"<fill{n}@acme.example>",
            rfc822=b"x", next_attempt_at=desk.now, created_at=desk.now,
        )  # fmt: skip
    forged(desk, ref, 1)
    (warning,) = outbox("unverified", ALICE)
    assert not warning.automatic  # and it does not count against that limit either
    assert held("rate limit") == []


def test_a_flood_of_forgeries_makes_a_few_warnings_and_the_next_says_how_many_more(
    make_desk: Callable[..., Desk],
) -> None:
    desk = make_desk()
    ref = desk(mail()).ticket_ref
    assert ref is not None
    for n in range(12):
        forged(desk, ref, n)
        desk.advance(minutes=1)
    warnings = outbox("unverified", ALICE)
    assert len(warnings) == 5
    assert len(held("warning budget")) == 7
    assert b"This is the last warning this hour" in bytes(warnings[-1].rfc822)
    assert b"more mail(s)" not in bytes(warnings[-1].rfc822)
    desk.advance(hours=1)
    forged(desk, ref, 99)
    later = outbox("unverified", ALICE)[-1]
    assert b"Since the last warning, 7 more mail(s) claiming to be from you" in bytes(later.rfc822)
    assert len(outbox("unverified", ALICE)) == 6


# --- what the sender asks for, and automated mail ------------------------------------------------


@pytest.mark.parametrize("value", ["All", "AutoReply", "DR, AutoReply", "oof, all"])
def test_x_auto_response_suppress_all_or_autoreply_opens_a_ticket_without_acknowledgement(
    make_desk: Callable[..., Desk], value: str
) -> None:
    desk = make_desk()
    outcome = desk(mail(X_Auto_Response_Suppress=value))
    assert outcome.kind == "ticket"
    assert OutboxItem.select().where(OutboxItem.kind == "acknowledgement").count() == 0
    (no_ack,) = Event.select().where(Event.type == "no-ack")
    assert "X-Auto-Response-Suppress" in no_ack.detail
    assert len(outbox("notification", ALICE)) == 1  # a person's mail: the agents hear of it


@pytest.mark.parametrize("value", ["OOF", "DR, NDR, RN, NRN, OOF"])
def test_x_auto_response_suppress_without_all_is_still_acknowledged(
    make_desk: Callable[..., Desk], value: str
) -> None:
    desk = make_desk()
    desk(mail(X_Auto_Response_Suppress=value))
    assert OutboxItem.select().where(OutboxItem.kind == "acknowledgement").count() == 1


AUTOMATED = [
    {"Auto_Submitted": "auto-generated"},
    {"Auto_Submitted": "auto-replied"},
    {"List_Id": "<users.lists.example.org>"},
    {"Precedence": "bulk"},
]


@pytest.mark.parametrize("headers", AUTOMATED)
def test_automated_mail_ignore_records_it_and_opens_no_ticket(
    make_desk: Callable[..., Desk], headers: dict[str, str]
) -> None:
    desk = make_desk(tickets='automated_mail = "ignore"')
    outcome = desk(mail(**headers))
    assert outcome.kind == "ignored" and "automated_mail = ignore" in outcome.detail
    assert Ticket.select().count() == 0 and OutboxItem.select().count() == 0
    (receipt,) = Receipt.select()
    assert receipt.outcome == "ignored"  # seen, moved to processed_folder like a rule's ignore


def test_automated_mail_ignore_still_files_replies_and_human_mail(
    make_desk: Callable[..., Desk],
) -> None:
    desk = make_desk(tickets='automated_mail = "ignore"')
    first = desk(mail())
    assert first.kind == "ticket"
    ack = OutboxItem.get(OutboxItem.kind == "acknowledgement")
    reply = desk(mail(subject="Re: x", Auto_Submitted="auto-replied", In_Reply_To=ack.message_id))
    assert (reply.kind, reply.ticket_ref) == ("followup", first.ticket_ref)


@pytest.mark.parametrize("headers", AUTOMATED)
def test_automated_mail_opens_a_ticket_by_default(
    make_desk: Callable[..., Desk], headers: dict[str, str]
) -> None:
    desk = make_desk()
    assert desk(mail(**headers)).kind == "ticket"
    assert OutboxItem.select().count() == 0  # never acknowledged, no agent notified


# --- config ------------------------------------------------------------------------------------


def test_budget_keys_are_validated_one_line_each(tmp_path: Path) -> None:
    from mailtix.config.load import check_problems

    tickets = 'max_mails_per_ticket_per_hour = 0\nautomated_mail = "drop"\nsuppression_days = "x"'
    agents = "notifications_per_hour = -5"
    config = small_config(
        tmp_path, address=SUPPORT, departments=DEPARTMENTS,
        mailbox='display_name = "ACME Support"\ndepartment = "general"',
        extra=f'[tickets]\n{tickets}\n[agents]\n{agents}\n[templates]\ndir = "t"\n',
    )  # fmt: skip
    found = [p for p in check_problems(config, {}) if "templates" not in p]
    assert found == [
        "mailtix.toml: tickets.max_mails_per_ticket_per_hour: must be an integer >= 1, got 0",
        'mailtix.toml: tickets.automated_mail: must be one of ticket | ignore, got "drop"',
        'mailtix.toml: tickets.suppression_days: must be an integer >= 1, got "x"',
        "mailtix.toml: agents.notifications_per_hour: must be an integer >= 1, got -5",
    ]


def test_budget_defaults(make_desk: Callable[..., Desk]) -> None:
    config = make_desk().app.config
    assert config.tickets.max_mails_per_ticket_per_hour == 20
    assert config.tickets.automated_mail == "ticket"
    assert config.tickets.suppression_days == 30
    assert config.agents_policy.notifications_per_hour == 60


def test_an_answer_held_by_the_ticket_budget_is_kept_and_the_agent_is_told(
    make_desk: Callable[..., Desk],
) -> None:
    """A real agent's answer over max_mails_per_ticket_per_hour is not relayed, but it is not
    lost either: it stays on the ticket as a note, and the agent alone hears why."""
    desk = make_desk(tickets="max_mails_per_ticket_per_hour = 2")
    desk(mail())  # the acknowledgement: mail 1 of 2 to Carol about this ticket
    [note] = outbox("notification", ALICE)
    for n in range(2):
        desk.advance(minutes=1)
        body = f"Answer number {n}: please restart the printer.\n"
        desk(mail(f"Alice <{ALICE}>", "Re: printer", body, In_Reply_To=note.message_id))
    assert len(outbox("relay", CAROL)) == 1
    [told] = outbox("command_error", ALICE)
    text = bytes(told.rfc822).decode()
    assert "Not relayed" in text and "was not sent to the customer" in text
    kept = [m.text for m in Message.select().where(Message.kind == "note")]
    assert any("Answer number 1" in t for t in kept)
    events = [e.detail for e in Event.select().where(Event.type == "replied")]
    assert len(events) == 1  # only the relayed answer is recorded as sent


def test_notifications_about_one_ticket_stop_at_the_ticket_mail_budget(
    make_desk: Callable[..., Desk],
) -> None:
    desk = make_desk(tickets="max_mails_per_ticket_per_hour = 2")
    desk(mail())
    [ack] = outbox("acknowledgement", CAROL)
    for n in range(3):
        desk.advance(minutes=1)
        desk(answer(ack, f"Carol <{CAROL}>", f"More details, part {n}.\n"))
    assert len(outbox("notification", ALICE)) == 2  # the new ticket, the first reply
    assert len(held("ticket mail budget")) == 2
    desk.advance(hours=1, minutes=1)
    desk(answer(ack, f"Carol <{CAROL}>", "An hour later.\n"))
    assert len(outbox("notification", ALICE)) == 3
