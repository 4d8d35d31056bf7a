"""A Google Group's or mailing list's DMARC rewrite of From (issue 13): the person, not the
group, is the customer - only when the group is our own support address; a stranger gains
nothing by writing the rewrite by hand."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from mailtix.decisions.group_rewrite import unwrapped
from mailtix.desks.outcome import Source
from mailtix.domain.values import Address
from mailtix.inbound.parse import parse_message
from mailtix.runtime.app import App
from mailtix.store.models import OutboxItem, Ticket
from tests.unit.desks.test_pipeline import app, clock, make_app  # noqa: F401 - fixtures

MAILS = Path(__file__).parents[2] / "data" / "mails"
OURS = frozenset({"support@acme.example"})
GOOGLE = MAILS / "google-groups-rewrite.eml"


def test_unquoted_comma_in_a_group_rewrite_is_not_an_ambiguous_from() -> None:
    mail = parse_message(GOOGLE.read_bytes())
    assert mail.sender == Address("support@acme.example", "'Marston, John' via ACME Support")
    assert "ambiguous From" not in mail.defects
    assert mail.original_from == (Address("john.marston@customer.example", "Marston, John"),)


def test_google_groups_rewrite_of_our_address_gives_the_person() -> None:
    mail = unwrapped(parse_message(GOOGLE.read_bytes()), OURS)
    assert mail.sender == Address("john.marston@customer.example", "Marston, John")
    assert any("rewritten by the group support@acme.example" in d for d in mail.defects)


def test_mailman_rewrite_gives_the_person_from_reply_to_with_list_id() -> None:
    mail = unwrapped(parse_message((MAILS / "mailman-rewrite.eml").read_bytes()), OURS)
    assert mail.sender == Address("anna.berg@kunde.example", "Anna Berg")


def test_another_lists_rewrite_keeps_the_list_as_sender() -> None:
    mail = parse_message(GOOGLE.read_bytes())
    assert unwrapped(mail, frozenset({"help@other.example"})) == mail


def test_a_stranger_cannot_name_someone_else_with_x_original_from() -> None:
    raw = GOOGLE.read_bytes().replace(
        b"From: 'Marston, John' via ACME Support <support@acme.example>",
        b"From: Eve via ACME Support <eve@evil.example>",
    )
    mail = unwrapped(parse_message(raw), OURS)
    assert mail.sender is not None and mail.sender.email == "eve@evil.example"


def test_no_rewrite_without_via_or_without_a_single_person() -> None:
    mail = parse_message(GOOGLE.read_bytes())
    plain = replace(mail, sender=Address("support@acme.example", "ACME Support"))
    assert unwrapped(plain, OURS) == plain
    two = replace(mail, original_from=(Address("a@x.example"), Address("b@y.example")))
    assert unwrapped(two, OURS) == two
    ours = replace(mail, original_from=(Address("support@acme.example"),))
    assert unwrapped(ours, OURS) == ours


def test_reply_to_alone_is_not_trusted_without_list_id() -> None:
    raw = (MAILS / "mailman-rewrite.eml").read_bytes().replace(b"List-Id:", b"X-Was-List-Id:")
    mail = parse_message(raw)
    assert unwrapped(mail, OURS) == mail


def test_group_mail_opens_a_ticket_for_the_person_without_an_automatic_answer(
    app: App,  # noqa: F811
) -> None:
    outcome = app.pipeline.process(GOOGLE.read_bytes(), Source("support", 1, 1))
    assert outcome.kind == "ticket", outcome
    ticket = Ticket.get()
    assert ticket.customer == "john.marston@customer.example"
    kinds = [row.kind for row in OutboxItem.select()]
    assert "acknowledgement" not in kinds  # group mail carries List-Id: list mail, no answer
