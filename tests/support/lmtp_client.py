"""A small LMTP client for tests: the stdlib's smtplib.LMTP reads one reply after DATA, but
LMTP (RFC 2033) answers every accepted recipient; this one reads them all."""

from __future__ import annotations

import socket
from collections.abc import Sequence


class LmtpClient:
    def __init__(self, host: str, port: int, timeout: float = 30) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.file = self.sock.makefile("rb")
        self.greeting = self.reply()

    def close(self) -> None:
        self.file.close()
        self.sock.close()

    def __enter__(self) -> LmtpClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def reply(self) -> str:
        """One reply, its lines joined by newlines ("" when the server closed)."""
        lines = []
        while True:
            line = self.file.readline().decode("utf-8", "replace").rstrip("\r\n")
            if not line:
                return "\n".join(lines)
            lines.append(line)
            if len(line) < 4 or line[3] != "-":
                return "\n".join(lines)

    def command(self, text: str) -> str:
        self.sock.sendall(text.encode("utf-8") + b"\r\n")
        return self.reply()

    def deliver(
        self, mail_from: str, rcpt_to: Sequence[str], data: bytes, lhlo: bool = True
    ) -> tuple[list[str], list[str]]:
        """One transaction: the RCPT replies, and one DATA reply per accepted recipient."""
        if lhlo:
            self.command("LHLO test.example")
        assert self.command(f"MAIL FROM:<{mail_from}>").startswith("250"), mail_from
        rcpts = [self.command(f"RCPT TO:<{r}>") for r in rcpt_to]
        accepted = sum(r.startswith("250") for r in rcpts)
        if not accepted:
            self.command("RSET")
            return rcpts, []
        assert self.command("DATA").startswith("354")
        body = data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
        body = b"\r\n".join(b"." + line if line.startswith(b".") else line
                            for line in body.split(b"\r\n"))  # fmt: skip
        if not body.endswith(b"\r\n"):
            body += b"\r\n"
        self.sock.sendall(body + b".\r\n")
        return rcpts, [self.reply() for _ in range(accepted)]
