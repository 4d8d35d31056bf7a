"""Data protection against real Dovecot + Postfix: a customer (Carol) with three tickets, a
participant (Cc) on a fourth, a quarantined mail of hers and the processed IMAP copies.
`privacy export` holds exactly her data; `privacy erase` leaves no occurrence of her address in
the database (full dump) or any IMAP folder while the daemon runs, and others' tickets intact;
retention by `jobs run --at` drops what it should and nothing else; reports under
`pseudonymous` and `off` name no agent."""

from __future__ import annotations

import email
import email.policy
import json
import re
import signal
import sqlite3
import stat
import subprocess
import sys
import time
import zipfile
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import pytest
from support.live import customer_mail, mailtix, parse, ticket, tickets, unique, write_config

from tests.integration.test_agents import agent_reply

pytestmark = pytest.mark.integration

SECRET = 'secret = "privacy-test-secret-0123456789"'


@pytest.fixture
def desk(mailstack: Any, tmp_path: Path) -> dict[str, Any]:
    names = {k: unique(k) for k in ("support", "carol", "dave", "eve", "alice")}
    for who in ("carol", "dave", "eve"):
        mailstack.add_user(names[who])
    addr = {
        k: f"{v}@{'example' if k in ('support', 'alice') else 'customer'}.test"
        for k, v in names.items()
    }
    departments = (
        f'[[department]]\nname = "general"\nagents = ["{addr["alice"]}"]\n\n'
        f'[[agent]]\nemail = "{addr["alice"]}"\nname = "Alice Agent"\n'
    )
    extra = f"[agents]\n{SECRET}\n"
    config = write_config(
        tmp_path, mailstack, [{"name": "support", "user": names["support"]}],
        departments=departments, extra=extra,
    )  # fmt: skip
    return {"config": config, "user": names, "addr": addr, "dir": tmp_path}


def set_privacy(desk: dict[str, Any], text: str) -> None:
    path: Path = desk["config"]
    body = re.sub(r"\n\[privacy\]\n[^\[]*", "\n", path.read_text())
    path.write_text(body + f"\n[privacy]\n{text}\n")


def unparseable(sender: str, to: str) -> bytes:
    """A mail whose header block is over 1 MB: quarantined with its bytes."""
    filler = "".join(f"\r\n {'x' * 70}" for _ in range(16000))
    return (
        f"From: Carol Example <{sender}>\r\nTo: {to}\r\nSubject: broken\r\n"
        f"Message-ID: {make_msgid(domain='customer.test')}\r\nX-Filler: start{filler}\r\n"
        "\r\nbody\r\n"
    ).encode()


def populate(stack: Any, desk: dict[str, Any]) -> None:
    """Three tickets of Carol's (the first with an attachment), Dave's with Carol in Cc, Eve's,
    and Carol's unparseable mail; one poll."""
    a, support = desk["addr"], desk["user"]["support"]
    for n in range(3):
        msg = customer_mail(f"Carol Example <{a['carol']}>", a["support"], f"Carol problem {n}",
                            f"Carol here, problem {n}. Call me back.\n")  # fmt: skip
        if n == 0:
            msg.add_attachment(b"%PDF-1.4 carol's invoice", maintype="application",
                               subtype="pdf", filename="invoice.pdf")  # fmt: skip
        stack.append(support, "INBOX", msg)
    dave = customer_mail(
        f"Dave <{a['dave']}>", a["support"], "Dave's printer", "Carol is in copy.\n"
    )
    dave["Cc"] = f"Carol Example <{a['carol']}>"
    stack.append(support, "INBOX", dave)
    stack.append(support, "INBOX", customer_mail(f"Eve <{a['eve']}>", a["support"], "Eve's VPN",
                                                 "My VPN drops.\n"))  # fmt: skip
    stack.append(support, "INBOX", unparseable(a["carol"], a["support"]))
    mailtix(desk["config"], "poll", "--once")
    assert len(tickets(desk["config"])) == 5
    assert len(json.loads(mailtix(desk["config"], "quarantine", "list", "--json").stdout)) == 1


def by_subject(desk: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {t["subject"]: t for t in tickets(desk["config"])}


def database(desk: dict[str, Any]) -> Path:
    return desk["dir"] / "mailtix.db"


def dump(desk: dict[str, Any]) -> str:
    """The whole database as SQL text, blobs decoded, lower-case."""
    db = sqlite3.connect(f"file:{database(desk)}?mode=ro", uri=True)
    try:
        text = "\n".join(db.iterdump())
    finally:
        db.close()

    def decoded(match: re.Match[str]) -> str:
        return bytes.fromhex(match[1]).decode("utf-8", "replace")

    return re.sub(r"X'([0-9a-fA-F]*)'", decoded, text).lower()


def imap_folders(stack: Any, user: str) -> dict[str, list[bytes]]:
    with stack.imap(user) as client:
        names = [name for _, _, name in client.list_folders()]
    return {name: stack.fetch(user, name) for name in names}


def query(desk: dict[str, Any], sql: str, *params: object) -> list[tuple[Any, ...]]:
    db = sqlite3.connect(f"file:{database(desk)}?mode=ro", uri=True)
    try:
        return list(db.execute(sql, params))
    finally:
        db.close()


def test_export_holds_exactly_her_data(mailstack: Any, desk: dict[str, Any]) -> None:
    populate(mailstack, desk)
    a = desk["addr"]
    output = desk["dir"] / "carol.zip"
    out = mailtix(desk["config"], "privacy", "export", a["carol"].upper(), "--output", str(output))
    print(out.stdout)
    assert stat.S_IMODE(output.stat().st_mode) == 0o600
    again = mailtix(desk["config"], "privacy", "export", a["carol"], "--output", str(output),
                    check=False)  # fmt: skip
    assert again.returncode == 2 and "already exists; export overwrites nothing" in again.stderr
    with zipfile.ZipFile(output) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    doc = json.loads(files["person.json"])
    roles = sorted((t["subject"], t["role"]) for t in doc["tickets"])
    mine = [(f"Carol problem {n}", "customer") for n in range(3)]
    assert roles == [*mine, ("Dave's printer", "participant")]
    assert doc["customer"]["email"] == a["carol"]
    assert len(doc["quarantined"]) == 1
    emls = sorted(n for n in files if n.startswith("messages/"))
    assert len(emls) == 4  # her three mails and Dave's mail that was sent to her too
    for name in emls:
        mail = parse(files[name])
        assert a["carol"] in f"{mail['From']} {mail['Cc']}"
    assert sum(1 for n in files if n.startswith("received/")) == 3  # her acknowledgements
    everything = b"\n".join(files.values()).lower()
    assert a["eve"].encode() not in everything and b"eve's vpn" not in everything
    assert a["alice"].encode() not in everything  # the agents' notifications are not hers
    assert a["carol"].encode() in everything


def test_erase_leaves_no_trace_while_the_daemon_runs(mailstack: Any, desk: dict[str, Any]) -> None:
    populate(mailstack, desk)
    a, support, carol = desk["addr"], desk["user"]["support"], desk["addr"]["carol"]
    before = by_subject(desk)
    assert carol in dump(desk)
    log = (desk["dir"] / "daemon.log").open("w")
    daemon = subprocess.Popen(
        [sys.executable, "-m", "mailtix", "--config", str(desk["config"]), "run"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        time.sleep(3)
        dry = mailtix(desk["config"], "privacy", "erase", carol, "--dry-run").stdout
        print(dry)
        assert "tickets: 3 would change" in dry
        assert "mail copies in support/Processed: 4 would change" in dry
        assert "mail copies in support/Quarantine: 1 would change" in dry
        assert carol in dump(desk)
        erased = mailtix(desk["config"], "privacy", "erase", carol).stdout
        print(erased)
        assert "tickets: 3 changed" in erased and "quarantine: 1 changed" in erased
        assert "participants: 4 changed" in erased
        assert carol not in dump(desk)
        for folder, messages in imap_folders(mailstack, support).items():
            assert not [m for m in messages if carol.encode() in m.lower()], folder
        assert len(mailstack.fetch(support, "Processed")) == 1  # Eve's; Dave's had her in Cc
        erased_tickets = [
            t for t in tickets(desk["config"]) if t["subject"] == "(erased on request)"
        ]
        assert len(erased_tickets) == 3 and {t["status"] for t in erased_tickets} == {"closed"}
        eve = ticket(desk["config"], before["Eve's VPN"]["ref"])
        assert eve["customer"] == a["eve"] and eve["messages"][0]["text"] == "My VPN drops.\n"
        dave = ticket(desk["config"], before["Dave's printer"]["ref"])
        assert dave["customer"] == a["dave"] and dave["participants"] == [a["dave"]]
        assert dave["messages"][0]["text"] == "Carol is in copy.\n"
        (detail,) = query(desk, "SELECT detail FROM privacy_event WHERE type = 'erase'")
        assert "tickets 3" in detail[0] and carol not in detail[0].lower()
        again = mailtix(desk["config"], "privacy", "erase", carol).stdout
        assert re.findall(r": (\d+) changed", again) == ["0"] * len(again.splitlines())
        assert daemon.poll() is None, "the daemon stopped"
        late = customer_mail(f"Eve <{a['eve']}>", a["support"], "Eve again", "Still here.\n")
        mailstack.append(support, "INBOX", late)
        deadline = time.monotonic() + 30
        while "Eve again" not in by_subject(desk) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert "Eve again" in by_subject(desk), "the daemon no longer polls"
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=60)
        log.close()
    print((desk["dir"] / "daemon.log").read_text()[-2000:])


def close_ticket(stack: Any, desk: dict[str, Any], subject: str) -> None:
    """Alice answers the ticket's notification with #status closed."""
    a = desk["addr"]
    notifications = [parse(m) for m in stack.wait_for_messages(desk["user"]["alice"], count=5)]
    (notification,) = [n for n in notifications if subject in str(n["Subject"])]
    reply = agent_reply(notification, a["alice"], a["support"], "#status closed\nAll done.")
    stack.append(desk["user"]["support"], "INBOX", reply)
    mailtix(desk["config"], "poll", "--once")


def at(days: int) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).isoformat(timespec="seconds")


def raw_state(desk: dict[str, Any], ref: str) -> tuple[int, int, int]:
    """(messages, with raw bytes, attachments) of one ticket."""
    number = int(ref.split("-")[1])
    (row,) = query(
        desk,
        "SELECT count(*), count(rfc822), (SELECT count(*) FROM attachment JOIN message m "
        "ON m.id = attachment.message_id WHERE m.ticket_id = ?) FROM message WHERE ticket_id = ?",
        number, number,
    )  # fmt: skip
    return row


def test_retention_a_year_later_drops_what_it_should(mailstack: Any, desk: dict[str, Any]) -> None:
    set_privacy(desk, "keep_raw_days = 30\nerase_closed_days = 365\nquarantine_days = 30")
    populate(mailstack, desk)
    support = desk["user"]["support"]
    close_ticket(mailstack, desk, "Carol problem 0")
    refs = {s: t["ref"] for s, t in by_subject(desk).items()}
    closed, other = refs["Carol problem 0"], refs["Carol problem 1"]
    assert ticket(desk["config"], closed)["status"] == "closed"
    kept_before, other_before = raw_state(desk, closed), raw_state(desk, other)
    assert kept_before[1] > 0 and kept_before[2] == 1
    processed = len(mailstack.fetch(support, "Processed"))

    soon = mailtix(desk["config"], "jobs", "run", "--at", at(10)).stdout
    print(soon)
    assert "keep-raw: nothing to do" in soon and "quarantine: nothing to do" in soon
    assert raw_state(desk, closed) == kept_before
    assert len(mailstack.fetch(support, "Quarantine")) == 1

    later = mailtix(desk["config"], "jobs", "run", "--at", at(40)).stdout
    print(later)
    assert "keep-raw: tickets 1" in later and "anonymise: nothing to do" in later
    assert raw_state(desk, closed) == (kept_before[0], 0, 0)
    assert ticket(desk["config"], closed)["messages"][0]["text"].startswith("Carol here")
    assert raw_state(desk, other) == other_before != (other_before[0], 0, 0)  # open: untouched
    assert query(desk, "SELECT count(*) FROM quarantine") == [(0,)]
    assert mailstack.fetch(support, "Quarantine") == []
    assert len(mailstack.fetch(support, "Processed")) == processed

    year = mailtix(desk["config"], "jobs", "run", "--at", at(400)).stdout
    print(year)
    assert "anonymise: tickets 1" in year
    gone = ticket(desk["config"], closed)
    assert gone["customer"].endswith("@anonymised.invalid") and gone["subject"] == "(anonymised)"
    assert all(m["text"] == "" for m in gone["messages"])
    assert desk["addr"]["carol"] not in json.dumps(gone).lower()
    assert ticket(desk["config"], other)["customer"] == desk["addr"]["carol"]
    assert ticket(desk["config"], refs["Eve's VPN"])["messages"][0]["text"] == "My VPN drops.\n"
    kinds = [r[0] for r in query(desk, "SELECT detail FROM privacy_event ORDER BY id")]
    assert len(kinds) == 3 and all(desk["addr"]["carol"] not in k for k in kinds), kinds
    again = mailtix(desk["config"], "jobs", "run", "--at", at(400)).stdout
    assert "anonymise: nothing to do" in again and "keep-raw: nothing to do" in again


def report_text(desk: dict[str, Any], fmt: str) -> str:
    output = desk["dir"] / f"report.{fmt}"
    mailtix(desk["config"], "report", "--format", fmt, "--output", str(output))
    assert stat.S_IMODE(output.stat().st_mode) == 0o600
    return output.read_text().lower()


def digest_text(desk: dict[str, Any], hours: int) -> str:
    mailtix(desk["config"], "jobs", "run", "--at",
            (datetime.now(UTC) + timedelta(hours=hours)).isoformat(timespec="seconds"))  # fmt: skip
    (raw,) = query(desk, "SELECT rfc822 FROM outbox WHERE kind = 'digest' ORDER BY id DESC LIMIT 1")
    mail = email.message_from_bytes(raw[0], policy=email.policy.default)
    assert isinstance(mail, EmailMessage)
    return "\n".join(str(part.get_content()) for part in mail.walk()
                     if part.get_content_maintype() == "text").lower()  # fmt: skip


def test_reports_name_no_agent_unless_named(mailstack: Any, desk: dict[str, Any]) -> None:
    path: Path = desk["config"]
    path.write_text(path.read_text() + '\n[report]\ndigest_to = ["lead@example.test"]\n'
                    'digest_schedule = "0 * * * *"\n')  # fmt: skip
    populate(mailstack, desk)
    alice = desk["addr"]["alice"]
    close_ticket(mailstack, desk, "Carol problem 0")  # the first answer assigns Alice
    named = json.loads(mailtix(path, "report", "--format", "json").stdout)
    assert [r["agent"] for r in named["by_agent"]] == [None, alice]
    assert alice in digest_text(desk, 1)

    set_privacy(desk, 'agent_reports = "pseudonymous"\nmin_group = 1')
    first = json.loads(mailtix(path, "report", "--format", "json").stdout)
    second = json.loads(mailtix(path, "report", "--format", "json").stdout)
    (one,), (two,) = ([r["agent"] for r in d["by_agent"] if r["agent"]] for d in (first, second))
    assert one.startswith("agent-") and one != two  # a new key for every report
    assert first["by_agent"][0]["created"] == named["by_agent"][1]["created"]
    for fmt in ("json", "csv", "html", "table"):
        assert alice not in report_text(desk, fmt), fmt
    assert alice not in digest_text(desk, 2)

    set_privacy(desk, 'agent_reports = "pseudonymous"\nmin_group = 5')
    small = json.loads(mailtix(path, "report", "--format", "json").stdout)
    assert [r["agent"] for r in small["by_agent"]] == [None]  # one ticket < 5: left out
    assert small["by_department"] == []  # one agent in general < 5
    assert small["agents"]["suppressed_agents"] == 1

    set_privacy(desk, 'agent_reports = "off"')
    off = json.loads(mailtix(path, "report", "--format", "json").stdout)
    assert off["by_agent"] == [] and off["agents"]["mode"] == "off"
    for fmt in ("json", "csv", "html", "table"):
        assert alice not in report_text(desk, fmt), fmt
    assert alice not in digest_text(desk, 3)


def test_erase_changes_no_row_while_a_mailbox_cannot_be_reached(
    mailstack: Any, desk: dict[str, Any]
) -> None:
    populate(mailstack, desk)
    carol, path = desk["addr"]["carol"], desk["config"]
    good = path.read_text()
    path.write_text(good + '\n[[mailbox]]\nname = "away"\naddress = "away@example.test"\n'
                    'host = "127.0.0.1"\nport = 9\nsecurity = "none"\npassword = "x"\n'
                    "timeout = 2\n")  # fmt: skip
    before = dump(desk)
    failed = mailtix(path, "privacy", "erase", carol, check=False)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "the store was not changed" in failed.stderr and "IMAP 127.0.0.1:9" in failed.stderr
    assert "mail copies in support/Processed: 4 changed" in failed.stdout
    assert dump(desk) == before
    path.write_text(good)
    done = mailtix(path, "privacy", "erase", carol).stdout
    assert "tickets: 3 changed" in done and carol not in dump(desk)
