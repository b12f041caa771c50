"""What a tool sees of the engine inside its run process: :class:`RunContext`.

Progress and artifact notices go back to the engine as JSON lines on the run's message pipe the
moment they happen. Progress is thinned to one message per ``interval`` (a tool may report in a
tight loop); the latest value is always delivered, by a short timer if no further call comes.
"""

from __future__ import annotations

import json
import math
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from jupyter_cts.tools.base import OnDone, SegmentMapper, check_artifact_name, map_serial, mapper_cpus


class Channel:
    """JSON lines to the engine over a pipe; thread-safe; silent once the engine has gone away."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._lock = threading.Lock()
        self.broken = False
        # Segment workers are forked from the run process and log through this channel too: a
        # lock some other thread held at the fork would never be released in the child.
        os.register_at_fork(after_in_child=self._new_lock)

    def _new_lock(self) -> None:
        self._lock = threading.Lock()

    def send(self, **message: Any) -> None:
        data = (json.dumps(message, default=str) + "\n").encode("utf-8", "replace")
        with self._lock:
            if self.broken:
                return
            view = memoryview(data)
            try:
                while view:
                    view = view[os.write(self._fd, view) :]
            except OSError:
                self.broken = True  # the engine stopped reading; the run is being torn down


class RunContext:
    """Implements :class:`jupyter_cts.tools.base.ToolContext` for a run executed by the engine."""

    def __init__(
        self,
        run_id: str,
        artifacts_dir: Path,
        channel: Channel,
        interval: float = 0.02,
        mapper: SegmentMapper[Any, Any] | None = None,
    ) -> None:
        self.run_id = run_id
        self.artifacts_dir = Path(artifacts_dir)
        self.artifacts_dir.mkdir(parents=True, exist_ok=True)
        self._channel = channel
        self._interval = interval
        self._lock = threading.Lock()
        self._last_sent = 0.0
        self._last_message: str | None = None
        self._pending: tuple[float, str] | None = None
        self._timer: threading.Timer | None = None
        self._announced: set[str] = set()
        self._mapper = mapper or map_serial

    @property
    def local_cpus(self) -> int:
        """This run's share of the machine's CPUs, as its segment pool was sized."""
        return mapper_cpus(self._mapper)

    def map_segments(
        self, fn: Callable[[Any], Any], items: Sequence[Any], on_done: OnDone | None = None
    ) -> Iterator[Any]:
        """Per-segment work, spread out the way the executor chose (:mod:`jupyter_cts.engine.fanout`)."""
        return self._mapper(fn, items, on_done)

    def progress(self, percent: float, message: str = "") -> None:
        value = float(percent)
        value = 0.0 if math.isnan(value) else min(100.0, max(0.0, value))
        now = time.monotonic()
        with self._lock:
            due = now - self._last_sent >= self._interval or message != self._last_message or value >= 100
            if due:
                self._send_locked(value, str(message), now)
                return
            self._pending = (value, str(message))
            if self._timer is None:
                self._timer = threading.Timer(self._interval, self.flush)
                self._timer.daemon = True
                self._timer.start()

    def flush(self) -> None:
        """Deliver a held-back progress value (called by the timer and at the end of the run)."""
        with self._lock:
            self._timer = None
            if self._pending is not None:
                value, message = self._pending
                self._send_locked(value, message, time.monotonic())

    def artifact(self, name: str) -> Path:
        check_artifact_name(name)
        if name not in self._announced:
            self._announced.add(name)
            self._channel.send(t="artifact", name=name)
        return self.artifacts_dir / name

    def _send_locked(self, value: float, message: str, now: float) -> None:
        self._pending = None
        self._last_sent = now
        self._last_message = message
        self._channel.send(t="progress", percent=value, message=message)
