"""A small OAuth2 server for tests, in the test process: the token endpoint mailtix refreshes
its access tokens at (RFC 6749 refresh_token grant; short-lived tokens) and the introspection
endpoint Dovecot asks whether a token is good (``passdb { driver = oauth2 }``).

    with OAuthServer(lifetime=3) as server:
        refresh = server.grant("support")          # a refresh token for user "support"
        server.token_url, server.introspection_url
        server.revoke(refresh)                     # from now on: invalid_grant
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType


class OAuthServer:
    def __init__(self, lifetime: float = 3600.0) -> None:
        self.lifetime = lifetime
        self.refresh_tokens: dict[str, str] = {}  # refresh token -> user
        self.access_tokens: dict[str, tuple[str, float]] = {}  # token -> (user, expiry)
        self.issued: list[str] = []  # every access token handed out, for log greps
        self.refreshes = 0
        self.introspections: list[tuple[str, bool]] = []  # (user or "", active)
        self._lock = threading.Lock()
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._http.server_address[1]}"

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

    def _token(self, form: dict[str, str]) -> tuple[int, dict[str, object]]:
        if form.get("grant_type") != "refresh_token":
            return 400, {"error": "unsupported_grant_type"}
        with self._lock:
            user = self.refresh_tokens.get(form.get("refresh_token", ""))
            if user is None:
                return 400, {"error": "invalid_grant", "error_description": "revoked"}
            token = "at-" + secrets.token_hex(16)
            self.access_tokens[token] = (user, time.time() + self.lifetime)
            self.issued.append(token)
            self.refreshes += 1
        return 200, {"access_token": token, "token_type": "Bearer",
                     "expires_in": self.lifetime}  # fmt: skip

    def _introspect(self, form: dict[str, str]) -> tuple[int, dict[str, object]]:
        with self._lock:
            user, expiry = self.access_tokens.get(form.get("token", ""), ("", 0.0))
            active = bool(user) and time.time() < expiry
            self.introspections.append((user, active))
        return 200, {"active": True, "username": user} if active else {"active": False}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                size = int(self.headers.get("Content-Length") or 0)
                form = dict(urllib.parse.parse_qsl(self.rfile.read(size).decode()))
                route = {"/token": server._token, "/introspect": server._introspect}
                found = route.get(self.path.split("?")[0])
                status, answer = found(form) if found else (404, {"error": "not_found"})
                body = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler
