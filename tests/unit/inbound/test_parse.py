"""Unit tests for mailtix.inbound.parse and mailtix.inbound.html_text on the hand-written
tests/data/mails."""

from __future__ import annotations

import importlib.util
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mailtix.domain.errors import ParseError
from mailtix.inbound.html_text import html_to_text, sanitize_html
from mailtix.inbound.parse import clean_filename, header_text, parse_message

MAILS = Path(__file__).parents[2] / "data" / "mails"


def load(name: str) -> bytes:
    return (MAILS / name).read_bytes()


def nested_message(levels: int) -> bytes:
    spec = importlib.util.spec_from_file_location("make_nested", MAILS.parent / "make_nested.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.nested_message(levels)  # type: ignore[no-any-return]


def test_plain_customer_mail() -> None:
    mail = parse_message(load("plain-customer.eml"))
    assert mail.subject == "Printer on floor 3 is broken"
    assert mail.sender is not None and mail.sender.email == "alice@example.com"
    assert mail.sender.name == "Alice Example"
    assert [a.email for a in mail.to] == ["support@example.org"]
    assert mail.message_id == "<CAF1234@mail.example.com>"
    assert mail.return_path == "alice@example.com"
    assert mail.date == datetime(2025, 3, 4, 9, 15, tzinfo=UTC)
    assert mail.text.startswith("Hello,\n\nthe printer")
    assert mail.html is None and mail.attachments == () and mail.defects == ()
    assert ("subject", "Printer on floor 3 is broken") in mail.headers


def test_html_only_mail_gives_text_and_sanitised_html() -> None:
    mail = parse_message(load("html-only.eml"))
    assert "see the issue (https://example.com/issue/7) and https://example.com." in mail.text
    assert "- first\n- second" in mail.text
    assert "alert" not in mail.text and "ignored title" not in mail.text
    assert mail.html is not None
    for bad in ("<script", "onerror", "javascript:", "tracker.example.net", "<style"):
        assert bad not in mail.html
    assert 'src="cid:logo@example.com"' in mail.html


def test_attachment_names_lose_their_paths() -> None:
    mail = parse_message(load("attachment-traversal.eml"))
    assert mail.text == "Log attached."
    names = [a.filename for a in mail.attachments]
    assert names == ["passwd", "evil.txt"]
    assert mail.attachments[0].content == b"root:x:0:0:root:/root:/bin/bash\n"
    assert mail.attachments[0].content_type == "application/octet-stream"
    assert mail.attachments[1].content == "café".encode()


def test_encoded_crlf_never_reaches_header_values() -> None:
    mail = parse_message(load("subject-crlf.eml"))
    assert mail.subject == "Hello Bcc: evil@example.org"
    assert mail.sender is not None and mail.sender.email == "mallory@example.com"
    assert mail.sender.name == "Mallory Bcc: x@evil.example"
    for _, value in mail.headers:
        assert not set(value) & {"\r", "\n", "\x00"}


def test_template_syntax_is_plain_text() -> None:
    mail = parse_message(load("subject-template.eml"))
    assert mail.subject == "{{ 7*7 }}"
    assert "{{ ''.__class__.__mro__ }}" in mail.text


def test_unknown_charset_falls_back_without_crashing() -> None:
    mail = parse_message(load("unknown-charset.eml"))
    assert mail.subject == "Grüße"
    assert mail.text == "Grüße aus München\n"
    assert any("x-unknown" in defect for defect in mail.defects)


def test_auto_replied_mail_keeps_threading_headers() -> None:
    mail = parse_message(load("auto-replied.eml"))
    assert mail.in_reply_to == ("<ack-42@helpdesk.example.org>",)
    assert mail.references == ("<CAF1234@mail.example.com>", "<ack-42@helpdesk.example.org>")
    assert mail.header("Auto-Submitted") == "auto-replied"


def test_dsn_parts_become_attachments_and_null_return_path() -> None:
    mail = parse_message(load("dsn-bounce.eml"))
    assert mail.return_path == ""
    assert mail.sender is not None and mail.sender.email == "mailer-daemon@mx.example.org"
    types = [a.content_type for a in mail.attachments]
    assert types == ["message/delivery-status", "text/rfc822-headers"]
    assert b"Status: 5.1.1" in mail.attachments[0].content
    assert "User unknown" in mail.text


def test_nested_300_levels_is_cut_at_the_depth_limit_quickly() -> None:
    started = time.perf_counter()
    mail = parse_message(load("nested-300.eml"))
    assert time.perf_counter() - started < 2
    assert any("deeper than 50" in defect for defect in mail.defects)
    assert mail.subject == "nested 300 levels"


def test_depth_limit_is_a_parameter() -> None:
    mail = parse_message(nested_message(5), max_depth=10)
    assert mail.text == "hello from the bottom"
    assert parse_message(nested_message(5), max_depth=3).text == ""


def test_too_deep_for_the_stdlib_parser_still_parses_headers() -> None:
    started = time.perf_counter()
    mail = parse_message(nested_message(3000))
    assert time.perf_counter() - started < 5
    assert mail.subject == "nested 3000 levels"
    assert any("too deep" in defect for defect in mail.defects)


def test_part_limit() -> None:
    parts = b"".join(b"--B\r\nContent-Type: text/plain\r\n\r\nx\r\n" for _ in range(50))
    raw = b'Subject: many\r\nContent-Type: multipart/mixed; boundary="B"\r\n\r\n' + parts + b"--B--"
    mail = parse_message(raw, max_parts=10)
    assert any("more than 10 MIME parts" in defect for defect in mail.defects)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "not an email: empty"),
        (b"\r\n\r\n  ", "not an email: empty"),
        (b"\x00\x01\x02 binary garbage\xff", "not an email: no headers"),
    ],
)
def test_not_an_email(raw: bytes, reason: str) -> None:
    with pytest.raises(ParseError, match=reason):
        parse_message(raw)


def test_header_block_too_large() -> None:
    raw = b"Subject: x\r\nX-Big: " + b"a" * 2_000_000 + b"\r\n\r\nbody"
    with pytest.raises(ParseError, match="header block too large"):
        parse_message(raw)
    assert parse_message(raw, max_header_bytes=3_000_000).subject == "x"


def test_many_recipients_are_bounded_in_time() -> None:
    to = ", ".join(f"user{i}@example.com" for i in range(30_000))
    started = time.perf_counter()
    mail = parse_message(f"From: a@example.com\r\nTo: {to}\r\n\r\nx".encode())
    assert time.perf_counter() - started < 5
    assert len(mail.to) == 30_000


@pytest.mark.parametrize(
    ("from_header", "expected"),
    [
        ("alice@example.org(<bob@example.com>", None),
        ("a@b@c", None),
        ("", None),
        ("Foo <foo bar@example.com>", None),
        ('"support@ourdomain" <x@example.org>', "x@example.org"),
        ("postmaster@Example.org (postmaster@example.org)", "postmaster@example.org"),
        ("=?utf-8?q?J=C3=BCrgen?= <J@X.org>", "j@x.org"),
    ],
)
def test_from_is_parsed_strictly(from_header: str, expected: str | None) -> None:
    mail = parse_message(f"From: {from_header}\r\nSubject: x\r\n\r\nbody".encode())
    assert (mail.sender.email if mail.sender else None) == expected


def test_several_from_headers_are_ambiguous() -> None:
    mail = parse_message(b"From: a@example.com\r\nFrom: b@example.com\r\n\r\nx")
    assert mail.sender is None


def test_message_ids_are_normalised_and_references_capped() -> None:
    refs = " ".join(f"<id{i}@example.com>" for i in range(150))
    raw = f"Message-ID: < abc@example.com >\r\nIn-Reply-To: id9@example.com\r\nReferences: {refs}"
    mail = parse_message((raw + "\r\n\r\nx").encode())
    assert mail.message_id == "<abc@example.com>"
    assert mail.in_reply_to == ("<id9@example.com>",)
    assert len(mail.references) == 100
    assert (
        mail.references[0] == "<id0@example.com>" and mail.references[-1] == "<id149@example.com>"
    )


def test_nul_and_controls_are_removed() -> None:
    raw = b"From: A\x00B <a@example.com>\r\nSubject: x\x00y\x07z\r\n\r\nbody\x00text"
    mail = parse_message(raw)
    assert mail.subject == "xyz"
    assert mail.sender is not None and mail.sender.name == "AB"
    assert mail.text == "bodytext"


def test_raw_8bit_headers_and_bad_dates() -> None:
    raw = "Subject: Grüße\r\nDate: yesterday-ish\r\n\r\nx".encode()
    mail = parse_message(raw)
    assert mail.subject == "Grüße"
    assert mail.date is None and "unreadable Date" in mail.defects
    latin = parse_message("Subject: Grüße\r\n\r\nx".encode("latin-1"))
    assert latin.subject == "Grüße"


def test_utf8mb4_and_dangerous_codecs() -> None:
    mail = parse_message(
        b"Content-Type: text/plain; charset=utf8mb4\r\n\r\n\xf0\x9f\x98\x80 ok \\u0041"
    )
    assert mail.text == "\U0001f600 ok \\u0041"
    escape = parse_message(b"Content-Type: text/plain; charset=unicode_escape\r\n\r\n\\u0041")
    assert escape.text == "\\u0041"


def test_return_path_absent_or_null() -> None:
    assert parse_message(b"Subject: x\r\n\r\nx").return_path is None
    assert parse_message(b"Return-Path: <>\r\n\r\nx").return_path == ""
    assert parse_message(b"Return-Path: <Bounce@Example.com>\r\n\r\nx").return_path == (
        "bounce@example.com"
    )


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\x.exe", "x.exe"),
        ("/etc/passwd", "passwd"),
        ("a\x00b\r\nc.txt", "ab c.txt"),
        ("invoice\u202egpj.exe", "invoicegpj.exe"),
        ("", "attachment"),
        ("..", "attachment"),
        ("x" * 1000 + ".pdf", "x" * 251 + ".pdf"),
    ],
)
def test_clean_filename(raw: str, clean: str) -> None:
    assert clean_filename(raw) == clean


def test_rfc2231_filename_with_encoded_traversal() -> None:
    raw = (
        b"Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\n"
        b"Content-Disposition: attachment;"
        b" filename*=utf-8''%2e%2e%2f%2e%2e%2fsecret%E2%80%AE.txt\r\n"
        b"\r\ndata\r\n--B--\r\n"
    )
    (attachment,) = parse_message(raw).attachments
    assert attachment.filename == "secret.txt"


def test_header_text_decodes_rfc2047() -> None:
    assert header_text("=?UTF-8?B?w6TDtsO8?= =?UTF-8?B?w58=?= x") == "äöüß x"
    assert header_text("=?iso-8859-1?q?Priorit=E4t?=") == "Priorität"
    assert header_text("a\r\n b") == "a b"


def test_html_to_text() -> None:
    html = (
        "<head><title>t</title></head><body><h1>Title</h1><p>a &amp; b<br>c</p>"
        '<a href="https://x.org/">https://x.org/</a> <a href="mailto:m@x.org">m@x.org</a> '
        '<a href="https://y.org/a">here</a><script>evil()</script></body>'
    )
    assert html_to_text(html) == "Title\n\na & b\nc\nhttps://x.org/ m@x.org here (https://y.org/a)"


def test_sanitize_html_allows_data_images_but_not_data_links() -> None:
    cleaned = sanitize_html(
        '<img src="data:image/png;base64,AAAA"><a href="data:text/html,x">x</a>'
        '<p style="background:url(https://evil)" onclick="x()">p</p>'
    )
    assert 'src="data:image/png;base64,AAAA"' in cleaned
    assert "data:text/html" not in cleaned and "evil" not in cleaned and "onclick" not in cleaned


def test_clean_header_fast_path_agrees_with_the_full_cleaning() -> None:
    """Values with nothing to clean skip the regexes; every mix of the characters that need
    cleaning must still come out as the full path makes it."""
    import random

    from mailtix.inbound import header_text as h

    def full(value: str) -> str:
        value = h.CONTROLS.sub("", h.LINE_BREAKS.sub(" ", value))
        return h.RUNS_OF_SPACES.sub(" ", h.SURROGATES.sub("\ufffd", value)).strip()

    pieces = ["a", " ", "  ", "\t", "\n", "\r", "\x00", "\x7f", "\x85", "\u2028", "\ud800", "é"]
    rng = random.Random(20261123)
    for _ in range(20000):
        value = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 8)))
        assert h.clean_header(value) == full(value), repr(value)
