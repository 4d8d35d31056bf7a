"""Telling systemd how the daemon is doing (the sd_notify(3) protocol): one datagram such as
``READY=1``, ``WATCHDOG=1`` or ``STOPPING=1`` to the socket named by ``$NOTIFY_SOCKET`` (a path,
or an abstract socket name starting with "@"). Without that variable (not started by systemd
with ``Type=notify``) nothing is sent. ``$WATCHDOG_USEC`` says how often systemd wants to hear
``WATCHDOG=1``; the daemon sends it twice as often from its scheduler.
"""

from __future__ import annotations

import logging
import os
import socket

log = logging.getLogger(__name__)


def notify(state: str) -> bool:
    """Send ``state`` (e.g. "READY=1") to systemd; whether it was sent."""
    address = os.environ.get("NOTIFY_SOCKET", "")
    if address.startswith("@"):
        address = "\0" + address[1:]  # abstract namespace
    elif not address.startswith("/"):
        return False  # unset, or a kind (vsock) this daemon does not speak
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(state.encode("ascii"))
    except OSError as exc:
        log.warning("could not tell systemd %s: %s", state.split("=")[0], exc)
        return False
    return True


def watchdog_seconds() -> float | None:
    """How often to send ``WATCHDOG=1`` (half of systemd's ``WatchdogSec``), or None when no
    watchdog watches this process."""
    usec, pid = os.environ.get("WATCHDOG_USEC", ""), os.environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid.isdigit() and int(pid) != os.getpid():
        return None  # meant for another process (the one systemd started)
    return int(usec) / 2_000_000
