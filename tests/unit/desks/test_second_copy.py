"""One mail sent to two support addresses opens ONE ticket (pipeline._second_copy), while a
different mail that merely reuses a Message-ID is never swallowed as a "copy" (checklist P9).

Two Maildir mailboxes, "support" and "billing", and SMTP into a Maildir; no servers.
"""

from __future__ import annotations

import mailbox
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
from support.config import small_config

from mailtix.desks.outcome import Source
from mailtix.runtime.app import App, poll_cycle
from mailtix.store.models import Event, Message, OutboxItem, Receipt, Ticket

SUPPORT, BILLING = "support@acme.example", "billing@acme.example"
MESSAGE_ID = "<same-1@customer.example>"

EXTRA = f"""\
[tickets]
prefix = "SUP"

[[mailbox]]
name = "billing"
address = "{BILLING}"
display_name = "ACME Billing"
maildir = "billing-inbox"
department = "billing"
"""

DEPARTMENTS = """\
[[department]]
name = "general"
agents = ["alice@acme.example"]

[[department]]
name = "billing"
agents = ["bob@acme.example"]
"""


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 23, 10, 0, 0)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def app(tmp_path: Path) -> App:
    config = small_config(
        tmp_path, address=SUPPORT, maildir="support-inbox", templates=True,
        mailbox='display_name = "ACME Support"\ndepartment = "general"',
        departments=DEPARTMENTS, routing="", extra=EXTRA,
    )  # fmt: skip
    return App.open(config, clock=Clock())


def mail(
    sender: str = "Carol <carol@example.org>",
    subject: str = "Invoice 4711 charged twice",
    body: str = "You charged my card twice for invoice 4711.\n",
    message_id: str = MESSAGE_ID,
    delivered_to: str | None = None,
) -> bytes:
    msg = EmailMessage()
    if delivered_to is not None:  # what the delivering MTA prepends to each copy
        msg["Delivered-To"] = delivered_to
    msg["From"] = sender
    msg["To"] = f"ACME Support <{SUPPORT}>, ACME Billing <{BILLING}>"
    msg["Subject"] = subject
    msg["Date"] = "Mon, 23 Nov 2026 09:58:00 +0000"
    msg["Message-ID"] = message_id
    msg.set_content(body)
    return msg.as_bytes()


def acks() -> int:
    return OutboxItem.select().where(OutboxItem.kind == "acknowledgement").count()


def copy_events(ticket_id: int) -> list[Event]:
    return list(Event.select().where((Event.ticket == ticket_id) & (Event.type == "copy")))


@pytest.mark.parametrize(
    "first, second",
    [
        pytest.param(mail(), mail(), id="identical-bytes"),
        pytest.param(
            mail(delivered_to=SUPPORT), mail(delivered_to=BILLING), id="per-copy-delivered-to"
        ),
    ],
)
def test_same_message_through_two_mailboxes_is_one_ticket(
    app: App, first: bytes, second: bytes
) -> None:
    one = app.pipeline.process(first, Source("support", 1, 1))
    assert (one.kind, one.ticket_ref) == ("ticket", "SUP-1")
    outbox_after_first = OutboxItem.select().count()

    two = app.pipeline.process(second, Source("billing", 1, 1))
    assert (two.kind, two.ticket_ref) == ("duplicate", "SUP-1")

    assert Ticket.select().count() == 1
    assert Ticket.get_by_id(1).department == "general"  # the first copy decided
    assert acks() == 1
    assert OutboxItem.select().count() == outbox_after_first  # no second ack, no notification
    incoming = Message.select().where(Message.direction == "in")
    assert incoming.count() == 1  # the copy is not stored as a second message
    [event] = copy_events(1)
    assert "billing" in event.detail and BILLING in event.detail
    receipt = Receipt.get((Receipt.mailbox == "billing") & (Receipt.uid == 1))
    assert (receipt.outcome, receipt.ticket_id) == ("duplicate", 1)

    # The copy is settled for good: polling billing again does not add another event.
    again = app.pipeline.process(second, Source("billing", 1, 1))
    assert (again.kind, again.ticket_ref) == ("duplicate", "SUP-1")
    assert len(copy_events(1)) == 1 and Ticket.select().count() == 1


@pytest.mark.parametrize(
    "other",
    [
        pytest.param(mail(sender="Mallory <mallory@evil.example>"), id="other-sender"),
        pytest.param(mail(subject="Something else entirely"), id="other-subject"),
    ],
)
@pytest.mark.parametrize("mailbox_name", ["billing", "support"])
def test_reused_message_id_from_another_message_is_never_swallowed(
    app: App, other: bytes, mailbox_name: str
) -> None:
    first = app.pipeline.process(mail(), Source("support", 1, 1))
    assert (first.kind, first.ticket_ref) == ("ticket", "SUP-1")

    outcome = app.pipeline.process(other, Source(mailbox_name, 1, 2))
    assert outcome.kind == "ticket", outcome
    assert outcome.ticket_ref == "SUP-2"
    assert Ticket.select().count() == 2
    assert acks() == 2
    assert copy_events(1) == [] and copy_events(2) == []
    # Both messages are kept, each on its own ticket, under the shared Message-ID.
    rows = Message.select().where(Message.message_id == MESSAGE_ID).order_by(Message.id)
    assert all(m.direction == "in" for m in rows)
    assert [m.ticket_id for m in rows] == [1, 2]


def test_poll_moves_both_copies_to_processed(app: App, tmp_path: Path) -> None:
    """Through the real poll loop: both inboxes empty, both Processed folders hold the mail,
    and the customer gets exactly one acknowledgement in the outgoing Maildir."""
    for name, address in (("support-inbox", SUPPORT), ("billing-inbox", BILLING)):
        mailbox.Maildir(tmp_path / name, create=True).add(mail(delivered_to=address))

    result = poll_cycle(app)
    assert not result.errors
    kinds = {p.mailbox: dict(p.outcomes) for p in result.polls}
    assert kinds == {"support": {"ticket": 1}, "billing": {"duplicate": 1}}

    for name in ("support-inbox", "billing-inbox"):
        box = mailbox.Maildir(tmp_path / name, create=False)
        assert len(box) == 0, name
        assert len(box.get_folder("Processed")) == 1, name
    sent = [m for m in mailbox.Maildir(tmp_path / "outgoing", create=False)]
    to_carol = [m for m in sent if "carol@example.org" in str(m["To"])]
    assert len(to_carol) == 1
    assert str(to_carol[0]["Subject"]).startswith("[SUP-1] ")
    assert Ticket.select().count() == 1 and len(copy_events(1)) == 1
