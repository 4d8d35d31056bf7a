"""google-auth's real refresh against the local token endpoint (``token_url`` overrides
Google's), and what the token cache tells ``mailtix status``: how long an account signs in on
its own, and a refused refresh kept (without a token) until the next good sign-in."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.oauth_server import OAuthServer

from mailtix.config.oauth2 import OAuth2Config
from mailtix.signin.cache import read_cache, write_cache
from mailtix.signin.tokens import Account, SignInError, fresh_token, login_command, standing


@pytest.fixture
def server() -> Iterator[OAuthServer]:
    with OAuthServer(lifetime=100) as running:
        yield running


def google(tmp_path: Path, server: OAuthServer, refresh: str) -> Account:
    oauth2 = OAuth2Config(provider="google", client_id="id.apps.googleusercontent.com",
                          client_secret="gsecret", flow="refresh_token",
                          token_url=server.token_url, refresh_token=refresh,
                          scopes=("https://mail.google.com/",),
                          token_cache=tmp_path / "var" / "oauth-support.json")  # fmt: skip
    return Account(
        "mailbox support", "support@acme.example", oauth2, login_command("mailbox support")
    )


def test_google_auth_refreshes_at_the_token_url(tmp_path: Path, server: OAuthServer) -> None:
    who = google(tmp_path, server, server.grant("support"))
    token = fresh_token(who)
    assert server.access_tokens[token.value][0] == "support" and server.refreshes == 1
    assert 90 < token.expires_at - time.time() <= 100  # google-auth's expiry, kept
    assert read_cache(who.oauth2.token_cache or Path())["provider"] == "google"


def test_a_revoked_google_grant_is_kept_for_status(tmp_path: Path, server: OAuthServer) -> None:
    refresh = server.grant("support")
    who = google(tmp_path, server, refresh)
    fresh_token(who)
    server.revoke(refresh)
    with pytest.raises(SignInError) as raised:
        fresh_token(who, force=True)
    assert raised.value.needs_login
    assert str(raised.value) == ("mailbox support: the OAuth2 sign-in was refused (invalid_grant);"
                                 " run: mailtix auth login --mailbox support")  # fmt: skip
    known = standing(who.oauth2)
    assert known.problem is not None and known.problem.startswith("sign-in refused at ")
    assert refresh not in str(read_cache(who.oauth2.token_cache or Path()).get("refused"))
    refresh = server.grant("support")  # signed in again: the refusal is forgotten
    who = google(tmp_path, server, refresh)
    cache = read_cache(who.oauth2.token_cache or Path())
    cache["refresh_token"] = refresh
    write_cache(who.oauth2.token_cache or Path(), cache)
    fresh_token(who, force=True)
    assert standing(who.oauth2).problem is None


def test_how_long_an_account_signs_in_on_its_own(tmp_path: Path, server: OAuthServer) -> None:
    base = OAuth2Config(provider="generic", client_id="c", flow="device",
                        token_url=server.token_url, token_cache=tmp_path / "a.json")  # fmt: skip
    assert standing(base).problem == "not signed in yet"
    who = Account("smtp", "u", base, login_command("smtp"))
    server.refresh_lifetime = 7 * 86400  # the provider says when the refresh token ends
    write_cache(tmp_path / "a.json", {"refresh_token": server.grant("u")})
    token = fresh_token(who, now=lambda: 1_000_000.0)
    known = standing(base)
    assert known.problem is None and known.access_expires_at == token.expires_at
    assert known.runs_out == 1_000_000.0 + 7 * 86400
    write_cache(tmp_path / "a.json", {"access_token": "x", "expires_at": 5.0})
    assert standing(base).runs_out == 5.0  # no refresh token: the access token is all


def test_login_commands_name_the_account() -> None:
    assert login_command("smtp") == "mailtix auth login --smtp"
    assert login_command("mailbox sales") == "mailtix auth login --mailbox sales"
    assert login_command("mailbox sales smtp") == "mailtix auth login --mailbox sales --smtp"
