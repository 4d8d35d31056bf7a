"""Microsoft 365 tokens through msal: a person's first ones by the device flow, a refresh
token's new access token (delegated: IMAP.AccessAsUser.All, SMTP.Send) or an app's own
(client credentials: IMAP.AccessAsApp). msal's answers become the plain RFC 6749 fields the
cache keeps; its errors EndpointError. ``authority`` defaults to login.microsoftonline.com and
the account's tenant; another one (tests: a local HTTPS server) skips instance discovery."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from mailtix.config.oauth2 import OAuth2Config
from mailtix.signin.device import MAX_BACKOFF, MAX_CODE_SECONDS, TRY_LATER
from mailtix.signin.endpoint import REFUSALS, EndpointError, seconds

AUTHORITY = "https://login.microsoftonline.com/"

log = logging.getLogger(__name__)


def _where(oauth2: OAuth2Config, authority: str) -> dict[str, Any]:
    if authority:
        return {"authority": authority, "instance_discovery": False}
    return {"authority": AUTHORITY + oauth2.tenant}


def microsoft_token(oauth2: OAuth2Config, refresh: object, authority: str = "") -> dict[str, Any]:
    import msal  # lazily: only accounts that sign in at Microsoft load it

    scopes = list(oauth2.scopes)
    try:
        if oauth2.flow == "client_credentials":
            app = msal.ConfidentialClientApplication(
                oauth2.client_id, client_credential=oauth2.client_secret,
                **_where(oauth2, authority),
            )  # fmt: skip
            answer = app.acquire_token_for_client(scopes)
        else:
            public = msal.PublicClientApplication(oauth2.client_id, **_where(oauth2, authority))
            answer = public.acquire_token_by_refresh_token(str(refresh), scopes)
    except (ValueError, OSError) as exc:  # msal raises ValueError for an unknown tenant
        raise EndpointError(f"msal: {type(exc).__name__}", refused=False) from None
    return from_msal(answer)


def microsoft_device_login(
    oauth2: OAuth2Config,
    show: Callable[[str, str, float], None],
    authority: str = "",
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """The device flow through msal: ``show(url, user_code, seconds)`` once the code is known,
    then msal polls until the person has entered it (or declined, or it expired). When msal's
    polling stops on the network (or on a "try later" answer), it is started again on the same
    code until the code expires, waiting twice as long each time, said once in the log."""
    import msal

    try:
        app = msal.PublicClientApplication(oauth2.client_id, **_where(oauth2, authority))
        flow = app.initiate_device_flow(scopes=list(oauth2.scopes))
        if "user_code" not in flow:
            return from_msal(flow)  # its error
        flow["interval"] = int(seconds(flow.get("interval"), 5, 1, 300))  # msal waits whole s
        show(str(flow.get("verification_uri", "")), str(flow["user_code"]),
             seconds(flow.get("expires_in"), 900, 1, MAX_CODE_SECONDS))  # fmt: skip
        answer = _poll(app, flow, sleep)
    except (ValueError, OSError) as exc:
        raise EndpointError(f"msal: {type(exc).__name__}", refused=False) from None
    return from_msal(answer)


def _poll(app: Any, flow: dict[str, Any], sleep: Callable[[float], None]) -> object:
    wait, warned = float(flow["interval"]), False
    while True:
        try:
            answer = app.acquire_token_by_device_flow(flow)
            if not isinstance(answer, dict) or answer.get("error") not in TRY_LATER:
                return answer
            why = str(answer["error"])[:60]
        except OSError as exc:  # requests' ConnectionError and Timeout are OSErrors
            why = f"msal: {type(exc).__name__}"
        wait = min(wait * 2, MAX_BACKOFF)
        if time.time() + wait > float(flow.get("expires_at", 0)):
            raise EndpointError(f"{why}; the code expired meanwhile", refused=False)
        if not warned:
            log.warning("%s while waiting for the sign-in; trying again until the code expires",
                        why)  # fmt: skip
            warned = True
        sleep(wait)


def from_msal(answer: object) -> dict[str, Any]:
    """msal's result dict as token fields; its ``error`` as EndpointError (no description
    text: it may quote what was sent)."""
    if not isinstance(answer, dict):
        raise EndpointError("msal gave no answer", refused=False)
    if "access_token" in answer:
        return answer
    code = str(answer.get("error", "unknown_error"))[:60]
    refused = code in REFUSALS or code == "authorization_declined"
    raise EndpointError(code, refused=refused, code=code)
