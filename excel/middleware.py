"""The server's middleware: one plain ASGI class per concern.

:func:`llmcalc.excel.app.create_app` stacks them, outermost first:

1. ``ProxyHeadersMiddleware`` (uvicorn's): ``X-Forwarded-For/-Proto`` are believed only from the
   configured proxy addresses (none by default), so a client cannot spoof its address in the
   access log or make the server send HSTS over plain HTTP;
2. :class:`AccessLogMiddleware`: a request id and one JSON line per request (never a body or a
   query string);
3. :class:`SecurityHeadersMiddleware`: CSP, nosniff, referrer policy, cache policy, HSTS;
4. ``TrustedHostMiddleware`` (Starlette's): the ``Host`` header must be an allowed host, since it
   is written into the manifest, ``functions.json`` and the Apps Script (DNS rebinding);
5. :class:`BodyLimitMiddleware`: at most ``max_bytes`` of body, received within ``timeout_s``;
6. ``CORSMiddleware`` (Starlette's): the add-in's own origin and Office's hosts;
7. :class:`TokenAuthMiddleware`: the bearer token for ``/api/``.
"""
from __future__ import annotations

import asyncio
import hmac
import ipaddress
import json
import logging
import time
import uuid
from urllib.parse import parse_qsl

from .compute import NA, CallFailure

access_log = logging.getLogger("llmcalc.access")

API = "/api/v1"

# Origins of the Office hosts that may frame the add-in's pages.
OFFICE_FRAME_ANCESTORS = ("https://*.officeapps.live.com https://*.office.com https://*.office365.com "
                          "https://*.microsoft365.com https://*.cloud.microsoft https://*.sharepoint.com "
                          "https://onedrive.live.com https://*.onedrive.live.com")
# office.js comes from Microsoft's CDN and injects inline styles; our own pages use no inline script.
PAGE_CSP = ("default-src 'self'; script-src 'self' https://appsforoffice.microsoft.com https://ajax.aspnetcdn.com; "
            "style-src 'self' 'unsafe-inline'; img-src 'self' data: https:; "
            "connect-src 'self' https://*.microsoft.com https://*.office.com https://*.officeapps.live.com; "
            "frame-src 'self' https://*.officeapps.live.com https://*.office.com; object-src 'none'; "
            f"base-uri 'none'; form-action 'self'; frame-ancestors 'self' {OFFICE_FRAME_ANCESTORS}")
OTHER_CSP = "default-src 'none'; frame-ancestors 'none'"


def is_local_host(host: str) -> bool:
    """``localhost`` or a loopback address, with or without a port."""
    host = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


async def send_text(send, status: int, text: str, headers: list | None = None) -> None:
    body = text.encode("utf-8")
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()), *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


async def send_failure(scope, send, failure: CallFailure, headers: list | None = None) -> None:
    """A failure as the endpoint's clients read it: text for the plain-text API, JSON elsewhere."""
    if scope.get("path", "").startswith(f"{API}/call/"):
        return await send_text(send, failure.status, failure.message, headers)
    body = json.dumps({"error": failure.to_dict()}).encode()
    await send({"type": "http.response.start", "status": failure.status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


class AccessLogMiddleware:
    """A request id (``X-Request-Id``) and one JSON access-log line per request: time, id, client,
    method, path without the query string, status, bytes, milliseconds; never a body."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        t0 = time.perf_counter()
        rid = uuid.uuid4().hex[:16]
        status, size = 0, 0

        async def logged_send(message):
            nonlocal status, size
            if message["type"] == "http.response.start":
                status = message["status"]
                message = dict(message, headers=[*message.get("headers", []), (b"x-request-id", rid.encode())])
            elif message["type"] == "http.response.body":
                size += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, logged_send)
        finally:
            client = scope.get("client") or ("", 0)
            access_log.info(json.dumps({
                "ts": round(time.time(), 3), "id": rid, "client": client[0], "method": scope.get("method"),
                "path": scope.get("path", "")[:200], "status": status, "bytes": size,
                "ms": round((time.perf_counter() - t0) * 1000, 2)}))


class SecurityHeadersMiddleware:
    """CSP (pages may be framed by Office; everything else by nobody), nosniff, no referrer, no
    powerful features, a cache policy (``/api/`` never cached) and HSTS on HTTPS for hosts other
    than localhost."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope.get("path", "")
        host = dict(scope.get("headers") or []).get(b"host", b"").decode("latin-1")
        hsts = scope.get("scheme") == "https" and not is_local_host(host)

        async def secured_send(message):
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {k.lower() for k, _ in headers}
                csp = PAGE_CSP if dict(headers).get(b"content-type", b"").startswith(b"text/html") else OTHER_CSP
                extra = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"),
                         (b"content-security-policy", csp.encode()),
                         (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
                         (b"cache-control", b"no-store" if path.startswith("/api/") else b"no-cache")]
                if hsts:
                    extra.append((b"strict-transport-security", b"max-age=31536000"))
                message = dict(message, headers=headers + [h for h in extra if h[0] not in names])
            await send(message)

        await self.app(scope, receive, secured_send)


class _Stop(Exception):
    """The body was refused (too large or too slow); the answer has been sent."""


class BodyLimitMiddleware:
    """Answer 413 to a request body over ``max_bytes`` (declared or streamed) and 408 to one not
    received within ``timeout_s`` (a client that sends its body slowly holds a connection)."""

    def __init__(self, app, max_bytes: int, timeout_s: float):
        self.app, self.max_bytes, self.timeout_s = app, max_bytes, timeout_s

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            return await send_text(send, 413, f"request body over {self.max_bytes} bytes")
        deadline = time.monotonic() + self.timeout_s
        seen = 0
        started = refused = False

        async def refuse(status: int, text: str, headers: list | None = None):
            # Answer now (the app may catch the exception below and try to answer itself;
            # guarded_send then drops that) and stop reading.
            nonlocal refused
            if not started and not refused:
                refused = True
                await send_text(send, status, text, headers)
            raise _Stop

        async def limited_receive():
            nonlocal seen
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - time.monotonic()))
            except asyncio.TimeoutError:
                await refuse(408, f"the request body was not received within {self.timeout_s:g} s",
                             [(b"connection", b"close")])
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    await refuse(413, f"request body over {self.max_bytes} bytes")
            return message

        async def guarded_send(message):
            nonlocal started
            if refused:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except _Stop:
            pass


class TokenAuthMiddleware:
    """With a token, every ``/api/`` request (but CORS preflights) needs ``Authorization: Bearer
    <token>``; the plain-text endpoint also accepts ``?access_token=`` (spreadsheet ``WEBSERVICE``
    calls cannot send headers). Compared in constant time."""

    def __init__(self, app, token: str):
        self.app, self.token = app, token.encode()

    async def __call__(self, scope, receive, send):
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith("/api/") or scope.get("method") == "OPTIONS":
            return await self.app(scope, receive, send)
        if hmac.compare_digest(self._given(scope, path), self.token):
            return await self.app(scope, receive, send)
        failure = CallFailure(NA, "this llmcalc server needs a token: send 'Authorization: Bearer <token>' "
                                  "(in Excel: set it in the llmcalc task pane)", status=401)
        await send_failure(scope, send, failure, [(b"www-authenticate", b'Bearer realm="llmcalc"')])

    @staticmethod
    def _given(scope, path: str) -> bytes:
        auth = dict(scope.get("headers") or []).get(b"authorization", b"")
        if auth[:7].lower() == b"bearer ":
            return auth[7:].strip()
        if path.startswith(f"{API}/call/"):
            query = scope.get("query_string", b"").decode("latin-1")
            for key, value in parse_qsl(query, keep_blank_values=True):
                if key == "access_token":
                    return value.encode()
        return b""
