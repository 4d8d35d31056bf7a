"""Customers and organisations on real servers (Postfix → Dovecot → mailtix → Postfix): a
BigCorp customer's mail gets BigCorp's department, priority and a German acknowledgement; the
agent's notification shows the notes and the customer's other open ticket; `customers import`
of a CSV with a bad row; an edited organisations.toml takes effect in a running daemon."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support.live import customer_mail, mailtix, parse, tickets, unique, write_config

pytestmark = pytest.mark.integration

ORGANISATIONS = """
[[organisation]]
name = "BigCorp"
domains = ["customer.test"]
department = "billing"
priority = "high"
tags = ["vip"]
language = "de"
notes = "Key account; contract #881"
"""


@pytest.fixture
def desk(mailstack: Any, tmp_path: Path) -> Callable[..., dict[str, Any]]:
    def make(poll_interval: int = 2) -> dict[str, Any]:
        users = {k: unique(k) for k in ("support", "dana", "ann", "bill")}
        mailstack.add_user(users["dana"])
        addr = {k: f"{v}@{'customer' if k == 'dana' else 'example'}.test" for k, v in users.items()}
        departments = (
            f'[[department]]\nname = "general"\nagents = ["{addr["ann"]}"]\n\n'
            f'[[department]]\nname = "billing"\nagents = ["{addr["bill"]}"]\n'
        )
        boxes = [{"name": "support", "user": users["support"], "poll_interval": poll_interval}]
        config = write_config(tmp_path, mailstack, boxes, departments=departments)
        text = config.read_text().replace(
            'routing = "routing.toml"', 'routing = "routing.toml"\norganisations = "orgs.toml"'
        )
        config.write_text(text)
        (tmp_path / "orgs.toml").write_text(ORGANISATIONS)
        return {"config": config, "user": users, "addr": addr, "dir": tmp_path}

    return make


def send(stack: Any, d: dict[str, Any], subject: str) -> None:
    msg = customer_mail(f"Dana Daten <{d['addr']['dana']}>", d["addr"]["support"], subject)
    stack.send(msg, d["addr"]["dana"], [d["addr"]["support"]])


def body(raw: bytes) -> str:
    part = parse(raw).get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def test_bigcorp_mail_gets_its_defaults_german_ack_and_notes_for_the_agent(
    mailstack: Any, desk: Callable[..., dict[str, Any]]
) -> None:
    d = desk()
    send(mailstack, d, "Rechnung 4711 fehlt")
    mailstack.wait_for_messages(d["user"]["support"], count=1)  # in this order
    send(mailstack, d, "Zugang gesperrt")
    mailstack.wait_for_messages(d["user"]["support"], count=2)
    mailtix(d["config"], "poll", "--once")

    found = sorted(tickets(d["config"]), key=lambda t: t["id"])
    assert [t["subject"] for t in found] == ["Rechnung 4711 fehlt", "Zugang gesperrt"]
    for shown in found:
        assert (shown["department"], shown["priority"], shown["tags"]) == (
            "billing", "high", ["vip"],
        )  # fmt: skip
        assert shown["organisation"] == "BigCorp"
    acks = [parse(raw) for raw in mailstack.wait_for_messages(d["user"]["dana"], count=2)]
    first = next(a for a in acks if "Rechnung" in str(a["Subject"]))
    assert first["Subject"] == f"[{found[0]['ref']}] Rechnung 4711 fehlt"
    text = body(first.as_bytes())
    assert text.startswith("Guten Tag Dana Daten,") and "vielen Dank für Ihre Nachricht" in text

    notes = [body(raw) for raw in mailstack.wait_for_messages(d["user"]["bill"], count=2)]
    second = next(n for n in notes if "Zugang gesperrt" in n.splitlines()[0])
    print(second)
    assert "Organisation: BigCorp" in second and "Key account; contract #881" in second
    assert f"[{found[0]['ref']}] new: Rechnung 4711 fehlt" in second  # her other open ticket
    assert mailstack.fetch(d["user"]["ann"]) == []  # general heard nothing

    shown = json.loads(
        mailtix(d["config"], "customers", "show", d["addr"]["dana"], "--json").stdout
    )
    assert (shown["name"], shown["organisation"]) == ("Dana Daten", "BigCorp")
    assert [t["ref"] for t in shown["tickets"]] == [found[1]["ref"], found[0]["ref"]]


def test_customers_import_reports_the_bad_row_and_is_idempotent(
    mailstack: Any, desk: Callable[..., dict[str, Any]]
) -> None:
    d = desk()
    csv = d["dir"] / "customers.csv"
    csv.write_text(
        "email,name,organisation,language,tags\n"
        "ceo@gmail.example,Chief,BigCorp,fr,vip;board\n"
        "not-an-address,Nobody,,,\n"
        "erin@other.test,Erin,,en,\n",
        encoding="utf-8",
    )
    first = mailtix(d["config"], "customers", "import", str(csv), check=False)
    assert first.returncode == 1
    assert first.stderr.strip().splitlines() == [
        f'{csv}:3: email: not an email address: "not-an-address"'
    ]
    assert first.stdout.strip() == "2 created, 0 updated, 0 unchanged, 1 bad"
    again = mailtix(d["config"], "customers", "import", str(csv), check=False)
    assert again.stdout.strip() == "0 created, 0 updated, 2 unchanged, 1 bad"
    listed = json.loads(
        mailtix(d["config"], "customers", "list", "--organisation", "bigcorp", "--json").stdout
    )
    assert [(c["email"], c["language"], c["tags"]) for c in listed] == [
        ("ceo@gmail.example", "fr", ["vip", "board"])
    ]


def wait_for_log(path: Path, needle: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = path.read_text(errors="replace")
        if needle in text:
            return text
        time.sleep(0.2)
    raise AssertionError(f"{needle!r} not logged within {timeout} s:\n{path.read_text()}")


def test_an_edited_organisations_file_takes_effect_in_a_running_daemon(
    mailstack: Any, desk: Callable[..., dict[str, Any]]
) -> None:
    d = desk(poll_interval=60)  # IMAP IDLE delivers within seconds
    stderr_path = d["dir"] / "daemon.stderr"
    acks = 0

    def department(subject: str) -> str:
        nonlocal acks
        send(mailstack, d, subject)
        acks += 1
        mailstack.wait_for_messages(d["user"]["dana"], count=acks, timeout=20)
        [found] = [t for t in tickets(d["config"]) if t["subject"] == subject]
        return str(found["department"])

    with open(stderr_path, "wb") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mailtix", "--config", str(d["config"]), "-v", "run"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr,
        )  # fmt: skip
    try:
        wait_for_log(stderr_path, "mailtix running", 20)
        assert department("Before the edit") == "billing"
        time.sleep(1.1)  # a new modification time even on coarse clocks
        (d["dir"] / "orgs.toml").write_text(ORGANISATIONS.replace('"billing"', '"general"'))
        wait_for_log(stderr_path, "config reloaded", 6)
        assert department("After the edit") == "general"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert "Traceback" not in stderr_path.read_text(errors="replace")
