"""Composing outgoing mail (pure): no header injection, CRLF, folding, both alternatives."""

from __future__ import annotations

import email
import email.policy
import random
import re
import string
from collections import Counter
from datetime import UTC, datetime
from email.message import EmailMessage

import pytest

from mailtix.domain.values import Address, Attachment, OutgoingMail
from mailtix.outbound.compose import compose, envelope_recipients, make_message_id

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def outgoing(**changes: object) -> OutgoingMail:
    fields: dict[str, object] = {
        "sender": Address("support@example.com", "Example Support"),
        "to": (Address("carol@example.org", "Carol"),),
        "subject": "[SUP-42] Printer on fire",
        "text": "Hello Carol,\nthanks.\n",
        "html": "<p>Hello Carol,</p>\n",
        "message_id": "<ack-1@example.com>",
        "in_reply_to": "<cust-1@example.org>",
        "references": ("<cust-1@example.org>",),
        "auto_submitted": "auto-replied",
    }
    fields.update(changes)
    return OutgoingMail(**fields)  # type: ignore[arg-type]


def parse(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def header_names(raw: bytes) -> list[str]:
    head = raw.split(b"\r\n\r\n", 1)[0].decode("utf-8")
    return [line.split(":", 1)[0].lower() for line in head.split("\r\n") if line[:1] not in " \t"]


def test_headers_of_an_acknowledgement() -> None:
    message = parse(compose(outgoing(), now=NOW))
    assert message["From"] == "Example Support <support@example.com>"
    assert message["To"] == "Carol <carol@example.org>"
    assert message["Subject"] == "[SUP-42] Printer on fire"
    assert message["Date"] == "Mon, 23 Nov 2026 10:00:00 +0000"
    assert message["Message-ID"] == "<ack-1@example.com>"
    assert message["In-Reply-To"] == "<cust-1@example.org>"
    assert message["References"] == "<cust-1@example.org>"
    assert message["Auto-Submitted"] == "auto-replied"
    assert message["X-Auto-Response-Suppress"] == "All"
    assert message["X-Mailtix-Loop"] == "support@example.com"
    for absent in ("Bcc", "Cc", "Reply-To", "Precedence"):
        assert message[absent] is None


def test_multipart_alternative_text_then_html() -> None:
    message = parse(compose(outgoing(text="Grüße\n", html="<p>Grüße</p>\n"), now=NOW))
    assert message.get_content_type() == "multipart/alternative"
    text, html = message.iter_parts()
    assert (text.get_content_type(), html.get_content_type()) == ("text/plain", "text/html")
    assert text.get_content_charset() == html.get_content_charset() == "utf-8"
    assert text.get_content().replace("\r\n", "\n") == "Grüße\n"  # canonical CRLF inside
    assert html.get_content().replace("\r\n", "\n") == "<p>Grüße</p>\n"


@pytest.mark.parametrize(
    ("text", "encoding"),
    [
        ("short ASCII lines\n", "7bit"),
        ("short lines, ünïcödé\n", "8bit"),
        ("a long ASCII line " * 10 + "\n", "quoted-printable"),
        ("a long line, mostly ASCII, é " * 10 + "\n", "quoted-printable"),
        ("長い行、ほとんど日本語です。" * 10 + "\n", "base64"),
    ],
)
def test_body_encoding_follows_line_length_and_share_of_non_ascii(text: str, encoding: str) -> None:
    message = parse(compose(outgoing(text=text, html=text), now=NOW))
    for part in (message.get_body(("plain",)), message.get_body(("html",))):
        assert part is not None
        assert part["Content-Transfer-Encoding"] == encoding
        assert part.get_content().replace("\r\n", "\n") == text  # canonical CRLF inside


def test_no_terminal_control_reaches_a_body() -> None:
    hostile = "Hi\x1b]52;c;ZXZpbA==\x07 \x1b[2J\x9b31m\x7fok\tfine\x0cend\n"
    message = parse(compose(outgoing(text=hostile, html=hostile), now=NOW))
    for part in (message.get_body(("plain",)), message.get_body(("html",))):
        assert part is not None
        body = part.get_content().replace("\r\n", "\n")
        assert body == "Hi\u241b]52;c;ZXZpbA==\u2407 \u241b[2J\ufffd31m\u2421ok\tfine\u240cend\n"


def test_human_mail_has_no_auto_headers_and_keeps_reply_to_and_cc() -> None:
    mail = outgoing(
        auto_submitted=None,
        reply_to=Address("support@example.com"),
        cc=(Address("dave@example.org", "Dave"),),
    )
    message = parse(compose(mail, now=NOW))
    assert message["Auto-Submitted"] is None
    assert message["X-Auto-Response-Suppress"] is None
    assert message["Reply-To"] == "support@example.com"
    assert message["Cc"] == "Dave <dave@example.org>"


def test_subject_injection_yields_one_subject_and_no_bcc() -> None:
    raw = compose(outgoing(subject="Hello\r\nBcc: evil@example.org\r\n\r\nbody"), now=NOW)
    names = header_names(raw)
    assert names.count("subject") == 1
    assert "bcc" not in names
    message = parse(raw)
    assert message["Subject"] == "Hello Bcc: evil@example.org body"
    assert message.get_all("Bcc") is None


@pytest.mark.parametrize("bad", ["\r\n", "\n", "\r", "\x00", "\u2028"])
def test_control_characters_in_every_header_input_are_cleaned(bad: str) -> None:
    mail = outgoing(
        sender=Address("support@example.com", f"Support{bad}Bcc: evil@example.org"),
        to=(Address(f"carol@example.org{bad}", f"Carol{bad}To: evil@example.org"),),
        subject=f"Hi{bad}X-Evil: 1",
        in_reply_to=f"<a@b>{bad}Bcc: evil@example.org",
        references=(f"<x@y>{bad}Bcc: evil@example.org", "<ok@example.org>"),
        extra_headers=(("X-Mailtix-Token", f"t{bad}Bcc: evil@example.org"),),
    )
    raw = compose(mail, now=NOW)
    names = header_names(raw)
    assert "bcc" not in names and "x-evil" not in names
    assert names.count("to") == 1 and names.count("from") == 1
    message = parse(raw)
    assert message["To"].addresses[0].addr_spec == "carol@example.org"
    assert message["In-Reply-To"] is None  # not a message id once cleaned: dropped
    assert message["References"] == "<ok@example.org>"
    assert message["X-Mailtix-Token"] == "t Bcc: evil@example.org"
    assert b"\x00" not in raw


def test_crlf_everywhere_and_no_line_over_998() -> None:
    mail = outgoing(
        subject="word " * 300,
        text="x" * 5000 + "\nbare\rcr\r\nlines\n.\n",
        html="<p>" + "y" * 5000 + "</p>",
        references=tuple(f"<{i}.{'r' * 200}@example.org>" for i in range(30)),
    )
    raw = compose(mail, now=NOW)
    assert re.search(rb"[^\r]\n", raw) is None
    assert re.search(rb"\r[^\n]", raw) is None
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert max(len(line) for line in head.split(b"\r\n")) <= 998
    assert parse(raw).get_body(("plain",)).get_content().startswith("x" * 5000)  # type: ignore[union-attr]


def test_references_are_valid_unique_capped_and_never_encoded() -> None:
    ids = [f"<{i}.{'r' * 60}@example.org>" for i in range(30)]
    mail = outgoing(
        references=(*ids, "not-an-id", "<no-at-sign>", "<two@at@x>", ids[3]),
        in_reply_to=ids[5],
    )
    raw = compose(mail, now=NOW)
    assert b"=?" not in raw.split(b"\r\n\r\n", 1)[0]
    references = parse(raw)["References"].split()
    assert len(references) == 20
    assert references[0] == ids[0]  # the thread's root is kept
    assert references[-1] == ids[5]  # the parent comes last
    assert len(set(references)) == 20
    assert "<two@at@x>" not in references


def test_long_message_id_in_reply_to_is_not_encoded() -> None:
    parent = f"<{'p' * 200}@example.org>"
    message = parse(compose(outgoing(in_reply_to=parent, references=()), now=NOW))
    assert message["In-Reply-To"] == parent
    assert message["References"] == parent


def test_non_ascii_names_and_subject_round_trip() -> None:
    mail = outgoing(
        sender=Address("support@example.com", 'Süpport "Team", Ünïcode'),
        to=(Address("carol@bücher.example", "Jörg Müller 山田"),),
        subject="Grüße – 日本語 " + "lang " * 30,
    )
    raw = compose(mail, now=NOW)
    assert raw.isascii()
    message = parse(raw)
    assert message["From"].addresses[0].display_name == 'Süpport "Team", Ünïcode'
    assert message["From"].addresses[0].addr_spec == "support@example.com"
    assert message["To"].addresses[0].display_name == "Jörg Müller 山田"
    assert message["To"].addresses[0].domain == "xn--bcher-kva.example"
    assert message["Subject"] == ("Grüße – 日本語 " + "lang " * 30).strip()


def test_display_name_that_looks_like_an_address_stays_a_name() -> None:
    mail = outgoing(to=(Address("carol@example.org", "evil@example.net, <x@example.net>"),))
    message = parse(compose(mail, now=NOW))
    [address] = message["To"].addresses
    assert address.addr_spec == "carol@example.org"
    assert envelope_recipients(mail) == ["carol@example.org"]


def test_non_ascii_local_part_uses_smtputf8() -> None:
    mail = outgoing(to=(Address("jörg@example.org", "Jörg"),))
    raw = compose(mail, now=NOW)
    assert "jörg@example.org".encode() in raw
    message = email.message_from_string(raw.decode("utf-8"), policy=email.policy.default)
    assert message["To"].addresses[0].addr_spec == "jörg@example.org"
    assert message["Subject"] == "[SUP-42] Printer on fire"


def test_reserved_extra_headers_are_ignored() -> None:
    mail = outgoing(
        extra_headers=(("Bcc", "evil@example.org"), ("To", "x@y"), ("Bad Name", "v"), ("X-A", "1"))
    )
    names = header_names(compose(mail, now=NOW))
    assert "bcc" not in names and names.count("to") == 1 and "bad name" not in names
    assert "x-a" in names


def test_invalid_own_message_id_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="invalid Message-ID"):
        compose(outgoing(message_id="no-brackets@example.com"))


def test_make_message_id() -> None:
    first, second = make_message_id("example.com"), make_message_id("example.com")
    assert re.fullmatch(r"<[0-9a-f]{32}@example\.com>", first)
    assert first != second
    assert make_message_id("Bücher.Example").endswith("@xn--bcher-kva.example>")
    assert make_message_id("bad domain\r\n").endswith("@baddomain>")
    assert make_message_id("").endswith("@mailtix.invalid>")


def test_envelope_recipients_are_to_and_cc_once() -> None:
    mail = outgoing(
        to=(Address("carol@example.org"), Address("dave@example.org")),
        cc=(Address("carol@example.org"), Address("erin@example.org\r\n")),
    )
    assert envelope_recipients(mail) == [
        "carol@example.org",
        "dave@example.org",
        "erin@example.org",
    ]


def test_date_defaults_to_now_in_utc() -> None:
    message = parse(compose(outgoing()))
    assert message["Date"].endswith("+0000")
    assert abs((message["Date"].datetime - datetime.now(UTC)).total_seconds()) < 60


def test_attachments_are_relayed_as_downloads() -> None:
    from mailtix.domain.values import Attachment

    mail = outgoing(
        attachments=(
            Attachment("report.pdf", "application/pdf", b"%PDF-1.4 fake"),
            Attachment("../../etc/passwd\r\nX-Evil: 1", "text/x-evil;\r\nbad", b"root:x"),
        ),
    )
    raw = compose(mail, now=NOW)
    parsed = parse(raw)
    assert parsed.get_content_type() == "multipart/mixed"
    files = list(parsed.iter_attachments())
    assert [f.get_content_type() for f in files] == ["application/pdf", "application/octet-stream"]
    assert files[0].get_content() == b"%PDF-1.4 fake"
    assert "\n" not in (files[1].get_filename() or "") and b"X-Evil: 1\r\n" not in raw
    assert parsed.get_body(("plain",)) is not None


_NASTY = [
    *("\r", "\n", "\r\n", "\x00", "\u2028", "\x85", "\t", " ", ",", "<", ">", '"', "\\", "@"),
    *(";", ":", "(", ")", ".", "=?utf-8?q?x?=", "Bcc: evil@example.org", "é", "日本", "😀"),
]


def _nasty(rng: random.Random, size: int = 12) -> str:
    letters = string.ascii_letters + string.digits
    pieces = (rng.choice(_NASTY if rng.random() < 0.3 else letters) for _ in range(size))
    return "".join(pieces)[: rng.randint(0, size * 3)]


def test_fuzzed_header_input_never_injects_or_duplicates_headers() -> None:
    """Random names, addresses, subjects and extra headers full of CR, LF, NUL, specials and
    non-ASCII: every header is written exactly once, each address stays one address, no line
    is longer than 998 and the message parses back with the stdlib."""
    rng = random.Random(6923)
    for _ in range(2000):
        cc = tuple(
            Address(f"{_nasty(rng)}@{_nasty(rng)}.example", _nasty(rng, 40))
            for _ in range(rng.randint(0, 3))
        )
        mail = outgoing(
            sender=Address("support@example.com", _nasty(rng, 60)),
            to=(Address(f"{_nasty(rng)}@example.org", _nasty(rng, 250)),),
            cc=cc,
            reply_to=Address("support@example.com", _nasty(rng)) if rng.random() < 0.5 else None,
            subject=_nasty(rng, 400),
            in_reply_to=f"<{_nasty(rng)}@x>",
            references=tuple(f"<{_nasty(rng)}@y>" for _ in range(rng.randint(0, 4))),
            extra_headers=(("X-Mailtix-Token", _nasty(rng, 80)),),
            text=_nasty(rng, 200),
        )
        raw = compose(mail, now=NOW)
        head = raw.split(b"\r\n\r\n", 1)[0]
        assert re.search(rb"[^\r]\n|\r[^\n]|\x00", raw) is None
        assert max(len(line) for line in raw.split(b"\r\n")) <= 998
        names = Counter(header_names(raw))
        expected = {"from", "to", "subject", "date", "message-id", "x-mailtix-loop",
                    "x-mailtix-token", "auto-submitted", "x-auto-response-suppress",
                    "mime-version", "content-type"}  # fmt: skip
        expected |= {"cc"} if cc else set()
        expected |= {"reply-to"} if mail.reply_to else set()
        optional = {"in-reply-to", "references"}
        assert set(names) - optional == expected, head
        assert all(count == 1 for count in names.values()), head
        message = parse(raw)
        assert not message.get_all("Bcc")
        assert len(message["To"].addresses) == 1, head
        assert len(message["From"].addresses) == 1, head
        if cc:
            assert len(message["Cc"].addresses) == len(cc), head
        assert "\n" not in str(message["Subject"]) and "\r" not in str(message["Subject"])
        assert message["Subject"] == " ".join(
            "".join(" " if c in "\r\n\x00\u2028\x85\t" else c for c in mail.subject).split()
        )


def test_non_ascii_filenames_use_rfc2231_sections_and_round_trip() -> None:
    from mailtix.domain.values import Attachment

    name = "Überweisung für März " * 8 + ".pdf"
    raw = compose(outgoing(attachments=(Attachment(name, "application/pdf", b"x"),)), now=NOW)
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    [file] = parse(raw).iter_attachments()
    assert file.get_filename() == " ".join(name.split())


ATTACHED_MAIL = (
    "From: Carol <carol@example.org>\nTo: support@example.com\nSubject: Grüße\n"
    "Message-ID: <orig-1@example.org>\nContent-Type: text/plain; charset=utf-8\n"
    "Content-Transfer-Encoding: 8bit\n\nDer Drucker — kaputt.\n"
).encode()


def test_attached_message_is_sent_8bit_never_base64() -> None:
    item = Attachment("original.eml", "message/rfc822", ATTACHED_MAIL)
    raw = compose(outgoing(attachments=(item,)), now=NOW)
    [part] = parse(raw).iter_attachments()
    assert part.get_content_type() == "message/rfc822"
    assert part["Content-Transfer-Encoding"] == "8bit"
    [inner] = part.iter_parts()
    assert inner["Message-ID"] == "<orig-1@example.org>"
    assert "Der Drucker — kaputt." in inner.get_content()
    assert b"\nFrom: Carol <carol@example.org>\r\nTo: support@example.com\r\n" in raw


def test_ascii_attached_message_is_sent_7bit() -> None:
    item = Attachment("a.eml", "message/rfc822", b"Subject: hi\r\n\r\nplain\r\n")
    [part] = parse(compose(outgoing(attachments=(item,)), now=NOW)).iter_attachments()
    assert part["Content-Transfer-Encoding"] == "7bit"


def test_attached_message_that_7bit_and_8bit_cannot_carry_goes_as_a_file() -> None:
    item = Attachment("long.eml", "message/rfc822", b"Subject: x\n\n" + b"y" * 2000 + b"\n")
    [part] = parse(compose(outgoing(attachments=(item,)), now=NOW)).iter_attachments()
    assert part.get_content_type() == "application/octet-stream"
    assert part["Content-Transfer-Encoding"] == "base64"
    assert part.get_content() == b"Subject: x\n\n" + b"y" * 2000 + b"\n"


def test_body_bytes_are_the_cleaned_body_whatever_the_text() -> None:
    from mailtix.outbound.compose import _body, _body_bytes

    alphabet = "ab \t\n\r\x00\x01\x1b\x7f\x80\x9b\x9f\xa0\xc2\xe9—€\u2028\ud800😀"
    rng = random.Random(22)
    texts = ["", "plain\n", "café — ok", "x\r\ny", "nul\x00", "esc\x1b[31m", "c1\x9b"]
    texts += ["".join(rng.choices(alphabet, k=rng.randint(0, 12))) for _ in range(3000)]
    for text in texts:
        assert _body_bytes(text) == _body(text).encode("utf-8", "replace"), repr(text)


def test_header_lines_fold_only_past_78_characters() -> None:
    from mailtix.outbound.compose import _fold

    for length in range(70, 90):
        words = [*["x" * 9] * 6, "y" * (length - len("Subject: ") - 6 * 10)]  # `length` long
        lines = _fold("Subject", words).removesuffix("\r\n").split("\r\n")
        assert len(lines) == (1 if length <= 78 else 2), length
        assert all(len(line) <= 78 for line in lines)
        assert " ".join(line.strip() for line in lines) == f"Subject: {' '.join(words)}"
