"""Polling throughput of mailtix against a floor, on a private Dovecot + Postfix (not a test).

    .venv/bin/python tests/bench/bench_poll.py [--messages N] [--mix project|realistic|both]
        [--acks sent|outbox|both] [--profile-messages M] [--keep]

Two mixes of N mails (fixed seeds), each reported next to its own floor measured in the same
run: ``project``, today's (plain bodies 0.5-8 KB, 20% HTML, 10% with a 10-100 KB attachment,
every sender distinct so every mail opens a ticket and gets an acknowledgement; ``--agents``
adds a notification each), and ``realistic`` (``gen_mix.py``, issue 22: ~2.3 KB mails, 30%
replies by tag to earlier tickets, 45% HTML, 15% a small attachment, a few customers writing
many tickets, an agent per department notified of every new ticket and reply). No budget holds
a mail back (the limits are lifted), so the outbox must hold exactly one acknowledgement per
new ticket and a notification per mail where agents are notified. Each mix is appended to a
mailbox for the floor and one for each mailtix run (not timed), then measured, each run in its
own child process, the sides taking turns (``--floor-runs``, ``--mailtix-runs``, 3 each; the
report compares the best run of each side, and the medians), mailtix in two ways (``--acks``):
``sent``, its sender process sending the outbox to Postfix while it polls, and ``outbox``, the
same poll leaving what it queued in the outbox. For mailtix it also counts the SQL statements
poll --once ran (at peewee's ``Database.execute_sql``; not its sender's):

- the floor: imapclient SEARCH ALL, RFC822.SIZE, BODY.PEEK[] in batches of 100, and
  mailparser.parse_from_bytes on every message (it only reads, so it reuses its mailbox);
- mailtix: ``mailtix --config X poll --once`` (parse, route, commit, MOVE to Processed, while
  its sender process drains the outbox to Postfix, or with ``--acks outbox`` not), each run on
  a fresh mailbox and store; its bytecode is compiled and its modules imported once before
  (untimed), as for an installed package;
- a cProfile of the same poll on another mailbox holding the first M mails of the realistic
  mix;
- with ``--acks sent``, after each mailtix run, Postfix alone: smtplib submitting what that run
  sent (the envelopes and rfc822 bytes of its store's outbox) to the same Postfix over as many
  connections, one command at a time; its wall time and the CPU the rest of the machine spent
  meanwhile are printed beside the sent ratio as context (they are not in RATIO).

Postfix accepts and queues every acknowledgement and notification (SMTP dialogue, cleanup,
queue file) and then, by default, discards it: the customer domain's transport is ``discard:``
(the agents' addresses are in it too), so the measurement is
not also paying for thousands of LMTP deliveries into Dovecot on the same two cores (a
production MTA does those on its own time, usually on its own machine). ``--deliver-acks``
delivers them into real mailboxes instead. Peak RSS is ru_maxrss of each child measured at
its end (for poll --once's children, its sender and its parse child, the larger); CPU is each
process's user + system time (its children's together), and for mailtix also what the rest of
the machine (Dovecot, Postfix, the kernel) spent meanwhile, from /proc/stat. Needs root (the
mail stack).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import pstats
import random
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE.parent))

from bench import gen_mix  # noqa: E402

SEED = 20240611
PASSWORD = "secret"
MAILTIX_USER = "support"
APPEND_CHUNK = 50  # messages per MULTIAPPEND command

ROUTING = """\
[[rule]]
name = "Newsletters are not tickets"
when = { from = ["noreply@*", "no-reply@*", "*@noreply.*", "newsletter@*"] }
then = { ignore = true }

[[rule]]
name = "Tag outages"
when = { subject = "outage|down|not working" }
then = { priority = "urgent", tags = ["outage"] }
continue = true

[[rule]]
name = "Invoices go to billing"
when = { subject = "invoice|refund|receipt" }
then = { department = "billing", priority = "high", tags = ["invoice"] }
"""

AGENTS = ("alice", "bob")  # one per department: each mail notifies one (see agents_domain)
NO_AGENTS = """\
[[department]]
name = "general"

[[department]]
name = "billing"
"""
DEPARTMENTS = """\
[[department]]
name = "general"
agents = ["alice@{domain}"]

[[department]]
name = "billing"
agents = ["bob@{domain}"]
"""

# ------------------------------------------------------------------------------ mail generation

_FIRST_TEXT = (
    "Anna Ben Carla David Emma Felix Greta Hugo Ines Jonas Klara Lukas Mia Noah Olga Paul "
    "Rosa Sven Tara Umar Vera Wim Xenia Yusuf Zoe José Zoë Łukasz Søren Chloé"
)
FIRST = _FIRST_TEXT.split()
_LAST_TEXT = (
    "Schmidt Müller Novak Rossi García Dubois Jansen Kowalski Silva Nielsen Smith Brown "
    "Tanaka Kim Okafor Haddad Petrov Larsen Moreau Costa O'Neill"
)
LAST = _LAST_TEXT.split()
PRODUCTS = ("the mobile app", "the web dashboard", "my account", "the API", "the invoice portal")
SUBJECTS = (
    "Cannot log in to {p}",
    "Question about my invoice #{n}",
    "Refund for order {n}",
    "{P} is down again",
    "Export not working in {p}",
    "Feature request: dark mode for {p}",
    "Password reset email never arrives",
    "Receipt missing for payment {n}",
    "How do I add a second user?",
    "Error {n} when uploading files",
    "Slow page loads since yesterday",
    "Change billing address",
    "Re: your message about {p}",
    "Urgent: data missing from {p}",
    "Cancel my subscription",
    "Wrong VAT on invoice {n}",
    "Integration with our CRM",
    "Two-factor codes rejected",
    "Is there an outage? Nothing loads",
    "Thanks, and one more question",
)
_WORDS_TEXT = (
    "account access after update error message screen button page customer order invoice "
    "payment subscription team colleague browser phone yesterday morning today tried "
    "again restarted cleared cache still same problem support please help urgent deadline "
    "report export import file upload download settings profile password email address "
    "number the a to and of in it is that we our my your this was not with for on but "
    "have can would could should when since because however also really quite very some "
    "all any"
)
WORDS = _WORDS_TEXT.split()
ATTACHMENTS = (
    ("screenshot.png", "image", "png"),
    ("error-log.txt", "text", "plain"),
    ("invoice.pdf", "application", "pdf"),
    ("export.csv", "text", "csv"),
)


def _paragraphs(rng: random.Random, size: int) -> str:
    out: list[str] = []
    length = 0
    while length < size:
        sentences = []
        for _ in range(rng.randint(2, 6)):
            words = [rng.choice(WORDS) for _ in range(rng.randint(6, 18))]
            sentences.append(" ".join(words).capitalize() + rng.choice(".!?.."))
        para = textwrap.fill(" ".join(sentences), 72)
        out.append(para)
        length += len(para) + 2
    return "\n\n".join(out)[:size]


def customer_address(i: int) -> str:
    return f"customer{i:05d}@customer.test"


def generate(count: int, seed: int = SEED) -> tuple[list[bytes], dict[str, int]]:
    """``count`` raw customer mails to support@example.test, and what they contain."""
    rng = random.Random(seed)
    start = datetime(2024, 6, 11, 7, 0, tzinfo=UTC)
    stats = {"html": 0, "attachment": 0, "bytes": 0}
    raws = []
    for i in range(count):
        name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        sender = customer_address(i)  # every sender distinct: every mail is acknowledged
        when = start + timedelta(seconds=i * 37 + rng.randint(0, 30))
        product = rng.choice(PRODUCTS)
        subject = rng.choice(SUBJECTS).format(
            p=product, P=product[0].upper() + product[1:], n=rng.randint(1000, 99999)
        )
        greeting = "Hello support team,\n\n"
        body = greeting + _paragraphs(rng, rng.randint(500, 8000)) + f"\n\nBest regards,\n{name}\n"
        msg = EmailMessage()
        relay = f"mx{rng.randint(1, 9)}.customer.test"
        msg["Return-Path"] = f"<{sender}>"
        msg["Received"] = (
            f"from mail.example.test (mail.example.test [192.0.2.25]) by mx.example.test "
            f"with ESMTPS id {rng.getrandbits(48):012x} for <support@example.test>; "
            f"{format_datetime(when + timedelta(seconds=2))}"
        )
        msg["Received"] = (
            f"from [198.51.100.{rng.randint(2, 250)}] by {relay} with ESMTPSA id "
            f"{rng.getrandbits(40):010x}; {format_datetime(when + timedelta(seconds=1))}"
        )
        msg["Date"] = format_datetime(when)
        msg["From"] = f"{name} <{sender}>"
        msg["To"] = "ACME Support <support@example.test>"
        msg["Subject"] = subject
        msg["Message-ID"] = f"<{when:%Y%m%d%H%M%S}.{rng.getrandbits(64):016x}@{relay}>"
        msg["MIME-Version"] = "1.0"
        msg["User-Agent"] = rng.choice(("Thunderbird/115.11", "Apple Mail (2.3774)", "Outlook"))
        msg.set_content(body)
        if rng.random() < 0.20:
            html_paras = "".join(f"<p>{p}</p>" for p in body.split("\n\n"))
            msg.add_alternative(f"<html><body>{html_paras}</body></html>", subtype="html")
            stats["html"] += 1
        if rng.random() < 0.10:
            filename, maintype, subtype = rng.choice(ATTACHMENTS)
            size = rng.randint(10_000, 100_000)
            if maintype == "text":
                data: bytes = _paragraphs(rng, size).encode()
            else:
                data = rng.randbytes(size)
            msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
            stats["attachment"] += 1
        raw = msg.as_bytes()
        stats["bytes"] += len(raw)
        raws.append(raw)
    return raws, stats


# ------------------------------------------------------------------------------ children


def floor_child(host: str, port: int, user: str, folder: str) -> None:
    """The floor: fetch and parse every message with off-the-shelf libraries; print JSON."""
    started = time.perf_counter()
    import mailparser  # type: ignore[import-untyped]
    from imapclient import IMAPClient

    imported = time.perf_counter()
    parsed = 0
    total = 0
    client = IMAPClient(host, port=port, ssl=False, timeout=60)
    client.login(user, PASSWORD)
    client.select_folder(folder, readonly=True)
    uids = sorted(client.search("ALL"))
    for start in range(0, len(uids), 100):
        batch = uids[start : start + 100]
        sizes = client.fetch(batch, ["RFC822.SIZE"])
        total += sum(int(d[b"RFC822.SIZE"]) for d in sizes.values())
        data = client.fetch(batch, ["BODY.PEEK[]"])
        for uid in batch:
            mail = mailparser.parse_from_bytes(data[uid][b"BODY[]"])
            parsed += bool(mail.subject is not None)
    client.logout()
    done = time.perf_counter()
    print(
        json.dumps(
            {
                "messages": len(uids),
                "parsed": parsed,
                "bytes": total,
                "work_seconds": done - imported,
                "seconds_in_child": done - started,
                "cpu_seconds": sum(resource.getrusage(resource.RUSAGE_SELF)[:2]),
                "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        )
    )


def postfix_floor_child(host: str, port: int, db: str, connections: int) -> None:
    """Postfix alone: submit what a mailtix run sent (its outbox's envelopes and rfc822 bytes)
    to the same Postfix with smtplib over ``connections`` connections, one command at a time;
    print JSON: the time it took, this client's CPU and the rest of the machine's meanwhile."""
    import smtplib
    import threading

    with sqlite3.connect(db) as conn:
        rows = conn.execute("select envelope_from, recipients, rfc822 from outbox order by id")
        mails = [(sender, json.loads(rcpts), bytes(raw)) for sender, rcpts, raw in rows]
    failures: list[str] = []

    def submit(part: list[tuple[str, list[str], bytes]]) -> None:
        try:
            with smtplib.SMTP(host, port, timeout=60) as client:
                for sender, recipients, raw in part:
                    client.sendmail(sender, recipients, raw)
        except (OSError, smtplib.SMTPException) as exc:
            failures.append(repr(exc))

    parts = [mails[i::connections] for i in range(connections)]
    threads = [threading.Thread(target=submit, args=(part,)) for part in parts]
    machine_before, cpu_before = machine_cpu_seconds(), _own_cpu()
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    cpu = _own_cpu() - cpu_before
    machine = machine_cpu_seconds() - machine_before
    print(
        json.dumps(
            {
                "mails": len(mails),
                "bytes": sum(len(raw) for _, _, raw in mails),
                "failures": failures,
                "work_seconds": wall,
                "cpu_seconds": cpu,
                "others_cpu_seconds": machine - cpu,
            }
        )
    )


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


MAILTIX_CHILD = """\
import json, os, resource, sys, time
SEND = os.environ.get("BENCH_ACKS", "sent")
started = time.perf_counter()
def _cpu(who):
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime
import mailtix.runtime.app
from mailtix.cli.main import main
import peewee
statements = 0
_execute_sql = peewee.Database.execute_sql
def _counted(self, *args, **kwargs):
    global statements
    statements += 1
    return _execute_sql(self, *args, **kwargs)
peewee.Database.execute_sql = _counted  # every statement of this process (not its sender's)
if SEND == "outbox":  # the acknowledgements are queued and left in the outbox
    _cycle = mailtix.runtime.app.poll_cycle
    mailtix.runtime.app.poll_cycle = lambda app, send=True: _cycle(app, send=False)
imported = time.perf_counter()
poll_seconds = 0.0
_poll = mailtix.runtime.app.poll_mailbox
def _timed_poll(*args, **kwargs):
    global poll_seconds
    begun = time.perf_counter()
    try:
        return _poll(*args, **kwargs)
    finally:
        poll_seconds += time.perf_counter() - begun
mailtix.runtime.app.poll_mailbox = _timed_poll  # poll_cycle calls it through mailtix.runtime.app
code = main(sys.argv[1:])
done = time.perf_counter()
print("BENCH-RESULT " + json.dumps({
    "exit": code,
    "work_seconds": done - imported,
    "drain_seconds": done - imported - poll_seconds,  # outside the poll: mostly the drain
    "seconds_in_child": done - started,
    "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    "sender_maxrss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    "statements": statements,
    "cpu_seconds": _cpu(resource.RUSAGE_SELF),
    "sender_cpu_seconds": _cpu(resource.RUSAGE_CHILDREN),
}))
"""


def run_child(argv: list[str], cwd: Path | None = None) -> tuple[float, str, str, int]:
    started = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=cwd, timeout=3600)
    return time.perf_counter() - started, proc.stdout, proc.stderr, proc.returncode


def result_line(stdout: str, marker: str = "") -> dict[str, Any]:
    for line in reversed(stdout.splitlines()):
        if line.startswith(marker) and line[len(marker) :].lstrip().startswith("{"):
            return dict(json.loads(line[len(marker) :]))
    raise RuntimeError(f"no result in child output:\n{stdout[-3000:]}")


# ------------------------------------------------------------------------------ setup helpers


def append_all(stack: Any, user: str, raws: list[bytes], folder: str = "INBOX") -> float:
    started = time.perf_counter()
    with stack.imap(user) as client:
        if not client.folder_exists(folder):
            client.create_folder(folder)
        for start in range(0, len(raws), APPEND_CHUNK):
            client.multiappend(folder, raws[start : start + APPEND_CHUNK])
    return time.perf_counter() - started


def folder_count(stack: Any, user: str, folder: str) -> int:
    return len(stack.folder_uids(user, folder))


def agents_domain(deliver: bool) -> str:
    """Where the agents' addresses are: with the customers (their notifications discarded by
    Postfix after it queued them, like the acknowledgements), or, with --deliver-acks, with
    the support mailbox (delivered into Dovecot mailboxes)."""
    return "example.test" if deliver else gen_mix.DOMAIN


def write_config(
    directory: Path,
    stack: Any,
    user: str,
    db_name: str,
    agents: bool = False,
    connections: int = 2,
    deliver: bool = False,
) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    people = DEPARTMENTS.format(domain=agents_domain(deliver)) if agents else NO_AGENTS
    (directory / "departments.toml").write_text(people)
    (directory / "routing.toml").write_text(ROUTING)
    config = directory / "mailtix.toml"
    config.write_text(
        textwrap.dedent(
            f"""\
            [store]
            url = "sqlite:///{db_name}"

            [smtp]
            host = "{stack.host}"
            port = {stack.smtp_port}
            security = "none"
            timeout = 60.0
            connections = {connections}

            [[mailbox]]
            name = "support"
            address = "{MAILTIX_USER}@example.test"  # every mail is To: this address
            display_name = "ACME Support"
            host = "{stack.host}"
            port = {stack.imap_port}
            security = "none"
            username = "{user}"
            password = "{PASSWORD}"
            timeout = 120.0

            [rules]
            departments = "departments.toml"
            routing = "routing.toml"

            [tickets]  # the benchmark acknowledges and notifies every mail: no budget holds one
            auto_reply_budget_per_hour = 1000000
            auto_reply_limit_per_hour = 1000000
            max_mails_per_ticket_per_hour = 1000000

            [agents]
            notifications_per_hour = 1000000

            [templates]
            dir = "{REPO / "templates"}"
            """
        )
    )
    return config


def db_counts(db: Path) -> dict[str, Any]:
    with sqlite3.connect(db) as conn:
        one = conn.execute
        return {
            "tickets": one("select count(*) from ticket").fetchone()[0],
            "messages": one("select count(*) from message").fetchone()[0],
            "outbox": dict(one("select status, count(*) from outbox group by status")),
            "receipts": dict(one("select outcome, count(*) from receipt group by outcome")),
            "departments": dict(one("select department, count(*) from ticket group by 1")),
        }


def profile_report(prof: Path, top: int = 25) -> str:
    out = io.StringIO()
    stats = pstats.Stats(str(prof), stream=out)
    stats.sort_stats("cumulative").print_stats(r"mailtix/", top)
    out.write("\n----- whole process, by own time (tottime) -----\n")
    stats.sort_stats("tottime").print_stats(top)
    return out.getvalue().strip()


# ------------------------------------------------------------------------------ main

MIXES = ("project", "realistic")
ACK_MODES = ("sent", "outbox")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--messages", type=int, default=2000, help="N generated mails")
    parser.add_argument(
        "--mix", choices=(*MIXES, "both"), default="both",
        help="project: today's mails, every sender new; realistic: tests/bench/gen_mix.py "
        "(small mails, 30%% replies by tag, a few customers with many tickets, agents notified)",
    )  # fmt: skip
    parser.add_argument(
        "--acks", choices=(*ACK_MODES, "both"), default="both",
        help="sent: poll --once sends the outbox to Postfix meanwhile; outbox: the "
        "acknowledgements (and notifications) are queued and left in the outbox",
    )  # fmt: skip
    parser.add_argument("--profile-messages", type=int, default=500, help="0: no profile")
    parser.add_argument("--floor-runs", type=int, default=3, help="floor repetitions")
    parser.add_argument(
        "--mailtix-runs", type=int, default=3, help="mailtix repetitions (fresh mailbox each)"
    )
    parser.add_argument("--keep", action="store_true", help="leave the stack and files running")
    parser.add_argument(
        "--agents", action="store_true",
        help="project mix: agents in the departments, + a notification each (the realistic "
        "mix always has them)",
    )  # fmt: skip
    parser.add_argument(
        "--connections", type=int, default=2, help="[smtp] connections (default 2, as shipped)"
    )
    parser.add_argument(
        "--deliver-acks",
        action="store_true",
        help="deliver the acknowledgements into Dovecot mailboxes (default: Postfix discards "
        "them after accepting and queueing)",
    )
    parser.add_argument("--floor-child", nargs=4, metavar=("HOST", "PORT", "USER", "FOLDER"))
    parser.add_argument(
        "--postfix-floor-child", nargs=4, metavar=("HOST", "PORT", "DB", "CONNECTIONS")
    )
    args = parser.parse_args()
    if args.floor_child:
        host, port, user, folder = args.floor_child
        floor_child(host, int(port), user, folder)
        return 0
    if args.postfix_floor_child:
        host, port, db, connections = args.postfix_floor_child
        postfix_floor_child(host, int(port), db, int(connections))
        return 0

    from support import mailstack

    n = args.messages
    workdir = Path(tempfile.mkdtemp(prefix="mailtix-bench-"))
    workdir.chmod(0o755)
    discard = () if args.deliver_acks else (mailstack.CUSTOMER_DOMAIN,)
    stack = mailstack.MailStack(workdir / "stack", discard_domains=discard)
    print(f"bench dir: {workdir}", flush=True)
    stack.start()
    try:
        return run(args, n, stack, workdir)
    finally:
        if args.keep:
            print(
                f"--keep: stack left running (IMAP {stack.host}:{stack.imap_port}, SMTP "
                f"{stack.smtp_port}); files in {workdir}"
            )
        else:
            stack.stop()
            shutil.rmtree(workdir, ignore_errors=True)


@dataclass
class Mix:
    """One mix of mails and what mailtix must make of them."""

    name: str
    raws: list[bytes]
    agents: bool
    expected_outbox: int  # acknowledgements + notifications queued
    tickets: int
    addresses: list[str]  # the customers' addresses (made deliverable with --deliver-acks)
    description: str


def make_mix(name: str, n: int, agents: bool) -> Mix:
    if name == "project":
        raws, figures = generate(n)
        return Mix(
            name, raws, agents, n * (2 if agents else 1), n,
            [customer_address(i) for i in range(n)],
            f"{n} mails, {figures['bytes'] / n / 1000:.1f} KB on average, {figures['html']} "
            f"with an HTML alternative, {figures['attachment']} with a 10-100 KB attachment; "
            f"every sender new{', agents notified' if agents else ''}",
        )  # fmt: skip
    raws, stats = gen_mix.generate(n)
    figures = stats.as_dict()
    return Mix(
        name, raws, True, figures["new"] + n, figures["new"], gen_mix.customer_addresses(n),
        f"{n} mails, {figures['bytes'] / n / 1000:.2f} KB on average, {figures['replies']} "
        f"replies by tag, {figures['html']} with an HTML alternative, {figures['attachment']} "
        f"with a small attachment; {figures['customers']} customers ({gen_mix.REGULARS} of "
        f"them write {gen_mix.REGULAR_SHARE:.0%} of the tickets); agents notified",
    )  # fmt: skip


def floor_run(stack: Any, user: str) -> dict[str, Any]:
    argv = [sys.executable, __file__, "--floor-child", stack.host, str(stack.imap_port)]
    wall, out, err, code = run_child([*argv, user, "INBOX"])
    if code != 0:
        raise RuntimeError(f"floor child failed ({code}):\n{err}")
    floor = result_line(out)
    floor["wall"] = wall
    print(f"  floor run: {wall:.2f}s wall, {floor['work_seconds']:.2f}s work", flush=True)
    return floor


def mailtix_run(
    args: argparse.Namespace, mix: Mix, acks: str, stack: Any, workdir: Path, user: str
) -> dict[str, Any]:
    """``poll --once`` on a fresh mailbox holding the mix; its figures and what it did."""
    directory = workdir / user
    config = write_config(
        directory, stack, user, "mailtix.db", mix.agents, args.connections, args.deliver_acks
    )
    argv = [sys.executable, "-c", MAILTIX_CHILD, "--config", str(config), "poll", "--once"]
    machine_before, postfix_before = machine_cpu_seconds(), postfix_cpu_seconds(stack)
    os.environ["BENCH_ACKS"] = acks
    try:
        wall, out, err, code = run_child(argv, cwd=directory)
    finally:
        del os.environ["BENCH_ACKS"]
    machine_during = machine_cpu_seconds() - machine_before
    if "BENCH-RESULT" not in out:
        raise RuntimeError(f"mailtix child exited {code} without a result:\n{err[-3000:]}")
    mt = result_line(out, "BENCH-RESULT")
    mt["wall"] = wall
    mt["connections"] = args.connections
    # the rest of the machine while it ran: Dovecot, Postfix, the kernel (and anything else)
    mt["others_cpu_seconds"] = machine_during - mt["cpu_seconds"] - mt["sender_cpu_seconds"]
    if code != 0 or mt["exit"] != 0:
        print(f"mailtix exited {code}/{mt['exit']}:\n{err[-3000:]}", file=sys.stderr)
    print(
        f"  mailtix run (acks {acks}): {wall:.2f}s wall, CPU poll --once "
        f"{mt['cpu_seconds']:.2f}s, its children {mt['sender_cpu_seconds']:.2f}s; "
        f"{mt['drain_seconds']:.2f}s after polling",
        flush=True,
    )
    mt["counts"] = db_counts(directory / "mailtix.db")
    try:
        stack.wait_queue_empty(timeout=120)
        mt["queue"] = "empty"
    except TimeoutError:
        mt["queue"] = "NOT empty after 120 s"
    mt["postfix_cpu_seconds"] = postfix_cpu_seconds(stack) - postfix_before
    mt["inbox_left"] = folder_count(stack, user, "INBOX")
    mt["processed"] = folder_count(stack, user, "Processed")
    mt["quarantined"] = folder_count(stack, user, "Quarantine")
    return mt


def postfix_floor_run(stack: Any, db: Path, connections: int) -> dict[str, Any]:
    """Postfix alone accepting what a mailtix run just sent (``postfix_floor_child``)."""
    argv = [sys.executable, __file__, "--postfix-floor-child", stack.host, str(stack.smtp_port)]
    postfix_before = postfix_cpu_seconds(stack)
    _, out, err, code = run_child([*argv, str(db), str(connections)])
    if code != 0:
        raise RuntimeError(f"Postfix floor child failed ({code}):\n{err}")
    found = result_line(out)
    if found["failures"]:
        print(f"  Postfix floor: {found['failures'][:3]}", file=sys.stderr)
    try:
        stack.wait_queue_empty(timeout=120)
    except TimeoutError:
        found["failures"].append("Postfix queue not empty after 120 s")
    found["postfix_cpu_seconds"] = postfix_cpu_seconds(stack) - postfix_before
    print(
        f"  Postfix alone: {found['work_seconds']:.2f}s wall, the rest of the machine "
        f"{found['others_cpu_seconds']:.2f}s CPU (Postfix's processes "
        f"{found['postfix_cpu_seconds']:.2f}s), its client {found['cpu_seconds']:.2f}s, "
        f"{found['mails']} mails",
        flush=True,
    )
    return found


def postfix_cpu_seconds(stack: Any) -> float:
    """CPU the stack's Postfix has used so far: every process of its master's session (master
    -s calls setsid), with what they reaped of their exited children (/proc/PID/stat utime,
    stime, cutime, cstime). Unlike the rest of the machine, no other load is in it."""
    pid_file = stack.directory / "postfix-spool" / "pid" / "master.pid"
    master = int(pid_file.read_text().split()[0])
    ticks = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:  # gone meanwhile
            continue
        if int(fields[3]) == master:  # the session
            ticks += sum(int(field) for field in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


def machine_cpu_seconds() -> float:
    """CPU time the whole machine has spent busy since boot (/proc/stat: all but idle and
    iowait)."""
    with open("/proc/stat") as stat:
        ticks = [int(field) for field in stat.readline().split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def warm_up() -> None:
    """Compile mailtix's bytecode and import what poll --once imports once, untimed: an
    installed package has its bytecode compiled (pip does it), an editable checkout only after
    a first run - and never where PYTHONDONTWRITEBYTECODE is set, hence compileall, which
    writes it regardless."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "mailtix")], check=True)
    modules = (
        "mailtix.cli.main, mailtix.runtime.app, mailtix.outbound.outbox, "
        "mailtix.outbound.sender_process"
    )
    subprocess.run([sys.executable, "-c", f"import {modules}"], check=True)


def profile_run(
    args: argparse.Namespace, mix: Mix, stack: Any, workdir: Path, user: str, profile_n: int
) -> str:
    prof_dir = workdir / user
    prof_config = write_config(
        prof_dir, stack, user, "profile.db", mix.agents, args.connections, args.deliver_acks
    )
    prof = prof_dir / "prof.out"
    pargv = [sys.executable, "-m", "cProfile", "-o", str(prof), "-m", "mailtix"]
    pwall, _, perr, pcode = run_child(
        [*pargv, "--config", str(prof_config), "poll", "--once"], cwd=prof_dir
    )
    if pcode != 0:
        print(f"profiled mailtix exited {pcode}:\n{perr[-3000:]}", file=sys.stderr)
    return (
        f"cProfile of `mailtix poll --once` on {profile_n} mails of the {mix.name} mix "
        f"({pwall:.2f}s wall under the profiler):\n" + profile_report(prof)
    )


def walls(runs: list[dict[str, Any]]) -> str:
    values = [r["wall"] for r in runs]
    return (
        f"{', '.join(f'{w:.2f}s' for w in values)}  (median {statistics.median(values):.2f}s, "
        f"spread {max(values) - min(values):.2f}s)"
    )


def run(args: argparse.Namespace, n: int, stack: Any, workdir: Path) -> int:
    """Every mix asked for, each with its own floor and the ack modes asked for, the runs of
    a mix taking turns; one report at the end."""
    mixes = MIXES if args.mix == "both" else (args.mix,)
    modes = ACK_MODES if args.acks == "both" else (args.acks,)
    for agent in AGENTS:
        stack.add_user(agent, PASSWORD)
    warm_up()
    sections, profiles, ok = [], [], True
    for name in mixes:
        started = time.perf_counter()
        mix = make_mix(name, n, args.agents)
        print(f"{name} mix: generated in {time.perf_counter() - started:.1f}s", flush=True)
        section, profile, mix_ok = run_mix(args, mix, modes, stack, workdir)
        sections.append(section)
        profiles.append(profile)
        ok = ok and mix_ok
    line = "=" * 78
    acks_go = (
        "delivered into Dovecot mailboxes (--deliver-acks)"
        if args.deliver_acks
        else "accepted and queued by Postfix, then discarded"
    )
    print(
        f"\n{line}\nmailtix polling benchmark\n{line}\n"
        f"machine      : {os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), "
        f"{platform.platform()}, Python {platform.python_version()}\n"
        f"loadavg      : {' '.join(f'{x:.2f}' for x in os.getloadavg())} (at report time; "
        f"machine shared)\n"
        f"routing      : 3 rules (ignore newsletters, tag outages + continue, invoices -> "
        f"billing); no budget holds a mail back (limits lifted)\n"
        f"acks sent    : over {args.connections} SMTP connection(s) by poll --once's sender "
        f"process, {acks_go}\n"
        f"acks outbox  : the same poll queueing them but sending nothing (left in the outbox)\n"
        f"runs         : floor and mailtix take turns; best run of each side, and medians\n"
        + "\n".join(sections)
        + f"\n{line}"
    )
    for profile in profiles:
        if profile:
            print(profile)
    if not ok:
        print("WARNING: in some run the counts are not what they should be (see above)")
    return 0 if ok else 1


def run_mix(
    args: argparse.Namespace, mix: Mix, modes: tuple[str, ...], stack: Any, workdir: Path
) -> tuple[str, str, bool]:
    """The floor and mailtix (each ack mode) on one mix, taking turns: its report section."""
    n = len(mix.raws)
    floor_user = f"floor{mix.name}"
    users = {mode: [f"{mix.name}{mode}{i}" for i in range(args.mailtix_runs)] for mode in modes}
    profile_user = f"{mix.name}profile"
    for user in (floor_user, profile_user, *(u for us in users.values() for u in us)):
        stack.add_user(user, PASSWORD)
    if args.deliver_acks:  # deliverable, or their bounces would land in the support INBOX
        for address in mix.addresses:
            stack.add_user(address.split("@")[0], PASSWORD)
    appended = append_all(stack, floor_user, mix.raws)
    appended += sum(append_all(stack, u, mix.raws) for us in users.values() for u in us)
    profile_n = min(args.profile_messages, n) if mix.name == "realistic" else 0
    if profile_n:
        appended += append_all(stack, profile_user, mix.raws[:profile_n])
    print(f"  appended the mails in {appended:.1f}s (not measured)", flush=True)
    floors: list[dict[str, Any]] = []
    results: dict[str, list[dict[str, Any]]] = {mode: [] for mode in modes}
    for number in range(max(args.floor_runs, args.mailtix_runs)):
        if number < args.floor_runs:
            floors.append(floor_run(stack, floor_user))
        for mode in modes:
            if number < args.mailtix_runs:
                user = users[mode][number]
                mt = mailtix_run(args, mix, mode, stack, workdir, user)
                if mode == "sent":  # what Postfix alone needs to take the same mails
                    db = workdir / user / "mailtix.db"
                    mt["postfix_floor"] = postfix_floor_run(stack, db, args.connections)
                results[mode].append(mt)
    profile = profile_run(args, mix, stack, workdir, profile_user, profile_n) if profile_n else ""
    best_floor = min(floors, key=lambda f: f["wall"])
    median_floor = statistics.median(f["wall"] for f in floors)
    text = [
        f"\n--- {mix.name} mix: {mix.description}",
        "floor (imapclient SEARCH/RFC822.SIZE/BODY.PEEK[] x100 + mailparser.parse_from_bytes)",
        f"  runs (wall)  : {walls(floors)}",
        f"  best wall    : {best_floor['wall']:.2f}s = {n / best_floor['wall']:.0f} msg/s; "
        f"CPU {best_floor['cpu_seconds']:.2f}s; peak RSS {best_floor['maxrss_mb']:.0f} MB",
    ]
    ok = True
    for mode in modes:
        runs = results[mode]
        mt = min(runs, key=lambda m: m["wall"])
        median_ratio = statistics.median(m["wall"] for m in runs) / median_floor
        text += mode_section(mix, mode, mt, runs, best_floor, median_ratio)
        ok = ok and all(run_ok(m, mix, mode) for m in runs)
    return "\n".join(text), profile, ok


def mode_section(
    mix: Mix,
    mode: str,
    mt: dict[str, Any],
    runs: list[dict[str, Any]],
    floor: dict[str, Any],
    median_ratio: float,
) -> list[str]:
    n = len(mix.raws)
    counts = mt["counts"]
    polling = mt["work_seconds"] - mt["drain_seconds"]
    ncpu = len(os.sched_getaffinity(0))
    what = "sent to Postfix meanwhile" if mode == "sent" else "left in the outbox"
    return [
        f"mailtix poll --once, acknowledgements {what}",
        f"  runs (wall)  : {walls(runs)}",
        f"  best wall    : {mt['wall']:.2f}s = {n / mt['wall']:.0f} msg/s  (polling "
        f"{polling:.2f}s, then the rest of the outbox and closing {mt['drain_seconds']:.2f}s)",
        f"  RATIO        : {mt['wall'] / floor['wall']:.2f}x the floor (best runs), "
        f"{median_ratio:.2f}x (medians), {mt['work_seconds'] / floor['work_seconds']:.2f}x "
        f"without interpreter start",
        *postfix_floor_lines(mt, runs),
        f"  CPU          : poll --once {mt['cpu_seconds']:.2f}s "
        f"({1000 * mt['cpu_seconds'] / n:.2f} ms a mail), its children (sender, parse child) "
        f"{mt['sender_cpu_seconds']:.2f}s, the rest of the machine {mt['others_cpu_seconds']:.2f}s"
        f" (Postfix's processes {mt['postfix_cpu_seconds']:.2f}s, until its queue was empty);"
        f" {ncpu} CPUs x {mt['wall']:.2f}s wall = {ncpu * mt['wall']:.2f}s",
        f"  SQL          : {mt['statements'] / n:.1f} statements per mail in poll --once "
        f"({mt['statements']}; the sender's not counted)",
        f"  peak RSS     : {mt['maxrss_mb']:.0f} MB (poll --once), "
        f"{mt['sender_maxrss_mb']:.0f} MB (the larger of its sender and parse child)",
        f"  checks       : exit {mt['exit']}; tickets {counts['tickets']} (must be "
        f"{mix.tickets}), messages stored {counts['messages']}, "
        f"outbox {counts['outbox']} (must total {mix.expected_outbox}"
        f"{', all sent' if mode == 'sent' else ', none sent'}); INBOX left "
        f"{mt['inbox_left']}, Processed {mt['processed']} (must be {n}), Quarantine "
        f"{mt['quarantined']}; Postfix queue {mt['queue']}",
    ]


def postfix_floor_lines(mt: dict[str, Any], runs: list[dict[str, Any]]) -> list[str]:
    """Context for the sent ratio: Postfix alone accepting the same mails (not in RATIO)."""
    if "postfix_floor" not in mt:
        return []
    floors = [r["postfix_floor"] for r in runs]
    best = min(floors, key=lambda f: f["work_seconds"])
    walls_text = ", ".join(f"{f['work_seconds']:.2f}s" for f in floors)
    median = statistics.median(f["work_seconds"] for f in floors)
    failed = sum(len(f["failures"]) for f in floors)
    return [
        f"  Postfix alone: needs {best['work_seconds']:.2f}s wall / "
        f"{best['others_cpu_seconds']:.2f}s CPU to accept these {best['mails']} mails "
        f"(smtplib, {mt['connections']} connections, one command at a time; its client "
        f"{best['cpu_seconds']:.2f}s CPU; runs {walls_text}, median {median:.2f}s"
        f"{f'; {failed} FAILURES' if failed else ''})",
        f"                 Postfix's own processes {best['postfix_cpu_seconds']:.2f}s CPU "
        f"for them (until its queue was empty), against {mt['postfix_cpu_seconds']:.2f}s "
        f"in the mailtix run",
    ]


def run_ok(mt: dict[str, Any], mix: Mix, mode: str) -> bool:
    counts = mt["counts"]
    outbox = counts["outbox"]
    wanted = {"sent": mix.expected_outbox} if mode == "sent" else {"pending": mix.expected_outbox}
    return (
        mt["exit"] == 0
        and not mt.get("postfix_floor", {}).get("failures")
        and mt["inbox_left"] == 0
        and mt["processed"] == len(mix.raws)
        and counts["tickets"] == mix.tickets
        and outbox == wanted
    )


if __name__ == "__main__":
    sys.exit(main())
