"""The ``dask`` executor: a route's segments analysed on an existing Dask distributed cluster.

We do not schedule anything ourselves. Each run still gets its own process on the server (forked
like the ``local`` executor's, so cancel, timeout, logs and metrics work the same); inside it the
tool's per-segment work goes through :class:`DaskMapper`, which connects a ``distributed.Client``
to the configured scheduler, checks that the workers can read the segment files, submits one task
per segment, reports "segments done: k of n" as they finish and hands the partial results back in
segment order. The combine step and every artifact stay in the run process, so artifacts land in
the run folder on the server. Only the small partial results cross the network.

Failures a user can act on become :class:`~jupyter_cts.errors.ClusterError`: an unreachable
scheduler (within a short connect timeout), a cluster without workers, segment files the workers
cannot see, a worker lost too often (the scheduler retries a task whose worker died, up to its
``distributed.scheduler.allowed-failures``), a lost scheduler connection. When the run is canceled
its process is killed; the scheduler then sees the client go and drops its tasks, and a SIGTERM
cancels them explicitly first.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import secrets
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import distributed
from distributed import Client, Future

import jupyter_cts
from jupyter_cts.engine.config import EngineConfig
from jupyter_cts.engine.executors.base import ExecutorSink, Job
from jupyter_cts.engine.executors.local import LocalExecutor
from jupyter_cts.engine.fanout import OrderedResults, describe_item, item_path, local_workers
from jupyter_cts.errors import ClusterError
from jupyter_cts.tools.base import OnDone

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

CONNECT_TIMEOUT_S = 10.0
# How long a run waits for a cluster that has no worker (an adaptive cluster may be scaling up).
WORKER_WAIT_S = 60.0
POLL_S = 0.5
GATEWAY_PREFIX = "dask-gateway:"


class DaskExecutor(LocalExecutor):
    """The local executor's run processes, with their segments mapped onto a Dask cluster."""

    def __init__(self, config: EngineConfig, sink: ExecutorSink) -> None:
        if not config.dask_scheduler_address:
            raise ClusterError(
                "executor 'dask' needs dask_scheduler_address (e.g. tcp://scheduler:8786, or "
                "dask-gateway:CLUSTER_NAME): set it, or use executor 'local'"
            )
        super().__init__(config, sink)

    def start(self, preload: list[str]) -> None:
        # Every run imports distributed: import it once in the template they are forked from.
        super().start([*preload, "distributed"])

    def segment_mapper(self, job: Job) -> dict[str, Any]:
        """The cluster for the segments; the run's share of this machine's CPUs for what the run does
        here after them (combine, artifacts: a tool may draw a plot beside its tables)."""
        assert self.config.dask_scheduler_address is not None
        with self._lock:
            return dask_spec(self.config.dask_scheduler_address, local_cpus=local_workers(len(self._runs)))


def dask_spec(
    address: str,
    *,
    connect_timeout_s: float = CONNECT_TIMEOUT_S,
    worker_wait_s: float = WORKER_WAIT_S,
    local_cpus: int = 1,
) -> dict[str, Any]:
    """The job's description of a :class:`DaskMapper` (plain JSON: it travels in the job)."""
    return {
        "kind": "dask",
        "address": address,
        "connect_timeout_s": connect_timeout_s,
        "worker_wait_s": worker_wait_s,
        "local_cpus": max(1, int(local_cpus)),
    }


@dataclass
class DaskMapper:
    """A segment mapper (see :mod:`jupyter_cts.engine.fanout`) that runs items on a Dask cluster.

    ``local_cpus`` is not about the cluster: it is how many CPUs of the run's own machine the tool
    may keep busy once the segments are back (``tools.base.local_cpus``), the same share of the
    server a local run gets. The segments themselves use none of them.
    """

    address: str
    run_id: str = ""
    connect_timeout_s: float = CONNECT_TIMEOUT_S
    worker_wait_s: float = WORKER_WAIT_S
    local_cpus: int = 1

    @classmethod
    def from_spec(cls, spec: dict[str, Any], run_id: str = "") -> DaskMapper:
        return cls(
            address=str(spec["address"]),
            run_id=run_id,
            connect_timeout_s=float(spec.get("connect_timeout_s", CONNECT_TIMEOUT_S)),
            worker_wait_s=float(spec.get("worker_wait_s", WORKER_WAIT_S)),
            local_cpus=int(spec.get("local_cpus", 1)),
        )

    def __call__(
        self, fn: Callable[[T], R], items: Sequence[T], on_done: OnDone | None = None
    ) -> Iterator[R]:
        return self._map(fn, items, on_done)

    def _map(self, fn: Callable[[T], R], items: Sequence[T], on_done: OnDone | None) -> Iterator[R]:
        if not items:
            return
        client = connect(self.address, self.connect_timeout_s, self.run_id)
        futures: list[Future] = []
        try:
            self._wait_for_workers(client)
            check_workers_can_read(client, self.address, [p for p in map(item_path, items) if p])
            # Unique per call (two maps must never share a key: the scheduler would treat them as
            # one task); readable in the dashboard: run id and segment index.
            token = secrets.token_hex(4)
            keys = [f"cts-segment-{self.run_id or 'direct'}-{token}-{getattr(item, 'index', i)}"
                    for i, item in enumerate(items)]  # fmt: skip
            futures = client.map(fn, items, key=keys, pure=False)
            log.info("submitted %d segments to the Dask scheduler at %s", len(items), self.address)
            with _cancel_on_sigterm(client, futures):
                yield from self._gather(client, futures, items, on_done)
        finally:
            _release(client, futures)

    def _gather(
        self, client: Client, futures: list[Future], items: Sequence[T], on_done: OnDone | None
    ) -> Iterator[Any]:
        total = len(futures)
        where = {f.key: i for i, f in enumerate(futures)}
        finished: queue.SimpleQueue[Future] = queue.SimpleQueue()
        for future in futures:
            future.add_done_callback(finished.put)  # called from the client's thread
        ordered = OrderedResults(total)
        no_workers_since: float | None = None
        while ordered.done < total:
            try:
                future = finished.get(timeout=POLL_S)
            except queue.Empty:
                no_workers_since = self._check_cluster(client, total - ordered.done, no_workers_since)
                continue
            index = where[future.key]
            ordered.put(index, self._result(future, items[index]))
            if on_done is not None:
                on_done(ordered.done, total)
            yield from ordered.ready()

    def _result(self, future: Future, item: Any) -> Any:
        try:
            # Done already; the timeout only matters when the worker holding the result died and
            # the scheduler must compute it again.
            return future.result(timeout=max(60.0, self.worker_wait_s * 2))
        except TimeoutError:
            raise ClusterError(
                f"could not fetch the result for {describe_item(item)} from the Dask cluster at "
                f"{self.address} (the worker holding it was lost, and no other worker computed it again); "
                "run it again"
            ) from None
        except distributed.KilledWorker as exc:
            raise ClusterError(
                f"Dask workers died while analysing {describe_item(item)}, too often for the scheduler "
                "to try "
                f"again (its distributed.scheduler.allowed-failures): {exc}. Check the workers' logs (out of "
                "memory?) and run it again"
            ) from None
        except distributed.CancelledError as exc:
            why = str(exc).strip().splitlines()[0] if str(exc).strip() else "canceled"
            if "connection-lost" in why:
                raise ClusterError(
                    f"lost the connection to the Dask scheduler at {self.address} while analysing "
                    f"{describe_item(item)}; check that the scheduler is still running, then run it again"
                ) from None
            raise ClusterError(
                f"the Dask scheduler at {self.address} dropped the task for {describe_item(item)} ({why}); "
                "was the cluster restarted? Run it again"
            ) from None

    def _check_cluster(self, client: Client, remaining: int, no_workers_since: float | None) -> float | None:
        """Between waits: fail clearly instead of waiting forever on a dead scheduler or no workers."""
        if client.status not in ("running", "connecting"):
            raise ClusterError(
                f"lost the connection to the Dask scheduler at {self.address} with {remaining} segments "
                "still to analyse; check that the scheduler is still running, then run it again"
            )
        try:
            workers = len(client.nthreads())
        except Exception:  # noqa: BLE001 - a flaky answer: look again at the next poll
            return no_workers_since
        if workers:
            return None
        now = time.monotonic()
        if no_workers_since is None:
            log.warning("the Dask cluster has no workers; waiting up to %.0f s for one", self.worker_wait_s)
            return now
        if now - no_workers_since > self.worker_wait_s:
            raise ClusterError(
                f"the Dask cluster at {self.address} has had no workers for {self.worker_wait_s:.0f} s with "
                f"{remaining} segments still to analyse; start workers (or scale the cluster up) and run it "
                "again"
            )
        return no_workers_since

    def _wait_for_workers(self, client: Client) -> None:
        try:
            client.wait_for_workers(1, timeout=self.worker_wait_s)
        except TimeoutError:
            raise ClusterError(
                f"the Dask cluster at {self.address} has no workers (waited {self.worker_wait_s:.0f} s); "
                "start some (dask worker ADDRESS) or scale the cluster up, or use executor 'local'"
            ) from None


def connect(address: str, timeout: float, run_id: str = "") -> Client:
    """A client for ``address`` (a scheduler address, or ``dask-gateway:NAME``), or a clear error."""
    if address.startswith(GATEWAY_PREFIX):
        return _connect_gateway(address[len(GATEWAY_PREFIX) :], timeout)
    try:
        return Client(address, timeout=timeout, set_as_default=False, name=f"jupyter-cts {run_id}".strip())
    except (OSError, TimeoutError, ValueError) as exc:
        raise ClusterError(
            f"cannot reach the Dask scheduler at {address}: {exc}. Check that the scheduler runs and that "
            "this server can reach it (dask_scheduler_address), or use executor 'local'"
        ) from None


def _connect_gateway(name: str, timeout: float) -> Client:
    """A cluster of a dask-gateway (JupyterHub), found by name with the gateway's own settings."""
    try:
        from dask_gateway import Gateway
    except ImportError:
        raise ClusterError(
            f"dask_scheduler_address names the dask-gateway cluster {name!r}, but dask-gateway is not "
            "installed in the server's environment: pip install dask-gateway"
        ) from None
    try:
        cluster = Gateway().connect(name)
        return cluster.get_client(set_as_default=False)
    except Exception as exc:  # noqa: BLE001 - any failure here means: cannot reach the cluster
        raise ClusterError(
            f"cannot reach the Dask scheduler at dask-gateway cluster {name!r}: {type(exc).__name__}: {exc}. "
            "Check the gateway settings (gateway.address, auth) and that the cluster is running"
        ) from None


def check_workers_can_read(client: Client, address: str, paths: list[str]) -> None:
    """Before submitting: every worker must see every input file (a folder they all mount)."""
    if not paths:
        return
    try:
        answers = client.run(_unreadable, paths)
    except Exception as exc:  # noqa: BLE001 - e.g. jupyter_cts missing on a worker
        raise ClusterError(
            f"the Dask workers at {address} could not check the input files ({type(exc).__name__}: {exc}); "
            "install the same jupyter-cts version on every worker"
        ) from None
    missing: dict[str, list[str]] = {}
    for worker, (version, unreadable) in answers.items():
        if version != jupyter_cts.__version__:
            log.warning(
                "Dask worker %s has jupyter-cts %s, this server %s: results may differ",
                worker,
                version,
                jupyter_cts.__version__,
            )
        for path in unreadable:
            missing.setdefault(path, []).append(worker)
    if missing:
        shown = ", ".join(
            f"{p} (on {len(w)} of {len(answers)} workers)" for p, w in list(missing.items())[:3]
        )
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        raise ClusterError(
            f"the Dask workers cannot read {len(missing)} input file{'s' if len(missing) != 1 else ''}: "
            f"{shown}{more}. "
            "Put the logs in a folder every worker mounts at the same path as this server"
        )


def _unreadable(paths: list[str]) -> tuple[str, list[str]]:
    """Runs on each worker: its jupyter-cts version and the paths it cannot open for reading."""
    import jupyter_cts as here

    return here.__version__, [p for p in paths if not os.access(p, os.R_OK)]


@contextlib.contextmanager
def _cancel_on_sigterm(client: Client, futures: list[Future]) -> Iterator[None]:
    """A SIGTERM (a polite kill) cancels the run's tasks on the cluster, then ends the process by it.

    Done in the handler itself: the exception a handler could raise would surface wherever the
    tool happens to be, maybe long before the mapper's cleanup runs.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_term(signum: int, frame: Any) -> None:
        with contextlib.suppress(Exception):
            client.cancel([f for f in futures if not f.done()])
            client.close(timeout=2)  # flushes the cancel to the scheduler
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _release(client: Client, futures: list[Future]) -> None:
    """Cancel what has not finished (an error or a cancel ended the run early), then disconnect."""
    try:
        unfinished = [f for f in futures if not f.done()]
        if unfinished:
            client.cancel(unfinished)
            log.info("canceled %d Dask tasks that had not finished", len(unfinished))
    except Exception:  # noqa: BLE001 - the scheduler may be gone: it drops our tasks with our client
        pass
    with contextlib.suppress(Exception):
        client.close(timeout=5)
