"""The OpenAPI 3 document, generated from the route table and the very models the handlers use.

Nothing here is written by hand per endpoint: paths, verbs, parameters, bodies and answers all come
from :data:`jupyter_cts.server.routes.ROUTES` and the pydantic models, so the document cannot drift
from the server.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from jupyter_server.auth.decorator import authorized
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema
from tornado import web

from jupyter_cts import __version__
from jupyter_cts.engine.models import ErrorBody
from jupyter_cts.server.base import CTSHandler

if TYPE_CHECKING:
    from jupyter_cts.server.routes import Operation, Route

_REF = "#/components/schemas/{model}"
_ERROR_TEXT = {
    400: "Malformed request (bad JSON, bad header).",
    403: "No or wrong token, not authorized, or an input outside the allowed folders.",
    404: "Unknown tool, run, artifact or upload.",
    409: "The run's state does not allow this (not completed, already finished).",
    413: "The upload is larger than max_upload_bytes.",
    422: "Invalid parameters, input or query; `errors` names each field.",
    429: "The run queue is full; try again later.",
}


class OpenAPIHandler(CTSHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.write_json(self.settings["cts_openapi"])


def _models(routes: list[Route]) -> list[tuple[type[BaseModel], JsonSchemaMode]]:
    found: dict[tuple[type[BaseModel], JsonSchemaMode], None] = {(ErrorBody, "serialization"): None}
    for route in routes:
        for op in route.operations.values():
            uses: list[tuple[Any, JsonSchemaMode]] = [
                (op.body, "validation"),
                (op.query, "validation"),
                (op.response_model, "serialization"),
            ]
            for model, mode in uses:
                if isinstance(model, type) and issubclass(model, BaseModel):
                    found[(model, mode)] = None
    return list(found)


def build_document(routes: list[Route], server_url: str) -> dict[str, Any]:
    """The OpenAPI document for ``routes`` served under ``server_url`` (the server's base_url)."""
    refs, top = models_json_schema(_models(routes), ref_template=_REF)
    schemas: dict[str, Any] = top.get("$defs", {})

    def ref(model: type[BaseModel], mode: str) -> dict[str, Any]:
        return dict(refs[(model, mode)])  # type: ignore[index]

    paths: dict[str, Any] = {}
    for route in routes:
        item: dict[str, Any] = {}
        for method, op in route.operations.items():
            item[method] = _operation(route, op, ref, schemas)
        paths[route.path] = item
    for route in routes:  # query shapes became parameters; they are not payloads
        for op in route.operations.values():
            if op.query is not None:
                schemas.pop(op.query.__name__, None)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "jupyter-cts",
            "version": __version__,
            "description": "Run openpilot log analysis tools on a Jupyter server. Every answer is JSON; "
            "errors are {message, reason, errors}.",
        },
        "servers": [{"url": server_url.rstrip("/") or "/"}],
        "security": [{"token": []}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "token": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "Authorization",
                    "description": "The Jupyter server's token, sent as `token <token>`.",
                }
            },
        },
    }


def _operation(route: Route, op: Operation, ref: Any, schemas: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "operationId": op.operation_id,
        "summary": op.summary,
        "tags": [route.tag],
        "parameters": [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
            for name in re.findall(r"\{(\w+)\}", route.path)
        ],
        "responses": {},
    }
    if op.description:
        out["description"] = op.description
    if op.query is not None:
        props = schemas[op.query.__name__].get("properties", {})
        for name, schema in props.items():
            schema = dict(schema)
            param = {"name": name, "in": "query", "required": False, "schema": schema}
            if "description" in schema:
                param["description"] = schema.pop("description")
            out["parameters"].append(param)
    if op.body is not None:
        out["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": ref(op.body, "validation")}},
        }
    elif op.raw_body:
        out["requestBody"] = {
            "required": True,
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
        }
    out["responses"][str(op.ok)] = {"description": op.ok_description, "content": _content(op, ref)}
    if op.location:
        out["responses"][str(op.ok)]["headers"] = {
            "Location": {"description": "The new run's URL.", "schema": {"type": "string"}}
        }
    for status in sorted({400, 403, *op.errors}):
        out["responses"][str(status)] = {
            "description": _ERROR_TEXT[status],
            "content": {"application/json": {"schema": ref(ErrorBody, "serialization")}},
        }
    return out


def _content(op: Operation, ref: Any) -> dict[str, Any]:
    if op.response == "file":
        return {"*/*": {"schema": {"type": "string", "format": "binary"}}}
    content: dict[str, Any] = {}
    model = op.response_model
    if model is None:
        content["application/json"] = {"schema": {"type": "object", "additionalProperties": True}}
    elif op.response_is_list:
        content["application/json"] = {"schema": {"type": "array", "items": ref(model, "serialization")}}
    else:
        content["application/json"] = {"schema": ref(model, "serialization")}
    if op.events:
        content["text/event-stream"] = {"schema": {"type": "string"}}
    return content
