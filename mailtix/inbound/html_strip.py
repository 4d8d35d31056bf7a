"""Text of HTML that is too large or too deeply nested to parse, in linear time: comments and
script/style/title content dropped, block tags as line breaks, other tags removed, entities
decoded. Only regular-expression scans that never look back, so hostile markup (unclosed tags,
unclosed comments, deep nesting) costs no more than its length.
"""

from __future__ import annotations

import html as html_entities
import re
from itertools import groupby

_BLOCKS = (
    *("address", "article", "aside", "blockquote", "br", "caption", "center", "dd", "div", "dl"),
    *("dt", "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5"),
    *("h6", "header", "hr", "li", "main", "nav", "ol", "p", "pre", "section", "table", "tbody"),
    *("td", "tfoot", "th", "thead", "tr", "ul"),
)


def _any_case(*names: str) -> str:
    """An alternation of ``names`` in any case, letters as [xX] and grouped by their first
    letter: with re.IGNORECASE or one branch per name these scans are two to four times
    slower."""
    branches = []
    for first, group in groupby(sorted(names), key=lambda name: name[0]):
        rests = sorted((name[1:] for name in group), key=len, reverse=True)
        branches.append(_letters(first) + "(?:" + "|".join(map(_letters, rests)) + ")")
    return "|".join(branches)


def _letters(text: str) -> str:
    return "".join(f"[{c}{c.upper()}]" if c.isalpha() else c for c in text)


_HIDDEN = ("script", "style", "title")
_HIDDEN_START = re.compile(rf"<!--|<({_any_case(*_HIDDEN)})(?![^\s/>])")
_HIDDEN_END = {name: re.compile(rf"</{_any_case(name)}\s*>") for name in _HIDDEN}
_BLOCK_TAG = re.compile(rf"</?(?:{_any_case(*_BLOCKS)})(?![^\s/>])[^<>]*>?")
_ANY_TAG = re.compile(r"</?[a-zA-Z!?][^<>]*>?")
_BLANK_LINES = re.compile(r"\n{3,}")


def strip_tags(markup: str) -> str:
    """Readable text of ``markup`` (any HTML, well-formed or not) without parsing it."""
    text = _BLOCK_TAG.sub("\n", _visible(markup))
    text = html_entities.unescape(_ANY_TAG.sub("", text))
    text = "\n".join(" ".join(line.split()) for line in text.split("\n"))  # 3x a regex's speed
    return (_BLANK_LINES.sub("\n\n", text) if "\n\n\n" in text else text).strip()


def _visible(markup: str) -> str:
    """``markup`` without comments and the content of script, style and title elements; an
    unclosed one hides the rest, as in a browser."""
    kept: list[str] = []
    pos = 0
    while (start := _HIDDEN_START.search(markup, pos)) is not None:
        kept.append(markup[pos : start.start()])
        name = start.group(1)
        if name is None:
            end = markup.find("-->", start.end())
            pos = len(markup) if end < 0 else end + 3
        else:
            close = _HIDDEN_END[name.lower()].search(markup, start.end())
            pos = len(markup) if close is None else close.end()
    kept.append(markup[pos:])
    return "".join(kept)
