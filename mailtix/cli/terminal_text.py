"""What the CLI writes for people carries no character a terminal would obey.

Mail is written by strangers: an escape sequence in a body can clear the screen, retitle the
window or write the clipboard (OSC 52), and a bidi override can make text read backwards. Every
C0 control but newline and tab, DEL, every C1 control and the bidi controls are shown instead:
C0 and DEL as their Unicode control pictures (ESC as "␛", CR as "␍", DEL as "␡"), the others
as ``<U+202E>``. JSON keeps its data exact: those characters become ``\\uXXXX`` escapes there.
"""

from __future__ import annotations

import io
import re
from typing import TextIO

UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
UNSAFE_IN_JSON = re.compile("[\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
CONTROL_PICTURES = 0x2400  # U+2400 SYMBOL FOR NULL; U+241B is ESC's picture
DELETE_PICTURE = "\u2421"


def _shown(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x20:
        return chr(CONTROL_PICTURES + code)
    if code == 0x7F:
        return DELETE_PICTURE
    return f"<U+{code:04X}>"


def printable(text: str) -> str:
    """``text`` with every character a terminal would act on shown visibly instead."""
    return UNSAFE.sub(_shown, text)


def json_safe(document: str) -> str:
    """A JSON document with C1 controls, DEL and bidi controls written as ``\\uXXXX`` escapes:
    the same data, and nothing a terminal obeys. Those characters only occur inside strings."""
    return UNSAFE_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", document)


class PrintableStream(io.TextIOBase):
    """A text stream that writes through ``printable`` to the stream it wraps."""

    def __init__(self, inner: TextIO) -> None:
        super().__init__()
        self.inner = inner

    def write(self, text: str) -> int:
        self.inner.write(printable(text))
        return len(text)

    def flush(self) -> None:
        self.inner.flush()

    def fileno(self) -> int:
        return self.inner.fileno()

    def isatty(self) -> bool:
        return self.inner.isatty()

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self.inner.encoding
