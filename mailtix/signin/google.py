"""Google Workspace tokens through google-auth: a refresh token's new access token for
https://mail.google.com/ (``token_url`` may name another endpoint than Google's)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from mailtix.config.oauth2 import OAuth2Config
from mailtix.signin.endpoint import EndpointError

TOKEN_URI = "https://oauth2.googleapis.com/token"


def google_token(oauth2: OAuth2Config, refresh: str) -> dict[str, Any]:
    from google.auth.exceptions import RefreshError, TransportError
    from google.auth.transport.requests import Request
    from google.oauth2.credentials import Credentials

    credentials = Credentials(
        None, refresh_token=refresh, token_uri=oauth2.token_url or TOKEN_URI,
        client_id=oauth2.client_id, client_secret=oauth2.client_secret,
        scopes=list(oauth2.scopes),
    )  # fmt: skip
    try:
        credentials.refresh(Request())
    except RefreshError as exc:
        code = exc.args[1].get("error", "refused") if len(exc.args) > 1 and isinstance(
            exc.args[1], dict) else "refused"  # fmt: skip
        raise EndpointError(str(code)[:60], refused=True) from None
    except TransportError:
        raise EndpointError("cannot reach Google's token endpoint", refused=False) from None
    expiry = credentials.expiry  # naive UTC
    left = (expiry.replace(tzinfo=UTC) - datetime.now(UTC)).total_seconds() if expiry else 3600
    return {"access_token": credentials.token, "expires_in": max(1, int(left)),
            "refresh_token": credentials.refresh_token}  # fmt: skip
