"""Measure mailtix.inbound.reply_text.visible_reply on the third-party reply fixtures; print
the table.

Run ``.venv/bin/python tests/bench/measure_replies.py`` (``-v`` lists every miss). The same
cases and scoring are used by tests/unit/inbound/test_reply_text.py, which asserts a floor
per source.

Sources (copied into tests/data/replies/, see tests/data/SOURCES.md):
- email-reply-trimmer: ``test/emails/X.txt`` -> ``test/trimmed/X.txt``;
- talon: ``standard_replies/*.eml`` -> ``<name>_reply_text`` or "Hello" (talon keeps signatures,
  mailtix removes them, so a result that is the expectation minus a removed signature also counts);
- email-reply-parser-crisp: ``expected-from-test-js.json`` (first fragment / visible text).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from mailtix.inbound.parse import parse_message  # noqa: E402
from mailtix.inbound.reply_text import ReplyText, visible_reply  # noqa: E402

REPLIES = HERE.parent / "data" / "replies"
TRIMMER = REPLIES / "email-reply-trimmer" / "test"
TALON = REPLIES / "talon"
CRISP = REPLIES / "email-reply-parser-crisp"

# Client family by file name; first match wins.
_FAMILIES = [
    ("gmail", "gmail"),
    ("outlook", "outlook|hotmail|msn|original_message|email_headers|dash_separator"),
    ("apple", "apple|iphone|ios"),
    ("thunderbird", "thunderbird"),
]


@dataclass(frozen=True)
class Case:
    """One fixture: where it is from, its input text and what the visible reply should be."""

    source: str
    name: str
    text: str
    expected: str
    talon_signature_ok: bool = False

    @property
    def family(self) -> str:
        for family, pattern in _FAMILIES:
            if re.search(pattern, self.name, re.IGNORECASE):
                return family
        return "other"


def _squash(text: str) -> str:
    return " ".join(text.split())


def verdict(case: Case, result: ReplyText) -> str:
    """ "exact", "whitespace" (equal once whitespace is normalised) or "miss"."""
    got, want = result.text.strip(), case.expected.strip()
    if got == want:
        return "exact"
    if _squash(got) == _squash(want):
        return "whitespace"
    # talon keeps the signature: expected == our text + the signature we removed
    kept_signature = _squash(got + "\n" + result.removed).startswith(_squash(want))
    if case.talon_signature_ok and got and result.removed and kept_signature:
        return "exact"
    return "miss"


def trimmer_cases() -> Iterator[Case]:
    for path in sorted((TRIMMER / "emails").glob("*.txt")):
        expected = (TRIMMER / "trimmed" / path.name).read_bytes().decode()
        yield Case("email-reply-trimmer", path.stem, path.read_bytes().decode(), expected)


def talon_cases() -> Iterator[Case]:
    folder = TALON / "tests" / "fixtures" / "standard_replies"
    for path in sorted(folder.glob("*.eml")):
        expected_file = folder / f"{path.stem}_reply_text"
        expected = expected_file.read_text() if expected_file.exists() else "Hello"
        text = parse_message(path.read_bytes()).text
        yield Case("talon", path.stem, text, expected, talon_signature_ok=True)


def crisp_cases() -> Iterator[Case]:
    spec = json.loads((CRISP / "expected-from-test-js.json").read_text())
    for rel, checks in spec["expected"].items():
        text = (CRISP / rel).read_bytes().decode()
        for check in checks:
            expected = check.get("expected_first_fragment", check.get("expected_visible_text"))
            yield Case("email-reply-parser-crisp", Path(rel).stem, text, expected)


def all_cases() -> list[Case]:
    return [*trimmer_cases(), *talon_cases(), *crisp_cases()]


@dataclass
class Score:
    exact: int = 0
    whitespace: int = 0
    total: int = 0

    def add(self, outcome: str) -> None:
        self.total += 1
        self.exact += outcome == "exact"
        self.whitespace += outcome in ("exact", "whitespace")

    def __str__(self) -> str:
        pct = 100 * self.whitespace / self.total if self.total else 0.0
        ws = f"{self.whitespace:3d} ws-normalised"
        return f"{self.exact:3d} exact, {ws} / {self.total:3d} ({pct:.0f}%)"


def score(
    cases: list[Case], reply: Callable[[str], ReplyText] = visible_reply
) -> tuple[dict[str, Score], dict[str, Score], list[tuple[Case, ReplyText]]]:
    """Per-source and per-(source, family) scores plus the misses."""
    by_source: dict[str, Score] = {}
    by_family: dict[str, Score] = {}
    misses: list[tuple[Case, ReplyText]] = []
    for case in cases:
        result = reply(case.text)
        outcome = verdict(case, result)
        by_source.setdefault(case.source, Score()).add(outcome)
        by_family.setdefault(f"{case.source} / {case.family}", Score()).add(outcome)
        if outcome == "miss":
            misses.append((case, result))
    return by_source, by_family, misses


def table(cases: list[Case] | None = None, verbose: bool = False) -> str:
    by_source, by_family, misses = score(cases if cases is not None else all_cases())
    lines = ["per source:"]
    lines += [f"  {name:45s} {s}" for name, s in by_source.items()]
    lines.append("per client family (from file names):")
    lines += [f"  {name:45s} {s}" for name, s in sorted(by_family.items())]
    lines.append("misses: " + ", ".join(f"{c.source}/{c.name}" for c, _ in misses))
    if verbose:
        for case, result in misses:
            lines.append(f"\n=== {case.source}/{case.name} [{result.method}]")
            lines.append(f"--- got:\n{result.text.strip()}\n--- want:\n{case.expected.strip()}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(table(verbose="-v" in sys.argv))
