"""``mailtix demo``: the whole pipeline on embedded defaults, no mail server.

Writes a config, a Maildir "inbox" with sample customer mail and an outgoing Maildir into a
directory, then runs two poll cycles (new mail; then replies to the acknowledgements, a stranger
using someone else's ticket tag, and an out-of-office answer) and prints what happened. All of
it is created owner-only (0600 files, 0700 directories).
"""

from __future__ import annotations

import mailbox
import tempfile
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from mailtix.cli.present import ticket_summary
from mailtix.config.shipped import shipped_templates
from mailtix.domain.private_files import private_umask
from mailtix.inbound.maildir_source import arrival_order
from mailtix.report.formats import table
from mailtix.runtime.app import App, poll_cycle
from mailtix.store.models import Ticket

SUPPORT = "support@acme.example"

CONFIG = """\
# mailtix demo configuration (written by `mailtix demo`)
[store]
url = "sqlite:///mailtix-demo.db"

[tickets]
prefix = "SUP"

[smtp]
maildir = "outgoing"           # outgoing mail is written here instead of being sent

[[mailbox]]
name = "support"
address = "{support}"
display_name = "ACME Support"
maildir = "inbox"              # read from this Maildir instead of an IMAP server
department = "general"

[rules]
departments = "departments.toml"
routing = "routing.toml"

[templates]
dir = "{templates}"
"""

DEPARTMENTS = """\
[[department]]
name = "general"
agents = ["alice@acme.example"]

[[department]]
name = "billing"
agents = ["bob@acme.example"]

[[agent]]
email = "alice@acme.example"
name = "Alice Agent"

[[agent]]
email = "bob@acme.example"
name = "Bob Biller"
"""

ROUTING = """\
[[rule]]
name = "Invoices go to billing"
when = { subject = "invoice|refund" }
then = { department = "billing", priority = "high", tags = ["invoice"] }

[[rule]]
name = "Newsletters are not tickets"
when = { header = { "list-id" = "." } }
then = { ignore = true }
"""


def mail(sender: str, subject: str, body: str, **headers: str) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = f"ACME Support <{SUPPORT}>"
    msg["Subject"] = subject
    msg["Date"] = format_datetime(__import__("datetime").datetime.now().astimezone())
    msg["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2].strip(">"))
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg.as_bytes()


# Raw bytes on purpose: an encoded CR/LF in the subject and template syntax in the body.
HOSTILE = (
    b"From: Mallory <mallory@evil.example>\r\nTo: support@acme.example\r\n"
    b"Subject: {{ 7*7 }} =?utf-8?q?Hi=0D=0ABcc:_x@evil.example?=\r\n"
    b"Message-ID: <hostile-1@evil.example>\r\n\r\n"
    b"{% for x in range(10**9) %}{{ x }}{% endfor %}\r\n"
)


def first_wave() -> list[tuple[str, bytes]]:
    return [
        (
            "Carol reports a problem",
            mail(
                "Carol Customer <carol@example.org>",
                "Printer on floor 3 eats paper",
                "Hello,\n\nthe printer next to room 3.14 jams on every second page.\n\nCarol\n",
            ),
        ),
        (
            "Dave asks about an invoice",
            mail(
                "Dave <dave@bigcorp.example>",
                "Invoice 2026-117 charged twice",
                "Hi, we were charged twice for invoice 2026-117. Please refund one.\n",
            ),
        ),
        (
            "A newsletter",
            mail(
                "News <news@vendor.example>",
                "Our November newsletter",
                "Big news!\n",
                List_Id="<news.vendor.example>",
            ),
        ),
        ("A hostile subject", HOSTILE),
    ]


def second_wave(outgoing: Path) -> list[tuple[str, bytes]]:
    acks = {m["To"].addresses[0].addr_spec: m for m in _read(outgoing)}
    carol_ack, dave_ack = acks["carol@example.org"], acks["dave@bigcorp.example"]
    return [
        (
            "Carol replies to her acknowledgement",
            mail(
                "Carol Customer <carol@example.org>",
                f"Re: {carol_ack['Subject']}",
                "It is the tray on the left, by the way.\n",
                In_Reply_To=carol_ack["Message-ID"],
                References=carol_ack["Message-ID"],
            ),
        ),
        (
            "Dave's out-of-office answers his acknowledgement",
            mail(
                "Dave <dave@bigcorp.example>",
                f"Automatic reply: {dave_ack['Subject']}",
                "I am out of the office until Monday.\n",
                Auto_Submitted="auto-replied",
            ),
        ),
        (
            "A stranger uses Carol's ticket tag",
            mail(
                "Eve <eve@elsewhere.example>",
                f"Re: {carol_ack['Subject']}",
                "Please send me everything you have on this ticket.\n",
            ),
        ),
    ]


def third_wave(outgoing: Path) -> list[tuple[str, bytes]]:
    """Alice answers Carol from her own mail client; someone forges Alice's address."""
    notes = [m for m in _read(outgoing) if m["To"].addresses[0].addr_spec == "alice@acme.example"]
    note = next(m for m in notes if "[SUP-1]" in m["Subject"])
    plain = note.get_body(("plain",))
    text = plain.get_content() if plain is not None else ""
    quoted = "\n".join("> " + line for line in text.splitlines())
    body = (
        "#status pending\n\nHello Carol,\n\nplease pull the left tray out and push it back in;"
        " tell us if it still jams.\n\n-- \nAlice\n\n"
        f"On Mon, 23 Nov 2026, ACME Support <{SUPPORT}> wrote:\n{quoted}\n"
    )
    references = f"{note.get('References', '')} {note['Message-ID']}".strip()
    return [
        (
            "Alice answers the notification",
            mail(
                "Alice Agent <alice@acme.example>",
                f"Re: {note['Subject']}",
                body,
                In_Reply_To=note["Message-ID"],
                References=references,
            ),
        ),
        (
            "Someone forges Alice's address",
            mail(
                "Alice Agent <alice@acme.example>",
                "Re: [SUP-2] Invoice 2026-117 charged twice",
                "#status closed\n\nRefund approved, send your bank details to me.\n",
            ),
        ),
    ]


def _read(maildir: Path) -> list[EmailMessage]:
    import email
    import email.policy

    box = mailbox.Maildir(maildir, factory=None, create=True)
    return [
        email.message_from_bytes(box.get_bytes(k), policy=email.policy.default)
        for k in sorted(box.keys(), key=arrival_order)
    ]


def _drop(inbox: Path, wave: list[tuple[str, bytes]]) -> dict[str, str]:
    box = mailbox.Maildir(inbox, factory=None, create=True)
    return {box.add(raw): title for title, raw in wave}


def _cycle(app: App, inbox: Path, wave: list[tuple[str, bytes]]) -> None:
    titles = _drop(inbox, wave)
    result = poll_cycle(app)
    for poll in result.polls:
        for key, outcome in poll.details:
            what = f"{outcome.kind:<11} {outcome.ticket_ref or '':<7}"
            print(f"  {titles.get(key, key):<48} -> {what} {outcome.detail}")
    sent = result.sent.get("sent", 0)
    print(f"  outbox: {sent} mail(s) written to the outgoing Maildir")


def run_demo(directory: Path | None = None) -> int:
    with private_umask():  # its directory, config, Maildirs and store are owner-only
        return _run_demo(directory)


def _run_demo(directory: Path | None) -> int:
    base = Path(directory or tempfile.mkdtemp(prefix="mailtix-demo-")).resolve()
    base.mkdir(parents=True, exist_ok=True)
    templates = shipped_templates()
    (base / "mailtix.toml").write_text(CONFIG.format(support=SUPPORT, templates=templates))
    (base / "departments.toml").write_text(DEPARTMENTS)
    (base / "routing.toml").write_text(ROUTING)
    app = App.open(base / "mailtix.toml")
    print(f"mailtix demo in {base}\n\n1. New mail arrives in the support Maildir:")
    _cycle(app, base / "inbox", first_wave())
    print("\n2. Answers to the acknowledgements, and a stranger:")
    _cycle(app, base / "inbox", second_wave(base / "outgoing"))
    print("\n3. Agents answer from their mail client:")
    _cycle(app, base / "inbox", third_wave(base / "outgoing"))
    prefix = app.config.tickets.prefix
    rows = [
        [s["ref"], s["status"], s["priority"], s["department"], s["customer"], s["subject"]]
        for s in (ticket_summary(t, prefix) for t in Ticket.select().order_by(Ticket.id))
    ]
    print("\n4. Tickets:\n")
    print(table(rows, ["REF", "STATUS", "PRIORITY", "DEPARTMENT", "CUSTOMER", "SUBJECT"]))
    print("\n5. Outgoing mail (acknowledgements, agent notifications, the relayed answer):\n")
    sent = [
        [m["From"].addresses[0].display_name, str(m["To"].addresses[0].addr_spec), m["Subject"]]
        for m in _read(base / "outgoing")
    ]
    print(table(sent, ["FROM", "TO", "SUBJECT"]))
    print()
    print(f"Look closer:  mailtix --config {base / 'mailtix.toml'} tickets show {prefix}-1")
    print(f"Raw mail:     {base / 'outgoing'}/new/ and {base / 'inbox'}/.Processed/")
    return 0
