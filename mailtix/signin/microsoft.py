"""Microsoft 365 tokens through msal: a refresh token's new access token (delegated:
IMAP.AccessAsUser.All, SMTP.Send) or an app's own (client credentials: IMAP.AccessAsApp).
msal's answers become the plain RFC 6749 fields the cache keeps; its errors EndpointError."""

from __future__ import annotations

from typing import Any

from mailtix.config.oauth2 import OAuth2Config
from mailtix.signin.endpoint import REFUSALS, EndpointError

AUTHORITY = "https://login.microsoftonline.com/"


def microsoft_token(oauth2: OAuth2Config, refresh: object) -> dict[str, Any]:
    import msal  # lazily: only accounts that sign in at Microsoft load it

    authority = AUTHORITY + oauth2.tenant
    scopes = list(oauth2.scopes)
    try:
        if oauth2.flow == "client_credentials":
            app = msal.ConfidentialClientApplication(
                oauth2.client_id, client_credential=oauth2.client_secret, authority=authority
            )
            answer = app.acquire_token_for_client(scopes)
        else:
            app = msal.PublicClientApplication(oauth2.client_id, authority=authority)
            answer = app.acquire_token_by_refresh_token(str(refresh), scopes)
    except (ValueError, OSError) as exc:  # msal raises ValueError for an unknown tenant
        raise EndpointError(f"msal: {type(exc).__name__}", refused=False) from None
    return from_msal(answer)


def from_msal(answer: object) -> dict[str, Any]:
    """msal's result dict as token fields; its ``error`` as EndpointError (no description
    text: it may quote what was sent)."""
    if not isinstance(answer, dict):
        raise EndpointError("msal gave no answer", refused=False)
    if "access_token" in answer:
        return answer
    code = str(answer.get("error", "unknown_error"))[:60]
    raise EndpointError(code, refused=code in REFUSALS)
