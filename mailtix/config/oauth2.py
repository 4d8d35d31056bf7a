"""The ``[mailbox.oauth2]`` / ``[smtp.oauth2]`` block: how one account signs in with OAuth2.

One section class for every place an account can sign in (``[[mailbox]]``, ``[smtp]``, and a
mailbox's own ``[mailbox.smtp]``), read by ``read_oauth2`` with the checks across its keys:
which flows a provider allows, the endpoints a generic provider needs, the scopes and token
cache each provider defaults to.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from mailtix.config.reader import Reader, check_secret, is_loopback
from mailtix.config.schema import key, keys, read_keys

AUTH_MODES = ("password", "oauth2")
PROVIDERS = ("microsoft", "google", "generic")
FLOWS = ("device", "client_credentials", "refresh_token")
OUTLOOK = "https://outlook.office365.com/"
DEFAULT_SCOPES = {
    ("microsoft", "delegated"): (OUTLOOK + "IMAP.AccessAsUser.All", OUTLOOK + "SMTP.Send"),
    ("microsoft", "client_credentials"): (OUTLOOK + ".default",),
    ("google", "delegated"): ("https://mail.google.com/",),
}
DEFAULT_FLOW = {"microsoft": "device", "google": "refresh_token", "generic": "refresh_token"}
FLOWS_OF = {
    "microsoft": FLOWS,
    "google": ("refresh_token",),  # Google's device flow does not grant mail scopes
    "generic": FLOWS,
}


def _url_problem(text: str) -> str:
    if not text:
        return ""
    if not re.match(r"^https?://[^\s/]+", text):
        return f'must be an http(s) URL, got "{text}"'
    host = urllib.parse.urlsplit(text).hostname or ""
    if text.startswith("http:") and not is_loopback(host):
        return (
            f'"{text}" is plain http: tokens and secrets would cross the network in clear; '
            "use https (http only on loopback)"
        )
    return ""


@dataclass(frozen=True)
class OAuth2Config:
    provider: str = key("", choices=PROVIDERS, derived=True)  # required: no default
    client_id: str = key("", required=True, clean=str.strip)
    client_secret: str | None = key(None, "text", secret=True)  # not needed for device flow
    tenant: str = key("organizations", nonempty=True, clean=str.strip)  # microsoft only
    flow: str = key("", choices=FLOWS, derived=True)  # default: device for microsoft, else
    # refresh_token
    token_url: str = key("", clean=str.strip, check=_url_problem)  # generic (else an override)
    device_url: str = key("", clean=str.strip, check=_url_problem)  # generic, for flow device
    refresh_token: str | None = key(None, "text", secret=True)  # the first one, flow
    # refresh_token; later ones go to token_cache
    scopes: tuple[str, ...] = key((), "strings", derived=True)  # default per provider
    token_cache: Path | None = key(None, "path", derived=True)  # default var/oauth-NAME.json


def read_oauth2(
    parent: Reader, base: Path, env: dict[str, str] | None, auth: str, account: str
) -> OAuth2Config | None:
    """The ``oauth2`` table of ``parent`` when ``auth = "oauth2"`` (None for passwords);
    ``account`` names the default token cache ``var/oauth-ACCOUNT.json``."""
    given = parent.has("oauth2")
    if auth != "oauth2":
        if given:
            parent.problem("oauth2", 'given, but auth is "password" (set auth = "oauth2")')
        return None
    if not given:
        table = "[" + re.sub(r"\[\d+\]", "", parent.prefix) + ".oauth2]"
        parent.problem("auth", f'"oauth2" needs a {table} table (provider, client_id)')
        return None
    reader = Reader(
        parent.problems, parent.file, parent.key("oauth2"), parent.raw("oauth2"), keys(OAuth2Config)
    )
    values = read_keys(OAuth2Config, reader, skip=("provider", "flow", "scopes", "token_cache"))
    values["provider"] = _choice(reader, "provider", "", PROVIDERS)
    values["flow"] = _choice(reader, "flow", DEFAULT_FLOW.get(values["provider"], ""), FLOWS)
    values["client_secret"] = check_secret(reader, base, env, "client_secret")
    values["refresh_token"] = check_secret(reader, base, env, "refresh_token")
    values["scopes"] = _scopes(reader, values["provider"], values["flow"])
    cache = reader.text("token_cache", "", required=reader.has("token_cache"))
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", account).strip("-.") or "account"
    values["token_cache"] = base / (cache or f"var/oauth-{safe}.json")
    found = OAuth2Config(**values)
    _check_flow(reader, found)
    return found


def _choice(reader: Reader, name: str, default: str, choices: tuple[str, ...]) -> str:
    if not reader.has(name):
        if not default:
            reader.problem(name, f"required: {' | '.join(choices)}")
        return default
    return reader.choice(name, default, choices)


def _scopes(reader: Reader, provider: str, flow: str) -> tuple[str, ...]:
    if reader.has("scopes"):
        return reader.strings("scopes") or ()
    kind = "client_credentials" if flow == "client_credentials" else "delegated"
    return DEFAULT_SCOPES.get((provider, kind), ())


def _check_flow(reader: Reader, found: OAuth2Config) -> None:
    """What one provider and flow need of the other keys."""
    provider, flow = found.provider, found.flow
    if provider and flow and flow not in FLOWS_OF[provider]:
        allowed = " | ".join(FLOWS_OF[provider])
        reader.problem("flow", f'"{flow}" is not offered for provider "{provider}" ({allowed})')
    if provider == "generic" and not found.token_url:
        reader.problem("token_url", 'required for provider "generic" (the RFC 6749 endpoint)')
    if provider == "generic" and flow == "device" and not found.device_url:
        reader.problem("device_url", 'required for flow "device" with provider "generic"')
    secret_given = any(reader.has(k) for k in keys(OAuth2Config) if k.startswith("client_secret"))
    if flow == "client_credentials" and not secret_given:
        reader.problem(
            "client_secret", 'required for flow "client_credentials" (client_secret_env or _file)'
        )
    if flow == "client_credentials" and provider == "microsoft" and found.tenant == "organizations":
        reader.problem("tenant", 'flow "client_credentials" needs your tenant, e.g. contoso.com')
    token_given = any(reader.has(k) for k in keys(OAuth2Config) if k.startswith("refresh_token"))
    if token_given and flow != "refresh_token":
        reader.problem("refresh_token", f'only used with flow "refresh_token", not "{flow}"')
