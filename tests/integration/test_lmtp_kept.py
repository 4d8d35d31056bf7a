"""Postfix -> LMTP -> mailtix, where no folder holds the mail: a spam-flagged and a rule-ignored
mail are kept in the quarantine table (status kept) before Postfix hears 250; `quarantine list
--kept` shows them, `quarantine retry` makes each a ticket (the newsletter, automated, gets no
acknowledgement), and `privacy erase` removes a kept mail naming the person."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.live import customer_mail, mailtix, parse, ticket, tickets
from support.lmtp_stack import lmtp_stack
from support.mailstack import MailStack
from test_lmtp_live import desk, serving, wait_until

pytestmark = pytest.mark.integration

MX = "mx.desk.test"
RULES = (
    '[[rule]]\nname = "Newsletters"\nwhen = { subject = "^newsletter" }\nthen = { ignore = true }\n'
)


@pytest.fixture(scope="module")
def stack() -> Iterator[MailStack]:
    with lmtp_stack() as found:
        yield found


def kept_desk(stack: MailStack, tmp_path: Path) -> dict[str, Any]:
    """The LMTP-only desk of test_lmtp_live, trusting our MX's spam flag, with an ignore rule."""
    d = desk(stack, tmp_path)
    (tmp_path / "routing.toml").write_text(RULES)
    config: Path = d["config"]
    text = config.read_text().replace("[lmtp]", '[rules]\nrouting = "routing.toml"\n\n[lmtp]')
    config.write_text(text + f'\n[agents]\ntrusted_authserv_ids = ["{MX}"]\n')
    return d


def flagged(d: dict[str, Any], subject: str) -> bytes:
    """As our MX's filter writes it: its verdict and Authentication-Results on top."""
    msg = customer_mail(d["carol_addr"], d["support"], subject)
    top = f"X-Spam-Flag: YES\r\nAuthentication-Results: {MX}; dmarc=none\r\n"
    return top.encode() + msg.as_bytes()


def listing(config: Path, *which: str) -> list[dict[str, Any]]:
    return list(json.loads(mailtix(config, "quarantine", "list", *which, "--json").stdout))


def test_spam_and_ignored_mail_by_lmtp_is_kept_retried_and_erased(
    stack: MailStack, tmp_path: Path
) -> None:
    d = kept_desk(stack, tmp_path)
    config: Path = d["config"]
    newsletter = customer_mail(
        d["carol_addr"], d["support"], "Newsletter of December", List_Unsubscribe="<mailto:x@y>"
    )
    with serving(stack, config):
        stack.send(flagged(d, "Invoice 2026-118 overdue"), d["carol_addr"], [d["support"]])
        stack.send(newsletter, d["carol_addr"], [d["support"]])
        wait_until("two kept", lambda: len(listing(config, "--kept")) == 2)
        stack.wait_queue_empty(timeout=30)
    log = stack.log_tail(300)
    assert "250 2.0.0 spam" in log and "250 2.0.0 ignored" in log
    spam, ignored = listing(config, "--kept")
    assert spam["reason"] == "spam: flagged by the MX (X-Spam-Flag: YES)"
    assert ignored["reason"] == "ignored by rule Newsletters"
    assert {spam["status"], ignored["status"]} == {"kept"} and spam["size"] > 0
    assert listing(config) == [] and tickets(config) == []  # not held: nothing to fix
    status = json.loads(mailtix(config, "status", "--json", check=False).stdout)
    assert status["quarantine"] == {"held": 0, "kept": 2}

    first = mailtix(config, "quarantine", "retry", str(spam["id"]))
    assert first.stdout.startswith("ticket "), first.stdout
    second = mailtix(config, "quarantine", "retry", str(ignored["id"]))
    assert second.stdout.startswith("ticket "), second.stdout
    shown = {t["subject"]: ticket(config, t["ref"]) for t in tickets(config)}
    assert set(shown) == {"Invoice 2026-118 overdue", "Newsletter of December"}
    for one in shown.values():
        [released] = [e for e in one["events"] if e["type"] == "released"]
        assert "released by an admin" in released["detail"]
    assert [q["status"] for q in listing(config, "--all")] == ["released", "released"]
    # the released spam is acknowledged; the newsletter (automated) is not
    [ack] = stack.wait_for_messages(d["carol"], count=1, timeout=30)
    stack.wait_queue_empty(timeout=30)
    assert len(stack.folder_uids(d["carol"])) == 1
    assert parse(ack)["Subject"].endswith("] Invoice 2026-118 overdue")

    with serving(stack, config):
        stack.send(flagged(d, "One more"), d["carol_addr"], [d["support"]])
        wait_until("one more kept", lambda: len(listing(config, "--kept")) == 1)
    erased = mailtix(config, "privacy", "erase", d["carol_addr"]).stdout
    assert "quarantine: 3" in erased, erased
    assert listing(config, "--all") == []


@pytest.mark.postgres
def test_kept_and_released_on_postgresql(postgres_url: str, tmp_path: Path) -> None:
    """The worker's path and the release on a PostgreSQL store: the kept row commits with its
    receipt, the retry (the pipeline's commits as savepoints of one transaction) makes a ticket.
    """
    from mailtix.desks.release import retry
    from mailtix.runtime.app import App
    from mailtix.runtime.lmtp_worker import DeliveryWorker
    from mailtix.store import open_store
    from mailtix.store.db import is_postgres
    from mailtix.store.models import ALL_MODELS, Event, QuarantineItem, SchemaVersion, Ticket

    def drop_all() -> None:
        db = open_store(postgres_url, upgrade=False)
        db.drop_tables([*ALL_MODELS, SchemaVersion], safe=True, cascade=True)
        db.close()

    drop_all()
    path = tmp_path / "mailtix.toml"
    path.write_text(
        f'[store]\nurl = "{postgres_url}"\n\n[smtp]\nmaildir = "out"\n\n'
        f'[lmtp]\nlisten = "127.0.0.1:2424"\n\n[agents]\ntrusted_authserv_ids = ["{MX}"]\n\n'
        '[[mailbox]]\nname = "support"\naddress = "support@acme.example"\n'
    )
    app = App.open(path)
    try:
        assert is_postgres(app.db)
        d = {"carol_addr": "carol@customer.example", "support": "support@acme.example"}
        worker = DeliveryWorker(app.pipeline).start()
        results = worker.submit(flagged(d, "Kept on PostgreSQL"), ["support"]).result(60)
        worker.stop(10)
        assert results["support"] is not None and results["support"].kind == "spam"
        (item,) = QuarantineItem.select()
        assert item.status == "kept" and item.reason.startswith("spam: flagged by the MX")
        outcome = retry(app.pipeline, item)
        assert outcome.kind == "ticket" and Ticket.select().count() == 1
        assert QuarantineItem.get_by_id(item.id).status == "released"
        assert Event.select().where(Event.type == "released").count() == 1
    finally:
        app.db.close()
        drop_all()
