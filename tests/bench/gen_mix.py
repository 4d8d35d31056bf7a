"""The realistic mail mix of issue 22 for the poll benchmark (``bench_poll.py --mix realistic``).

    .venv/bin/python tests/bench/gen_mix.py [--messages N] [--out DIR]

The peer benchmark's mix, with the proportions as the spec: small mails (about 2.3 KB on
average), 30% of them replies by subject tag to an earlier ticket of the same customer, 45%
with an HTML alternative, 15% with a small attachment. Customers write many tickets each: a
few regulars (``REGULARS``) write ``REGULAR_SHARE`` of the new tickets, the others come from a
pool of ``pool_size`` occasional customers, so the same addresses come back all the time (the
store's customer, participant and rate-limit look-ups see their history). Ticket references
are predicted: on a fresh store the k-th new mail becomes ticket k (nothing in the mix is
ignored, spam or quarantined), so a reply's ``[SUP-k]`` names a real earlier ticket of its
sender. Fixed seed: the same N gives the same bytes.
"""

from __future__ import annotations

import argparse
import random
import sys
import textwrap
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

SEED = 20261203
PREFIX = "SUP"
REPLY_SHARE = 0.30
HTML_SHARE = 0.45
ATTACHMENT_SHARE = 0.15
REGULARS = 8  # customers who write many tickets
REGULAR_SHARE = 0.25  # of the new tickets, written by the regulars
DOMAIN = "customer.test"

_FIRST_TEXT = "Anna Ben Carla David Emma Felix Greta Hugo Ines Jonas Klara Lukas Mia Noah Zoë"
FIRST = _FIRST_TEXT.split()
_LAST_TEXT = "Schmidt Müller Novak Rossi García Dubois Jansen Kowalski Silva Nielsen Smith"
LAST = _LAST_TEXT.split()
PRODUCTS = ("the mobile app", "the web dashboard", "my account", "the API", "the portal")
SUBJECTS = (
    "Cannot log in to {p}",
    "Question about invoice {n}",
    "Refund for order {n}",
    "Export not working in {p}",
    "Password reset mail never arrives",
    "How do I add a second user?",
    "Error {n} when uploading files",
    "Change billing address",
    "Slow page loads in {p}",
    "Two-factor codes rejected",
)
_WORDS_TEXT = (
    "account access after update error message screen button page order invoice payment "
    "team browser phone yesterday morning tried again restarted cleared cache still same "
    "problem please help export import file upload settings profile password the a to and "
    "of in it is that we our my this was not with for on but have can would when since"
)
WORDS = _WORDS_TEXT.split()


@dataclass
class MixStats:
    """What the generated mails contain (the benchmark prints it and checks its counts)."""

    new: int = 0
    replies: int = 0
    html: int = 0
    attachment: int = 0
    bytes: int = 0
    customers: set[str] = field(default_factory=set)

    def as_dict(self) -> dict[str, int]:
        return {
            "new": self.new, "replies": self.replies, "html": self.html,
            "attachment": self.attachment, "bytes": self.bytes, "customers": len(self.customers),
        }  # fmt: skip


def _text(rng: random.Random, size: int) -> str:
    words: list[str] = []
    length = 0
    while length < size:
        word = rng.choice(WORDS)
        words.append(word)
        length += len(word) + 1
    sentences = [" ".join(words[i : i + 12]).capitalize() + "." for i in range(0, len(words), 12)]
    return textwrap.fill(" ".join(sentences), 72)


def customer_addresses(count: int) -> list[str]:
    """Every address the mix of ``count`` mails may use (to make them deliverable)."""
    return [f"regular{i}@{DOMAIN}" for i in range(REGULARS)] + [
        f"client{i:05d}@{DOMAIN}" for i in range(_pool_size(count))
    ]


def _pool_size(count: int) -> int:
    return max(1, count // 4)  # occasional customers: about two new tickets each


def _customer(rng: random.Random, count: int) -> str:
    if rng.random() < REGULAR_SHARE:
        return f"regular{rng.randrange(REGULARS)}@{DOMAIN}"
    return f"client{rng.randrange(_pool_size(count)):05d}@{DOMAIN}"


def generate(count: int, seed: int = SEED) -> tuple[list[bytes], MixStats]:
    """``count`` raw mails to support@example.test in the realistic mix, and what they are."""
    rng = random.Random(seed)
    start = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)
    stats = MixStats()
    tickets: list[tuple[str, str]] = []  # ticket k-1: (customer, subject)
    raws = []
    for i in range(count):
        when = start + timedelta(seconds=i * 20 + rng.randint(0, 15))
        if tickets and rng.random() < REPLY_SHARE:
            number = rng.randrange(len(tickets))
            sender, first_subject = tickets[number]
            subject = f"Re: [{PREFIX}-{number + 1}] {first_subject}"
            body = f"Hello again,\n\n{_text(rng, rng.randint(350, 900))}\n\nThanks\n"
            stats.replies += 1
        else:
            sender = _customer(rng, count)
            product = rng.choice(PRODUCTS)
            subject = rng.choice(SUBJECTS).format(p=product, n=rng.randint(1000, 99999))
            tickets.append((sender, subject))
            body = f"Hello support team,\n\n{_text(rng, rng.randint(700, 1600))}\n\nBest regards\n"
            stats.new += 1
        stats.customers.add(sender)
        raw = _mail(rng, i, when, sender, subject, body, stats)
        stats.bytes += len(raw)
        raws.append(raw)
    return raws, stats


def _mail(
    rng: random.Random,
    i: int,
    when: datetime,
    sender: str,
    subject: str,
    body: str,
    stats: MixStats,
) -> bytes:
    name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
    msg = EmailMessage()
    msg["Return-Path"] = f"<{sender}>"
    msg["Received"] = (
        f"from mx1.{DOMAIN} (mx1.{DOMAIN} [198.51.100.7]) by mx.example.test with ESMTPS id "
        f"{rng.getrandbits(48):012x} for <support@example.test>; {format_datetime(when)}"
    )
    msg["Date"] = format_datetime(when)
    msg["From"] = f"{name} <{sender}>"
    msg["To"] = "ACME Support <support@example.test>"
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{i}.{rng.getrandbits(64):016x}@mx1.{DOMAIN}>"
    msg["MIME-Version"] = "1.0"
    msg.set_content(body)
    if rng.random() < HTML_SHARE:
        paras = "".join(f"<p>{p}</p>" for p in body.split("\n\n"))
        msg.add_alternative(f"<html><body>{paras}</body></html>", subtype="html")
        stats.html += 1
    if rng.random() < ATTACHMENT_SHARE:
        msg.add_attachment(
            _text(rng, rng.randint(200, 600)).encode(), maintype="text", subtype="plain",
            filename="error-log.txt",
        )  # fmt: skip
        stats.attachment += 1
    for part in msg.walk():  # boundaries from the seed too: the same N gives the same bytes
        if part.is_multipart():
            part.set_boundary(f"=_{rng.getrandbits(64):016x}")
    return msg.as_bytes()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--out", type=Path, help="write the mails as DIR/NNNNN.eml")
    args = parser.parse_args()
    raws, stats = generate(args.messages)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        for i, raw in enumerate(raws):
            (args.out / f"{i:05d}.eml").write_bytes(raw)
    figures = stats.as_dict()
    n = len(raws)
    print(
        f"{n} mails, {figures['bytes'] / n:.0f} bytes on average; {figures['new']} new, "
        f"{figures['replies']} replies by tag ({figures['replies'] / n:.0%}), "
        f"{figures['html'] / n:.0%} HTML alternative, {figures['attachment'] / n:.0%} "
        f"attachment; {figures['customers']} customers"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
