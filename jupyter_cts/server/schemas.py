"""Query-string shapes of the REST API. Handlers validate with them and the OpenAPI document describes
them, so the documented parameters are the accepted ones. Bodies and answers are the engine's models."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from jupyter_cts.engine.models import RunStatus


class _Query(BaseModel):
    model_config = ConfigDict(extra="ignore")


class RunsQuery(_Query):
    status: RunStatus | None = Field(default=None, description="Only runs in this state.")
    tool_id: str | None = Field(default=None, max_length=200, description="Only runs of this tool.")
    limit: int = Field(default=50, ge=1, le=1000, description="At most this many runs, newest first.")
    offset: int = Field(default=0, ge=0, le=2**31, description="Skip this many runs (paging).")


class LogsQuery(_Query):
    since: int = Field(default=0, ge=0, le=2**62, description="Only records with seq greater than this.")
    limit: int | None = Field(default=None, ge=1, le=100_000, description="At most this many records.")
    stream: bool = Field(
        default=False,
        description="Answer with Server-Sent Events (as `Accept: text/event-stream` does): "
        "`log` (id = seq), `status` and a final `end` event, heartbeats as comments.",
    )


class ArtifactQuery(_Query):
    download: bool = Field(
        default=False, description="Ask the browser to save the file instead of showing it."
    )


class UploadQuery(_Query):
    filename: str | None = Field(
        default=None, max_length=255, description="Name to keep for the uploaded file (e.g. rlog.zst)."
    )
