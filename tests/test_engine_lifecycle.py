"""A run's life through the engine: queued, running (with live progress and logs), completed.

Each run executes the real test tools (tests/plugins) in their own process; the checks are what a
user of the server or of ``cts run --local`` would look at: statuses, progress, log lines, the
result, the artifacts and the run's folder.
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest

PLUGINS = str(Path(__file__).parent / "plugins")
if PLUGINS not in sys.path:
    sys.path.insert(0, PLUGINS)  # the test tools and their entry points (tests/plugins/README.md)
from cts_test_tools import testing  # noqa: E402

from jupyter_cts.engine import RunEvent, run_local  # noqa: E402
from jupyter_cts.engine.models import RunStatus  # noqa: E402
from jupyter_cts.errors import RunStateError, UnknownArtifactError, UnknownRunError  # noqa: E402
from jupyter_cts.registry import ToolRegistry  # noqa: E402

make_engine = testing.make_engine  # fixture
run_request = testing.run_request


class Recorder:
    """Subscribes to an engine and notes, for each event, the run's state in the store at that moment."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.events: list[RunEvent] = []
        self.status_at_log: dict[str, RunStatus] = {}
        self.lock = threading.Lock()
        self.unsubscribe = engine.subscribe(self)

    def __call__(self, event: RunEvent) -> None:
        with self.lock:
            self.events.append(event)
            if event.kind == "log" and event.record is not None:
                status = self.engine.get_run_status(event.run_id).status
                self.status_at_log[event.record.message] = status

    def statuses(self, run_id: str) -> list[RunStatus]:
        seen = [e.run.status for e in self.events if e.kind == "status" and e.run_id == run_id]
        return [s for i, s in enumerate(seen) if i == 0 or seen[i - 1] != s]

    def progress(self, run_id: str) -> list[tuple[float, str, RunStatus]]:
        return [
            (e.run.progress, e.run.progress_message, e.run.status)
            for e in self.events
            if e.kind == "status" and e.run_id == run_id
        ]


def test_a_run_is_queued_then_runs_with_live_progress_and_logs_then_completes(make_engine) -> None:
    engine = make_engine()
    recorder = Recorder(engine)

    run = engine.start_run(run_request("test-steps", {"steps": "5", "delay_s": 0.1}))

    assert run.status == RunStatus.QUEUED
    assert run.params == {"steps": 5, "delay_s": 0.1}
    testing.wait_until(lambda: engine.get_run_status(run.run_id).status == RunStatus.RUNNING, what="running")
    live = testing.wait_until(
        lambda: [r for r in engine.get_logs(run.run_id) if r.message == "step 2 of 5"], what="a log line"
    )
    assert engine.get_run_status(run.run_id).status == RunStatus.RUNNING, "log lines arrive while it runs"
    assert live[0].source == "log"

    done = engine.wait(run.run_id, timeout=30)

    assert done.status == RunStatus.COMPLETED, done.error
    assert done.error is None and done.progress == 100.0
    assert done.created_at <= done.started_at <= done.completed_at
    assert done.metrics.wall_s >= 0.5 and done.metrics.cpu_s is not None and done.metrics.max_rss_mb > 0
    testing.wait_until(lambda: RunStatus.COMPLETED in recorder.statuses(run.run_id), what="the final event")
    assert recorder.statuses(run.run_id) == [RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.COMPLETED]
    running_progress = [
        (p, m) for p, m, s in recorder.progress(run.run_id) if s == RunStatus.RUNNING and p > 0
    ]
    assert (20.0, "step 1 of 5") in running_progress and (100.0, "step 5 of 5") in running_progress
    assert [p for p, _ in running_progress] == sorted(p for p, _ in running_progress)
    assert recorder.status_at_log["step 1 of 5"] == RunStatus.RUNNING
    testing.assert_no_leftovers(engine.get_result(run.run_id)["pid"])


def test_every_kind_of_output_reaches_the_run_log_in_order(make_engine) -> None:
    engine = make_engine()
    recorder = Recorder(engine)

    run = engine.execute_tool(run_request("test-steps", {"steps": 2, "delay_s": 0}), timeout=30)

    records = engine.get_logs(run.run_id)
    by_message = {r.message: r for r in records}
    assert by_message["step 1 of 2"].source == "log"
    assert by_message["stdout says step 1"].source == "stdout"
    assert by_message["stderr says step 1"].source == "stderr"
    assert by_message["raw write on fd 1"].source == "stdout"  # below Python's sys.stdout
    assert by_message["from a subprocess"].source == "stdout"  # the tool's own child process
    assert [r.seq for r in records] == list(range(1, len(records) + 1))
    assert records[0].message == "queued: test-steps on no input"
    assert records[1].message.startswith("running in process "), "the engine speaks before the tool"
    assert records[-1].source == "engine" and records[-1].message.startswith("completed in")
    testing.wait_until(
        lambda: len([e for e in recorder.events if e.kind == "log"]) == len(records), what="events"
    )
    streamed = [e.record for e in recorder.events if e.kind == "log" and e.run_id == run.run_id]
    assert streamed == records
    assert [r.message for r in engine.get_logs(run.run_id, since=3, limit=2)] == [
        r.message for r in records[3:5]
    ]


def test_the_run_folder_holds_its_log_result_and_artifacts(make_engine, tmp_path: Path) -> None:
    engine = make_engine()

    run = engine.execute_tool(run_request("test-steps", {"steps": 3, "delay_s": 0}), timeout=30)

    folder = tmp_path / "data" / "runs" / run.run_id
    assert (tmp_path / "data" / "cts.sqlite").is_file()
    lines = (folder / "log.jsonl").read_text().splitlines()
    assert [json.loads(line)["message"] for line in lines] == [r.message for r in engine.get_logs(run.run_id)]
    assert json.loads((folder / "result.json").read_text()) == engine.get_result(run.run_id)
    assert engine.get_result(run.run_id)["steps"] == 3
    artifacts = {a.name: a for a in engine.list_artifacts(run.run_id)}
    assert set(artifacts) == {"steps.csv", "result.json"}
    assert artifacts["steps.csv"].content_type == "text/csv"
    assert artifacts["steps.csv"].size == len("step\n1\n2\n3\n")
    assert [a.name for a in run.artifacts] == sorted(artifacts)
    assert engine.artifact_path(run.run_id, "steps.csv").read_text() == "step\n1\n2\n3\n"
    assert not (folder / "tmp").exists(), "the scratch folder goes when the run ends"


def test_artifact_names_cannot_leave_the_run_folder(make_engine, tmp_path: Path) -> None:
    engine = make_engine()
    run = engine.execute_tool(run_request("test-echo"), timeout=30)
    (tmp_path / "data" / "runs" / run.run_id / "artifacts" / "link.csv").symlink_to("/etc/passwd")

    for name in ["../log.jsonl", "../../cts.sqlite", "/etc/passwd", "link.csv", "missing.csv", ".."]:
        with pytest.raises(UnknownArtifactError):
            engine.artifact_path(run.run_id, name)
    assert "link.csv" not in [a.name for a in engine.list_artifacts(run.run_id)]


def test_listing_runs_health_and_busy(make_engine) -> None:
    engine = make_engine()
    assert not engine.is_busy()
    echo = engine.execute_tool(run_request("test-echo"), timeout=30)
    steps = engine.start_run(run_request("test-steps", {"steps": 50, "delay_s": 0.05}))
    testing.wait_until(
        lambda: engine.get_run_status(steps.run_id).status == RunStatus.RUNNING, what="running"
    )

    assert engine.is_busy()
    health = engine.health()
    assert (health.status, health.runs_running, health.runs_queued) == ("ok", 1, 0)
    listed = engine.list_runs()
    assert (listed.total, [r.run_id for r in listed.runs]) == (2, [steps.run_id, echo.run_id])  # newest first
    assert [r.run_id for r in engine.list_runs(tool_id="test-echo").runs] == [echo.run_id]
    assert [r.run_id for r in engine.list_runs(status=RunStatus.RUNNING).runs] == [steps.run_id]
    assert engine.list_runs(limit=1, offset=1).runs[0].run_id == echo.run_id
    assert engine.list_runs(offset=10**30).runs == [] and engine.list_runs(limit=10**30).total == 2
    with pytest.raises(RunStateError, match="running"):
        engine.get_result(steps.run_id)

    engine.cancel_run(steps.run_id)
    engine.wait(steps.run_id, timeout=10)
    assert not engine.is_busy()


def test_unknown_runs_are_reported_as_such(make_engine) -> None:
    engine = make_engine()
    for call in (
        engine.get_run_status,
        engine.get_logs,
        engine.cancel_run,
        engine.get_result,
        engine.list_artifacts,
    ):
        with pytest.raises(UnknownRunError, match="no run with id 'nope'"):
            call("nope")


def test_run_local_runs_the_same_engine_without_a_server(tmp_path: Path) -> None:
    events: list[RunEvent] = []

    run = run_local(
        run_request("test-steps", {"steps": 2, "delay_s": 0}),
        data_dir=tmp_path / "local",
        root_dir=tmp_path,
        on_event=events.append,
        registry=testing.tools_registry(),
    )

    assert run.status == RunStatus.COMPLETED, run.error
    assert {a.name for a in run.artifacts} == {"steps.csv", "result.json"}
    for artifact in run.artifacts:
        path = Path(urlparse(artifact.url).path)
        assert path.is_file() and path.stat().st_size == artifact.size
    assert any(e.kind == "log" and e.record.message == "step 2 of 2" for e in events)
    assert [e.run.status for e in events if e.kind == "status"][-1] == RunStatus.COMPLETED
    testing.assert_no_leftovers()


def test_local_runs_in_parallel_may_share_a_data_folder(tmp_path: Path) -> None:
    results = {}

    def local(label: str) -> None:
        request = run_request("test-steps", {"steps": 3, "delay_s": 0.1}, name=label)
        results[label] = run_local(request, data_dir=tmp_path / "shared", registry=testing.tools_registry())

    threads = [threading.Thread(target=local, args=(label,)) for label in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert {label: (run.status, run.error) for label, run in results.items()} == {
        "a": (RunStatus.COMPLETED, None),
        "b": (RunStatus.COMPLETED, None),
    }
    a, b = results["a"], results["b"]
    assert a.started_at < b.completed_at and b.started_at < a.completed_at, "they ran at the same time"
    testing.assert_no_leftovers()


def test_an_engine_stopped_while_its_template_preloads_stops_quietly(make_engine, capfd) -> None:
    engine = make_engine(registry=ToolRegistry())  # the built-in tools: a preload that takes a while
    engine.stop()
    testing.assert_no_leftovers()
    assert "Traceback" not in capfd.readouterr().err
