"""mime_tree.read: the stdlib parser's tree, or None; never a different tree.

Each case is compared with BytesParser(policy=compat32) part by part: headers, payloads of the
leaves, defects. The corpus-wide comparison of whole parse results is in test_corpus_parse.py.
"""

from __future__ import annotations

import random
import tracemalloc
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32

import pytest

from mailtix.inbound import mime_tree

FULL = BytesParser(policy=compat32)


def quick(raw: bytes) -> Message | None:
    end = mime_tree.HEADER_END.search(raw)
    assert end is not None
    return mime_tree.read(raw, end.end())


def shape(msg: Message) -> object:
    """Everything parse.py reads off a tree, as plain values."""
    payload = msg.get_payload()
    inner = [shape(part) for part in payload] if isinstance(payload, list) else payload
    defects = [type(defect).__name__ for defect in msg.defects]
    return (msg.items(), msg.get_content_type(), defects, inner)


MIXED = 'multipart/mixed; boundary="b1"'


def mail(body: str, content_type: str = MIXED, eol: str = "\r\n") -> bytes:
    head = f"From: a@example.org\nSubject: s\nMIME-Version: 1.0\nContent-Type: {content_type}\n\n"
    return (head + body).replace("\n", eol).encode()


PLAIN_TREES = {
    "text and attachment": mail(
        "preamble\n--b1\nContent-Type: text/plain\n\nhello\n\n--b1\n"
        "Content-Type: application/pdf\nContent-Disposition: attachment; filename=x.pdf\n"
        "Content-Transfer-Encoding: base64\n\nJVBERi0=\n--b1--\nepilogue\n"
    ),
    "LF line ends": mail("--b1\nContent-Type: text/plain\n\nhi\n--b1--\n", eol="\n"),
    "nested alternative": mail(
        "--b1\nContent-Type: multipart/alternative; boundary=b2\n\n--b2\n"
        "Content-Type: text/plain\n\nplain\n--b2\nContent-Type: text/html\n\n<p>html</p>\n"
        "--b2--\n\n--b1\nContent-Type: image/png\n\nPNG\n--b1--"
    ),
    "blanks after boundaries, no final line end": mail(
        "--b1 \t\nContent-Type: text/plain\n\nx\n--b1-- \t"
    ),
    "a part without a header block": mail("--b1\n\nbare body\n--b1--\n"),
    "a part with an empty body": mail("--b1\nContent-Type: text/plain\n\n--b1--\n"),
    "a part whose body is one empty line": mail("--b1\nContent-Type: text/plain\n\n\n--b1--\n"),
    "boundary text inside a line and a longer boundary": mail(
        "--b1\nContent-Type: text/plain\n\nsee --b1 here\n--b1x is not one\n--b1--\n"
    ),
    "lines after the close boundary that look like boundaries": mail(
        "--b1\nContent-Type: text/plain\n\nx\n--b1--\n--b1\nContent-Type: text/plain\n\ny\n"
    ),
}

DECLINED = {
    "no start boundary": mail("no boundary at all\n"),
    "no close boundary": mail("--b1\nContent-Type: text/plain\n\nx\n"),
    "no close boundary after two parts": mail("--b1\n\nx\n--b1\n\ny\n"),
    "close boundary first": mail("--b1--\n"),
    "two boundary lines in a row": mail("--b1\n--b1\nContent-Type: text/plain\n\nx\n--b1--\n"),
    "lone CR line ends": mail("--b1\rContent-Type: text/plain\r\rx\r--b1--\r", eol="\n"),
    "a header running into the boundary": mail("--b1\nContent-Type: text/plain\n--b1--\n"),
    "a non-header line ending a part's header": mail(
        "--b1\nContent-Type: text/plain\nnot a header\n\nx\n--b1--\n"
    ),
    "message/rfc822 part": mail(
        "--b1\nContent-Type: message/rfc822\n\nSubject: inner\n\nbody\n--b1--\n"
    ),
    "digest": mail("--b1\n\nSubject: inner\n\nx\n--b1--\n", 'multipart/digest; boundary="b1"'),
    "no boundary parameter": mail("--b1\n\nx\n--b1--\n", "multipart/mixed"),
    "base64 multipart": mail(
        "--b1\n\nx\n--b1--\n", 'multipart/mixed; boundary="b1"\nContent-Transfer-Encoding: base64'
    ),
    "no header at all": b"\r\n\r\nbody\r\n",
}


@pytest.mark.parametrize("name", PLAIN_TREES)
def test_plain_trees_are_read_as_the_stdlib_parser_reads_them(name: str) -> None:
    raw = PLAIN_TREES[name]
    msg = quick(raw)
    assert msg is not None
    assert shape(msg) == shape(FULL.parsebytes(raw))


@pytest.mark.parametrize("name", DECLINED)
def test_structures_the_stdlib_parser_reads_otherwise_are_left_to_it(name: str) -> None:
    assert quick(DECLINED[name]) is None


def test_one_part_mail_keeps_its_body_as_it_is() -> None:
    raw = b"Subject: s\r\nContent-Type: text/plain\r\n\r\nline 1\r\nline 2\rodd\n"
    msg = quick(raw)
    assert msg is not None
    assert msg.get_payload() == "line 1\r\nline 2\rodd\n"
    assert shape(msg) == shape(FULL.parsebytes(raw))


def test_deep_nesting_is_left_to_the_stdlib_parser() -> None:
    depth = mime_tree.MAX_NESTING + 1
    body = "".join(
        f"--n{i}\nContent-Type: multipart/mixed; boundary=n{i + 1}\n\n" for i in range(depth)
    )
    body += f"--n{depth}\n\nx\n" + "".join(f"--n{i}--\n" for i in reversed(range(depth + 1)))
    raw = mail(body, "multipart/mixed; boundary=n0")
    assert quick(raw) is None
    inner = "--n0\nContent-Type: multipart/mixed; boundary=n1\n\n--n1\n\nx\n--n1--\n--n0--\n"
    shallow = mail(inner, "multipart/mixed; boundary=n0")
    msg = quick(shallow)
    assert msg is not None and shape(msg) == shape(FULL.parsebytes(shallow))


def test_a_big_attachment_deep_in_the_tree_is_not_copied_per_level() -> None:
    depth = mime_tree.MAX_NESTING - 1
    opening = "".join(
        f"--n{i}\nContent-Type: multipart/mixed; boundary=n{i + 1}\n\n" for i in range(depth)
    )
    closing = "".join(f"--n{i}--\n" for i in reversed(range(depth + 1)))
    attachment = "QUJD" * 500_000 + "\n"  # 2 MB of base64
    raw = mail(
        opening + f"--n{depth}\nContent-Type: application/octet-stream\n\n" + attachment + closing,
        "multipart/mixed; boundary=n0",
    )
    tracemalloc.start()
    try:
        msg = quick(raw)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert msg is not None
    assert peak < 3 * len(raw)  # the leaf's bytes and payload; not a copy per level


def random_tree(rng: random.Random, depth: int = 0) -> str:
    """A random MIME entity (header block + body), plain or odd in the ways mail is."""
    blank = rng.choice(["", " ", "\t ", ""])
    if depth < 3 and rng.random() < 0.4:
        boundary = rng.choice(["b", "=_x", "b1", "bb", "-b-"]) + str(depth)
        subtype = rng.choice(["mixed", "alternative", "related", "report"])
        head = f'Content-Type: multipart/{subtype}; boundary="{boundary}"\n'
        parts = [random_tree(rng, depth + 1) for _ in range(rng.randint(0, 3))]
        body = rng.choice(["", "preamble\n", "\n"])
        for part in parts:
            body += f"--{boundary}{blank}\n{part}\n"
            if rng.random() < 0.05:
                body += f"--{boundary}\n"  # two boundary lines in a row
        if rng.random() < 0.9:
            body += f"--{boundary}--{blank}" + rng.choice(["\n", "", "\nepilogue\n"])
        if rng.random() < 0.05:
            body += f"--{boundary}x not a boundary\n--{boundary}\n"
    else:
        kind = rng.choice(["text/plain", "text/html", "application/pdf", "message/rfc822", ""])
        head = f"Content-Type: {kind}\n" if kind else ""
        if rng.random() < 0.2:
            head += "Content-Transfer-Encoding: base64\n"
        if rng.random() < 0.05:
            head += "not a header line\n"
        body = rng.choice(["", "x", "line\n", "a\n\nb\n", "--b0 inside\n", "Subject: s\n\nhi\n"])
    if rng.random() < 0.1:
        return body  # no header block at all: the part starts with its body
    return head + ("" if rng.random() < 0.03 else "\n") + body


@pytest.mark.parametrize("seed", range(40))
def test_random_trees_are_read_as_the_stdlib_parser_reads_them_or_left_to_it(seed: int) -> None:
    rng = random.Random(seed)
    taken = 0
    for _ in range(25):
        head = "From: a@example.org\nSubject: s\nMIME-Version: 1.0\n"
        raw = (head + random_tree(rng)).replace("\n", rng.choice(["\n", "\r\n"])).encode()
        end = mime_tree.HEADER_END.search(raw)
        msg = mime_tree.read(raw, end.end()) if end else None
        if msg is not None:
            taken += 1
            assert shape(msg) == shape(FULL.parsebytes(raw)), raw
    assert taken > 0
