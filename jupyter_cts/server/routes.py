"""The one list of /v1 endpoints. The extension registers its handlers from it and the OpenAPI
document is generated from it, so an endpoint cannot exist without being documented."""

from __future__ import annotations

import re
import typing
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from jupyter_cts.engine.models import (
    Artifact,
    Capabilities,
    Health,
    LogRecord,
    Run,
    RunList,
    RunRequest,
    ToolInfo,
    Upload,
)
from jupyter_cts.server.base import CTSHandler
from jupyter_cts.server.handlers import (
    ArtifactHandler,
    ArtifactsHandler,
    CapabilitiesHandler,
    HealthHandler,
    ResultHandler,
    RunHandler,
    RunsHandler,
    ToolHandler,
)
from jupyter_cts.server.openapi import OpenAPIHandler
from jupyter_cts.server.schemas import ArtifactQuery, LogsQuery, RunsQuery, UploadQuery
from jupyter_cts.server.sse import LogsHandler
from jupyter_cts.server.uploads import UploadHandler


@dataclass(frozen=True)
class Operation:
    """One verb of one path: what it takes and what it answers."""

    operation_id: str
    summary: str
    response: Any = None  # a model, list[model], "file", or None for a free-form JSON object
    ok: int = 200
    ok_description: str = "OK"
    body: type[BaseModel] | None = None
    raw_body: bool = False
    query: type[BaseModel] | None = None
    errors: tuple[int, ...] = ()
    description: str = ""
    events: bool = False
    location: bool = False

    @property
    def response_is_list(self) -> bool:
        return typing.get_origin(self.response) is list

    @property
    def response_model(self) -> type[BaseModel] | None:
        model = typing.get_args(self.response)[0] if self.response_is_list else self.response
        return model if isinstance(model, type) and issubclass(model, BaseModel) else None


@dataclass(frozen=True)
class Route:
    path: str  # OpenAPI template, e.g. /v1/runs/{run_id}
    handler: type[CTSHandler]
    tag: str
    operations: dict[str, Operation] = field(default_factory=dict)

    @property
    def pattern(self) -> str:
        """The tornado pattern relative to base_url; each ``{name}`` is one path segment."""
        return re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", self.path.lstrip("/"))


ROUTES: list[Route] = [
    Route(
        "/v1/health",
        HealthHandler,
        "server",
        {
            "get": Operation(
                "getHealth", "Server status, version and how many runs are queued and running.", Health
            ),
        },
    ),
    Route(
        "/v1/capabilities",
        CapabilitiesHandler,
        "tools",
        {
            "get": Operation(
                "getCapabilities",
                "Every registered tool with its parameter schema; plugins that failed to load.",
                Capabilities,
            ),
        },
    ),
    Route(
        "/v1/tools/{tool_id}",
        ToolHandler,
        "tools",
        {
            "get": Operation("getTool", "One tool.", ToolInfo, errors=(404,)),
        },
    ),
    Route(
        "/v1/runs",
        RunsHandler,
        "runs",
        {
            "get": Operation(
                "listRuns",
                "Runs, newest first, with paging and filters.",
                RunList,
                query=RunsQuery,
                errors=(422,),
            ),
            "post": Operation(
                "startRun",
                "Start a run: validates, queues, answers at once with the queued run.",
                Run,
                ok=202,
                ok_description="Accepted: the run is queued.",
                body=RunRequest,
                errors=(403, 404, 422, 429),
                location=True,
            ),
        },
    ),
    Route(
        "/v1/runs/{run_id}",
        RunHandler,
        "runs",
        {
            "get": Operation(
                "getRun", "A run: status, progress, params, artifacts, error, metrics.", Run, errors=(404,)
            ),
            "delete": Operation(
                "cancelRun",
                "Cancel a queued or running run.",
                Run,
                ok=202,
                ok_description="Accepted: the run is canceled.",
                errors=(404, 409),
            ),
        },
    ),
    Route(
        "/v1/runs/{run_id}/logs",
        LogsHandler,
        "runs",
        {
            "get": Operation(
                "getRunLogs",
                "The run's log records after `since`, or a live Server-Sent Events stream.",
                list[LogRecord],
                query=LogsQuery,
                errors=(404, 422),
                events=True,
                description="With `Accept: text/event-stream` or `stream=true` the answer is an SSE stream: "
                "`log` events (id = seq, data = LogRecord), `status` events (data = Run), heartbeat comments "
                "and an `end` event (data = the final Run) when the run is completed, failed or canceled. "
                "A reconnecting client sends `Last-Event-ID` to resume after that record.",
            ),
        },
    ),
    Route(
        "/v1/runs/{run_id}/result",
        ResultHandler,
        "runs",
        {
            "get": Operation(
                "getRunResult",
                "The tool's result (result.json) once the run is completed.",
                None,
                errors=(404, 409),
            ),
        },
    ),
    Route(
        "/v1/runs/{run_id}/artifacts",
        ArtifactsHandler,
        "runs",
        {
            "get": Operation(
                "listRunArtifacts",
                "The run's files: name, size, content type and download URL.",
                list[Artifact],
                errors=(404,),
            ),
        },
    ),
    Route(
        "/v1/runs/{run_id}/artifacts/{name}",
        ArtifactHandler,
        "runs",
        {
            "get": Operation(
                "getRunArtifact",
                "One file of the run, streamed.",
                "file",
                query=ArtifactQuery,
                errors=(404, 422),
            ),
        },
    ),
    Route(
        "/v1/uploads",
        UploadHandler,
        "uploads",
        {
            "post": Operation(
                "uploadLog",
                "Upload a log file (the raw body); use its upload_id as a run's input.",
                Upload,
                ok=201,
                ok_description="Created: the file is stored.",
                raw_body=True,
                query=UploadQuery,
                errors=(403, 413, 422),
            ),
        },
    ),
    Route(
        "/v1/openapi.json",
        OpenAPIHandler,
        "server",
        {
            "get": Operation("getOpenAPI", "This document.", None),
        },
    ),
]
