"""Erase, export and anonymisation on a throwaway SQLite store fed through the real pipeline:
every table is covered by an erase step or said to hold nothing personal, spellings of one
address are one person, a dry run changes nothing, an erase names no one, anonymisation keeps
the desk's own addresses and gives one customer one pseudonym."""

from __future__ import annotations

import itertools
import re
import sqlite3
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from support.config import small_config

from mailtix.desks.outcome import Source
from mailtix.domain.vocabulary import Status
from mailtix.lifecycle.jobs import run_jobs
from mailtix.privacy.erase import NOT_PERSONAL, STEPS, erase, find_person, record_erase
from mailtix.privacy.export import gather
from mailtix.privacy.matching import Spellings
from mailtix.runtime.app import App
from mailtix.store.models import ALL_MODELS, Message, OutboxItem, PrivacyEvent, Ticket

SUPPORT = "support@acme.example"
ALICE = "alice@acme.example"
CAROL = "carol@example.org"
START = datetime(2026, 11, 23, 10, 0, 0)
_uids = itertools.count(1)


def make_app(tmp_path: Path, privacy: str = "") -> App:
    config = small_config(
        tmp_path, address=SUPPORT, templates=True,
        departments=f'[[department]]\nname = "general"\nagents = ["{ALICE}"]\n',
        extra=f'[agents]\nsecret = "0123456789abcdef0123"\n[privacy]\n{privacy}\n',
    )  # fmt: skip
    return App.open(config, clock=lambda: START)


def feed(app: App, sender: str, subject: str, body: str = "Help!\n", cc: str = "") -> int:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, SUPPORT, subject
    msg["Message-ID"] = f"<m{next(_uids)}@example.org>"
    if cc:
        msg["Cc"] = cc
    msg.set_content(body)
    outcome = app.pipeline.process(msg.as_bytes(), Source("support", 1, next(_uids)))
    return int(outcome.ticket_ref.split("-")[1])


def dump(tmp_path: Path) -> str:
    db = sqlite3.connect(tmp_path / "mailtix.db")
    try:
        return "\n".join(db.iterdump()).lower()
    finally:
        db.close()


def names_carol(text: str) -> bool:
    return re.search(rf"(?<![\w.+-]){re.escape(CAROL)}(?![\w-]|\.[\w-])", text) is not None


def test_every_table_has_an_erase_step_or_holds_nothing_personal() -> None:
    covered = {step.model for step in STEPS} | set(NOT_PERSONAL)
    missing = [m.__name__ for m in ALL_MODELS if m not in covered]
    assert missing == [], "add an erase step (privacy/erase.STEPS) or a NOT_PERSONAL reason"


def test_spellings_of_one_address_are_one_person() -> None:
    who = Spellings.of("Bob@München.Example")
    assert who.equal("bob@xn--mnchen-3ya.example") and who.equal("BOB@münchen.example")
    assert who.mentioned("write to BOB@XN--MNCHEN-3YA.EXAMPLE please")
    assert who.mentioned_in_bytes(b"Cc: Bob@xn--mnchen-3ya.example\r\n")
    assert not who.mentioned("bob@munchen.example")
    assert who.replace("Bob@München.example, hi", "x@y.invalid") == "x@y.invalid, hi"


def test_dry_run_changes_nothing_and_erase_names_no_one(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    mine = [feed(app, f"Carol <{CAROL}>", f"Mine {n}", f"I am {CAROL}.\n") for n in range(2)]
    other = feed(app, "Dave <dave@example.net>", "Dave's", "Ask carol.\n", cc=CAROL.upper())
    jo = feed(app, f"Jo <jo{CAROL}>", "Jo's", f"Not {CAROL}.uk, I am jo{CAROL}\n")
    before = dump(tmp_path)
    assert names_carol(before)
    counts = dict(erase(find_person(CAROL), START, dry_run=True))
    assert dump(tmp_path) == before and counts["tickets"] == 2 and counts["participants"] == 3
    done = erase(find_person("CAROL@Example.ORG"), START)
    record_erase(done, START, actor="test")
    assert dict(done) == counts
    assert not names_carol(dump(tmp_path))
    assert [Ticket.get_by_id(t).status for t in mine] == [Status.CLOSED, Status.CLOSED]
    dave = Ticket.get_by_id(other)
    assert dave.customer == "dave@example.net" and dave.subject == "Dave's"
    (kept,) = Message.select().where((Message.ticket == other) & (Message.direction == "in"))
    assert kept.cc_addrs == [] and kept.rfc822 is None and kept.text == "Ask carol.\n"
    assert "carol" not in PrivacyEvent.get().detail
    (mail,) = Message.select().where((Message.ticket == jo) & (Message.direction == "in"))
    assert Ticket.get_by_id(jo).customer == f"jo{CAROL}" and mail.rfc822 is not None
    assert f"{CAROL}.uk" in mail.text and f"jo{CAROL}" in dump(tmp_path)
    assert {n for _, n in erase(find_person(CAROL), START)} == {0}


def test_export_leaves_out_notes_and_other_peoples_mail(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    feed(app, f"Carol <{CAROL}>", "Mine")
    feed(app, "Dave <dave@example.net>", "Dave's, without Carol")
    doc = gather(CAROL, "SUP", START).document
    assert [t["subject"] for t in doc["tickets"]] == ["Mine"]
    assert "dave@example.net" not in str(doc) and ALICE not in str(doc)


def test_anonymise_keeps_the_desk_and_gives_one_customer_one_pseudonym(tmp_path: Path) -> None:
    app = make_app(tmp_path, "erase_closed_days = 30")
    tickets = [feed(app, f"Carol <{CAROL}>", f"Mine {n}") for n in range(2)]
    Ticket.update(status=Status.CLOSED, closed_at=START, assignee=ALICE).execute()
    lines = [r.line() for r in run_jobs(app, START + timedelta(days=31))]
    assert "anonymise: tickets 2, people 2, customer records 1" in lines
    first, second = (Ticket.get_by_id(t) for t in tickets)
    assert first.customer == second.customer and first.customer.endswith("@anonymised.invalid")
    assert first.assignee == ALICE and first.subject == "(anonymised)"
    assert CAROL not in dump(tmp_path)
    again = [r.line() for r in run_jobs(app, START + timedelta(days=31))]
    assert "anonymise: nothing to do" in again


@pytest.mark.parametrize("days", ["keep_raw_days", "erase_closed_days", "quarantine_days"])
def test_retention_is_off_by_default(tmp_path: Path, days: str) -> None:
    app = make_app(tmp_path)
    feed(app, f"Carol <{CAROL}>", "Mine")
    Ticket.update(status=Status.CLOSED, closed_at=START).execute()
    assert getattr(app.config.privacy, days) == 0
    lines = [r.line() for r in run_jobs(app, START + timedelta(days=3650))]
    assert sum("off (" in line for line in lines) == 3
    assert Message.select().where(Message.rfc822.is_null(False)).count() == 1


def test_mail_that_names_them_only_once_decoded_is_found(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    other = feed(app, "Dave <dave@example.net>", "Dave's", "Hi.\n", cc=CAROL)
    note = EmailMessage()
    note["From"], note["To"], note["Subject"] = SUPPORT, ALICE, "Re: Dave's"
    note.set_content(f"Grüße, {'x' * 70} {CAROL} bekommt die Antwort.\n", cte="base64")
    raw = note.as_bytes()
    assert CAROL.encode() not in raw and Spellings.of(CAROL).mentioned_in_mail(raw)
    quoted = EmailMessage()
    quoted.set_content(f"{'y' * 70} {CAROL}\n", cte="quoted-printable")
    assert Spellings.of(CAROL).mentioned_in_mail(quoted.as_bytes())
    row = OutboxItem.create(
        ticket=other, kind="notification", envelope_from=SUPPORT, recipients=[ALICE],
        recipient_key=ALICE, message_id="<n1@acme.example>", rfc822=raw,
        next_attempt_at=START, created_at=START,
    )  # fmt: skip
    done = dict(erase(find_person(CAROL), START))
    assert done["outbox"] >= 1 and OutboxItem.get_or_none(OutboxItem.id == row.id) is None


def test_erase_also_cuts_the_link_to_anonymised_tickets(tmp_path: Path) -> None:
    app = make_app(tmp_path, "erase_closed_days = 30")
    old = feed(app, f"Carol <{CAROL}>", "Old")
    Ticket.update(status=Status.CLOSED, closed_at=START).execute()
    run_jobs(app, START + timedelta(days=31))
    pseudonym = Ticket.get_by_id(old).customer
    assert pseudonym.endswith("@anonymised.invalid")
    new = feed(app, f"Carol <{CAROL}>", "New")
    assert dict(erase(find_person(CAROL), START))["tickets"] == 2
    assert Ticket.get_by_id(old).customer.endswith("@erased.invalid")
    assert Ticket.get_by_id(new).customer == Ticket.get_by_id(old).customer
    assert pseudonym not in dump(tmp_path)


def in_index_pages(tmp_path: Path, word: bytes) -> bool:
    db = sqlite3.connect(tmp_path / "mailtix.db")
    try:
        blocks = db.execute("SELECT block FROM message_search_data").fetchall()
    finally:
        db.close()
    return any(word in bytes(b) for (b,) in blocks if b is not None)


def test_no_erased_or_anonymised_word_stays_in_the_search_index(tmp_path: Path) -> None:
    app = make_app(tmp_path, "erase_closed_days = 30")
    for n in range(30):
        feed(app, f"Filler <f{n}@example.net>", f"Filler {n}", "nothing to see\n")
    feed(app, f"Carol <{CAROL}>", "Mine", "my card is zqxvisa4242\n")
    old = feed(app, "Dave <dave@example.net>", "Old", "my pin is zqxpin9876\n")
    assert in_index_pages(tmp_path, b"zqxvisa4242") and in_index_pages(tmp_path, b"zqxpin9876")
    erase(find_person(CAROL), START)
    assert not in_index_pages(tmp_path, b"zqxvisa4242") and in_index_pages(tmp_path, b"zqxpin9876")
    Ticket.update(status=Status.CLOSED, closed_at=START).where(Ticket.id == old).execute()
    run_jobs(app, START + timedelta(days=31))
    assert not in_index_pages(tmp_path, b"zqxpin9876")


def test_an_export_never_replaces_a_file(tmp_path: Path) -> None:
    from mailtix.privacy.export import Export, write_zip

    export = Export({"tickets": []}, [("messages/1.eml", b"Subject: x\r\n\r\nx\r\n")])
    store = tmp_path / "mailtix.db"
    store.write_bytes(b"SQLite format 3\x00 the store")
    with pytest.raises(FileExistsError):
        write_zip(export, store)
    assert store.read_bytes() == b"SQLite format 3\x00 the store"
    (tmp_path / "gone").symlink_to(tmp_path / "nowhere")
    with pytest.raises(FileExistsError):
        write_zip(export, tmp_path / "gone")  # a dangling link is not followed either
    size = write_zip(export, tmp_path / "carol.zip")
    assert size == (tmp_path / "carol.zip").stat().st_size > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["carol.zip", "gone", "mailtix.db"]
