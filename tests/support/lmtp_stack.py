"""A private mail stack whose Postfix delivers one domain (``DESK``) to mailtix's LMTP port.

Each LMTP test module starts its own (its Postfix config differs: header_checks, concurrency),
as a module-scoped fixture: ``with lmtp_stack(...) as stack: yield stack``. A stack that cannot
start skips loudly, or fails in CI (CI=true) or with MAILTIX_REQUIRE_MAILSTACK=1, like the
shared ``mailstack`` fixture.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.mailstack import MailStack, MailStackUnavailable, free_ports

DESK = "desk.test"


@contextlib.contextmanager
def lmtp_stack(main_cf: str = "", files: dict[str, str] | None = None) -> Iterator[MailStack]:
    """The stack, its LMTP target port in ``stack.mailtix_lmtp_port``; ``files`` are written
    into its directory first (``{dir}`` in ``main_cf`` names it)."""
    directory = tempfile.mkdtemp(prefix="mailtix-stack-")
    for name, text in (files or {}).items():
        (Path(directory) / name).write_text(text)
    [port] = free_ports(1)
    found = MailStack(directory, transports={DESK: f"lmtp:inet:127.0.0.1:{port}"}, main_cf=main_cf)
    found.mailtix_lmtp_port = port  # type: ignore[attr-defined]
    try:
        found.start()
    except MailStackUnavailable as error:
        shutil.rmtree(directory, ignore_errors=True)
        _unavailable(str(error))
    try:
        yield found
    finally:
        found.stop()
        shutil.rmtree(directory, ignore_errors=True)


def _unavailable(reason: str) -> None:
    message = f"mail stack unavailable: {reason}"
    required = ("CI", "MAILTIX_REQUIRE_MAILSTACK")
    if any(os.environ.get(n, "").strip().lower() in {"1", "true", "yes"} for n in required):
        pytest.fail(f"{message} (required here: CI or MAILTIX_REQUIRE_MAILSTACK is set)")
    print(f"\n!!! {message}: the LMTP tests are SKIPPED", file=sys.stderr)
    pytest.skip(message)
