"""``mailtix status`` in each state against the real mail stack and a real ``mailtix run``:
healthy (mail flowing, a quarantined mail counted but no alarm), IMAP down, SMTP failing, and
the daemon not running; the daemon's sd_notify messages (READY=1, WATCHDOG=1, STOPPING=1)
reach a NOTIFY_SOCKET datagram socket the test opens."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support.live import customer_mail, mailtix, unique, write_config
from support.mailstack import free_ports

pytestmark = pytest.mark.integration


class Daemon:
    """``mailtix run`` in a subprocess, told to notify the test's datagram socket."""

    def __init__(self, config: Path, notify: str | None = None) -> None:
        self.log = config.parent / "daemon.log"
        env = dict(os.environ)
        if notify is not None:
            env |= {"NOTIFY_SOCKET": notify, "WATCHDOG_USEC": "2000000"}  # WATCHDOG=1 every 1 s
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "mailtix", "--config", str(config), "-v", "run"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log, env=env,
            )  # fmt: skip

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"daemon ignored SIGTERM:\n{self.text()}")


@pytest.fixture
def daemons() -> Iterator[Callable[..., Daemon]]:
    started: list[Daemon] = []

    def start(config: Path, notify: str | None = None) -> Daemon:
        started.append(Daemon(config, notify))
        return started[-1]

    yield start
    for daemon in started:
        daemon.stop()


def status(config: Path) -> tuple[int, dict[str, Any]]:
    proc = mailtix(config, "status", "--json", check=False)
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def wait_for(what: str, test: Callable[[], Any], daemon: Daemon, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = test()
        if found:
            return found
        if daemon.proc.poll() is not None:
            pytest.fail(f"daemon exited {daemon.proc.returncode}:\n{daemon.text()}")
        time.sleep(0.3)
    pytest.fail(f"not within {timeout} s: {what}\n{daemon.text()}")


def desk(stack: Any, tmp_path: Path, **mailbox: Any) -> tuple[Path, str]:
    support = unique("support")
    config = write_config(tmp_path, stack, [{"name": "support", "user": support, **mailbox}])
    return config, f"{support}@example.test"


def test_healthy_while_mail_flows_and_not_once_the_daemon_stopped(
    mailstack: Any, tmp_path: Path, daemons: Callable[..., Daemon]
) -> None:
    config, support = desk(mailstack, tmp_path, max_message_bytes=4096)
    carol = unique("carol")
    mailstack.add_user(carol)
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as systemd:
        name = f"mailtix-status-test-{os.getpid()}"
        systemd.bind("\0" + name)
        systemd.settimeout(20)
        daemon = daemons(config, notify="@" + name)
        assert systemd.recv(64) == b"READY=1"
        mailstack.send(customer_mail(f"{carol}@customer.test", support, "Printer on fire"),
                       f"{carol}@customer.test", [support])  # fmt: skip
        big = customer_mail(f"{carol}@customer.test", support, "Huge", "x" * 8000)
        mailstack.send(big, f"{carol}@customer.test", [support])
        mailstack.wait_for_messages(carol, count=1, timeout=30)  # the acknowledgement

        def healthy() -> dict[str, Any] | None:  # both mails handled, what they queued sent
            code, report = status(config)
            ok = code == 0 and report["quarantine"]["held"] == 1
            ok = ok and report["outbox"]["pending"] == 0
            return report if ok and report["mailboxes"][0]["waiting"] == 0 else None

        report = wait_for("status healthy with one quarantined, outbox sent", healthy, daemon)
        print("\nstatus, healthy:", json.dumps(report, indent=1))
        assert report["daemon"]["running"] and report["problems"] == []
        [mailbox] = report["mailboxes"]
        assert mailbox["last_success"] and mailbox["last_error"] is None
        assert report["outbox"] == {"pending": 0, "failed": 0, "retrying": 0, "last_error": None}

        assert systemd.recv(64) == b"WATCHDOG=1"
        assert daemon.stop() == 0
        seen = []
        while (datagram := systemd.recv(64)) != b"STOPPING=1":
            seen.append(datagram)
        assert set(seen) <= {b"WATCHDOG=1"}, seen

    code, report = status(config)
    assert code == 1 and report["daemon"]["running"] is False
    [problem] = report["problems"]
    worker = report["daemon"]["workers"][0]
    assert problem == f"daemon: not running: {worker['worker']} stopped at {worker['stopped_at']}"
    text = mailtix(config, "status", check=False)
    assert text.returncode == 1 and "daemon: not running" in text.stdout


def test_imap_down_is_unhealthy_with_the_error(
    mailstack: Any, tmp_path: Path, daemons: Callable[..., Daemon]
) -> None:
    config, _ = desk(mailstack, tmp_path, poll_interval=1, timeout=2)
    text = config.read_text()
    config.write_text(text.replace(f"port = {mailstack.imap_port}", f"port = {free_ports(1)[0]}"))
    daemon = daemons(config)

    def failing() -> dict[str, Any] | None:  # for longer than three poll intervals
        code, report = status(config)
        said = any(p.startswith("mailbox support: failing since") for p in report["problems"])
        return report if code == 1 and said else None

    report = wait_for("status says the mailbox fails", failing, daemon)
    print("\nstatus, IMAP down:", report["problems"])
    [mailbox] = report["mailboxes"]
    assert mailbox["healthy"] is False and mailbox["last_success"] is None
    assert "support" in mailbox["last_error"] and mailbox["last_error_at"]
    assert report["daemon"]["running"] is True
    assert "secret" not in json.dumps(report)  # the password never shows


def test_smtp_failing_is_unhealthy_with_the_error(
    mailstack: Any, tmp_path: Path, daemons: Callable[..., Daemon]
) -> None:
    config, support = desk(mailstack, tmp_path)
    text = config.read_text()
    config.write_text(text.replace(f"port = {mailstack.smtp_port}", f"port = {free_ports(1)[0]}"))
    daemon = daemons(config)
    carol = f"{unique('carol')}@customer.test"
    mailstack.send(customer_mail(carol, support, "Nobody answers"), carol, [support])

    def retrying() -> dict[str, Any] | None:
        code, report = status(config)
        return report if code == 1 and report["outbox"]["retrying"] else None

    report = wait_for("status says the outbox retries", retrying, daemon)
    print("\nstatus, SMTP failing:", report["problems"])
    assert report["outbox"]["pending"] >= 1 and report["outbox"]["last_error"]  # ack, notice
    assert report["mailboxes"][0]["healthy"] is True  # reading mail still works
    retrying = f"outbox: {report['outbox']['retrying']} waiting for a retry: "
    assert any(p.startswith(retrying) for p in report["problems"]), report["problems"]
