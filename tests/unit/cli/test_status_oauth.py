"""What ``mailtix status`` makes of an OAuth2 account's token cache: access tokens that are
refreshed as they expire are no problem; a refused refresh, a device-flow account never signed
in, and a refresh token (or a lone access token) about to run out are, each naming the
``auth login`` command. Caches written as mailtix writes them (``write_cache``)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from peewee import Database

from mailtix.cli.status import build_status, render
from mailtix.config.load import load_config
from mailtix.config.model import Config
from mailtix.config.oauth2 import OAuth2Config
from mailtix.signin.cache import write_cache
from mailtix.store import health, open_store

NOW = datetime(2026, 12, 2, 10, 0, 0)  # naive UTC, as status works
EPOCH = NOW.replace(tzinfo=UTC).timestamp()


@pytest.fixture
def config(tmp_path: Path) -> Iterator[Config]:
    (tmp_path / "mailtix.toml").write_text("""
[store]
url = "sqlite:///mailtix.db"
[smtp]
maildir = "out"
[[mailbox]]
name = "support"
address = "support@acme.example"
maildir = "in"
""")
    loaded = load_config(tmp_path / "mailtix.toml")
    db: Database = open_store(loaded.store.url)
    health.beat("host:1", NOW, NOW, 30)
    health.record_poll("support", NOW, None, 0)
    yield loaded
    db.close()


def with_oauth(config: Config, tmp_path: Path, flow: str) -> tuple[Config, Path]:
    cache = tmp_path / "var" / "oauth-support.json"
    oauth = OAuth2Config(provider="generic", client_id="c", flow=flow,
                         token_url="http://127.0.0.1:9/token", token_cache=cache)  # fmt: skip
    return replace(config, mailboxes=(replace(config.mailboxes[0], oauth2=oauth),)), cache


def oauth_status(config: Config) -> tuple[list[str], dict[str, object]]:
    report = build_status(config, NOW)
    return report["problems"], report["oauth"][0]


def test_an_access_token_renewed_as_it_expires_is_healthy(config: Config, tmp_path: Path) -> None:
    config, cache = with_oauth(config, tmp_path, "device")
    write_cache(cache, {"refresh_token": "r", "access_token": "a", "expires_at": EPOCH + 600})
    problems, shown = oauth_status(config)
    assert problems == [] and shown["healthy"] is True
    assert shown["expires_at"] is None
    assert shown["access_token_expires_at"] == "2026-12-02T10:10:00+00:00"
    assert "signs in on its own until: renewed as it is used" in render(build_status(config, NOW))


def test_a_device_account_never_signed_in_needs_a_login(config: Config, tmp_path: Path) -> None:
    config, _ = with_oauth(config, tmp_path, "device")
    problems, shown = oauth_status(config)
    assert problems == [
        "oauth mailbox support: not signed in yet; run `mailtix auth login --mailbox support`"
    ]
    assert shown["healthy"] is False and shown["signed_in"] is False


def test_a_refused_refresh_needs_a_login(config: Config, tmp_path: Path) -> None:
    config, cache = with_oauth(config, tmp_path, "refresh_token")
    write_cache(cache, {"refresh_token": "r", "refused": "mailbox support: ... refused",
                        "refused_at": "2026-12-02T09:58:00+00:00"})  # fmt: skip
    problems, _ = oauth_status(config)
    assert problems == [
        "oauth mailbox support: sign-in refused at 2026-12-02T09:58:00+00:00; "
        "run `mailtix auth login --mailbox support`"
    ]


@pytest.mark.parametrize(
    ("cached", "healthy"),
    [
        ({"refresh_token": "r", "refresh_expires_at": EPOCH + 1800}, False),
        ({"refresh_token": "r", "refresh_expires_at": EPOCH + 7200}, True),
        ({"access_token": "a", "expires_at": EPOCH + 1800}, False),  # no refresh token
    ],
)
def test_the_token_an_account_lives_on_running_out_within_the_hour(
    config: Config, tmp_path: Path, cached: dict[str, object], healthy: bool
) -> None:
    config, cache = with_oauth(config, tmp_path, "device")
    write_cache(cache, cached)
    problems, shown = oauth_status(config)
    assert shown["healthy"] is healthy and (problems == []) is healthy
    ends = NOW + timedelta(seconds=float(str(cached.get("refresh_expires_at") or
                                              cached["expires_at"])) - EPOCH)  # fmt: skip
    assert shown["expires_at"] == ends.isoformat() + "+00:00"
    if not healthy:
        assert problems[0].startswith(f"oauth mailbox support: token expires {shown['expires_at']}")


def test_an_inherited_smtp_sign_in_is_listed_once(config: Config, tmp_path: Path) -> None:
    shared = OAuth2Config(
        provider="generic",
        client_id="c",
        flow="device",
        token_url="http://127.0.0.1:9/token",
        token_cache=tmp_path / "s.json",
    )
    smtp = replace(config.smtp, oauth2=shared)
    mailbox = replace(config.mailboxes[0], smtp=smtp)  # [mailbox.smtp] with [smtp]'s sign-in
    config = replace(config, smtp=smtp, mailboxes=(mailbox,))
    assert [a["account"] for a in build_status(config, NOW)["oauth"]] == ["smtp"]
    own = replace(shared, token_cache=tmp_path / "own.json")
    config = replace(config, mailboxes=(replace(mailbox, smtp=replace(smtp, oauth2=own)),))
    report = build_status(config, NOW)
    assert [a["account"] for a in report["oauth"]] == ["smtp", "mailbox support smtp"]
    assert report["problems"][-1] == (
        "oauth mailbox support smtp: not signed in yet; "
        "run `mailtix auth login --mailbox support --smtp`"
    )  # fmt: skip
