"""The store outlives the engine: after a restart, queued runs run, interrupted runs say so, and
finished runs keep their logs, results and artifacts. One engine per data folder. Old runs go only
when retention is switched on.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

PLUGINS = str(Path(__file__).parent / "plugins")
if PLUGINS not in sys.path:
    sys.path.insert(0, PLUGINS)  # the test tools and their entry points (tests/plugins/README.md)
from cts_test_tools import testing  # noqa: E402

from jupyter_cts.engine import RunStore  # noqa: E402
from jupyter_cts.engine.models import RunInput, RunRequest, RunStatus  # noqa: E402
from jupyter_cts.errors import CTSError, UnknownUploadError  # noqa: E402

make_engine = testing.make_engine  # fixture
run_request = testing.run_request

INTERRUPTED = "interrupted: server stopped"

# A server process: finishes one run, starts a long one, queues another, reports, then waits to die.
FIRST_SERVER = textwrap.dedent(
    """
    import json, sys, time
    sys.path.insert(0, {plugins!r})
    from cts_test_tools.testing import run_request, tools_registry, logged_pids, wait_until
    from jupyter_cts.engine import EngineConfig, ExecutionEngine
    engine = ExecutionEngine(EngineConfig(data_dir={data!r}, root_dir={root!r}, max_concurrent_runs=1),
                             registry=tools_registry())
    engine.start()
    finished = engine.execute_tool(run_request("test-steps", {{"steps": 2, "delay_s": 0}}), timeout=60)
    running = engine.start_run(run_request("test-misbehave", {{"mode": "spawn", "seconds": 120}}))
    queued = engine.start_run(run_request("test-echo", {{"label": "after restart"}}))
    wait_until(lambda: logged_pids(engine, running, "escaped grandchild"), timeout=60)
    labels = ("tool", "grandchild", "escaped grandchild")
    pids = [p for label in labels for p in logged_pids(engine, running, label)]
    logs = [r.message for r in engine.get_logs(finished.run_id)]
    ids = {{"finished": finished.run_id, "running": running.run_id, "queued": queued.run_id}}
    print(json.dumps({{**ids, "pids": pids, "logs": logs}}), flush=True)
    time.sleep(600)
    """
)


def test_after_a_crash_a_new_engine_fails_interrupted_runs_and_runs_queued_ones(
    make_engine, tmp_path: Path
) -> None:
    data, root = tmp_path / "data", tmp_path / "root"
    root.mkdir(exist_ok=True)
    script = FIRST_SERVER.format(plugins=PLUGINS, data=str(data), root=str(root))
    first = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        before = json.loads(first.stdout.readline())
    finally:
        first.send_signal(signal.SIGKILL)  # no clean shutdown: the store still says "running"
        first.wait()
    assert RunStore(data).get(before["running"]).status == RunStatus.RUNNING
    testing.assert_no_leftovers(*before["pids"])  # the template kills its runs when its engine dies

    engine = make_engine(max_concurrent_runs=1)

    interrupted = engine.get_run_status(before["running"])
    assert (interrupted.status, interrupted.error) == (RunStatus.FAILED, INTERRUPTED)
    assert engine.get_logs(before["running"])[-1].message.startswith(INTERRUPTED)
    later = engine.wait(before["queued"], timeout=30)
    assert later.status == RunStatus.COMPLETED
    assert engine.get_result(before["queued"])["params"]["label"] == "after restart"
    finished = engine.get_run_status(before["finished"])
    assert finished.status == RunStatus.COMPLETED
    assert [r.message for r in engine.get_logs(before["finished"])] == before["logs"]
    assert engine.get_result(before["finished"])["steps"] == 2
    assert {a.name for a in engine.list_artifacts(before["finished"])} == {"steps.csv", "result.json"}


def test_a_clean_stop_interrupts_running_runs_and_keeps_queued_ones_for_the_next_engine(make_engine) -> None:
    engine = make_engine(max_concurrent_runs=1)
    running = engine.start_run(run_request("test-misbehave", {"mode": "spawn", "seconds": 120}))
    queued = engine.start_run(run_request("test-echo"))
    testing.wait_until(lambda: testing.logged_pids(engine, running, "escaped grandchild"), what="children")
    pids = [
        p
        for label in ("tool", "grandchild", "escaped grandchild")
        for p in testing.logged_pids(engine, running, label)
    ]

    engine.stop()

    assert engine.get_run_status(running.run_id).error == INTERRUPTED
    assert engine.get_run_status(queued.run_id).status == RunStatus.QUEUED
    testing.assert_no_leftovers(*pids)
    assert [p for p in testing.run_processes()] == []
    successor = make_engine(max_concurrent_runs=1)
    assert successor.wait(queued.run_id, timeout=30).status == RunStatus.COMPLETED


def test_two_engines_cannot_share_a_data_folder(make_engine) -> None:
    make_engine()
    second = make_engine(start=False)

    with pytest.raises(CTSError, match=f"in use by another engine \\(pid {os.getpid()}\\)"):
        second.start()


def test_finished_runs_are_kept_unless_retention_is_switched_on(make_engine) -> None:
    engine = make_engine()
    runs = [engine.execute_tool(run_request("test-echo"), timeout=30) for _ in range(4)]

    assert engine.apply_retention() == []  # off by default
    engine.stop()

    pruned = make_engine(retention_max_runs=2)  # applied when the engine starts, then periodically

    testing.wait_until(lambda: pruned.list_runs().total == 2, what="retention to run")
    assert [r.run_id for r in pruned.list_runs().runs] == [runs[3].run_id, runs[2].run_id]
    assert not pruned.store.run_dir(runs[0].run_id).exists()
    assert pruned.get_logs(runs[3].run_id)


def test_retention_by_age_removes_old_runs_and_uploads_but_not_active_ones(make_engine) -> None:
    engine = make_engine(max_concurrent_runs=1, retention_days=0.5 / 86400)  # half a second
    old = engine.execute_tool(run_request("test-echo"), timeout=30)
    unused, used = (upload_bytes(engine, name) for name in ("old.zst", "rlog.zst"))
    cut_off = engine.uploads.begin("rlog.zst")  # a server restart interrupted this one
    cut_off.write(b"\x28\xb5")
    blocker = engine.start_run(run_request("test-misbehave", {"mode": "sleep", "seconds": 60}))
    reader = engine.start_run(
        RunRequest(tool_id="test-read-input", input=RunInput(type="upload", value=used))
    )  # queued behind the blocker: its upload must stay
    time.sleep(0.6)

    removed = engine.apply_retention()

    assert removed == [old.run_id]
    assert [r.run_id for r in engine.list_runs().runs] == [reader.run_id, blocker.run_id]
    with pytest.raises(UnknownUploadError):
        engine.uploads.path(unused)
    assert engine.uploads.path(used).is_file()
    assert sorted(p.name for p in engine.uploads.root.iterdir()) == [used]
    engine.cancel_run(reader.run_id)
    engine.cancel_run(blocker.run_id)


def upload_bytes(engine, name: str) -> str:
    writer = engine.uploads.begin(name)
    writer.write(b"\x28\xb5\x2f\xfd")
    return writer.finish().upload_id
