"""What the API accepts and answers: the request and response models (the OpenAPI schema), and
the one way a request that does not fit them is reported.

The request bodies are validated in the worker processes (:mod:`llmcalc.excel.worker`), not on
the server's event loop: a 2 MB body takes ~0.1 s to parse and check, which would hold up every
other client. So the routes read raw bytes and document their bodies with
:func:`request_body`; :func:`add_request_schemas` puts the models into the OpenAPI components.

:func:`validation_message` turns pydantic's errors into one line that says where and what was
wrong but never repeats the input (a body can hold anything: secrets, markup, unpaired UTF-16
surrogates that cannot even be encoded).
"""
from __future__ import annotations

import re
from typing import Any, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr

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


REQUEST_MODELS = (BatchRequest, ExplainRequest)
_REF = "#/components/schemas/{model}"


def request_body(model: type[BaseModel]) -> dict:
    """``openapi_extra`` for a route that reads ``model`` as its JSON body itself."""
    return {"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"$ref": _REF.format(model=model.__name__)}}}}}


def add_request_schemas(openapi: dict) -> dict:
    """Add the request models (and the models they use) to an OpenAPI document's components."""
    components = openapi.setdefault("components", {}).setdefault("schemas", {})
    for model in REQUEST_MODELS:
        schema = model.model_json_schema(ref_template=_REF)
        components.update(schema.pop("$defs", {}))
        components[model.__name__] = schema
    return openapi


_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,39}$")


def _where(loc) -> str:
    """A location such as ``calls.0.named.gpus``: field names and indexes only; a key that is not a
    plain name (it is the caller's input) is shown as ``?``."""
    return ".".join(str(p) if isinstance(p, int) or _NAME.match(str(p)) else "?" for p in loc) or "body"


def validation_message(errors: list[dict], limit: int = 5) -> str:
    """One line for pydantic/FastAPI validation errors: location and pydantic's message, which
    describes what was expected (``Input should be a valid string``), never the input itself."""
    parts = [f"{_where(e.get('loc', ()))}: {e.get('msg', 'invalid')}" for e in errors[:limit]]
    more = f" (and {len(errors) - limit} more)" if len(errors) > limit else ""
    text = "; ".join(parts) + more
    return text.encode("ascii", "backslashreplace").decode("ascii")
