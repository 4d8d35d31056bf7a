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

_PARSER = BytesParser(policy=compat32)
_HEADER_END = re.compile(rb"\n\r?\n")
_PLAIN_MULTIPART_CTE = ("7bit", "8bit", "binary")


def read(raw: bytes, body_at: int) -> Message | None:
    """The parsed message whose header block ends at ``body_at``, or None."""
    msg = _part(raw[:body_at], raw, body_at, 0)
    return msg if msg is not None and msg.keys() else None  # no header: the caller's case


def _part(head: bytes, raw: bytes, body_at: int, depth: int) -> Message | None:
    msg = _PARSER.parsebytes(head, headersonly=True)
    if msg.get_payload():  # a line that is no header ended the header block before its end
        return None
    maintype = msg.get_content_maintype()
    if maintype == "message":
        return None
    if maintype != "multipart":
        msg.set_payload(raw[body_at:].decode("ascii", "surrogateescape"))  # as BytesParser reads
        return msg
    parts = _children(msg, raw[body_at:], depth)
    if parts is None:
        return None
    msg.set_payload(parts)
    return msg


def _children(msg: Message, body: bytes, depth: int) -> list[Message | str] | None:
    if depth >= MAX_NESTING or msg.get_content_subtype() == "digest":
        return None
    if str(msg.get("content-transfer-encoding", "8bit")).lower() not in _PLAIN_MULTIPART_CTE:
        return None
    if body.count(b"\r") != body.count(b"\r\n"):  # lone CR: the stdlib parser ends lines there
        return None
    boundary = msg.get_boundary()
    if not boundary:
        return None
    try:
        separator = ("--" + boundary).encode("ascii", "surrogateescape")
    except UnicodeEncodeError:
        return None
    marks = _boundary_lines(body, separator)
    if len(marks) < 2 or marks[0][2] or not marks[-1][2]:
        return None  # no start boundary, or no close boundary
    parts: list[Message | str] = []
    for (_, start, _), (end, _, _) in zip(marks, marks[1:], strict=False):
        child = _child(body[start:end], depth + 1)
        if child is None:
            return None
        parts.append(child)
    return parts


def _boundary_lines(body: bytes, separator: bytes) -> list[tuple[int, int, bool]]:
    """(start, end, closing) of each boundary line up to the first closing one: a line that
    starts with ``separator``, then ``--`` if closing, blanks and its line end, as the stdlib
    parser matches them."""
    marks: list[tuple[int, int, bool]] = []
    at = body.find(separator)
    while at >= 0:
        if at == 0 or body[at - 1] == 0x0A:
            end = at + len(separator)
            closing = body.startswith(b"--", end)
            end += 2 if closing else 0
            while end < len(body) and body[end] in b" \t":
                end += 1
            if end == len(body) or body[end] == 0x0A:
                marks.append((at, min(end + 1, len(body)), closing))
            elif body.startswith(b"\r\n", end):
                marks.append((at, end + 2, closing))
            if marks and marks[-1][2]:
                break
        at = body.find(separator, at + 1)
    return marks


def _child(region: bytes, depth: int) -> Message | None:
    """One part: ``region`` runs from after a boundary line up to the next one, whose line end
    before it belongs to that boundary (RFC 2046), not to the part."""
    if not region:  # two boundary lines in a row: the stdlib parser skips one
        return None
    if region.startswith((b"\n", b"\r\n")):  # no header block
        body_at = region.index(b"\n") + 1
    else:
        end = _HEADER_END.search(region)
        if end is None:  # the header runs up to the boundary: the stdlib parser's edge case
            return None
        body_at = end.end()
    body = region[:-2] if region.endswith(b"\r\n") else region[:-1]
    if body_at > len(body):
        body = region  # an empty body; its line end was the header block's end
    return _part(region[:body_at], body, body_at, depth)
