"""How log lines look: text, or (``[logging] format = "json"``) one JSON object per line with
``time``, ``level``, ``logger``, ``message`` and, where they apply, ``mailbox``, ``ticket`` and
``message_id`` (from a call's ``extra=`` or the surrounding ``log_context``), plus
``exception`` with the traceback. JSON lines are pure ASCII: control characters, bidi controls
and newlines from mail arrive escaped. Text lines show such characters as ``cli.terminal_text``
does (ESC as "␛", bidi controls as ``<U+202E>``), also where no CLI stream wraps stderr (the
sender process). Configured secrets (passwords, the agent secret) are masked in both formats
before anything is written.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

FIELDS = ("mailbox", "ticket", "message_id")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
NOISY = ("mailparser", "apscheduler", "imapclient", "aiosmtplib")
MIN_SECRET = 4  # shorter "secrets" would mask ordinary words
MASK = "***"
MAX_FIELD = 300
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")

_context: ContextVar[dict[str, str] | None] = ContextVar("mailtix_log_context", default=None)


def _given(fields: dict[str, object]) -> dict[str, str]:
    return {k: str(v)[:MAX_FIELD] for k, v in fields.items() if v is not None and v != ""}


@contextmanager
def log_context(**fields: object) -> Iterator[None]:
    """Every log line inside names these fields (None values are left out); nests."""
    token = _context.set({**(_context.get() or {}), **_given(fields)})
    try:
        yield
    finally:
        _context.reset(token)


def add_log_fields(**fields: object) -> None:
    """Name more fields (the ticket, once known) for the rest of the current ``log_context``."""
    current = _context.get()
    if current is not None:
        current.update(_given(fields))


def maskable(secrets: Iterable[str]) -> list[str]:
    """The secrets worth masking, longest first (one inside another is masked whole)."""
    return sorted({s for s in secrets if s and len(s) >= MIN_SECRET}, key=len, reverse=True)


def mask_secrets(text: str, secrets: Iterable[str]) -> str:
    """``text`` with each of ``secrets`` (from ``maskable``) replaced by ***."""
    for secret in secrets:
        text = text.replace(secret, MASK)
    return text


class _Masking(logging.Formatter):
    def __init__(self, secrets: Iterable[str] = (), fmt: str | None = None) -> None:
        super().__init__(fmt)
        self.secrets = maskable(secrets)

    def mask(self, text: str) -> str:
        return mask_secrets(text, self.secrets)


class TextFormatter(_Masking):
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__(secrets, TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        return UNSAFE.sub(_shown, self.mask(super().format(record)))


def _shown(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x20:
        return chr(0x2400 + code)  # its control picture: ESC as "␛"
    return "\u2421" if code == 0x7F else f"<U+{code:04X}>"


class JsonFormatter(_Masking):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, str] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": self.mask(record.getMessage()),
        }
        context = _context.get() or {}
        for name in FIELDS:
            value = getattr(record, name, None) or context.get(name)
            if value:
                data[name] = self.mask(str(value)[:MAX_FIELD])
        if record.exc_info:
            data["exception"] = self.mask(self.formatException(record.exc_info))
        return json.dumps(data, ensure_ascii=True)


def setup_logging(level: int, fmt: str = "text", secrets: Iterable[str] = ()) -> None:
    """Log to stderr from ``level`` in ``fmt`` ("text" or "json"), replacing what was set up."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(secrets) if fmt == "json" else TextFormatter(secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in NOISY:
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))


def level_for(name: str, verbose: int) -> int:
    """The level called ``name`` ("warning"), one step lower for each -v (down to debug)."""
    base = logging.getLevelNamesMapping().get(name.upper(), logging.WARNING)
    return max(logging.DEBUG, base - 10 * verbose)
