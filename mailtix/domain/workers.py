"""Who claims outbox rows: the worker id of a process on this host, and whether it still runs.
Light on purpose (no store, no SMTP): the poller names its sender's id for every mail it
queues."""

from __future__ import annotations

import os
import socket

HOST = socket.gethostname()


def worker_of(pid: int) -> str:
    """The id under which a process of this host claims outbox rows."""
    return f"{HOST}:{pid}"


WORKER = worker_of(os.getpid())  # this process


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def local_worker_alive(worker: str) -> bool:
    """Whether ``worker`` (of this host) still runs; an id that names no pid counts as dead."""
    pid = worker.rpartition(":")[2]
    return pid.isdigit() and process_alive(int(pid))
