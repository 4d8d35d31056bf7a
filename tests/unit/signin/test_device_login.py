"""``auth login``'s device flow against the local OAuth2 server, the test playing the person who
enters the code: RFC 8628 polling (pending, slow_down, declined, expired, Ctrl-C) for a generic
provider, and msal's own device flow against the same server posing as a Microsoft authority
over HTTPS (instance discovery off; msal reads its OpenID document, asks its device endpoint
and polls its token endpoint, all through msal's real code)."""

from __future__ import annotations

import logging
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.oauth_server import OAuthServer

from mailtix.config.oauth2 import DEFAULT_SCOPES, OAuth2Config
from mailtix.signin import device
from mailtix.signin.cache import read_cache
from mailtix.signin.login import log_in
from mailtix.signin.microsoft import microsoft_token
from mailtix.signin.tokens import Account, SignInError, fresh_token, login_command, standing

INTERVAL = 0.05


@pytest.fixture(autouse=True)
def quick_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(device, "MIN_INTERVAL", INTERVAL / 2)  # 1 s for real providers


@pytest.fixture
def server() -> Iterator[OAuthServer]:
    with OAuthServer(lifetime=100, interval=INTERVAL) as running:
        yield running


def generic(tmp_path: Path, server: OAuthServer) -> Account:
    oauth2 = OAuth2Config(
        provider="generic",
        client_id="mailtix",
        flow="device",
        token_url=server.token_url,
        device_url=server.device_url,
        scopes=("mail",),
        token_cache=tmp_path / "var" / "oauth-support.json",
    )
    return Account("mailbox support", "support", oauth2, login_command("mailbox support"))


class Person:
    """Reads what ``auth login`` shows and, ``after`` that many polls' sleeps, acts on it."""

    def __init__(self, server: OAuthServer, act: str = "approve", after: int = 2) -> None:
        self.server, self.act, self.after = server, act, after
        self.shown: list[tuple[str, str, float]] = []
        self.sleeps: list[float] = []

    def show(self, url: str, code: str, seconds: float) -> None:
        self.shown.append((url, code, seconds))

    def sleep(self, seconds: float) -> None:  # no real waiting: the polls' spacing is recorded
        self.sleeps.append(seconds)
        if len(self.sleeps) == self.after:
            code = self.shown[0][1]
            if self.act == "approve":
                self.server.approve(code, "support")
            elif self.act == "deny":
                self.server.deny(code)
            elif self.act == "interrupt":
                raise KeyboardInterrupt


def test_device_flow_stores_the_tokens_once_the_person_approves(
    tmp_path: Path, server: OAuthServer
) -> None:
    who = generic(tmp_path, server)
    person = Person(server, after=3)
    token = log_in(who, person.show, sleep=person.sleep)
    [(url, code, seconds)] = person.shown
    assert url == server.url + "/verify" and seconds == 60
    assert person.sleeps == [INTERVAL] * 3  # two authorization_pending, then the token
    assert token is not None and token.value in server.access_tokens
    assert server.polls(code) and len(server.polls(code)) == 3
    cache = tmp_path / "var" / "oauth-support.json"
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    kept = read_cache(cache)
    assert kept["refresh_token"] in server.refresh_tokens and kept["flow"] == "device"
    assert server.devices[next(iter(server.devices))].scope == "mail"
    # the stored refresh token then serves the poller like any other
    assert fresh_token(who, force=True).value != token.value
    assert standing(who.oauth2).problem is None


def test_slow_down_adds_five_seconds_each_time(tmp_path: Path, server: OAuthServer) -> None:
    who = generic(tmp_path, server)
    person = Person(server, after=4)
    real_show = person.show

    def show(url: str, code: str, seconds: float) -> None:
        real_show(url, code, seconds)
        server.slow_down(code, polls=2)

    log_in(who, show, sleep=person.sleep)
    step = device.SLOW_DOWN
    assert person.sleeps == [INTERVAL, INTERVAL + step, INTERVAL + 2 * step, INTERVAL + 2 * step]


def test_real_polls_are_spaced_by_the_interval(tmp_path: Path, server: OAuthServer) -> None:
    who = generic(tmp_path, server)
    shown: list[str] = []
    timer = threading.Timer(0.3, lambda: server.approve(shown[0], "support"))
    timer.start()
    try:
        log_in(who, lambda url, code, seconds: shown.append(code))
    finally:
        timer.cancel()
    polls = server.polls(shown[0])
    gaps = [b - a for a, b in zip(polls, polls[1:], strict=False)]
    assert len(polls) >= 3 and min(gaps) >= INTERVAL * 0.9, gaps


def test_unanswered_polls_are_tried_again_less_often(
    tmp_path: Path, server: OAuthServer, caplog: pytest.LogCaptureFixture
) -> None:
    who = generic(tmp_path, server)
    server.dropped, server.unavailable = 2, 1  # two connections closed unanswered, one bare 503
    person = Person(server, after=5)
    with caplog.at_level(logging.WARNING, logger="mailtix.signin.device"):
        token = log_in(who, person.show, sleep=person.sleep)
    assert token.value in server.access_tokens
    i = INTERVAL  # each unanswered poll doubles the wait; then pending, then the token
    assert person.sleeps == [i, 2 * i, 4 * i, 8 * i, 8 * i]
    assert len(server.polls(person.shown[0][1])) == 2
    [warning] = caplog.records  # said once, naming the endpoint and nothing it was sent
    assert warning.getMessage().startswith(f"cannot reach {server.token_url}: ")
    assert "trying again until the code expires" in warning.getMessage()
    device_code = next(iter(server.devices))
    assert device_code not in caplog.text and person.shown[0][1] not in caplog.text


@pytest.mark.parametrize(("act", "reason"), [("deny", "the sign-in was declined")])
def test_a_declined_code_is_one_line_and_keeps_nothing(
    tmp_path: Path, server: OAuthServer, act: str, reason: str
) -> None:
    who = generic(tmp_path, server)
    person = Person(server, act=act)
    with pytest.raises(SignInError) as raised:
        log_in(who, person.show, sleep=person.sleep)
    assert str(raised.value) == f"mailbox support: not signed in: {reason}"
    assert raised.value.needs_login
    assert not (tmp_path / "var" / "oauth-support.json").exists()


def test_an_expired_code_ends_the_wait(tmp_path: Path) -> None:
    expired = pytest.raises(SignInError, match="the code expired before it was entered$")
    with OAuthServer(interval=INTERVAL, device_lifetime=0.2) as server, expired:
        log_in(generic(tmp_path, server), lambda *shown: None)  # the server says so
    with OAuthServer(interval=INTERVAL) as server:  # its expires_in passed: no more polls
        code = device.start(server.device_url, "mailtix", ())
        clock = iter([0.0, 30.0, 61.0])
        with pytest.raises(device.DeviceLoginError, match="expired"):
            device.poll(server.token_url, "mailtix", None, code, sleep=lambda s: None,
                        clock=lambda: next(clock))  # fmt: skip
        assert len(server.polls(code.user_code)) == 1


def test_ctrl_c_while_waiting_stops_without_keeping_anything(
    tmp_path: Path, server: OAuthServer
) -> None:
    person = Person(server, act="interrupt")
    with pytest.raises(KeyboardInterrupt):
        log_in(generic(tmp_path, server), person.show, sleep=person.sleep)
    assert not (tmp_path / "var" / "oauth-support.json").exists()


def test_client_credentials_need_no_person(tmp_path: Path, server: OAuthServer) -> None:
    oauth2 = OAuth2Config(provider="generic", client_id="app", flow="client_credentials",
                          token_url=server.token_url, client_secret="s",
                          token_cache=tmp_path / "c.json")  # fmt: skip
    app = Account("smtp", "app", oauth2, "mailtix auth login --smtp")
    with pytest.raises(SignInError, match="refused .invalid_client"):  # a wrong secret
        log_in(app, lambda *shown: pytest.fail("nobody is asked"))
    server.app_secrets["app"] = "s"
    token = log_in(app, lambda *shown: pytest.fail("nobody is asked"))
    assert server.access_tokens[token.value][0] == "app"
    assert ("POST", "/device") not in server.requests
    assert standing(oauth2).problem is None  # the refusal status showed is gone


@pytest.fixture
def microsoft(monkeypatch: pytest.MonkeyPatch) -> Iterator[OAuthServer]:
    with OAuthServer(lifetime=100, interval=1, tls=True) as running:  # msal polls in seconds
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(running.ca_file))
        yield running


def microsoft_account(tmp_path: Path) -> Account:
    oauth2 = OAuth2Config(provider="microsoft", client_id="11111111-2222", flow="device",
                          scopes=DEFAULT_SCOPES[("microsoft", "delegated")],
                          token_cache=tmp_path / "var" / "oauth-support.json")  # fmt: skip
    return Account("mailbox support", "support@contoso.example", oauth2, "-")


def test_msal_device_flow_against_a_local_authority(tmp_path: Path, microsoft: OAuthServer) -> None:
    who = microsoft_account(tmp_path)
    shown: list[str] = []

    def show(url: str, code: str, seconds: float) -> None:
        shown.append(code)
        threading.Timer(0.2, microsoft.approve, (code, "support")).start()

    token = log_in(who, show, authority=microsoft.authority())
    assert token is not None and token.value in microsoft.access_tokens
    assert ("GET", "/contoso.example/v2.0/.well-known/openid-configuration") in microsoft.requests
    assert len(microsoft.polls(shown[0])) >= 2  # authorization_pending first: msal waited
    scope = microsoft.devices[next(iter(microsoft.devices))].scope.split()
    assert "https://outlook.office365.com/IMAP.AccessAsUser.All" in scope
    assert "offline_access" in scope  # msal asks for the refresh token itself
    kept = read_cache(who.oauth2.token_cache or Path())
    assert kept["refresh_token"] in microsoft.refresh_tokens
    # and the poller's refresh goes through msal at the same authority
    again = microsoft_token(who.oauth2, kept["refresh_token"], microsoft.authority())
    assert again["access_token"] in microsoft.access_tokens


def test_msal_declined_device_code(tmp_path: Path, microsoft: OAuthServer) -> None:
    who = microsoft_account(tmp_path)

    def show(url: str, code: str, seconds: float) -> None:
        microsoft.deny(code)

    with pytest.raises(SignInError, match="^mailbox support: not signed in: the sign-in was"):
        log_in(who, show, authority=microsoft.authority())
    assert not (tmp_path / "var" / "oauth-support.json").exists()


def test_msal_polling_through_a_dropped_connection(
    tmp_path: Path, microsoft: OAuthServer, caplog: pytest.LogCaptureFixture
) -> None:
    who = microsoft_account(tmp_path)
    waits: list[float] = []

    def show(url: str, code: str, seconds: float) -> None:
        microsoft.dropped = 1  # msal's first poll finds the connection closed unanswered
        threading.Timer(0.2, microsoft.approve, (code, "support")).start()

    with caplog.at_level(logging.WARNING, logger="mailtix.signin.microsoft"):
        token = log_in(who, show, sleep=waits.append, authority=microsoft.authority())
    assert token.value in microsoft.access_tokens
    assert waits == [2.0]  # msal's interval of 1 s, doubled
    [warning] = caplog.records
    assert warning.getMessage().startswith("msal: ConnectionError while waiting")
    assert not any(secret in caplog.text for secret in microsoft.issued)
