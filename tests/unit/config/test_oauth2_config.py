"""auth = "oauth2" and the [mailbox.oauth2] / [smtp.oauth2] block: defaults per provider, one
line per problem, and the example naming every key of the block."""

from __future__ import annotations

import sys
from pathlib import Path

from mailtix.config.load import check_problems, load_config
from mailtix.config.oauth2 import OAuth2Config

sys.path.insert(0, str(Path(__file__).parent))
from test_config_schema import example_keys, section_problems  # noqa: E402

SMTP = """\
[smtp]
host = "smtp.example.com"
username = "support@example.com"
password = "x"
"""

MAILBOX = """\
[[mailbox]]
name = "support"
address = "support@example.com"
host = "imap.example.com"
auth = "oauth2"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mailtix.toml"
    path.write_text(text)
    return path


def problems(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> list[str]:
    found = check_problems(write(tmp_path, text), env or {})
    assert all("\n" not in line for line in found)
    return found


def test_microsoft_mailbox_defaults(tmp_path: Path) -> None:
    text = SMTP + MAILBOX + '[mailbox.oauth2]\nprovider = "microsoft"\nclient_id = "abc"\n'
    config = load_config(write(tmp_path, text), {})
    box = config.mailboxes[0]
    assert box.auth == "oauth2" and box.password is None
    assert box.oauth2 == OAuth2Config(
        provider="microsoft",
        client_id="abc",
        flow="device",
        scopes=(
            "https://outlook.office365.com/IMAP.AccessAsUser.All",
            "https://outlook.office365.com/SMTP.Send",
        ),
        token_cache=tmp_path / "var" / "oauth-support.json",
    )
    assert config.smtp.auth == "password" and config.smtp.oauth2 is None


def test_generic_smtp_with_secrets_from_the_environment(tmp_path: Path) -> None:
    text = (
        '[smtp]\nhost = "smtp.example.com"\nusername = "me@example.com"\nauth = "oauth2"\n'
        '[smtp.oauth2]\nprovider = "generic"\nclient_id = "c"\n'
        'token_url = "https://auth.example.com/token"\nclient_secret_env = "S"\n'
        'refresh_token_env = "R"\nscopes = ["mail"]\ntoken_cache = "t/smtp.json"\n'
    )
    text += MAILBOX.replace('auth = "oauth2"', 'password = "x"')
    config = load_config(write(tmp_path, text), {"S": "s3cr3t-value", "R": "r3fresh-value"})
    oauth2 = config.smtp.oauth2
    assert oauth2 is not None
    assert (oauth2.flow, oauth2.client_secret, oauth2.refresh_token) == (
        "refresh_token",
        "s3cr3t-value",
        "r3fresh-value",
    )
    assert oauth2.scopes == ("mail",) and oauth2.token_cache == tmp_path / "t" / "smtp.json"
    assert "s3cr3t" not in repr(oauth2) and "r3fresh" not in repr(oauth2)


def test_each_problem_is_one_line(tmp_path: Path) -> None:
    assert problems(tmp_path, SMTP + MAILBOX) == [
        'mailtix.toml: mailbox[0].auth: "oauth2" needs a [mailbox.oauth2] table '
        "(provider, client_id)"
    ]
    text = SMTP + MAILBOX.replace('auth = "oauth2"', 'password = "x"')
    text += '[mailbox.oauth2]\nprovider = "google"\nclient_id = "c"\n'
    assert problems(tmp_path, text) == [
        'mailtix.toml: mailbox[0].oauth2: given, but auth is "password" (set auth = "oauth2")'
    ]
    text = SMTP + MAILBOX + 'password = "x"\n[mailbox.oauth2]\nclient_id = "c"\nflow = "dev"\n'
    assert problems(tmp_path, text) == [
        "mailtix.toml: mailbox[0].oauth2.provider: required: microsoft | google | generic",
        "mailtix.toml: mailbox[0].oauth2.flow: must be one of device | client_credentials | "
        'refresh_token, got "dev"',
        'mailtix.toml: mailbox[0].password: not used with auth = "oauth2" (remove it)',
    ]


def test_what_a_provider_and_flow_need(tmp_path: Path) -> None:
    def block(lines: str) -> list[str]:
        return problems(tmp_path, SMTP + MAILBOX + "[mailbox.oauth2]\n" + lines)

    where = "mailtix.toml: mailbox[0].oauth2"
    assert block('provider = "generic"\nclient_id = "c"\nflow = "device"\n') == [
        f'{where}.token_url: required for provider "generic" (the RFC 6749 endpoint)',
        f'{where}.device_url: required for flow "device" with provider "generic"',
    ]
    assert block('provider = "google"\nclient_id = "c"\nflow = "device"\n') == [
        f'{where}.flow: "device" is not offered for provider "google" (refresh_token)'
    ]
    assert block('provider = "microsoft"\nclient_id = "c"\nflow = "client_credentials"\n') == [
        f'{where}.client_secret: required for flow "client_credentials" '
        "(client_secret_env or _file)",
        f'{where}.tenant: flow "client_credentials" needs your tenant, e.g. contoso.com',
    ]
    assert block('provider = "microsoft"\nclient_id = "c"\nrefresh_token = "r"\n') == [
        f'{where}.refresh_token: only used with flow "refresh_token", not "device"'
    ]
    assert block('provider = "generic"\nclient_id = "c"\ntoken_url = "ftp://x"\n') == [
        f'{where}.token_url: must be an http(s) URL, got "ftp://x"'
    ]
    assert block('provider = "google"\nclient_id = ""\nclient_secret_env = "NOPE"\n') == [
        f"{where}.client_id: must not be empty",
        f"{where}.client_secret_env: environment variable NOPE is not set",
    ]


def test_smtp_with_oauth2_needs_the_account_name(tmp_path: Path) -> None:
    text = '[smtp]\nhost = "smtp.example.com"\nauth = "oauth2"\n'
    text += '[smtp.oauth2]\nprovider = "google"\nclient_id = "c"\n'
    text += MAILBOX.replace('auth = "oauth2"', 'password = "x"')
    assert problems(tmp_path, text) == [
        'mailtix.toml: smtp.username: required with auth = "oauth2" (the account to send as)'
    ]


def test_example_names_every_key_of_the_oauth2_block() -> None:
    named = example_keys()
    assert section_problems("mailbox.oauth2", OAuth2Config, named) == []
    smtp = section_problems("smtp.oauth2", OAuth2Config, named)
    assert [line for line in smtp if "not in the example" not in line] == []
