"""Fetch a run's state over and over without blocking the kernel, and without touching widgets
from a foreign thread.

Two modes, chosen when polling starts:

- **asyncio** (ipykernel, and any code running inside an event loop): a task on the running loop
  awaits the async fetch and applies each snapshot itself. The kernel's loop runs between cells
  and during ``await``, so the view updates live while the person keeps working.
- **thread** (no running loop: a plain script, a terminal IPython, a test without a loop): a
  daemon thread only *fetches*; snapshots wait in a queue until the owner's thread drains them
  with :meth:`Poller.drain` (on any interaction, e.g. ``RunView.refresh()``) or :meth:`Poller.wait`
  (a synchronous refresh until the run is final). Widget state is therefore only ever changed on
  the thread that owns the widgets; the price is that a view in thread mode moves when asked to.

Both stop when a snapshot is final, or when :meth:`Poller.stop` is called (``widget.close()``).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")

log = logging.getLogger(__name__)


def running_loop() -> asyncio.AbstractEventLoop | None:
    """The loop this thread is running inside, if any (ipykernel's, between and during cells)."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        pass
    try:
        loop = asyncio.get_event_loop_policy().get_event_loop()
    except RuntimeError:
        return None
    return loop if loop.is_running() else None


class Poller(Generic[T]):
    """Calls ``fetch`` until ``is_final(snapshot)``; hands every snapshot to ``apply`` on the owner's thread.

    A failing fetch (server briefly unreachable) is retried after ``interval``; after
    ``max_failures`` in a row the error is handed to ``on_error`` and polling stops.
    """

    def __init__(
        self,
        fetch_sync: Callable[[], T],
        fetch_async: Callable[[], Awaitable[T]],
        apply: Callable[[T], None],
        is_final: Callable[[T], bool],
        *,
        interval: float = 0.5,
        max_failures: int = 5,
        on_error: Callable[[BaseException], None] | None = None,
        cleanup_async: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._fetch_sync = fetch_sync
        self._fetch_async = fetch_async
        self._apply = apply
        self._is_final = is_final
        self.interval = interval
        self.max_failures = max_failures
        self._on_error = on_error
        self._cleanup_async = cleanup_async  # e.g. close the async HTTP client when the task ends
        self._stop = threading.Event()
        self._done = threading.Event()
        self._queue: queue.Queue[tuple[str, object]] = queue.Queue()
        self._owner = threading.get_ident()
        self.mode: str | None = None
        self.task: asyncio.Task[None] | None = None
        self.thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> str:
        """Start in asyncio mode when a loop is running here, else in thread mode; return the mode."""
        loop = running_loop()
        self._owner = threading.get_ident()
        if loop is not None:
            self.mode = "asyncio"
            self.task = loop.create_task(self._run_async())
        else:
            self.mode = "thread"
            self.thread = threading.Thread(target=self._run_thread, name="cts-run-poller", daemon=True)
            self.thread.start()
        return self.mode

    def stop(self) -> None:
        """Stop fetching (idempotent); pending snapshots are dropped."""
        self._stop.set()
        if self.task is not None and not self.task.done():
            self.task.cancel()
        self._done.set()

    @property
    def running(self) -> bool:
        return self.mode is not None and not self._done.is_set()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    # -- asyncio mode ------------------------------------------------------------------------------

    async def _run_async(self) -> None:
        failures = 0
        try:
            while not self._stop.is_set():
                try:
                    snapshot = await self._fetch_async()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - reported to the view, never lost
                    failures += 1
                    if failures >= self.max_failures:
                        self._report(exc)
                        return
                    await asyncio.sleep(self.interval)
                    continue
                failures = 0
                if self._stop.is_set():
                    return
                self._safe_apply(snapshot)
                if self._is_final(snapshot):
                    return
                await asyncio.sleep(self.interval)
        finally:
            self._done.set()
            if self._cleanup_async is not None:
                await self._cleanup_async()

    async def wait_async(self, timeout: float | None = None) -> None:
        """Await the end of polling (asyncio mode: the task; thread mode: drains as it goes)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._done.is_set():
            if self.mode == "thread":
                self.drain()
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"polling did not finish within {timeout} s")
            await asyncio.sleep(0.05)
        self.drain()

    # -- thread mode -------------------------------------------------------------------------------

    def _run_thread(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                snapshot = self._fetch_sync()
            except Exception as exc:  # noqa: BLE001 - handed to the owner's thread
                failures += 1
                if failures >= self.max_failures:
                    self._queue.put(("error", exc))
                    break
                self._stop.wait(self.interval)
                continue
            failures = 0
            self._queue.put(("snapshot", snapshot))
            if self._is_final(snapshot):
                break
            self._stop.wait(self.interval)
        self._queue.put(("end", None))

    def drain(self) -> int:
        """Apply the snapshots fetched so far (thread mode), on the calling thread; return how many."""
        if threading.get_ident() != self._owner and self.mode == "thread":
            raise RuntimeError("drain() must be called from the thread that created the widgets")
        applied = 0
        while True:
            try:
                kind, item = self._queue.get_nowait()
            except queue.Empty:
                return applied
            applied += self._handle(kind, item)

    def _handle(self, kind: str, item: object) -> int:
        if kind == "snapshot" and not self._stop.is_set():
            self._safe_apply(item)  # type: ignore[arg-type]
            return 1
        if kind == "error":
            self._report(item)  # type: ignore[arg-type]
        if kind == "end":
            self._done.set()
        return 0

    def wait(self, timeout: float | None = None) -> None:
        """Block until polling ends, applying snapshots as they come (thread mode only).

        In asyncio mode blocking would freeze the very loop that polls: use ``await wait_async()``.
        """
        if self.mode == "asyncio":
            raise RuntimeError("this view polls on the kernel's event loop: use `await view.wait_async()`")
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._done.is_set():
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                raise TimeoutError(f"polling did not finish within {timeout} s")
            try:
                kind, item = self._queue.get(timeout=min(0.2, remaining) if remaining else 0.2)
            except queue.Empty:
                continue
            self._handle(kind, item)
        self.drain()

    # -- shared ------------------------------------------------------------------------------------

    def _safe_apply(self, snapshot: T) -> None:
        try:
            self._apply(snapshot)
        except Exception:  # a rendering bug must not kill polling silently
            log.exception("updating the run view failed")

    def _report(self, exc: BaseException) -> None:
        if self._on_error is not None:
            self._on_error(exc)
        else:
            log.warning("polling stopped: %s", exc)
