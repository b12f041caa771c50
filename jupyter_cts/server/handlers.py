"""The JSON handlers of /v1: parse the request, call the engine, write the engine's models."""

from __future__ import annotations

import mimetypes
import os
from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web
from tornado.iostream import StreamClosedError

from jupyter_cts.engine.models import RunRequest
from jupyter_cts.server.base import CTSHandler
from jupyter_cts.server.errors import APIError
from jupyter_cts.server.schemas import ArtifactQuery, RunsQuery
from jupyter_cts.tools.base import check_artifact_name

_CHUNK = 256 * 1024
# Artifacts are shown in the browser but are never allowed to run script or reach the network.
_ARTIFACT_CSP = (
    "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'; frame-ancestors 'self'"
)


class HealthHandler(CTSHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.write_json(self.quick(self.engine.health))


class CapabilitiesHandler(CTSHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        self.write_json(self.quick(self.engine.capabilities))


class ToolHandler(CTSHandler):
    @web.authenticated
    @authorized
    async def get(self, tool_id: str) -> None:
        caps = self.quick(self.engine.capabilities)
        for tool in caps.tools:
            if tool.id == tool_id:
                self.write_json(tool)
                return
        known = ", ".join(sorted(t.id for t in caps.tools)) or "none"
        raise APIError(
            404, f"There is no tool {tool_id!r}; the registered tools are: {known}.", reason="Unknown Tool"
        )


class RunsHandler(CTSHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        q = self.parse_query(RunsQuery)
        runs = self.quick(
            self.engine.list_runs, status=q.status, tool_id=q.tool_id, limit=q.limit, offset=q.offset
        )
        self.write_json({"runs": [self.run_body(r) for r in runs.runs], "total": runs.total})

    @web.authenticated
    @authorized
    async def post(self) -> None:
        request = self.parse_body(RunRequest)
        run = await self.call(self.engine.start_run, request)
        self.set_header("Location", self.api_url("runs", run.run_id))
        self.write_run(run, status=202)


class RunHandler(CTSHandler):
    @web.authenticated
    @authorized
    async def get(self, run_id: str) -> None:
        run = self.quick(self.engine.get_run_status, self.check_run_id(run_id))
        self.write_run(run)

    @web.authenticated
    @authorized
    async def delete(self, run_id: str) -> None:
        run = await self.call(self.engine.cancel_run, self.check_run_id(run_id))
        self.write_run(run, status=202)


class ResultHandler(CTSHandler):
    @web.authenticated
    @authorized
    async def get(self, run_id: str) -> None:
        result: dict[str, Any] = await self.call(self.engine.get_result, self.check_run_id(run_id))
        self.write_json(result)


class ArtifactsHandler(CTSHandler):
    @web.authenticated
    @authorized
    async def get(self, run_id: str) -> None:
        arts = await self.call(self.engine.list_artifacts, self.check_run_id(run_id))
        self.write_json(self.artifact_urls(run_id, arts))


class ArtifactHandler(CTSHandler):
    """One artifact file, streamed in chunks read off the event loop."""

    @property
    def content_security_policy(self) -> str:
        return _ARTIFACT_CSP

    @web.authenticated
    @authorized
    async def get(self, run_id: str, name: str) -> None:
        q = self.parse_query(ArtifactQuery)
        self.check_run_id(run_id)
        try:
            check_artifact_name(name)
        except ValueError:
            raise APIError(
                404,
                f"Run {run_id} has no artifact {name!r}; list them with GET v1/runs/{run_id}/artifacts.",
                reason="Unknown Artifact",
            ) from None
        path = await self.call(self.engine.artifact_path, run_id, name)
        try:
            f = await self.call(open, path, "rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise APIError(
                404,
                f"Run {run_id} has no artifact {name!r}; list them with GET v1/runs/{run_id}/artifacts.",
                reason="Unknown Artifact",
            ) from None
        try:
            size = os.fstat(f.fileno()).st_size
            self.set_header("Content-Type", _content_type(name))
            self.set_header("Content-Length", str(size))
            self.set_header(
                "Content-Disposition", f'{"attachment" if q.download else "inline"}; filename="{name}"'
            )
            self.set_header("X-Content-Type-Options", "nosniff")
            remaining = size  # a running tool may still append; send the size we announced
            while remaining > 0 and (chunk := await self.call(f.read, min(_CHUNK, remaining))):
                remaining -= len(chunk)
                self.write(chunk)
                await self.flush()
        except StreamClosedError:
            return
        finally:
            await self.call(f.close)
        self.finish(set_content_type=_content_type(name))


def _content_type(name: str) -> str:
    kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if name.endswith(".csv"):
        kind = "text/csv"
    elif name.endswith(".jsonl"):
        kind = "application/x-ndjson"
    return f"{kind}; charset=utf-8" if kind.startswith("text/") else kind
