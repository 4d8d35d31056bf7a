"""Threading decisions (pure): headers first, then a subject tag only from participants."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from mailtix.decisions.correlate import clean_subject, decide, parse_ref, subject_tags
from mailtix.domain.values import Address, ParsedMail


class FakeStore:
    """An in-memory ThreadLookup: message ids → ticket, ticket → participants."""

    def __init__(self) -> None:
        self.ids = {"<ack-1@acme.example>": 1, "<cust-1@example.org>": 1, "<ack-2@acme.example>": 2}
        self.people = {1: frozenset({"carol@example.org"}), 2: frozenset({"dave@example.com"})}

    def ticket_for_message_ids(self, ids: Sequence[str]) -> tuple[int, str] | None:
        return next(((self.ids[i], i) for i in ids if i in self.ids), None)

    def ticket_participants(self, ticket_id: int) -> frozenset[str] | None:
        return self.people.get(ticket_id)


def mail(subject: str, sender: str = "carol@example.org", **kw: tuple[str, ...]) -> ParsedMail:
    return ParsedMail(message_id="<new@x>", subject=subject, sender=Address(sender), **kw)  # type: ignore[arg-type]


def test_in_reply_to_joins_whatever_the_subject() -> None:
    d = decide(mail("totally new words", in_reply_to=("<ack-1@acme.example>",)), "SUP", FakeStore())
    assert d.ticket_id == 1
    assert d.reason == "In-Reply-To <ack-1@acme.example>"


def test_references_newest_first() -> None:
    refs = ("<ack-1@acme.example>", "<unknown@x>", "<ack-2@acme.example>")
    d = decide(mail("x", references=refs), "SUP", FakeStore())
    assert (d.ticket_id, d.reason) == (2, "References <ack-2@acme.example>")


def test_unknown_header_ids_fall_back_to_tag() -> None:
    d = decide(mail("Re: [SUP-1] printer", in_reply_to=("<nope@x>",)), "SUP", FakeStore())
    assert d.ticket_id == 1
    assert "subject tag SUP-1 from participant" in d.reason


@pytest.mark.parametrize(
    "subject",
    [
        "Re: [SUP-1] printer",
        "AW: [SUP-1] printer",
        "Fwd: RE: [sup-1]",
        "WG: x [SUP-1] y",
        "[SUP-1]",
    ],
)
def test_tag_anywhere_with_any_prefix_joins_for_participant(subject: str) -> None:
    assert decide(mail(subject), "SUP", FakeStore()).ticket_id == 1


def test_tag_from_stranger_opens_new_ticket() -> None:
    d = decide(mail("Re: [SUP-1] printer", sender="eve@evil.example"), "SUP", FakeStore())
    assert d.ticket_id is None
    assert "not a participant" in d.reason


def test_tag_of_missing_ticket_opens_new_ticket() -> None:
    d = decide(mail("Re: [SUP-99] printer"), "SUP", FakeStore())
    assert d.ticket_id is None
    assert "SUP-99 does not exist" in d.reason


def test_first_tag_the_sender_may_use_wins() -> None:
    d = decide(mail("Re: [SUP-2] [SUP-1] both", sender="carol@example.org"), "SUP", FakeStore())
    assert d.ticket_id == 1


def test_full_width_digits_and_other_prefixes_are_not_tags() -> None:
    assert subject_tags("Re: [SUP-１２] [ABC-1] [SUP-] [SUP-1x]", "SUP") == []


def test_no_sender_never_joins_by_tag() -> None:
    m = ParsedMail(message_id=None, subject="[SUP-1]", sender=None)
    assert decide(m, "SUP", FakeStore()).ticket_id is None


def test_clean_subject_drops_old_tags() -> None:
    assert clean_subject("Re: [SUP-1]  printer [SUP-2]", "SUP") == "Re: printer"
    assert clean_subject("[SUP-3]", "SUP") == "(no subject)"


@pytest.mark.parametrize(
    ("text", "number"),
    [("SUP-42", 42), ("[SUP-42]", 42), ("42", 42), ("sup-7", 7), ("ABC-1", None), ("x", None)],
)
def test_parse_ref(text: str, number: int | None) -> None:
    assert parse_ref("SUP", text) == number


@pytest.mark.parametrize(
    ("stored", "sender"),
    [
        ("bob@xn--mnchen-3ya.example", "bob@münchen.example"),
        ("bob@münchen.example", "bob@xn--mnchen-3ya.example"),
        ("bob@münchen.example", "bob@MÜNCHEN.example"),
    ],
)
def test_participant_domain_in_punycode_or_unicode_is_the_same_participant(
    stored: str, sender: str
) -> None:
    store = FakeStore()
    store.people[1] = frozenset({stored})
    decision = decide(mail("Re: [SUP-1] printer", sender=sender), "SUP", store)
    assert decision.ticket_id == 1


def test_a_lookalike_unicode_domain_is_still_a_stranger() -> None:
    store = FakeStore()
    store.people[1] = frozenset({"bob@munchen.example"})
    decision = decide(mail("Re: [SUP-1] x", sender="bob@münchen.example"), "SUP", store)
    assert decision.ticket_id is None
