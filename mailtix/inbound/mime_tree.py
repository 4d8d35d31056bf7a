"""Read a mail's MIME tree as the stdlib parser (compat32) reads it, without splitting bodies into
lines, or say it cannot (None) so the caller runs the stdlib parser itself.

BytesParser pushes every line of every body through its line machinery: a 60 KB base64
attachment is some 800 lines read, matched against every open boundary and joined again. Here
only header blocks go through the stdlib parser; a multipart body is cut at its boundary lines,
found with ``bytes.find``, and every leaf gets its body as its payload, as it is. Only plain
structures are taken: anything where the stdlib parser would record a defect in the structure
or read lines differently - no start or close boundary, two boundary lines in a row, a lone CR
line end, a part that a non-header line ends the header of, a multipart with a transfer
encoding other than 7bit/8bit/binary, message/* parts, multipart/digest, deep nesting - is
left to the stdlib parser. Equality with it is tested mail by mail over the project's corpus.
"""

from __future__ import annotations

import re
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32

MAX_NESTING = 20  # deeper trees go to the stdlib parser (which has its own bounds)

PARSER = BytesParser(policy=compat32)  # the stdlib parser, as parse.py runs it on the rest
HEADER_END = re.compile(rb"\n\r?\n|\r\r")  # the empty line that ends a header block
_PLAIN_MULTIPART_CTE = ("7bit", "8bit", "binary")


def read(raw: bytes, body_at: int) -> Message | None:
    """The parsed message whose header block ends at ``body_at``, or None."""
    msg = _part(raw, 0, body_at, len(raw), 0)
    return msg if msg is not None and msg.keys() else None  # no header: the caller's case


# Parts are offsets into the one ``raw``: a slice per part and level would copy a big
# attachment once for every level it is nested in.


def _part(raw: bytes, start: int, body_at: int, end: int, depth: int) -> Message | None:
    msg = PARSER.parsebytes(raw[start:body_at], headersonly=True)
    if msg.get_payload():  # a line that is no header ended the header block before its end
        return None
    maintype = msg.get_content_maintype()
    if maintype == "message":
        return None
    if maintype != "multipart":  # the body as BytesParser reads it
        msg.set_payload(raw[body_at:end].decode("ascii", "surrogateescape"))
        return msg
    parts = _children(msg, raw, body_at, end, depth)
    if parts is None:
        return None
    msg.set_payload(parts)
    return msg


def _children(
    msg: Message, raw: bytes, start: int, end: int, depth: int
) -> list[Message | str] | None:
    if depth >= MAX_NESTING or msg.get_content_subtype() == "digest":
        return None
    if str(msg.get("content-transfer-encoding", "8bit")).lower() not in _PLAIN_MULTIPART_CTE:
        return None
    if raw.count(b"\r", start, end) != raw.count(b"\r\n", start, end):
        return None  # a lone CR: the stdlib parser ends lines there too
    boundary = msg.get_boundary()
    if not boundary:
        return None
    try:
        separator = ("--" + boundary).encode("ascii", "surrogateescape")
    except UnicodeEncodeError:
        return None
    marks = _boundary_lines(raw, start, end, separator)
    if len(marks) < 2 or marks[0][2] or not marks[-1][2]:
        return None  # no start boundary, or no close boundary
    parts: list[Message | str] = []
    for (_, part_start, _), (part_end, _, _) in zip(marks, marks[1:], strict=False):
        child = _child(raw, part_start, part_end, depth + 1)
        if child is None:
            return None
        parts.append(child)
    return parts


def _boundary_lines(
    raw: bytes, start: int, end: int, separator: bytes
) -> list[tuple[int, int, bool]]:
    """(start, end, closing) of each boundary line up to the first closing one: a line that
    starts with ``separator``, then ``--`` if closing, blanks and its line end, as the stdlib
    parser matches them."""
    marks: list[tuple[int, int, bool]] = []
    at = raw.find(separator, start, end)
    while at >= 0:
        if at == start or raw[at - 1] == 0x0A:
            pos = at + len(separator)
            closing = raw.startswith(b"--", pos, end)
            pos += 2 if closing else 0
            while pos < end and raw[pos] in b" \t":
                pos += 1
            if pos == end or raw[pos] == 0x0A:
                marks.append((at, min(pos + 1, end), closing))
            elif raw.startswith(b"\r\n", pos, end):
                marks.append((at, pos + 2, closing))
            if marks and marks[-1][2]:
                break
        at = raw.find(separator, at + 1, end)
    return marks


def _child(raw: bytes, start: int, end: int, depth: int) -> Message | None:
    """One part: it runs from after a boundary line up to the next one, whose line end before
    it belongs to that boundary (RFC 2046), not to the part."""
    if start == end:  # two boundary lines in a row: the stdlib parser skips one
        return None
    if raw.startswith(b"\n", start, end):  # no header block
        body_at = start + 1
    elif raw.startswith(b"\r\n", start, end):
        body_at = start + 2
    else:
        header_end = HEADER_END.search(raw, start, end)
        if header_end is None:  # the header runs up to the boundary: the stdlib parser's edge case
            return None
        body_at = header_end.end()
    stop = end - 2 if raw.startswith(b"\r\n", max(end - 2, start), end) else end - 1
    if body_at > stop:
        stop = end  # an empty body; its line end was the header block's end
    return _part(raw, start, body_at, stop, depth)
