"""``GET /v1/runs/{id}/logs``: a JSON page of log records, or a Server-Sent Events stream of them.

The stream subscribes to the engine *before* reading the stored backlog, so no record falls between
the two; records are de-duplicated by ``seq``. Events: ``log`` (``id:`` = seq, data = LogRecord),
``status`` (data = Run), and ``end`` (data = the final Run) after which the stream closes. A comment
line every ``sse_heartbeat_s`` keeps proxies from timing the connection out and notices a client
that went away; each heartbeat also re-reads the run's status, so a lost engine event cannot leave
the stream hanging.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web
from tornado.iostream import StreamClosedError

from jupyter_cts.engine.models import LogRecord, Run
from jupyter_cts.server.base import CTSHandler
from jupyter_cts.server.errors import APIError
from jupyter_cts.server.schemas import LogsQuery

_CLOSED = object()  # queue sentinel: the client went away


class RunEventQueue:
    """Engine events of one run, moved from the engine's thread onto the event loop."""

    def __init__(self, engine: Any, run_id: str, loop: asyncio.AbstractEventLoop) -> None:
        self.run_id = run_id
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        self._loop = loop
        self._unsubscribe = engine.subscribe(self._on_event)

    def _on_event(self, event: Any) -> None:  # called on an engine thread
        if event.run_id == self.run_id:
            with contextlib.suppress(RuntimeError):  # loop already closed: nobody is listening
                self._loop.call_soon_threadsafe(self.queue.put_nowait, event)

    def wake(self) -> None:
        self.queue.put_nowait(_CLOSED)

    def close(self) -> None:
        self._unsubscribe()


class LogsHandler(CTSHandler):
    _events: RunEventQueue | None = None

    @web.authenticated
    @authorized
    async def get(self, run_id: str) -> None:
        q = self.parse_query(LogsQuery)
        self.check_run_id(run_id)
        if q.stream or "text/event-stream" in self.request.headers.get("Accept", ""):
            await self._stream(run_id, self._resume_from(q.since))
            return
        run = self.quick(self.engine.get_run_status, run_id)
        records = await self.call(self.engine.get_logs, run.run_id, since=q.since, limit=q.limit)
        self.write_json(records)

    def _resume_from(self, since: int) -> int:
        """``Last-Event-ID`` (sent by a reconnecting EventSource) wins over ``?since=``."""
        header = self.request.headers.get("Last-Event-ID")
        if header is None or not header.strip():
            return since
        try:
            value = int(header)
        except ValueError:
            value = -1
        if not 0 <= value <= 2**62:
            raise APIError(
                400,
                f"Last-Event-ID must be the seq of a log record (a whole number), not {header!r}.",
                reason="Bad Last-Event-ID",
            )
        return value

    async def _stream(self, run_id: str, since: int) -> None:
        events = RunEventQueue(self.engine, run_id, asyncio.get_running_loop())
        self._events = events
        self.cts.open_streams += 1
        try:
            run = self.quick(self.engine.get_run_status, run_id)  # 404 before any header is sent
            self.set_header("Content-Type", "text/event-stream; charset=utf-8")
            self.set_header("Cache-Control", "no-cache")
            self.set_header("X-Accel-Buffering", "no")
            self.write("retry: 2000\n\n")
            last = await self._send_backlog(run_id, since)
            self._send("status", self.run_json(run))
            await self.flush()
            while not run.status.is_final:
                run, last = await self._next(events, run, last)
            last = await self._send_backlog(run_id, last)  # lines stored just before the final status
            self._send("end", self.run_json(run))
            self.finish(set_content_type="text/event-stream; charset=utf-8")
        except StreamClosedError:
            self.log.debug("jupyter_cts: log stream of run %s closed by the client", run_id)
        except APIError as exc:
            if not self._headers_written:
                raise  # still time for a JSON error answer
            # The run vanished mid-stream (retention): end the stream; the client's next request says why.
            self.log.warning("jupyter_cts: log stream of run %s ended: %s", run_id, exc.message)
            self.finish()
        finally:
            events.close()
            self._events = None
            self.cts.open_streams -= 1

    async def _next(self, events: RunEventQueue, run: Run, last: int) -> tuple[Run, int]:
        """Wait for the next engine event (or a heartbeat), send what it adds; return the new state."""
        try:
            event = await asyncio.wait_for(events.queue.get(), timeout=self.cts.sse_heartbeat_s)
        except TimeoutError:
            self.write(": heartbeat\n\n")
            await self.flush()
            fresh = self.quick(self.engine.get_run_status, run.run_id)
            if fresh.status != run.status or fresh.progress != run.progress:
                last = await self._send_backlog(run.run_id, last)
                self._send("status", self.run_json(fresh))
                await self.flush()
            return fresh, last
        batch = [event]
        while not events.queue.empty():  # send everything already waiting in one flush
            batch.append(events.queue.get_nowait())
        for ev in batch:
            if ev is _CLOSED:
                raise StreamClosedError()
            if ev.kind == "log" and ev.record is not None:
                last = await self._send_record(run.run_id, ev.record, last)
            elif ev.kind == "status" and ev.run is not None:
                run = ev.run
                self._send("status", self.run_json(run))
        await self.flush()
        return run, last

    async def _send_record(self, run_id: str, record: LogRecord, last: int) -> int:
        if record.seq <= last:
            return last  # already sent from the backlog
        if record.seq > last + 1:  # a gap: fetch what the events skipped, from the store
            return await self._send_backlog(run_id, last)
        self._send("log", record.model_dump_json(), event_id=record.seq)
        return record.seq

    async def _send_backlog(self, run_id: str, since: int) -> int:
        last = since
        for record in await self.call(self.engine.get_logs, run_id, since=since):
            if record.seq > last:
                self._send("log", record.model_dump_json(), event_id=record.seq)
                last = record.seq
        return last

    def _send(self, event: str, data: str, event_id: int | None = None) -> None:
        head = f"id: {event_id}\n" if event_id is not None else ""
        self.write(f"{head}event: {event}\ndata: {data}\n\n")  # model JSON has no raw newlines

    def on_connection_close(self) -> None:
        """Wake the stream at once so it drops its engine subscription."""
        if self._events is not None:
            self._events.wake()
        super().on_connection_close()
