"""Issue 13, breakage 2, on the real mail stack: a 704 KB text/html of 64,000 nested <div>
stalled intake (192 s through ``ingest``; a hang, so the poison counter never stopped it). Now
``poll --once`` over Dovecot reads it as stripped text in well under a second of parsing,
commits it, moves it, and the mail behind it is handled in the same run."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from support.live import customer_mail, mailtix, ticket, tickets, unique, write_config

pytestmark = pytest.mark.integration


def test_deeply_nested_html_does_not_block_the_mailbox(mailstack: Any, tmp_path: Path) -> None:
    support, carol = unique("support"), unique("carol")
    mailstack.add_user(carol)
    config = write_config(tmp_path, mailstack, [{"name": "support", "user": support}])
    carol_addr, support_addr = f"{carol}@customer.test", f"{support}@example.test"
    deep = customer_mail(carol_addr, support_addr, "Deep")
    deep.set_content("<div>" * 64000 + "Help!" + "</div>" * 64000, subtype="html")
    mailstack.append(support, "INBOX", deep)
    mailstack.append(support, "INBOX", customer_mail(carol_addr, support_addr, "Behind it"))

    started = time.perf_counter()
    mailtix(config, "poll", "--once")
    seconds = time.perf_counter() - started
    print(f"\npoll --once with 64,000 nested div and one more mail: {seconds:.1f} s")

    listed = {t["subject"]: t["ref"] for t in tickets(config)}
    assert set(listed) == {"Deep", "Behind it"}
    [message] = ticket(config, listed["Deep"])["messages"][:1]
    assert message["text"] == "Help!"
    assert mailstack.folder_uids(support) == []  # both moved out of the inbox
    assert seconds < 30  # 64 s in nh3 alone before; about 2-3 s now, mostly start-up
