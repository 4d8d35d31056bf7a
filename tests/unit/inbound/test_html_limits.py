"""HTML bodies that would stall intake (issue 13, breakage 2): deep nesting made nh3 (html5ever)
quadratic - 64,000 nested <div> took 64 s in nh3.clean alone - and the stdlib HTMLParser is
quadratic on unterminated tags (8,000 "<a " took 12 s). The caps in html_text read such markup
as stripped text in linear time; the figures are printed (run with -s).
"""

from __future__ import annotations

import time

import pytest

from mailtix.inbound.html_strip import strip_tags
from mailtix.inbound.html_text import (
    MAX_FORMATTED_CHARS,
    MAX_HTML_CHARS,
    MAX_HTML_DEPTH,
    nesting_depth,
    read_html,
)
from mailtix.inbound.parse import parse_message

HEAD = (
    b"From: Eve <eve@evil.example>\r\nTo: support@acme.example\r\nSubject: deep\r\n"
    b"Message-ID: <deep@evil.example>\r\nMIME-Version: 1.0\r\n"
    b"Content-Type: text/html; charset=utf-8\r\n\r\n"
)


def cpu_seconds_to_parse(markup: str) -> tuple[float, object]:
    started = time.process_time()
    mail = parse_message(HEAD + markup.encode())
    return time.process_time() - started, mail


@pytest.mark.parametrize(
    ("name", "markup"),
    [
        ("64,000 nested div (issue 13)", "<div>" * 64000 + "x" + "</div>" * 64000),
        ("200,000 nested div (issue 13)", "<div>" * 200000 + "x" + "</div>" * 200000),
        ("100,000 nested lists", "<ul><li>" * 100000 + "x"),
        ("80,000 unterminated tags", "<a " * 80000 + "x"),
        ("80,000 unclosed comments", "<!--" * 80000 + "x"),
        ("24 MB of flat tags", "<b>x</b>" * 3_000_000),
    ],
)
def test_hostile_html_is_read_in_a_few_seconds(name: str, markup: str) -> None:
    seconds, mail = cpu_seconds_to_parse(markup)
    print(f"\n{name} ({len(markup) / 1e6:.1f} MB): {seconds:.2f} s CPU")
    assert seconds < 8  # measured 0.1-3.8 s; 64 s and more before the caps
    assert "x" in mail.text or name.startswith(("80,000 unterminated", "80,000 unclosed"))  # type: ignore[attr-defined]


def test_html_deeper_than_the_cap_is_stored_as_stripped_text() -> None:
    deep = "<div>" * (MAX_HTML_DEPTH + 1) + "Hello &amp; bye" + "</div>" * (MAX_HTML_DEPTH + 1)
    body = read_html(deep)
    assert body.text == "Hello & bye"
    assert body.html is None  # never sanitised, so never stored as HTML
    assert f"deeper than {MAX_HTML_DEPTH}" in body.defect


def test_html_at_the_depth_cap_is_sanitised_as_usual() -> None:
    deep = "<div>" * MAX_HTML_DEPTH + "Hello" + "</div>" * MAX_HTML_DEPTH
    body = read_html(deep)
    assert body.text == "Hello" and body.html is not None and body.defect == ""


def test_html_over_the_size_cap_is_stored_as_stripped_text() -> None:
    big = "<p>" + "word " * (MAX_HTML_CHARS // 5) + "</p><script>alert(1)</script>"
    body = read_html(big)
    assert body.html is None and "characters" in body.defect
    assert body.text.startswith("word word") and "alert" not in body.text


def test_large_sanitised_html_becomes_text_by_stripping() -> None:
    markup = "<p>line</p>" * (MAX_FORMATTED_CHARS // 11 + 10)
    body = read_html(markup)
    assert body.html is not None and body.defect == ""
    assert body.text.split() == ["line"] * (MAX_FORMATTED_CHARS // 11 + 10)


def test_nesting_depth_counts_elements_not_tags() -> None:
    assert nesting_depth("<div><div><br><img src=x><p>a<p>b<p>c</div></div>") == 3
    assert nesting_depth("<ul><li>a<li>b<ul><li>c</ul></ul>") == 4
    assert nesting_depth("<b/><i/>" * 1000) == 0
    assert nesting_depth("<div></div>" * 1000) == 1
    assert nesting_depth("<a <a <a") == 0


def test_strip_tags_hides_scripts_styles_comments_and_keeps_blocks() -> None:
    markup = (
        "<HTML><Head><TITLE>t</title><style>p{}</STYLE></head><body><P>Hello &amp; <b>bye</b>"
        "<br>x<!-- c --> y<SCRIPT>alert(1)</script><Blockquote>q</blockquote>1 < 2"
    )
    assert strip_tags(markup) == "Hello & bye\nx y\nq\n1 < 2"
    assert strip_tags("a<!-- never closed <p>b") == "a"
    assert strip_tags("a<script>b") == "a"
    assert strip_tags("<tdx>not a block</tdx> <tr>") == "not a block"


def test_html_beside_a_text_part_is_sanitised_but_not_read_as_text() -> None:
    markup = "<p>Hello <b>there</b></p><script>alert(1)</script>"
    full, html_only = read_html(markup), read_html(markup, text=False)
    assert (html_only.text, html_only.html) == ("", full.html)
    assert full.text == "Hello there" and "script" not in str(full.html)
    alternative = (
        b"From: a@example.org\r\nSubject: s\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/alternative; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nPlain words\r\n"
        b"--b\r\nContent-Type: text/html\r\n\r\n<p>HTML words</p>\r\n--b--\r\n"
    )
    parsed = parse_message(alternative)
    assert parsed.text == "Plain words" and parsed.html == "<p>HTML words</p>"
    html_only_mail = alternative.replace(b"Plain words", b"  ")
    assert parse_message(html_only_mail).text == "HTML words"
