"""LMTP delivery throughput: ``mailtix lmtp`` taking the realistic mix (``gen_mix.py``) or the
project's own (``bench_poll.py``'s, every sender new, 12 KB mails).

    .venv/bin/python tests/bench/bench_lmtp.py [--messages 2000] [--sessions 4] [--postfix]
                                               [--runs 3] [--mix realistic|project]
                                               [--statements [--profile]]

Direct (default): SESSIONS LMTP clients of this script deliver the mails to ``mailtix lmtp``
at once, each over one session, waiting for the per-recipient answers as Postfix's LMTP client
does; acknowledgements go to a local Maildir ([smtp] maildir), so the figure is mailtix's own.
With ``--postfix`` the mails go in by SMTP to a private Postfix (tests/support/mailstack.py)
that delivers them to mailtix over LMTP, and the acknowledgements go back to that Postfix,
which accepts and queues them and then discards them; the run ends when every ticket is
committed and Postfix's queue is empty (needs root).

Each run: a fresh store, ``mailtix lmtp`` started and its modules imported before the clock
starts. Printed per run: seconds, msgs/s, the CPU (user + system) of mailtix's process and of
its sender process while the mails went in (start-up not counted), and their peak RSS (VmHWM,
read from /proc before they stop). Every mail must be answered 250 and the store must hold
one receipt per mail.

``--statements``: the server runs in this process instead (``LmtpServer`` on the same config,
the same clients), and the SQL statements it runs are counted at ``Database.execute_sql`` as
``bench_pipeline.py`` counts them: per mail, by kind, the most frequent ones, and the groups
of deliveries the worker made durable together, and the CPU time of the delivery worker's
thread (``time.thread_time``: the clients share the process); ``--profile`` adds a cProfile of
that thread.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import logging
import os
import pstats
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(HERE.parent))

from support.lmtp_client import LmtpClient  # noqa: E402

from bench import bench_poll, gen_mix  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")
CONFIG = """\
[store]
url = "sqlite:///mailtix.db"

[smtp]
{smtp}

[templates]
dir = "{templates}"

[tickets]
auto_reply_budget_per_hour = 1000000

[lmtp]
listen = "127.0.0.1:{port}"
max_sessions = 100

[[mailbox]]
name = "support"
address = "support@example.test"
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def process_figures(pid: int) -> dict[str, float]:
    """CPU seconds and peak RSS (MB) of ``pid`` and its children, from /proc."""
    found = {"cpu": 0.0, "children_cpu": 0.0, "rss_mb": 0.0, "children_rss_mb": 0.0}
    pids = [pid, *_children(pid)]
    for n, one in enumerate(pids):
        try:
            stat = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
            status = Path(f"/proc/{one}/status").read_text()
        except OSError:
            continue
        cpu = (int(stat[11]) + int(stat[12])) / TICKS
        hwm = next((int(line.split()[1]) for line in status.splitlines()
                    if line.startswith("VmHWM:")), 0) / 1024  # fmt: skip
        if n == 0:
            found["cpu"], found["rss_mb"] = cpu, hwm
        else:
            found["children_cpu"] += cpu
            found["children_rss_mb"] = max(found["children_rss_mb"], hwm)
    return found


def _children(pid: int) -> list[int]:
    """The children of every thread of ``pid`` (the parse child is started by the LMTP
    thread, the sender by the main one)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), 1) as conn:
            return conn.recv(64).startswith(b"220")
    except OSError:
        return False


def start_mailtix(workdir: Path, smtp: str, port: int) -> subprocess.Popen[bytes]:
    config = workdir / "mailtix.toml"
    config.write_text(CONFIG.format(smtp=smtp, templates=REPO / "templates", port=port))
    log = open(workdir / "mailtix.log", "ab")  # noqa: SIM115 - the child keeps it
    proc = subprocess.Popen(
        [sys.executable, "-m", "mailtix", "--config", str(config), "lmtp"],
        stdout=log, stderr=log, stdin=subprocess.DEVNULL, cwd=workdir,
    )  # fmt: skip
    log.close()
    deadline = time.monotonic() + 60
    while not listening(port):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit((workdir / "mailtix.log").read_text())
        time.sleep(0.05)
    return proc


def stop_mailtix(proc: subprocess.Popen[bytes], before: dict[str, float]) -> dict[str, float]:
    """Peak RSS, and the CPU spent since ``before`` (start-up and imports left out)."""
    figures = process_figures(proc.pid)
    figures["cpu"] -= before["cpu"]
    figures["children_cpu"] -= before["children_cpu"]
    proc.send_signal(signal.SIGTERM)
    proc.wait(120)
    return figures


def receipts(workdir: Path) -> int:
    with sqlite3.connect(workdir / "mailtix.db", timeout=30) as db:
        return int(db.execute("SELECT count(*) FROM receipt").fetchone()[0])


def deliver_direct(port: int, raws: list[bytes], sessions: int) -> list[str]:
    answers: list[str] = []
    lock = threading.Lock()

    def one(share: list[bytes]) -> None:
        with LmtpClient("127.0.0.1", port, timeout=120) as lmtp:
            for n, raw in enumerate(share):
                _, data = lmtp.deliver("customer@customer.test", ["support@example.test"], raw,
                                       lhlo=n == 0)  # fmt: skip
                with lock:
                    answers.extend(data)

    threads = [threading.Thread(target=one, args=(raws[i::sessions],)) for i in range(sessions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def run_direct(raws: list[bytes], sessions: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-lmtp-") as tmp:
        workdir = Path(tmp)
        port = free_port()
        proc = start_mailtix(workdir, 'maildir = "outgoing"', port)
        before = process_figures(proc.pid)
        started = time.perf_counter()
        answers = deliver_direct(port, raws, sessions)
        seconds = time.perf_counter() - started
        figures = stop_mailtix(proc, before)
        bad = [a for a in answers if not a.startswith("250 ")]
        if len(answers) != len(raws) or bad or receipts(workdir) != len(raws):
            raise SystemExit(f"not every mail was delivered: {len(answers)} answers, {bad[:3]}")
        return {"seconds": seconds, **figures}


def run_postfix(raws: list[bytes], sessions: int) -> dict[str, Any]:
    import smtplib

    from support.mailstack import MailStack

    with tempfile.TemporaryDirectory(prefix="bench-lmtp-") as tmp:
        workdir = Path(tmp)
        os.chmod(workdir, 0o755)
        port = free_port()
        stack = MailStack(
            workdir / "stack",
            discard_domains=[gen_mix.DOMAIN],
            transports={"support@example.test": f"lmtp:inet:127.0.0.1:{port}"},
        )
        with stack:
            smtp = f'host = "127.0.0.1"\nport = {stack.smtp_port}\nsecurity = "none"'
            proc = start_mailtix(workdir, smtp, port)
            before = process_figures(proc.pid)
            started = time.perf_counter()

            def submit(share: list[bytes]) -> None:
                with smtplib.SMTP("127.0.0.1", stack.smtp_port, timeout=60) as client:
                    for raw in share:
                        client.sendmail("customer@customer.test", ["support@example.test"], raw)

            threads = [threading.Thread(target=submit, args=(raws[i::sessions],))
                       for i in range(sessions)]  # fmt: skip
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            while receipts(workdir) < len(raws) or not stack.postfix_queue_empty():
                time.sleep(0.1)
            seconds = time.perf_counter() - started
            figures = stop_mailtix(proc, before)
        return {"seconds": seconds, **figures}


def run_statements(raws: list[bytes], sessions: int, profile: bool) -> dict[str, Any]:
    """The statements ``mailtix lmtp`` runs for these mails, and its delivery worker's CPU
    (see the module doc)."""
    from collections import Counter

    from peewee import Database, SqliteDatabase

    from mailtix.runtime.app import App
    from mailtix.runtime.lmtp import LmtpServer
    from mailtix.runtime.lmtp_worker import DeliveryWorker

    texts: Counter[str] = Counter()
    worker_cpu = [0.0]
    profiler = cProfile.Profile() if profile else None
    patched = {
        (Database, "execute_sql"): Database.execute_sql,
        (SqliteDatabase, "begin"): SqliteDatabase.begin,
        (Database, "commit"): Database.commit,
        (DeliveryWorker, "_handle"): DeliveryWorker._handle,
    }

    def counted(self: Database, sql: str, params: Any = None, *args: Any, **kw: Any) -> Any:
        texts[sql] += 1
        return patched[Database, "execute_sql"](self, sql, params, *args, **kw)

    def begin(self: Any, *args: Any) -> Any:
        texts["BEGIN"] += 1
        return patched[SqliteDatabase, "begin"](self, *args)

    def commit(self: Any) -> Any:
        texts["COMMIT"] += 1
        return patched[Database, "commit"](self)

    def handle(self: Any, group: Any) -> None:  # in the worker's thread: its CPU alone
        begun = time.thread_time()
        if profiler is not None:
            profiler.enable()
        try:
            patched[DeliveryWorker, "_handle"](self, group)
        finally:
            if profiler is not None:
                profiler.disable()
            worker_cpu[0] += time.thread_time() - begun

    with tempfile.TemporaryDirectory(prefix="bench-lmtp-") as tmp:
        workdir = Path(tmp)
        port = free_port()
        config = workdir / "mailtix.toml"
        text = CONFIG.format(smtp='maildir = "outgoing"', templates=REPO / "templates", port=port)
        config.write_text(text)
        os.chdir(workdir)  # the store and the outgoing Maildir as the subprocess has them
        app = App.open(config)
        logging.disable(logging.WARNING)  # held-back acknowledgements: one line each
        server = LmtpServer(app.config, app.pipeline, ("127.0.0.1", port)).start()
        for (cls, name), wrapper in zip(patched, (counted, begin, commit, handle), strict=True):
            setattr(cls, name, wrapper)
        try:
            answers = deliver_direct(port, raws, sessions)
        finally:
            for (cls, name), original in patched.items():
                setattr(cls, name, original)
            server.stop(drain=30)
            logging.disable(logging.NOTSET)
        groups = server.worker.groups
        app.db.close()
        os.chdir(REPO)
        bad = [a for a in answers if not a.startswith("250 ")]
        if len(answers) != len(raws) or bad or receipts(workdir) != len(raws):
            raise SystemExit(f"not every mail was delivered: {len(answers)} answers, {bad[:3]}")
    kinds: Counter[str] = Counter()
    for sql, count in texts.items():
        kinds[sql.lstrip().split(None, 1)[0].upper()] += count
    found = {"statements": sum(texts.values()), "groups": groups, "by_kind": dict(kinds),
             "top": texts.most_common(15), "worker_cpu": worker_cpu[0]}  # fmt: skip
    if profiler is not None:
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("cumulative").print_stats(r"mailtix/", 30)
        found["profile"] = out.getvalue()
    return found


def print_statements(raws: list[bytes], sessions: int, profile: bool) -> None:
    found = run_statements(raws, sessions, profile)
    n, cpu = len(raws), found["worker_cpu"]
    print(f"{found['statements'] / n:.1f} SQL statements a mail (BEGIN and COMMIT included) "
          f"{found['by_kind']}; {found['groups']} durable commits, {n / found['groups']:.1f} "
          f"mails each; delivery worker CPU {1000 * cpu / n:.2f} ms a mail")  # fmt: skip
    for sql, count in found["top"]:
        print(f"{count / n:7.2f} a mail  {' '.join(sql.split())[:140]}")
    print(found.get("profile", ""))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--sessions", type=int, default=4, help="LMTP (or SMTP) clients at once")
    parser.add_argument("--postfix", action="store_true", help="through a private Postfix")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--mix", choices=("realistic", "project"), default="realistic")
    parser.add_argument("--statements", action="store_true", help="count SQL, in process")
    parser.add_argument("--profile", action="store_true", help="with --statements: cProfile")
    args = parser.parse_args()
    if args.mix == "realistic":
        raws, stats = gen_mix.generate(args.messages)
        kinds = f"{stats.new} new, {stats.replies} replies"
    else:
        raws, _ = bench_poll.generate(args.messages)
        kinds = "every sender new"
    megabytes = sum(len(r) for r in raws) / 1e6
    print(f"{args.mix} mix: {args.messages} mails ({megabytes:.1f} MB, {kinds})"
          f"{' through Postfix' if args.postfix else ''}, {args.sessions} sessions")  # fmt: skip
    if args.statements:
        print_statements(raws, args.sessions, args.profile)
        return 0
    results = []
    for n in range(args.runs):
        run = run_postfix if args.postfix else run_direct
        result = run(raws, args.sessions)
        results.append(result)
        print(f"run {n + 1}: {result['seconds']:.2f} s, {args.messages / result['seconds']:.0f} "
              f"msgs/s; CPU mailtix {result['cpu']:.2f} s + children (sender, parse child) "
              f"{result['children_cpu']:.2f} s; peak RSS {result['rss_mb']:.0f} MB + the larger "
              f"child {result['children_rss_mb']:.0f} MB", flush=True)  # fmt: skip
    median = statistics.median(r["seconds"] for r in results)
    print(json.dumps({
        "mix": args.mix, "messages": args.messages, "postfix": args.postfix,
        "sessions": args.sessions,
        "median_seconds": round(median, 2), "median_msgs_per_s": round(args.messages / median),
        "median_cpu_s": round(statistics.median(r["cpu"] for r in results), 2),
        "peak_rss_mb": round(max(r["rss_mb"] for r in results)),
        "sender_peak_rss_mb": round(max(r["children_rss_mb"] for r in results)),
    }))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
