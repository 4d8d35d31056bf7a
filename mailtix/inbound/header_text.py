"""Header text of incoming mail: raw values decoded (8-bit, RFC 2047), cleaned of control
characters, and turned into addresses and Message-IDs. Pure functions on stdlib ``Message`` values.
"""

from __future__ import annotations

import binascii
import codecs
import re
from email.message import Message
from email.utils import getaddresses

from mailtix.domain.values import Address

MAX_REFERENCES = 100
LINE_BREAKS = re.compile(r"[\t\n\r\v\f\x85\u2028\u2029]")
CONTROLS = re.compile(r"[\x00-\x1f\x7f]")
BIDI = re.compile(r"[\x80-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
SURROGATES = re.compile(r"[\ud800-\udfff]")
RUNS_OF_SPACES = re.compile(r" {2,}")
_NEEDS_CLEANING = re.compile(r"[\t\n\r\v\f\x85\u2028\u2029\x00-\x1f\x7f\ud800-\udfff]| {2}")
_FOLD = re.compile(r"\r?\n(?=[ \t])|\r(?=[ \t])")
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\r\n]*?)\?=")
_WORD_RUN = re.compile(_ENCODED_WORD.pattern + r"(?:[ \t]*" + _ENCODED_WORD.pattern + ")*")
_ANGLE_TOKEN = re.compile(r"<([^<>]*)>")
_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"')
_ADDR_LIKE = re.compile(r"[^\s<>()\"',;:@]+@[^\s<>()\"',;:@]+")
# A mailing list's or Google Group's DMARC rewrite, unquoted: 'Marston, John' via Western
# Support <support@example.com> - one angle address, no other @ or angle bracket.
_GROUP_REWRITE = re.compile(
    r'\s*(?P<name>[^<>@"]+? via [^<>@"]+?)\s*<(?P<addr>[^<>@\s]+@[^<>@\s]+)>\s*'
)
_BAD_IN_ADDRESS = re.compile(r'[\s\x00-\x1f\x7f<>(),;:"\[\]\\\u202a-\u202e\u2066-\u2069]')
# Charset labels seen in the wild, mapped as browsers do (WHATWG encoding standard).
_CHARSET_ALIASES = {
    "utf8mb4": "utf-8", "utf8mb3": "utf-8", "utf8": "utf-8", "unicode-1-1-utf-7": "utf-7",
    "iso-8859-1": "cp1252", "latin1": "cp1252", "ks_c_5601-1987": "cp949", "euc-kr": "cp949",
    "gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "shift_jis": "cp932",
    "x-sjis": "cp932", "windows-874": "cp874", "tis-620": "cp874", "iso-8859-8-i": "iso-8859-8",
}  # fmt: skip
_REFUSED_CODECS = {"undefined", "unicode_escape", "raw_unicode_escape", "idna", "punycode"}
_ASCII = {"ascii", "us-ascii", "ansi_x3.4-1968", "us_ascii"}


def raw_values(msg: Message, name: str) -> list[str]:
    """Every raw value of ``name``; compat32's get() would garble raw 8-bit text."""
    wanted = name.lower()
    return [str(value) for key, value in msg.raw_items() if key.lower() == wanted]


def raw_value(msg: Message, name: str) -> str | None:
    values = raw_values(msg, name)
    return values[0] if values else None


def clean_header(value: str) -> str:
    """``value`` on one line: line breaks and tabs become spaces, other C0 controls vanish."""
    if not _NEEDS_CLEANING.search(value):  # the common case: nothing to replace
        return value.strip()
    value = CONTROLS.sub("", LINE_BREAKS.sub(" ", value))
    return RUNS_OF_SPACES.sub(" ", SURROGATES.sub("\ufffd", value)).strip()


def header_text(value: object, defects: list[str] | None = None) -> str:
    """Decoded (8-bit and RFC 2047) and cleaned text of one raw header value."""
    return clean_header(_decode_words(unfold(value), defects if defects is not None else []))


def unfold(value: object) -> str:
    """Unfolded header text; raw 8-bit bytes are read as UTF-8, else as Windows-1252."""
    text = _FOLD.sub("", str(value))
    if text.isascii():
        return text
    raw = text.encode("utf-8", "surrogateescape")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", "replace")


def _decode_words(value: str, defects: list[str]) -> str:
    """Decode RFC 2047 encoded words; adjacent words of one charset are joined before decoding."""
    if "=?" not in value:
        return value
    out: list[str] = []
    pending: list[bytes] = []
    charset = ""
    pos = 0
    after_word = False

    def flush() -> None:
        if pending:
            out.append(decode_bytes(b"".join(pending), charset, defects, "header"))
            pending.clear()

    for match in _ENCODED_WORD.finditer(value):
        gap = value[pos : match.start()]
        pos = match.end()
        if gap and not (after_word and gap.isspace()):  # whitespace between words is dropped
            flush()
            out.append(gap)
        data = _word_bytes(match.group(2), match.group(3))
        word_charset = match.group(1).split("*", 1)[0].lower()
        if data is None:
            flush()
            defects.append("undecodable encoded word")
            out.append(match.group(0))
            after_word = False
            continue
        if word_charset != charset:
            flush()
            charset = word_charset
        pending.append(data)
        after_word = True
    flush()
    out.append(value[pos:])
    return "".join(out)


def _word_bytes(encoding: str, text: str) -> bytes | None:
    data = text.encode("utf-8", "surrogateescape")
    try:
        if encoding in "qQ":
            return binascii.a2b_qp(data, header=True)
        return binascii.a2b_base64(data + b"=" * (-len(data) % 4))
    except (binascii.Error, ValueError):
        return None


def decode_bytes(data: bytes, charset: str | None, defects: list[str], where: str) -> str:
    """Text for ``data`` in ``charset``; unknown or wrong labels fall back, never raise."""
    label = (charset or "").strip().strip("\"'").lower()
    codec = _codec(label)
    if label and codec is None and label not in _ASCII:
        defects.append(f"unknown charset {clean_header(label)[:40]!r} in {where}")
    for candidate in ([codec] if codec else []) + ["utf-8"]:
        try:
            return data.decode(candidate)
        except (UnicodeError, LookupError):
            continue
    if codec:
        defects.append(f"invalid {codec} in {where}")
        try:
            return SURROGATES.sub("\ufffd", data.decode(codec, "replace"))
        except (UnicodeError, LookupError):
            pass
    return data.decode("cp1252", "replace")


def _codec(label: str) -> str | None:
    if not label or label in _ASCII:
        return None
    name = _CHARSET_ALIASES.get(label, label)
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):
        return None
    if info.name.replace("-", "_") in _REFUSED_CODECS or not getattr(
        info, "_is_text_encoding", True
    ):
        return None
    return info.name


# ---------------------------------------------------------------- addresses and ids


def _address(name: str, addr: str, defects: list[str]) -> Address | None:
    addr = addr.strip()
    local, at, domain = addr.partition("@")
    if not (local and at and domain) or "@" in domain or len(addr) > 254:
        return None
    if _BAD_IN_ADDRESS.search(addr) and not _QUOTED.fullmatch(local):
        return None
    display = BIDI.sub("", header_text(name, defects))
    return Address(email=addr.lower(), name=display)


def address_list(msg: Message, field: str, defects: list[str]) -> tuple[Address, ...]:
    values = [_quote_words(unfold(value)) for value in raw_values(msg, field)]
    if not values:  # most mail has no Cc or Reply-To
        return ()
    found: list[Address] = []
    for name, addr in _getaddresses(values, field, defects):
        address = _address(name, addr, defects)
        if address is not None:
            found.append(address)
        elif name or addr:
            defects.append(f"invalid address in {field}")
    return tuple(found)


def _getaddresses(values: list[str], field: str, defects: list[str]) -> list[tuple[str, str]]:
    try:
        return getaddresses(values)
    except RecursionError:  # the stdlib address parser recurses on some garbage
        defects.append(f"unparseable {field} header")
        return []


def _quote_words(raw: str) -> str:
    """Encoded words as quoted strings, so a comma inside one cannot split an address list."""
    if "=?" not in raw:
        return raw

    def quote(match: re.Match[str]) -> str:
        if raw.count('"', 0, match.start()) % 2:
            return match.group(0)  # already inside a quoted string
        text = clean_header(_decode_words(match.group(0), []))
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

    return _WORD_RUN.sub(quote, raw)


def _display_free(raw: str) -> str:
    """``raw`` without quoted strings and encoded words (display-name text, not addresses)."""
    return _ENCODED_WORD.sub("", _QUOTED.sub("", raw))


def sender_address(msg: Message, defects: list[str]) -> Address | None:
    """The From mailbox, or None when From is missing, repeated, invalid or ambiguous."""
    values = raw_values(msg, "from")
    if len(values) != 1:
        if values:
            defects.append("several From headers")
        return None
    raw = _quote_words(unfold(values[0]))
    pairs = [pair for pair in _getaddresses([raw], "from", defects) if pair[1]]
    if len(pairs) != 1 and (rewrite := _GROUP_REWRITE.fullmatch(raw)) is not None:
        pairs = [(rewrite["name"], rewrite["addr"])]  # an unquoted comma in a group's rewrite
    if len(pairs) != 1 or len({a.lower() for a in _ADDR_LIKE.findall(_display_free(raw))}) > 1:
        defects.append("ambiguous From")
        return None
    sender = _address(*pairs[0], defects)
    if sender is None:
        defects.append("invalid From")
    return sender


def message_ids(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    text = clean_header(unfold(value))
    tokens = _ANGLE_TOKEN.findall(text) or ([text] if text and " " not in text else [])
    ids = ("".join(token.split()) for token in tokens)
    return tuple(f"<{token}>" for token in ids if 0 < len(token) <= 998)


def reference_ids(values: list[str]) -> tuple[str, ...]:
    ids = tuple(dict.fromkeys(i for value in values for i in message_ids(value)))
    if len(ids) <= MAX_REFERENCES:
        return ids
    return ids[:1] + ids[-(MAX_REFERENCES - 1) :]  # keep the thread root and the latest ids


def return_path(value: object, defects: list[str]) -> str | None:
    if value is None:
        return None
    text = clean_header(unfold(value))
    tokens = _ANGLE_TOKEN.findall(text)
    addr = (tokens[0] if tokens else text).strip()
    if not addr:
        return ""
    address = _address("", addr, defects)
    if address is None:
        defects.append("invalid Return-Path")
        return None
    return address.email
