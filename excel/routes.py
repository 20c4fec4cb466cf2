"""The server's routes, as two ``APIRouter``: the API (:func:`api_routes`) and the add-in's
generated files (:func:`addin_routes`). The static files (task pane, icons) are a Starlette
``StaticFiles`` mount (:mod:`llmcalc.excel.app`).

The API routes compute nothing themselves: they hand the request's bytes to the
:class:`~llmcalc.excel.runner.Runner` and send back the bytes it answers.
"""
from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, RedirectResponse, Response

import llmcalc
from llmcalc.registry import REGISTRY

from . import clients, manifest, metadata
from .compute import Limits
from .middleware import API
from .runner import Answer, Runner
from .schemas import BatchRequest, BatchResponse, ErrorBody, ExplainRequest, ExplainResponse, Health, request_body


def _response(answer: Answer) -> Response:
    return Response(answer.body, status_code=answer.status, media_type=answer.media_type)


@lru_cache(maxsize=1)
def functions_list() -> bytes:
    """``GET /api/v1/functions``: the registry's function list, encoded once."""
    return json.dumps(metadata.describe_functions()).encode()


def api_routes(runner: Runner, limits: Limits, token: bool) -> APIRouter:
    """``/healthz`` and ``/api/v1/…``; ``token``: whether the server asks for one (documented 401s)."""
    router = APIRouter()
    unauthorized = {401: {"description": "missing or wrong bearer token"}} if token else {}
    refused = {413: {"model": ErrorBody, "description": "over a request limit or budget; the message says "
                                                        "which, and by how much"},
               422: {"model": ErrorBody, "description": "the body is not JSON or does not fit the schema"},
               503: {"model": ErrorBody, "description": "the server is busy, or the call ran past the time limit"}}

    @router.get("/healthz", response_model=Health, tags=["server"])
    def healthz() -> Health:
        return Health(status="ok", version=llmcalc.__version__, functions=len(REGISTRY))

    @router.get(f"{API}/functions", tags=["functions"], summary="The function list", responses=unauthorized)
    def list_functions() -> Response:
        return Response(functions_list(), media_type="application/json")

    @router.post(f"{API}/batch", response_model=BatchResponse, tags=["functions"],
                 summary="Compute many calls in one request", openapi_extra=request_body(BatchRequest),
                 responses={**refused, **unauthorized})
    async def batch(request: Request):
        body = await request.body()
        return _response(await runner.run("batch", body, size=len(body)))

    @router.post(f"{API}/explain", response_model=ExplainResponse, tags=["functions"],
                 summary="How one call is computed (formula, inputs, steps, sources)",
                 openapi_extra=request_body(ExplainRequest),
                 responses={400: {"model": ErrorBody, "description": "bad argument (the message names it)"},
                            404: {"model": ErrorBody, "description": "unknown function"}, **refused, **unauthorized})
    async def explain(request: Request):
        body = await request.body()
        return _response(await runner.run("explain", body, size=len(body)))

    async def call_plain(request: Request, name: str):
        pairs = [(k, v) for k, v in request.query_params.multi_items() if k != "access_token"]
        return _response(await runner.run("plain", (name, pairs), plain=True))

    def plain_endpoint(name: str):
        async def endpoint(request: Request):
            return await call_plain(request, name)
        return endpoint

    text = {"content": {"text/plain": {"schema": {"type": "string"}}}}
    plain_responses = {200: {**text, "description": "the value as text (a range: one value a line, rows tab-separated)"},
                       400: {**text, "description": "bad argument; the text names it"},
                       413: {**text, "description": "too many cells"},
                       503: {**text, "description": "the server is busy, or the call ran past the time limit"},
                       **unauthorized}
    for fn in REGISTRY.values():
        params = [{"name": a.name, "in": "query", "required": not a.optional,
                   "description": metadata.arg_description(a),
                   "schema": {"type": "string", "maxLength": limits.max_string}} for a in fn.args]
        router.add_api_route(f"{API}/call/{fn.sheet_name}", plain_endpoint(fn.sheet_name), methods=["GET"],
                             tags=["plain text"], summary=f"{fn.sheet_name}: {fn.summary}",
                             response_class=PlainTextResponse, operation_id=f"call_{fn.sheet_name}",
                             responses=plain_responses, openapi_extra={"parameters": params})

    @router.get(f"{API}/call/{{function}}", include_in_schema=False)
    async def call_any(function: str, request: Request):
        return await call_plain(request, function)

    return router


@lru_cache(maxsize=1)
def functions_js() -> str:
    """``functions.js``: the registry's function table, then the static batching client."""
    table = json.dumps(metadata.function_table(), separators=(",", ":"))
    client = resources.files("llmcalc.excel").joinpath("static", "functions.js").read_text(encoding="utf-8")
    return (f"/* llmcalc {llmcalc.__version__}: function table generated from the llmcalc registry. */\n"
            f"var LLMCALC_FUNCTIONS = {table};\n" + client)


@lru_cache(maxsize=16)
def _functions_json(base: str) -> bytes:
    return json.dumps(metadata.functions_json(base)).encode()


@lru_cache(maxsize=16)
def _apps_script(base: str) -> str:
    return clients.apps_script(base)


def addin_routes(base_url: str | None) -> APIRouter:
    """The files generated for this server's public URL: ``base_url``, else the URL the request
    came in on (its ``Host`` is one of the allowed hosts: the app checks it first)."""
    router = APIRouter(include_in_schema=False)

    def public_base(request: Request) -> str:
        return base_url or str(request.base_url).rstrip("/")

    @router.get("/")
    def root():
        return RedirectResponse("taskpane.html")

    @router.get("/manifest.xml")
    def manifest_xml(request: Request):
        return Response(manifest.render(public_base(request)), media_type="application/xml")

    @router.get("/functions.json")
    def functions_json(request: Request):
        return Response(_functions_json(public_base(request)), media_type="application/json")

    @router.get("/functions.js")
    def functions_script():
        return Response(functions_js(), media_type="text/javascript; charset=utf-8")

    @router.get("/clients/llmcalc.gs")
    def apps_script(request: Request):
        return PlainTextResponse(_apps_script(public_base(request)))

    return router
