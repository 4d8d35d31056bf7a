"""mailtix.inbound.quote_history: the cheap checks in front of its unanchored patterns answer
exactly as the patterns do, including Unicode case folding ("ı", "İ" match "i" ignoring
case) and the word boundary before "wrote"."""

from __future__ import annotations

import pytest

from mailtix.inbound import quote_history as qh

LINES = [
    "", "Thanks for your help", "From: Bob <bob@example.test>", "Sent: Monday", "On Mon, x wrote:",
    "Bob wrote", "Bobwrote", "_wrote", "Wrote", "written", "Am Montag schrieb Bob：",
    "-----Original Message-----", "ORİGİNAL message", "orıginal", "the ORIGINAL mail",
    "##- Please type your reply above this line -##", "REPLY ABOVE THIS LINE",
    "reply above this lİne", "reply above this lıne", "Bitte oberhalb dieser Zeile antworten",
    "Répondez au-dessus de cette ligne",
    "Responda encima de esta línea", "responda encima de esta linea", "above the line, reply",
    "reply " + "x" * 120 + " above this line", "x" * 130, "\u3000From：", "wrote\u2028",
]  # fmt: skip


@pytest.mark.parametrize("line", LINES)
def test_prefiltered_checks_agree_with_their_patterns(line: str) -> None:
    assert qh._header_hint(line) == bool(qh._HEADER_HINT.search(line))
    expected_above = len(line) <= 120 and bool(qh._ABOVE_THIS_LINE.search(line))
    assert qh._above_this_line(line) == expected_above
    stripped = line.strip()
    assert qh._attribution_end(stripped) == bool(qh._ATTRIBUTION_END.search(stripped))


def test_the_folded_lines_do_match() -> None:
    """The lines above that only Unicode folding or a boundary makes match, so the test
    covers the branch that runs the pattern on non-ASCII text."""
    assert qh._header_hint("orıginal") and qh._above_this_line("reply above this lıne")
    assert qh._attribution_end("Bob wrote") and not qh._attribution_end("Bobwrote")
