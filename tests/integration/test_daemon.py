"""`mailtix run` on real servers: IMAP IDLE makes it react to new mail within seconds although
the poll interval is a minute, and SIGTERM / SIGINT stop it cleanly (exit 0, no traceback)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from support.live import customer_mail, parse, tickets, unique, write_config

pytestmark = pytest.mark.integration

POLL_INTERVAL = 60  # so that only IDLE can explain a reaction within seconds
MAX_LATENCY = 10.0  # generous for a loaded 2-core CI machine; the real figure is printed


def start_daemon(config: Path, stderr_path: Path) -> subprocess.Popen[bytes]:
    with open(stderr_path, "wb") as stderr:
        return subprocess.Popen(
            [sys.executable, "-m", "mailtix", "--config", str(config), "-v", "run"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )


def wait_until_up(
    stack: Any, proc: subprocess.Popen[bytes], stderr_path: Path, support: str
) -> None:
    """Running, first poll done (it creates Processed), and back in IDLE."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"daemon exited {proc.returncode}:\n{stderr_path.read_text()}")
        up = "mailtix running" in stderr_path.read_text(errors="replace")
        if up and "Processed" in _folders(stack, support):
            time.sleep(0.5)  # the first poll is over well before this; IDLE is entered next
            return
        time.sleep(0.1)
    pytest.fail(f"daemon not up within 20 s:\n{stderr_path.read_text()}")


def _folders(stack: Any, user: str) -> list[str]:
    with stack.imap(user) as client:
        return [str(name) for _flags, _sep, name in client.list_folders()]


def stop(proc: subprocess.Popen[bytes], signum: int, stderr_path: Path) -> tuple[int, float, str]:
    started = time.monotonic()
    proc.send_signal(signum)
    try:
        code = proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail(f"daemon ignored signal {signum} for 10 s:\n{stderr_path.read_text()}")
    return code, time.monotonic() - started, stderr_path.read_text(errors="replace")


@pytest.fixture
def desk(mailstack: Any, tmp_path: Path) -> dict[str, Any]:
    support, carol = unique("support"), unique("carol")
    mailstack.add_user(carol)
    config = write_config(
        tmp_path,
        mailstack,
        [{"name": "support", "user": support, "poll_interval": POLL_INTERVAL}],
    )
    return {"config": config, "support": support, "carol": carol, "tmp": tmp_path}


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_idle_reacts_within_seconds_and_signal_stops_cleanly(
    mailstack: Any, desk: dict[str, Any], signum: int
) -> None:
    support_addr, carol_addr = f"{desk['support']}@example.test", f"{desk['carol']}@customer.test"
    stderr_path = desk["tmp"] / "daemon.stderr"
    proc = start_daemon(desk["config"], stderr_path)
    try:
        wait_until_up(mailstack, proc, stderr_path, desk["support"])

        msg = customer_mail(carol_addr, support_addr, "Daemon hears me")
        sent_at = time.monotonic()
        mailstack.send(msg, carol_addr, [support_addr])
        [raw] = mailstack.wait_for_messages(desk["carol"], count=1, timeout=MAX_LATENCY + 5)
        latency = time.monotonic() - sent_at
        print(f"\nIDLE latency (customer SMTP -> ack in customer INBOX): {latency:.2f} s")
        assert latency < MAX_LATENCY, stderr_path.read_text()

        [only] = tickets(desk["config"])
        assert parse(raw)["Subject"] == f"[{only['ref']}] Daemon hears me"
        assert mailstack.folder_uids(desk["support"], "INBOX") == []
        assert len(mailstack.folder_uids(desk["support"], "Processed")) == 1
    finally:
        code, took, stderr = stop(proc, signum, stderr_path)
    print(f"{signal.Signals(signum).name}: exit {code} after {took:.2f} s")
    assert code == 0, stderr
    assert "Traceback" not in stderr and "ERROR" not in stderr, stderr
    assert "mailtix stopped" in stderr
