"""A token or device endpoint over plain http would carry the refresh token, the client secret
and every access token in clear: refused unless it is on this host (a local test server)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_oauth2_config import MAILBOX, SMTP, problems  # noqa: E402

WHERE = "mailtix.toml: mailbox[0].oauth2"


def block(tmp_path: Path, lines: str) -> list[str]:
    start = '[mailbox.oauth2]\nprovider = "generic"\nclient_id = "c"\nrefresh_token = "r"\n'
    return problems(tmp_path, SMTP + MAILBOX + start + lines)


@pytest.mark.parametrize("key", ["token_url", "device_url"])
def test_plain_http_to_another_host_is_refused(tmp_path: Path, key: str) -> None:
    lines = 'token_url = "https://auth.example.com/token"\n' if key == "device_url" else ""
    found = block(tmp_path, lines + f'{key} = "http://auth.example.com/oauth2"\n')
    assert found == [
        f'{WHERE}.{key}: "http://auth.example.com/oauth2" is plain http: tokens and secrets '
        "would cross the network in clear; use https (http only on loopback)"
    ]


@pytest.mark.parametrize("host", ["127.0.0.1:8080", "localhost", "[::1]:9000"])
def test_plain_http_on_loopback_is_allowed(tmp_path: Path, host: str) -> None:
    assert block(tmp_path, f'token_url = "http://{host}/token"\n') == []
