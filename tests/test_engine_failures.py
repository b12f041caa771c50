"""How runs fail: tool errors, exceptions, interpreter crashes, timeouts, lost processes.

Each failure ends as ``failed`` with one sentence a user can act on (the traceback, when there is
one, goes to the run's log), leaves no process behind, and the engine carries on with the next run.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import psutil
import pytest

PLUGINS = str(Path(__file__).parent / "plugins")
if PLUGINS not in sys.path:
    sys.path.insert(0, PLUGINS)  # the test tools and their entry points (tests/plugins/README.md)
from cts_test_tools import testing  # noqa: E402

from jupyter_cts.engine.models import RunStatus  # noqa: E402

make_engine = testing.make_engine  # fixture
run_request = testing.run_request

FAILURES = {
    "tool_error": "the log has no wheel speed messages: record a drive with the car's CAN",
    "exception": "ValueError: bad value in frame 7 (see the run log for the traceback)",
    "segfault": "the tool process died (signal 11 SIGSEGV)",
    "exit": "the tool process exited with code 3 before reporting a result",
    "sigkill": "the tool process died (signal 9 SIGKILL); it may have been killed by the system for using "
    "too much memory",
    "bad_result": "TypeError: the result holds a value of type object, which is not JSON: convert it in the "
    "tool (see the run log for the traceback)",
}


@pytest.mark.parametrize("mode", list(FAILURES))
def test_a_failing_tool_ends_failed_with_a_sentence_and_the_engine_goes_on(make_engine, mode: str) -> None:
    engine = make_engine()

    run = engine.execute_tool(run_request("test-misbehave", {"mode": mode}), timeout=30)

    assert run.status == RunStatus.FAILED
    assert run.error == FAILURES[mode]
    assert run.completed_at is not None and run.metrics.wall_s is not None
    logs = engine.get_logs(run.run_id)
    assert logs[-1].source == "engine" and logs[-1].message == f"failed: {FAILURES[mode]}"
    testing.assert_no_leftovers(*testing.logged_pids(engine, run, "tool"))
    after = engine.execute_tool(run_request("test-echo"), timeout=30)
    assert after.status == RunStatus.COMPLETED


def test_the_traceback_of_an_unexpected_exception_is_in_the_log(make_engine) -> None:
    engine = make_engine()

    run = engine.execute_tool(run_request("test-misbehave", {"mode": "exception"}), timeout=30)

    (record,) = [r for r in engine.get_logs(run.run_id) if "Traceback" in r.message]
    assert record.level == "ERROR"
    assert 'raise ValueError("bad value in frame 7")' in record.message
    assert "Traceback" not in run.error


def test_a_segfault_leaves_a_python_stack_in_the_log(make_engine) -> None:
    engine = make_engine()

    run = engine.execute_tool(run_request("test-misbehave", {"mode": "segfault"}), timeout=30)

    stderr = "\n".join(r.message for r in engine.get_logs(run.run_id) if r.source == "stderr")
    assert "Segmentation fault" in stderr and "cts_test_tools" in stderr


def test_a_run_past_its_timeout_is_killed_with_everything_it_started(make_engine) -> None:
    engine = make_engine()

    run = engine.execute_tool(
        run_request("test-misbehave", {"mode": "spawn", "seconds": 60}, timeout_s=1.5), timeout=30
    )

    assert run.status == RunStatus.FAILED
    assert run.error == "timed out after 1.5 s"
    assert 1.5 <= run.metrics.wall_s < 10
    pids = testing.logged_pids(engine, run, "tool")
    children = testing.logged_pids(engine, run, "grandchild") + testing.logged_pids(
        engine, run, "escaped grandchild"
    )
    assert len(pids) == 1 and len(children) == 2
    testing.assert_no_leftovers(*pids, *children)


def test_processes_a_completed_run_leaves_behind_are_killed(make_engine) -> None:
    engine = make_engine()

    run = engine.execute_tool(run_request("test-misbehave", {"mode": "leave_child"}), timeout=30)

    assert run.status == RunStatus.COMPLETED
    left = engine.get_result(run.run_id)["left"]  # one in the run's process group, one in a new session
    testing.assert_no_leftovers(*left)


def test_default_timeout_comes_from_the_engine_and_a_request_cannot_exceed_the_maximum(make_engine) -> None:
    engine = make_engine(default_timeout_s=1.0, max_timeout_s=2.0)

    run = engine.execute_tool(run_request("test-misbehave", {"mode": "sleep", "seconds": 30}), timeout=30)

    assert (run.timeout_s, run.error) == (1.0, "timed out after 1 s")


def test_when_the_process_template_dies_its_runs_fail_and_the_next_run_works(make_engine) -> None:
    engine = make_engine()
    run = engine.start_run(run_request("test-misbehave", {"mode": "sleep", "seconds": 60}))
    testing.wait_until(lambda: testing.logged_pids(engine, run, "tool"), what="the tool to start")
    (tool_pid,) = testing.logged_pids(engine, run, "tool")
    template = psutil.Process(tool_pid).parent()
    assert testing.TEMPLATE_MARK in " ".join(template.cmdline())

    os.kill(template.pid, signal.SIGKILL)
    ended = engine.wait(run.run_id, timeout=30)

    assert ended.status == RunStatus.FAILED
    assert ended.error == "the run's process template stopped unexpectedly; run it again"
    testing.assert_no_leftovers(tool_pid)
    after = engine.execute_tool(run_request("test-echo"), timeout=30)
    assert after.status == RunStatus.COMPLETED
