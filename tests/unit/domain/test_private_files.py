"""Everything mailtix creates is owner-only under a permissive umask (022), and an existing
store or secret file that others can read is named in a warning."""

from __future__ import annotations

import asyncio
import logging
import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest
from support.config import small_config

from mailtix.config.model import MailboxConfig
from mailtix.domain.private_files import exposure_warning, private_umask, write_private
from mailtix.inbound.maildir_source import MaildirSource
from mailtix.outbound.maildir_sink import MaildirSink
from mailtix.outbound.sent_marks import JournalMarks
from mailtix.runtime.app import App
from mailtix.runtime.daemon import Daemon
from mailtix.store import open_store
from mailtix.store.locks import mailbox_lock
from mailtix.store.models import database_proxy

RAW = b"From: carol@example.org\r\nTo: support@example.com\r\nSubject: hi\r\n\r\nbody\r\n"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def permissive_umask() -> Iterator[None]:
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def test_the_umask_is_permissive_outside_private_sections(tmp_path: Path) -> None:
    """The tests below mean something: a file made the ordinary way here is 0644."""
    (tmp_path / "plain").write_text("x")
    assert mode(tmp_path / "plain") == 0o644
    with private_umask():
        (tmp_path / "private").write_text("x")
    assert mode(tmp_path / "private") == 0o600
    assert os.umask(0o022) == 0o022  # restored afterwards


def test_store_database_wal_shm_and_new_directories_are_private(tmp_path: Path) -> None:
    db_path = tmp_path / "var" / "lib" / "mailtix.db"
    db = open_store(f"sqlite:///{db_path}")  # migrations write: the WAL and SHM exist now
    try:
        assert (tmp_path / "var").is_dir()
        for directory in (tmp_path / "var", tmp_path / "var" / "lib"):
            assert mode(directory) == 0o700, directory
        for name in ("mailtix.db", "mailtix.db-wal", "mailtix.db-shm"):
            assert mode(db_path.parent / name) == 0o600, name
    finally:
        db.close()
        database_proxy.initialize(None)


def test_sent_marks_journal_and_mailbox_lock_file_are_private(tmp_path: Path) -> None:
    db = open_store(f"sqlite:///{tmp_path / 'mailtix.db'}")
    try:
        marks = JournalMarks(str(tmp_path / "mailtix.db-sent"))
        marks.mark(SimpleNamespace(id=1), datetime(2026, 12, 1, tzinfo=UTC))
        assert mode(Path(marks.path)) == 0o600
        marks.close()
        with mailbox_lock("support") as held:
            assert held
            assert mode(tmp_path / ".mailtix.db.support.lock") == 0o600
    finally:
        db.close()
        database_proxy.initialize(None)


def test_maildir_sink_directories_and_messages_are_private(tmp_path: Path) -> None:
    path = tmp_path / "outgoing"

    async def deliver() -> None:
        async with MaildirSink(path) as sink:
            await sink.send("support@example.com", ["carol@example.org"], RAW)

    asyncio.run(deliver())
    for directory in (path, path / "new", path / "cur", path / "tmp"):
        assert mode(directory) == 0o700, directory
    [message] = list((path / "new").iterdir())
    assert mode(message) == 0o600


def test_maildir_source_folders_and_moved_messages_are_private(tmp_path: Path) -> None:
    config = MailboxConfig(name="support", address="support@example.com", maildir=tmp_path / "in")
    with MaildirSource(config) as source:
        key = source.box.add(RAW)
        source.move([key], config.processed_folder)
    processed = tmp_path / "in" / f".{config.processed_folder}"
    assert mode(processed) == 0o700
    assert mode(processed / "maildirfolder") == 0o600
    [moved] = list((processed / "new").iterdir())
    assert mode(moved) == 0o600


def test_report_output_file_is_created_private(tmp_path: Path) -> None:
    write_private(tmp_path / "report.html", "<html></html>")
    assert mode(tmp_path / "report.html") == 0o600
    assert (tmp_path / "report.html").read_text() == "<html></html>"


def test_warning_names_a_readable_file_its_mode_and_the_chmod(tmp_path: Path) -> None:
    path = tmp_path / "mailtix.db"
    path.write_text("")
    path.chmod(0o644)
    line = exposure_warning(path, "the store")
    assert line == (
        f"warning: the store {path} is accessible to other users (mode 0644); run: chmod 600 {path}"
    )
    path.chmod(0o600)
    assert exposure_warning(path, "the store") is None
    assert exposure_warning(tmp_path / "missing", "the store") is None


def test_warning_for_a_directory_suggests_700_and_quotes_the_path(tmp_path: Path) -> None:
    directory = tmp_path / "my store"
    directory.mkdir(mode=0o755)
    line = exposure_warning(directory, "the store's directory") or ""
    assert "(mode 0755)" in line and line.endswith(f"run: chmod 700 '{directory}'")


def test_daemon_start_warns_about_a_readable_store(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = App.open(small_config(tmp_path, address="support@example.com"))
    (tmp_path / "mailtix.db").chmod(0o644)
    daemon = Daemon(app)
    monkeypatch.setattr("mailtix.runtime.daemon.start_sender", lambda *_: None)
    monkeypatch.setattr(daemon.scheduler, "start", lambda: None)
    try:
        with caplog.at_level(logging.WARNING, logger="mailtix.runtime.daemon"):
            daemon.start()
    finally:
        app.db.close()
        database_proxy.initialize(None)
    warned = [r.getMessage() for r in caplog.records if "accessible" in r.getMessage()]
    assert warned == [
        f"the store {tmp_path / 'mailtix.db'} is accessible to other users (mode 0644); "
        f"run: chmod 600 {tmp_path / 'mailtix.db'}"
    ]
