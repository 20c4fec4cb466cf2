"""The add-in server as an ASGI app: :func:`create_app`.

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

Where things are: request and response models in :mod:`.schemas`, one middleware per concern in
:mod:`.middleware`, the routes in :mod:`.routes`, the worker processes that compute (with their
deadlines and budgets) in :mod:`.runner` and :mod:`.worker`, the ``llmcalc serve`` command in
:mod:`.server`.

Safety: request-body, batch-size and per-request budgets (cells, answer bytes,
unit texts), computed in worker processes that are ended at their deadline, CORS limited to the
add-in's own origin and Office's hosts, allowed hosts, proxy headers only from configured
proxies, security headers, HTTPS by default, an optional bearer token, no evaluation of user
strings, JSON access logs without bodies or query strings, and no 500 for user input. The app is
stateless: run several workers or hosts behind a load balancer.
"""
from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, PlainTextResponse
from starlette.middleware.cors import CORSMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.staticfiles import StaticFiles
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

import llmcalc

from .compute import VALUE, CallFailure, Limits
from .middleware import (API, AccessLogMiddleware, BodyLimitMiddleware, SecurityHeadersMiddleware,
                         TokenAuthMiddleware)
from .routes import addin_routes, api_routes
from .runner import Runner
from .schemas import add_request_schemas, validation_message

# Origins of the Office hosts that may call the API cross-origin (Excel on the web, Microsoft 365,
# OneDrive/SharePoint-hosted workbooks).
OFFICE_ORIGIN_REGEX = (r"https://([a-z0-9-]+\.)*(officeapps\.live\.com|office\.com|office365\.com|"
                       r"microsoft365\.com|cloud\.microsoft|sharepoint\.com|onedrive\.live\.com)")
LOCAL_HOSTS = ("localhost", "127.0.0.1", "[::1]")  # as Starlette parses a Host header


def valid_base_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(f"--base-url must look like https://host[:port][/path], got {url!r}")
    return url.rstrip("/")


def default_allowed_hosts(base_url: str | None = None, extra: list[str] | None = None) -> list[str]:
    """The ``Host`` names the server answers: localhost names, ``base_url``'s host and ``extra``
    (``"*"`` allows any, e.g. behind a proxy that checks hosts itself)."""
    hosts = list(LOCAL_HOSTS)
    if base_url:
        hosts.append(_host_name(urlsplit(base_url).hostname))
    return hosts + [_host_name(h) for h in (extra or []) if h]


def _host_name(host: str) -> str:
    """An IPv6 address in brackets, as it appears in a Host header."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def create_app(token: str | None = None, allowed_origins: list[str] | None = None,
               base_url: str | None = None, limits: Limits | None = None, *,
               allowed_hosts: list[str] | None = None, trusted_proxies: list[str] | None = None,
               processes: int | None = None, initializer=None) -> FastAPI:
    """Build the server.

    ``token``: if set, every ``/api/`` request needs ``Authorization: Bearer <token>`` (the
    plain-text endpoint also accepts ``?access_token=``, for clients that cannot send headers).
    ``allowed_origins``: extra origins allowed to call the API cross-origin (Office's hosts and the
    server's own origin always are). ``base_url``: the public URL the manifest, functions.json and
    the Apps Script point to (default: the URL the request came in on). ``limits``: request limits
    and budgets. ``allowed_hosts``: extra ``Host`` names to answer (see
    :func:`default_allowed_hosts`). ``trusted_proxies``: addresses (or networks) whose
    ``X-Forwarded-For``/``-Proto`` headers are believed (default: none). ``processes``: worker
    processes of the light lane (default: one per core, 2 to 8). ``initializer``: a picklable
    callable run in each worker process as it starts.
    """
    limits = limits or Limits()
    base_url = valid_base_url(base_url) if base_url else None
    runner = Runner(limits, processes, initializer)

    @asynccontextmanager
    async def lifespan(app):
        await asyncio.to_thread(runner.start)  # ready when it says so: the workers are up
        yield
        await asyncio.to_thread(runner.close)

    app = FastAPI(
        title="llmcalc spreadsheet API", version=llmcalc.__version__,
        description="Every llmcalc function as a spreadsheet function. Values come from the llmcalc "
                    "registry; errors are spreadsheet errors whose message names the argument.",
        docs_url=None, redoc_url=None,  # both load scripts from a CDN; /openapi.json is the schema
        lifespan=lifespan)
    app.state.limits, app.state.runner = limits, runner
    app.include_router(api_routes(runner, limits, token=bool(token)))
    app.include_router(addin_routes(base_url))
    app.mount("/", StaticFiles(packages=[("llmcalc.excel", "static")]), name="static")

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError):
        """The one answer to a request that does not fit the schema: where and what, never the input."""
        failure = CallFailure(VALUE, f"the request does not fit the API: {validation_message(exc.errors())}",
                              status=422)
        if request.url.path.startswith(f"{API}/call/"):
            return PlainTextResponse(failure.message, status_code=422)
        return JSONResponse({"error": failure.to_dict()}, status_code=422)

    def openapi() -> dict:
        if app.openapi_schema is None:
            app.openapi_schema = add_request_schemas(get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes))
        return app.openapi_schema
    app.openapi = openapi

    # Added innermost first: proxy headers (outermost) > access log > security headers > allowed
    # hosts > body limit > CORS > token > routes.
    if token:
        app.add_middleware(TokenAuthMiddleware, token=token)
    origins = list(allowed_origins or [])
    if base_url:
        p = urlsplit(base_url)
        origins.append(f"{p.scheme}://{p.netloc}")
    app.add_middleware(CORSMiddleware, allow_origins=origins, allow_origin_regex=OFFICE_ORIGIN_REGEX,
                       allow_methods=["GET", "POST"], allow_headers=["Authorization", "Content-Type"],
                       allow_credentials=False, max_age=600)
    app.add_middleware(BodyLimitMiddleware, max_bytes=limits.max_body_bytes, timeout_s=limits.body_timeout_s)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=default_allowed_hosts(base_url, allowed_hosts),
                       www_redirect=False)
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(AccessLogMiddleware)
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=list(trusted_proxies or []))
    return app
