"""Segment mappers: how a run's per-segment work is spread out inside its run process.

A run still has exactly one process of its own (the engine's); a tool that works per segment hands
its work to ``ctx.map_segments`` (see :func:`jupyter_cts.tools.base.map_segments`), and the mapper
the executor chose runs it: in this process one at a time (``serial``), over a pool of forked
processes on this machine (``pool``, the local executor), or on an existing Dask cluster (``dask``,
:mod:`jupyter_cts.engine.executors.dask`). Every mapper yields results in the order of the items,
so the tool's combine step cannot tell where the segments ran.

The executor describes the mapper as plain JSON in the job (``segment_mapper``), since the job
crosses a process boundary; :func:`make_mapper` turns that back into a callable in the run process.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from jupyter_cts.errors import CTSError
from jupyter_cts.tools.base import OnDone, SegmentMapper, map_serial

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

# Items in flight per pool worker: enough to keep every worker busy, few enough that results
# finished ahead of the one the caller waits for do not pile up in memory on a long route.
IN_FLIGHT_PER_WORKER = 2


def pool_spec(workers: int) -> dict[str, Any]:
    """The job's description of a local process pool of ``workers`` processes."""
    return {"kind": "pool", "workers": max(1, int(workers))}


def local_workers(active_runs: int, cpus: int | None = None) -> int:
    """Processes one run may use on this machine: the CPUs shared among the runs going now.

    The local executor asks when a run starts; ``active_runs`` counts that run too. The engine's
    ``max_concurrent_runs`` bounds ``active_runs``, so runs together never ask for more processes
    than the machine has CPUs (a run started while others go gets a smaller share).
    """
    cpus = cpus or os.cpu_count() or 1
    return max(1, cpus // max(1, active_runs))


def make_mapper(spec: dict[str, Any] | None, run_id: str = "") -> SegmentMapper[Any, Any]:
    """The mapper a job's ``segment_mapper`` describes; serial when there is none."""
    kind = (spec or {}).get("kind", "serial")
    if kind == "serial":
        return map_serial
    if kind == "pool":
        return PoolMapper(int(spec.get("workers", 1)))  # type: ignore[union-attr]
    if kind == "dask":
        from jupyter_cts.engine.executors.dask import DaskMapper

        return DaskMapper.from_spec(spec, run_id)  # type: ignore[arg-type]
    raise CTSError(
        f"unknown segment mapper {kind!r} in the job: the engine and the run disagree; restart the server"
    )


class PoolMapper:
    """Runs items on up to ``workers`` forked processes of this run (so a cancel kills them too).

    Forked, not spawned: the run process already imported the tool, so a worker starts in
    milliseconds, and it inherits the run's log channel, so what it logs reaches the run log.
    A route of one segment, or one worker, runs in this process: no pool to start.
    """

    def __init__(self, workers: int) -> None:
        self.workers = max(1, workers)

    @property
    def local_cpus(self) -> int:
        """CPUs of this machine the run may keep busy (``tools.base.local_cpus``)."""
        return self.workers

    def __call__(
        self, fn: Callable[[T], R], items: Sequence[T], on_done: OnDone | None = None
    ) -> Iterator[R]:
        workers = min(self.workers, len(items))
        if workers <= 1:
            return map_serial(fn, items, on_done)
        return self._map(fn, items, on_done, workers)

    def _map(
        self, fn: Callable[[T], R], items: Sequence[T], on_done: OnDone | None, workers: int
    ) -> Iterator[R]:
        total = len(items)
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("fork"))
        try:
            ordered = OrderedResults(total)
            pending: dict[Future[R], int] = {}
            next_item = 0
            while ordered.yielded < total:
                while next_item < total and len(pending) < workers * IN_FLIGHT_PER_WORKER:
                    try:
                        future = pool.submit(fn, items[next_item])
                    except BrokenProcessPool:
                        # a worker died since the last wait: its item's future says which one
                        next_item = total
                        break
                    pending[future] = next_item
                    next_item += 1
                if not pending:  # a worker died between items: no future names a segment
                    raise CTSError("a segment worker process died (killed, or out of memory); run it again")
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    index = pending.pop(future)
                    ordered.put(index, _result(future, items[index]))
                    if on_done is not None:
                        on_done(ordered.done, total)
                yield from ordered.ready()
        finally:
            # On an error or an abandoned iterator: drop what has not started; running items end
            # with their worker (and the whole run's process group goes when the run ends).
            pool.shutdown(wait=False, cancel_futures=True)


def _result(future: Future[R], item: Any) -> R:
    try:
        return future.result()
    except BrokenProcessPool:
        raise CTSError(
            f"a segment worker process died while analysing {describe_item(item)} (killed, or out of "
            "memory); "
            "run it again, or with fewer concurrent runs"
        ) from None


class OrderedResults:
    """Results that finish in any order, handed out in item order (shared by every mapper)."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0
        self.yielded = 0
        self._waiting: dict[int, Any] = {}

    def put(self, index: int, result: Any) -> None:
        self._waiting[index] = result
        self.done += 1

    def ready(self) -> Iterator[Any]:
        while self.yielded in self._waiting:
            result = self._waiting.pop(self.yielded)
            self.yielded += 1
            yield result


def describe_item(item: Any) -> str:
    """``segment 3 (…/route--3/rlog.zst)`` for a segment task, else the item itself."""
    path = getattr(item, "path", None)
    index = getattr(item, "index", None)
    if path is not None and index is not None:
        return f"segment {index} ({path})"
    return str(path if path is not None else item)


def item_path(item: Any) -> str | None:
    """The file an item reads, when it names one (a segment task, a path)."""
    path = getattr(item, "path", item)
    return str(path) if isinstance(path, str | os.PathLike) else None
