"""Shared fixtures: the private mail stack, fresh mailboxes, a throwaway PostgreSQL database.

Missing servers skip their tests with the reason in the -ra summary and a closing banner; in CI
(CI=true) or with MAILTIX_REQUIRE_MAILSTACK=1 / MAILTIX_REQUIRE_POSTGRES=1 they fail instead.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterator
from typing import NoReturn
from urllib.parse import urlsplit, urlunsplit

import pytest
from support.mailstack import Mailbox, MailStack, MailStackUnavailable

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
_unavailable_reasons: dict[str, str] = {}


def _truthy(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes"}


def _unavailable(what: str, require_env: str, reason: str) -> NoReturn:
    """Fail when the environment must have ``what``; otherwise skip, loudly."""
    message = f"{what} unavailable: {reason}"
    if _truthy("CI") or _truthy(require_env):
        pytest.fail(f"{message} (required here: CI or {require_env} is set)", pytrace=False)
    _unavailable_reasons[what] = reason
    pytest.skip(message)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for what, reason in _unavailable_reasons.items():
        terminalreporter.write_sep("!", f"{what} unavailable, its tests were SKIPPED", yellow=True)
        terminalreporter.write_line(f"reason: {reason}")


@pytest.fixture(autouse=True)
def _process_umask() -> Iterator[None]:
    """A test that runs ``mailtix.cli.main.main`` in this process leaves mailtix's owner-only
    umask behind; a mail stack started after it would write files its Dovecot cannot read."""
    saved = os.umask(0o022)
    os.umask(saved)
    yield
    os.umask(saved)


@pytest.fixture(scope="session")
def mailstack() -> Iterator[MailStack]:
    """One private Dovecot + Postfix for the whole session (see tests/support/mailstack.py)."""
    # Not under tmp_path_factory: pytest resets /tmp/pytest-of-<user> to mode 0700 at every
    # session start, which would lock the dovecot and postfix users out of a parallel run.
    directory = tempfile.mkdtemp(prefix="mailtix-stack-")
    stack = MailStack(directory)
    try:
        stack.start()
    except MailStackUnavailable as error:
        shutil.rmtree(directory, ignore_errors=True)
        _unavailable("mail stack", "MAILTIX_REQUIRE_MAILSTACK", str(error))
    try:
        yield stack
    finally:
        stack.stop()
        if not _truthy("MAILTIX_KEEP_MAILSTACK"):
            shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def fresh_mailbox(mailstack: MailStack) -> Callable[..., Mailbox]:
    """Factory: ``fresh_mailbox(prefix="support", domain="example.test")`` -> a new Mailbox."""
    return mailstack.fresh_mailbox


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of an empty database created for this session and dropped at its end."""
    import psycopg2

    admin_url = os.environ.get("MAILTIX_TEST_POSTGRES", DEFAULT_POSTGRES)
    try:
        admin = psycopg2.connect(admin_url, connect_timeout=3)
    except psycopg2.Error as error:
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        shown = admin_url.replace(f":{urlsplit(admin_url).password}@", ":***@")
        _unavailable("PostgreSQL", "MAILTIX_REQUIRE_POSTGRES", f"{shown}: {first_line}")
    admin.autocommit = True
    name = f"mailtix_test_{secrets.token_hex(4)}"
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(urlsplit(admin_url)._replace(path=f"/{name}"))
    finally:
        with admin.cursor() as cursor:
            try:
                cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            except psycopg2.Error:  # before PostgreSQL 13
                cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.close()
