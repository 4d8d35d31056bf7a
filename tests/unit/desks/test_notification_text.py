"""A new ticket's or a reply's text is cut for a notification (quotes and signature: the
costliest step after parsing, for a long mail) only when someone is notified."""

from __future__ import annotations

from datetime import datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
from support.config import small_config

import mailtix.desks.intake
from mailtix.desks.outcome import Source
from mailtix.runtime.app import App
from mailtix.store.models import OutboxItem

NOBODY = '[[department]]\nname = "general"\n'
ALICE = '[[department]]\nname = "general"\nagents = ["alice@acme.example"]\n'


def mail(subject: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Carol <carol@example.org>"
    msg["To"] = "support@acme.example"
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{abs(hash(subject))}@example.org>"
    msg.set_content("The printer jams.\n\n-- \nCarol\n")
    return msg.as_bytes()


@pytest.mark.parametrize(("departments", "cuts"), [(NOBODY, 0), (ALICE, 2)])
def test_the_text_is_cut_only_for_a_notification(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, departments: str, cuts: int
) -> None:
    calls: list[str] = []
    real = mailtix.desks.intake.visible_reply

    def counted(text: str):  # type: ignore[no-untyped-def]
        calls.append(text)
        return real(text)

    monkeypatch.setattr(mailtix.desks.intake, "visible_reply", counted)
    config = small_config(tmp_path, templates=True, departments=departments,
                          mailbox='department = "general"')  # fmt: skip
    app = App.open(config, clock=lambda: datetime(2026, 12, 3, 9))
    first = app.pipeline.process(mail("Printer jams"), Source("support"))
    assert first.kind == "ticket" and first.ticket_ref is not None
    reply = app.pipeline.process(mail(f"Re: [{first.ticket_ref}] Printer jams"), Source("support"))
    assert reply.kind == "followup"
    assert len(calls) == cuts
    notified = OutboxItem.select().where(OutboxItem.kind == "notification").count()
    assert notified == cuts
