"""An SMTP outage never holds up intake: the ticket is committed and the message moved, the
acknowledgement waits in the outbox with the error, and goes out exactly once when SMTP is back."""

from __future__ import annotations

import socketserver
import threading
from pathlib import Path
from typing import Any

import pytest
from support.live import (
    customer_mail,
    mailtix,
    outbox_items,
    parse,
    tickets,
    unique,
    write_config,
)
from support.mailstack import free_ports

from mailtix.desks.outcome import Source
from mailtix.runtime.app import App

pytestmark = pytest.mark.integration


def test_ack_waits_out_an_smtp_outage_and_goes_out_once(mailstack: Any, tmp_path: Path) -> None:
    support, carol = unique("support"), unique("carol")
    mailstack.add_user(carol)
    support_addr, carol_addr = f"{support}@example.test", f"{carol}@customer.test"
    config = write_config(tmp_path, mailstack, [{"name": "support", "user": support}])
    good = f"port = {mailstack.smtp_port}\n"
    [closed] = free_ports(1)  # nothing listens there
    text = config.read_text()
    assert text.count(good) == 1
    config.write_text(text.replace(good, f"port = {closed}\n"))

    mailstack.send(customer_mail(carol_addr, support_addr, "Outage"), carol_addr, [support_addr])
    mailstack.wait_for_messages(support, count=1)
    out = mailtix(config, "poll", "--once").stdout
    [only] = tickets(config)
    assert mailstack.folder_uids(support) == []
    assert len(mailstack.folder_uids(support, "Processed")) == 1
    pending = outbox_items(config)  # the acknowledgement, and the agent's notification
    assert f"outbox: {len(pending)} deferred" in out, out
    [ack] = [i for i in pending if i["kind"] == "acknowledgement"]
    assert ack["ticket"] == only["ref"] and ack["recipients"] == [carol_addr]
    for item in pending:
        assert item["status"] == "pending" and item["attempts"] == 1, item
        assert item["last_error"], item
    print(f"\nlast_error while SMTP is down: {ack['last_error']}")

    config.write_text(text)  # SMTP is back
    retried = mailtix(config, "outbox", "retry", "--all").stdout
    assert retried.startswith(f"{len(pending)} row(s) due now"), retried
    out = mailtix(config, "poll", "--once").stdout
    assert f"outbox: {len(pending)} sent" in out, out

    [raw] = mailstack.wait_for_messages(carol, count=1)
    assert parse(raw)["Subject"] == f"[{only['ref']}] Outage"
    out = mailtix(config, "poll", "--once").stdout
    assert "outbox: nothing to send" in out, out
    mailstack.wait_queue_empty()
    assert len(mailstack.folder_uids(carol)) == 1
    assert outbox_items(config) == []
    for item in outbox_items(config, include_sent=True):
        assert item["status"] == "sent" and item["attempts"] == 2 and not item["last_error"]


class HangUpServer(socketserver.ThreadingTCPServer):
    """A scripted SMTP server that behaves like Postfix with smtpd_hard_error_limit = 2: it
    refuses recipients in the domain ``refused.example`` and hangs up after the second refusal
    on one connection (Postfix does so after 20, tarpitting the client from the 11th on:
    about 30 s for this scenario; this one takes well under a second)."""

    daemon_threads = True
    allow_reuse_address = True
    hard_error_limit = 2

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), HangUpHandler)
        self.accepted: list[bytes] = []
        self.connections = 0


class HangUpHandler(socketserver.StreamRequestHandler):
    server: HangUpServer

    def reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")
        self.wfile.flush()

    def handle(self) -> None:
        self.server.connections += 1
        errors = 0
        self.reply("220 scripted ESMTP")
        while line := self.rfile.readline():
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                self.reply("250 scripted")
            elif verb == b"RCPT" and b"@refused.example" in line.lower():
                errors += 1
                self.reply("550 5.1.1 Recipient address rejected: no external delivery")
                if errors >= self.server.hard_error_limit:
                    self.reply("421 4.7.0 Error: too many errors")
                    return
            elif verb == b"DATA":
                self.reply("354 go ahead")
                data = b"".join(iter(self.rfile.readline, b".\r\n"))
                self.server.accepted.append(data)
                self.reply("250 2.0.0 queued")
            elif verb == b"QUIT":
                self.reply("221 bye")
                return
            else:  # MAIL, RSET, NOOP
                self.reply("250 ok")


def test_server_hanging_up_after_refusals_does_not_hold_back_the_rest(
    mailstack: Any, tmp_path: Path
) -> None:
    """The outbox goes on over a new connection when the server hangs up after refusals,
    instead of deferring everything queued behind them (and counting attempts never made)."""
    support = unique("support")
    no_agents = '[[department]]\nname = "general"\nagents = []\n'  # acknowledgements only
    config = write_config(
        tmp_path, mailstack, [{"name": "support", "user": support}], departments=no_agents,
        smtp_connections=1,
    )  # fmt: skip
    server = HangUpServer()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        text = config.read_text().replace(
            f"port = {mailstack.smtp_port}\n", f"port = {server.server_address[1]}\n"
        )
        config.write_text(text)
        senders = [f"someone{n}@refused.example" for n in range(5)] + ["carol@customer.test"]
        app = App.open(config)
        try:
            for n, sender in enumerate(senders):
                raw = customer_mail(sender, f"{support}@example.test", f"Question {n}")
                assert app.pipeline.process(raw.as_bytes(), Source("support")).kind == "ticket"
        finally:
            app.db.close()

        out = mailtix(config, "poll", "--once").stdout
        assert "outbox: 5 failed, 1 sent" in out, out
        # one connection would need 3 (2 refusals, hang-up; 2 refusals, hang-up; 1 + 1 sent);
        # several in parallel each take a share, and a hung-up one reconnects once
        assert server.connections == 3  # one connection at a time, reconnecting after each hang-up
        [accepted] = server.accepted
        assert b"Question 5" in accepted
    finally:
        server.shutdown()
        server.server_close()
    items = outbox_items(config, include_sent=True)
    assert [i["status"] for i in items] == ["failed"] * 5 + ["sent"]
    assert {i["attempts"] for i in items} == {1}
    assert all(
        i["last_error"].startswith("someone") and "550" in i["last_error"] for i in items[:5]
    )
