"""What lets the app face a network: every request passes these checks, in this order, before the app.

1. **Host** (against DNS rebinding, where a foreign site's name is made to point at this server): the
   Host header must be an IP address, `localhost`, or a name given with `--allowed-host`. A
   rebinding page's requests carry its own site's name, never an IP address, so IP addresses are safe.
2. **Origin** (against cross-site requests from a page in the user's browser): a request that changes
   something (POST, PUT, PATCH, DELETE) with an Origin header must come from this server's own origin.
3. **Token**, when the server has one (`--token`, or generated at start-up beyond loopback): in
   `Authorization: Bearer T`, in the cookie the server sets, or as `?token=T` (in the link printed at
   start-up), which sets that cookie (HttpOnly, SameSite=Strict, and Secure when the request came
   over HTTPS) so the page's own requests carry it.
4. **Rate limit**: at most `rate_limit` new jobs per client address per minute.

Behind a proxy given with `--trusted-proxy`, uvicorn's ProxyHeadersMiddleware (outside this one, see
app.py) has already put the client that the proxy names (X-Forwarded-For) and the scheme it was
reached by (X-Forwarded-Proto) in the request, so the client address and HTTPS here are the user's.

Refusals are JSON `{"detail": ...}`: 403 host or origin, 401 token, 429 rate (with Retry-After).

`Framing` (outermost) puts headers on every answer that keep other sites' pages from framing the
app (clickjacking) and the app's pages from loading anything but its own files: a Content Security
Policy and X-Frame-Options. The API docs (`/docs`, only without a token) load a pinned Swagger UI
whose files the browser checks against their hashes (Subresource Integrity).
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import math
import threading
import time
from collections import defaultdict, deque
from urllib.parse import parse_qs, urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["COOKIE", "DOCS_POLICY", "POLICY", "Framing", "Guard", "RateLimiter"]

COOKIE = "impasto_token"
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
WINDOW = 60.0
"""Seconds over which the rate limit counts a client's new jobs."""


POLICY = ("default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; object-src 'none'; "
          "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
"""The page's Content Security Policy: its own scripts, styles and images (and the blob: URLs of the
files dropped on it), never framed."""
SWAGGER = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5.36.0/"
"""Swagger UI for /docs, pinned: its files' hashes are in docs.html."""
DOCS_POLICY = POLICY.replace("default-src 'self'", f"default-src 'self'; script-src 'self' {SWAGGER}; "
                             f"style-src 'self' 'unsafe-inline' {SWAGGER}")
"""/docs's: also Swagger UI's files (checked against their hashes) and its inline styles."""


class Framing:
    """ASGI middleware: the Content Security Policy (`DOCS_POLICY` on /docs), X-Frame-Options: DENY,
    nosniff, and no Referer (a link's ?token= never leaves in one)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = DOCS_POLICY if scope["path"] == "/docs" else POLICY

        async def framed(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["content-security-policy"] = policy
                headers["x-frame-options"] = "DENY"
                headers["x-content-type-options"] = "nosniff"
                headers["referrer-policy"] = "no-referrer"
            await send(message)

        await self.app(scope, receive, framed)


class RateLimiter:
    """At most `limit` events per key within any `WINDOW` seconds."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._times: dict[str, deque[float]] = defaultdict(deque)

    def wait(self, key: str) -> float:
        """Count an event for `key` and return 0, or, over the limit, the seconds until one is allowed."""
        now = time.monotonic()
        with self._lock:
            times = self._times[key]
            while times and times[0] <= now - WINDOW:
                times.popleft()
            if len(times) >= self.limit:
                return times[0] + WINDOW - now
            times.append(now)
            for other in [k for k, v in self._times.items() if not v]:  # forget clients that went quiet
                del self._times[other]
        return 0.0


class Guard:
    """ASGI middleware: the checks above."""

    def __init__(self, app: ASGIApp, token: str | None, allowed_hosts: tuple[str, ...], rate_limit: int) -> None:
        self.app, self.token = app, token
        self.hosts = {"localhost", *(host.lower() for host in allowed_hosts)}
        self.jobs = RateLimiter(rate_limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        host = headers.get("host", "")
        if not self._host_allowed(host):
            name = _hostname(host) or "(none)"
            await _refuse(send, 403, f"this server does not answer to the name {name!r}: open it by its IP address "
                          f"or localhost, or start it with --allowed-host {name}")
            return
        origin = headers.get("origin")
        if scope["method"] in UNSAFE and origin is not None and urlsplit(origin).netloc.lower() != host.lower():
            await _refuse(send, 403, f"requests from another site ({origin}) may not change anything here")
            return
        query_token = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [None])[0]
        if self.token is not None:
            given = _bearer(headers) or query_token or _cookie(headers)
            if given is None or not hmac.compare_digest(given.encode(), self.token.encode()):
                await _refuse(send, 401, "this server needs its token: open the link it printed at start-up "
                              "(.../?token=...) or send Authorization: Bearer TOKEN",
                              [(b"www-authenticate", b"Bearer")])
                return
        if scope["method"] == "POST" and scope["path"].rstrip("/") == "/api/jobs":
            client = (scope.get("client") or ("unknown", 0))[0]
            wait = self.jobs.wait(client)
            if wait:
                await _refuse(send, 429, f"at most {self.jobs.limit} new jobs a minute from one address: try again "
                              f"in {math.ceil(wait)} s", [(b"retry-after", str(math.ceil(wait)).encode())])
                return
        if self.token is not None and query_token == self.token:
            send = _setting_cookie(send, self.token, secure=scope.get("scheme") == "https")
        await self.app(scope, receive, send)

    def _host_allowed(self, host: str) -> bool:
        name = _hostname(host)
        if name in self.hosts:
            return True
        try:
            ipaddress.ip_address(name)
        except ValueError:
            return False
        return True


def _hostname(host: str) -> str:
    """'Example.org:8000' -> 'example.org'; '[::1]:8000' -> '::1'."""
    return (urlsplit(f"//{host}").hostname or "").lower() if host else ""


def _bearer(headers: Headers) -> str | None:
    scheme, _, value = headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _cookie(headers: Headers) -> str | None:
    for part in headers.get("cookie", "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == COOKIE and value:
            return value
    return None


def _setting_cookie(send: Send, token: str, secure: bool) -> Send:
    """`send` with the token's cookie added to the response's headers; `secure`: only ever sent
    back over HTTPS."""
    cookie = f"{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict" + ("; Secure" if secure else "")

    async def with_cookie(message: Message) -> None:
        if message["type"] == "http.response.start":
            MutableHeaders(scope=message).append("set-cookie", cookie)
        await send(message)

    return with_cookie


async def _refuse(send: Send, status: int, detail: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *(headers or [])]})
    await send({"type": "http.response.body", "body": body})
