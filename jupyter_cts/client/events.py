"""Events of a run's live log stream (Server-Sent Events), typed.

The server sends ``log`` (one :class:`LogRecord`, ``id:`` = its seq), ``status`` (the run, whenever
its status or progress changes) and ``end`` (the final run; the stream closes after it). Heartbeats
and events this client does not know are skipped, so the server can add kinds later.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

from httpx_sse import ServerSentEvent
from pydantic import ValidationError as PydanticValidationError

from jupyter_cts.engine.models import LogRecord, Run

EventKind = Literal["log", "status", "end"]
KINDS: frozenset[str] = frozenset({"log", "status", "end"})


@dataclass(frozen=True)
class StreamEvent:
    """One event: ``record`` for ``log``; ``run`` for ``status`` and ``end`` (when the server sent one)."""

    kind: EventKind
    id: int | None = None
    record: LogRecord | None = None
    run: Run | None = None
    data: Any = None


def parse_event(sse: ServerSentEvent) -> StreamEvent | None:
    """The typed event, or None for heartbeats and unknown kinds."""
    kind = sse.event or "message"
    if kind not in KINDS:
        return None
    try:
        data = json.loads(sse.data) if sse.data else None
    except ValueError:
        data = sse.data
    event_id = int(sse.id) if sse.id and sse.id.isdigit() else None
    if kind == "log":
        record = LogRecord.model_validate(data)
        return StreamEvent("log", event_id if event_id is not None else record.seq, record=record, data=data)
    return StreamEvent(kind, event_id, run=_maybe_run(data), data=data)  # type: ignore[arg-type]


def _maybe_run(data: Any) -> Run | None:
    if isinstance(data, dict):
        candidate = data.get("run", data)
        try:
            return Run.model_validate(candidate)
        except PydanticValidationError:
            return None
    return None
