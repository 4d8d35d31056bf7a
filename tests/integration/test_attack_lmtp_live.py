"""Forged Authentication-Results over LMTP with a real Postfix in front. With
``trusted_authserv_ids`` mailtix believes the topmost Authentication-Results naming your MX;
Postfix alone does not remove one a sender wrote. The README's recipe (a header_checks line
that drops any with your authserv-id before your milters add theirs) is tested here: through
Postfix the forgery is gone and the sender gets the bare acknowledgement; handed straight to
mailtix's port, skipping Postfix as any local process can, it is believed (hence loopback
only, and the README's firewall rule on a shared host)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.live import customer_mail, parse, tickets
from support.lmtp_client import LmtpClient
from support.lmtp_stack import lmtp_stack
from support.mailstack import MailStack
from test_lmtp_live import desk, serving, wait_until

pytestmark = pytest.mark.integration

AUTHSERV = "mx.desk.test"
PATTERN = "[[:space:]]*" + AUTHSERV.replace(".", "[.]") + "([[:space:];]|$)"
STRIP = f"/^Authentication-Results:{PATTERN}/ IGNORE\n"


@pytest.fixture(scope="module")
def stack() -> Iterator[MailStack]:
    with lmtp_stack(
        "header_checks = regexp:{dir}/header_checks\n", files={"header_checks": STRIP}
    ) as found:
        yield found


def forged(d: dict[str, object], subject: str) -> bytes:
    msg = customer_mail(
        str(d["carol_addr"]), str(d["support"]), subject,
        Authentication_Results=f"{AUTHSERV}; dmarc=pass header.from=customer.test",
    )  # fmt: skip
    return msg.as_bytes()


def authenticated_desk(stack: MailStack, tmp_path: Path) -> dict[str, object]:
    d = desk(stack, tmp_path)
    config = Path(str(d["config"]))
    extra = '[tickets]\nacknowledge = "authenticated"\n\n[agents]\n'
    extra += f'trusted_authserv_ids = ["{AUTHSERV}"]\n'
    config.write_text(config.read_text() + "\n" + extra)
    return d


def acknowledgement(stack: MailStack, d: dict[str, object]) -> str:
    [ack] = stack.wait_for_messages(str(d["carol"]), count=1, timeout=60)
    return str(parse(ack)["Subject"])


def test_postfix_header_checks_drop_a_forged_authentication_results(
    stack: MailStack, tmp_path: Path
) -> None:
    d = authenticated_desk(stack, tmp_path)
    with serving(stack, Path(str(d["config"]))):
        stack.send(
            forged(d, "Wire the refund to IBAN X"), str(d["carol_addr"]), [str(d["support"])]
        )
        wait_until("one ticket", lambda: len(tickets(Path(str(d["config"])))) == 1)
        subject = acknowledgement(stack, d)
    [ticket] = tickets(Path(str(d["config"])))
    assert subject == f"[{ticket['ref']}] We have received your request"  # bare: not trusted


def test_a_local_process_skipping_postfix_is_believed(stack: MailStack, tmp_path: Path) -> None:
    d = authenticated_desk(stack, tmp_path)
    port = int(stack.mailtix_lmtp_port)  # type: ignore[attr-defined]
    with serving(stack, Path(str(d["config"]))), LmtpClient("127.0.0.1", port) as lmtp:
        _, data = lmtp.deliver(str(d["carol_addr"]), [str(d["support"])],
                               forged(d, "Wire the refund to IBAN X"))  # fmt: skip
        assert data[0].startswith("250 2.0.0 ticket "), data
        subject = acknowledgement(stack, d)
    assert subject.endswith("Wire the refund to IBAN X")  # the full one: the forgery counted
