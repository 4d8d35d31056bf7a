"""The watchdog is fed from the scheduler even while every ordinary job thread is busy (IDLE
mailbox jobs hold theirs for minutes): the heartbeat has a thread of its own, so many mailboxes
cannot get a healthy daemon killed by systemd."""

from __future__ import annotations

import os
import socket
import threading
from pathlib import Path

import pytest
from support.config import small_config

from mailtix.runtime.app import App
from mailtix.runtime.daemon import Daemon


def test_watchdog_is_fed_while_all_job_threads_are_busy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "inbox").mkdir()
    for sub in ("cur", "new", "tmp"):
        (tmp_path / "inbox" / sub).mkdir()
    small_config(tmp_path)
    name = f"mailtix-watchdog-test-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as systemd:
        systemd.bind("\0" + name)
        systemd.settimeout(10)
        monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
        monkeypatch.setenv("WATCHDOG_USEC", "400000")  # WATCHDOG=1 every 0.2 s
        daemon = Daemon(App.open(tmp_path / "mailtix.toml"))
        release = threading.Event()
        try:
            daemon.start()
            assert systemd.recv(64) == b"READY=1"
            for n in range(20):  # more than the default pool's threads, each held
                daemon.scheduler.add_job(release.wait, args=[30], id=f"busy{n}")
            seen = [systemd.recv(64) for _ in range(5)]
        finally:
            release.set()
            daemon.stop()
    assert seen == [b"WATCHDOG=1"] * 5
