"""Live events of runs (new log records, status and progress changes) for whoever listens.

Listeners are called one at a time, in the order events happened, from one dispatcher thread:
a slow or failing listener (a closed SSE connection, say) never holds up a run or the engine.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from jupyter_cts.engine.models import LogRecord, Run

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunEvent:
    """``kind`` "log" carries ``record``; "status" (state or progress changed) carries ``run``."""

    run_id: str
    kind: Literal["log", "status"]
    record: LogRecord | None = None
    run: Run | None = None


Listener = Callable[[RunEvent], None]
_STOP = object()


class EventBus:
    """Fan-out of :class:`RunEvent` to subscribed listeners on a dispatcher thread."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._dispatch, name="cts-events", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5) -> None:
        """Deliver what is already queued, then stop."""
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join(timeout)
            self._thread = None

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def emit(self, event: RunEvent) -> None:
        self._queue.put(event)

    def _dispatch(self) -> None:
        while True:
            event = self._queue.get()
            if event is _STOP:
                return
            with self._lock:
                listeners = list(self._listeners)
            for listener in listeners:
                try:
                    listener(event)  # type: ignore[arg-type]
                except Exception:  # noqa: BLE001 - one listener must not break the others
                    log.exception("a run event listener failed on %s", event)
