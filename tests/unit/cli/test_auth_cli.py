"""``mailtix auth login`` / ``auth status`` as the CLI runs them (in-process, against the local
OAuth2 server): which account a flag names, the prompt on one clean line whatever the provider
sends, the outcome on stdout and no token anywhere; every account listed once."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.oauth_server import OAuthServer

from mailtix.cli.main import main


@pytest.fixture
def server() -> Iterator[OAuthServer]:
    with OAuthServer(lifetime=100, interval=0.02) as running:
        yield running


def oauth2(server: OAuthServer, table: str, flow: str = "device", cache: str = "") -> str:
    text = (f'[{table}.oauth2]\nprovider = "generic"\nclient_id = "mailtix"\nflow = "{flow}"\n'
            f'token_url = "{server.token_url}"\n')  # fmt: skip
    if flow == "device":
        text += f'device_url = "{server.device_url}"\n'
    if flow == "client_credentials":
        text += 'client_secret = "app-secret"\n'
    return text + (f'token_cache = "{cache}"\n' if cache else "")


def write(tmp_path: Path, server: OAuthServer) -> Path:
    server.app_secrets["mailtix"] = "app-secret"
    (tmp_path / "mailtix.toml").write_text(
        '[store]\nurl = "sqlite:///mailtix.db"\n'
        '[smtp]\nhost = "127.0.0.1"\nport = 2525\nusername = "desk"\nauth = "oauth2"\n'
        + oauth2(server, "smtp", "client_credentials")
        + '[[mailbox]]\nname = "support"\naddress = "support@acme.example"\nhost = "127.0.0.1"\n'
        'username = "support"\nauth = "oauth2"\n'
        + oauth2(server, "mailbox")
        + '[mailbox.smtp]\nhost = "127.0.0.1"\nport = 2526\nusername = "support"\n'
        'auth = "oauth2"\n'
        + oauth2(server, "mailbox.smtp", cache="var/oauth-support-smtp.json")
        + '[[mailbox]]\nname = "sales"\naddress = "sales@acme.example"\nhost = "127.0.0.1"\n'
        'username = "sales"\npassword = "pw"\n'
    )
    return tmp_path / "mailtix.toml"


def run(config: Path, *args: str) -> int:
    return main(["--config", str(config), *args])


def approve_when_asked(server: OAuthServer, user: str) -> threading.Thread:
    """The person approves once the client has polled (and been told to wait) at least once."""

    def person() -> None:
        code = server.wait_for_device_code()
        deadline = time.monotonic() + 10
        while not server.polls(code) and time.monotonic() < deadline:
            time.sleep(0.01)
        server.approve(code, user)

    thread = threading.Thread(target=person)
    thread.start()
    return thread


def test_login_prompts_on_one_clean_line_and_keeps_the_tokens(
    tmp_path: Path, server: OAuthServer, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(tmp_path, server)
    server.code_suffix = "\x1b]0;owned\x07\r\nsigned in (fake)"  # what a hostile endpoint sends
    server.errors_with_200 = True  # and "authorization_pending" with HTTP 200, as GitHub does
    approving = approve_when_asked(server, "support")
    assert run(config, "auth", "login", "--mailbox", "support") == 0
    approving.join()
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3, lines
    assert lines[0].startswith(f"mailbox support: to sign in as support, open {server.url}/verify")
    assert "\x1b" not in lines[0] and "\x07" not in lines[0]
    assert lines[2].startswith("mailbox support: signed in (generic, flow device); access token")
    kept = json.loads((tmp_path / "var" / "oauth-support.json").read_text())
    assert kept["access_token"] not in "\n".join(lines)


def test_the_flags_name_the_account(
    tmp_path: Path, server: OAuthServer, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(tmp_path, server)
    approving = approve_when_asked(server, "support")
    assert run(config, "auth", "login", "--mailbox", "support", "--smtp") == 0
    approving.join()
    assert "mailbox support smtp: signed in" in capsys.readouterr().out
    assert (tmp_path / "var" / "oauth-support-smtp.json").exists()
    assert run(config, "auth", "login", "--smtp") == 0
    assert "smtp: flow client_credentials needs no person to sign in: the app signed itself" in (
        capsys.readouterr().out
    )
    assert server.requests.count(("POST", "/device")) == 1  # the app asked nothing
    for wrong, said in [
        (["--mailbox", "sales"], "mailbox sales signs in with a password"),
        (["--mailbox", "nope"], "no mailbox 'nope' (known: support, sales)"),
        (["--mailbox", "sales", "--smtp"], "mailbox sales has no [mailbox.smtp] signing in"),
        ([], "name the account: --mailbox NAME or --smtp"),
    ]:
        assert run(config, "auth", "login", *wrong) == 2
        assert said in capsys.readouterr().err


def test_status_lists_every_account_once(
    tmp_path: Path, server: OAuthServer, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(tmp_path, server)
    assert run(config, "auth", "status", "--json") == 0
    shown = json.loads(capsys.readouterr().out)
    assert [(s["account"], s["flow"], s["signed_in"]) for s in shown] == [
        ("mailbox support", "device", False),
        ("smtp", "client_credentials", False),
        ("mailbox support smtp", "device", False),
    ]
