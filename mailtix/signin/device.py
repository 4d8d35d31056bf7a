"""The device authorization grant of RFC 8628 at any provider that speaks it plainly: ask the
device endpoint for a code, let a person enter it at the verification URL, and poll the token
endpoint until they have (``authorization_pending``), waiting longer when told to
(``slow_down``: 5 s more), and stopping on ``access_denied``, ``expired_token`` or the code's
own expiry. A poll the endpoint did not answer (unreachable, a dropped connection, a timeout,
an HTTP error naming no OAuth error, ``server_error``, ``temporarily_unavailable``) is tried
again until the code expires, each time at twice the interval (RFC 8628 3.5), said once in the
log. Sleep and clock are injectable so the states can be tested without waiting."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from mailtix.signin.endpoint import REFUSALS, EndpointError, post_form, seconds

GRANT = "urn:ietf:params:oauth:grant-type:device_code"
SLOW_DOWN = 5.0  # seconds added to the interval on each slow_down (RFC 8628 3.5)
DEFAULT_INTERVAL = 5.0  # when the provider names none (RFC 8628 3.2)
MIN_INTERVAL = 1.0  # a provider's 0, negative or tiny interval: no busy loop against it
MAX_CODE_SECONDS = 3600.0  # a code's life (Microsoft 900 s, Google 1800 s); longer is absurd
MAX_BACKOFF = 60.0  # the longest wait between polls after unanswered ones
TRY_LATER = frozenset({"server_error", "temporarily_unavailable"})  # RFC 6749 5.2

log = logging.getLogger(__name__)


class DeviceLoginError(Exception):
    """The device login ended without a token: ``code`` is why (access_denied, expired_token,
    or the provider's error); its message never carries a code or a token."""

    def __init__(self, message: str, code: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class DeviceCode:
    """What the person needs (``verification_uri``, ``user_code``) and what polling needs."""

    verification_uri: str
    user_code: str
    expires_in: float
    interval: float
    device_code: str = field(repr=False)


def start(device_url: str, client_id: str, scopes: tuple[str, ...]) -> DeviceCode:
    """Ask ``device_url`` for a code (RFC 8628 3.1)."""
    answer = post_form(device_url, {"client_id": client_id, "scope": " ".join(scopes)})
    try:
        return DeviceCode(
            verification_uri=str(answer["verification_uri"]),
            user_code=str(answer["user_code"]),
            expires_in=seconds(
                answer.get("expires_in") or 900, 900, MIN_INTERVAL, MAX_CODE_SECONDS
            ),
            interval=seconds(
                answer.get("interval") or DEFAULT_INTERVAL, DEFAULT_INTERVAL, MIN_INTERVAL, 300.0
            ),
            device_code=str(answer["device_code"]),
        )
    except (KeyError, TypeError, ValueError):
        raise EndpointError("the device endpoint's answer lacks a code", refused=False) from None


def poll(
    token_url: str,
    client_id: str,
    secret: str | None,
    code: DeviceCode,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Poll ``token_url`` until the person approved ``code``: the token answer (RFC 8628 3.4,
    3.5). A ``KeyboardInterrupt`` in ``sleep`` goes through (the CLI exits 130)."""
    deadline = clock() + code.expires_in
    interval = code.interval
    fields = {"grant_type": GRANT, "device_code": code.device_code, "client_id": client_id,
              "client_secret": secret or ""}  # fmt: skip
    warned = False
    while True:
        sleep(interval)
        if clock() > deadline:
            raise DeviceLoginError("the code expired before it was entered", "expired_token")
        try:
            answer = post_form(token_url, fields)
            if "error" in answer and "access_token" not in answer:  # a 200 saying no (GitHub)
                error = str(answer["error"])[:60]
                raise EndpointError(error, refused=error in REFUSALS, code=error)
            return answer
        except EndpointError as exc:
            if exc.code == "authorization_pending":
                continue
            if exc.code == "slow_down":
                interval += SLOW_DOWN
                continue
            if exc.code == "access_denied":
                raise DeviceLoginError("the sign-in was declined", exc.code) from None
            if exc.code == "expired_token":
                raise DeviceLoginError("the code expired before it was entered", exc.code) from None
            if exc.refused:
                raise DeviceLoginError(f"the provider refused: {exc}", exc.code) from None
            if exc.code and exc.code not in TRY_LATER:  # no code: it did not answer
                raise
            if not warned:
                log.warning("%s; trying again until the code expires", exc)
                warned = True
            interval = max(interval, min(interval * 2, MAX_BACKOFF))
