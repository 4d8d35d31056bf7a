"""Find what the sender of a reply actually wrote: quoted history and signature removed.

``quote_history`` finds where the history starts; this module decides what to cut. The
library's own splitter is not used: it strips every line (losing indentation), cuts at
"Thanks," / "Best regards" and at hyphen lists (losing the agent's words) and keeps history that
starts the mail. Inline and bottom-posted replies keep the sender's words, the RFC 3676 "-- "
signature and trailing "Sent from my …" lines go; each rule is measured on the reply fixtures
in tests/data/replies (see tests/bench/measure_replies.py).

Losing the agent's words is worse than relaying a quote: when nothing but quotes is found, the
input is returned unchanged with method "none". ``visible_reply`` never raises.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from mailtix.inbound.quote_history import (
    HEADER_FIELD,
    INVISIBLE,
    QUOTED,
    Cut,
    find_history,
    has_content,
    is_sent_from,
)

log = logging.getLogger(__name__)

#: Languages whose quote headers are recognised. Polish is left out on purpose: its library
#: pattern fires on a single "Data:" / "Do:" line, which an agent may well write; Polish
#: "Dnia … napisał(a):" lines are still found by the attribution rule.
DEFAULT_LANGUAGES: tuple[str, ...] = ("en", "de", "fr", "es", "it", "nl", "sv", "da", "cs")
_DECORATION = re.compile(r"^\s*[-_=*~#+]{3,}\s*$")
_RFC3676_DELIMITER = re.compile(r"^--\s?$")


@dataclass(frozen=True)
class ReplyText:
    """What the sender wrote (``text``), what was cut off (``removed``) and which rule did it."""

    text: str
    removed: str
    method: str


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
    first = next((i for i, line in enumerate(lines) if not INVISIBLE.match(line)), None)
    if first is None or _RFC3676_DELIMITER.match(lines[first]):
        return ""
    try:
        cut = find_history(lines, tuple(languages))
    except Exception:  # a heuristic must never cost the agent's reply
        log.exception("reply trimming failed")
        cut = None
    if cut is not None and cut.start <= first:
        return ""
    words = visible_reply(text, languages).text
    kept, _ = _strip_signature(words.split("\n"), [])
    if not has_content(kept):  # only quoted lines are left
        return ""
    return _join(_trim_trailing(kept)).strip()


def _visible_reply(text: str, languages: tuple[str, ...]) -> ReplyText:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    methods: list[str] = []
    cut = find_history(lines, languages)
    kept, removed = _apply_cut(lines, cut, methods) if cut else _drop_quoted_tail(lines, methods)
    if not methods and cut:  # history starts the mail and nothing follows it: all quoted
        return ReplyText(_join(_trim_trailing(lines)), "", "none")
    kept, signature = _strip_signature(kept, methods)
    kept = _trim_trailing(kept, decoration=bool(cut))
    if not methods or not has_content(kept):
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
    while fields > 0 and HEADER_FIELD.match(lines[fields - 1].lstrip("> ")):
        fields -= 1
    if start - fields >= 2:  # a header block, not an agent's "Note: …" line
        start = fields
        while start > 0 and (_DECORATION.match(lines[start - 1]) or not lines[start - 1].strip()):
            start -= 1
    return _join(lines[:start])


def normalise_line(line: str) -> str:
    """A line as compared with a sent mail's: quote marks, case and runs of space ignored."""
    return " ".join(line.lstrip(" \t>").split()).lower()


# ---------------------------------------------------------------- cutting


def _apply_cut(lines: list[str], cut: Cut, methods: list[str]) -> tuple[list[str], list[str]]:
    """Cut at the history, unless the sender wrote below a ">"-quote (bottom/inline posting)."""
    before, after = lines[: cut.start], lines[cut.body :]
    quote_end = _end_of_quote_run(after)
    below = _without_signature(after[quote_end:])
    written_below = cut.quote_based and quote_end > 0 and has_content(below)
    if has_content(before):
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
    while index < len(lines) and (QUOTED.match(lines[index]) or not lines[index].strip()):
        seen_quote = seen_quote or bool(QUOTED.match(lines[index]))
        index += 1
    return index if seen_quote else 0


def _drop_quoted_tail(lines: list[str], methods: list[str]) -> tuple[list[str], list[str]]:
    """Remove the ">"-quoted block (and blank lines) that ends the text."""
    end = len(lines)
    while end > 0 and (QUOTED.match(lines[end - 1]) or not lines[end - 1].strip()):
        end -= 1
    if any(QUOTED.match(line) for line in lines[end:]) and has_content(lines[:end]):
        methods.append("quoted-tail '>'")
        return lines[:end], lines[end:]
    return lines, []


# ---------------------------------------------------------------- signatures


def _without_signature(lines: list[str]) -> list[str]:
    """``lines`` without an RFC 3676 signature or "Sent from my …" lines."""
    for index, line in enumerate(lines):
        if _RFC3676_DELIMITER.match(line):
            return lines[:index]
    return [line for line in lines if not is_sent_from(line)]


def _strip_signature(lines: list[str], methods: list[str]) -> tuple[list[str], list[str]]:
    """Cut at an RFC 3676 "-- " delimiter, then drop trailing "Sent from my …" lines."""
    for index, line in enumerate(lines):
        if _RFC3676_DELIMITER.match(line) and has_content(lines[:index]):
            methods.append("signature '-- '")
            lines, removed = lines[:index], lines[index:]
            break
    else:
        removed = []
    end = len(lines)
    while end > 0 and (not lines[end - 1].strip() or is_sent_from(lines[end - 1])):
        end -= 1
    if any(line.strip() for line in lines[end:]) and has_content(lines[:end]):
        methods.append("signature 'Sent from my …'")
        return lines[:end], lines[end:] + removed
    return lines, removed


# ---------------------------------------------------------------- helpers


def _trim_trailing(lines: list[str], decoration: bool = False) -> list[str]:
    """Drop trailing blank (or invisible) lines, and rule lines left above a cut."""
    end = len(lines)
    while end > 0 and (
        INVISIBLE.match(lines[end - 1]) or (decoration and _DECORATION.match(lines[end - 1]))
    ):
        end -= 1
    return lines[:end]


def _join(lines: list[str]) -> str:
    return "\n".join(lines)
