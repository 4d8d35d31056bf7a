"""`mailtix ingest` as an MTA pipe (Postfix alias / procmail): one message on stdin or in a file
goes through the same pipeline as polling; the acknowledgement goes out through Postfix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from support.live import (
    customer_mail,
    mailtix,
    parse,
    tickets,
    unique,
    write_config,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def desk(mailstack: Any, tmp_path: Path) -> dict[str, Any]:
    support, carol = unique("support"), unique("carol")
    mailstack.add_user(carol)
    config = write_config(tmp_path, mailstack, [{"name": "support", "user": support}])
    return {
        "config": config,
        "support_addr": f"{support}@example.test",
        "carol": carol,
        "carol_addr": f"{carol}@customer.test",
        "tmp": tmp_path,
    }


def test_stdin_and_file_make_a_ticket_once_and_ack_goes_out(
    mailstack: Any, desk: dict[str, Any]
) -> None:
    raw = customer_mail(desk["carol_addr"], desk["support_addr"], "Piped in").as_bytes()

    first = mailtix(desk["config"], "ingest", "--mailbox", "support", stdin=raw)
    [only] = tickets(desk["config"])
    assert first.stdout.split()[:2] == ["ticket", only["ref"]]
    [ack_raw] = mailstack.wait_for_messages(desk["carol"], count=1)
    ack = parse(ack_raw)
    assert ack["Subject"] == f"[{only['ref']}] Piped in"
    assert ack["From"].addresses[0].addr_spec == desk["support_addr"]

    # the MTA retries the same delivery: reported as a duplicate, nothing new
    again = mailtix(desk["config"], "ingest", "--mailbox", "support", stdin=raw)
    assert again.stdout.split()[:2] == ["duplicate", only["ref"]]
    # the same bytes from a file: the same
    eml = desk["tmp"] / "same.eml"
    eml.write_bytes(raw)
    from_file = mailtix(desk["config"], "ingest", "--mailbox", "support", str(eml))
    assert from_file.stdout.split()[:2] == ["duplicate", only["ref"]]
    assert len(tickets(desk["config"])) == 1

    # a different message from a file: a second ticket with its own acknowledgement
    other = desk["tmp"] / "other.eml"
    other.write_bytes(
        customer_mail(desk["carol_addr"], desk["support_addr"], "From a file").as_bytes()
    )
    second = mailtix(desk["config"], "ingest", "--mailbox", "support", str(other))
    assert second.stdout.startswith("ticket ")
    assert len(tickets(desk["config"])) == 2
    acks = mailstack.wait_for_messages(desk["carol"], count=2)
    mailstack.wait_queue_empty()
    assert len(mailstack.folder_uids(desk["carol"])) == len(acks) == 2
    assert sorted(str(parse(a)["Subject"]).split("] ", 1)[1] for a in acks) == [
        "From a file",
        "Piped in",
    ]


def test_unknown_mailbox_is_a_usage_error(desk: dict[str, Any]) -> None:
    raw = customer_mail(desk["carol_addr"], desk["support_addr"], "Lost").as_bytes()
    proc = mailtix(desk["config"], "ingest", "--mailbox", "nope", stdin=raw, check=False)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "nope" in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert tickets(desk["config"]) == []


def test_oversized_stdin_is_quarantined_by_size_without_a_ticket_or_reply(
    mailstack: Any, tmp_path: Path
) -> None:
    support, carol = unique("support"), unique("carol")
    mailstack.add_user(carol)
    mailboxes = [{"name": "support", "user": support, "max_message_bytes": 4000}]
    config = write_config(tmp_path, mailstack, mailboxes)
    carol_addr = f"{carol}@customer.test"
    small = customer_mail(carol_addr, f"{support}@example.test", "Fits", "ok\n").as_bytes()
    body = ("x" * 70 + "\n") * 200  # about 14 KB
    raw = customer_mail(carol_addr, f"{support}@example.test", "Huge", body).as_bytes()

    proc = mailtix(config, "ingest", "--mailbox", "support", stdin=raw)
    assert proc.returncode == 0  # handled, so the MTA does not deliver it again
    assert (
        proc.stdout.split()
        == f"quarantined too large: {len(raw)} bytes (max_message_bytes)".split()
    )
    [held] = json.loads(mailtix(config, "quarantine", "list", "--json").stdout)
    assert (held["size"], held["status"]) == (len(raw), "held")
    assert tickets(config) == []

    fits = mailtix(config, "ingest", "--mailbox", "support", stdin=small)
    assert fits.stdout.startswith("ticket "), fits.stdout
    mailstack.wait_for_messages(carol, count=1)
    mailstack.wait_queue_empty()
    [ack] = mailstack.fetch(carol)
    assert parse(ack)["Subject"].endswith("Fits")  # no reply to the oversized one


def test_spam_and_ignored_mail_piped_in_is_kept_retried_and_erased(
    mailstack: Any, tmp_path: Path
) -> None:
    """No folder holds a piped mail: a spam-flagged and a rule-ignored one are kept in the
    quarantine table (exit 0: the MTA is done with them), retried into tickets, erased."""
    support, carol = unique("support"), unique("carol")
    mailstack.add_user(carol)
    rule = '[[rule]]\nname = "Newsletters"\nwhen = { subject = "^newsletter" }\n'
    config = write_config(
        tmp_path, mailstack, [{"name": "support", "user": support}],
        extra='[agents]\ntrusted_authserv_ids = ["mx.example.test"]\n',
        routing=rule + "then = { ignore = true }\n",
    )  # fmt: skip
    carol_addr, to = f"{carol}@customer.test", f"{support}@example.test"
    top = b"X-Spam-Flag: YES\r\nAuthentication-Results: mx.example.test; dmarc=none\r\n"
    spam = top + customer_mail(carol_addr, to, "Refund for order 77").as_bytes()
    news = customer_mail(carol_addr, to, "Newsletter 12", Precedence="bulk").as_bytes()

    assert mailtix(config, "ingest", "--mailbox", "support", stdin=spam).stdout.startswith("spam")
    assert mailtix(config, "ingest", "--mailbox", "support", stdin=news).stdout.startswith(
        "ignored"
    )
    kept = json.loads(mailtix(config, "quarantine", "list", "--kept", "--json").stdout)
    assert [k["reason"] for k in kept] == [
        "spam: flagged by the MX (X-Spam-Flag: YES)",
        "ignored by rule Newsletters",
    ]
    assert json.loads(mailtix(config, "quarantine", "list", "--json").stdout) == []
    for item in kept:
        done = mailtix(config, "quarantine", "retry", str(item["id"]))
        assert done.stdout.startswith("ticket "), done.stdout
    assert sorted(t["subject"] for t in tickets(config)) == ["Newsletter 12", "Refund for order 77"]
    [ack] = mailstack.wait_for_messages(carol, count=1)
    mailstack.wait_queue_empty()
    assert len(mailstack.folder_uids(carol)) == 1  # the bulk newsletter gets no reply
    assert parse(ack)["Subject"].endswith("] Refund for order 77")

    mailtix(config, "ingest", "--mailbox", "support", stdin=spam.replace(b"77", b"78"))
    erased = mailtix(config, "privacy", "erase", carol_addr).stdout
    assert "quarantine: 3" in erased, erased
    assert json.loads(mailtix(config, "quarantine", "list", "--all", "--json").stdout) == []
