"""The queue: a concurrency limit, first come first served, a bounded queue, and canceling.

A canceled queued run never starts; a canceled running run is killed with every process it
started. Finished runs cannot be canceled.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

PLUGINS = str(Path(__file__).parent / "plugins")
if PLUGINS not in sys.path:
    sys.path.insert(0, PLUGINS)  # the test tools and their entry points (tests/plugins/README.md)
from cts_test_tools import testing  # noqa: E402

from jupyter_cts.engine.models import Run, RunStatus  # noqa: E402
from jupyter_cts.errors import QueueFullError, RunStateError  # noqa: E402

make_engine = testing.make_engine  # fixture
run_request = testing.run_request


def most_at_once(runs: list[Run]) -> int:
    """The largest number of runs whose [started_at, completed_at] spans overlap."""
    edges = sorted([(r.started_at, 1) for r in runs] + [(r.completed_at, -1) for r in runs])
    current = peak = 0
    for _, step in edges:
        current += step
        peak = max(peak, current)
    return peak


def running(engine, run: Run) -> bool:
    return engine.get_run_status(run.run_id).status == RunStatus.RUNNING


@pytest.mark.parametrize("limit", [1, 2])
def test_runs_over_the_limit_wait_and_start_first_come_first_served(make_engine, limit: int) -> None:
    engine = make_engine(max_concurrent_runs=limit)

    submitted = [engine.start_run(run_request("test-steps", {"steps": 2, "delay_s": 0.15})) for _ in range(5)]
    testing.wait_until(lambda: running(engine, submitted[0]), what="the first run to start")
    statuses = [engine.get_run_status(r.run_id).status for r in submitted]
    finished = [engine.wait(r.run_id, timeout=60) for r in submitted]

    assert statuses[-1] == RunStatus.QUEUED
    assert all(r.status == RunStatus.COMPLETED for r in finished)
    assert most_at_once(finished) == limit
    starts = [r.started_at for r in finished]
    assert starts == sorted(starts), "queued runs start in the order they were submitted"


def test_the_queue_is_bounded(make_engine) -> None:
    engine = make_engine(max_concurrent_runs=1, max_queued_runs=2)
    first = engine.start_run(run_request("test-misbehave", {"mode": "sleep", "seconds": 60}))
    testing.wait_until(lambda: running(engine, first), what="the first run to start")
    waiting = [engine.start_run(run_request("test-echo")) for _ in range(2)]

    with pytest.raises(QueueFullError, match="2 runs are already waiting"):
        engine.start_run(run_request("test-echo"))

    engine.cancel_run(waiting[0].run_id)
    assert engine.start_run(run_request("test-echo")).status == RunStatus.QUEUED  # room again
    engine.cancel_run(first.run_id)


def test_canceling_a_queued_run_is_immediate_and_it_never_starts(make_engine) -> None:
    engine = make_engine(max_concurrent_runs=1)
    blocker = engine.start_run(run_request("test-misbehave", {"mode": "sleep", "seconds": 60}))
    testing.wait_until(lambda: running(engine, blocker), what="the blocker to start")
    queued = engine.start_run(run_request("test-echo"))

    canceled = engine.cancel_run(queued.run_id)

    assert canceled.status == RunStatus.CANCELED and canceled.started_at is None
    assert canceled.completed_at is not None and canceled.error is None
    assert [r.message for r in engine.get_logs(queued.run_id)][-1] == "canceled before it started"
    engine.cancel_run(blocker.run_id)
    engine.wait(blocker.run_id, timeout=10)
    later = engine.execute_tool(run_request("test-echo"), timeout=30)
    assert later.status == RunStatus.COMPLETED
    assert engine.get_run_status(queued.run_id).status == RunStatus.CANCELED
    assert engine.get_run_status(queued.run_id).started_at is None


def test_canceling_a_running_run_kills_its_process_group_and_descendants(make_engine) -> None:
    engine = make_engine()
    run = engine.start_run(run_request("test-misbehave", {"mode": "spawn", "seconds": 60}))
    testing.wait_until(
        lambda: testing.logged_pids(engine, run, "escaped grandchild"), what="the tool to start its children"
    )
    pids = [
        pid
        for label in ("tool", "grandchild", "escaped grandchild")
        for pid in testing.logged_pids(engine, run, label)
    ]
    assert len(pids) == 3 and all(testing.alive(p) for p in pids)

    answer = engine.cancel_run(run.run_id)
    ended = engine.wait(run.run_id, timeout=10)

    assert answer.status == RunStatus.CANCELED
    assert ended.status == RunStatus.CANCELED and ended.error is None
    assert ended.metrics.wall_s is not None and ended.metrics.wall_s < 30
    testing.assert_no_leftovers(*pids)


def test_a_finished_run_cannot_be_canceled(make_engine) -> None:
    engine = make_engine()
    run = engine.execute_tool(run_request("test-echo"), timeout=30)

    with pytest.raises(RunStateError, match=f"run {run.run_id} is already completed"):
        engine.cancel_run(run.run_id)


def test_a_slot_freed_by_a_cancel_goes_to_the_next_queued_run(make_engine) -> None:
    engine = make_engine(max_concurrent_runs=1)
    blocker = engine.start_run(run_request("test-misbehave", {"mode": "sleep", "seconds": 60}))
    queued = engine.start_run(run_request("test-echo"))
    testing.wait_until(lambda: running(engine, blocker), what="the blocker to start")

    engine.cancel_run(blocker.run_id)

    assert engine.wait(queued.run_id, timeout=30).status == RunStatus.COMPLETED
