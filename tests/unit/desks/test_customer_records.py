"""The pipeline keeps customer records and writes in the customer's language: the record's,
else the organisation's, else the mailbox's, else the defaults (no servers: Maildir in/out)."""

from __future__ import annotations

import email
import email.policy
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
from support.config import small_config

from mailtix.desks.outcome import Source
from mailtix.runtime.app import App
from mailtix.store.customers import ImportRow, find_customer, import_customer
from mailtix.store.models import Customer, OutboxItem, Ticket

NOW = datetime(2026, 12, 1, 10, 0, 0)
ORGANISATIONS = """\
[[organisation]]
name = "BigCorp"
domains = ["bigcorp.example"]
language = "de"
"""


def open_app(tmp_path: Path, language: str = "") -> App:
    config = small_config(
        tmp_path, mailbox=f'language = "{language}"', templates=True,
        departments='[[department]]\nname = "general"\n', organisations=ORGANISATIONS,
    )  # fmt: skip
    return App.open(config, clock=lambda: NOW)


def feed(app: App, sender: str, subject: str, cc: str = "") -> str:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, "support@acme.example", subject
    if cc:
        msg["Cc"] = cc
    msg["Message-ID"] = f"<{abs(hash(subject))}@example.org>"
    msg.set_content("Hello")
    outcome = app.pipeline.process(msg.as_bytes(), Source("support"))
    assert outcome.kind == "ticket", outcome
    return str(outcome.ticket_ref)


def ack_text(ref: str) -> str:
    ticket = Ticket.get_by_id(int(ref.split("-")[1]))
    row = OutboxItem.get((OutboxItem.ticket == ticket) & (OutboxItem.kind == "acknowledgement"))
    parsed = email.message_from_bytes(row.rfc822, policy=email.policy.default)
    body = parsed.get_body(preferencelist=("plain",))  # type: ignore[attr-defined]
    return str(body.get_content())


@pytest.mark.parametrize(
    ("mailbox", "sender", "record", "greeting"),
    [
        ("", "Dana <dana@bigcorp.example>", "", "Guten Tag Dana,"),  # the organisation's
        ("", "Dana <dana@bigcorp.example>", "en", "Hello Dana,"),  # the customer's own wins
        ("de", "Erin <erin@other.example>", "", "Guten Tag Erin,"),  # the mailbox's
        ("", "Erin <erin@other.example>", "", "Hello Erin,"),  # the defaults
        ("", "Erin <erin@other.example>", "fr", "Hello Erin,"),  # no French: the defaults
    ],
)
def test_acknowledgement_language(
    tmp_path: Path, mailbox: str, sender: str, record: str, greeting: str
) -> None:
    app = open_app(tmp_path, mailbox)
    try:
        address = sender.split("<")[1].rstrip(">")
        if record:
            import_customer(ImportRow(address, language=record), NOW)
        ref = feed(app, sender, "Printer")
        assert ack_text(ref).startswith(greeting)
    finally:
        app.db.close()


def test_sender_and_copied_people_become_customers_and_the_ticket_its_organisation(
    tmp_path: Path,
) -> None:
    app = open_app(tmp_path)
    try:
        ref = feed(app, "Dana <Dana@BigCorp.example>", "First", cc="Finn <finn@other.example>")
        assert Ticket.get_by_id(int(ref.split("-")[1])).organisation == "BigCorp"
        assert {c.key: c.name for c in Customer.select()} == {
            "dana@bigcorp.example": "Dana", "finn@other.example": "Finn",
        }  # fmt: skip
        feed(app, "Erin <erin@other.example>", "Second")
        erin = find_customer("ERIN@other.example")
        assert erin is not None and erin.first_seen == NOW
        assert Ticket.select().where(Ticket.organisation.is_null()).count() == 1
    finally:
        app.db.close()


AGENT = "alice@acme.example"


def test_customer_command_moves_the_ticket_to_the_new_customers_organisation(
    tmp_path: Path,
) -> None:
    config = small_config(
        tmp_path, templates=True, organisations=ORGANISATIONS,
        departments=f'[[department]]\nname = "general"\nagents = ["{AGENT}"]\n',
        extra='[agents]\nsecret = "0123456789abcdef0123"\n',
    )  # fmt: skip
    app = App.open(config, clock=lambda: NOW)
    try:
        ref = feed(app, "Erin <erin@other.example>", "Printer")
        ticket_id = int(ref.split("-")[1])
        assert Ticket.get_by_id(ticket_id).organisation is None
        note = OutboxItem.get(OutboxItem.kind == "notification")
        sent = email.message_from_bytes(note.rfc822, policy=email.policy.default)
        reply = EmailMessage()
        reply["From"], reply["To"] = f"Alice <{AGENT}>", "support@acme.example"
        reply["Subject"] = f"Re: {sent['Subject']}"
        reply["Message-ID"] = "<alice-1@acme.example>"
        reply["In-Reply-To"] = reply["References"] = sent["Message-ID"]
        reply.set_content("#customer dana@bigcorp.example\n")
        outcome = app.pipeline.process(reply.as_bytes(), Source("support"))
        assert outcome.kind == "followup", outcome
        moved = Ticket.get_by_id(ticket_id)
        assert (moved.customer, moved.organisation) == ("dana@bigcorp.example", "BigCorp")
        assert find_customer("dana@bigcorp.example") is not None
    finally:
        app.db.close()
