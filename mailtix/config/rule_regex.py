"""Admin-written rule patterns: compiled once, searched under a time limit, and checked for the
nested quantifiers that make a backtracking engine take exponential time.

Patterns are Python syntax, run by the ``regex`` module (its VERSION0 behaves as ``re`` does),
whose searches take a timeout: a pattern that backtracks on hostile mail is stopped and counts
as no match instead of stalling intake.
"""

from __future__ import annotations

import functools
import re
import time
import warnings
from re import _constants as sre  # type: ignore[attr-defined]  # the stdlib's own reader
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

REPEATS = (sre.MAX_REPEAT, sre.MIN_REPEAT)
NO_BACKTRACKING = (sre.ATOMIC_GROUP, sre.POSSESSIVE_REPEAT)
SEARCH_SECONDS = 0.25  # one pattern search; one that takes longer counts as no match
MESSAGE_SECONDS = 1.0  # all the pattern searches for one message together


@functools.lru_cache(maxsize=1024)
def compiled(pattern: str) -> Any | None:
    """The pattern compiled case-insensitively, once; None if it is invalid. (``regex`` is
    imported here, where rules are loaded: commands that read no rules never pay for it.)"""
    import regex

    try:
        return regex.compile(pattern, regex.IGNORECASE | regex.VERSION0)
    except (regex.error, OverflowError, RecursionError):
        return None


def problem(pattern: str) -> str:
    """Why ``pattern`` cannot be used, or "" when it compiles. Python's own syntax is the
    contract, so ``re`` judges first (and words the error); ``regex`` must then accept it too."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            re.compile(pattern, re.IGNORECASE)
    except (re.error, OverflowError, RecursionError) as exc:
        return f"invalid regex: {exc}"
    if compiled(pattern) is None:  # compiled once, at load
        return "invalid regex: not accepted by the regex module"
    return ""


class Budget:
    """Seconds of searching left for one message; every search takes its time from here."""

    def __init__(self, seconds: float, per_search: float) -> None:
        self.deadline = time.monotonic() + seconds
        self.per_search = per_search

    def left(self) -> float:
        return min(self.per_search, self.deadline - time.monotonic())


def search(pattern: str, text: str, budget: Budget) -> bool | None:
    """Whether ``pattern`` occurs in ``text``; None when the search ran out of time."""
    found = compiled(pattern)
    if found is None:
        return False
    seconds = budget.left()
    if seconds <= 0:
        return None
    try:
        return found.search(text, timeout=seconds) is not None
    except TimeoutError:
        return None


def nested_quantifier(pattern: str) -> bool:
    """Whether a repeated part of ``pattern`` itself repeats a variable number of times, as in
    ``(a+)+``, ``(.*)*`` or ``(\\w+\\s?)*``. Patterns ``re`` cannot read are not judged."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = sre_parse.parse(pattern)
    except (re.error, OverflowError, RecursionError):
        return False
    return _nested(tree, inside=False)


def _nested(items: Any, *, inside: bool) -> bool:
    for op, av in items:
        if op in REPEATS:
            low, high, sub = av
            if inside and high > 1 and high != low:
                return True
            if _nested(sub, inside=inside or high > 1):
                return True
        elif op not in NO_BACKTRACKING and any(
            _nested(sub, inside=inside) for sub in _children(av)
        ):
            return True
    return False


def _children(av: Any) -> list[Any]:
    values = av if isinstance(av, tuple | list) else (av,)
    found: list[Any] = []
    for value in values:
        if isinstance(value, sre_parse.SubPattern):
            found.append(value)
        elif isinstance(value, list):
            found.extend(v for v in value if isinstance(v, sre_parse.SubPattern))
    return found
