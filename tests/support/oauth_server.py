"""A small OAuth2 server for tests, in the test process: the token endpoint mailtix refreshes
its access tokens at (RFC 6749 refresh_token grant; short-lived tokens), the device
authorization endpoint of RFC 8628 (the test plays the user who approves a code), and the
introspection endpoint Dovecot asks whether a token is good (``passdb { driver = oauth2 }``).
With ``tls=True`` it speaks HTTPS with a throwaway certificate (``ca_file``) and serves the
OpenID configuration msal reads, so msal can be pointed at it as a Microsoft authority.

    with OAuthServer(lifetime=3) as server:
        refresh = server.grant("support")          # a refresh token for user "support"
        server.token_url, server.introspection_url, server.device_url
        server.revoke(refresh)                     # from now on: invalid_grant
        code = server.wait_for_device_code()       # the user_code a client asked for
        server.approve(code, "support")            # or server.deny(code), server.slow_down(code)
"""

from __future__ import annotations

import json
import secrets
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType

from support.certificate import server_context

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"


@dataclass
class Device:
    """One device authorization: what the user did with its code, and when it was polled."""

    user_code: str
    expires_at: float
    state: str = "pending"  # pending | approved | denied | used
    user: str = ""
    slow_downs: int = 0  # answer slow_down to this many next polls
    polls: list[float] = field(default_factory=list)  # monotonic times
    scope: str = ""


class OAuthServer:
    def __init__(self, lifetime: float = 3600.0, *, interval: float = 0.05,
                 device_lifetime: float = 60.0, tls: bool = False) -> None:  # fmt: skip
        self.lifetime = lifetime
        self.interval = interval  # what the device endpoint asks clients to wait between polls
        self.device_lifetime = device_lifetime
        self.refresh_lifetime: float | None = None  # say refresh_token_expires_in (Google's)
        self.errors_with_200 = False  # answer device polls' errors with HTTP 200 (as GitHub)
        self.app_secrets: dict[str, str] = {}  # client_id -> secret, for client_credentials
        self.code_suffix = ""  # appended to each user_code and verification URL (hostile text)
        self.devices: dict[str, Device] = {}  # device_code -> its authorization
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request
        self.refresh_tokens: dict[str, str] = {}  # refresh token -> user
        self.access_tokens: dict[str, tuple[str, float]] = {}  # token -> (user, expiry)
        self.issued: list[str] = []  # every access token handed out, for log greps
        self.refreshes = 0
        self.introspections: list[tuple[str, bool]] = []  # (user or "", active)
        self.dropped = 0  # close the connection unanswered on this many next POSTs to /token
        self.unavailable = 0  # answer HTTP 503 with no OAuth error to this many next ones
        self._lock = threading.Lock()
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._http.serve_forever, args=(0.05,), daemon=True)
        self._tmp = tempfile.TemporaryDirectory(prefix="mailtix-oauth-")
        self.ca_file: Path | None = None
        if tls:
            context = server_context(Path(self._tmp.name))
            self.ca_file = Path(self._tmp.name) / "cert.pem"  # the CA a client is told to trust
            self._http.socket = context.wrap_socket(self._http.socket, server_side=True)

    @property
    def url(self) -> str:
        scheme, host = ("https", "localhost") if self.ca_file else ("http", "127.0.0.1")
        return f"{scheme}://{host}:{self._http.server_address[1]}"

    @property
    def device_url(self) -> str:
        return self.url + "/device"

    def authority(self, tenant: str = "contoso.example") -> str:
        """A Microsoft-style authority URL on this server (msal reads its OpenID document)."""
        return f"{self.url}/{tenant}"

    @property
    def token_url(self) -> str:
        return self.url + "/token"

    @property
    def introspection_url(self) -> str:
        return self.url + "/introspect"

    def __enter__(self) -> OAuthServer:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:  # fmt: skip
        self._http.shutdown()
        self._http.server_close()
        self._tmp.cleanup()

    def grant(self, user: str) -> str:
        token = "rt-" + secrets.token_hex(12)
        with self._lock:
            self.refresh_tokens[token] = user
        return token

    def revoke(self, refresh_token: str) -> None:
        with self._lock:
            user = self.refresh_tokens.pop(refresh_token, None)
            for token, (owner, _) in list(self.access_tokens.items()):
                if owner == user:
                    del self.access_tokens[token]

    def wait_for_device_code(self, timeout: float = 10.0) -> str:
        """The user_code of the newest pending authorization (waits for a client to ask)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                pending = [d for d in self.devices.values() if d.state == "pending"]
            if pending:
                return pending[-1].user_code
            time.sleep(0.02)
        raise TimeoutError("no client asked for a device code")

    def _device(self, user_code: str) -> Device:
        found = [d for d in self.devices.values() if d.user_code == user_code]
        if not found:
            raise KeyError(user_code)
        return found[0]

    def approve(self, user_code: str, user: str) -> None:
        """The user signs in at the verification URL, enters ``user_code`` and says yes."""
        with self._lock:
            device = self._device(user_code)
            device.state, device.user = "approved", user

    def deny(self, user_code: str) -> None:
        with self._lock:
            self._device(user_code).state = "denied"

    def slow_down(self, user_code: str, polls: int = 1) -> None:
        """Answer ``slow_down`` to the next ``polls`` polls for ``user_code``."""
        with self._lock:
            self._device(user_code).slow_downs += polls

    def polls(self, user_code: str) -> list[float]:
        with self._lock:
            return list(self._device(user_code).polls)

    def _failure(self) -> str | None:
        """How this POST to /token fails, if it does: "dropped" (the connection closes
        unanswered) or "unavailable" (a bare HTTP 503), a provider or network failing for a
        moment; None to answer it."""
        with self._lock:
            for kind in ("dropped", "unavailable"):
                if getattr(self, kind):
                    setattr(self, kind, getattr(self, kind) - 1)
                    return kind
        return None

    def _device_authorization(self, form: dict[str, str]) -> tuple[int, dict[str, object]]:
        if not form.get("client_id"):
            return 400, {"error": "invalid_client"}
        device_code = "dc-" + secrets.token_hex(12)
        user_code = "-".join(secrets.token_hex(2).upper() for _ in range(2)) + self.code_suffix
        with self._lock:
            self.devices[device_code] = Device(
                user_code, time.monotonic() + self.device_lifetime, scope=form.get("scope", "")
            )
        return 200, {
            "device_code": device_code, "user_code": user_code,
            "verification_uri": self.url + "/verify" + self.code_suffix,
            "verification_uri_complete": f"{self.url}/verify?code={user_code}",
            "expires_in": self.device_lifetime, "interval": self.interval,
            "message": f"To sign in, open {self.url}/verify and enter {user_code}.",
        }  # fmt: skip

    def _issue(self, user: str) -> dict[str, object]:
        """Under the lock: a new access token (and the refresh token) for ``user``."""
        token = "at-" + secrets.token_hex(16)
        self.access_tokens[token] = (user, time.time() + self.lifetime)
        self.issued.append(token)
        self.refreshes += 1
        answer: dict[str, object] = {"access_token": token, "token_type": "Bearer",
                                     "expires_in": self.lifetime}  # fmt: skip
        if self.refresh_lifetime is not None:
            answer["refresh_token_expires_in"] = self.refresh_lifetime
        return answer

    def _device_token(self, form: dict[str, str]) -> tuple[int, dict[str, object]]:
        with self._lock:
            device = self.devices.get(form.get("device_code", ""))
            if device is None or device.state == "used":
                return 400, {"error": "invalid_grant"}
            device.polls.append(time.monotonic())
            if device.slow_downs:
                device.slow_downs -= 1
                return 400, {"error": "slow_down"}
            if time.monotonic() > device.expires_at:
                return 400, {"error": "expired_token"}
            if device.state == "denied":
                return 400, {"error": "access_denied"}
            if device.state == "pending":
                return 400, {"error": "authorization_pending"}
            device.state = "used"
            refresh = "rt-" + secrets.token_hex(12)
            self.refresh_tokens[refresh] = device.user
            answer = self._issue(device.user)
        return 200, {**answer, "refresh_token": refresh, "scope": device.scope}

    def _token(self, form: dict[str, str]) -> tuple[int, dict[str, object]]:
        if form.get("grant_type") == DEVICE_GRANT:
            status, answer = self._device_token(form)
            return (200 if self.errors_with_200 else status), answer
        if form.get("grant_type") == "client_credentials":  # the app's own token
            if form.get("client_secret") != self.app_secrets.get(form.get("client_id", "")):
                return 401, {"error": "invalid_client"}
            with self._lock:
                return 200, self._issue(form.get("client_id", ""))
        if form.get("grant_type") != "refresh_token":
            return 400, {"error": "unsupported_grant_type"}
        with self._lock:
            user = self.refresh_tokens.get(form.get("refresh_token", ""))
            if user is None:
                return 400, {"error": "invalid_grant", "error_description": "revoked"}
            answer = self._issue(user)
        return 200, answer

    def _openid_configuration(self, path: str) -> tuple[int, dict[str, object]]:
        """The OpenID document msal reads at AUTHORITY/v2.0/.well-known/openid-configuration."""
        tenant = path.strip("/").split("/")[0]
        return 200, {
            "issuer": f"{self.url}/{tenant}/v2.0",
            "authorization_endpoint": self.url + "/authorize",
            "token_endpoint": self.token_url,
            "device_authorization_endpoint": self.device_url,
        }  # fmt: skip

    def _introspect(self, form: dict[str, str]) -> tuple[int, dict[str, object]]:
        with self._lock:
            user, expiry = self.access_tokens.get(form.get("token", ""), ("", 0.0))
            active = bool(user) and time.time() < expiry
            self.introspections.append((user, active))
        return 200, {"active": True, "username": user} if active else {"active": False}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                path = self.path.split("?")[0]
                server.requests.append(("GET", path))
                if path.endswith("/v2.0/.well-known/openid-configuration"):
                    self._answer(*server._openid_configuration(path))
                else:
                    self._answer(404, {"error": "not_found"})

            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                size = int(self.headers.get("Content-Length") or 0)
                form = dict(urllib.parse.parse_qsl(self.rfile.read(size).decode()))
                path = self.path.split("?")[0]
                server.requests.append(("POST", path))
                route = {"/token": server._token, "/introspect": server._introspect,
                         "/device": server._device_authorization}  # fmt: skip
                found = route.get(path)
                failure = server._failure() if path == "/token" else None
                if failure == "unavailable":  # a proxy's error page: no OAuth answer
                    self.send_error(503)
                if failure:  # "dropped": the connection closes with no answer at all
                    return
                self._answer(*(found(form) if found else (404, {"error": "not_found"})))

            def _answer(self, status: int, answer: dict[str, object]) -> None:
                body = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler
