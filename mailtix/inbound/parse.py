"""Turn the raw bytes of one message into a clean, bounded ParsedMail (the only mail-parser user).

The MIME tree is read as the stdlib parser reads it (policy compat32, which keeps raw header
values): by ``mime_tree`` for plain structures, by the stdlib parser for the rest. mail-parser
supplies its hardened RFC 5322 date reader. Everything that leaves this module is decoded
text with NUL removed; other control characters stay as data and are neutralised where text
is output (``terminal_text`` for the CLI, ``compose`` for outgoing headers). Anything odd that
was survived is listed in ``ParsedMail.defects``. Only bytes that are not an email at all
raise ParseError.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from email.message import Message
from email.utils import parsedate_to_datetime

from mailparser.dates import parse_mail_date

from mailtix.domain.errors import ParseError
from mailtix.domain.values import Attachment, ParsedMail
from mailtix.inbound import mime_tree
from mailtix.inbound.header_text import (
    BIDI,
    CONTROLS,
    LINE_BREAKS,
    RUNS_OF_SPACES,
    SURROGATES,
    address_list,
    clean_header,
    decode_bytes,
    header_text,
    message_ids,
    raw_value,
    raw_values,
    reference_ids,
    return_path,
    sender_address,
    unfold,
)
from mailtix.inbound.html_text import read_html
from mailtix.inbound.mime_tree import HEADER_END, PARSER

logging.getLogger("mailparser").setLevel(logging.CRITICAL)

MAX_DEPTH = 50
MAX_PARTS = 1000
MAX_HEADER_BYTES = 1_000_000
MAX_FILENAME = 255
MAX_DELIMITER_LINES = 10 * MAX_PARTS  # lines starting with "--" that are read

_HEADER_LINE = re.compile(rb"[!-9;-~]+:")
# A delimiter line (RFC 2046 boundary: 1-70 characters, no quote or backslash here) that
# starts a part with a Content- header.
_DELIMITER = re.compile(r'^--([^\s"\\]{1,70})[ \t]*\r?\n(?=content-)', re.MULTILINE | re.IGNORECASE)


def parse_message(
    raw: bytes,
    *,
    max_depth: int = MAX_DEPTH,
    max_parts: int = MAX_PARTS,
    max_header_bytes: int = MAX_HEADER_BYTES,
) -> ParsedMail:
    """Parse ``raw``; raise ParseError only when it is not an email (or its header is too big)."""
    defects: list[str] = []
    msg = _read_structure(raw, max_header_bytes, defects)
    try:
        return _build(msg, max_depth, max_parts, defects)
    except RecursionError as exc:
        raise ParseError("MIME structure too deep") from exc
    except Exception as exc:  # a parser bug must quarantine the mail, not kill the batch
        raise ParseError(f"parser failed: {type(exc).__name__}: {exc}"[:200]) from exc


def _read_structure(raw: bytes, max_header_bytes: int, defects: list[str]) -> Message:
    stripped = raw.lstrip(b"\r\n\t ")
    if not stripped:
        raise ParseError("not an email: empty")
    if len(stripped) != len(raw):
        defects.append("leading blank lines")
    end = HEADER_END.search(stripped)
    if (end.start() if end else len(stripped)) > max_header_bytes:
        raise ParseError("header block too large")
    if end is not None:
        stripped = _cut_after_parts(stripped, end.end(), defects)
    quick = mime_tree.read(stripped, end.end()) if end else None
    if quick is not None:
        return quick
    try:
        msg = PARSER.parsebytes(stripped)
    except RecursionError:
        defects.append("MIME structure too deep; body not parsed")
        msg = PARSER.parsebytes(stripped, headersonly=True)
        msg.set_payload("")
    if not msg.keys():
        msg = _skip_junk_line(stripped, defects)
    return msg


def _cut_after_parts(raw: bytes, body_at: int, defects: list[str]) -> bytes:
    """``raw`` up to its MAX_DELIMITER_LINES-th line starting with "--": beyond MAX_PARTS parts
    nothing is read anyway, and both MIME readers take seconds for 100,000 parts."""
    if raw.count(b"\n--", body_at) <= MAX_DELIMITER_LINES:
        return raw
    at = body_at
    for _ in range(MAX_DELIMITER_LINES):
        at = raw.index(b"\n--", at) + 1
    defects.append(f"more than {MAX_DELIMITER_LINES} delimiter lines; the rest ignored")
    return raw[:at]


def _skip_junk_line(raw: bytes, defects: list[str]) -> Message:
    """Retry without a first line that is not a header (e.g. "---- Original message ----")."""
    _, newline, rest = raw.partition(b"\n")
    if newline and _HEADER_LINE.match(rest):
        msg = PARSER.parsebytes(rest)
        if msg.keys():
            defects.append("junk line before the header")
            return msg
    raise ParseError("not an email: no headers")


def _build(msg: Message, max_depth: int, max_parts: int, defects: list[str]) -> ParsedMail:
    plain, html, attachments = _walk(msg, max_depth, max_parts, defects)
    text = "\n".join(plain)
    blank = not text.strip()  # a blank (or no) text/plain part: the HTML says it
    body = read_html("\n".join(html), text=blank) if html else None
    if body is not None and body.defect:
        defects.append(body.defect)
    if body is not None and blank:
        text = body.text
    own_ids = message_ids(raw_value(msg, "message-id"))
    return ParsedMail(
        message_id=own_ids[0] if own_ids else None,
        subject=header_text(raw_value(msg, "subject") or "", defects),
        sender=sender_address(msg, defects),
        to=address_list(msg, "to", defects),
        cc=address_list(msg, "cc", defects),
        reply_to=address_list(msg, "reply-to", defects),
        original_from=address_list(msg, "x-original-from", defects),
        in_reply_to=message_ids(raw_value(msg, "in-reply-to")),
        references=reference_ids(raw_values(msg, "references")),
        date=_date(raw_value(msg, "date"), defects),
        text=text,
        html=body.html if body is not None else None,
        attachments=tuple(attachments),
        headers=tuple(
            (clean_header(name).lower(), header_text(value, defects))
            for name, value in msg.raw_items()
        ),
        return_path=return_path(raw_value(msg, "return-path"), defects),
        defects=tuple(dict.fromkeys(defects + _stdlib_defects(msg)))[:50],
    )


def _date(value: object, defects: list[str]) -> datetime | None:
    if value is None:
        return None
    text = clean_header(unfold(value))
    result = parse_mail_date(text)
    if result.value is not None:
        return result.value
    try:
        parsed = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        defects.append("unreadable Date")
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _stdlib_defects(msg: Message) -> list[str]:
    return [type(defect).__name__ for defect in msg.defects]


# ---------------------------------------------------------------- body and attachments


def _walk(
    msg: Message, max_depth: int, max_parts: int, defects: list[str]
) -> tuple[list[str], list[str], list[Attachment]]:
    """Visit the MIME tree without recursion, at most ``max_depth`` deep and ``max_parts`` wide."""
    plain: list[str] = []
    html: list[str] = []
    attachments: list[Attachment] = []
    stack: list[tuple[Message, int]] = [(msg, 0)]
    seen = 0
    while stack:
        part, depth = stack.pop()
        seen += 1
        if seen > max_parts:
            defects.append(f"more than {max_parts} MIME parts; the rest ignored")
            break
        payload = part.get_payload()
        if part.get_content_maintype() == "multipart" and not isinstance(payload, list):
            payload = _found_parts(part, payload, defects) if depth < max_depth else None
            if payload is None:  # the parser found no delimiter line: the body is the text
                defects.append("multipart without delimiter lines; its body read as text")
                _take_body(part, plain, html, defects)
                continue
        if part.get_content_maintype() == "multipart" and isinstance(payload, list):
            if depth >= max_depth:
                defects.append(f"MIME structure deeper than {max_depth}; inner parts ignored")
                continue
            children = [child for child in payload if isinstance(child, Message)]
            stack.extend((child, depth + 1) for child in reversed(children))
            if part is not msg:
                defects.extend(type(defect).__name__ for defect in part.defects)
            continue
        _take_leaf(part, plain, html, attachments, defects)
    return plain, html, attachments


def _found_parts(part: Message, payload: object, defects: list[str]) -> list[Message] | None:
    """The parts of a multipart whose declared boundary is missing or matches no line (e.g. a
    ``boundary=`` parameter on a continuation line without indentation), read by the first
    delimiter line that starts a part with a Content- header; None when there is none."""
    if not isinstance(payload, str):
        return None
    found = _DELIMITER.search(payload)
    if found is None:
        return None
    head = f'Content-Type: {part.get_content_type()}; boundary="{found.group(1)}"\n\n'
    reread = PARSER.parsebytes(head.encode() + payload.encode("ascii", "surrogateescape"))
    parts = reread.get_payload()
    if not isinstance(parts, list) or not parts:
        return None
    defects.append("multipart boundary not declared; parts found by their delimiter lines")
    return [child for child in parts if isinstance(child, Message)]


def _take_body(part: Message, plain: list[str], html: list[str], defects: list[str]) -> None:
    """The body of a multipart without parts, as text (HTML when it starts like HTML)."""
    text = _body_text(part, defects)
    is_html = text.lstrip()[:15].lower().startswith(("<html", "<!doctype html"))
    (html if is_html else plain).append(text)


def _take_leaf(
    part: Message,
    plain: list[str],
    html: list[str],
    attachments: list[Attachment],
    defects: list[str],
) -> None:
    content_type = part.get_content_type()
    filename = _raw_filename(part, defects)
    disposition = part.get_content_disposition()
    if content_type in ("text/plain", "text/html") and disposition != "attachment" and not filename:
        text = _body_text(part, defects)
        (plain if content_type == "text/plain" else html).append(text)
        return
    if not filename:
        filename = _invented_filename(part, content_type)
    attachments.append(Attachment(clean_filename(filename), content_type, _content(part, defects)))


def _invented_filename(part: Message, content_type: str) -> str:
    """A name for an unnamed part: inner Subject (message/rfc822), Content-Description, or the
    Content-ID when it looks like a file name; "attachment" otherwise."""
    inner = part.get_payload()
    subject = ""
    if content_type == "message/rfc822" and isinstance(inner, list) and inner:
        assert isinstance(inner[0], Message)
        subject = header_text(raw_value(inner[0], "subject") or "")
    description = header_text(raw_value(part, "content-description") or "")
    content_id = header_text(raw_value(part, "content-id") or "").strip("<>").split("@")[0]
    name = subject or description or (content_id if "." in content_id else "")
    extension = _EXTENSIONS.get(content_type, "")
    if not name:
        return "message.eml" if extension == ".eml" else "attachment"
    return name if name.lower().endswith(extension) else name + extension


def _raw_filename(part: Message, defects: list[str]) -> str:
    try:
        name = _decoded_headers(part).get_filename()
    except Exception:  # stdlib RFC 2231 edge cases; the part is still kept
        defects.append("unreadable attachment filename")
        return ""
    return header_text(name, defects) if name else ""


def _decoded_headers(part: Message) -> Message:
    """``part``, or, when its Content-Disposition or Content-Type holds raw 8-bit text (an
    unencoded filename="Grüße.pdf"), a copy of these two headers decoded first: compat32
    turns such bytes into replacement characters."""
    names = ("Content-Disposition", "Content-Type")
    values = [raw_value(part, name) for name in names]
    if all(value is None or value.isascii() for value in values):
        return part
    decoded = Message()
    for name, value in zip(names, values, strict=True):
        if value is not None:
            decoded[name] = unfold(value)
    return decoded


def clean_filename(name: str) -> str:
    """A display name for an attachment: no path, no controls or bidi overrides, <= 255 chars."""
    name = re.split(r"[/\\]", name)[-1]
    name = BIDI.sub("", CONTROLS.sub("", LINE_BREAKS.sub(" ", name)))
    name = RUNS_OF_SPACES.sub(" ", name).strip()
    name = SURROGATES.sub("\ufffd", name)
    if name in ("", ".", ".."):
        return "attachment"
    if len(name) > MAX_FILENAME:
        stem, dot, ext = name.rpartition(".")
        keep = bool(dot) and 0 < len(ext) <= 16
        name = stem[: MAX_FILENAME - len(ext) - 1] + "." + ext if keep else name[:MAX_FILENAME]
    return name


def _content(part: Message, defects: list[str]) -> bytes:
    payload = part.get_payload()
    try:
        if isinstance(payload, list):  # message/rfc822, message/delivery-status
            return b"\n".join(p.as_bytes() for p in payload if isinstance(p, Message))
        data = part.get_payload(decode=True)
    except Exception:  # noqa: BLE001 - keep the part, lose its bytes, record why
        defects.append(f"undecodable {part.get_content_type()} part")
        return b""
    return data if isinstance(data, bytes) else b""


def _body_text(part: Message, defects: list[str]) -> str:
    data = part.get_payload(decode=True)
    if not isinstance(data, bytes):
        return ""
    text = decode_bytes(data, _charset(part), defects, part.get_content_type())
    if "\x00" in text:
        defects.append("NUL characters removed from body")
        text = text.replace("\x00", "")
    return text.replace("\r\n", "\n").replace("\r", "\n")


_EXTENSIONS = {
    "message/rfc822": ".eml",
    "message/delivery-status": ".txt",
    "text/rfc822-headers": ".txt",
    "text/plain": ".txt",
    "text/html": ".html",
}


def _charset(part: Message) -> str | None:
    try:
        return part.get_content_charset()
    except Exception:  # odd RFC 2231 charset parameters
        return None
