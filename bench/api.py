"""REST API latency under load, on loopback against a real ``cts-lite``.

While two cruise-control analyses keep running (a new one starts whenever one ends), N clients poll
``GET /v1/runs/{id}`` every ``--interval`` seconds for ``--duration`` seconds, like N notebook
widgets or ``cts run --wait`` sessions would. The pollers are ``wrk`` (Debian package ``wrk``;
``make bench`` installs it): keep-alive connections sending the token and the login cookie, as
those clients do, from a load generator light enough not to take the server's CPU.

Then queued-to-running through ``POST /v1/runs``: the time from sending the POST until the run
is running, for a tiny run (``test-echo``) with a free slot; measured from the server's own
timestamps (``started_at - created_at``) and as a client sees it (POST sent -> the ``status:
running`` event on the SSE stream, or the ``end`` event if the run finished first).

Baseline, printed beside each figure: Jupyter's own ``GET /api/status``, polled the same way by
``--baseline-clients`` more clients on the same server during the same 20 s, i.e. what a trivial
authenticated Jupyter handler answers in under the same load. A short warm-up of both comes first.

Targets (issue 5): no errors; p50 under 5 ms and p99 under 20 ms; queued-to-running median under
150 ms.

    .venv/bin/python bench/api.py [--clients 50] [--duration 20] [--interval 0.1] [--analyses 2]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import multiprocessing.queues
import os
import queue
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
PLUGINS = REPO / "tests" / "plugins"

from jupyter_cts.server.lite import LiteProcess, launch  # noqa: E402
from jupyter_cts.synth import preset, write_segment  # noqa: E402

P50_TARGET_MS, P99_TARGET_MS, QUEUED_TO_RUNNING_TARGET_MS = 5.0, 20.0, 150.0


class Analyses:
    """Keeps ``count`` cruise-control analyses running until stopped.

    In a process of its own, so its HTTP client never holds the load generator's GIL: the
    latencies measured are the server's, not this bookkeeping's."""

    def __init__(self, server: LiteProcess, path: str, count: int = 2) -> None:
        self.server, self.path, self.count = server, path, count
        self.started: list[str] = []
        self.failed: list[str] = []
        ctx = multiprocessing.get_context("spawn")
        self._stop = ctx.Event()
        self._events: multiprocessing.queues.Queue[tuple[str, str]] = ctx.Queue()
        self._process = ctx.Process(
            target=_keep_running,
            args=(server.url, server.headers, path, count, self._stop, self._events),
            daemon=True,
        )

    def __enter__(self) -> Analyses:
        self._process.start()
        deadline = time.monotonic() + 60
        while self.running() < self.count and time.monotonic() < deadline:
            time.sleep(0.05)
        self._drain()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._process.join(30)
        self._drain()

    def _drain(self) -> None:
        while True:
            try:
                kind, run_id = self._events.get(timeout=0.1)
            except queue.Empty:
                return
            (self.started if kind == "started" else self.failed).append(run_id)

    def first_run(self) -> str:
        while not self.started:
            self._drain()
        return self.started[0]

    def running(self) -> int:
        with httpx.Client(base_url=f"{self.server.url}v1/", headers=self.server.headers, timeout=10) as http:
            return int(http.get("health").json()["runs_running"])


def _keep_running(url: str, headers: dict[str, str], path: str, count: int, stop: Any, events: Any) -> None:
    """The body of the :class:`Analyses` process: start analyses, replace each one that ends."""
    body = {"tool_id": "cruise-control-analyzer", "input": {"type": "path", "value": path}}
    active: list[str] = []
    with httpx.Client(base_url=f"{url}v1/", headers=headers, timeout=30) as http:
        if count == 0:  # still one run to poll: it ends at once and nothing replaces it
            events.put(("started", http.post("runs", json=body).json()["run_id"]))
        while not stop.is_set():
            still = []
            for run_id in active:
                status = http.get(f"runs/{run_id}").json()["status"]
                if status == "failed":
                    events.put(("failed", run_id))
                if status in ("queued", "running"):
                    still.append(run_id)
            active = still
            while len(active) < count:
                run_id = http.post("runs", json=body).json()["run_id"]
                active.append(run_id)
                events.put(("started", run_id))
            stop.wait(0.2)
        for run_id in active:
            http.delete(f"runs/{run_id}")


WRK_SCRIPT = """
wrk.headers["Authorization"] = "token " .. os.getenv("CTS_BENCH_TOKEN")
wrk.headers["Cookie"] = os.getenv("CTS_BENCH_COOKIE")
local interval_ms = tonumber(os.getenv("CTS_BENCH_INTERVAL_MS"))
function delay() return interval_ms end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "p50_us": %d, "p99_us": %d, "connect": %d, "read": %d, ' ..
    '"write": %d, "status": %d, "timeout": %d}\\n',
    summary.requests, latency:percentile(50), latency:percentile(99),
    e.connect, e.read, e.write, e.status, e.timeout))
end
"""


def start_wrk(
    server: LiteProcess, path: str, clients: int, duration: float, interval: float, script: Path
) -> subprocess.Popen[str]:
    """``clients`` keep-alive connections, each GETting ``path`` every ``interval`` s for ``duration`` s.

    wrk (C, one thread) rather than a Python client: on a 2-core machine a Python load generator
    takes a fifth of a core and its own event loop's delays show up as server latency."""
    env = {
        **os.environ,
        "CTS_BENCH_TOKEN": server.token,
        "CTS_BENCH_COOKIE": session_cookie(server),
        "CTS_BENCH_INTERVAL_MS": str(round(interval * 1000)),
    }
    cmd = ["wrk", "-t1", f"-c{clients}", f"-d{duration:g}s", "--timeout", "10s", "-s", str(script)]
    return subprocess.Popen([*cmd, f"{server.url}{path}"], stdout=subprocess.PIPE, text=True, env=env)


def session_cookie(server: LiteProcess) -> str:
    """The login cookie Jupyter sets on a token-authenticated request, as a ``Cookie`` header.

    Real pollers keep it (browsers, and ``cts``/``CTSClient`` through httpx's cookie jar), so they
    send token and cookie; without it Jupyter signs and sets a fresh cookie on every response."""
    with httpx.Client(base_url=server.url, headers=server.headers, timeout=10) as http:
        http.get("api/status").raise_for_status()
        return "; ".join(f"{name}={value}" for name, value in http.cookies.items())


def wrk_figures(proc: subprocess.Popen[str]) -> dict[str, Any]:
    """The JSON line the script's ``done`` printed: requests, p50/p99 in ms, errors by kind."""
    out, _ = proc.communicate(timeout=120)
    line = next((ln for ln in out.splitlines() if ln.startswith("{")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed (exit {proc.returncode}):\n{out}")
    data = json.loads(line)
    errors = {k: data[k] for k in ("connect", "read", "write", "status", "timeout") if data[k]}
    return {
        "requests": data["requests"],
        "p50": data["p50_us"] / 1000,
        "p99": data["p99_us"] / 1000,
        "errors": errors,
    }


def measure(server: LiteProcess, path: str, args: argparse.Namespace, workdir: Path) -> tuple[dict, dict]:
    """Warm up, then poll ``path`` and the baseline together, so both see the same load."""
    script = workdir / "poll.lua"  # written once: a wrk starting while it is rewritten reads it empty
    script.write_text(WRK_SCRIPT)
    for duration in (args.warmup, args.duration):
        ours = start_wrk(server, path, args.clients, duration, args.interval, script)
        base_line = start_wrk(server, "api/status", args.baseline_clients, duration, args.interval, script)
        result = wrk_figures(ours), wrk_figures(base_line)
    return result


def queued_to_running(server: LiteProcess, samples: int) -> dict[str, list[float]]:
    """Tiny runs started with a free slot: server-side and client-seen queued-to-running, in ms."""
    stored, seen = [], []
    with httpx.Client(base_url=f"{server.url}v1/", headers=server.headers, timeout=30) as http:
        for _ in range(samples):
            began = time.perf_counter()
            run = http.post("runs", json={"tool_id": "test-echo", "params": {"export_csv": False}}).json()
            with http.stream(
                "GET", f"runs/{run['run_id']}/logs", headers={"Accept": "text/event-stream"}
            ) as sse:
                event = None
                for line in sse.iter_lines():
                    if line.startswith("event: "):
                        event = line[7:]
                    elif line.startswith("data: ") and event in ("status", "end"):
                        status = json.loads(line[6:])["status"]
                        if status != "queued":
                            seen.append((time.perf_counter() - began) * 1000)
                            break
            final = http.get(f"runs/{run['run_id']}").json()
            while final["status"] in ("queued", "running"):
                time.sleep(0.02)
                final = http.get(f"runs/{run['run_id']}").json()
            created = _time(final["created_at"])
            stored.append((_time(final["started_at"]) - created) * 1000)
    return {"stored": stored, "seen": seen}


def _time(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--duration", type=float, default=20.0, help="seconds of polling (default 20)")
    ap.add_argument("--interval", type=float, default=0.1, help="seconds between one client's polls")
    ap.add_argument("--analyses", type=int, default=2, help="analyses kept running meanwhile (default 2)")
    ap.add_argument("--baseline-clients", type=int, default=5, help="extra clients polling /api/status")
    ap.add_argument("--warmup", type=float, default=2.0, help="seconds of unmeasured polling first")
    ap.add_argument("--samples", type=int, default=20, help="runs for queued-to-running")
    args = ap.parse_args()
    if shutil.which("wrk") is None:
        print("bench/api.py needs wrk: `apt-get install wrk` as root, or run `make bench`.", file=sys.stderr)
        return 2

    with tempfile.TemporaryDirectory(prefix="cts-bench-api-") as tmp:
        base = Path(tmp)
        (base / "root").mkdir()
        write_segment(base / "root" / "drive" / "rlog.zst", preset("demo"))
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PLUGINS), os.environ.get("PYTHONPATH", "")])}
        env["JUPYTER_RUNTIME_DIR"] = str(base / "runtime")
        extra = ["--allow-root"] if os.geteuid() == 0 else []
        server = launch(
            base / "root",
            data_dir=base / "data",
            env=env,
            log_path=base / "server.log",
            args=[*extra, "--CTSApp.max_concurrent_runs=3", "--CTSApp.kernel_env=False", "--log-level=WARN"],
        )
        try:
            with Analyses(server, "drive/rlog.zst", args.analyses) as analyses:
                target = analyses.first_run()
                print(
                    f"api benchmark: {args.clients} clients polling every {args.interval:g} s "
                    f"while {args.analyses} analyses keep running ({analyses.running()} at this moment)"
                )
                ours, base_line = measure(server, f"v1/runs/{target}", args, base)
                q2r = queued_to_running(server, args.samples)
            analyses_started, analyses_failed = len(analyses.started), len(analyses.failed)
        finally:
            server.stop()

    rows = [
        ("GET /v1/runs/{id} p50", ours["p50"], base_line["p50"], P50_TARGET_MS),
        ("GET /v1/runs/{id} p99", ours["p99"], base_line["p99"], P99_TARGET_MS),
        (
            "queued -> running, server (median)",
            statistics.median(q2r["stored"]),
            None,
            QUEUED_TO_RUNNING_TARGET_MS,
        ),
        (
            "queued -> running, client (median)",
            statistics.median(q2r["seen"]),
            None,
            QUEUED_TO_RUNNING_TARGET_MS,
        ),
    ]
    print(
        f"  {ours['requests']} requests in {args.duration:g} s, {len(ours['errors'])} errors; "
        f"{analyses_started} analyses started, {analyses_failed} failed"
    )
    print(f"  {'':38}{'ms':>9}{'baseline':>10}{'ratio':>8}{'target':>9}")
    ok = not ours["errors"] and analyses_failed == 0
    for name, value, baseline, target in rows:
        ratio = f"{value / baseline:7.2f}x" if baseline else f"{'':8}"
        base_txt = f"{baseline:10.2f}" if baseline else f"{'-':>10}"
        verdict = "ok" if value < target else "MISSED"
        ok = ok and value < target
        print(f"  {name:38}{value:9.2f}{base_txt}{ratio}{target:9.0f}  {verdict}")
    print(
        f"  baseline: Jupyter's GET /api/status, {args.baseline_clients} more clients polling the same way "
        "at the same time"
    )
    for kind, count in ours["errors"].items():
        print(f"  errors: {count} {kind}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
