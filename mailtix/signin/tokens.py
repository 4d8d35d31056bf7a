"""A fresh access token for one account: the cached one while it has more than a little life
left, else one refreshed from the provider (then cached). A refused refresh is one
``SignInError`` naming the account and the command that signs in again; tokens never appear
in a message.

The provider libraries (msal, google-auth) are imported only when such an account refreshes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mailtix.config.model import MailboxConfig, SmtpConfig
from mailtix.config.oauth2 import OAuth2Config
from mailtix.domain.errors import MailtixError
from mailtix.signin.cache import locked, read_cache, write_cache
from mailtix.signin.endpoint import EndpointError, refresh_grant, seconds

MAX_EPOCH = 32_503_680_000  # year 3000: a later time in a cache is garbage
MAX_TOKEN_SECONDS = 86_400.0  # a longer access token life is refreshed daily all the same
EARLY = 60.0  # seconds: refresh this long before expiry (at most a fifth of the lifetime)


class SignInError(MailtixError):
    """No access token for an account. ``needs_login``: the provider refused (sign in again);
    else the provider could not be reached (try again later)."""

    def __init__(self, message: str, *, needs_login: bool) -> None:
        super().__init__(message)
        self.needs_login = needs_login


@dataclass(frozen=True)
class Account:
    """Who signs in: ``name`` as shown ("mailbox support", "smtp"), the user the token is
    for, the OAuth2 settings and the command that signs it in again."""

    name: str
    username: str
    oauth2: OAuth2Config
    login_command: str


@dataclass(frozen=True)
class AccessToken:
    value: str = field(repr=False)
    expires_at: float  # epoch seconds

    def fresh(self, now: float, lifetime: float) -> bool:
        return now < self.expires_at - min(EARLY, lifetime / 5)


def fresh_token(
    account: Account, *, force: bool = False, now: Callable[[], float] = time.time
) -> AccessToken:
    """The account's access token, refreshed first when it is about to expire (or ``force``:
    the server refused the cached one)."""
    path = account.oauth2.token_cache
    assert path is not None  # set by the config loader
    with locked(path):
        cached = read_cache(path)
        token = _cached(cached)
        lifetime = float(cached.get("lifetime", 0.0))
        if token is not None and not force and token.fresh(now(), lifetime):
            return token
        try:
            answer = _refresh(account, cached)
        except SignInError as exc:
            if exc.needs_login and (cached or account.oauth2.refresh_token):  # for `status`
                cached.update(refused=str(exc), refused_at=_iso(now()))
                write_cache(path, cached)
            raise
        return store(account, cached, answer, now())


def store(account: Account, cached: dict[str, Any], answer: dict[str, Any],
          started: float) -> AccessToken:  # fmt: skip
    """Keep a token endpoint's ``answer`` in the account's cache (under its lock)."""
    path = account.oauth2.token_cache
    assert path is not None
    lifetime = seconds(answer.get("expires_in") or 3600, 3600, 1, MAX_TOKEN_SECONDS)
    value = answer.get("access_token")
    if not isinstance(value, str) or not value:
        raise SignInError(f"{account.name}: the provider sent no access token",
                          needs_login=False)  # fmt: skip
    cached.update(
        access_token=value, expires_at=started + lifetime, lifetime=lifetime,
        last_refresh=_iso(started),
        provider=account.oauth2.provider, flow=account.oauth2.flow, user=account.username,
    )  # fmt: skip
    cached.pop("refused", None)
    cached.pop("refused_at", None)
    if answer.get("refresh_token"):
        cached["refresh_token"] = answer["refresh_token"]
        cached.pop("refresh_expires_at", None)
    refresh_life = answer.get("refresh_token_expires_in")  # Google's time-limited grants
    if isinstance(refresh_life, int | float) and 0 < refresh_life < 1e10:
        cached["refresh_expires_at"] = started + float(refresh_life)
    write_cache(path, cached)
    return AccessToken(value, started + lifetime)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


def _epoch(value: object) -> float | None:
    """A cache's time in epoch seconds; None for none, or one no clock can show (a
    hand-edited cache, or 1e300 kept from a provider before lifetimes were bounded)."""
    if not isinstance(value, int | float) or not 0 <= value < MAX_EPOCH:
        return None  # NaN fails the comparison too
    return float(value)


def _shown(value: object) -> str | None:
    epoch = _epoch(value)
    return _iso(epoch) if epoch is not None else None


def _cached(cached: dict[str, Any]) -> AccessToken | None:
    value, expires = cached.get("access_token"), cached.get("expires_at")
    if isinstance(value, str) and value and isinstance(expires, int | float):
        return AccessToken(value, float(expires))
    return None


def _refresh(account: Account, cached: dict[str, Any]) -> dict[str, Any]:
    oauth2 = account.oauth2
    refresh = cached.get("refresh_token") or oauth2.refresh_token
    if oauth2.flow != "client_credentials" and not refresh:
        raise SignInError(
            f"{account.name}: not signed in with OAuth2 yet; run: {account.login_command}",
            needs_login=True,
        )
    try:
        if oauth2.provider == "microsoft":
            from mailtix.signin.microsoft import microsoft_token

            return microsoft_token(oauth2, refresh)
        if oauth2.provider == "google":
            from mailtix.signin.google import google_token

            return google_token(oauth2, str(refresh))
        if oauth2.flow == "client_credentials":
            from mailtix.signin.endpoint import post_form

            fields = {"grant_type": "client_credentials", "client_id": oauth2.client_id,
                      "client_secret": oauth2.client_secret or "",
                      "scope": " ".join(oauth2.scopes)}  # fmt: skip
            return post_form(oauth2.token_url, fields)
        return refresh_grant(oauth2.token_url, oauth2.client_id, oauth2.client_secret,
                             str(refresh), oauth2.scopes)  # fmt: skip
    except EndpointError as exc:
        if exc.refused:
            raise SignInError(
                f"{account.name}: the OAuth2 sign-in was refused ({exc}); "
                f"run: {account.login_command}",
                needs_login=True,
            ) from None
        raise SignInError(f"{account.name}: OAuth2 token endpoint: {exc}",
                          needs_login=False) from None  # fmt: skip


def account_status(account: Account) -> dict[str, Any]:
    """What ``auth status`` shows of an account's cache: never a token."""
    assert account.oauth2.token_cache is not None
    cached = read_cache(account.oauth2.token_cache)
    expires = cached.get("expires_at")
    return {
        "account": account.name, "user": account.username,
        "provider": account.oauth2.provider, "flow": account.oauth2.flow,
        "signed_in": bool(cached.get("refresh_token") or cached.get("access_token")),
        "expires_at": _shown(expires),
        "last_refresh": cached.get("last_refresh"),
        "refused": cached.get("refused"),
        "token_cache": str(account.oauth2.token_cache),
    }  # fmt: skip


@dataclass(frozen=True)
class Standing:
    """How long an account signs in on its own, read from its token cache: ``runs_out``
    (epoch seconds; None: as long as its refresh token is good, which the provider did not
    say) and ``problem`` when a person must sign it in already."""

    access_expires_at: float | None
    runs_out: float | None
    problem: str | None


def standing(oauth2: OAuth2Config) -> Standing:
    assert oauth2.token_cache is not None
    cached = read_cache(oauth2.token_cache)
    access = _epoch(cached.get("expires_at"))
    if cached.get("refused"):
        return Standing(access, access, f"sign-in refused at {cached.get('refused_at')}")
    if oauth2.flow == "client_credentials":
        return Standing(access, None, None)  # the app asks for a new one itself
    if cached.get("refresh_token") or oauth2.refresh_token:
        return Standing(access, _epoch(cached.get("refresh_expires_at")), None)
    if access is not None:
        return Standing(access, access, None)  # no refresh token: the access token is all
    return Standing(None, None, "not signed in yet" if oauth2.flow == "device" else None)


def mailbox_account(mailbox: MailboxConfig) -> Account:
    """The account a mailbox reads with (its ``[mailbox.oauth2]``)."""
    assert mailbox.oauth2 is not None
    name = f"mailbox {mailbox.name}"
    return Account(name, mailbox.username, mailbox.oauth2, login_command(name))


def smtp_account(smtp: SmtpConfig, name: str = "smtp") -> Account:
    """The account an SMTP connection sends with (``[smtp.oauth2]`` or a mailbox's own)."""
    assert smtp.oauth2 is not None
    return Account(name, smtp.username or "", smtp.oauth2, login_command(name))


def login_command(name: str) -> str:
    """The command that signs in the account called ``name`` ("smtp", "mailbox NAME", or
    "mailbox NAME smtp" for a ``[mailbox.smtp]`` of its own)."""
    mailbox = name.removeprefix("mailbox ")
    if name == "smtp" or mailbox == name:
        return "mailtix auth login --smtp"
    if mailbox.endswith(" smtp"):
        return f"mailtix auth login --mailbox {mailbox.removesuffix(' smtp')} --smtp"
    return f"mailtix auth login --mailbox {mailbox}"
