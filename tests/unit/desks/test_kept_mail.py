"""Spam and ignored mail that no folder holds (LMTP, ``mailtix ingest``) is kept in the
quarantine table, status kept, in the transaction of its receipt; ``quarantine retry`` makes
such a mail a ticket (an admin's decision, recorded on it); retention, erase and export cover
kept rows. A polled mail (IMAP, Maildir) keeps to its folders: nothing is kept for it."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from support.config import small_config

from mailtix.desks import pipeline as pipeline_module
from mailtix.desks.cpu_budget import OverBudget
from mailtix.desks.outcome import Outcome, Source
from mailtix.desks.release import retry
from mailtix.lifecycle.jobs import run_jobs
from mailtix.privacy.erase import erase, find_person
from mailtix.privacy.export import gather
from mailtix.runtime.app import App, ingest
from mailtix.store.models import Event, OutboxItem, QuarantineItem, Receipt, Ticket

SUPPORT = "support@acme.example"
CAROL = "carol@example.org"
MX = "mx.acme.example"
START = datetime(2026, 11, 23, 10, 0, 0)
ROUTING = """\
[[rule]]
name = "Newsletters"
when = { subject = "^newsletter" }
then = { ignore = true, department = "general", tags = ["was-ignored"] }
"""
_ids = itertools.count(1)


def make_app(tmp_path: Path, extra: str = "") -> App:
    config = small_config(
        tmp_path, address=SUPPORT, templates=True, routing=ROUTING,
        departments='[[department]]\nname = "general"\nagents = ["alice@acme.example"]\n',
        mailbox='department = "general"',
        extra=f'[agents]\nsecret = "0123456789abcdef0123"\ntrusted_authserv_ids = ["{MX}"]\n'
        f"[privacy]\nquarantine_days = 30\n{extra}",
    )  # fmt: skip
    return App.open(config, clock=lambda: START)


def mail(subject: str = "Printer jams", sender: str = f"Carol <{CAROL}>", **headers: str) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = sender, SUPPORT, subject
    msg["Message-ID"] = f"<k{next(_ids)}@example.org>"
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content("Please help.\n")
    return msg.as_bytes()


def spam_mail(subject: str = "Invoice overdue") -> bytes:
    """Flagged by our MX: its headers above its Authentication-Results."""
    top = f"X-Spam-Flag: YES\r\nAuthentication-Results: {MX}; dmarc=none\r\n".encode()
    return top + mail(subject)


def kept() -> list[QuarantineItem]:
    query = QuarantineItem.select().where(QuarantineItem.status == "kept")
    return list(query.order_by(QuarantineItem.id))


def lmtp(app: App, raw: bytes) -> Outcome:
    """What the LMTP worker does for one recipient."""
    return app.pipeline.process(raw, Source("support", folderless=True))


@pytest.fixture
def app(tmp_path: Path) -> App:
    return make_app(tmp_path)


def test_spam_and_ignored_mail_with_no_folder_is_kept_with_its_receipt(app: App) -> None:
    flagged, newsletter = spam_mail(), mail("Newsletter of November")
    assert lmtp(app, flagged).kind == "spam"
    assert ingest(app, "support", newsletter).kind == "ignored"
    spam, ignored = kept()
    assert (bytes(spam.rfc822), spam.size) == (flagged, len(flagged))
    assert spam.reason == "spam: flagged by the MX (X-Spam-Flag: YES)"
    assert bytes(ignored.rfc822) == newsletter
    assert ignored.reason == "ignored by rule Newsletters"
    assert [r.outcome for r in Receipt.select().order_by(Receipt.id)] == ["spam", "ignored"]
    assert Ticket.select().count() == 0 and OutboxItem.select().count() == 0


def test_a_mail_that_opens_a_ticket_or_comes_again_is_not_kept_twice(app: App) -> None:
    assert lmtp(app, mail()).kind == "ticket"
    flagged = spam_mail()
    assert lmtp(app, flagged).kind == "spam"
    assert lmtp(app, flagged).kind == "duplicate"  # the MTA delivers it again
    assert len(kept()) == 1 and QuarantineItem.select().count() == 1


def test_polled_mail_keeps_to_its_folders(app: App) -> None:
    uids = itertools.count(1)
    for raw in (spam_mail(), mail("Newsletter")):
        app.pipeline.process(raw, Source("support", 7, next(uids)))
    assert [r.outcome for r in Receipt.select()] == ["spam", "ignored"]
    assert QuarantineItem.select().count() == 0


def test_the_kept_row_is_rolled_back_with_the_rest_of_the_mail(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over the CPU budget after the row is written: the savepoint undoes it and its receipt;
    the mail is quarantined (held) instead, with its bytes: not lost, not kept twice."""

    def over(self: object, stage: str) -> None:
        if stage == "handling":
            raise OverBudget("handling took too long")

    monkeypatch.setattr(pipeline_module.CpuBudget, "check", over)
    assert lmtp(app, spam_mail()).kind == "quarantined"
    assert kept() == [] and [r.outcome for r in Receipt.select()] == ["quarantined"]
    assert QuarantineItem.get().status == "held"


def test_retry_of_kept_spam_opens_a_ticket_and_records_the_admin_decision(app: App) -> None:
    lmtp(app, spam_mail("Invoice overdue"))
    (item,) = kept()
    outcome = retry(app.pipeline, item)
    assert outcome.kind == "ticket"
    ticket = Ticket.get()
    assert ticket.subject == "Invoice overdue" and ticket.customer == CAROL
    (released,) = Event.select().where((Event.ticket == ticket.id) & (Event.type == "released"))
    assert released.actor == "admin" and "X-Spam-Flag: YES" in released.detail
    assert QuarantineItem.get_by_id(item.id).status == "released"
    assert OutboxItem.select().where(OutboxItem.kind == "acknowledgement").count() == 1
    assert retry(app.pipeline, QuarantineItem.get_by_id(item.id)).kind == "duplicate"


def test_retry_of_a_kept_ignored_mail_skips_the_ignore_but_not_the_automated_checks(
    app: App,
) -> None:
    ingest(app, "support", mail("Newsletter #12", List_Id="<news.example.org>"))
    (item,) = kept()
    outcome = retry(app.pipeline, item)
    assert outcome.kind == "ticket"
    ticket = Ticket.get()
    assert "was-ignored" in ticket.tags  # the rule's other actions still apply
    assert OutboxItem.select().where(OutboxItem.kind == "acknowledgement").count() == 0
    types = [e.type for e in Event.select().where(Event.ticket == ticket.id)]
    assert "released" in types and "no-ack" in types


def test_automated_mail_ignored_by_config_is_kept_and_released(tmp_path: Path) -> None:
    app = make_app(tmp_path, '[tickets]\nautomated_mail = "ignore"\n')
    lmtp(app, mail("Out of office", Auto_Submitted="auto-replied"))
    (item,) = kept()
    assert item.reason.startswith("ignored: automated mail")
    assert retry(app.pipeline, item).kind == "ticket"
    assert OutboxItem.select().where(OutboxItem.kind == "acknowledgement").count() == 0


def test_our_own_mail_stays_kept_on_retry(app: App) -> None:
    lmtp(app, mail("Looped", sender=f"Support <{SUPPORT}>"))
    (item,) = kept()
    assert retry(app.pipeline, item).kind == "ignored"
    assert QuarantineItem.get_by_id(item.id).status == "kept" and len(kept()) == 1
    assert Ticket.select().count() == 0


def test_retention_erase_and_export_cover_kept_mail(app: App) -> None:
    lmtp(app, spam_mail())
    lmtp(app, spam_mail("Another one"))
    doc = gather(CAROL, "SUP", START).document
    assert [q["status"] for q in doc["quarantined"]] == ["kept", "kept"]
    counts = dict(erase(find_person(CAROL), START))
    assert counts["quarantine"] == 2 and QuarantineItem.select().count() == 0
    lmtp(app, spam_mail("Old one"))
    lines = [r.line() for r in run_jobs(app, START + timedelta(days=31))]
    assert any(line.startswith("quarantine: rows 1") for line in lines), lines
    assert QuarantineItem.select().count() == 0


def test_a_retry_that_fails_leaves_the_row_as_it_was(
    app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    lmtp(app, spam_mail())
    (item,) = kept()

    def broken(*_: object) -> None:
        raise RuntimeError("store hiccup")

    monkeypatch.setattr(app.pipeline.customers, "open_ticket", broken)
    assert retry(app.pipeline, item).kind == "deferred"
    assert QuarantineItem.get_by_id(item.id).status == "kept" and Ticket.select().count() == 0
    raw = mail("Held, then retried")  # the same for a held one
    held = QuarantineItem.create(
        mailbox="support", sha256="0" * 64, rfc822=raw, size=len(raw), reason="x", created_at=START
    )
    assert retry(app.pipeline, held).kind == "deferred"
    assert QuarantineItem.get_by_id(held.id).status == "held"
