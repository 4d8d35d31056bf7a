"""The subject of an agent-forwarded customer mail loses the wrappers real clients add."""

from __future__ import annotations

import pytest

from mailtix.decisions.forwarded import strip_forward_prefix


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("[carol@example.org: Printer broken]", "Printer broken"),  # neomutt f, default
        ("Fwd: [carol@example.org: Fw: Printer broken]", "Printer broken"),
        ("Fwd: WG: TR: Printer broken", "Printer broken"),  # Gmail, Outlook de/fr
        ("FW: Printer broken", "Printer broken"),  # Outlook
        ("[Fwd: Printer broken]", "Printer broken"),  # Netscape, old Thunderbird
        ("Printer broken (fwd)", "Printer broken"),  # pine, alpine
        ("[URGENT: server down]", "[URGENT: server down]"),  # not a forward
        ("Re: Printer broken", "Re: Printer broken"),
        ("Fwd:", "Fwd:"),  # nothing left: kept as it was
        ("[carol@example.org: ]", "[carol@example.org: ]"),
    ],
)
def test_forward_wrappers_are_stripped(subject: str, expected: str) -> None:
    assert strip_forward_prefix(subject) == expected
