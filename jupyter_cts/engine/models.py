"""The shapes of runs, shared end to end: the engine stores them, the REST API sends them, the
client parses them and the OpenAPI document is generated from them, so none of these can drift.

``RunStatus`` is the one place that defines a run's states and which of them are final.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATUSES


FINAL_STATUSES = frozenset({RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELED})


class RunInput(BaseModel):
    """Where a run's data comes from: a path on the server, or an earlier upload's id."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["path", "upload", "none"] = "path"
    value: str | list[str] | None = Field(
        default=None,
        description=(
            "A path (relative to the server's root_dir, or absolute), a list of paths, or an upload_id."
        ),
    )


class RunRequest(BaseModel):
    """Body of ``POST /v1/runs``."""

    model_config = ConfigDict(extra="forbid")

    tool_id: str = Field(description="Id of a registered tool, e.g. cruise-control-analyzer.")
    params: dict[str, Any] = Field(
        default_factory=dict, description="Tool parameters; see the tool's params_schema."
    )
    input: RunInput | None = None
    name: str | None = Field(default=None, max_length=200)
    timeout_s: float | None = Field(
        default=None, gt=0, description="Per-run timeout, capped by the server's maximum."
    )


class RunMetrics(BaseModel):
    wall_s: float | None = None
    cpu_s: float | None = None
    max_rss_mb: float | None = None


class Artifact(BaseModel):
    name: str
    size: int
    content_type: str
    url: str | None = None


class Run(BaseModel):
    """A run as users see it. Status, progress and error come from the store, the one source of truth.

    Frozen: the store hands the same object to every reader until the run changes."""

    model_config = ConfigDict(frozen=True)

    run_id: str
    status: RunStatus
    tool_id: str
    name: str | None = None
    created_at: datetime
    started_at: datetime | None = None
    completed_at: datetime | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    input: RunInput | None = None
    timeout_s: float | None = None
    progress: float = 0.0
    progress_message: str = ""
    artifacts: list[Artifact] = Field(default_factory=list)
    error: str | None = None
    metrics: RunMetrics = Field(default_factory=RunMetrics)


class RunList(BaseModel):
    runs: list[Run]
    total: int


class LogRecord(BaseModel):
    """One line of a run's log (``log.jsonl``); ``seq`` increases by one per run, from 1."""

    seq: int
    t: datetime
    level: str = "INFO"
    source: Literal["log", "stdout", "stderr", "engine"] = "log"
    message: str


class ToolInfo(BaseModel):
    id: str
    name: str
    description: str
    category: str
    version: str
    input: Literal["log", "csv", "none"]
    params_schema: dict[str, Any]


class PluginError(BaseModel):
    """A tool plugin that could not be loaded; reported, never fatal."""

    entry_point: str
    error: str


class Capabilities(BaseModel):
    api_version: str = "1"
    version: str
    tools: list[ToolInfo]
    errors: list[PluginError] = Field(default_factory=list)


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    version: str
    runs_queued: int
    runs_running: int


class Upload(BaseModel):
    upload_id: str
    size: int
    sha256: str
    filename: str | None = None


class ErrorDetail(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ErrorBody(BaseModel):
    """Jupyter's error shape plus per-field validation errors."""

    message: str
    reason: str | None = None
    errors: list[ErrorDetail] = Field(default_factory=list)
