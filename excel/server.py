"""The spreadsheet add-in server: ``llmcalc serve``.

One origin serves everything Excel (web, Mac, Windows) needs for the Office.js custom-functions
add-in, plus the API other clients use:

====================================  ============================================================
``/manifest.xml``                     add-in-only XML manifest (shared runtime) for this host
``/functions.json``                   custom-functions metadata, generated from the registry
``/functions.js``                     the batching client (one request for many cells)
``/taskpane.html``                    task pane: calculator form + function list (any browser)
``/assets/icon-*.png``                icons
``POST /api/v1/batch``                many calls → per-call value or error
``POST /api/v1/explain``              one call → the registry's explanation (task pane)
``GET /api/v1/call/{FUNCTION}?a=v``   one call → plain text (LibreOffice ``WEBSERVICE``)
``GET /api/v1/functions``             the function list
``/clients/llmcalc.gs``               Google Sheets Apps Script for this host
``/healthz``                          liveness
``/openapi.json``                     the API schema
====================================  ============================================================

Safety (issue 6): request-body and batch-size limits, a per-call time limit, CORS limited to the
add-in's own origin and Office's hosts, security headers, HTTPS by default, an optional bearer
token, no evaluation of user strings (the registry's kinds parse them), JSON access logs without
bodies or query strings, and no 500 for user input. The app is stateless: run several workers
(``llmcalc serve --workers 4``) or several hosts behind a load balancer.
"""
from __future__ import annotations

import argparse
import asyncio
import hmac
import ipaddress
import json
import logging
import os
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from importlib import resources
from typing import Any, Optional, Union
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr
from starlette.middleware.cors import CORSMiddleware

import llmcalc
from llmcalc.registry import REGISTRY

from . import clients, compute, manifest, metadata
from .compute import NA, CallFailure, Limits

log = logging.getLogger("llmcalc.server")
access_log = logging.getLogger("llmcalc.access")

DEFAULT_PORT = 3000
API = "/api/v1"

# Origins of the Office hosts that may load the add-in's pages or call the API cross-origin
# (Excel on the web, Microsoft 365, OneDrive/SharePoint-hosted workbooks).
OFFICE_ORIGIN_REGEX = (r"https://([a-z0-9-]+\.)*(officeapps\.live\.com|office\.com|office365\.com|"
                       r"microsoft365\.com|cloud\.microsoft|sharepoint\.com|onedrive\.live\.com)")
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
STATIC_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                ".css": "text/css; charset=utf-8", ".png": "image/png", ".svg": "image/svg+xml"}


# ------------------------------------------------------------------------------------------
# API models (the OpenAPI schema)

Cell = Union[StrictBool, float, StrictStr, None]
ArgValue = Union[Cell, list[Union[Cell, list[Cell]]]]


class Call(BaseModel):
    """One function call, as a spreadsheet cell makes it."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"function": "LLM_TRAIN_DAYS", "args": [175e9, 300e9, 1024, "A100"]}]})
    function: str = Field(max_length=100, description="Spreadsheet name, e.g. LLM_TRAIN_DAYS")
    args: list[ArgValue] = Field(default_factory=list, max_length=40,
                                 description="Positional arguments: number, text, TRUE/FALSE, null "
                                             "(omitted), or a 1-D/2-D range")
    named: dict[str, ArgValue] = Field(default_factory=dict, max_length=40,
                                       description="Arguments by name (the registry's names)")


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    calls: list[Call] = Field(description="Calls, answered in the same order")


class CallError(BaseModel):
    code: str = Field(description="Spreadsheet error: #VALUE!, #NUM!, #NAME? or #N/A")
    message: str = Field(description="What was wrong, naming the argument")
    argument: Optional[str] = None


class CallResult(BaseModel):
    value: Any = Field(default=None, description="Number, text, or nested lists for a range result")
    error: Optional[CallError] = None


class BatchResponse(BaseModel):
    results: list[CallResult]


class ErrorBody(BaseModel):
    error: CallError


class ExplainRequest(Call):
    pass


class ExplainResponse(BaseModel):
    function: str
    explanation: dict


class Health(BaseModel):
    status: str
    version: str
    functions: int


# ------------------------------------------------------------------------------------------
# Middleware (pure ASGI: independent of the FastAPI version)


class _TooLarge(Exception):
    pass


class BodyLimitMiddleware:
    """Answer 413 to a request body over ``max_bytes`` (declared or streamed)."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            return await _send_plain(send, 413, f"request body over {self.max_bytes} bytes")
        seen = 0
        started = refused = False

        async def limited_receive():
            nonlocal seen, refused
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    # Answer 413 now (the app may swallow the exception below and try to answer
                    # 400 itself; tracking_send then drops that) and stop reading.
                    if not started and not refused:
                        refused = True
                        await _send_plain(send, 413, f"request body over {self.max_bytes} bytes")
                    raise _TooLarge
            return message

        async def tracking_send(message):
            nonlocal started
            if refused:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            pass


async def _send_plain(send, status: int, text: str):
    body = text.encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def _is_local_host(host: str) -> bool:
    host = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class EdgeMiddleware:
    """Request id, security headers, cache policy and one JSON access-log line per request
    (method, path without the query string, status, bytes, milliseconds; never a body)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        t0 = time.perf_counter()
        rid = uuid.uuid4().hex[:16]
        status, size = 0, 0
        path = scope.get("path", "")
        host = dict(scope.get("headers") or []).get(b"host", b"").decode("latin-1")

        async def wrapped(message):
            nonlocal status, size
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", [])]
                names = {k.lower() for k, _ in headers}
                ctype = dict(headers).get(b"content-type", b"")
                csp = PAGE_CSP if ctype.startswith(b"text/html") else OTHER_CSP
                extra = [(b"x-request-id", rid.encode()), (b"x-content-type-options", b"nosniff"),
                         (b"referrer-policy", b"no-referrer"), (b"content-security-policy", csp.encode()),
                         (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()")]
                if b"cache-control" not in names:
                    extra.append((b"cache-control", b"no-store" if path.startswith("/api/") else b"no-cache"))
                if scope.get("scheme") == "https" and not _is_local_host(host):
                    extra.append((b"strict-transport-security", b"max-age=31536000"))
                message = dict(message, headers=headers + [h for h in extra if h[0] not in names])
            elif message["type"] == "http.response.body":
                size += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, wrapped)
        finally:
            client = scope.get("client") or ("", 0)
            access_log.info(json.dumps({
                "ts": round(time.time(), 3), "id": rid, "client": client[0], "method": scope.get("method"),
                "path": path[:200], "status": status, "bytes": size,
                "ms": round((time.perf_counter() - t0) * 1000, 2)}))


# ------------------------------------------------------------------------------------------
# Running calls within the time limit


class Runner:
    """Runs calls in a small thread pool; a call that runs past ``limits.call_timeout_s`` gets
    ``#N/A`` (its thread is abandoned; inputs are bounded, so this is a backstop) and the rest of
    the batch continues on a fresh worker."""

    BATCH_TIMEOUTS = 3

    def __init__(self, limits: Limits, workers: int = 4):
        self.limits = limits
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="llmcalc-call")

    def _timeout_failure(self) -> CallFailure:
        return CallFailure(NA, f"the call took longer than the server's limit of "
                               f"{self.limits.call_timeout_s:g} s per call", status=503)

    def _busy_failure(self) -> CallFailure:
        return CallFailure(NA, "the llmcalc server is busy (earlier calls ran past the time limit); "
                               "recalculate in a moment", status=503)

    async def run(self, jobs: list) -> list:
        """``jobs``: callables returning a value or raising CallFailure → list of value|CallFailure.

        A batch gets at most ``BATCH_TIMEOUTS`` per-call time limits in all: after that, or when no
        worker thread is free to start, the calls not yet computed answer ``#N/A`` (busy)."""
        n = len(jobs)
        results: list = [None] * n
        loop = asyncio.get_running_loop()
        poll = min(0.25, self.limits.call_timeout_s / 4)
        deadline = time.monotonic() + self.BATCH_TIMEOUTS * self.limits.call_timeout_s
        start = 0
        while start < n:
            state = {"index": start, "since": time.monotonic(), "started": False}
            abandoned = threading.Event()

            def work(first=start, state=state, abandoned=abandoned):
                state["started"] = True
                for i in range(first, n):
                    if abandoned.is_set():
                        return
                    state["index"], state["since"] = i, time.monotonic()
                    try:
                        value = jobs[i]()
                    except CallFailure as exc:
                        value = exc
                    if abandoned.is_set():
                        return
                    results[i] = value
                state["index"] = n

            future = loop.run_in_executor(self.pool, work)
            while True:
                done, _ = await asyncio.wait({future}, timeout=poll)
                if done:
                    future.result()
                    start = n
                    break
                i, now = state["index"], time.monotonic()
                if now - state["since"] > self.limits.call_timeout_s or now > deadline:
                    abandoned.set()
                    if state["started"]:                    # call i itself ran too long
                        results[i] = self._timeout_failure()
                        start = i + 1
                    if not state["started"] or now > deadline:
                        # no free worker, or the batch has used up its time: answer the rest now
                        for j in range(start if state["started"] else i, n):
                            results[j] = self._busy_failure()
                        start = n
                    break
        return results


# ------------------------------------------------------------------------------------------
# Static files


def _static_bytes(name: str) -> bytes:
    return resources.files("llmcalc.excel").joinpath("static", name).read_bytes()


@lru_cache(maxsize=1)
def functions_js() -> str:
    """``functions.js``: the registry's function table, then the static batching client."""
    table = json.dumps(metadata.function_table(), separators=(",", ":"))
    return (f"/* llmcalc {llmcalc.__version__}: function table generated from the llmcalc registry. */\n"
            f"var LLMCALC_FUNCTIONS = {table};\n" + _static_bytes("functions.js").decode("utf-8"))


def _valid_base_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(f"--base-url must look like https://host[:port][/path], got {url!r}")
    return url.rstrip("/")


# ------------------------------------------------------------------------------------------
# The app


def create_app(token: str | None = None, allowed_origins: list[str] | None = None,
               base_url: str | None = None, limits: Limits | None = None) -> FastAPI:
    """Build the server.

    ``token``: if set, every ``/api/`` request needs ``Authorization: Bearer <token>`` (the
    plain-text endpoint also accepts ``?access_token=``, for clients that cannot send headers).
    ``allowed_origins``: extra origins allowed to call the API cross-origin (Office's hosts and the
    server's own origin always are). ``base_url``: the public URL the manifest, functions.json and
    the Apps Script point to (default: the URL the request came in on). ``limits``: request limits.
    """
    limits = limits or Limits()
    base_url = _valid_base_url(base_url) if base_url else None
    runner = Runner(limits)
    app = FastAPI(
        title="llmcalc spreadsheet API",
        version=llmcalc.__version__,
        description="Every llmcalc function as a spreadsheet function. Values come from the llmcalc "
                    "registry; errors are spreadsheet errors whose message names the argument.",
        docs_url=None, redoc_url=None,  # both load scripts from a CDN; /openapi.json is the schema
    )

    def public_base(request: Request) -> str:
        return base_url or str(request.base_url).rstrip("/")

    def error(request: Request, failure: CallFailure) -> Response:
        if request.url.path.startswith(f"{API}/call/"):
            return PlainTextResponse(failure.message, status_code=failure.status)
        return JSONResponse({"error": failure.to_dict()}, status_code=failure.status)

    def authorized(request: Request) -> bool:
        if not token:
            return True
        given = request.headers.get("authorization", "")
        if given[:7].lower() == "bearer ":
            given = given[7:].strip()
        elif request.url.path.startswith(f"{API}/call/"):
            given = request.query_params.get("access_token", "")
        else:
            given = ""
        return hmac.compare_digest(given.encode(), token.encode())

    @app.middleware("http")
    async def require_token(request: Request, call_next):
        if request.url.path.startswith("/api/") and request.method != "OPTIONS" and not authorized(request):
            resp = error(request, CallFailure(NA, "this llmcalc server needs a token: send "
                                                  "'Authorization: Bearer <token>' (in Excel: set it in the "
                                                  "llmcalc task pane)", status=401))
            resp.headers["WWW-Authenticate"] = 'Bearer realm="llmcalc"'
            return resp
        return await call_next(request)

    # Added innermost first: Edge (outermost) > body limit > CORS > token check > routes.
    origins = list(allowed_origins or [])
    if base_url:
        p = urlsplit(base_url)
        origins.append(f"{p.scheme}://{p.netloc}")
    app.add_middleware(CORSMiddleware, allow_origins=origins, allow_origin_regex=OFFICE_ORIGIN_REGEX,
                       allow_methods=["GET", "POST"], allow_headers=["Authorization", "Content-Type"],
                       allow_credentials=False, max_age=600)
    app.add_middleware(BodyLimitMiddleware, max_bytes=limits.max_body_bytes)
    app.add_middleware(EdgeMiddleware)

    bad_input = {400: {"model": ErrorBody, "description": "bad argument (the message names it)"},
                 404: {"model": ErrorBody, "description": "unknown function"},
                 413: {"description": "too many calls or cells"}}
    if token:
        bad_input[401] = {"description": "missing or wrong bearer token"}

    # -------------------------------------------------------------- API
    @app.get("/healthz", response_model=Health, tags=["server"])
    def healthz() -> Health:
        return Health(status="ok", version=llmcalc.__version__, functions=len(REGISTRY))

    @app.get(f"{API}/functions", tags=["functions"], summary="The function list")
    def list_functions() -> list[dict]:
        return metadata.describe_functions()

    @app.post(f"{API}/batch", response_model=BatchResponse, tags=["functions"],
              summary="Compute many calls in one request",
              responses={400: {"description": "the body is not JSON"},
                         413: {"description": "too many calls in one request, or a body over the limit"},
                         **({401: bad_input[401]} if token else {})})
    async def batch(body: BatchRequest, request: Request):
        if len(body.calls) > limits.max_batch:
            return JSONResponse({"error": {"code": "#VALUE!", "message": f"{len(body.calls)} calls in one "
                                           f"request; at most {limits.max_batch}"}}, status_code=413)
        jobs = [lambda c=c: compute.run_call(c.function, c.args, c.named, limits) for c in body.calls]
        out = []
        for r in await runner.run(jobs):
            out.append({"error": r.to_dict()} if isinstance(r, CallFailure) else {"value": r})
        return JSONResponse({"results": out})

    @app.post(f"{API}/explain", response_model=ExplainResponse, tags=["functions"],
              summary="How one call is computed (formula, inputs, steps, sources)", responses=bad_input)
    async def explain(body: ExplainRequest, request: Request):
        [r] = await runner.run([lambda: compute.run_explain(body.function, body.args, body.named, limits)])
        if isinstance(r, CallFailure):
            return error(request, r)
        return JSONResponse({"function": r["sheet_name"], "explanation": r})

    async def call_plain(request: Request, name: str):
        try:
            fn = compute.find_function(name)
        except CallFailure as failure:
            return error(request, failure)
        named: dict[str, Any] = {}
        for key in request.query_params.keys():
            if key == "access_token":
                continue
            values = request.query_params.getlist(key)
            named[key] = values[0] if len(values) == 1 else values
        [r] = await runner.run([lambda: compute.run_call(fn.sheet_name, [], named, limits)])
        if isinstance(r, CallFailure):
            return error(request, r)
        return PlainTextResponse(compute.format_plain(r))

    def plain_endpoint(name: str):
        async def endpoint(request: Request):
            return await call_plain(request, name)
        return endpoint

    plain_responses = {200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                             "description": "the value as text (a range: one value a line, rows tab-separated)"},
                       400: {"content": {"text/plain": {"schema": {"type": "string"}}},
                             "description": "bad argument; the text names it"},
                       413: {"description": "too many cells"}}
    if token:
        plain_responses[401] = {"description": "missing or wrong token"}
    for fn in REGISTRY.values():
        params = [{"name": a.name, "in": "query", "required": not a.optional,
                   "description": metadata.arg_description(a),
                   "schema": {"type": "string", "maxLength": limits.max_string}} for a in fn.args]

        app.add_api_route(f"{API}/call/{fn.sheet_name}", plain_endpoint(fn.sheet_name), methods=["GET"],
                          tags=["plain text"],
                          summary=f"{fn.sheet_name}: {fn.summary}", response_class=PlainTextResponse,
                          operation_id=f"call_{fn.sheet_name}", responses=plain_responses,
                          openapi_extra={"parameters": params})

    @app.get(f"{API}/call/{{function}}", include_in_schema=False)
    async def call_any(function: str, request: Request):
        return await call_plain(request, function)

    # -------------------------------------------------------------- add-in files
    @app.get("/", include_in_schema=False)
    def root():
        return RedirectResponse("taskpane.html")

    @app.get("/manifest.xml", include_in_schema=False)
    def manifest_xml(request: Request):
        return Response(manifest.render(public_base(request)), media_type="application/xml")

    @app.get("/functions.json", include_in_schema=False)
    def functions_json(request: Request):
        return JSONResponse(metadata.functions_json(public_base(request)))

    @app.get("/functions.js", include_in_schema=False)
    def functions_script():
        return Response(functions_js(), media_type="text/javascript; charset=utf-8")

    @app.get("/clients/llmcalc.gs", include_in_schema=False)
    def apps_script(request: Request):
        return PlainTextResponse(clients.apps_script(public_base(request)))

    def static_route(name: str):
        suffix = os.path.splitext(name)[1]
        data = _static_bytes(name)

        def serve():
            return Response(data, media_type=STATIC_TYPES[suffix])
        app.add_api_route(f"/{name}", serve, methods=["GET"], include_in_schema=False)

    for name in ("taskpane.html", "taskpane.js", "taskpane.css", *(f"assets/{p}" for p in _asset_names())):
        static_route(name)
    return app


def _asset_names() -> list[str]:
    folder = resources.files("llmcalc.excel").joinpath("static", "assets")
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".png"))


def configure_logging(level: str = "info") -> None:
    """Access and error lines to stderr, one message per line (the access lines are JSON)."""
    logger = logging.getLogger("llmcalc")
    if not any(getattr(h, "_llmcalc", False) for h in logger.handlers):
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        handler._llmcalc = True
        logger.addHandler(handler)
    logger.setLevel(getattr(logging, level.upper()))


def app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` / several workers: configuration from the environment
    (``LLMCALC_TOKEN``, ``LLMCALC_BASE_URL``, ``LLMCALC_ALLOWED_ORIGINS`` comma-separated,
    ``LLMCALC_LOG_LEVEL``)."""
    configure_logging(os.environ.get("LLMCALC_LOG_LEVEL", "info"))
    origins = [o.strip() for o in os.environ.get("LLMCALC_ALLOWED_ORIGINS", "").split(",") if o.strip()]
    return create_app(token=os.environ.get("LLMCALC_TOKEN") or None, allowed_origins=origins or None,
                      base_url=os.environ.get("LLMCALC_BASE_URL") or None)


# ------------------------------------------------------------------------------------------
# Command line: llmcalc serve


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="llmcalc serve",
        description="Serve the llmcalc spreadsheet add-in (Excel custom functions, task pane, API) "
                    "on https://localhost:3000.")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    p.add_argument("--http", action="store_true",
                   help="plain HTTP, loopback only (browsers, LibreOffice, tests; Office needs HTTPS)")
    p.add_argument("--cert", help="TLS certificate (PEM); default: Office dev certs, else a generated one")
    p.add_argument("--key", help="TLS private key (PEM) for --cert")
    p.add_argument("--base-url", help="public URL the manifest points to (e.g. https://llm.example.com)")
    p.add_argument("--token-file", help="file holding the bearer token (or set LLMCALC_TOKEN)")
    p.add_argument("--allowed-origin", action="append", default=[],
                   help="extra origin allowed to call the API cross-origin (repeatable)")
    p.add_argument("--workers", type=int, default=1, help="worker processes (the server is stateless)")
    p.add_argument("--write-manifest", metavar="FILE", help="also write the manifest to FILE")
    p.add_argument("--print-manifest", action="store_true", help="print the manifest and exit")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    return p


SIDELOAD = """\
Sideload the add-in from a manifest file: save it with `llmcalc serve --print-manifest > manifest.xml`
(add the same --base-url/--port), or from the manifest URL in a browser.
  Excel on the web: Home > Add-ins > More Settings (or Advanced) > Upload My Add-in > choose manifest.xml.
  Excel on Mac:     copy manifest.xml to ~/Library/Containers/com.microsoft.Excel/Data/Documents/wef/
                    (create the folder if needed), restart Excel, then Home > Add-ins > llmcalc.
  Excel on Windows: npx office-addin-debugging start manifest.xml desktop   (or a shared-folder
                    catalog: File > Options > Trust Center > Trusted Add-in Catalogs).
Then type =LLM_TRAIN_DAYS(175e9, 300e9, 1024, "A100") in a cell (33.81 days)."""


def main(argv: list[str] | None = None) -> int:
    ns = _parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    from . import certs

    local = _is_local_host(ns.host)
    scheme = "http" if ns.http else "https"
    try:
        base_url = _valid_base_url(ns.base_url) if ns.base_url else None
    except ValueError as exc:
        print(f"llmcalc serve: {exc}", file=sys.stderr)
        return 2
    shown_host = "localhost" if local else ns.host
    url = f"{scheme}://{shown_host}:{ns.port}"
    public = base_url or url
    if ns.print_manifest:
        sys.stdout.write(manifest.render(public))
        return 0
    if ns.http and not local:
        print("llmcalc serve: --http is for loopback only (Office needs HTTPS); use --cert/--key, or a TLS "
              "reverse proxy in front of a loopback --http server", file=sys.stderr)
        return 2
    token = os.environ.get("LLMCALC_TOKEN") or None
    if ns.token_file:
        with open(ns.token_file, encoding="utf-8") as fh:
            token = fh.read().strip() or None
    cert = None
    if not ns.http:
        try:
            cert = certs.choose(ns.cert, ns.key)
        except certs.CertificateError as exc:
            print(f"llmcalc serve: {exc}", file=sys.stderr)
            return 2
    if ns.write_manifest:
        with open(ns.write_manifest, "w", encoding="utf-8") as fh:
            fh.write(manifest.render(public))

    lines = [f"llmcalc {llmcalc.__version__} spreadsheet add-in server on {url}"]
    if cert:
        lines.append(f"  TLS certificate: {cert.certfile} ({cert.source})")
        if cert.trust_help:
            lines.append(cert.trust_help)
    lines += ["",
              f"  Task pane (open in a browser): {public}/taskpane.html",
              f"  Manifest for Excel:            {public}/manifest.xml"
              + (f"  (written to {ns.write_manifest})" if ns.write_manifest else ""),
              f"  Plain-text API:                {public}/api/v1/call/LLM_TRAIN_DAYS?params=175e9&tokens=300e9&gpus=1024&gpu=A100",
              f"  Google Sheets script:          {public}/clients/llmcalc.gs"
              + ("" if base_url else "  (Sheets needs a public HTTPS --base-url)"),
              "", SIDELOAD]
    if ns.http:
        lines.append("\nNote: --http serves browsers, LibreOffice and tests; Excel loads add-ins over HTTPS only.")
    if not local and not token:
        lines.append(f"\nWARNING: listening on {ns.host} without a token: anyone who can reach this port can use "
                     "the API. Set LLMCALC_TOKEN or --token-file.")
    print("\n".join(lines), flush=True)

    import uvicorn

    configure_logging(ns.log_level)
    # Ctrl+C / SIGTERM: finish requests in flight, then close idle keep-alive connections (a browser
    # tab holds some open) instead of waiting for them for ever.
    options = dict(host=ns.host, port=ns.port, log_level=ns.log_level, access_log=False, server_header=False,
                   proxy_headers=True, timeout_graceful_shutdown=5)
    if cert:
        options.update(ssl_certfile=cert.certfile, ssl_keyfile=cert.keyfile)
    if ns.workers > 1:
        os.environ.update({"LLMCALC_TOKEN": token or "", "LLMCALC_BASE_URL": base_url or "",
                           "LLMCALC_ALLOWED_ORIGINS": ",".join(ns.allowed_origin), "LLMCALC_LOG_LEVEL": ns.log_level})
        uvicorn.run("llmcalc.excel.server:app_from_env", factory=True, workers=ns.workers, **options)
    else:
        uvicorn.run(create_app(token=token, allowed_origins=ns.allowed_origin or None, base_url=base_url),
                    **options)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
