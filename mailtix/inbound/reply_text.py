"""Find what the sender of a reply actually wrote: quoted history and signature removed.

The only module that imports mail-parser-reply. Its multi-language quote-header patterns ("On …
wrote:", "Am … schrieb …:", Outlook "From:/Sent:" blocks, "-----Original Message-----") find
where the history starts. The library's own splitter is not used: it strips every line (losing
indentation), cuts at "Thanks," / "Best regards" and at hyphen lists (losing the agent's words) and
keeps history that starts the mail. A few small rules, each measured on the reply fixtures
in tests/data/replies (see tests/bench/measure_replies.py), cover what the patterns miss:
attribution lines split over several lines or in other languages, separators in other
languages, Outlook blocks after a rule line, the RFC 3676 "-- " signature, "Sent from my …"
lines and bottom-posting.

Losing the agent's words is worse than relaying a quote: when nothing but quotes is found, the
input is returned unchanged with method "none". ``visible_reply`` never raises.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from functools import lru_cache

from mailparser_reply import EmailMessage
from mailparser_reply.constants import (
    GENERIC_MAIL_SEPARATOR,
    MAIL_LANGUAGES,
)

log = logging.getLogger(__name__)

#: Languages whose quote headers are recognised. Polish is left out on purpose: its library
#: pattern fires on a single "Data:" / "Do:" line, which an agent may well write; Polish
#: "Dnia … napisał(a):" lines are still found by the attribution rule.
DEFAULT_LANGUAGES: tuple[str, ...] = ("en", "de", "fr", "es", "it", "nl", "sv", "da", "cs")
_EXTRA_LANGUAGES = ("zh", "ja", "ko")  # their patterns are specific enough to always use

_QUOTED = re.compile(r"^\s*>")
_INVISIBLE = re.compile(r"^[\s\u200b\u200c\u200d\u2060\ufeff\u1427]*$")
_DECORATION = re.compile(r"^\s*[-_=*~#+]{3,}\s*$")
_RFC3676_DELIMITER = re.compile(r"^--\s?$")
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
_HEADER_FIELD = re.compile(r"^\s*\*?([^\W\d_][\w'. -]{0,24}?)\s?\*?\s?:\*?(\s|$)")
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
class ReplyText:
    """What the sender wrote (``text``), what was cut off (``removed``) and which rule did it."""

    text: str
    removed: str
    method: str


@dataclass(frozen=True)
class _Cut:
    """Quoted history starts at ``start``; its header lines end before ``body``."""

    start: int
    body: int
    method: str
    quote_based: bool = False  # an attribution line whose history is ">"-quoted


def visible_reply(text: str, languages: Sequence[str] = DEFAULT_LANGUAGES) -> ReplyText:
    """The part of ``text`` its sender wrote; ``text`` unchanged (method "none") if unsure."""
    try:
        return _visible_reply(text, tuple(languages))
    except Exception:  # a heuristic must never cost the agent's reply
        log.exception("reply trimming failed; relaying the text unchanged")
        return ReplyText(text.rstrip(), "", "none")


def authored_words(text: str, languages: Sequence[str] = DEFAULT_LANGUAGES) -> str:
    """What the sender wrote, or "" when nothing is left but quoted history and a signature.

    Stricter than ``visible_reply`` (which keeps doubtful text): used to decide whether an
    agent's mail has anything to relay at all, e.g. a commands-only reply under which the
    mail client put a signature and the quoted notification.
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    first = next((i for i, line in enumerate(lines) if not _INVISIBLE.match(line)), None)
    if first is None or _RFC3676_DELIMITER.match(lines[first]):
        return ""
    try:
        cut = _find_history(lines, tuple(languages))
    except Exception:  # a heuristic must never cost the agent's reply
        log.exception("reply trimming failed")
        cut = None
    if cut is not None and cut.start <= first:
        return ""
    words = visible_reply(text, languages).text
    kept, _ = _strip_signature(words.split("\n"), [])
    if not _has_content(kept):  # only quoted lines are left
        return ""
    return _join(_trim_trailing(kept)).strip()


def _visible_reply(text: str, languages: tuple[str, ...]) -> ReplyText:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    methods: list[str] = []
    cut = _find_history(lines, languages)
    kept, removed = _apply_cut(lines, cut, methods) if cut else _drop_quoted_tail(lines, methods)
    if not methods and cut:  # history starts the mail and nothing follows it: all quoted
        return ReplyText(_join(_trim_trailing(lines)), "", "none")
    kept, signature = _strip_signature(kept, methods)
    kept = _trim_trailing(kept, decoration=bool(cut))
    if not methods or not _has_content(kept):
        return ReplyText(_join(_trim_trailing(lines)), "", "none")
    return ReplyText(_join(kept), _join(signature + removed).strip("\n"), " + ".join(methods))


def cut_quoted_mail(text: str, markers: Collection[str]) -> str:
    """``text`` up to a quoted copy of a mail whose own lines are ``markers`` (normalised as
    ``normalise_line`` does): from the first line that is one of them, together with the
    header block, rule line and blank lines right above it (Outlook's "Feladó: … Tárgy: …" in
    any language). ``text`` unchanged when no marker is found."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    hit = next((i for i, line in enumerate(lines) if normalise_line(line) in markers), None)
    if hit is None:
        return text
    start = hit
    while start > 0 and not lines[start - 1].strip():
        start -= 1
    fields = start
    while fields > 0 and _HEADER_FIELD.match(lines[fields - 1].lstrip("> ")):
        fields -= 1
    if start - fields >= 2:  # a header block, not an agent's "Note: …" line
        start = fields
        while start > 0 and (_DECORATION.match(lines[start - 1]) or not lines[start - 1].strip()):
            start -= 1
    return _join(lines[:start])


def normalise_line(line: str) -> str:
    """A line as compared with a sent mail's: quote marks, case and runs of space ignored."""
    return " ".join(line.lstrip(" \t>").split()).lower()


# ---------------------------------------------------------------- where the history starts


def _find_history(lines: list[str], languages: tuple[str, ...]) -> _Cut | None:
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
        return _Cut(start, best.body, best.method, quote_based=True)
    return best


@lru_cache(maxsize=16)
def _header_regex(languages: tuple[str, ...]) -> re.Pattern[str]:
    wanted = [lang for lang in (*languages, *_EXTRA_LANGUAGES) if lang in MAIL_LANGUAGES]
    pattern: re.Pattern[str] = EmailMessage(text="", languages=wanted).HEADER_REGEX
    return pattern


def _library_header(lines: list[str], languages: tuple[str, ...]) -> _Cut | None:
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
        if not _HEADER_HINT.search(line):
            continue
        first, last = max(0, index - 3), min(len(lines), index + 4)
        if regions and first <= regions[-1][1]:
            regions[-1] = (regions[-1][0], last)
        else:
            regions.append((first, last))
    return regions


def _library_cut(stripped: str, match: re.Match[str]) -> _Cut:
    offset = match.start() + len(match.group()) - len(match.group().lstrip("\n"))
    start = stripped.count("\n", 0, offset)
    body = stripped.count("\n", 0, match.end()) + 1
    header = match.group().strip()
    if re.match(GENERIC_MAIL_SEPARATOR, header, re.IGNORECASE | re.MULTILINE):
        return _Cut(start, body, "outlook-separator '-----Original Message-----'")
    if _HEADER_FIELD.match(header.lstrip("> ")):
        return _Cut(start, body, "outlook-header-block 'From:/Sent:'")
    return _Cut(start, body, "quote-header 'On … wrote:'", quote_based=True)


def _separator(lines: list[str]) -> _Cut | None:
    """ "-------- Message d'origine --------" style lines (and "---Original Message---"),
    "Begin forwarded message:", other help desks' "Please type your reply above this line", a
    "Sent from my …" line with more text below it (the history, unquoted), and a rule line
    (Outlook's underscores, or dashes) directly followed by a header block."""
    for index, line in enumerate(lines):
        if _ORIGINAL_SEPARATOR.match(line) or _FORWARD_INTRO.match(line):
            return _Cut(index, index + 1, "separator '-- Original Message --'")
        if _SHORT_SEPARATOR.match(line):
            return _Cut(index, index + 1, "separator '---Original Message---'")
        if len(line) <= 120 and _ABOVE_THIS_LINE.search(line):
            return _Cut(index, index + 1, "marker 'reply above this line'")
        if _is_sent_from(line) and _has_content(lines[:index]) and _has_content(lines[index + 1 :]):
            return _Cut(index, index + 1, "sent-from line 'Sent from my …'")
        if _RULE_LINE.match(line) and _header_block(lines[index + 1 : index + 4]) is not None:
            return _Cut(index, index + 1, "outlook-separator '____'")
    return None


def _header_block(lines: list[str]) -> _Cut | None:
    """A "From:" field followed by another field within three lines (any language)."""
    for index, line in enumerate(lines):
        if not _FROM_FIELD.match(line) or _QUOTED.match(line):
            continue
        following = lines[index + 1 : index + 4]
        if any(_HEADER_FIELD.match(other) for other in following):
            return _Cut(index, index + 1, "header-block 'From: … / Sent: …'")
    return None


def _attribution(lines: list[str]) -> _Cut | None:
    """An attribution line ("<date> <name> <addr> wrote:"), possibly wrapped over 2-4 lines."""
    for index, line in enumerate(lines):
        wrapped = _WRAPPED_COLON.match(line) is not None
        if not wrapped and (not _ATTRIBUTION_END.search(line.strip()) or _QUOTED.match(line)):
            continue
        start = index
        while start > index - 3 and start > 0 and _ATTRIBUTION_PART.search(lines[start - 1]):
            start -= 1
        joined = " ".join(part.strip() for part in lines[start : index + 1])
        if _looks_like_attribution(joined, lines[index + 1 :]):
            return _Cut(start, index + 1, "attribution '… <addr> wrote:'", quote_based=True)
    return None


def _looks_like_attribution(joined: str, after: list[str]) -> bool:
    if len(joined) > 300:
        return False
    verb = _ATTRIBUTION_VERB.search(joined[-40:]) is not None
    followed_by_quote = _QUOTED.match(_first_content(after)) is not None
    evidence = verb or followed_by_quote or _ANGLE_ADDRESS.search(joined) is not None
    return evidence and bool(re.search(r"[\d@]", joined))


def _start_of_quote_run(lines: list[str], start: int) -> int:
    """A header found inside a quoted block: the history starts where that block does."""
    if not _QUOTED.match(lines[start]):
        return start
    while start > 0 and (_QUOTED.match(lines[start - 1]) or not lines[start - 1].strip()):
        start -= 1
    while not _QUOTED.match(lines[start]):
        start += 1
    return start


# ---------------------------------------------------------------- cutting


def _apply_cut(lines: list[str], cut: _Cut, methods: list[str]) -> tuple[list[str], list[str]]:
    """Cut at the history, unless the sender wrote below a ">"-quote (bottom/inline posting)."""
    before, after = lines[: cut.start], lines[cut.body :]
    quote_end = _end_of_quote_run(after)
    below = _without_signature(after[quote_end:])
    written_below = cut.quote_based and quote_end > 0 and _has_content(below)
    if _has_content(before):
        if written_below and not after[quote_end - 1].strip():
            methods.append(cut.method + " (inline reply kept)")
            kept, tail = _drop_quoted_tail(before + after, [])
            return kept, lines[cut.start : cut.body] + tail
        methods.append(cut.method)
        return before, lines[cut.start :]
    if written_below:  # history on top, the reply below it
        methods.append(cut.method + " (bottom-posted)")
        return after[quote_end:], lines[: cut.body + quote_end]
    return lines, []


def _end_of_quote_run(lines: list[str]) -> int:
    """Index just past the blank and ">" lines at the start of ``lines`` (0 if not quoted)."""
    index = 0
    seen_quote = False
    while index < len(lines) and (_QUOTED.match(lines[index]) or not lines[index].strip()):
        seen_quote = seen_quote or bool(_QUOTED.match(lines[index]))
        index += 1
    return index if seen_quote else 0


def _drop_quoted_tail(lines: list[str], methods: list[str]) -> tuple[list[str], list[str]]:
    """Remove the ">"-quoted block (and blank lines) that ends the text."""
    end = len(lines)
    while end > 0 and (_QUOTED.match(lines[end - 1]) or not lines[end - 1].strip()):
        end -= 1
    if any(_QUOTED.match(line) for line in lines[end:]) and _has_content(lines[:end]):
        methods.append("quoted-tail '>'")
        return lines[:end], lines[end:]
    return lines, []


# ---------------------------------------------------------------- signatures


@lru_cache(maxsize=1)
def _sent_from() -> re.Pattern[str]:
    """Mobile-client lines: the library's "sent_from" patterns plus a few common others."""
    library = [str(spec["sent_from"]) for spec in MAIL_LANGUAGES.values() if spec.get("sent_from")]
    return re.compile(r"^[\W_]*(?:" + "|".join([*library, _SENT_FROM_EXTRA]) + ")", re.IGNORECASE)


def _is_sent_from(line: str) -> bool:
    text = line.strip()
    if len(text) > 100 or not _sent_from().match(text):
        return False
    return bool(re.match(r"[\W_]*sent from my\b", text, re.IGNORECASE)) or text[-1] not in ".!?:;,"


def _without_signature(lines: list[str]) -> list[str]:
    """``lines`` without an RFC 3676 signature or "Sent from my …" lines."""
    for index, line in enumerate(lines):
        if _RFC3676_DELIMITER.match(line):
            return lines[:index]
    return [line for line in lines if not _is_sent_from(line)]


def _strip_signature(lines: list[str], methods: list[str]) -> tuple[list[str], list[str]]:
    """Cut at an RFC 3676 "-- " delimiter, then drop trailing "Sent from my …" lines."""
    for index, line in enumerate(lines):
        if _RFC3676_DELIMITER.match(line) and _has_content(lines[:index]):
            methods.append("signature '-- '")
            lines, removed = lines[:index], lines[index:]
            break
    else:
        removed = []
    end = len(lines)
    while end > 0 and (not lines[end - 1].strip() or _is_sent_from(lines[end - 1])):
        end -= 1
    if any(line.strip() for line in lines[end:]) and _has_content(lines[:end]):
        methods.append("signature 'Sent from my …'")
        return lines[:end], lines[end:] + removed
    return lines, removed


# ---------------------------------------------------------------- helpers


def _has_content(lines: list[str]) -> bool:
    return any(not _INVISIBLE.match(line) and not _QUOTED.match(line) for line in lines)


def _first_content(lines: list[str]) -> str:
    return next((line for line in lines if line.strip()), "")


def _trim_trailing(lines: list[str], decoration: bool = False) -> list[str]:
    """Drop trailing blank (or invisible) lines, and rule lines left above a cut."""
    end = len(lines)
    while end > 0 and (
        _INVISIBLE.match(lines[end - 1]) or (decoration and _DECORATION.match(lines[end - 1]))
    ):
        end -= 1
    return lines[:end]


def _join(lines: list[str]) -> str:
    return "\n".join(lines)
