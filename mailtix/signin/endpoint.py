"""Plain RFC 6749 / RFC 8628 requests to a token endpoint (stdlib urllib): a form POST in, the
JSON answer out. A refusal (``invalid_grant`` and the like) is told apart from an endpoint
that cannot be reached; neither message ever carries a token."""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

REFUSALS = {"invalid_grant", "invalid_client", "unauthorized_client", "access_denied",
            "expired_token", "invalid_scope"}  # fmt: skip


MAX_ANSWER_BYTES = 1 << 20  # a token answer is ~2-5 KB; more is not read into memory


class EndpointError(Exception):
    """``refused``: the provider said no (sign in again); else it could not be asked."""

    def __init__(self, message: str, *, refused: bool, code: str = "") -> None:
        super().__init__(message)
        self.refused = refused
        self.code = code  # the RFC 6749 error code, when the endpoint named one


def post_form(url: str, fields: dict[str, str], timeout: float = 30.0) -> dict[str, Any]:
    """POST ``fields`` to ``url``; the JSON answer of a 2xx, else EndpointError."""
    body = urllib.parse.urlencode({k: v for k, v in fields.items() if v}).encode()
    request = urllib.request.Request(url, data=body, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return _json(_bounded(response, url))
    except urllib.error.HTTPError as exc:
        answer = _json(_bounded(exc, url))
        code = str(answer.get("error", ""))[:60]
        if code:  # RFC 6749 5.2: an error answer names what is wrong
            raise EndpointError(
                f"{code} (HTTP {exc.code})", refused=code in REFUSALS, code=code
            ) from None
        raise EndpointError(f"HTTP {exc.code} from {url}", refused=False) from None
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        raise EndpointError(f"cannot reach {url}: {reason}", refused=False) from None


def _bounded(response: Any, url: str) -> bytes:
    raw = bytes(response.read(MAX_ANSWER_BYTES + 1))
    if len(raw) > MAX_ANSWER_BYTES:
        raise EndpointError(f"answer from {url} too large (over {MAX_ANSWER_BYTES} bytes)",
                            refused=False)  # fmt: skip
    return raw


def seconds(value: Any, default: float, low: float, high: float) -> float:
    """A provider's number of seconds, within [low, high]; ``default`` when it is no finite
    number (a string, NaN, infinity)."""
    try:
        found = float(value)
    except (TypeError, ValueError):
        return default
    return min(max(found, low), high) if math.isfinite(found) else default


def _json(raw: bytes) -> dict[str, Any]:
    try:
        data = json.loads(raw.decode("utf-8", "replace") or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def refresh_grant(url: str, client_id: str, secret: str | None, refresh: str,
                  scopes: tuple[str, ...]) -> dict[str, Any]:  # fmt: skip
    """A new access token (and maybe a new refresh token) for ``refresh``."""
    fields = {"grant_type": "refresh_token", "refresh_token": refresh, "client_id": client_id,
              "client_secret": secret or "", "scope": " ".join(scopes)}  # fmt: skip
    return post_form(url, fields)
