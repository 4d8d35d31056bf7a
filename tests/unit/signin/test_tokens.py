"""fresh_token against a real local token endpoint: cached while fresh, refreshed a little
before expiry, the cache private and written whole; a revoked refresh token is one line naming
the account and the command, with no token in it."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.oauth_server import OAuthServer

from mailtix.config.oauth2 import OAuth2Config
from mailtix.signin.endpoint import EndpointError
from mailtix.signin.microsoft import from_msal
from mailtix.signin.tokens import Account, SignInError, account_status, fresh_token


@pytest.fixture
def server() -> Iterator[OAuthServer]:
    with OAuthServer(lifetime=100) as running:
        yield running


def account(tmp_path: Path, server: OAuthServer, refresh: str, url: str = "") -> Account:
    oauth2 = OAuth2Config(provider="generic", client_id="mailtix", flow="refresh_token",
                          token_url=url or server.token_url, refresh_token=refresh,
                          token_cache=tmp_path / "var" / "oauth-support.json")  # fmt: skip
    return Account("mailbox support", "support", oauth2, "mailtix auth login --mailbox support")


def test_cached_while_fresh_refreshed_before_expiry(tmp_path: Path, server: OAuthServer) -> None:
    who = account(tmp_path, server, server.grant("support"))
    clock = [1_000_000.0]
    first = fresh_token(who, now=lambda: clock[0])
    assert first.value in server.access_tokens and server.refreshes == 1
    clock[0] += 79  # 100 s tokens are refreshed 20 s early
    assert fresh_token(who, now=lambda: clock[0]) == first and server.refreshes == 1
    clock[0] += 2
    second = fresh_token(who, now=lambda: clock[0])
    assert second.value != first.value and server.refreshes == 2
    assert second.expires_at == clock[0] + 100
    assert fresh_token(who, force=True, now=lambda: clock[0]).value != second.value


def test_cache_is_private_and_holds_what_status_shows(tmp_path: Path, server: OAuthServer) -> None:
    who = account(tmp_path, server, server.grant("support"))
    token = fresh_token(who)
    cache = tmp_path / "var" / "oauth-support.json"
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    assert stat.S_IMODE(cache.parent.stat().st_mode) == 0o700
    assert [p.name for p in cache.parent.iterdir() if not p.name.startswith(".")] == [cache.name]
    shown = account_status(who)
    assert shown["signed_in"] and shown["expires_at"] and shown["last_refresh"]
    assert token.value not in str(shown) and "rt-" not in str(shown)
    assert token.value not in repr(token)


def test_revoked_refresh_token_is_one_line(tmp_path: Path, server: OAuthServer) -> None:
    refresh = server.grant("support")
    who = account(tmp_path, server, refresh)
    fresh_token(who)
    server.revoke(refresh)
    with pytest.raises(SignInError) as caught:
        fresh_token(who, force=True)
    message = str(caught.value)
    assert message == (
        "mailbox support: the OAuth2 sign-in was refused (invalid_grant (HTTP 400)); "
        "run: mailtix auth login --mailbox support"
    )
    assert caught.value.needs_login and refresh not in message


def test_unreachable_endpoint_is_temporary(tmp_path: Path, server: OAuthServer) -> None:
    who = account(tmp_path, server, "rt-x", url="http://127.0.0.1:9/token")
    with pytest.raises(SignInError) as caught:
        fresh_token(who)
    assert not caught.value.needs_login and "\n" not in str(caught.value)


def test_not_signed_in_says_what_to_run(tmp_path: Path, server: OAuthServer) -> None:
    who = account(tmp_path, server, "")
    with pytest.raises(SignInError, match="not signed in with OAuth2 yet; run: mailtix auth"):
        fresh_token(who)
    assert not os.path.exists(tmp_path / "var" / "oauth-support.json")


def test_msal_answers_become_token_fields_or_one_refusal() -> None:
    # msal's error shapes, fed to the adapter (msal itself: test_device_login.py).
    good = {"access_token": "eyJ0", "expires_in": 3599, "refresh_token": "0.AX"}
    assert from_msal(good) == good
    with pytest.raises(EndpointError) as caught:
        from_msal({"error": "invalid_grant", "error_description": "AADSTS70008: 0.AX expired"})
    assert caught.value.refused and str(caught.value) == "invalid_grant"
    with pytest.raises(EndpointError) as caught:
        from_msal({"error": "temporarily_unavailable"})
    assert not caught.value.refused
