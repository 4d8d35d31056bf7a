"""terminal_text: what the CLI prints shows controls and bidi overrides; JSON stays exact."""

from __future__ import annotations

import io
import json
import random

from mailtix.cli.terminal_text import PrintableStream, json_safe, printable

C0 = [chr(c) for c in range(0x20) if chr(c) not in "\n\t"]
OTHERS = [*map(chr, range(0x80, 0xA0)), "\u061c", "\u200e", "\u200f"]
BIDI = [*map(chr, range(0x202A, 0x202F)), *map(chr, range(0x2066, 0x206A))]


def test_c0_controls_and_delete_become_their_control_pictures() -> None:
    assert printable("\x1b[2J\x1b]0;title\x07") == "␛[2J␛]0;title␇"
    assert printable("a\rb\x00c\x7f") == "a␍b␀c␡"
    assert all(len(printable(c)) == 1 and printable(c) != c for c in C0)


def test_c1_and_bidi_controls_become_their_code_point() -> None:
    assert printable("\x9b2J") == "<U+009B>2J"
    assert printable("invoice\u202efdp.exe") == "invoice<U+202E>fdp.exe"
    for char in OTHERS + BIDI:
        assert printable(char) == f"<U+{ord(char):04X}>"


def test_newlines_tabs_and_ordinary_text_stay_as_they_are() -> None:
    text = "Grüße,\n\tשלום עולם, مرحبا, 你好 🎉 — “quoted” \u00a0nbsp\n"
    assert printable(text) == text


def test_json_safe_escapes_what_a_terminal_obeys_and_keeps_the_data() -> None:
    rng = random.Random(13)
    alphabet = C0 + OTHERS + BIDI + list('\x7faé"\\/\n\t😀')
    for _ in range(200):
        value = {"k": "".join(rng.choice(alphabet) for _ in range(30)), "n": [1, None]}
        document = json_safe(json.dumps(value, ensure_ascii=False, indent=2))
        assert json.loads(document) == value
        assert printable(document) == document  # nothing left for the terminal to obey


def test_the_stream_writes_through_printable_and_reports_the_whole_length() -> None:
    inner = io.StringIO()
    stream = PrintableStream(inner)
    assert stream.write("ok\x1b[0m\n") == 7
    stream.flush()
    assert inner.getvalue() == "ok␛[0m\n"
    assert not stream.isatty()
