"""The asyncio client: what notebook widgets use, so polling never blocks the kernel."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

import anyio
import httpx
from httpx_sse import EventSource

from jupyter_cts.client import api
from jupyter_cts.client.discovery import ServerEndpoint, find_server
from jupyter_cts.client.errors import CTSConnectionError, CTSTimeoutError
from jupyter_cts.client.events import StreamEvent, parse_event
from jupyter_cts.client.transport import (
    CHUNK_BYTES,
    STREAM_TIMEOUT,
    ProgressTracker,
    client_headers,
    connection_error,
    partial_path,
)
from jupyter_cts.engine.models import (
    Artifact,
    Capabilities,
    Health,
    LogRecord,
    Run,
    RunList,
    RunStatus,
    ToolInfo,
    Upload,
)

T = TypeVar("T")


class AsyncCTSClient:
    """The same API as :class:`~jupyter_cts.client.CTSClient`, with ``await``.

    Discovery (reading runtime files, probing servers) happens in the constructor, before any event
    loop work; pass ``endpoint`` or ``url`` to skip it.
    """

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        endpoint: ServerEndpoint | None = None,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.endpoint = endpoint or find_server(url, token)
        self._http = httpx.AsyncClient(
            base_url=self.endpoint.url + "v1/",
            headers=client_headers(self.endpoint.token),
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
        )

    @property
    def url(self) -> str:
        return self.endpoint.url

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncCTSClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # --- the API ----------------------------------------------------------------------------------

    async def health(self) -> Health:
        return await self._call(api.health())

    async def capabilities(self) -> Capabilities:
        return await self._call(api.capabilities())

    async def tool(self, tool_id: str) -> ToolInfo:
        return await self._call(api.tool(tool_id))

    async def start_run(
        self,
        tool_id: str,
        params: dict[str, Any] | None = None,
        input_path: str | list[str] | None = None,
        upload_id: str | None = None,
        name: str | None = None,
        timeout_s: float | None = None,
    ) -> Run:
        request = api.run_request(
            tool_id, params, input_path=input_path, upload_id=upload_id, name=name, timeout_s=timeout_s
        )
        return await self._call(api.start_run(request))

    async def get_run(self, run_id: str) -> Run:
        return await self._call(api.get_run(run_id))

    async def list_runs(
        self,
        status: RunStatus | str | None = None,
        tool_id: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> RunList:
        return await self._call(api.list_runs(status, tool_id, limit, offset))

    async def cancel(self, run_id: str) -> Run:
        return await self._call(api.cancel(run_id))

    async def logs(self, run_id: str, since: int = 0) -> list[LogRecord]:
        return await self._call(api.logs(run_id, since))

    async def result(self, run_id: str) -> dict[str, Any]:
        return await self._call(api.result(run_id))

    async def artifacts(self, run_id: str) -> list[Artifact]:
        return await self._call(api.artifacts(run_id))

    async def download_artifact(self, run_id: str, name: str, dest_dir: str | Path) -> Path:
        """Save one artifact as ``dest_dir/name``; names that could leave ``dest_dir`` are refused."""
        target = Path(dest_dir) / api.safe_file_name(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        part = partial_path(target)
        response = await self._send("GET", api.artifact_path(run_id, name), stream=True, retry=True)
        try:
            if not response.is_success:
                await response.aread()
                api.check(response, f"artifact {name}", expect_json=False)
            async with await anyio.open_file(part, "wb") as out:
                async for chunk in response.aiter_bytes(CHUNK_BYTES):
                    await out.write(chunk)
            os.replace(part, target)
        except httpx.TransportError as exc:
            raise connection_error(self.endpoint, exc) from exc
        finally:
            await response.aclose()
            part.unlink(missing_ok=True)
        return target

    async def upload(
        self, path: str | Path, *, on_progress: Callable[[int, int], None] | None = None
    ) -> Upload:
        """Stream a log file to ``POST /v1/uploads`` (never read whole into memory)."""
        source = Path(path)
        size = source.stat().st_size
        tracker = ProgressTracker(size, on_progress)

        async def chunks() -> AsyncIterator[bytes]:
            async with await anyio.open_file(source, "rb") as f:
                while chunk := await f.read(CHUNK_BYTES):
                    tracker.add(len(chunk))
                    yield chunk

        response = await self._send(
            "POST",
            "uploads",
            params={"filename": source.name},
            content=chunks(),
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
            retry=False,
        )
        api.check(response, "uploads")
        return Upload.model_validate_json(response.content)

    async def follow_logs(
        self, run_id: str, last_event_id: int | None = None, *, reconnect: int = 5
    ) -> AsyncIterator[StreamEvent]:
        """Live events of a run until its ``end`` event; see :meth:`CTSClient.follow_logs`."""
        failures = 0
        while True:
            headers = dict(api.SSE_HEADERS)
            if last_event_id is not None:
                headers["Last-Event-ID"] = str(last_event_id)
            try:
                async with self._http.stream(
                    "GET", api.logs_stream_path(run_id), headers=headers, timeout=STREAM_TIMEOUT
                ) as response:
                    if not response.is_success:
                        await response.aread()
                        api.check(response, api.get_run(run_id))
                    api.check_event_stream(response)
                    async for sse in EventSource(response).aiter_sse():
                        event = parse_event(sse)
                        if event is None:
                            continue
                        failures = 0
                        if event.kind == "log" and event.id is not None:
                            last_event_id = event.id
                        yield event
                        if event.kind == "end":
                            return
            except httpx.TransportError as exc:
                failures += 1
                if failures > reconnect:
                    raise connection_error(self.endpoint, exc) from exc
                await asyncio.sleep(min(0.2 * failures, 2.0))
                continue
            failures += 1
            if failures > reconnect:
                raise CTSConnectionError(f"the log stream of run {run_id} kept closing before the run ended")
            await asyncio.sleep(min(0.2 * failures, 2.0))

    async def wait(
        self,
        run_id: str,
        *,
        on_progress: Callable[[Run], None] | None = None,
        poll_interval: float = 0.5,
        timeout: float | None = None,
    ) -> Run:
        """Poll until the run is final; see :meth:`CTSClient.wait`."""
        deadline = None if timeout is None else time.monotonic() + timeout
        delay, last = 0.05, None
        while True:
            run = await self.get_run(run_id)
            seen = (run.status, run.progress, run.progress_message)
            if seen != last:
                last, delay = seen, 0.05
                if on_progress is not None:
                    on_progress(run)
            if run.status.is_final:
                return run
            if deadline is not None and time.monotonic() >= deadline:
                raise CTSTimeoutError(f"run {run_id} is still {run.status} after {timeout:g} s; it goes on")
            await asyncio.sleep(delay)
            delay = min(delay * 2, poll_interval)

    # --- transport --------------------------------------------------------------------------------

    async def _call(self, call: api.Call[T]) -> T:
        response = await self._send(
            call.method, call.path, params=call.params, json=call.json, retry=call.retryable
        )
        api.check(response, call)
        return call.decode(response)

    async def _send(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        content: Any = None,
        headers: dict[str, str] | None = None,
        stream: bool = False,
        retry: bool,
    ) -> httpx.Response:
        attempts = len(api.RETRY_DELAYS_S) + 1 if retry else 1
        for attempt in range(attempts):
            request = self._http.build_request(
                method, path, params=params, json=json, content=content, headers=headers
            )
            try:
                response = await self._http.send(request, stream=stream)
            except httpx.TransportError as exc:
                if attempt + 1 < attempts:
                    await asyncio.sleep(api.RETRY_DELAYS_S[attempt])
                    continue
                raise connection_error(self.endpoint, exc) from exc
            if response.status_code in api.RETRY_STATUSES and attempt + 1 < attempts:
                await response.aclose()
                await asyncio.sleep(api.RETRY_DELAYS_S[attempt])
                continue
            return response
        raise AssertionError("unreachable: the loop returns or raises")
