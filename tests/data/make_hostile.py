"""Generated hostile mails for the CPU-budget fuzz test (issue 13) and ``tests/bench/sweep_corpus.py
--hostile``: deep and wide HTML, long headers and subjects, many parts and addresses, deep MIME
nesting, long lines, base64 garbage. Each is built in memory, at most 25 MB (the default
max_message_bytes); ``hostile_mails()`` yields (name, raw bytes).

Run `python tests/data/make_hostile.py` to list them with their sizes.
"""

from __future__ import annotations

import os
import random
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from make_nested import nested_message  # noqa: E402

MAX_BYTES = 25 * 1024 * 1024


def _head(
    subject: bytes = b"hostile", extra: bytes = b"", sender: bytes = b"eve@evil.example"
) -> bytes:
    return (
        b"From: Eve <" + sender + b">\r\nTo: Support <support@sweep.example>\r\n"
        b"Subject: "
        + subject
        + b"\r\nMessage-ID: <%d@evil.example>\r\n" % random.getrandbits(64)
        + b"Date: Mon, 30 Nov 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
        + extra
    )


def _html(markup: str) -> bytes:
    return _head() + b"Content-Type: text/html; charset=utf-8\r\n\r\n" + markup.encode()


def _text(body: bytes, subject: bytes = b"hostile", extra: bytes = b"") -> bytes:
    return _head(subject, extra) + b"Content-Type: text/plain; charset=utf-8\r\n\r\n" + body


def _multipart(parts: list[bytes], boundary: bytes = b"B") -> bytes:
    body = b"".join(b"--" + boundary + b"\r\n" + part + b"\r\n" for part in parts)
    head = _head() + b'Content-Type: multipart/mixed; boundary="' + boundary + b'"\r\n\r\n'
    return head + body + b"--" + boundary + b"--\r\n"


def _depth_blocks(open_tag: str, close_tag: str, depth: int, size: int) -> str:
    block = open_tag * depth + "x" + close_tag * depth
    return block * (size // len(block))


CASES: dict[str, Callable[[], bytes]] = {
    "html: 64,000 nested div (issue 13)": lambda: _html("<div>" * 64000 + "x" + "</div>" * 64000),
    "html: 200,000 nested div": lambda: _html("<div>" * 200000 + "x" + "</div>" * 200000),
    "html: nested lists at the depth cap, 2 MB": lambda: _html(
        _depth_blocks("<ul><li>", "</li></ul>", 128, 1_990_000)
    ),
    "html: nested div at the depth cap, 2 MB": lambda: _html(
        _depth_blocks("<div>", "</div>", 256, 1_990_000)
    ),
    "html: nested inline tags, 2 MB": lambda: _html("<b><i><u><s><span>" * 100_000),
    "html: 80,000 unterminated tags": lambda: _html("<a " * 80000 + "x"),
    "html: 80,000 unclosed comments": lambda: _html("<!--" * 80000 + "x"),
    "html: 24 MB of flat tags": lambda: _html("<b>x</b>" * 3_000_000),
    "html: 25 MB of text in one paragraph": lambda: _html("<p>" + "word " * 5_000_000),
    "html: 480 KB of links": lambda: _html('<a href="https://x.example/">x</a>' * 14_000),
    "header: 900 KB line": lambda: (
        _head(extra=b"X-Long: " + b"a" * 900_000 + b"\r\n") + b"\r\nbody\r\n"
    ),
    "header: 20,000 short headers": lambda: _head(extra=b"X-H: v\r\n" * 20_000) + b"\r\nbody\r\n",
    "subject: 280 KB of 'urgent ' (issue 13)": lambda: _text(b"body\r\n", b"urgent " * 40_000),
    "subject: 900 KB of encoded words": lambda: _text(
        b"body\r\n", b" ".join([b"=?utf-8?b?w6TDtsO8?="] * 45_000)
    ),
    "addresses: 60,000 in Cc": lambda: (
        _head(extra=b"Cc: " + b",".join(b"%x@e.example" % i for i in range(60_000)) + b"\r\n")
        + b"\r\nbody\r\n"
    ),
    "parts: 100,000 tiny parts": lambda: _multipart(
        [b"Content-Type: text/plain\r\n\r\np%d" % i for i in range(100_000)]
    ),
    "parts: 1,000 html parts": lambda: _multipart(
        [b"Content-Type: text/html\r\n\r\n" + b"<div>" * 200 + b"x" for _ in range(1000)]
    ),
    "mime: 5,000 nested multiparts": lambda: nested_message(5000),
    "mime: 45 nested multiparts without boundaries": lambda: (
        _head()
        + b"".join(
            b'Content-Type: multipart/mixed; boundary="gone%d"\r\n\r\n' % i for i in range(45)
        )
        + b"x\r\n"
    ),
    "body: one 20 MB line": lambda: _text(b"a" * 20_000_000),
    "body: 20 MB of short lines": lambda: _text(b"word word word\r\n" * 1_300_000),
    "body: 10 MB of quoted reply lines": lambda: _text(b"> quoted text\r\n" * 700_000),
    "body: urgent and outage 5 MB apart": lambda: _text(
        b"urgent " + b"x" * 5_000_000 + b" outage\r\n"
    ),
    "base64: 15 MB of garbage in a text part": lambda: (
        _head()
        + b"Content-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + bytes(random.choice(b"!@#$%^&*()AZaz09+/=") for _ in range(2_000_000)) * 7
    ),
    "base64: 18 MB attachment of random bytes": lambda: _multipart(
        [
            b"Content-Type: text/plain\r\n\r\nsee attached",
            b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
            b'Content-Disposition: attachment; filename="r.bin"\r\n\r\n'
            + os.urandom(13_000_000).hex().encode()[:18_000_000],
        ]
    ),
}


def hostile_mails() -> Iterator[tuple[str, bytes]]:
    random.seed(13)
    for name, make in CASES.items():
        raw = make()
        assert len(raw) <= MAX_BYTES, (name, len(raw))
        yield name, raw


if __name__ == "__main__":
    for name, raw in hostile_mails():
        print(f"{len(raw) / 1e6:6.2f} MB  {name}")
