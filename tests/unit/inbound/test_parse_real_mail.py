"""Real mail that parse.py read wrongly (issue 13, "Real mail that goes wrong"): each test runs a
mail copied from another project's fixtures (tests/data/SOURCES.md) or a minimal form of it."""

from __future__ import annotations

from pathlib import Path

from mailtix.inbound.parse import parse_message

CORPUS = Path(__file__).parents[2] / "data" / "corpus"
HEAD = b"From: Carol <carol@example.org>\r\nTo: support@acme.example\r\nSubject: s\r\n"


def test_nested_multipart_whose_boundary_parameter_is_lost_keeps_its_text() -> None:
    """OTOBO's Win7SnippingTool.box: Outlook put ``boundary=`` of the inner multipart/alternative
    on a continuation line without indentation, so the declared boundary is gone and the part
    matched no delimiter line; it was stored as an attachment named "attachment"."""
    raw = (CORPUS / "otobo/scripts/test/sample/EmailParser/Win7SnippingTool.box").read_bytes()
    mail = parse_message(raw)
    assert mail.text.strip() == "[cid:image001.png@01CCD5EE.430AB650]"
    assert [a.filename for a in mail.attachments] == ["image001.png"]
    assert mail.html is not None and "<img" in mail.html
    assert any("parts found by their delimiter lines" in d for d in mail.defects)


def test_multipart_without_any_delimiter_line_is_read_as_text() -> None:
    raw = HEAD + (
        b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="gone"\r\n\r\n'
        b"The printer on floor 3 jams.\r\n--\r\nCarol\r\n"
    )
    mail = parse_message(raw)
    assert mail.text == "The printer on floor 3 jams.\n--\nCarol\n"
    assert mail.attachments == ()
    assert any("without delimiter lines" in d for d in mail.defects)


def test_multipart_body_that_is_html_without_delimiters_is_read_as_html() -> None:
    raw = HEAD + (
        b"MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=x\r\n\r\n"
        b"<html><body><p>Hello <b>there</b></p></body></html>\r\n"
    )
    mail = parse_message(raw)
    assert mail.text == "Hello there" and mail.html is not None and mail.attachments == ()


def test_text_like_delimiter_lines_do_not_split_a_plain_body() -> None:
    raw = HEAD + (
        b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=gone\r\n\r\n"
        b"Order:\r\n--------\r\nName: John\r\nPhone: 123\r\n\r\nthanks\r\n"
    )
    assert "Name: John\nPhone: 123" in parse_message(raw).text


def test_blank_text_part_falls_back_to_the_html_part() -> None:
    """Zammad's mail034.box: an empty text/plain alternative before the HTML that holds the
    content; the ticket text was empty."""
    mail = parse_message((CORPUS / "zammad/test/data/mail/mail034.box").read_bytes())
    assert mail.text == "some html text"
    assert mail.html == "<b>some html text</b>\n"


def test_whitespace_only_text_part_falls_back_to_the_html_part() -> None:
    raw = HEAD + (
        b'MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\n \t\r\n\xc2\xa0\r\n"
        b"--b\r\nContent-Type: text/html\r\n\r\n<p>Real content</p>\r\n--b--\r\n"
    )
    assert parse_message(raw).text == "Real content"


def test_raw_utf8_attachment_filename_is_decoded() -> None:
    """ruby-mail's attachment_nonascii_filename.eml: ``filename=ciële.txt`` in raw UTF-8."""
    path = CORPUS / "ruby-mail/spec/fixtures/emails/attachment_emails"
    mail = parse_message((path / "attachment_nonascii_filename.eml").read_bytes())
    assert [a.filename for a in mail.attachments] == ["ciële.txt"]


def test_raw_8bit_filenames_in_utf8_and_windows_1252_are_decoded() -> None:
    part = (
        b'--XX\r\nContent-Type: application/pdf; name="Gr\xc3\xbc\xc3\x9fe.pdf"\r\n'
        b'Content-Disposition: attachment; filename="Gr\xc3\xbc\xc3\x9fe.pdf"\r\n\r\n%PDF\r\n'
    )
    for encoded in (part, part.replace("Grüße".encode(), "Grüße".encode("cp1252"))):
        raw = HEAD + b"Content-Type: multipart/mixed; boundary=XX\r\n\r\n" + encoded + b"--XX--\r\n"
        assert [a.filename for a in parse_message(raw).attachments] == ["Grüße.pdf"]
