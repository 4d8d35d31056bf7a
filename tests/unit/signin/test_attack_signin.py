"""A hostile or broken token endpoint against ``auth login`` and the refresh: a real local HTTP
server answers what the test scripts (a negative or absurd interval and expiry, a huge body,
a non-number), and the token cache met a symlink or a mode others can read."""

from __future__ import annotations

import json
import os
import stat
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from mailtix.config.oauth2 import OAuth2Config
from mailtix.signin import device
from mailtix.signin.cache import read_cache, write_cache
from mailtix.signin.endpoint import MAX_ANSWER_BYTES, EndpointError, post_form
from mailtix.signin.tokens import Account, SignInError, fresh_token


class Scripted:
    """An HTTP server whose every POST is answered with ``status`` and ``body``."""

    def __init__(self) -> None:
        self.status, self.body, self.posts = 200, b"{}", 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                owner.posts += 1
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(owner.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(owner.body)))
                self.end_headers()
                try:
                    self.wfile.write(owner.body)
                except OSError:  # the client stopped reading: what a capped read does
                    pass

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/token"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def answer(self, data: object, status: int = 200) -> None:
        self.status, self.body = status, json.dumps(data).encode()


@pytest.fixture
def endpoint() -> Iterator[Scripted]:
    server = Scripted()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


def code_answer(**overrides: object) -> dict[str, object]:
    answer = {"device_code": "d", "user_code": "U", "verification_uri": "https://v.example/"}
    return {**answer, **overrides}


@pytest.mark.parametrize("interval", [-5, -0.5, 0.0001, "nan", "-inf"])
def test_a_negative_or_tiny_interval_does_not_make_a_busy_loop(
    endpoint: Scripted, interval: object
) -> None:
    endpoint.answer(code_answer(interval=interval, expires_in=60))
    code = device.start(endpoint.url, "mailtix", ())
    assert code.interval >= device.MIN_INTERVAL
    endpoint.answer({"error": "authorization_pending"}, status=400)
    sleeps: list[float] = []
    clock = iter([0.0, *range(1, 60), 61.0])
    with pytest.raises(device.DeviceLoginError, match="expired"):
        device.poll(endpoint.url, "mailtix", None, code, sleep=sleeps.append,
                    clock=lambda: float(next(clock)))  # fmt: skip
    assert sleeps and min(sleeps) >= device.MIN_INTERVAL


@pytest.mark.parametrize("expires_in", [1e12, "inf", "nan", -30])
def test_an_absurd_expiry_is_bounded(endpoint: Scripted, expires_in: object) -> None:
    endpoint.answer(code_answer(interval=5, expires_in=expires_in))
    code = device.start(endpoint.url, "mailtix", ())
    assert 0 < code.expires_in <= device.MAX_CODE_SECONDS


def test_a_huge_answer_is_not_read_into_memory(endpoint: Scripted) -> None:
    endpoint.body = b'{"access_token": "' + b"x" * (MAX_ANSWER_BYTES * 4) + b'"}'
    with pytest.raises(EndpointError, match="too large"):
        post_form(endpoint.url, {"grant_type": "refresh_token"})


def account(tmp_path: Path, url: str) -> Account:
    oauth2 = OAuth2Config(provider="generic", client_id="mailtix", flow="refresh_token",
                          token_url=url, refresh_token="rt-1",
                          token_cache=tmp_path / "var" / "oauth-support.json")  # fmt: skip
    return Account("mailbox support", "support", oauth2, "mailtix auth login --mailbox support")


@pytest.mark.parametrize("expires_in", ["soon", [], "inf", "nan", -100, 1e300])
def test_a_token_answer_with_a_bad_expiry_is_one_line_or_bounded(
    tmp_path: Path, endpoint: Scripted, expires_in: object
) -> None:
    endpoint.answer({"access_token": "at-1", "expires_in": expires_in})
    try:
        token = fresh_token(account(tmp_path, endpoint.url), now=lambda: 1_000_000.0)
    except SignInError as exc:  # one line, never a traceback
        assert "expires_in" in str(exc) and "at-1" not in str(exc)
        return
    assert 1_000_000.0 < token.expires_at <= 1_000_000.0 + 86_400
    cached = read_cache(tmp_path / "var" / "oauth-support.json")
    assert json.dumps(cached, allow_nan=False)


def test_a_symlink_at_the_cache_path_is_replaced_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    victim.chmod(0o644)
    cache = tmp_path / "var" / "oauth-support.json"
    cache.parent.mkdir(mode=0o700)
    cache.symlink_to(victim)
    write_cache(cache, {"access_token": "at-1"})
    assert victim.read_text() == "keep me" and stat.S_IMODE(victim.stat().st_mode) == 0o644
    assert not cache.is_symlink() and stat.S_IMODE(os.lstat(cache).st_mode) == 0o600


def test_a_cache_others_can_read_is_private_after_the_next_write(tmp_path: Path) -> None:
    cache = tmp_path / "oauth-support.json"
    cache.write_text('{"refresh_token": "rt-1"}')
    cache.chmod(0o644)
    write_cache(cache, {"refresh_token": "rt-2"})
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600


def test_msal_is_not_told_to_poll_without_pause(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from support.oauth_server import OAuthServer

    from mailtix.config.oauth2 import DEFAULT_SCOPES
    from mailtix.signin.login import log_in

    oauth2 = OAuth2Config(provider="microsoft", client_id="11111111-2222", flow="device",
                          scopes=DEFAULT_SCOPES[("microsoft", "delegated")],
                          token_cache=tmp_path / "var" / "oauth-support.json")  # fmt: skip
    who = Account("mailbox support", "support@contoso.example", oauth2, "-")
    with OAuthServer(lifetime=100, interval=0, tls=True) as authority:  # "interval": 0
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(authority.ca_file))
        shown: list[str] = []

        def show(url: str, code: str, seconds: float) -> None:
            shown.append(code)
            threading.Timer(1.5, authority.approve, (code, "support")).start()

        log_in(who, show, authority=authority.authority())
        assert 1 <= len(authority.polls(shown[0])) <= 3  # about one a second, not thousands


def test_a_non_json_answer_is_one_line_not_a_traceback(tmp_path: Path, endpoint: Scripted) -> None:
    endpoint.status, endpoint.body = 200, b"<html>login portal</html>"
    with pytest.raises(EndpointError, match="lacks a code"):
        device.start(endpoint.url, "mailtix", ())
    with pytest.raises(SignInError, match="^mailbox support: the provider sent no access token$"):
        fresh_token(account(tmp_path, endpoint.url))
    endpoint.status = 502
    with pytest.raises(SignInError, match="HTTP 502"):
        fresh_token(account(tmp_path, endpoint.url))


def test_a_symlink_at_the_lock_path_creates_nothing_where_it_points(tmp_path: Path) -> None:
    from mailtix.signin.cache import locked

    cache = tmp_path / "var" / "oauth-support.json"
    cache.parent.mkdir(mode=0o700)
    elsewhere = tmp_path / "etc-file"
    (cache.parent / ".oauth-support.json.lock").symlink_to(elsewhere)
    with locked(cache):
        pass
    assert not elsewhere.exists()
    assert not (cache.parent / ".oauth-support.json.lock").is_symlink()


@pytest.mark.parametrize("value", ["1e300", "Infinity", "NaN", "-1e300"])
def test_a_cache_with_an_impossible_expiry_is_shown_not_a_traceback(
    tmp_path: Path, value: str
) -> None:
    from mailtix.signin.tokens import account_status

    who = account(tmp_path, "http://127.0.0.1:9/token")
    cache = tmp_path / "var" / "oauth-support.json"
    cache.parent.mkdir(mode=0o700)
    cache.write_text(f'{{"refresh_token": "rt", "expires_at": {value}}}')
    shown = account_status(who)
    assert shown["signed_in"] and shown["expires_at"] is None


@pytest.mark.parametrize("value", ["1e300", "Infinity", "NaN", "-1e300"])
def test_mailtix_status_reads_an_impossible_expiry_as_unknown(tmp_path: Path, value: str) -> None:
    from mailtix.signin.tokens import standing

    who = account(tmp_path, "http://127.0.0.1:9/token")
    cache = tmp_path / "var" / "oauth-support.json"
    cache.parent.mkdir(mode=0o700)
    cache.write_text(f'{{"refresh_token": "rt", "expires_at": {value}, '
                     f'"refresh_expires_at": {value}}}')  # fmt: skip
    found = standing(who.oauth2)
    assert found.access_expires_at is None and found.runs_out is None and found.problem is None
