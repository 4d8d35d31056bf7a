"""The IMAP side of a mailbox (the only module that imports imapclient).

Fetches with BODY.PEEK[] (never sets \\Seen), decides size from RFC822.SIZE before downloading,
moves with MOVE, or COPY + \\Deleted + UID EXPUNGE where the server lacks MOVE. TLS is never
downgraded: "starttls" fails when the server does not offer it. The processed and quarantine
folders are created at login, except for a check (``create_folders=False``), which only says
which are missing.
"""

from __future__ import annotations

import contextlib
import logging
import re
import ssl
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import date
from types import TracebackType

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError

from mailtix.config.model import MailboxConfig
from mailtix.domain.errors import MailSourceError
from mailtix.signin.tokens import SignInError

log = logging.getLogger(__name__)

IDLE_SLICE = 10.0  # seconds in IDLE before the mailbox is listed again (see wait_for_news)


class ImapSource:
    """One logged-in connection to one mailbox's folder."""

    def __init__(self, config: MailboxConfig, *, create_folders: bool = True) -> None:
        self.config = config
        self.create_folders = create_folders
        self.client: IMAPClient | None = None
        self.uidvalidity = 0
        self.last_listed: list[int] = []
        self.sign_in: tuple[str, float] | None = None  # OAuth2: (mechanism, token expiry)

    def __enter__(self) -> ImapSource:
        self.open()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def open(self) -> None:
        cfg = self.config
        where = f"{cfg.host}:{cfg.port} ({cfg.name})"
        client: IMAPClient | None = None
        try:
            # the system's CA certificates are loaded only for a connection that uses them
            context = ssl.create_default_context() if cfg.security != "none" else None
            client = IMAPClient(
                cfg.host,
                port=cfg.port,
                ssl=cfg.security == "tls",
                ssl_context=context,
                timeout=cfg.timeout,
            )
            _quiet_imaplib(client)
            if cfg.security == "starttls":
                client.starttls(context)  # raises when not offered: no silent plain text
            self._sign_in(client)
            self.client = client
            self.uidvalidity = self._select(cfg.folder)
        except (IMAPClientError, OSError, ssl.SSLError, SignInError) as exc:
            self.client = None
            if client is not None:  # e.g. a refused login: do not leave the socket open
                with contextlib.suppress(Exception):
                    client.shutdown()
            if isinstance(exc, SignInError):
                raise MailSourceError(f"IMAP {where}: {exc}") from None
            hint = f"; if the token was revoked, run: {self._login_hint}" if self._oauth2 else ""
            raise MailSourceError(f"IMAP {where}: {_server_text(exc)}{hint}") from exc
        if self.create_folders:
            for folder in (cfg.processed_folder, cfg.quarantine_folder, cfg.spam_folder):
                self.ensure_folder(folder)

    @property
    def _oauth2(self) -> bool:
        return self.config.auth == "oauth2"

    @property
    def _login_hint(self) -> str:
        return f"mailtix auth login --mailbox {self.config.name}"

    def _sign_in(self, client: IMAPClient) -> None:
        """LOGIN with the password, or SASL OAUTHBEARER (where offered, else XOAUTH2) with a
        fresh access token; a refused token is refreshed once and tried again."""
        cfg = self.config
        if not self._oauth2:
            client.login(cfg.username, cfg.password or "")
            return
        from mailtix.signin.tokens import fresh_token, mailbox_account

        account = mailbox_account(cfg)
        token = fresh_token(account)
        mech = "OAUTHBEARER" if client.has_capability("AUTH=OAUTHBEARER") else "XOAUTH2"
        try:
            _authenticate(client, mech, cfg.username, token.value)
        except LoginError:
            token = fresh_token(account, force=True)
            _authenticate(client, mech, cfg.username, token.value)
        self.sign_in = (mech, token.expires_at)
        log.debug("%s: signed in with %s", cfg.name, mech)

    def _renew_sign_in(self) -> None:
        """Sign in again on a new connection once the access token has expired (a server
        may end an expired session; Exchange Online does)."""
        if self.sign_in is not None and time.time() >= self.sign_in[1]:
            log.info("%s: access token expired; signing in again", self.config.name)
            self.close()
            self.open()

    def close(self) -> None:
        if self.client is None:
            return
        try:
            self.client.logout()
        except Exception:  # a dead connection needs no goodbye
            log.debug("logout failed", exc_info=True)
        self.client = None

    @property
    def imap(self) -> IMAPClient:
        if self.client is None:
            raise MailSourceError(f"IMAP {self.config.name}: not connected")
        return self.client

    def _select(self, folder: str) -> int:
        info = self.imap.select_folder(folder)
        return int(info[b"UIDVALIDITY"])

    def ensure_folder(self, folder: str) -> None:
        if not self.imap.folder_exists(folder):
            self.imap.create_folder(folder)
            log.info("created IMAP folder %s in %s", folder, self.config.name)

    def missing_folders(self) -> list[str]:
        """The processed, quarantine and spam folders that do not exist yet (a poll would make
        them)."""
        cfg = self.config
        wanted = dict.fromkeys((cfg.processed_folder, cfg.quarantine_folder, cfg.spam_folder))
        return [folder for folder in wanted if not self.imap.folder_exists(folder)]

    def list_keys(self) -> list[int]:
        self.last_listed = sorted(int(uid) for uid in self.imap.search(["ALL"]))
        return self.last_listed

    def sizes(self, uids: Sequence[int]) -> dict[int, int]:
        if not uids:
            return {}
        found = self.imap.fetch(list(uids), ["RFC822.SIZE"])
        return {int(uid): int(data[b"RFC822.SIZE"]) for uid, data in found.items()}

    def fetch(self, uids: Sequence[int]) -> Iterator[tuple[int, bytes]]:
        """Raw bytes for ``uids`` (those expunged meanwhile are simply missing)."""
        if not uids:
            return
        found = self.imap.fetch(list(uids), ["BODY.PEEK[]"])
        for uid in uids:
            body = (found.get(uid) or {}).get(b"BODY[]")
            if body is not None:  # an expunged message may come back as NIL: it is gone
                yield uid, bytes(body)

    def move(self, uids: Sequence[int], folder: str) -> None:
        if not uids:
            return
        if self.has_move:
            self.imap.move(list(uids), folder)
            return
        self.imap.copy(list(uids), folder)
        self.imap.add_flags(list(uids), [b"\\Deleted"], silent=True)
        if self.imap.has_capability("UIDPLUS"):
            self.imap.uid_expunge(list(uids))
        else:
            self.imap.expunge()

    def find(
        self,
        folder: str,
        *,
        text: str | None = None,
        message_ids: Sequence[str] = (),
        before: date | None = None,
        confirm: Callable[[bytes], bool] | None = None,
    ) -> list[int]:
        """UIDs in ``folder`` (selected from now on) whose header or body contains ``text``,
        whose Message-ID is one of ``message_ids``, or that arrived before ``before``; with
        ``confirm``, only those whose bytes it accepts (SEARCH matches any substring)."""
        if not self.imap.folder_exists(folder):
            return []
        self.imap.select_folder(folder)
        found: set[int] = set()
        searches: list[list[object]] = [["HEADER", "Message-ID", m] for m in message_ids]
        searches += [["BEFORE", before]] if before else []
        searches += [["TEXT", text]] if text else []
        for criteria in searches:
            found.update(self._search(criteria))
        hits = sorted(found)
        if confirm is None:
            return hits
        kept: list[int] = []
        for start in range(0, len(hits), 20):
            kept.extend(uid for uid, raw in self.fetch(hits[start : start + 20]) if confirm(raw))
        return kept

    def refile(
        self, message_ids: Sequence[str], from_folder: str, to_folder: str,
        confirm: Callable[[bytes], bool] | None = None,
    ) -> int:  # fmt: skip
        """Move the mail of ``from_folder`` carrying one of ``message_ids`` (and, with
        ``confirm``, whose bytes it accepts) into ``to_folder``; how many moved. The polled
        folder is selected again after."""
        try:
            uids = self.find(from_folder, message_ids=message_ids, confirm=confirm)
            if uids:
                self.ensure_folder(to_folder)
                self.move(uids, to_folder)
        finally:
            self._select(self.config.folder)
        return len(uids)

    def _search(self, criteria: list[object]) -> list[int]:
        charset = None if all(str(c).isascii() for c in criteria) else "UTF-8"
        return sorted(int(uid) for uid in self.imap.search(criteria, charset))

    def delete(self, folder: str, uids: Sequence[int]) -> None:
        """Delete ``uids`` of ``folder`` for good (\\Deleted, then UID EXPUNGE; a server without
        UIDPLUS expunges every deleted message of the folder)."""
        if not uids:
            return
        self.imap.select_folder(folder)
        self.imap.add_flags(list(uids), [b"\\Deleted"], silent=True)
        if self.imap.has_capability("UIDPLUS"):
            self.imap.uid_expunge(list(uids))
        else:
            self.imap.expunge()

    def list_keys_now(self) -> list[int]:
        """The UIDs in the folder now (without changing what the last poll saw)."""
        return [int(uid) for uid in self.imap.search(["ALL"])]

    @property
    def has_move(self) -> bool:
        """Whether the server offers MOVE (RFC 6851); else COPY + \\Deleted + UID EXPUNGE."""
        return bool(self.imap.has_capability("MOVE"))

    @property
    def supports_idle(self) -> bool:
        return bool(self.imap.has_capability("IDLE"))

    def wait_for_news(self, seconds: float, should_stop: object = None) -> bool:
        """IDLE up to ``seconds``; True as soon as the server reports a change.

        ``should_stop`` is an optional callable checked every second so a daemon stops promptly.
        IDLE is left and the mailbox listed every IDLE_SLICE seconds: a notification the
        server never sent (seen here once in a few dozen runs: Dovecot under load announced a
        delivery made right after the daemon started not at all) then costs at most that long,
        not a whole poll interval.
        """
        deadline = time.monotonic() + seconds
        while True:
            self._renew_sign_in()
            # Mail that arrived after the last SEARCH announced itself before IDLE began: its
            # EXISTS is gone, so look before waiting (and again after every slice).
            if set(self.list_keys_now()) - set(self.last_listed):
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0 or (callable(should_stop) and should_stop()):
                return False
            if self._idle(min(remaining, IDLE_SLICE), should_stop):
                return True

    def _idle(self, seconds: float, should_stop: object) -> bool:
        """One IDLE of up to ``seconds``; True when the server reported a change."""
        until = time.monotonic() + seconds
        self.imap.idle()
        try:
            while time.monotonic() < until:
                if callable(should_stop) and should_stop():
                    return False
                responses = self.imap.idle_check(
                    timeout=min(1.0, max(0.1, until - time.monotonic()))
                )
                if any(_is_news(r) for r in responses):
                    return True
            return False
        finally:
            self.imap.idle_done()


def _authenticate(client: IMAPClient, mech: str, user: str, token: str) -> None:
    if mech == "OAUTHBEARER":
        client.oauthbearer_login(user, token)
    else:
        client.oauth2_login(user, token)


def _quiet_imaplib(client: IMAPClient) -> None:
    """imapclient sets imaplib's debug level to 5 and sends its trace to the logger
    ``imapclient.imaplib``; imaplib then formats a repr of every line and every message it
    reads before the logger drops it (a third of a second per 2,000 mails). Its level goes
    back to 0 unless that logger would keep the trace (``mailtix -vv``)."""
    imap = getattr(client, "_imap", None)
    if imap is not None and not logging.getLogger("imapclient.imaplib").isEnabledFor(logging.DEBUG):
        imap.debug = 0


def _is_news(response: object) -> bool:
    return (
        isinstance(response, tuple) and len(response) >= 2 and response[1] in (b"EXISTS", b"RECENT")
    )


def _server_text(exc: BaseException) -> str:
    """The server's words (imapclient gives them as a bytes repr: ``b'[AUTH…] …'``)."""
    text = str(exc)
    quoted = re.fullmatch(r"b(['\"])(.*)\1", text, re.DOTALL)
    return quoted.group(2) if quoted else text
