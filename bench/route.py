"""Route fan-out: a 30-segment generated route analysed by 1 vs 2 workers, and the server's memory.

    .venv/bin/python bench/route.py [--segments 30] [--repeat 5] [--route DIR] [--skip-dask]

1. Speed. The cruise-control analyzer over the route with three segment mappers: serial (the
   baseline), the local executor's process pool with 1 and 2 processes, and a Dask cluster with 1
   and 2 worker processes (a ``distributed.LocalCluster``, one thread per worker, started with
   the worker settings the README recommends for a cluster sharing a small machine). Each timed
   run happens in a fresh process forked from this warm one, set up as the engine sets up its
   template and its run processes (``jupyter_cts.engine.forked_memory``): a process that analysed
   the route before keeps a warm heap no real run starts with. Printed: wall time of the whole
   run (plan, segments, combine, artifacts) and of the segment phase alone (what the workers share),
   and the 2-worker speedup over 1 worker. A Dask run has this machine's CPUs for its own work
   after the segments, as the engine gives it the run's share of the server. Target: at least
   1.7x on 2 idle cores. Timings are the best of ``--repeat`` rounds, each round running every
   contender once, back to back, so a busy machine slows every contender (each round starts each
   LocalCluster afresh and warms it with an untimed run: one cluster up at a time); the median of
   the rounds' own 2-vs-1 ratios is printed too (less swayed by a machine whose speed drifts). The
   load average is printed, and the speedup 2 pure busy-loop processes get at the same time (2.0x
   on 2 idle cores): other work on the machine takes cores from the workers.
2. Memory. A fresh process plays the server: an ``ExecutionEngine`` runs the analyzer on a route of
   N segments (N = 10 and --segments) and reports its own peak RSS and the run process's. Target:
   the server's peak is flat in N (its runs hold the partials, not the server).

The route is generated once (``jupyter_cts.synth``, one-minute segments) and kept in --route.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from jupyter_cts.engine.fanout import PoolMapper, local_workers
from jupyter_cts.engine.forked_memory import freeze_inherited_objects, keep_freed_memory
from jupyter_cts.synth import preset, write_route
from jupyter_cts.tools.base import DirectoryContext, map_serial, mapper_cpus
from jupyter_cts.tools.cruise_control import CruiseControlAnalyzer, CruiseControlParams

DEFAULT_ROUTE_DIR = Path(tempfile.gettempdir()) / "cts-bench-route"
MMAP_ENV, MMAP_THRESHOLD = "MALLOC_MMAP_THRESHOLD_", "16777216"


def route(root: Path, segments: int) -> Path:
    """A generated route of ``segments`` one-minute segments, written once and reused."""
    folder = root / f"demo-{segments}"
    if not (folder / "truth.json").is_file():
        print(f"writing a {segments}-segment route to {folder} ...", flush=True)
        write_route(folder, preset("demo", 60.0 * segments), segments=segments)
    return folder


class Timed:
    """Wraps a mapper to time the segment phase of a run (from the first item to the last result)."""

    def __init__(self, mapper: Any) -> None:
        self.mapper = mapper
        self.local_cpus = mapper_cpus(mapper)  # the tool may use as many CPUs after the segments
        self.seconds = 0.0

    def __call__(self, fn: Any, items: Any, on_done: Any = None) -> Any:
        start = time.perf_counter()
        yield from self.mapper(fn, items, on_done)
        self.seconds = time.perf_counter() - start


def analyse(path: Path, mapper: Any, out: Path) -> tuple[float, float]:
    """Wall time of one whole run, and of its segment phase, in this process."""
    timed = Timed(mapper)
    start = time.perf_counter()
    CruiseControlAnalyzer().run([path], CruiseControlParams(), DirectoryContext(out, mapper=timed))
    return time.perf_counter() - start, timed.seconds


def analyse_fresh(path: Path, mapper: Any, out: Path) -> tuple[float, float]:
    """``analyse`` in a process forked for this one run (as the engine forks each run)."""
    fork = multiprocessing.get_context("fork")
    receive, send = fork.Pipe(duplex=False)

    def child() -> None:
        keep_freed_memory()  # as the engine's run process does
        send.send(analyse(path, mapper, out))

    process = fork.Process(target=child)
    process.start()
    send.close()
    try:
        times: tuple[float, float] = receive.recv()
    except EOFError:
        raise SystemExit(f"a timed run failed (exit code {process.exitcode}); traceback above") from None
    finally:
        process.join()
    return times


def burn(n: int) -> int:
    """Pure CPU, no memory traffic: how much 2 processes can get from this machine right now."""
    total = 0
    for i in range(n):
        total += i * i
    return total


def cpu_ceiling(repeat: int) -> float:
    """The speedup 2 busy processes get over 1 at the moment (2.0 on 2 idle cores)."""
    items = [1_500_000] * 8
    one = two = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        list(map_serial(burn, items))
        one = min(one, time.perf_counter() - start)
        start = time.perf_counter()
        list(PoolMapper(2)(burn, items))
        two = min(two, time.perf_counter() - start)
    return one / two


Rounds = dict[str, list[tuple[float, float]]]  # contender -> (whole run, segment phase) per round


def rounds_of(path: Path, mappers: dict[str, Any], repeat: int, out: Path) -> Rounds:
    """``repeat`` rounds, each running every contender once, back to back (interleaved)."""
    times: Rounds = {name: [] for name in mappers}
    for _ in range(repeat):
        for name, mapper in mappers.items():
            times[name].append(analyse_fresh(path, mapper, out / name.replace(" ", "-")))
    return times


def speed(path: Path, repeat: int, with_dask: bool, out: Path) -> Rounds:
    """Serial and the local pool first, with no cluster running (idle Dask processes still tick);
    then the LocalClusters (:func:`dask_rounds`)."""
    analyse_fresh(path, map_serial, out / "warm")  # the route in the page cache
    CruiseControlAnalyzer.warm_up()  # then this process is what the engine's template is
    freeze_inherited_objects()
    mappers: dict[str, Any] = {"serial": map_serial, "pool x1": PoolMapper(1), "pool x2": PoolMapper(2)}
    times = rounds_of(path, mappers, repeat, out)
    if with_dask:
        times.update(dask_rounds(path, repeat, out))
    return times


def dask_rounds(path: Path, repeat: int, out: Path) -> Rounds:
    """Rounds of a 1-worker and a 2-worker LocalCluster, one cluster up at a time (an idle one
    still ticks), each started for its run and warmed by one untimed run (its workers import the
    tool then)."""
    from jupyter_cts.engine.executors.dask import DaskMapper

    times: Rounds = {"dask x1": [], "dask x2": []}
    for _ in range(repeat):
        for n in (1, 2):
            with dask_cluster(n) as address:
                # the run's share of this machine for its own work, as the engine gives a dask run
                mapper = DaskMapper(address, run_id=f"bench{n}", local_cpus=local_workers(1))
                analyse_fresh(path, mapper, out / "dask-warm")
                times[f"dask x{n}"].append(analyse_fresh(path, mapper, out / f"dask-x{n}"))
    return times


# A LocalCluster kept in its own process: this process then runs no Dask threads and forks cleanly.
HOST_CLUSTER = """
import sys
import dask
from distributed import LocalCluster

dask.config.set({
    "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": 1 << 30,
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
})
cluster = LocalCluster(
    n_workers=int(sys.argv[1]), threads_per_worker=1, processes=True, dashboard_address=None
)
print(cluster.scheduler_address, flush=True)
sys.stdin.read()  # until the benchmark is done with it
cluster.close()
"""


@contextlib.contextmanager
def dask_cluster(workers: int) -> Iterator[str]:
    """A ``distributed.LocalCluster`` of ``workers`` single-threaded worker processes; its address."""
    # Workers as the README recommends: Dask's nanny sets MALLOC_TRIM_THRESHOLD_ low (the host
    # raises it in the nanny's config), which makes glibc give memory back after every segment
    # and map and unmap every large numpy temporary (far more CPU for this analysis); and with
    # no statistical profiler and a slow loop watchdog (their ticks take CPU from the workers).
    host = subprocess.Popen(
        [sys.executable, "-c", HOST_CLUSTER, str(workers)],
        env={**os.environ, MMAP_ENV: MMAP_THRESHOLD},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert host.stdin is not None and host.stdout is not None
    try:
        address = host.stdout.readline().strip()
        if not address:
            raise SystemExit(f"the LocalCluster did not start (exit code {host.wait()})")
        yield address
    finally:
        host.stdin.close()
        try:
            host.wait(timeout=60)
        except subprocess.TimeoutExpired:
            host.kill()


def server_memory(path: Path) -> dict[str, float]:
    """Runs in a fresh process (``--server-memory PATH``): one engine run, then the peaks."""
    from jupyter_cts.engine import EngineConfig, ExecutionEngine
    from jupyter_cts.engine.models import RunInput, RunRequest

    with tempfile.TemporaryDirectory() as data:
        config = EngineConfig(data_dir=Path(data), root_dir=path.parent, max_concurrent_runs=1)
        with ExecutionEngine(config) as engine:
            request = RunRequest(
                tool_id="cruise-control-analyzer", input=RunInput(type="path", value=str(path))
            )
            run = engine.execute_tool(request, timeout=600)
    if run.status != "completed":
        raise SystemExit(f"the run failed: {run.error}")
    return {
        "server_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "run_peak_mb": run.metrics.max_rss_mb or float("nan"),
        "wall_s": run.metrics.wall_s or float("nan"),
    }


def memory(paths: dict[int, Path]) -> dict[int, dict[str, float]]:
    found = {}
    for n, path in paths.items():
        out = subprocess.run(
            [sys.executable, __file__, "--server-memory", str(path)],
            check=True,
            capture_output=True,
            text=True,
        )
        found[n] = json.loads(out.stdout.strip().splitlines()[-1])
    return found


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--segments", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--route", type=Path, default=DEFAULT_ROUTE_DIR, help="where generated routes are kept"
    )
    parser.add_argument("--skip-dask", action="store_true", help="only the local process pool")
    parser.add_argument("--server-memory", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.server_memory:
        print(json.dumps(server_memory(args.server_memory)))
        return

    big = route(args.route, args.segments)
    small = route(args.route, 10)
    load_before = os.getloadavg()[0]
    ceiling = cpu_ceiling(args.repeat)
    with tempfile.TemporaryDirectory() as out:
        times = speed(big, args.repeat, not args.skip_dask, Path(out))
    best = {name: min(runs) for name, runs in times.items()}  # the fastest whole run, and its phase
    ceiling = max(ceiling, cpu_ceiling(args.repeat))
    print(f"\n{args.segments}-segment route, best of {args.repeat}: whole run / segment phase (s)")
    load_after = os.getloadavg()[0]
    print(f"  (load average {load_before:.1f} before, {load_after:.1f} after, on {os.cpu_count()} CPUs;")
    print(
        f"   2 busy-loop processes got {ceiling:.2f}x over 1 meanwhile: the most 2 workers can get here now)"
    )
    for name, (wall, phase) in best.items():
        print(f"  {name:9s} {wall:7.2f} / {phase:6.2f}")
    for kind in ("pool", "dask"):
        if f"{kind} x1" in best:
            one, two = best[f"{kind} x1"], best[f"{kind} x2"]
            # Amdahl: what 2 workers could give at best, with the rest of the run (plan, combine,
            # report) serial in the run process
            bound = one[0] / (one[0] - one[1] + one[1] / 2)
            ok = "ok" if one[1] / two[1] >= 1.7 else "below target"
            print(
                f"  {kind}: 2 workers vs 1: {one[1] / two[1]:.2f}x segment phase (target >= 1.7x: {ok}), "
                f"{one[0] / two[0]:.2f}x whole run (at most {bound:.2f}x with the serial part); "
                f"2 workers vs serial {best['serial'][0] / two[0]:.2f}x whole run"
            )
            # the same, round by round: a machine that slows down for a while slows both alike
            paired = [
                (a[1] / b[1], a[0] / b[0])
                for a, b in zip(times[f"{kind} x1"], times[f"{kind} x2"], strict=True)
            ]
            print(
                f"        median of the {len(paired)} rounds (x1 and x2 back to back): "
                f"{statistics.median(p[0] for p in paired):.2f}x segment phase, "
                f"{statistics.median(p[1] for p in paired):.2f}x whole run"
            )

    mem = memory({10: small, args.segments: big})
    print("\nserver process (an engine running one route) vs route length")
    for n, m in mem.items():
        print(
            f"  {n:3d} segments: server peak {m['server_peak_mb']:6.1f} MB, "
            f"run process peak {m['run_peak_mb']:6.1f} MB, run {m['wall_s']:.2f} s"
        )
    ratio = mem[args.segments]["server_peak_mb"] / mem[10]["server_peak_mb"]
    print(f"  server peak {args.segments} vs 10 segments: {ratio:.2f}x (target: flat, <= 1.1x)")


if __name__ == "__main__":
    main()
