"""Scaling out: a route's segments analysed on a Dask cluster (``executor = "dask"``).

A real ``distributed.LocalCluster`` (a scheduler and two worker processes, as ``dask scheduler`` +
``dask worker`` would give) stands in for the cluster a user already runs. The stories go through
the engine as the server uses it: the run's result equals the ``local`` executor's exactly, events
straddling segment boundaries stay single, progress counts segments, the segments really run on the
cluster's workers, and every way the cluster can let a run down (cancel, a worker killed mid-run, a
worker that keeps dying, an unreachable scheduler, a worker that cannot see the logs) ends the run
with a clear state and message, never a hang.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("distributed", reason="the dask executor needs dask[distributed] (the 'dask' extra)")
import psutil  # noqa: E402
from distributed import Client  # noqa: E402
from test_route_fanout import (  # noqa: E402  (tests/ is on sys.path: pytest's rootdir-relative import)
    Routes,
    SegmentProbe,
    assert_one_event_per_boundary_crossing,
    comparable,
    run_request,
    run_to_end,
    testing,
)

from jupyter_cts.engine import EngineConfig, ExecutionEngine  # noqa: E402
from jupyter_cts.engine.models import RunStatus  # noqa: E402
from jupyter_cts.registry import ToolRegistry  # noqa: E402

TEMPLATE = "jupyter_cts.engine.executors.zygote"  # run processes and their pools are forks of it

pytestmark = pytest.mark.timeout(120)


CLUSTER_SCRIPT = """
import sys
import dask
from distributed import LocalCluster

# One retry for a task whose worker died: the second death gives up (KilledWorker), quickly.
dask.config.set({"distributed.scheduler.allowed-failures": 1})
cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
print(cluster.scheduler_address, flush=True)
sys.stdin.read()  # until the test closes our stdin
cluster.close()
"""


class Cluster:
    """A ``LocalCluster`` in a process of its own (a cluster the user already runs, as far as the
    engine can tell), and a client for the test to look at its scheduler and workers."""

    def __init__(self) -> None:
        tests = Path(__file__).parent
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tests), str(tests / "plugins")])}
        self.process = subprocess.Popen(
            [sys.executable, "-c", CLUSTER_SCRIPT],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            text=True,
            start_new_session=True,
        )
        assert self.process.stdout is not None
        self.address = self.process.stdout.readline().strip()
        assert self.address.startswith("tcp://"), "the cluster did not start"
        self.client = Client(self.address, set_as_default=False, timeout=30)

    def kill(self) -> None:
        """The whole cluster dies at once (scheduler and workers), as when its machine goes down."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def close(self) -> None:
        self.client.close()
        if self.process.poll() is not None:
            return
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def worker_pids(self) -> dict[str, int]:
        return self.client.run(os.getpid)

    def tasks_of(self, run_id: str) -> dict[str, str]:
        """The scheduler's tasks for one run, with their states (from inside the scheduler's loop)."""

        def look(dask_scheduler: Any) -> dict[str, str]:
            return {str(k): ts.state for k, ts in dask_scheduler.tasks.items() if run_id in str(k)}

        return self.client.run_on_scheduler(look)

    def segments_run_for(self, run_id: str) -> set[str]:
        """Keys of the run's segment tasks the scheduler saw finish (from its recent transition log)."""

        def look(dask_scheduler: Any) -> list[str]:
            return [
                str(t[0]) for t in dask_scheduler.transition_log if run_id in str(t[0]) and t[2] == "memory"
            ]

        return set(self.client.run_on_scheduler(look))

    def wait_for_workers(self, n: int = 2, timeout: float = 60) -> None:
        self.client.wait_for_workers(n, timeout=timeout)


@pytest.fixture(scope="module")
def routes(tmp_path_factory: pytest.TempPathFactory) -> Routes:
    return Routes(tmp_path_factory.mktemp("routes"))


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    view = Cluster()
    try:
        yield view
    finally:
        view.close()


@pytest.fixture
def make_engine(tmp_path: Path, routes: Routes) -> Iterator[Callable[..., ExecutionEngine]]:
    """Started engines reading the routes; at the end none of their processes may be left.

    Only the engine's processes are checked (its template, the runs and their pools: all forks of
    the template); the cluster and its workers were there before and stay for the next test.
    """
    engines: list[ExecutionEngine] = []
    # templates of servers other test modules keep for their whole session are not this test's
    before = set(engine_processes())

    def make(registry: ToolRegistry | None = None, **settings: Any) -> ExecutionEngine:
        settings.setdefault("data_dir", tmp_path / f"data-{len(engines)}")
        settings.setdefault("root_dir", tmp_path)
        settings.setdefault("max_concurrent_runs", 1)
        settings.setdefault("allowed_input_dirs", [routes.root])
        engine = ExecutionEngine(
            EngineConfig(**settings), registry=registry or ToolRegistry(extra=[SegmentProbe])
        )
        engines.append(engine)
        engine.start()
        return engine

    yield make
    for engine in engines:
        engine.stop()
    left = [pid for pid in engine_processes() if pid not in before]
    assert testing.still_alive(left) == [], "processes outlived the test's engines"


def engine_processes() -> list[int]:
    found = []
    for proc in psutil.Process().children(recursive=True):
        try:
            if TEMPLATE in " ".join(proc.cmdline()):
                found.append(proc.pid)
        except psutil.Error:
            pass
    return found


@pytest.fixture
def dask_engine(make_engine, cluster: Cluster) -> ExecutionEngine:
    cluster.wait_for_workers(2)
    return make_engine(executor="dask", dask_scheduler_address=cluster.address)


@pytest.fixture
def local_engine(make_engine) -> ExecutionEngine:
    return make_engine()


def test_a_12_segment_route_through_dask_gives_exactly_the_local_result(
    dask_engine,
    local_engine,
    cluster: Cluster,
    routes: Routes,
) -> None:
    route = routes.get("demo", 12)
    on_dask = run_to_end(dask_engine, "cruise-control-analyzer", route)
    on_local = run_to_end(local_engine, "cruise-control-analyzer", route)
    assert on_dask.status == RunStatus.COMPLETED, on_dask.error
    # the segments ran on the cluster (the first one may be read on the server, for the car fingerprint)
    assert len(cluster.segments_run_for(on_dask.run_id)) >= 11
    assert on_local.status == RunStatus.COMPLETED, on_local.error
    assert comparable(dask_engine.get_result(on_dask.run_id)) == comparable(
        local_engine.get_result(on_local.run_id)
    )
    # the artifacts are written on the server, into the run's own folder
    assert [a.name for a in on_dask.artifacts] == [a.name for a in on_local.artifacts]
    assert dask_engine.artifact_path(on_dask.run_id, "report.html").is_file()


def test_a_press_and_an_engaged_span_across_segment_boundaries_are_single_events_on_dask(
    dask_engine, routes: Routes
) -> None:
    run = run_to_end(dask_engine, "cruise-control-analyzer", routes.get("boundary"))
    assert run.status == RunStatus.COMPLETED, run.error
    assert_one_event_per_boundary_crossing(dask_engine.get_result(run.run_id), routes.truth("boundary"))


def test_the_segments_run_on_the_cluster_workers_and_progress_counts_them(
    dask_engine, cluster: Cluster, routes: Routes
) -> None:
    seen: list[str] = []
    dask_engine.subscribe(
        lambda e: seen.append(e.run.progress_message) if e.kind == "status" and e.run else None
    )
    run = run_to_end(dask_engine, "test-segment-probe", routes.get("demo", 6), {"seconds": 0.3})
    assert run.status == RunStatus.COMPLETED, run.error
    result = dask_engine.get_result(run.run_id)
    assert [s["index"] for s in result["segments"]] == list(range(6)), "partials come back in segment order"
    assert {s["pid"] for s in result["segments"]} == set(cluster.worker_pids().values())
    # the segments ran elsewhere; what the run does here afterwards gets the run's share of this machine
    assert result["local_cpus"] == os.cpu_count()
    counts = [m for m in seen if m.startswith("segments done")]
    done = [int(m.split()[2]) for m in counts]
    assert counts and all(m.endswith(" of 6") for m in counts)
    assert done == sorted(done) and len(set(done)) > 1


def test_cancel_drops_the_runs_tasks_from_the_cluster(dask_engine, cluster: Cluster, routes: Routes) -> None:
    run = dask_engine.start_run(run_request("test-segment-probe", {"seconds": 3}, str(routes.get("demo", 6))))
    testing.wait_until(
        lambda: "processing" in cluster.tasks_of(run.run_id).values(), 30, "tasks on the cluster"
    )
    dask_engine.cancel_run(run.run_id)
    assert dask_engine.wait(run.run_id, 20).status == RunStatus.CANCELED
    testing.wait_until(lambda: not cluster.tasks_of(run.run_id), 20, "the scheduler to drop the run's tasks")


def test_a_worker_killed_mid_run_is_retried_or_fails_clearly_never_hangs(
    dask_engine, cluster: Cluster, routes: Routes
) -> None:
    run = dask_engine.start_run(
        run_request("test-segment-probe", {"seconds": 1.0}, str(routes.get("demo", 6)))
    )
    testing.wait_until(lambda: "memory" in cluster.tasks_of(run.run_id).values(), 30, "a first segment done")
    victim = next(iter(cluster.worker_pids().values()))
    psutil.Process(victim).kill()
    ended = dask_engine.wait(run.run_id, 90)
    assert ended.status.is_final, "the run must end"
    if ended.status == RunStatus.COMPLETED:
        segments = dask_engine.get_result(run.run_id)["segments"]
        assert [s["index"] for s in segments] == list(range(6)), "every segment, once, after the retry"
    else:
        assert ended.status == RunStatus.FAILED and "Dask" in ended.error, ended.error


def test_a_segment_that_keeps_killing_its_worker_fails_the_run_clearly(
    dask_engine, cluster: Cluster, routes: Routes
) -> None:
    run = run_to_end(
        dask_engine, "test-segment-probe", routes.get("demo", 6), {"crash_segment": 2}, timeout=90
    )
    assert run.status == RunStatus.FAILED
    # segment 2 takes its worker down each time; segments queued on that worker share its fate, so
    # the one named may be another, but the run always ends failed, saying workers died on it
    assert "Dask workers died while analysing segment" in run.error, run.error
    assert "run it again" in run.error


def test_an_unreachable_scheduler_fails_the_run_quickly_saying_where(make_engine, routes: Routes) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        address = f"tcp://127.0.0.1:{s.getsockname()[1]}"  # nothing listens once this is closed
    engine = make_engine(registry=ToolRegistry(), executor="dask", dask_scheduler_address=address)
    started = time.monotonic()
    run = run_to_end(engine, "cruise-control-analyzer", routes.get("demo", 6), timeout=60)
    assert run.status == RunStatus.FAILED
    assert f"cannot reach the Dask scheduler at {address}" in run.error, run.error
    assert time.monotonic() - started < 30


def test_the_dask_executor_needs_a_scheduler_address(make_engine) -> None:
    with pytest.raises(Exception, match="dask_scheduler_address"):
        make_engine(executor="dask")


@pytest.mark.skipif(
    shutil.which("unshare") is None, reason="needs unshare(1) to give a worker its own mounts"
)
def test_a_worker_that_cannot_see_the_logs_folder_fails_the_run_before_anything_is_submitted(
    dask_engine, cluster: Cluster, routes: Routes
) -> None:
    route = routes.get("demo", 6)
    # a third worker whose view of the machine has an empty folder where the routes are
    hide = f"mount -t tmpfs none {routes.root} && exec {sys.executable} -m distributed.cli.dask_worker " \
           f"{cluster.address} --nthreads 1 --no-nanny --name blind"  # fmt: skip
    blind = subprocess.Popen(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", hide],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        try:
            cluster.wait_for_workers(3, timeout=30)
        except TimeoutError:
            if blind.poll() is not None:
                pytest.skip("this machine does not allow a private mount namespace (unshare + mount)")
            raise
        run = run_to_end(dask_engine, "cruise-control-analyzer", route)
        assert run.status == RunStatus.FAILED
        assert "the Dask workers cannot read" in run.error, run.error
        assert "on 1 of 3 workers" in run.error and str(route) in run.error
        assert "Put the logs in a folder every worker mounts" in run.error
        assert not cluster.tasks_of(run.run_id), "nothing was submitted"
    finally:
        os.killpg(blind.pid, signal.SIGKILL)
        blind.wait()
        testing.wait_until(lambda: len(cluster.worker_pids()) == 2, 30, "the blind worker to leave")


def test_a_sigterm_to_the_run_process_cancels_its_tasks_on_the_cluster(
    dask_engine, cluster: Cluster, routes: Routes
) -> None:
    run = dask_engine.start_run(run_request("test-segment-probe", {"seconds": 3}, str(routes.get("demo", 6))))
    testing.wait_until(
        lambda: "processing" in cluster.tasks_of(run.run_id).values(), 30, "tasks on the cluster"
    )
    (pid,) = [
        int(r.message.split()[-1])
        for r in dask_engine.get_logs(run.run_id)
        if "running in process" in r.message
    ]
    os.kill(pid, signal.SIGTERM)
    ended = dask_engine.wait(run.run_id, 30)
    assert ended.status == RunStatus.FAILED and "SIGTERM" in ended.error, ended.error
    testing.wait_until(lambda: not cluster.tasks_of(run.run_id), 10, "the scheduler to drop the run's tasks")


def test_the_scheduler_going_away_mid_run_fails_the_run_clearly(
    dask_engine, cluster: Cluster, routes: Routes
) -> None:
    """Last in this file: it takes the module's cluster down."""
    run = dask_engine.start_run(run_request("test-segment-probe", {"seconds": 2}, str(routes.get("demo", 6))))
    testing.wait_until(
        lambda: "processing" in cluster.tasks_of(run.run_id).values(), 30, "tasks on the cluster"
    )
    cluster.kill()
    ended = dask_engine.wait(run.run_id, 60)
    assert ended.status == RunStatus.FAILED, ended.status
    assert f"lost the connection to the Dask scheduler at {cluster.address}" in ended.error, ended.error
