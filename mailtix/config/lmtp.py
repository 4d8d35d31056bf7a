"""The ``[lmtp]`` section: where ``mailtix lmtp`` (and ``mailtix run``) take mail straight from
the MTA. Loopback only unless ``allow_remote``: whoever reaches the port hands mailtix mail that
skipped every check the MTA makes (SPF, DMARC, spam filters, size, rate limits)."""

from __future__ import annotations

from dataclasses import dataclass

from mailtix.config.operations import split_listen
from mailtix.config.reader import Reader, is_loopback
from mailtix.config.schema import key, read_keys


@dataclass(frozen=True)
class LmtpConfig:
    listen: str = key("", clean=str.strip)  # "127.0.0.1:2424"; empty: no LMTP server
    allow_remote: bool = key(False)  # true: listen may be an address others can reach
    max_sessions: int = key(20, low=1, high=1000)  # more connections at once are told 421
    recipient_delimiter: str = key("+")  # support+tag@ is support@; "" for none

    @property
    def address(self) -> tuple[str, int] | None:
        """(host, port) to listen on, or None when no LMTP server runs."""
        return split_listen(self.listen) if self.listen else None


def lmtp(reader: Reader) -> LmtpConfig:
    found = LmtpConfig(**read_keys(LmtpConfig, reader))
    if len(found.recipient_delimiter) > 1 or found.recipient_delimiter in ("@", " "):
        reader.problem(
            "recipient_delimiter",
            f'must be one character like "+" or "-" (or "" for none), '
            f'got "{found.recipient_delimiter}"',
        )
    problem = listen_problem(found.listen, found.allow_remote) if found.listen else ""
    if problem:
        reader.problem("listen", problem)
        return LmtpConfig()
    return found


def listen_problem(text: str, allow_remote: bool) -> str:
    """What is wrong with ``text`` as the LMTP listen address ("" when nothing)."""
    address = split_listen(text)
    if address is None:
        return f'must be "HOST:PORT" like "127.0.0.1:2424", got "{text}"'
    if not is_loopback(address[0]) and not allow_remote:
        return (
            f'"{address[0]}" is not a loopback address (127.0.0.1, ::1, localhost); anyone who '
            "reaches the port could hand mailtix mail your MTA never checked: keep it on "
            "loopback beside the MTA, or set allow_remote = true"
        )
    return ""
