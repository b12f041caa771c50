"""The blocking client: what the CLI and scripts use."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

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


class CTSClient:
    """A typed client for the ``/v1`` API of one server.

    Without ``url``, the server is found as :func:`~jupyter_cts.client.discovery.find_server` describes.
    Every request carries ``Authorization: token ...``; only idempotent requests are retried.
    """

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        endpoint: ServerEndpoint | None = None,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.endpoint = endpoint or find_server(url, token)
        self._http = httpx.Client(
            base_url=self.endpoint.url + "v1/",
            headers=client_headers(self.endpoint.token),
            timeout=timeout,
            transport=transport,
            follow_redirects=False,
        )

    @property
    def url(self) -> str:
        return self.endpoint.url

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> CTSClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the API ----------------------------------------------------------------------------------

    def health(self) -> Health:
        return self._call(api.health())

    def capabilities(self) -> Capabilities:
        return self._call(api.capabilities())

    def tool(self, tool_id: str) -> ToolInfo:
        return self._call(api.tool(tool_id))

    def start_run(
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
        return self._call(api.start_run(request))

    def get_run(self, run_id: str) -> Run:
        return self._call(api.get_run(run_id))

    def list_runs(
        self,
        status: RunStatus | str | None = None,
        tool_id: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> RunList:
        return self._call(api.list_runs(status, tool_id, limit, offset))

    def cancel(self, run_id: str) -> Run:
        return self._call(api.cancel(run_id))

    def logs(self, run_id: str, since: int = 0) -> list[LogRecord]:
        return self._call(api.logs(run_id, since))

    def result(self, run_id: str) -> dict[str, Any]:
        return self._call(api.result(run_id))

    def artifacts(self, run_id: str) -> list[Artifact]:
        return self._call(api.artifacts(run_id))

    def download_artifact(self, run_id: str, name: str, dest_dir: str | Path) -> Path:
        """Save one artifact as ``dest_dir/name``; names that could leave ``dest_dir`` are refused."""
        target = Path(dest_dir) / api.safe_file_name(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        part = partial_path(target)
        response = self._send("GET", api.artifact_path(run_id, name), stream=True, retry=True)
        try:
            if not response.is_success:
                response.read()
                api.check(response, f"artifact {name}", expect_json=False)
            with open(part, "wb") as out:
                for chunk in response.iter_bytes(CHUNK_BYTES):
                    out.write(chunk)
            os.replace(part, target)
        except httpx.TransportError as exc:
            raise connection_error(self.endpoint, exc) from exc
        finally:
            response.close()
            part.unlink(missing_ok=True)
        return target

    def upload(self, path: str | Path, *, on_progress: Callable[[int, int], None] | None = None) -> Upload:
        """Stream a log file to ``POST /v1/uploads`` (never read whole into memory)."""
        source = Path(path)
        size = source.stat().st_size
        tracker = ProgressTracker(size, on_progress)

        def chunks() -> Iterator[bytes]:
            with open(source, "rb") as f:
                while chunk := f.read(CHUNK_BYTES):
                    tracker.add(len(chunk))
                    yield chunk

        response = self._send(
            "POST",
            "uploads",
            params={"filename": source.name},
            content=chunks(),
            headers={"Content-Type": "application/octet-stream", "Content-Length": str(size)},
            retry=False,
        )
        api.check(response, "uploads")
        return Upload.model_validate_json(response.content)

    def follow_logs(
        self, run_id: str, last_event_id: int | None = None, *, reconnect: int = 5
    ) -> Iterator[StreamEvent]:
        """Live events of a run until its ``end`` event; resumes after ``last_event_id`` on reconnects.

        A dropped connection is reopened with ``Last-Event-ID`` (up to ``reconnect`` times in a row
        without any event), so no log line is lost or repeated.
        """
        failures = 0
        while True:
            headers = dict(api.SSE_HEADERS)
            if last_event_id is not None:
                headers["Last-Event-ID"] = str(last_event_id)
            try:
                with self._http.stream(
                    "GET", api.logs_stream_path(run_id), headers=headers, timeout=STREAM_TIMEOUT
                ) as response:
                    if not response.is_success:
                        response.read()
                        api.check(response, api.get_run(run_id))
                    api.check_event_stream(response)
                    for sse in EventSource(response).iter_sse():
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
                time.sleep(min(0.2 * failures, 2.0))
                continue
            # The server closed the stream without an end event: ask again (a final run ends at once).
            failures += 1
            if failures > reconnect:
                raise CTSConnectionError(f"the log stream of run {run_id} kept closing before the run ended")
            time.sleep(min(0.2 * failures, 2.0))

    def wait(
        self,
        run_id: str,
        *,
        on_progress: Callable[[Run], None] | None = None,
        poll_interval: float = 0.5,
        timeout: float | None = None,
    ) -> Run:
        """Poll until the run is final; ``on_progress(run)`` sees every change of status or progress.

        Polling starts fast (a run is often done within a second) and slows to ``poll_interval``.
        Raises :class:`CTSTimeoutError` after ``timeout`` seconds; the run itself goes on.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        delay, last = 0.05, None
        while True:
            run = self.get_run(run_id)
            seen = (run.status, run.progress, run.progress_message)
            if seen != last:
                last, delay = seen, 0.05
                if on_progress is not None:
                    on_progress(run)
            if run.status.is_final:
                return run
            if deadline is not None and time.monotonic() >= deadline:
                raise CTSTimeoutError(f"run {run_id} is still {run.status} after {timeout:g} s; it goes on")
            time.sleep(delay)
            delay = min(delay * 2, poll_interval)

    # --- transport --------------------------------------------------------------------------------

    def _call(self, call: api.Call[T]) -> T:
        response = self._send(
            call.method, call.path, params=call.params, json=call.json, retry=call.retryable
        )
        api.check(response, call)
        return call.decode(response)

    def _send(
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
                response = self._http.send(request, stream=stream)
            except httpx.TransportError as exc:
                if attempt + 1 < attempts:
                    time.sleep(api.RETRY_DELAYS_S[attempt])
                    continue
                raise connection_error(self.endpoint, exc) from exc
            if response.status_code in api.RETRY_STATUSES and attempt + 1 < attempts:
                response.close()
                time.sleep(api.RETRY_DELAYS_S[attempt])
                continue
            return response
        raise AssertionError("unreachable: the loop returns or raises")
