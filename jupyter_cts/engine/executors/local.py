"""Runs on this machine, each forked from a warm template process (see :mod:`.zygote`).

One I/O thread watches the template's socket and every run's three pipes, turns bytes into
messages and lines for the engine, and reports a run's exit only after its pipes are drained, so
the engine has every log line before it records the final state.
"""

from __future__ import annotations

import json
import logging
import os
import selectors
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from jupyter_cts.engine.config import EngineConfig
from jupyter_cts.engine.executors.base import Executor, ExecutorSink, ExitInfo, Job
from jupyter_cts.engine.fanout import local_workers, pool_spec
from jupyter_cts.engine.processes import killpg

log = logging.getLogger(__name__)

MAX_LINE = 64 * 1024
# After a run's leader exited, how long to wait for its pipes to close (an escaped descendant may
# keep them open) before reporting the exit anyway.
DRAIN_GRACE_S = 2.0
TEMPLATE_LOST = "the run's process template stopped unexpectedly; run it again"


@dataclass
class _RunIO:
    run_id: str
    fds: dict[int, str]  # read end -> "msg" | "stdout" | "stderr"
    buffers: dict[str, bytearray] = field(default_factory=dict)
    pid: int | None = None
    exit: ExitInfo | None = None
    exit_seen_at: float | None = None
    watched: bool = False


class LocalExecutor(Executor):
    """Forks runs from a template that has the tools imported; kills through the template."""

    def __init__(self, config: EngineConfig, sink: ExecutorSink) -> None:
        super().__init__(config, sink)
        self._lock = threading.RLock()
        self._send_lock = threading.Lock()
        self._runs: dict[str, _RunIO] = {}
        self._selector = selectors.DefaultSelector()
        self._pending_template: socket.socket | None = None
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, ("wake", None))
        self._preload: list[str] = []
        self._template: subprocess.Popen[bytes] | None = None
        self._sock: socket.socket | None = None
        self._template_ready = False
        self._template_failures = 0
        self._stopping = False
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self, preload: list[str]) -> None:
        self._preload = list(preload)
        self._thread = threading.Thread(target=self._loop, name="cts-local-executor", daemon=True)
        self._thread.start()
        with self._lock:
            self._ensure_template()

    def stop(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self._lock:
            self._stopping = True
            run_ids = list(self._runs)
        for run_id in run_ids:
            self.kill(run_id)
        self._wake()
        if self._thread is not None:
            # The loop ends once every run has reported its exit and the template is closed.
            self._thread.join(max(0.1, deadline - time.monotonic()))
            if self._thread.is_alive():
                log.warning("the local executor did not stop within %.0f s", timeout)
        with self._lock:
            leftovers = list(self._runs.values())
            self._runs.clear()
        for run in leftovers:  # only when the loop could not finish: report rather than leave waiters hanging
            self.sink.on_exit(
                run.run_id, run.exit or ExitInfo(None, lost="the engine stopped before the run ended")
            )

    # -- runs --------------------------------------------------------------------------------------

    def launch(self, job: Job) -> None:
        pipes = [os.pipe() for _ in range(3)]
        run = _RunIO(
            job.run_id, {r: name for (r, _), name in zip(pipes, ("msg", "stdout", "stderr"), strict=True)}
        )
        try:
            with self._lock:
                if self._stopping:
                    raise RuntimeError("the engine is stopping")
                self._runs[job.run_id] = run
                self._ensure_template()
                self._send({"op": "spawn", "job": self.job_message(job)}, [w for _, w in pipes])
        except BaseException:
            with self._lock:
                self._runs.pop(job.run_id, None)
            for r, _ in pipes:
                os.close(r)
            raise
        finally:
            for _, w in pipes:
                os.close(w)  # only the run process holds the write ends now: EOF means it is done
        self._wake()

    def job_message(self, job: Job) -> dict[str, Any]:
        """The job as its run process gets it, plus how to spread its segments (see engine.fanout)."""
        return {**job.to_dict(), "segment_mapper": self.segment_mapper(job)}

    def segment_mapper(self, job: Job) -> dict[str, Any]:
        """A process pool with this run's share of the CPUs (the runs going now include it)."""
        with self._lock:
            return pool_spec(local_workers(len(self._runs)))

    def kill(self, run_id: str) -> None:
        with self._lock:
            run = self._runs.get(run_id)
            if run is None or run.exit is not None:
                return
            try:
                self._send({"op": "kill", "run_id": run_id}, [])
            except OSError:
                # No template to ask: kill the group ourselves (its pid is still that run's).
                if run.pid is not None:
                    killpg(run.pid)

    # -- template ----------------------------------------------------------------------------------

    def _ensure_template(self) -> None:
        if self._sock is not None:
            return
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        # A template that keeps dying while preloading probably has a plugin that aborts the
        # interpreter on import: start it bare then, and let each run import its own tool.
        preload = self._preload if self._template_failures < 2 else []
        try:
            self._template = subprocess.Popen(
                [sys.executable, "-m", "jupyter_cts.engine.executors.zygote", str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,  # never into the caller's stdout (`cts run --local --json`)
                start_new_session=True,  # Ctrl-C in the caller's terminal is the engine's to handle
            )
        finally:
            theirs.close()
        self._sock = ours
        self._template_ready = False
        self._send({"op": "hello", "sys_path": _sys_path(), "preload": preload}, [])
        self._pending_template = ours
        self._wake()

    def _close_template(self) -> None:
        """Loop thread only. Closing the socket tells the template to kill its runs and exit."""
        if self._pending_template is not None:
            self._pending_template = None
        if self._sock is not None:
            try:
                self._selector.unregister(self._sock)
            except (KeyError, ValueError):
                pass
            self._sock.close()
            self._sock = None
        if self._template is not None:
            try:
                self._template.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._template.kill()
                self._template.wait()
            self._template = None

    def _send(self, message: dict[str, Any], fds: list[int]) -> None:
        if self._sock is None:
            raise OSError("no process template is running")
        data = json.dumps(message).encode()
        with self._send_lock:
            socket.send_fds(self._sock, [data], fds)

    def _on_template_message(self) -> None:
        assert self._sock is not None
        try:
            data = self._sock.recv(1 << 20)
        except OSError:
            data = b""
        if not data:
            self._on_template_lost()
            return
        message = json.loads(data)
        op = message.get("op")
        if op == "ready":
            self._template_ready = True
            self._template_failures = 0
            if message.get("failed"):
                log.warning("the run template could not preload: %s", "; ".join(message["failed"]))
            return
        with self._lock:
            run = self._runs.get(message.get("run_id", ""))
        if run is None:
            return
        if op == "spawned":
            run.pid = int(message["pid"])
            _safely(self.sink.on_spawned, run.run_id, run.pid)
            self._watch(run)  # only now: the engine hears "running" before anything the run says
        elif op == "exited":
            run.exit = ExitInfo(message["returncode"], message.get("cpu_s"), message.get("max_rss_mb"))
            run.exit_seen_at = time.monotonic()
        elif op == "spawn_failed":
            run.exit = ExitInfo(None, lost=f"the run process could not be started: {message.get('error')}")
            run.exit_seen_at = time.monotonic()
            self._watch(run)

    def _on_template_lost(self) -> None:
        with self._lock:
            if not self._template_ready:
                self._template_failures += 1
            code = None
            if self._template is not None:
                try:
                    code = self._template.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self._template.kill()
            if not self._stopping:
                log.warning("the run template exited (code %s); starting a new one for the next run", code)
            self._close_template()
            for run in self._runs.values():
                if run.exit is None:
                    if run.pid is not None:
                        killpg(run.pid)
                    run.exit = ExitInfo(None, lost=TEMPLATE_LOST)
                    run.exit_seen_at = time.monotonic()
                self._watch(run)

    # -- I/O loop ----------------------------------------------------------------------------------

    def _wake(self) -> None:
        with self._lock:
            if self._wake_w < 0:
                return
            try:
                os.write(self._wake_w, b"x")
            except OSError:
                pass  # full: the loop is already due to wake up

    def _loop(self) -> None:
        """The only thread that touches the selector (registering, unregistering, selecting)."""
        try:
            while True:
                with self._lock:
                    if self._stopping and not self._runs:
                        self._close_template()
                        return
                    self._register_pending()
                ready = self._selector.select(self._select_timeout())
                for key, _ in ready:
                    kind, run = key.data
                    if kind == "wake":
                        _drain(self._wake_r)
                    elif kind == "template":
                        self._on_template_message()
                    else:
                        self._on_run_readable(run, key.fd)
                self._finish_exited()
        finally:
            with self._lock:
                self._close_template()
                self._selector.close()
                os.close(self._wake_r)
                os.close(self._wake_w)
                self._wake_r = self._wake_w = -1

    def _register_pending(self) -> None:
        if self._pending_template is not None:
            self._selector.register(self._pending_template, selectors.EVENT_READ, ("template", None))
            self._pending_template = None

    def _watch(self, run: _RunIO) -> None:
        """Start reading a run's pipes (loop thread only; once)."""
        if run.watched:
            return
        run.watched = True
        for fd in run.fds:
            self._selector.register(fd, selectors.EVENT_READ, ("run", run))

    def _select_timeout(self) -> float | None:
        with self._lock:
            waits = [r.exit_seen_at for r in self._runs.values() if r.exit_seen_at is not None]
        if not waits:
            return None
        return max(0.0, min(waits) + DRAIN_GRACE_S - time.monotonic())

    def _on_run_readable(self, run: _RunIO, fd: int) -> None:
        stream = run.fds.get(fd)
        if stream is None:
            return
        try:
            data = os.read(fd, 65536)
        except OSError:
            data = b""
        buf = run.buffers.setdefault(stream, bytearray())
        if not data:
            self._selector.unregister(fd)
            os.close(fd)
            del run.fds[fd]
            if buf:
                self._deliver(run, stream, bytes(buf))
                buf.clear()
            return
        buf += data
        while True:
            cut = buf.find(b"\n")
            if cut < 0:
                if len(buf) > MAX_LINE:
                    self._deliver(run, stream, bytes(buf))
                    buf.clear()
                break
            line = bytes(buf[:cut])
            del buf[: cut + 1]
            self._deliver(run, stream, line)

    def _deliver(self, run: _RunIO, stream: str, line: bytes) -> None:
        if stream == "msg":
            try:
                message = json.loads(line)
            except ValueError:
                return
            _safely(self.sink.on_message, run.run_id, message)
        else:
            text = line.decode("utf-8", "replace").rstrip("\r")
            _safely(self.sink.on_output, run.run_id, stream, text)

    def _finish_exited(self) -> None:
        now = time.monotonic()
        with self._lock:
            done = [
                r
                for r in self._runs.values()
                if r.exit is not None and (not r.fds or now - (r.exit_seen_at or now) >= DRAIN_GRACE_S)
            ]
            for run in done:
                del self._runs[run.run_id]
        for run in done:
            self._close_fds(run)
            assert run.exit is not None
            _safely(self.sink.on_exit, run.run_id, run.exit)

    def _close_fds(self, run: _RunIO) -> None:
        for fd in list(run.fds):
            try:
                self._selector.unregister(fd)
            except (KeyError, ValueError):
                pass
            os.close(fd)
        run.fds.clear()


def _safely(callback: Any, *args: Any) -> None:
    """An engine bug in one callback must not stop the I/O of every other run."""
    try:
        callback(*args)
    except Exception:  # noqa: BLE001
        log.exception("run event handler %s failed for %s", getattr(callback, "__name__", callback), args[:1])


def _sys_path() -> list[str]:
    cwd = os.getcwd()
    return [p if p else cwd for p in sys.path]


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 4096):
            pass
    except BlockingIOError:
        pass
