"""REST API latency under load, on loopback against a real ``cts-lite``.

While two cruise-control analyses keep running (a new one starts whenever one ends), N clients poll
``GET /v1/runs/{id}`` every ``--interval`` seconds for ``--duration`` seconds, like N notebook
widgets or ``cts run --wait`` sessions would. Then queued-to-running through ``POST /v1/runs``:
the time from sending the POST until the run is running, for a tiny run (``test-echo``) with a
free slot; measured from the server's own timestamps (``started_at - created_at``) and as a
client sees it (POST sent -> the ``status: running`` event on the SSE stream, or the ``end`` event
if the run finished first).

Baseline, printed beside each figure: Jupyter's own ``GET /api/status``, polled the same way by
``--baseline-clients`` more clients on the same server during the same 20 s, i.e. what a trivial
authenticated Jupyter handler answers in under the same load. A short warm-up of both comes first.

Targets (issue 5): no errors; p50 under 5 ms and p99 under 20 ms; queued-to-running median under
150 ms.

    .venv/bin/python bench/api.py [--clients 50] [--duration 20] [--interval 0.1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx

REPO = Path(__file__).resolve().parents[1]
PLUGINS = REPO / "tests" / "plugins"

from jupyter_cts.server.lite import LiteProcess, launch  # noqa: E402
from jupyter_cts.synth import preset, write_segment  # noqa: E402

P50_TARGET_MS, P99_TARGET_MS, QUEUED_TO_RUNNING_TARGET_MS = 5.0, 20.0, 150.0
_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:\s*(\d+)", re.IGNORECASE)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


class Analyses:
    """Keeps ``count`` cruise-control analyses running until stopped (a thread, plain httpx)."""

    def __init__(self, server: LiteProcess, path: str, count: int = 2) -> None:
        self.server, self.path, self.count = server, path, count
        self.started: list[str] = []
        self.failed: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._keep_running, daemon=True)

    def __enter__(self) -> Analyses:
        self._thread.start()
        deadline = time.monotonic() + 60
        while self.running() < self.count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(30)

    def running(self) -> int:
        with httpx.Client(base_url=f"{self.server.url}v1/", headers=self.server.headers, timeout=10) as http:
            return int(http.get("health").json()["runs_running"])

    def _keep_running(self) -> None:
        body = {"tool_id": "cruise-control-analyzer", "input": {"type": "path", "value": self.path}}
        active: list[str] = []
        with httpx.Client(base_url=f"{self.server.url}v1/", headers=self.server.headers, timeout=30) as http:
            while not self._stop.is_set():
                still = []
                for run_id in active:
                    status = http.get(f"runs/{run_id}").json()["status"]
                    if status == "failed":
                        self.failed.append(run_id)
                    if status in ("queued", "running"):
                        still.append(run_id)
                active = still
                while len(active) < self.count:
                    run_id = http.post("runs", json=body).json()["run_id"]
                    active.append(run_id)
                    self.started.append(run_id)
                self._stop.wait(0.2)
            for run_id in active:
                http.delete(f"runs/{run_id}")


class KeepAliveClient:
    """A minimal HTTP/1.1 keep-alive GET client on asyncio streams: far less CPU per request than a
    full client library, so on a small machine the figures are the server's, not the load generator's."""

    def __init__(self, server: LiteProcess) -> None:
        url = urlsplit(server.url)
        self.host, self.port = url.hostname or "127.0.0.1", url.port or 80
        self.prefix = url.path
        self.auth = f"Authorization: token {server.token}\r\n"
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(
            f"GET {self.prefix}{path} HTTP/1.1\r\nHost: {self.host}\r\n{self.auth}\r\n".encode()
        )
        head = await self.reader.readuntil(b"\r\n\r\n")
        length = _CONTENT_LENGTH.search(head)
        if length is None:
            raise RuntimeError(f"no Content-Length in {head[:200]!r}")
        await self.reader.readexactly(int(length.group(1)))
        return int(head.split(b" ", 2)[1])

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def poll(server: LiteProcess, path: str, clients: int, duration: float, interval: float) -> dict:
    """``clients`` pollers of ``path`` for ``duration`` s; latencies in ms and the errors seen."""
    latencies: list[float] = []
    errors: list[str] = []
    stop_at = time.monotonic() + duration

    async def client(i: int) -> None:
        http = KeepAliveClient(server)
        await asyncio.sleep(interval * i / clients)  # spread the clients over one interval
        try:
            while time.monotonic() < stop_at:  # bounded: stops by itself after `duration`
                began = time.perf_counter()
                try:
                    status = await http.get(path)
                    if status != 200:
                        errors.append(f"HTTP {status}")
                except (OSError, RuntimeError, asyncio.IncompleteReadError) as exc:
                    errors.append(repr(exc))
                    http.close()
                    http = KeepAliveClient(server)
                latencies.append((time.perf_counter() - began) * 1000)
                await asyncio.sleep(max(0.0, interval - (time.perf_counter() - began)))
        finally:
            http.close()

    await asyncio.gather(*(client(i) for i in range(clients)))
    return {"latencies": latencies, "errors": errors}


async def measure(
    server: LiteProcess, path: str, clients: int, baseline_clients: int, args: argparse.Namespace
) -> tuple[dict, dict]:
    """Warm up, then poll ``path`` and the baseline together, so both see the same load."""
    await asyncio.gather(
        poll(server, path, clients, args.warmup, args.interval),
        poll(server, "api/status", baseline_clients, args.warmup, args.interval),
    )
    ours, base_line = await asyncio.gather(
        poll(server, path, clients, args.duration, args.interval),
        poll(server, "api/status", baseline_clients, args.duration, args.interval),
    )
    return ours, base_line


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
    ap.add_argument("--baseline-clients", type=int, default=5, help="extra clients polling /api/status")
    ap.add_argument("--warmup", type=float, default=2.0, help="seconds of unmeasured polling first")
    ap.add_argument("--samples", type=int, default=20, help="runs for queued-to-running")
    args = ap.parse_args()

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
            with Analyses(server, "drive/rlog.zst") as analyses:
                target = analyses.started[0]
                print(
                    f"api benchmark: {args.clients} clients polling every {args.interval:g} s "
                    f"while {analyses.running()} analyses run"
                )
                ours, base_line = asyncio.run(
                    measure(server, f"v1/runs/{target}", args.clients, args.baseline_clients, args)
                )
                q2r = queued_to_running(server, args.samples)
                analyses_started, analyses_failed = len(analyses.started), len(analyses.failed)
        finally:
            server.stop()

    lat, ref = ours["latencies"], base_line["latencies"]
    rows = [
        ("GET /v1/runs/{id} p50", statistics.median(lat), statistics.median(ref), P50_TARGET_MS),
        ("GET /v1/runs/{id} p99", percentile(lat, 0.99), percentile(ref, 0.99), P99_TARGET_MS),
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
        f"  {len(lat)} requests in {args.duration:g} s, {len(ours['errors'])} errors; "
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
    for err in ours["errors"][:5]:
        print(f"  error: {err}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
