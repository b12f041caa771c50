"""A route fans out: its segments are analysed in parallel processes of the run, then combined.

The stories go through the engine, as a server or ``cts run --local`` would use it, with the
``local`` executor: the run's process spreads the segments over a pool of its own processes (its
share of the CPUs), reports "segments done: k of n", and combines the partial results in segment
order, so the result is exactly what one process analysing segment after segment gives, and an
event that straddles a segment boundary is still one event. ``SegmentProbe`` is a small segmented
tool that says which process analysed which segment (and can be told to be slow, or to die).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest

PLUGINS = str(Path(__file__).parent / "plugins")
if PLUGINS not in sys.path:
    sys.path.insert(0, PLUGINS)  # engine test helpers (tests/plugins/README.md)
from cts_test_tools import testing  # noqa: E402

from jupyter_cts.engine.models import RunStatus  # noqa: E402
from jupyter_cts.logs.source import resolve_segments  # noqa: E402
from jupyter_cts.registry import ToolRegistry  # noqa: E402
from jupyter_cts.synth import Press, Scenario, preset, write_route  # noqa: E402
from jupyter_cts.tools.base import DirectoryContext, ToolContext, ToolParams, local_cpus  # noqa: E402
from jupyter_cts.tools.cruise_control import CruiseControlAnalyzer, CruiseControlParams  # noqa: E402
from jupyter_cts.tools.segmented import Plan, SegmentedTool, SegmentTask  # noqa: E402

make_engine = testing.make_engine  # fixture
run_request = testing.run_request
log = logging.getLogger(__name__)

SEGMENT_S = 10.0  # short segments keep generated routes quick to write and to analyse
BOUNDARY_PRESS_S = 0.05
BOUNDARY_ENGAGED_S = 0.1


class ProbeParams(ToolParams):
    seconds: float = 0.0  # how long each segment takes
    crash_segment: int | None = None  # the process analysing this segment dies


class SegmentProbe(SegmentedTool):
    """Reports, per segment, the process that analysed it; slow or crashing on request."""

    id = "test-segment-probe"
    name = "Segment probe"
    description = "Says which process analysed each segment of a route."
    Params = ProbeParams

    def plan(self, inputs: list[Path], params: ProbeParams) -> Plan:
        tasks = [SegmentTask(i, str(s.path), s.number) for i, s in enumerate(resolve_segments(inputs))]
        return Plan(tasks, {"run_pid": os.getpid()})

    @classmethod
    def analyze_segment(
        cls, task: SegmentTask, params: ProbeParams, shared: dict[str, Any]
    ) -> dict[str, Any]:
        log.info("segment %d analysed by process %d", task.index, os.getpid())
        if task.index == params.crash_segment:
            os._exit(3)
        time.sleep(params.seconds)
        return {"index": task.index, "number": task.number, "pid": os.getpid()}

    def combine(
        self, partials: list[Any], plan: Plan, params: ProbeParams, ctx: ToolContext
    ) -> dict[str, Any]:
        return {"run_pid": plan.shared["run_pid"], "segments": partials, "local_cpus": local_cpus(ctx)}


class Routes:
    """Generated routes, written once per module: ``demo`` and ``boundary`` (truth.json beside them)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def get(self, name: str, segments: int = 12) -> Path:
        folder = self.root / f"{name}-{segments}"
        if not folder.exists():
            scenario = (
                boundary_scenario(segments) if name == "boundary" else preset(name, segments * SEGMENT_S)
            )
            write_route(folder, scenario, segments=segments, segment_s=SEGMENT_S)
        return folder

    def truth(self, name: str, segments: int = 12) -> dict[str, Any]:
        return json.loads((self.get(name, segments) / "truth.json").read_text())


def boundary_scenario(segments: int) -> Scenario:
    """A Set press held across the first boundary engages cruise for several segments, until a brake tap."""
    duration = segments * SEGMENT_S
    return Scenario(
        name="boundary",
        duration_s=duration,
        speed_profile=[(0.0, 0.0), (6.0, 55.5), (duration, 55.5)],
        main_presses=[Press(t_s=1.0)],
        set_presses=[Press(t_s=SEGMENT_S - 0.1, duration_s=0.3)],  # 9.9 .. 10.2 s: across 10 s
        # engaged from the Set press over the 20 s and 30 s boundaries until this brake tap
        brake_presses=[Press(t_s=3.5 * SEGMENT_S, duration_s=0.4)],
        resume_presses=[Press(t_s=5 * SEGMENT_S - 0.15, duration_s=0.3)],  # across 50 s, engaged to the end
    )


@pytest.fixture(scope="module")
def routes(tmp_path_factory: pytest.TempPathFactory) -> Routes:
    return Routes(tmp_path_factory.mktemp("routes"))


@pytest.fixture
def engine(make_engine, routes: Routes):
    """A local-executor engine, one run at a time (so the run gets every CPU), reading the routes."""
    registry = ToolRegistry(extra=[SegmentProbe])
    return make_engine(registry=registry, max_concurrent_runs=1, allowed_input_dirs=[routes.root])


def run_to_end(engine, tool_id: str, path: Path, params: dict[str, Any] | None = None, timeout: float = 60):
    run = engine.start_run(run_request(tool_id, params or {}, str(path)))
    return engine.wait(run.run_id, timeout)


def comparable(result: dict[str, Any]) -> dict[str, Any]:
    """A result without what differs between two runs of the same input (run id, clock time)."""
    meta = {k: v for k, v in result["metadata"].items() if k not in ("run_id", "generated_at")}
    return {**result, "metadata": meta}


def serial_result(route: Path, out: Path) -> dict[str, Any]:
    """The reference: the analyzer run directly, one segment after the other in this process."""
    return CruiseControlAnalyzer().run([route], CruiseControlParams(), DirectoryContext(out))


def assert_one_event_per_boundary_crossing(result: dict[str, Any], truth: dict[str, Any]) -> None:
    """The boundary route's press, Resume and engaged span each come out once, where they were planted."""
    boundaries = [s["start_s"] for s in result["input"]["segments"][1:]]
    (press,) = truth["presses"]["set"]
    assert any(press["t_s"] < b < press["t_s"] + press["duration_s"] for b in boundaries)
    found = result["buttons"]["set_presses"]
    assert len(found) == 1, f"one Set press was held across a boundary, found {found}"
    assert found[0]["t_s"] == pytest.approx(press["t_s"], abs=BOUNDARY_PRESS_S)
    (resume,) = truth["presses"]["resume"]
    assert [p["t_s"] for p in result["buttons"]["resume_presses"]] == pytest.approx(
        [resume["t_s"]], abs=BOUNDARY_PRESS_S
    )

    planted, engaged = truth["engaged_intervals"], result["cruise"]["engaged_intervals"]
    assert len(engaged) == len(planted) == 2, f"planted {planted}, found {engaged}"
    for got, want in zip(engaged, planted, strict=True):
        assert got["start_s"] == pytest.approx(want["start_s"], abs=BOUNDARY_ENGAGED_S)
        assert got["end_s"] == pytest.approx(want["end_s"], abs=BOUNDARY_ENGAGED_S)
    crossed = [b for b in boundaries if engaged[0]["start_s"] < b < engaged[0]["end_s"]]
    assert len(crossed) >= 2, "the first engaged span straddles several segment boundaries, as one interval"


def test_a_route_run_by_the_engine_gives_exactly_the_result_of_one_process_going_segment_by_segment(
    engine, routes: Routes, tmp_path: Path
) -> None:
    route = routes.get("demo")
    run = run_to_end(engine, "cruise-control-analyzer", route)
    assert run.status == RunStatus.COMPLETED, run.error
    assert comparable(engine.get_result(run.run_id)) == comparable(serial_result(route, tmp_path / "serial"))
    assert {"result.json", "report.html", "speed_timeline.png", "engaged_intervals.csv"} <= {
        a.name for a in run.artifacts
    }


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="a pool of processes needs at least 2 CPUs")
def test_the_segments_are_analysed_by_several_processes_of_the_run_not_by_the_run_itself(
    engine, routes: Routes
) -> None:
    run = run_to_end(engine, "test-segment-probe", routes.get("demo", 6), {"seconds": 0.2})
    assert run.status == RunStatus.COMPLETED, run.error
    result = engine.get_result(run.run_id)
    assert [s["index"] for s in result["segments"]] == list(range(6)), "partials come back in segment order"
    pids = {s["pid"] for s in result["segments"]}
    assert result["run_pid"] not in pids
    assert len(pids) == min(os.cpu_count() or 1, 6)
    assert result["local_cpus"] == os.cpu_count(), "the tool is told the pool's size"
    # what the segment processes log reaches the run's log
    logged = " ".join(r.message for r in engine.get_logs(run.run_id))
    for pid in pids:
        assert f"analysed by process {pid}" in logged


def test_progress_counts_the_segments_done_out_of_the_route(engine, routes: Routes) -> None:
    seen: list[str] = []
    engine.subscribe(lambda e: seen.append(e.run.progress_message) if e.kind == "status" and e.run else None)
    run = run_to_end(engine, "test-segment-probe", routes.get("demo", 6), {"seconds": 0.1})
    assert run.status == RunStatus.COMPLETED, run.error
    counts = [m for m in seen if m.startswith("segments done")]
    assert counts and all(m.endswith(" of 6") for m in counts), seen
    # progress is thinned to a few updates a second, so not every count shows; those that do climb
    done = [int(m.split()[2]) for m in counts]
    assert done == sorted(done) and len(set(done)) > 1 and 1 <= done[-1] <= 6
    assert run.progress == 100


def test_a_press_and_an_engaged_span_across_segment_boundaries_are_single_events(
    engine, routes: Routes
) -> None:
    run = run_to_end(engine, "cruise-control-analyzer", routes.get("boundary"))
    assert run.status == RunStatus.COMPLETED, run.error
    assert_one_event_per_boundary_crossing(engine.get_result(run.run_id), routes.truth("boundary"))


def test_a_damaged_segment_in_the_middle_of_the_route_is_named_with_its_byte_offset(
    engine, routes: Routes, tmp_path: Path
) -> None:
    route = tmp_path / "root" / "damaged"
    write_route(route, preset("demo", 6 * SEGMENT_S), segments=6, segment_s=SEGMENT_S)
    victim = resolve_segments([route])[2].path
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])

    strict = run_to_end(engine, "cruise-control-analyzer", route, {"salvage": False})
    assert strict.status == RunStatus.FAILED
    assert str(victim) in strict.error and "damaged log at" in strict.error

    salvaged = run_to_end(engine, "cruise-control-analyzer", route)
    assert salvaged.status == RunStatus.COMPLETED, salvaged.error
    warnings = engine.get_result(salvaged.run_id)["warnings"]
    assert any(str(victim) in w or "segment 2" in w for w in warnings), warnings


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="a pool of processes needs at least 2 CPUs")
def test_a_segment_process_that_dies_fails_the_run_with_a_clear_error(engine, routes: Routes) -> None:
    run = run_to_end(
        engine, "test-segment-probe", routes.get("demo", 6), {"crash_segment": 3, "seconds": 0.1}
    )
    assert run.status == RunStatus.FAILED
    assert "segment worker process died while analysing segment" in run.error


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="a pool of processes needs at least 2 CPUs")
def test_cancel_stops_the_segment_processes_too(engine, routes: Routes) -> None:
    run = engine.start_run(run_request("test-segment-probe", {"seconds": 30}, str(routes.get("demo", 6))))
    pattern = "analysed by process "

    def worker_pids() -> set[int]:
        return {
            int(r.message.rsplit(pattern, 1)[1]) for r in engine.get_logs(run.run_id) if pattern in r.message
        }

    pids = testing.wait_until(lambda: len(worker_pids()) >= 2 and worker_pids(), 20, "two segment processes")
    assert all(testing.alive(p) for p in pids)
    engine.cancel_run(run.run_id)
    assert engine.wait(run.run_id, 20).status == RunStatus.CANCELED
    assert testing.still_alive(list(pids)) == []
