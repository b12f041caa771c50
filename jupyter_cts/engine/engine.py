"""The execution engine: validates runs, queues them, runs each in its own process, records all.

Every public method returns quickly (the server calls them on its event loop): they read or write
the store and signal threads, and never wait on a process. Three threads do the waiting:

- the supervisor starts queued runs when a slot is free (FIFO), enforces timeouts, writes
  throttled progress and applies retention;
- the executor's I/O thread relays what run processes say (:class:`ExecutorSink` methods below);
- the event bus calls subscribers.

The store is the one source of truth for status, progress and error; status changes are
conditional, so a cancel, a timeout and a normal end racing each other settle on one outcome.
"""

from __future__ import annotations

import fcntl
import logging
import mimetypes
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import jupyter_cts
from jupyter_cts.engine.config import EngineConfig
from jupyter_cts.engine.events import EventBus, RunEvent
from jupyter_cts.engine.executors import create_executor
from jupyter_cts.engine.executors.base import Executor, ExitInfo, Job
from jupyter_cts.engine.models import (
    Artifact,
    Capabilities,
    Health,
    LogRecord,
    Run,
    RunList,
    RunMetrics,
    RunRequest,
    RunStatus,
)
from jupyter_cts.engine.processes import INTERRUPTED, create_time, describe_exit, kill_if_same
from jupyter_cts.engine.retention import apply_retention
from jupyter_cts.engine.runlog import LogSource, RunLogs
from jupyter_cts.engine.store import ACTIVE, RunStore, new_id, utcnow
from jupyter_cts.engine.uploads import UploadStore
from jupyter_cts.engine.validation import validate_request
from jupyter_cts.errors import (
    CTSError,
    QueueFullError,
    RunStateError,
    UnknownArtifactError,
    UnknownToolError,
)
from jupyter_cts.registry import ToolRegistry
from jupyter_cts.tools.base import check_artifact_name

log = logging.getLogger(__name__)
_SQLITE_MAX_INT = 2**63 - 1

QUEUED, RUNNING, COMPLETED, FAILED, CANCELED = (
    RunStatus.QUEUED,
    RunStatus.RUNNING,
    RunStatus.COMPLETED,
    RunStatus.FAILED,
    RunStatus.CANCELED,
)
_CONTENT_TYPES = {
    ".csv": "text/csv",
    ".json": "application/json",
    ".jsonl": "application/x-ndjson",
    ".html": "text/html",
    ".png": "image/png",
    ".txt": "text/plain",
    ".zst": "application/zstd",
}


@dataclass
class _Active:
    """A run the supervisor handed to the executor and that has not reported its exit yet."""

    run_id: str
    timeout_s: float
    pid: int | None = None
    started: float | None = None  # monotonic
    ended_by: str | None = None  # "cancel" | "timeout" | "stop": the engine already chose the outcome
    done: bool = False
    error: str | None = None
    progress_written: float = 0.0
    pending_progress: tuple[float, str] | None = None

    @property
    def deadline(self) -> float | None:
        return None if self.started is None else self.started + self.timeout_s


class ExecutionEngine:
    """Runs tools for the server, the CLI (``--local``) and tests. See the module docstring."""

    def __init__(
        self, config: EngineConfig, registry: ToolRegistry | None = None, store: RunStore | None = None
    ) -> None:
        self.config = config
        self.registry = registry if registry is not None else ToolRegistry()
        self.store = store if store is not None else RunStore(config.data_dir)
        self.logs = RunLogs(self.store)
        self.uploads = UploadStore(Path(config.data_dir) / "uploads", config.max_upload_bytes)
        self._events = EventBus()
        self._executor: Executor | None = None
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._wakeup = threading.Event()
        self._active: dict[str, _Active] = {}
        self._own: set[str] = set()  # runs started by this engine (what it runs with a shared data_dir)
        self._supervisor: threading.Thread | None = None
        self._lock_file: IO[str] | None = None
        self._started = False
        self._stopping = False
        self._next_retention = 0.0

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> None:
        """Recover the store, start the process template, then run what is queued."""
        if self._started:
            return
        alone = self._lock_data_dir()
        try:
            self.registry.tools()  # discovery, once
            if alone:
                self._recover()
            if self.config.shared_data_dir:
                self._share_data_dir()
            self._events.start()
            self._stopping = False
            self._executor = create_executor(self.config, self)
            self._executor.start(self.registry.preload_modules())
        except BaseException:
            self._unlock_data_dir()
            raise
        self._started = True
        self._supervisor = threading.Thread(target=self._supervise, name="cts-supervisor", daemon=True)
        self._supervisor.start()

    def stop(self, timeout: float = 10) -> None:
        """Kill running runs (they end ``failed``: interrupted), leave queued runs queued."""
        if not self._started:
            return
        with self._lock:
            self._stopping = True
        self._wakeup.set()
        if self._supervisor is not None:
            self._supervisor.join(timeout)
        with self._lock:
            for active in self._active.values():
                if active.pid is not None and active.ended_by is None:
                    active.ended_by = "stop"
                    self._end_now(active.run_id, FAILED, INTERRUPTED)
        assert self._executor is not None
        self._executor.stop(timeout)
        self._events.stop()
        self.logs.close_all()
        self._unlock_data_dir()
        self._started = False

    def __enter__(self) -> ExecutionEngine:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- runs --------------------------------------------------------------------------------------

    def start_run(self, request: RunRequest) -> Run:
        """Validate and queue a run; it starts as soon as a slot is free."""
        valid = validate_request(request, self.registry, self.config, self.uploads)
        with self._lock:
            waiting = self.store.counts()[QUEUED] - max(
                0, self.config.max_concurrent_runs - len(self._active)
            )
            if waiting >= self.config.max_queued_runs:
                raise QueueFullError(
                    f"{self.config.max_queued_runs} runs are already waiting (max_queued_runs); "
                    "try again when some have finished, or cancel queued runs"
                )
            run = Run(
                run_id=new_id(),
                status=QUEUED,
                tool_id=valid.tool_id,
                name=request.name,
                created_at=utcnow(),
                params=valid.params,
                input=valid.input,
                timeout_s=valid.timeout_s,
            )
            self.store.insert(run, valid.inputs)
            if self.config.shared_data_dir:
                self._own.add(run.run_id)
        self._log(
            run.run_id, f"queued: {valid.tool_id} on {', '.join(valid.inputs) or 'no input'}", source="engine"
        )
        self._events.emit(RunEvent(run.run_id, "status", run=run))
        self._wakeup.set()
        return run

    def get_run_status(self, run_id: str) -> Run:
        return self.store.get(run_id)

    def list_runs(
        self, *, status: RunStatus | None = None, tool_id: str | None = None, limit: int = 50, offset: int = 0
    ) -> RunList:
        return self.store.list_runs(
            status=RunStatus(status) if status else None,
            tool_id=tool_id,
            limit=min(max(0, limit), _SQLITE_MAX_INT),  # (SQLite integers are 64-bit)
            offset=min(max(0, offset), _SQLITE_MAX_INT),
        )

    def cancel_run(self, run_id: str) -> Run:
        """Queued: canceled at once. Running: its process group is killed, it ends ``canceled``."""
        with self._lock:
            status = self.store.status(run_id)
            if status.is_final:
                raise RunStateError(
                    f"run {run_id} is already {status}; only queued or running runs can be canceled"
                )
            active = self._active.get(run_id)
            if active is None:
                self._end_now(run_id, CANCELED, None, note="canceled before it started")
                self.logs.close(run_id)
                self._changed.notify_all()
                return self.store.get(run_id)
            if active.ended_by is None:
                active.ended_by = "cancel"
                self._end_now(run_id, CANCELED, None, note="canceled: stopping its processes")
            executor = self._executor
        if executor is not None:
            executor.kill(run_id)
        return self.store.get(run_id)

    def execute_tool(self, request: RunRequest, *, timeout: float | None = None) -> Run:
        """Start a run and wait for it to end (``timeout``: how long to wait, not the run's timeout)."""
        run = self.start_run(request)
        return self.wait(run.run_id, timeout)

    def wait(self, run_id: str, timeout: float | None = None) -> Run:
        """The run once it is final and its processes are gone (or as it is when ``timeout`` passes)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._changed:
            while True:
                run = self.store.get(run_id)
                if run.status.is_final and run_id not in self._active:
                    return run
                remaining = 0.5 if deadline is None else min(0.5, deadline - time.monotonic())
                if remaining <= 0:
                    return run
                self._changed.wait(remaining)

    def get_logs(self, run_id: str, since: int = 0, limit: int | None = None) -> list[LogRecord]:
        self.store.status(run_id)  # UnknownRunError
        return self.logs.read(run_id, since, limit)

    def get_result(self, run_id: str) -> dict[str, Any]:
        run = self.store.get(run_id)
        if run.status != COMPLETED:
            why = f": {run.error}" if run.error else ""
            raise RunStateError(
                f"run {run_id} is {run.status}{why}; a result exists only once it has completed"
            )
        import json

        try:
            return json.loads(self.store.result_path(run_id).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise RunStateError(
                f"run {run_id} completed but its result.json is missing from its folder"
            ) from None

    def list_artifacts(self, run_id: str) -> list[Artifact]:
        self.store.status(run_id)
        return _scan_artifacts(self.store.artifacts_dir(run_id))

    def artifact_path(self, run_id: str, name: str) -> Path:
        """The file of one artifact; names that are not plain file names are refused."""
        self.store.status(run_id)
        try:
            check_artifact_name(name)
        except ValueError as exc:
            raise UnknownArtifactError(f"run {run_id} has no artifact {name!r}: {exc}") from None
        path = self.store.artifacts_dir(run_id) / name
        if path.is_symlink() or not path.is_file():
            raise UnknownArtifactError(
                f"run {run_id} has no artifact {name!r}; list its artifacts to see which exist"
            )
        return path

    def subscribe(self, listener: Callable[[RunEvent], None]) -> Callable[[], None]:
        """Call ``listener`` (from an engine thread) for each new log record and status change."""
        return self._events.subscribe(listener)

    def capabilities(self) -> Capabilities:
        return self.registry.capabilities()

    def health(self) -> Health:
        counts = self.store.counts()
        return Health(
            version=jupyter_cts.__version__, runs_queued=counts[QUEUED], runs_running=counts[RUNNING]
        )

    def is_busy(self) -> bool:
        counts = self.store.counts()
        return counts[QUEUED] + counts[RUNNING] > 0

    def apply_retention(self) -> list[str]:
        """Remove what the retention settings say may go now; returns the removed run ids."""
        with self._lock:
            return apply_retention(self.store, self.uploads, self.config)

    # -- supervisor thread -------------------------------------------------------------------------

    def _supervise(self) -> None:
        while True:
            self._wakeup.wait(self._next_wakeup())
            self._wakeup.clear()
            if self._stopping:
                return
            try:
                self._launch_queued()
                self._enforce_timeouts()
                self._flush_progress()
                self._retention_tick()
            except Exception:  # noqa: BLE001 - keep supervising; the failure is in the server log
                log.exception("the run supervisor hit an error; it carries on")

    def _next_wakeup(self) -> float:
        now = time.monotonic()
        waits = [1.0]
        with self._lock:
            for active in self._active.values():
                if active.deadline is not None and active.ended_by is None:
                    waits.append(active.deadline - now)
                if active.pending_progress is not None:
                    waits.append(active.progress_written + self.config.progress_interval_s - now)
        if self.config.retention_enabled:
            waits.append(self._next_retention - now)
        return max(0.0, min(waits))

    def _launch_queued(self) -> None:
        with self._lock:
            free = self.config.max_concurrent_runs - len(self._active)
            if free <= 0 or self._stopping:
                return
            shared = self.config.shared_data_dir
            candidates = [
                q
                for q in self.store.queued(self.config.max_queued_runs + self.config.max_concurrent_runs)
                if q.run_id not in self._active and (not shared or q.run_id in self._own)
            ]
        for queued in candidates[:free]:
            with self._lock:
                if self._stopping or self.store.status(queued.run_id) != QUEUED:
                    continue  # canceled meanwhile
                try:
                    ref = self.registry.tool_ref(queued.tool_id)
                except UnknownToolError:
                    self._end_now(queued.run_id, FAILED, f"tool {queued.tool_id!r} is no longer installed")
                    self.logs.close(queued.run_id)
                    continue
                timeout = queued.timeout_s or self.config.default_timeout_s
                self._active[queued.run_id] = _Active(queued.run_id, min(timeout, self.config.max_timeout_s))
                job = Job(
                    run_id=queued.run_id,
                    tool_id=queued.tool_id,
                    tool_ref=ref,
                    params=queued.params,
                    inputs=queued.inputs,
                    run_dir=str(self.store.run_dir(queued.run_id)),
                    artifacts_dir=str(self.store.artifacts_dir(queued.run_id)),
                    sys_path=[p or os.getcwd() for p in sys.path],
                )
                assert self._executor is not None
                try:
                    self._executor.launch(job)
                except Exception as exc:  # noqa: BLE001 - the run fails, the engine goes on
                    del self._active[queued.run_id]
                    self._end_now(queued.run_id, FAILED, f"the run process could not be started: {exc}")
                    self.logs.close(queued.run_id)
                    self._changed.notify_all()

    def _enforce_timeouts(self) -> None:
        now = time.monotonic()
        expired = []
        with self._lock:
            for active in self._active.values():
                if active.ended_by is None and active.deadline is not None and now >= active.deadline:
                    active.ended_by = "timeout"
                    self._end_now(active.run_id, FAILED, f"timed out after {active.timeout_s:g} s")
                    expired.append(active.run_id)
        for run_id in expired:
            assert self._executor is not None
            self._executor.kill(run_id)

    def _flush_progress(self) -> None:
        now = time.monotonic()
        with self._lock:
            due = [
                a
                for a in self._active.values()
                if a.pending_progress is not None
                and now - a.progress_written >= self.config.progress_interval_s
            ]
        for active in due:
            self._write_progress(active)

    def _retention_tick(self) -> None:
        if not self.config.retention_enabled or time.monotonic() < self._next_retention:
            return
        self._next_retention = time.monotonic() + self.config.retention_interval_s
        removed = self.apply_retention()
        if removed:
            log.info("retention removed %d finished runs", len(removed))

    # -- ExecutorSink: called from the executor's I/O thread ---------------------------------------

    def on_spawned(self, run_id: str, pid: int | None) -> None:
        with self._lock:
            active = self._active.get(run_id)
            if active is None:
                return
            active.pid = pid
            active.started = time.monotonic()
            moved = not self._stopping and self.store.transition(
                run_id,
                [QUEUED],
                RUNNING,
                started_at=utcnow(),
                pid=pid,
                pid_started=create_time(pid) if pid else None,
            )
            executor = self._executor
        if not moved:
            if executor is not None:
                executor.kill(run_id)  # canceled (or the engine is stopping) while it was being forked
            return
        self._log(run_id, f"running in process {pid}", source="engine")
        self._emit_status(run_id)
        self._wakeup.set()  # the supervisor now has a deadline to watch

    def on_message(self, run_id: str, message: dict[str, Any]) -> None:
        kind = message.get("t")
        if kind == "log":
            when = datetime.fromtimestamp(float(message.get("time") or time.time()), UTC)
            self._log(
                run_id, str(message.get("message", "")), level=str(message.get("level", "INFO")), t=when
            )
        elif kind == "progress":
            self._progress(run_id, float(message.get("percent", 0.0)), str(message.get("message", "")))
        elif kind == "artifact":
            self._log(run_id, f"writing artifact {message.get('name')}", source="engine")
        elif kind in ("done", "error"):
            with self._lock:
                active = self._active.get(run_id)
                if active is not None:
                    active.done = kind == "done"
                    active.error = str(message.get("error")) if kind == "error" else None

    def on_output(self, run_id: str, stream: str, line: str) -> None:
        if stream == "stderr":
            self._log(run_id, line, level="WARNING", source="stderr")
        else:
            self._log(run_id, line, source="stdout")

    def on_exit(self, run_id: str, info: ExitInfo) -> None:
        with self._lock:
            active = self._active.get(run_id)
        if active is None:
            return
        if active.pending_progress is not None:
            self._write_progress(active)
        if active.pid is None and self._stopping:
            outcome = None  # never started: stays queued for the next engine
        else:
            outcome = self._outcome(active, info)
        wall = None if active.started is None else round(time.monotonic() - active.started, 3)
        if outcome is not None:
            status, error = outcome
            self._log(
                run_id,
                f"completed in {wall:.2f} s" if status == COMPLETED else f"failed: {error}",
                level="INFO" if status == COMPLETED else "ERROR",
                source="engine",
            )
        artifacts = self._collect_artifacts(run_id) if active.pid is not None else []
        log_seq = self.logs.close(run_id)
        shutil.rmtree(self.store.run_dir(run_id) / "tmp", ignore_errors=True)
        with self._lock:
            if outcome is not None:
                status, error = outcome
                extra: dict[str, Any] = {"progress": 100.0} if status == COMPLETED else {}
                self.store.transition(run_id, ACTIVE, status, completed_at=utcnow(), error=error, **extra)
            self.store.update(
                run_id,
                metrics=RunMetrics(wall_s=wall, cpu_s=_round(info.cpu_s), max_rss_mb=_round(info.max_rss_mb)),
                artifacts=artifacts,
                log_seq=log_seq,
                pid=None,
            )
            del self._active[run_id]
            self._changed.notify_all()
        self._emit_status(run_id)
        self._wakeup.set()  # a slot is free

    def _outcome(self, active: _Active, info: ExitInfo) -> tuple[RunStatus, str | None] | None:
        """How the run ended, or None when the engine already decided (cancel, timeout, stop)."""
        if self.store.status(active.run_id).is_final:
            return None
        if info.lost:
            return FAILED, info.lost
        if active.error:
            return FAILED, active.error
        if info.returncode == 0 and active.done:
            return COMPLETED, None
        if info.returncode == 0:
            return FAILED, "the tool process ended without reporting a result"
        return FAILED, describe_exit(info.returncode)

    # -- helpers -----------------------------------------------------------------------------------

    def _end_now(self, run_id: str, status: RunStatus, error: str | None, note: str | None = None) -> bool:
        """Record a final state decided by the engine (cancel, timeout, stop); caller holds the lock."""
        moved = self.store.transition(run_id, ACTIVE, status, completed_at=utcnow(), error=error)
        if moved:
            self._log(
                run_id,
                note or f"{status}: {error}",
                level="INFO" if status == CANCELED else "ERROR",
                source="engine",
            )
            self._emit_status(run_id)
        return moved

    def _progress(self, run_id: str, percent: float, message: str) -> None:
        with self._lock:
            active = self._active.get(run_id)
            if active is None:
                return
            active.pending_progress = (percent, message)
            due = time.monotonic() - active.progress_written >= self.config.progress_interval_s
        if due:
            self._write_progress(active)
        else:
            self._wakeup.set()

    def _write_progress(self, active: _Active) -> None:
        with self._lock:
            pending, active.pending_progress = active.pending_progress, None
            if pending is None:
                return
            active.progress_written = time.monotonic()
            written = self.store.update(
                active.run_id, only_if=[RUNNING], progress=pending[0], progress_message=pending[1]
            )
        if written:
            self._emit_status(active.run_id)

    def _log(
        self,
        run_id: str,
        message: str,
        *,
        level: str = "INFO",
        source: LogSource = "log",
        t: datetime | None = None,
    ) -> None:
        record = self.logs.append(run_id, message, level=level, source=source, t=t)
        self._events.emit(RunEvent(run_id, "log", record=record))

    def _emit_status(self, run_id: str) -> None:
        self._events.emit(RunEvent(run_id, "status", run=self.store.get(run_id)))

    def _collect_artifacts(self, run_id: str) -> list[Artifact]:
        """result.json is an artifact too (linked into artifacts/ unless the tool wrote its own)."""
        folder = self.store.artifacts_dir(run_id)
        result = self.store.result_path(run_id)
        target = folder / "result.json"
        if result.is_file() and not target.exists():
            try:
                os.link(result, target)
            except OSError:
                shutil.copyfile(result, target)
        return _scan_artifacts(folder)

    def _recover(self) -> None:
        """Runs that were running when the previous engine stopped end failed; their leftovers die.

        With a shared data_dir (local runs) nobody else would ever run a dead engine's queued runs,
        so those end failed too; a server's queued runs wait for it to start again.
        """
        for run_id, pid, started in self.store.running_processes():
            if pid is not None:
                kill_if_same(pid, started)
            self._interrupt(run_id, [RUNNING])
        if self.config.shared_data_dir:
            for queued in self.store.queued(1_000_000):
                self._interrupt(queued.run_id, [QUEUED])

    def _interrupt(self, run_id: str, states: list[RunStatus]) -> None:
        if self.store.transition(run_id, states, FAILED, completed_at=utcnow(), error=INTERRUPTED, pid=None):
            self.logs.append(
                run_id,
                f"{INTERRUPTED}: the engine stopped before this run ended",
                level="ERROR",
                source="engine",
            )
            self.store.update(run_id, log_seq=self.logs.close(run_id))

    def _lock_data_dir(self) -> bool:
        """Exclusive lock on data_dir; True when this engine is alone there (so it may recover).

        Two engines each thinking the other's running runs were orphaned would kill them: a server
        engine refuses to share; local engines (``shared_data_dir``) share with each other.
        """
        path = Path(self.config.data_dir) / "engine.lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        fh = path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.seek(0)
            holder = fh.read().strip() or "unknown"
            if self.config.shared_data_dir and _flock_within(fh, fcntl.LOCK_SH, seconds=3):
                # (another local engine may hold it exclusively for a moment, while it recovers)
                self._lock_file = fh
                return False
            fh.close()
            raise CTSError(
                f"{self.config.data_dir} is in use by another engine ({holder}); stop it, or give this "
                "engine its own data_dir"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()}" if not self.config.shared_data_dir else "local runs")
        fh.flush()
        self._lock_file = fh
        return True

    def _share_data_dir(self) -> None:
        """After recovery, let other local engines in (exclusive -> shared)."""
        if self._lock_file is not None:
            fcntl.flock(self._lock_file, fcntl.LOCK_SH)

    def _unlock_data_dir(self) -> None:
        if self._lock_file is not None:
            self._lock_file.close()  # closing releases the flock
            self._lock_file = None


def _flock_within(fh: IO[str], mode: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while True:
        try:
            fcntl.flock(fh, mode | fcntl.LOCK_NB)
            return True
        except OSError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)


def _scan_artifacts(folder: Path) -> list[Artifact]:
    """Plain files with plain names; symlinks are ignored so no artifact points outside its run."""
    if not folder.is_dir():
        return []
    found = []
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        if not entry.is_file(follow_symlinks=False):
            continue
        try:
            check_artifact_name(entry.name)
        except ValueError:
            continue
        found.append(
            Artifact(
                name=entry.name,
                size=entry.stat(follow_symlinks=False).st_size,
                content_type=_content_type(entry.name),
            )
        )
    return found


def _content_type(name: str) -> str:
    suffix = Path(name).suffix.lower()
    return _CONTENT_TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)
