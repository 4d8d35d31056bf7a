"""Where the quoted history of a reply starts (pure): the line index of the first header,
separator or attribution line, and which rule found it.

mail-parser-reply's multi-language quote-header patterns ("On … wrote:", "Am … schrieb …:",
Outlook "From:/Sent:" blocks, "-----Original Message-----") run on the few lines that could be a
header; small rules cover what they miss: attribution lines wrapped over several lines or in other
languages, separators in other languages, Outlook blocks after a rule line, other help desks'
"reply above this line" markers and "Sent from my …" lines with history below them.
``reply_text`` decides what to cut from what this finds.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from mailparser_reply import EmailMessage
from mailparser_reply.constants import (
    GENERIC_MAIL_SEPARATOR,
    MAIL_LANGUAGES,
)

_EXTRA_LANGUAGES = ("zh", "ja", "ko")  # their patterns are specific enough to always use

QUOTED = re.compile(r"^\s*>")
INVISIBLE = re.compile(r"^[\s\u200b\u200c\u200d\u2060\ufeff\u1427]*$")
_ORIGINAL_SEPARATOR = re.compile(r"^\s*\*?-{4,}\s*[^\s-][^-]{0,50}?\s*-{4,}\*?\s*$")
#: "---Original Message---": three dashes only around the words that name a history
_SHORT_SEPARATOR = re.compile(
    r"^\s*\*?-{3}\s*(original message|original|forwarded message|ursprüngliche nachricht|"
    r"weitergeleitete nachricht|message d'origine|mensaje original|messaggio originale|"
    r"oorspronkelijk bericht|původní zpráva|ursprungligt meddelande)\s*-{3}\*?\s*$",
    re.IGNORECASE,
)
#: other help desks' "##- Please type your reply above this line -##" markers
_ABOVE_THIS_LINE = re.compile(
    r"\b(reply|type|write|respond|answer)\b.{0,40}\babove (this|the) line\b|"
    r"\boberhalb dieser zeile\b|\bau-dessus de cette ligne\b|\bencima de esta l[ií]nea\b",
    re.IGNORECASE,
)
_FORWARD_INTRO = re.compile(r"^\s*>?\s*(Begin forwarded message|Anfang der weitergeleiteten)\b.*:$")
_RULE_LINE = re.compile(r"^\s*[-_]{10,}\s*$")
HEADER_FIELD = re.compile(r"^\s*\*?([^\W\d_][\w'. -]{0,24}?)\s?\*?\s?:\*?(\s|$)")
_FROM_FIELD = re.compile(
    r"^\s*\*?(from|von|de|da|van|od|fra|från|lähettäjä|от|message du|afzender|发件人)\s?\*?\s?:",
    re.IGNORECASE,
)
_ATTRIBUTION_VERB = re.compile(
    r"\b(wrote|writes|schrieb|a écrit|escribió|escreveu|schreef|geschreven|ha scritto|"
    r"napisał|napisała|napisal|skrev|kirjoitti|написал|написала|пише|napsal)|写道",
    re.IGNORECASE,
)
_HEADER_HINT = re.compile(
    r"[:：]$|original|^[*> ]*(from|von|de|da|van|od|fra|från|sent|gesendet|envoyé|enviado|"
    r"inviato|verzonden|skickat|sendt|odesláno|date|datum|subject|betreff|objet|asunto|oggetto|"
    r"onderwerp|ämne|emne|předmět|发件人|보낸\s?사람)\s?\*?\s?:",
    re.IGNORECASE,
)
_ATTRIBUTION_END = re.compile(r"(:|：|\bwrote)$")
_ATTRIBUTION_TAILS = (":", "：", "wrote")  # how a line _ATTRIBUTION_END matches ends
#: a wrapped attribution's earlier lines: no sentence end, but a date, an address or "<"
_ATTRIBUTION_PART = re.compile(r"^(?!\s*>)(?=.*(\d|@|<$)).{1,200}(?<![^\W\d_][.!?])(?<!\.\.)\s*$")
_WRAPPED_COLON = re.compile(r"^\s*>\s*:$")  # Gmail wrapping "<addr\n>:"
_ANGLE_ADDRESS = re.compile(r"<[^<>\s]*@|@[^<>\s]*>|\[mailto:")
_SENT_FROM_EXTRA = (
    r"sent (?:from|with|via|by)\b|envoyé (?:de|depuis|à partir de)\b|von meinem\b|"
    r"get \[?outlook|diese nachricht wurde von|verzonden (?:met|vanaf)|enviado desde|"
    r"inviato da|from my (?:iphone|ipad|ipod|android|mobile|phone|samsung|galaxy)"
)


@dataclass(frozen=True)
class Cut:
    """Quoted history starts at ``start``; its header lines end before ``body``."""

    start: int
    body: int
    method: str
    quote_based: bool = False  # an attribution line whose history is ">"-quoted


def find_history(lines: list[str], languages: tuple[str, ...]) -> Cut | None:
    """The earliest history start any detector finds (library patterns first on a tie)."""
    found = [
        _library_header(lines, languages),
        _separator(lines),
        _header_block(lines),
        _attribution(lines),
    ]
    cuts = [cut for cut in found if cut is not None]
    if not cuts:
        return None
    best = min(cuts, key=lambda cut: cut.start)
    start = _start_of_quote_run(lines, best.start)
    if start != best.start:
        return Cut(start, best.body, best.method, quote_based=True)
    return best


@lru_cache(maxsize=16)
def _header_regex(languages: tuple[str, ...]) -> re.Pattern[str]:
    wanted = [lang for lang in (*languages, *_EXTRA_LANGUAGES) if lang in MAIL_LANGUAGES]
    pattern: re.Pattern[str] = EmailMessage(text="", languages=wanted).HEADER_REGEX
    return pattern


def _library_header(lines: list[str], languages: tuple[str, ...]) -> Cut | None:
    """mail-parser-reply's quote-header patterns, run on a line-aligned stripped copy.

    The patterns are slow (~12 ms per 10 KB), so they only run on the few lines around a line
    that could be part of a header: one ending in a colon, a "From:"-like field, a separator.
    """
    stripped_lines = [line.strip() for line in lines]
    stripped = "\n".join(stripped_lines)
    offsets = [0]
    for line in stripped_lines:
        offsets.append(offsets[-1] + len(line) + 1)
    regex = _header_regex(languages)
    for first, last in _regions(stripped_lines):
        match = regex.search(stripped, offsets[first], offsets[last] - 1)
        if match:
            return _library_cut(stripped, match)
    return None


def _regions(lines: list[str]) -> list[tuple[int, int]]:
    """Merged line ranges [first, last) of three lines either side of each header hint."""
    regions: list[tuple[int, int]] = []
    for index, line in enumerate(lines):
        if not _header_hint(line):
            continue
        first, last = max(0, index - 3), min(len(lines), index + 4)
        if regions and first <= regions[-1][1]:
            regions[-1] = (regions[-1][0], last)
        else:
            regions.append((first, last))
    return regions


def _header_hint(line: str) -> bool:
    """``_HEADER_HINT.search(line)``, run only on a line it can match: one with a colon, or
    "original" in it (any case; a line not all ASCII always, for Unicode case folding)."""
    if ":" in line or "：" in line or not line.isascii() or "original" in line.lower():
        return _HEADER_HINT.search(line) is not None
    return False


def _above_this_line(line: str) -> bool:
    """``_ABOVE_THIS_LINE.search(line)`` on a line of at most 120 characters, run only where
    one of its words is (an ASCII line without "line", "zeile" or "ligne" cannot match)."""
    if len(line) > 120:
        return False
    if line.isascii():
        lowered = line.lower()
        if "line" not in lowered and "zeile" not in lowered and "ligne" not in lowered:
            return False
    return _ABOVE_THIS_LINE.search(line) is not None


def _attribution_end(stripped: str) -> bool:
    """``_ATTRIBUTION_END.search(stripped)``: its ``$`` is the end of a stripped line, so only
    a line ending so can match."""
    return stripped.endswith(_ATTRIBUTION_TAILS) and _ATTRIBUTION_END.search(stripped) is not None


def _library_cut(stripped: str, match: re.Match[str]) -> Cut:
    offset = match.start() + len(match.group()) - len(match.group().lstrip("\n"))
    start = stripped.count("\n", 0, offset)
    body = stripped.count("\n", 0, match.end()) + 1
    header = match.group().strip()
    if re.match(GENERIC_MAIL_SEPARATOR, header, re.IGNORECASE | re.MULTILINE):
        return Cut(start, body, "outlook-separator '-----Original Message-----'")
    if HEADER_FIELD.match(header.lstrip("> ")):
        return Cut(start, body, "outlook-header-block 'From:/Sent:'")
    return Cut(start, body, "quote-header 'On … wrote:'", quote_based=True)


def _separator(lines: list[str]) -> Cut | None:
    """ "-------- Message d'origine --------" style lines (and "---Original Message---"),
    "Begin forwarded message:", other help desks' "Please type your reply above this line", a
    "Sent from my …" line with more text below it (the history, unquoted), and a rule line
    (Outlook's underscores, or dashes) directly followed by a header block."""
    for index, line in enumerate(lines):
        if _ORIGINAL_SEPARATOR.match(line) or _FORWARD_INTRO.match(line):
            return Cut(index, index + 1, "separator '-- Original Message --'")
        if _SHORT_SEPARATOR.match(line):
            return Cut(index, index + 1, "separator '---Original Message---'")
        if _above_this_line(line):
            return Cut(index, index + 1, "marker 'reply above this line'")
        if is_sent_from(line) and has_content(lines[:index]) and has_content(lines[index + 1 :]):
            return Cut(index, index + 1, "sent-from line 'Sent from my …'")
        if _RULE_LINE.match(line) and _header_block(lines[index + 1 : index + 4]) is not None:
            return Cut(index, index + 1, "outlook-separator '____'")
    return None


def _header_block(lines: list[str]) -> Cut | None:
    """A "From:" field followed by another field within three lines (any language)."""
    for index, line in enumerate(lines):
        if not _FROM_FIELD.match(line) or QUOTED.match(line):
            continue
        following = lines[index + 1 : index + 4]
        if any(HEADER_FIELD.match(other) for other in following):
            return Cut(index, index + 1, "header-block 'From: … / Sent: …'")
    return None


def _attribution(lines: list[str]) -> Cut | None:
    """An attribution line ("<date> <name> <addr> wrote:"), possibly wrapped over 2-4 lines."""
    for index, line in enumerate(lines):
        wrapped = _WRAPPED_COLON.match(line) is not None
        if not wrapped and (not _attribution_end(line.strip()) or QUOTED.match(line)):
            continue
        start = index
        while start > index - 3 and start > 0 and _ATTRIBUTION_PART.search(lines[start - 1]):
            start -= 1
        joined = " ".join(part.strip() for part in lines[start : index + 1])
        if _looks_like_attribution(joined, lines[index + 1 :]):
            return Cut(start, index + 1, "attribution '… <addr> wrote:'", quote_based=True)
    return None


def _looks_like_attribution(joined: str, after: list[str]) -> bool:
    if len(joined) > 300:
        return False
    verb = _ATTRIBUTION_VERB.search(joined[-40:]) is not None
    followed_by_quote = QUOTED.match(first_content(after)) is not None
    evidence = verb or followed_by_quote or _ANGLE_ADDRESS.search(joined) is not None
    return evidence and bool(re.search(r"[\d@]", joined))


def _start_of_quote_run(lines: list[str], start: int) -> int:
    """A header found inside a quoted block: the history starts where that block does."""
    if not QUOTED.match(lines[start]):
        return start
    while start > 0 and (QUOTED.match(lines[start - 1]) or not lines[start - 1].strip()):
        start -= 1
    while not QUOTED.match(lines[start]):
        start += 1
    return start


@lru_cache(maxsize=1)
def _sent_from() -> re.Pattern[str]:
    """Mobile-client lines: the library's "sent_from" patterns plus a few common others."""
    library = [str(spec["sent_from"]) for spec in MAIL_LANGUAGES.values() if spec.get("sent_from")]
    return re.compile(r"^[\W_]*(?:" + "|".join([*library, _SENT_FROM_EXTRA]) + ")", re.IGNORECASE)


def is_sent_from(line: str) -> bool:
    text = line.strip()
    if len(text) > 100 or not _sent_from().match(text):
        return False
    return bool(re.match(r"[\W_]*sent from my\b", text, re.IGNORECASE)) or text[-1] not in ".!?:;,"


def has_content(lines: list[str]) -> bool:
    return any(not INVISIBLE.match(line) and not QUOTED.match(line) for line in lines)


def first_content(lines: list[str]) -> str:
    return next((line for line in lines if line.strip()), "")
