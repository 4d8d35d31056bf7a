"""Print how long the short commands take from start to exit, beside a bare interpreter's.

Run ``.venv/bin/python tests/bench/measure_startup.py [--runs 10]``. It writes a small store in a
temporary directory (a Maildir mailbox and Maildir outgoing mail, five tickets), compiles the
bytecode first, then runs each command ``--runs`` times in a fresh interpreter and prints per
command the median and best wall time, the median CPU time (user + system of the child, which
a busy machine disturbs less than wall time) and how many modules the command imported. The
figures are measurements, not assertions; tests/integration/test_cli.py checks what the
read-only commands must not import.
"""

from __future__ import annotations

import argparse
import compileall
import itertools
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
MAIL = (REPO / "tests" / "data" / "mails" / "plain-customer.eml").read_bytes()
_serial = itertools.count(1)
CONFIG = """\
[store]
url = "sqlite:///mailtix.db"
[smtp]
maildir = "outgoing"
[[mailbox]]
name = "support"
address = "support@acme.example"
maildir = "inbox"
"""
COUNT_MODULES = (
    "import sys, runpy\n"
    "sys.argv = ['mailtix', *sys.argv[1:]]\n"
    "try:\n"
    "    runpy.run_module('mailtix', run_name='__main__')\n"
    "except SystemExit:\n"
    "    pass\n"
    "print(len(sys.modules), file=sys.stderr)\n"
)


def fresh_mail() -> bytes:
    """The small customer mail with a Message-ID and subject of its own: a new ticket each."""
    n = next(_serial)
    mail = MAIL.replace(b"<CAF1234@mail.example.com>", f"<startup-{n}@mail.example.com>".encode())
    return mail.replace(b"is broken", f"is broken ({n})".encode())


def timed(command: list[str], stdin: bytes | None) -> tuple[float, float]:
    """Wall and CPU seconds of one run of ``command`` (exit 0, or 1 for an unhealthy status)."""
    stdin = fresh_mail() if stdin is not None else None
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(command, input=stdin, capture_output=True)
    if proc.returncode not in (0, 1) or (proc.returncode and command[-1] != "status"):
        raise SystemExit(f"{' '.join(command)}: exit {proc.returncode}: {proc.stderr.decode()}")
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def modules(args: list[str], stdin: bytes | None) -> int:
    stdin = fresh_mail() if stdin is not None else None
    proc = subprocess.run([sys.executable, "-c", COUNT_MODULES, *args], input=stdin,
                          capture_output=True)  # fmt: skip
    return int(proc.stderr.decode().strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    runs = parser.parse_args().runs
    compileall.compile_dir(REPO / "mailtix", quiet=1)
    with tempfile.TemporaryDirectory(prefix="mailtix-startup-") as directory:
        config = Path(directory) / "mailtix.toml"
        config.write_text(CONFIG)
        mailtix = [sys.executable, "-m", "mailtix", "--config", str(config)]
        ingest = ["ingest", "--mailbox", "support"]
        for _ in range(5):
            subprocess.run([*mailtix, *ingest], input=fresh_mail(), capture_output=True, check=True)
        cases: list[tuple[str, list[str] | None, bytes | None]] = [
            ("python -c pass", None, None),
            ("mailtix --help", ["--help"], None),
            ("mailtix tickets list", ["tickets", "list"], None),
            ("mailtix tickets show 1", ["tickets", "show", "1"], None),
            ("mailtix outbox list", ["outbox", "list"], None),
            ("mailtix status (no daemon: exit 1)", ["status"], None),
            ("mailtix ingest (one small mail)", ingest, MAIL),
        ]
        print(f"{runs} runs each, fresh interpreter, bytecode compiled; seconds")
        print(f"{'command':<34} {'wall median':>11} {'wall best':>9} {'cpu median':>10} modules")
        for name, args, stdin in cases:
            command = [sys.executable, "-c", "pass"] if args is None else [*mailtix, *args]
            samples = [timed(command, stdin) for _ in range(runs)]
            walls, cpus = [w for w, _ in samples], [c for _, c in samples]
            count = (modules(["--config", str(config), *args], stdin) if args is not None
                     else modules_of_bare_interpreter())  # fmt: skip
            print(f"{name:<34} {statistics.median(walls):>11.3f} {min(walls):>9.3f} "
                  f"{statistics.median(cpus):>10.3f} {count:>7}")  # fmt: skip
    return 0


def modules_of_bare_interpreter() -> int:
    proc = subprocess.run([sys.executable, "-c", "import sys; print(len(sys.modules))"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return int(proc.stdout)


if __name__ == "__main__":
    os.umask(0o077)
    raise SystemExit(main())
