"""The SIZE that MAIL FROM declares (RFC 1870) is the size of the message as DATA sends it:
aiosmtplib's own line-end normalisation, counted instead of built."""

from __future__ import annotations

import pytest
from aiosmtplib.protocol import normalize_message_line_endings

from mailtix.outbound.smtp_sender import _data_size, _path


@pytest.mark.parametrize(
    "raw",
    [b"", b"abc", b"a\r\n", b"a\n", b"a\r", b"\r", b"\n\r", b"x\r\r\n\n", b"a\r\nb\nc\rd\r\n\r\n"],
)
def test_size_is_that_of_the_data_sent(raw: bytes) -> None:
    assert _data_size(raw) == len(normalize_message_line_endings(raw))


def test_a_path_carries_only_the_address_and_a_bad_one_is_refused_every_time() -> None:
    assert _path("carol@example.org", "ascii") == b"<carol@example.org>"
    assert _path("carol@example.org> NOTIFY=NEVER", "ascii") == b"<carol@example.org>"
    for _ in range(2):  # a refusal is never remembered as an answer
        with pytest.raises(ValueError):
            _path("carol smith@example.org", "ascii")
