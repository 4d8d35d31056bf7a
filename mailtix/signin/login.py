"""Signing an account in by hand (``mailtix auth login``): the device flow for
``flow = "device"`` (msal for Microsoft, plain RFC 8628 for a generic provider), a first
refresh with the configured refresh token for ``flow = "refresh_token"``; an app's own
``client_credentials`` need no person (the app asks for a token now, which shows its secret
works and clears a refusal ``mailtix status`` reported). What the provider sends is kept
through ``tokens.store`` (atomic, 0600), replacing what the cache held."""

from __future__ import annotations

import time
from collections.abc import Callable

from mailtix.signin import device
from mailtix.signin.cache import locked
from mailtix.signin.endpoint import EndpointError
from mailtix.signin.tokens import AccessToken, Account, SignInError, fresh_token, store

Show = Callable[[str, str, float], None]  # (verification URL, user code, seconds it is good)
REASONS = {
    "access_denied": "the sign-in was declined",
    "authorization_declined": "the sign-in was declined",  # Microsoft's word for it
    "expired_token": "the code expired before it was entered",
}


def log_in(
    account: Account,
    show: Show,
    *,
    sleep: Callable[[float], None] = time.sleep,
    authority: str = "",
) -> AccessToken:
    """Sign ``account`` in now. ``authority``: another Microsoft authority than the real one
    (tests)."""
    oauth2 = account.oauth2
    if oauth2.flow in ("client_credentials", "refresh_token"):
        return fresh_token(account, force=True)
    try:
        if oauth2.provider == "microsoft":
            from mailtix.signin.microsoft import microsoft_device_login

            answer = microsoft_device_login(oauth2, show, authority, sleep)
        else:
            code = device.start(oauth2.device_url, oauth2.client_id, oauth2.scopes)
            show(code.verification_uri, code.user_code, code.expires_in)
            answer = device.poll(oauth2.token_url, oauth2.client_id, oauth2.client_secret,
                                 code, sleep=sleep)  # fmt: skip
    except device.DeviceLoginError as exc:
        raise SignInError(f"{account.name}: not signed in: {exc}", needs_login=True) from None
    except EndpointError as exc:
        reason = REASONS.get(exc.code or str(exc), str(exc))
        raise SignInError(f"{account.name}: not signed in: {reason}",
                          needs_login=exc.refused) from None  # fmt: skip
    assert oauth2.token_cache is not None
    with locked(oauth2.token_cache):
        return store(account, {}, answer, time.time())
