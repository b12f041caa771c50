"""Engine overhead: queued-to-running latency, and what a run costs over calling the tool directly.

Targets (issue 4): median queued->running under 100 ms, overhead of a run under 150 ms.
Beside them, the baseline the warm process template replaces: a fresh interpreter per run that
imports the tools first (what ``subprocess.run([python, ...])`` per run would cost).

The engine runs with every installed tool preloaded (the built-ins plus the test tools of
tests/plugins), as a server would; the measured run is ``test-echo``, a tool that does almost
nothing, so the figures are the engine's own.

    .venv/bin/python bench/engine.py [--runs 50]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

PLUGINS = Path(__file__).resolve().parents[1] / "tests" / "plugins"
sys.path.insert(0, str(PLUGINS))

from cts_test_tools import EchoTool  # noqa: E402

from jupyter_cts.engine import EngineConfig, ExecutionEngine, RunEvent  # noqa: E402
from jupyter_cts.engine.models import RunRequest, RunStatus  # noqa: E402
from jupyter_cts.registry import ToolRegistry  # noqa: E402
from jupyter_cts.tools.base import DirectoryContext  # noqa: E402

LATENCY_TARGET_S = 0.100
OVERHEAD_TARGET_S = 0.150
REQUEST = RunRequest(tool_id="test-echo", params={"speed_min": "50", "export_csv": "true"})


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def ms(value: float) -> str:
    return f"{value * 1000:8.1f} ms"


class RunningWatcher:
    """When each run was seen running, from the engine's own events (what a client would see)."""

    def __init__(self) -> None:
        self.seen: dict[str, float] = {}
        self.cond = threading.Condition()

    def __call__(self, event: RunEvent) -> None:
        if event.kind == "status" and event.run is not None and event.run.status == RunStatus.RUNNING:
            with self.cond:
                self.seen.setdefault(event.run_id, time.perf_counter())
                self.cond.notify_all()


def measure_engine(engine: ExecutionEngine, runs: int) -> dict[str, list[float]]:
    watcher = RunningWatcher()
    engine.subscribe(watcher)
    for _ in range(3):  # warm-up: the template finishes preloading, caches fill
        engine.execute_tool(REQUEST, timeout=60)
    stored, observed, total = [], [], []
    for _ in range(runs):
        t0 = time.perf_counter()
        run = engine.start_run(REQUEST)
        done = engine.wait(run.run_id, timeout=60)
        t1 = time.perf_counter()
        assert done.status == RunStatus.COMPLETED, done.error
        with watcher.cond:
            watcher.cond.wait_for(lambda run_id=run.run_id: run_id in watcher.seen, timeout=10)
        stored.append((done.started_at - done.created_at).total_seconds())
        observed.append(watcher.seen[run.run_id] - t0)
        total.append(t1 - t0)
    return {"stored": stored, "observed": observed, "total": total}


def measure_direct(folder: Path, runs: int) -> list[float]:
    params = EchoTool.Params.model_validate(REQUEST.params)
    times = []
    for i in range(runs):
        ctx = DirectoryContext(folder / f"direct-{i}")
        t0 = time.perf_counter()
        EchoTool().run([], params, ctx)
        times.append(time.perf_counter() - t0)
    return times


def measure_cold(modules: list[str], runs: int) -> list[float]:
    """A new interpreter per run that imports the tools, then runs the tiny tool."""
    code = (
        f"import sys, tempfile; sys.path.insert(0, {str(PLUGINS)!r}); "
        + "".join(f"import {m}; " for m in modules)
        + "from cts_test_tools import EchoTool; from jupyter_cts.tools.base import DirectoryContext; "
        "EchoTool().run([], EchoTool.Params(), DirectoryContext(tempfile.mkdtemp()))"
    )
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        times.append(time.perf_counter() - t0)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--cold-runs", type=int, default=5)
    args = parser.parse_args()

    registry = ToolRegistry()
    # the modules the template imports (not the tools' warm_up calls, listed as module:Class.warm_up:
    # the echo tool timed here needs none, so the cold interpreter skips them too)
    modules = [step for step in registry.preload_modules() if ":" not in step]
    with tempfile.TemporaryDirectory(prefix="cts-bench-") as tmp:
        folder = Path(tmp)
        config = EngineConfig(data_dir=folder / "data", root_dir=folder, max_concurrent_runs=2)
        engine = ExecutionEngine(config, registry=registry)
        engine.start()
        try:
            figures = measure_engine(engine, args.runs)
        finally:
            engine.stop()
        direct = measure_direct(folder, args.runs)
    cold = measure_cold(modules, args.cold_runs)

    latency = statistics.median(figures["stored"])
    overhead = statistics.median(figures["total"]) - statistics.median(direct)
    print(f"engine benchmark: {args.runs} runs of test-echo, template preloads {len(modules)} tool modules")
    print(f"  {'':38}{'median':>11}{'p95':>11}")
    print(f"  {'queued -> running (store timestamps)':38}{ms(latency)}{ms(p95(figures['stored']))}")
    print(
        f"  {'start_run -> running event seen':38}{ms(statistics.median(figures['observed']))}"
        f"{ms(p95(figures['observed']))}"
    )
    print(
        f"  {'start_run -> run completed (wait)':38}{ms(statistics.median(figures['total']))}"
        f"{ms(p95(figures['total']))}"
    )
    print(f"  {'the tool called directly':38}{ms(statistics.median(direct))}{ms(p95(direct))}")
    print(f"  {'baseline: cold interpreter per run':38}{ms(statistics.median(cold))}{ms(p95(cold))}")
    print(
        f"queued->running median {ms(latency).strip()} (target < {LATENCY_TARGET_S * 1000:.0f} ms): "
        f"{'OK' if latency < LATENCY_TARGET_S else 'MISSED'}"
    )
    print(
        f"overhead of a run      {ms(overhead).strip()} (target < {OVERHEAD_TARGET_S * 1000:.0f} ms): "
        f"{'OK' if overhead < OVERHEAD_TARGET_S else 'MISSED'}"
    )
    print(
        f"a run through the engine vs a cold interpreter per run: "
        f"{statistics.median(cold) / statistics.median(figures['total']):.1f}x faster"
    )


if __name__ == "__main__":
    main()
