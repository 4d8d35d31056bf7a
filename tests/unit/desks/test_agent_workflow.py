"""The agents' workflow commands through the whole pipeline (SQLite store, Maildir sink, no
servers): #merge, #snooze, #reply, #find, #history, their failure cases, and a customer who
writes them (issue 18). The real mail stack runs them in
tests/integration/test_agent_workflow_live.py.
"""

from __future__ import annotations

import email
import email.policy
import itertools
import shutil
from collections.abc import Iterator
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from support.config import small_config

from mailtix.cli.present import ticket_detail
from mailtix.desks.outcome import Outcome, Source
from mailtix.lifecycle.jobs import run_jobs
from mailtix.lifecycle.merge import merge_problem
from mailtix.runtime.app import App
from mailtix.store.models import Event, Message, OutboxItem, Participant, Ticket

REPO = Path(__file__).resolve().parents[3]
SUPPORT = "support@acme.example"
ALICE = "alice@acme.example"
BOB = "bob@acme.example"
CAROL = "carol@example.org"
DAN = "dan@example.net"
START = datetime(2026, 11, 23, 10)

# the templates are a copy in the test's directory, so a test can add canned replies
EXTRA = """\
[agents]
secret = "0123456789abcdef0123"
trusted_authserv_ids = ["mx.acme.example"]

[templates]
dir = "templates"
"""
DEPARTMENTS = f"""\
[[department]]
name = "general"
agents = ["{ALICE}", "{BOB}"]

[[agent]]
email = "{ALICE}"
name = "Alice Agent"
"""
_ids = itertools.count(1)


class Desk:
    def __init__(self, app: App, clock: list[datetime], root: Path) -> None:
        self.app, self.clock, self.root = app, clock, root
        self.uids = itertools.count(1)

    def feed(self, msg: EmailMessage) -> Outcome:
        return self.app.pipeline.process(msg.as_bytes(), Source("support", 1, next(self.uids)))


@pytest.fixture
def desk(tmp_path: Path) -> Desk:
    shutil.copytree(REPO / "templates", tmp_path / "templates")
    config = small_config(tmp_path, address=SUPPORT, mailbox='display_name = "ACME Support"',
                          departments=DEPARTMENTS, routing="", extra=EXTRA)  # fmt: skip
    clock = [START]
    return Desk(App.open(config, clock=lambda: clock[0]), clock, tmp_path)


def mail(sender: str, subject: str, body: str, **headers: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = SUPPORT
    msg["Subject"] = subject
    msg["Message-ID"] = f"<w{next(_ids)}@example.org>"
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg


def outbox(kind: str | None = None, to: str | None = None) -> list[OutboxItem]:
    query = OutboxItem.select().order_by(OutboxItem.id)
    items = list(query if kind is None else query.where(OutboxItem.kind == kind))
    return [i for i in items if to is None or to in i.recipients]


def parsed(item: OutboxItem) -> EmailMessage:
    msg = email.message_from_bytes(bytes(item.rfc822), policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def text_of(item: OutboxItem) -> str:
    return str(parsed(item).get_body(("plain",)).get_content())  # type: ignore[union-attr]


def open_ticket(desk: Desk, sender: str, subject: str) -> tuple[Ticket, OutboxItem]:
    """A customer's new ticket and the notification Alice got about it."""
    desk.feed(mail(sender, subject, f"{subject}, please help.\n"))
    ticket = Ticket.select().order_by(Ticket.id.desc()).get()
    note = [n for n in outbox("notification", ALICE) if n.ticket_id == ticket.id][-1]
    return ticket, note


def reply_to(notification: OutboxItem, top: str) -> EmailMessage:
    """Alice hits Reply on ``notification`` and writes ``top`` above the quote."""
    sent = parsed(notification)
    quote = "\n".join(f"> {line}" for line in text_of(notification).splitlines())
    msg = mail(
        f"Alice Agent <{ALICE}>", f"Re: {sent['Subject']}",
        f"{top}\n\nOn Mon, 23 Nov 2026, ACME Support wrote:\n{quote}\n",
    )  # fmt: skip
    msg["In-Reply-To"] = sent["Message-ID"]
    msg["References"] = f"{sent.get('References', '')} {sent['Message-ID']}".strip()
    return msg


def reload(ticket: Ticket) -> Ticket:
    return Ticket.get_by_id(ticket.id)


def errors_to_alice() -> list[str]:
    return [text_of(i) for i in outbox("command_error", ALICE)]


def snapshot() -> dict[str, Any]:
    """What a failed command must leave as it was."""
    return {
        "tickets": [(t.id, t.status, t.merged_into, t.snoozed_until) for t in Ticket.select()],
        "messages": [(m.id, m.ticket_id) for m in Message.select() if m.kind != "note"],
        "to_customers": len([i for i in outbox() if CAROL in i.recipients or DAN in i.recipients]),
    }


# --- #merge ----------------------------------------------------------------------------------


def test_merge_moves_everything_and_later_mail_lands_in_the_survivor(desk: Desk) -> None:
    first, _ = open_ticket(desk, f"Carol <{CAROL}>", "Printer jams")
    duplicate, note = open_ticket(desk, f"Dan <{DAN}>", "Printer jams again")
    ack = [i for i in outbox("acknowledgement") if i.ticket_id == duplicate.id][0]
    before = len(outbox(to=DAN))

    desk.feed(reply_to(note, f"#merge SUP-{first.id}"))

    gone = reload(duplicate)
    assert (gone.status, gone.merged_into) == ("closed", first.id)
    assert Message.select().where(Message.ticket == duplicate.id).count() == 0
    assert {m.from_addr for m in Message.select().where(Message.ticket == first.id)} >= {CAROL, DAN}
    people = {p.email: p.role for p in Participant.select().where(Participant.ticket == first.id)}
    assert people[DAN] == "cc" and people[CAROL] == "customer"
    merged = Event.select().where(Event.type == "merged")
    assert {(e.ticket_id, e.field) for e in merged} == {
        (duplicate.id, "merged_into"), (first.id, "merged_into"),
    }  # fmt: skip
    assert len(outbox(to=DAN)) == before and len(outbox("relay")) == 0  # nobody told
    shown = ticket_detail(gone, "SUP")
    assert shown["merged_into"] == f"SUP-{first.id}"

    by_thread = mail(DAN, "Re: your ticket", "Any news?\n", In_Reply_To=parsed(ack)["Message-ID"])
    assert desk.feed(by_thread).ticket_ref == f"SUP-{first.id}"
    by_tag = mail(DAN, f"Re: [SUP-{duplicate.id}] Printer jams again", "Hello?\n")
    assert desk.feed(by_tag).ticket_ref == f"SUP-{first.id}"
    assert reload(duplicate).status == "closed"

    answer = desk.feed(reply_to(note, "Both of you: it is fixed now."))  # old token
    assert answer.ticket_ref == f"SUP-{first.id}"
    [relay] = outbox("relay")
    assert relay.ticket_id == first.id and set(relay.recipients) == {CAROL, DAN}


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("SUP-999", "no ticket SUP-999"),
        ("self", "into itself"),
        ("closed", "is closed; reopen it first"),
        ("FOO-1", "is not a ticket reference"),
    ],
)
def test_merge_refused_changes_nothing_and_answers_the_agent(
    desk: Desk, target: str, expected: str
) -> None:
    other, other_note = open_ticket(desk, f"Carol <{CAROL}>", "Printer jams")
    ticket, note = open_ticket(desk, f"Dan <{DAN}>", "Scanner broken")
    if target == "closed":
        desk.feed(reply_to(other_note, "#status closed"))
    ref = {"self": f"SUP-{ticket.id}", "closed": f"SUP-{other.id}"}.get(target, target)
    before = snapshot()
    desk.feed(reply_to(note, f"#merge {ref}\n\nDan, this is a duplicate."))
    assert snapshot() == before
    assert any(expected in text for text in errors_to_alice())


def test_merge_into_a_merged_ticket_is_refused_and_names_where_it_went(desk: Desk) -> None:
    first, first_note = open_ticket(desk, f"Carol <{CAROL}>", "Printer jams")
    duplicate, note = open_ticket(desk, f"Dan <{DAN}>", "Printer jams again")
    desk.feed(reply_to(note, f"#merge SUP-{first.id}"))
    before = snapshot()
    desk.feed(reply_to(first_note, f"#merge SUP-{duplicate.id}"))
    assert snapshot() == before
    assert any(f"SUP-{duplicate.id} was merged into SUP-{first.id}" in t for t in errors_to_alice())


def test_a_merged_ticket_cannot_be_merged_again() -> None:
    source, target = Ticket(id=3, merged_into=1, status="closed"), Ticket(id=2, status="open")
    assert merge_problem(source, target, "SUP-2", "SUP") == "SUP-3 was already merged into SUP-1"
    assert merge_problem(Ticket(id=2, status="open"), target, "SUP-2", "SUP").endswith("itself")


def test_old_token_of_a_merged_ticket_acts_on_its_survivor(desk: Desk) -> None:
    first, _ = open_ticket(desk, f"Carol <{CAROL}>", "Printer jams")
    duplicate, note = open_ticket(desk, f"Dan <{DAN}>", "Printer jams again")
    desk.feed(reply_to(note, f"#merge SUP-{first.id}"))
    desk.feed(reply_to(note, "#priority urgent"))
    assert (reload(first).priority, reload(duplicate).priority) == ("urgent", "normal")


# --- #snooze ---------------------------------------------------------------------------------


def test_snooze_pends_then_the_jobs_reopen_it_and_tell_the_assignee(desk: Desk) -> None:
    ticket, note = open_ticket(desk, f"Carol <{CAROL}>", "Printer jams")
    desk.feed(reply_to(note, "#assign me\n#snooze 2d"))
    snoozed = reload(ticket)
    assert (snoozed.status, snoozed.snoozed_until) == ("pending", START + timedelta(days=2))
    told = len(outbox("notification"))

    early = run_jobs(desk.app, START + timedelta(days=1))
    assert [r.done for r in early if r.name == "snoozes"] == [[]]
    assert reload(ticket).status == "pending"
    done = [r for r in run_jobs(desk.app, START + timedelta(days=2, minutes=1))
            if r.name == "snoozes"]  # fmt: skip
    assert done[0].done and reload(ticket).status == "open"
    assert reload(ticket).snoozed_until is None
    woken = outbox("notification")[told:]
    assert [i.recipients for i in woken] == [[ALICE]]
    assert "Snooze over" in parsed(woken[0])["Subject"]


def test_customer_reply_ends_the_snooze(desk: Desk) -> None:
    ticket, note = open_ticket(desk, f"Carol <{CAROL}>", "Printer jams")
    desk.feed(reply_to(note, "#snooze 2026-12-01"))
    assert reload(ticket).snoozed_until == datetime(2026, 12, 1, 9)  # 09:00 UTC ([sla] default)
    desk.feed(mail(CAROL, f"Re: [SUP-{ticket.id}] Printer jams", "It works again!\n"))
    after = reload(ticket)
    assert (after.status, after.snoozed_until) == ("open", None)
    ended = Event.select().where((Event.type == "snoozed") & (Event.field == "snoozed_until"))
    assert [e.new_value is None for e in ended] == [False, True]


@pytest.mark.parametrize("when", ["2026-11-01", "2026-11-23 09:59", "soon", "0m"])
def test_snooze_in_the_past_or_unreadable_is_a_command_error(desk: Desk, when: str) -> None:
    ticket, note = open_ticket(desk, f"Carol <{CAROL}>", "Printer jams")
    before = snapshot()
    desk.feed(reply_to(note, f"#snooze {when}"))
    assert snapshot() == before
    assert any(f"#snooze {when}:" in text for text in errors_to_alice())


# --- #reply ----------------------------------------------------------------------------------


def test_canned_reply_follows_the_agents_own_words(desk: Desk) -> None:
    ticket, note = open_ticket(desk, f"Carol Customer <{CAROL}>", "Printer jams")
    desk.feed(reply_to(note, "#reply need-details\n\nHi Carol, sorry about that."))
    [relay] = outbox("relay")
    body = text_of(relay)
    assert body.index("sorry about that") < body.index("we need a few more details")
    assert "Dear Carol Customer" in body and "Printer jams" in body
    assert "#reply" not in body


def test_unknown_or_broken_canned_reply_is_a_command_error(desk: Desk) -> None:
    (desk.root / "templates" / "replies" / "broken.txt.j2").write_text("{{ ticket.nope }}\n")
    (desk.root / "templates" / "replies" / "evil.txt.j2").write_text(
        "{{ ''.__class__.__mro__[1].__subclasses__() }}\n"
    )
    ticket, note = open_ticket(desk, f"Carol <{CAROL}>", "Printer jams")
    before = snapshot()
    for name in ("nope", "broken", "evil"):
        desk.feed(reply_to(note, f"#reply {name}\n\nHello"))
    assert snapshot() == before
    texts = errors_to_alice()
    assert 'no canned reply "nope"' in texts[0] and "need-details" in texts[0]
    assert "broken.txt.j2" in texts[1] and "undefined" in texts[1]
    assert "evil.txt.j2" in texts[2] and "sandbox" in texts[2]


def test_customer_text_in_a_canned_reply_stays_text(desk: Desk) -> None:
    ticket, note = open_ticket(desk, f"{{{{ 7*7 }}}} <{CAROL}>", "{{ 6*7 }} jams")
    desk.feed(reply_to(note, "#reply thanks"))
    body = text_of(outbox("relay")[0])
    assert "{{ 6*7 }} jams" in body and "42" not in body


def test_notification_lists_the_canned_replies_and_who_gets_the_answer(desk: Desk) -> None:
    desk.feed(mail(f"Carol <{CAROL}>", "Printer jams", "Help\n", Cc=f"Dan <{DAN}>"))
    note = outbox("notification", ALICE)[-1]
    text = text_of(note)
    assert "need-details" in text and "thanks" in text
    assert f"Your answer goes to: {CAROL}, {DAN}" in text


# --- #find, #history -------------------------------------------------------------------------


def test_find_and_history_answer_the_agent_alone(desk: Desk) -> None:
    first, _ = open_ticket(desk, f"Carol <{CAROL}>", "Printer jams on page two")
    open_ticket(desk, f"Dan <{DAN}>", "Scanner broken")
    ticket, note = open_ticket(desk, f"Carol <{CAROL}>", "Monitor flickers")
    to_customers = len(outbox(to=CAROL)) + len(outbox(to=DAN))

    desk.feed(reply_to(note, "#find print* jams"))
    desk.feed(reply_to(note, "#find zebra"))
    desk.feed(reply_to(note, "#history"))

    found, nothing, history = (text_of(i) for i in outbox("lookup"))
    assert all(i.recipients == [ALICE] for i in outbox("lookup"))
    assert f"[SUP-{first.id}]" in found and "Printer jams on page two" in found
    assert "Scanner" not in found and "Monitor" not in found
    assert "No tickets found." in nothing
    assert f"[SUP-{first.id}]" in history and f"[SUP-{ticket.id}]" in history
    assert "Scanner" not in history
    assert len(outbox(to=CAROL)) + len(outbox(to=DAN)) == to_customers
    assert reload(ticket).status == "new"  # a query is no answer


# --- customers cannot command ----------------------------------------------------------------


def test_a_customer_writing_every_new_command_changes_nothing(desk: Desk) -> None:
    other, _ = open_ticket(desk, f"Dan <{DAN}>", "Scanner broken")
    ticket, _ = open_ticket(desk, f"Carol <{CAROL}>", "Printer jams")
    lookups = len(outbox("lookup"))
    desk.feed(mail(
        CAROL, f"Re: [SUP-{ticket.id}] Printer jams",
        f"#merge SUP-{other.id}\n#snooze 2d\n#reply thanks\n#find Scanner\n#history\n\nHi\n",
    ))  # fmt: skip
    assert reload(ticket).merged_into is None and reload(ticket).snoozed_until is None
    assert reload(other).status == "new"
    assert len(outbox("lookup")) == lookups and not outbox("relay")
    assert not [i for i in outbox() if CAROL in i.recipients and i.kind != "acknowledgement"]


# --- a forwarded notification, the new-ticket notification ----------------------------------


def neomutt_forward(note: OutboxItem, sender: str, *, attach: bool) -> EmailMessage:
    """neomutt's ``f`` on a notification: inline (forward_decode) or as message/rfc822."""
    sent = parsed(note)
    msg = mail(sender, f"[{SUPPORT}: {sent['Subject']}]", "FYI\n")
    if attach:  # 7bit/8bit, as neomutt (and RFC 2046) has it
        msg.add_attachment(email.message_from_bytes(bytes(note.rfc822)))
    else:
        msg.set_content(
            f"FYI\n\n----- Forwarded message from ACME Support <{SUPPORT}> -----\n\n"
            f"Date: Mon, 23 Nov 2026 10:00:00 +0000\nFrom: ACME Support <{SUPPORT}>\n"
            f"Subject: {sent['Subject']}\n\n{text_of(note)}\n----- End forwarded message -----\n"
        )
    return msg


@pytest.mark.parametrize("attach", [False, True, "base64"])
def test_agent_forwarding_her_notification_gets_a_hint_not_a_warning(
    desk: Desk, attach: bool | str
) -> None:
    ticket, note = open_ticket(desk, f"Carol <{CAROL}>", "Printer jams")
    before = snapshot()
    forward = neomutt_forward(note, f"Alice Agent <{ALICE}>", attach=bool(attach))
    if attach == "base64":  # some clients encode the attached mail against RFC 2046
        forward = mail(ALICE, "Fwd: notification", "FYI\n")
        forward.add_attachment(bytes(note.rfc822), maintype="message", subtype="rfc822")
    outcome = desk.feed(forward)
    assert outcome.ticket_ref == f"SUP-{ticket.id}" and "hint" in outcome.detail
    [hint] = outbox("forward_hint")
    assert hint.recipients == [ALICE] and "reply to the notification" in text_of(hint)
    assert not outbox("unverified") and snapshot() == before
    assert len(Ticket.select()) == 1  # no ticket for the support address or for Alice


@pytest.mark.parametrize("attach", [False, True])
def test_someone_else_forwarding_alices_notification_is_still_warned(
    desk: Desk, attach: bool
) -> None:
    ticket, note = open_ticket(desk, f"Carol <{CAROL}>", "Printer jams")
    desk.feed(neomutt_forward(note, BOB, attach=attach))  # bob holds alice's notification
    assert not outbox("forward_hint")
    assert [i.recipients for i in outbox("unverified")] == [[BOB]]


def test_a_made_up_notice_proves_nothing(desk: Desk) -> None:
    ticket, _ = open_ticket(desk, f"Carol <{CAROL}>", "Printer jams")
    forged = mail(ALICE, f"Fwd: [SUP-{ticket.id}] New ticket", f"mailtix notice {ticket.id}."
                  "0123456789abcdef\n#status closed\n")  # fmt: skip
    desk.feed(forged)
    assert not outbox("forward_hint") and reload(ticket).status == "new"
    assert [i.recipients for i in outbox("unverified")] == [[ALICE]]


def test_new_ticket_notification_shows_the_text_without_signature_and_quote(desk: Desk) -> None:
    body = (
        "The printer jams on every page.\n\n-- \nCarol Customer\nPhone +1 555 0100\n\n"
        "On Fri, 20 Nov 2026, Dan <dan@example.net> wrote:\n> old text from Dan\n"
    )
    desk.feed(mail(f"Carol <{CAROL}>", "Printer jams", body))
    text = text_of(outbox("notification", ALICE)[-1])
    assert "The printer jams on every page." in text
    assert "Phone +1 555 0100" not in text and "old text from Dan" not in text
    [kept] = Message.select().where(Message.kind == "customer")
    assert "Phone +1 555 0100" in kept.text  # the ticket keeps the whole mail


def test_one_mail_can_ask_only_a_few_queries_and_one_merge(desk: Desk) -> None:
    first, _ = open_ticket(desk, f"Carol <{CAROL}>", "Printer jams")
    other, _ = open_ticket(desk, f"Carol <{CAROL}>", "Toner")
    ticket, note = open_ticket(desk, f"Dan <{DAN}>", "Scanner broken")
    before = snapshot()
    desk.feed(reply_to(note, "\n".join(["#find printer"] * 4)))
    desk.feed(reply_to(note, f"#merge SUP-{first.id}\n#merge SUP-{other.id}"))
    assert snapshot() == before and not outbox("lookup")
    texts = errors_to_alice()
    assert "#find: at most 3 in one mail" in texts[0] and "#merge: at most 1" in texts[1]


@pytest.fixture
def pg_desk(tmp_path: Path, postgres_url: str) -> Iterator[Desk]:
    from mailtix.store import open_store
    from mailtix.store.models import ALL_MODELS, SchemaVersion

    def drop() -> None:
        db = open_store(postgres_url, upgrade=False)
        db.drop_tables([*ALL_MODELS, SchemaVersion], safe=True, cascade=True)
        db.close()

    drop()
    shutil.copytree(REPO / "templates", tmp_path / "templates")
    config = small_config(
        tmp_path, address=SUPPORT, mailbox='display_name = "ACME Support"',
        store=f'url = "{postgres_url}"', departments=DEPARTMENTS, routing="", extra=EXTRA,
    )  # fmt: skip
    clock = [START]
    app = App.open(config, clock=lambda: clock[0])
    yield Desk(app, clock, tmp_path)
    app.db.close()
    drop()


@pytest.mark.postgres
def test_merge_find_and_snooze_on_postgresql(pg_desk: Desk) -> None:
    first, _ = open_ticket(pg_desk, f"Carol <{CAROL}>", "Printer jams")
    duplicate, note = open_ticket(pg_desk, f"Dan <{DAN}>", "Scanner jams")
    pg_desk.feed(reply_to(note, f"#merge SUP-{first.id}\n#snooze 1d\n#find scanner"))
    assert reload(duplicate).merged_into == first.id
    assert reload(first).snoozed_until == START + timedelta(days=1)
    [found] = outbox("lookup")
    assert f"[SUP-{first.id}]" in text_of(found)  # the scanner mail moved with the merge


def test_a_forward_our_mx_says_failed_dmarc_gets_the_warning(desk: Desk) -> None:
    ticket, note = open_ticket(desk, f"Carol <{CAROL}>", "Printer jams")
    forward = neomutt_forward(note, f"Alice Agent <{ALICE}>", attach=True)
    forward["Authentication-Results"] = "mx.acme.example; dmarc=fail header.from=acme.example"
    desk.feed(forward)
    assert not outbox("forward_hint") and [i.recipients for i in outbox("unverified")] == [[ALICE]]
