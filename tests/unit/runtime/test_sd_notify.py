"""The sd_notify protocol against a datagram socket the test opens: a path and an abstract
name ("@..."); nothing is sent without $NOTIFY_SOCKET; the watchdog interval from systemd's."""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailtix.runtime.sd_notify import notify, watchdog_seconds


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        yield sock


def test_notify_reaches_a_socket_path(
    listener: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    with tempfile.TemporaryDirectory(prefix="sd") as short:  # AF_UNIX paths: 108 bytes at most
        path = str(Path(short) / "notify")
        listener.bind(path)
        monkeypatch.setenv("NOTIFY_SOCKET", path)
        assert notify("READY=1")
        assert listener.recv(100) == b"READY=1"


def test_notify_reaches_an_abstract_socket(
    listener: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = f"mailtix-test-{os.getpid()}"
    listener.bind("\0" + name)
    monkeypatch.setenv("NOTIFY_SOCKET", "@" + name)
    assert notify("WATCHDOG=1") and notify("STOPPING=1")
    assert [listener.recv(100), listener.recv(100)] == [b"WATCHDOG=1", b"STOPPING=1"]


def test_without_systemd_nothing_is_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert notify("READY=1") is False
    monkeypatch.setenv("NOTIFY_SOCKET", "@mailtix-nobody-listens-here")
    assert notify("READY=1") is False  # a warning, not an exception


def test_watchdog_interval_is_half_of_systemds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    assert watchdog_seconds() is None
    monkeypatch.setenv("WATCHDOG_USEC", "60000000")
    assert watchdog_seconds() == 30.0
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    assert watchdog_seconds() == 30.0
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid() + 1))
    assert watchdog_seconds() is None  # meant for another process
