"""Two `mailtix run` workers on one PostgreSQL store, polling the same mailbox and draining the
same outbox: exactly one ticket per message and one send per outbox row."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.live import customer_mail, mailtix, unique, write_config

from tests.integration.test_postgres import drop_all

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

MAILS = 60


@pytest.fixture
def pg_url(postgres_url: str) -> Iterator[str]:
    drop_all(postgres_url)
    yield postgres_url
    drop_all(postgres_url)


def start_worker(config: Path, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as stderr:
        return subprocess.Popen(
            [sys.executable, "-m", "mailtix", "--config", str(config), "-v", "run"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr,
        )  # fmt: skip


def stop_worker(proc: subprocess.Popen[bytes], log: Path) -> tuple[int | None, str]:
    """SIGTERM, then SIGKILL after 15 s: never leaves a worker behind. (exit code, log)"""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        code: int | None = proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        code = None  # ignored SIGTERM
    return code, log.read_text(errors="replace")


def test_two_workers_one_ticket_per_message_one_send_per_row(
    mailstack: Any, pg_url: str, tmp_path: Path
) -> None:
    support = unique("support")
    config = write_config(tmp_path, mailstack, [{"name": "support", "user": support}])
    config.write_text(
        config.read_text().replace('url = "sqlite:///mailtix.db"', f'url = "{pg_url}"')
    )
    customers = [unique("cust") for _ in range(MAILS)]
    for name in customers:
        mailstack.add_user(name)
    for i, name in enumerate(customers[: MAILS // 2]):  # waiting before the workers start
        msg = customer_mail(f"{name}@customer.test", f"{support}@example.test", f"Question {i}")
        mailstack.append(support, "INBOX", bytes(msg))
    logs = [tmp_path / "worker1.log", tmp_path / "worker2.log"]
    workers = [start_worker(config, log) for log in logs]
    try:
        for i, name in enumerate(customers[MAILS // 2 :]):  # arriving while both run
            msg = customer_mail(f"{name}@customer.test", f"{support}@example.test", f"Later {i}")
            mailstack.send(msg, f"{name}@customer.test", [f"{support}@example.test"])
        _wait_for_all(config, mailstack, support)
    finally:
        stopped = [stop_worker(proc, log) for proc, log in zip(workers, logs, strict=True)]
    for code, output in stopped:
        assert code == 0, f"worker exit {code}:\n{output}"
        assert "Traceback" not in output, output

    listed = json.loads(mailtix(config, "tickets", "list", "--json", "--limit", "1000").stdout)
    owners = Counter(t["customer"] for t in listed)
    assert len(listed) == MAILS and set(owners.values()) == {1}  # one ticket per message
    sent = json.loads(mailtix(config, "outbox", "list", "--all", "--json").stdout)
    acks = [row for row in sent if row["kind"] == "acknowledgement"]
    assert len(acks) == MAILS and {row["status"] for row in sent} == {"sent"}
    assert all(row["attempts"] == 1 for row in sent)  # each row sent once, by one worker
    mailstack.wait_queue_empty(30)
    for name in customers:  # and each customer got exactly one acknowledgement
        assert len(mailstack.folder_uids(name, "INBOX")) == 1, name
    assert mailstack.folder_uids(support, "INBOX") == []
    assert len(mailstack.folder_uids(support, "Processed")) == MAILS


def _wait_for_all(config: Path, stack: Any, support: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        listed = json.loads(mailtix(config, "tickets", "list", "--json", "--limit", "1000").stdout)
        pending = json.loads(mailtix(config, "outbox", "list", "--json").stdout)
        if len(listed) >= MAILS and not pending and not stack.folder_uids(support, "INBOX"):
            return
        time.sleep(1)
    pytest.fail(f"not all {MAILS} mails handled within {timeout} s")
