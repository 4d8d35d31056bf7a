"""Named fault points for crash tests: with ``MAILTIX_FAULT=NAME`` in the environment the
process kills itself (SIGKILL, no clean-up) the first time it reaches point NAME; with
``MAILTIX_FAULT=NAME:N`` the N-th time. Points: after-fetch (message downloaded, nothing
committed), after-commit (ticket committed, message not yet moved), during-send (SMTP accepted
the mail, the outbox row not yet marked sent). Unset in production: a no-op.
"""

from __future__ import annotations

import os
import signal

_reached: dict[str, int] = {}


def fault_point(name: str) -> None:
    wanted = os.environ.get("MAILTIX_FAULT")
    if not wanted:
        return
    point, _, nth = wanted.partition(":")
    if point != name:
        return
    _reached[name] = _reached.get(name, 0) + 1
    if _reached[name] >= (int(nth) if nth.isdigit() else 1):
        os.kill(os.getpid(), signal.SIGKILL)
