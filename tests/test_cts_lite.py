"""``cts-lite``: the real command, started as a subprocess, driven over plain HTTP.

It prints where it listens and the token, serves only this extension, takes ``--CTSApp.*`` options,
runs an analysis end to end, and on SIGTERM stops cleanly, taking its runs' processes with it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import psutil
import pytest
from httpx_sse import connect_sse

from jupyter_cts.server.lite import launch
from jupyter_cts.synth import preset, write_segment

TEST_TOOLS = Path(__file__).parent / "plugins"
ROOT_ARGS = ["--allow-root"] if os.geteuid() == 0 else []


def lite_env(base: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CTS_", "JUPYTER_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(TEST_TOOLS), os.environ.get("PYTHONPATH", "")])
    env["JUPYTER_RUNTIME_DIR"] = str(base / "runtime")
    return env


@pytest.fixture
def lite(tmp_path):
    """Start cts-lite the way a person would; every one started is stopped at the end."""
    started = []

    def start(*args: str, data: str = "data"):
        root = tmp_path / "root"
        root.mkdir(exist_ok=True)
        server = launch(
            root,
            data_dir=tmp_path / data,
            env=lite_env(tmp_path),
            log_path=tmp_path / f"cts-lite-{len(started)}.log",
            args=[*ROOT_ARGS, "--CTSApp.kernel_env=False", *args],
        )
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def test_cts_lite_prints_its_url_and_token_and_serves_only_this_extension(lite):
    server = lite()
    assert server.url.startswith("http://127.0.0.1:")
    health = httpx.get(f"{server.url}v1/health", headers=server.headers, timeout=10)
    assert health.status_code == 200 and health.json()["status"] == "ok"

    anonymous = httpx.get(f"{server.url}v1/health", timeout=10)
    assert anonymous.status_code == 403
    assert "token" in anonymous.json()["message"]
    # No JupyterLab, no other extension: only Jupyter's core API and ours.
    assert httpx.get(f"{server.url}lab", headers=server.headers, timeout=10).status_code == 404
    log = server.log_path.read_text()
    loaded = [line for line in log.splitlines() if "extension was successfully loaded" in line]
    assert loaded and all("jupyter_cts" in line for line in loaded), loaded


def test_an_analysis_runs_end_to_end_over_http_with_live_logs(lite):
    server = lite()
    write_segment(server.root_dir / "drive" / "rlog.zst", preset("demo"))
    with httpx.Client(base_url=f"{server.url}v1/", headers=server.headers, timeout=30) as http:
        started = http.post(
            "runs",
            json={
                "tool_id": "cruise-control-analyzer",
                "params": {"speed_min": "55", "marker_type": "blinkers"},
                "input": {"type": "path", "value": "drive/rlog.zst"},
            },
        )
        assert started.status_code == 202, started.text
        run_id = started.json()["run_id"]
        assert started.headers["Location"] == f"/v1/runs/{run_id}"

        events = []
        with connect_sse(http, "GET", f"runs/{run_id}/logs") as source:
            assert source.response.headers["Cache-Control"] == "no-cache"
            for sse in source.iter_sse():
                events.append(sse)
                if sse.event == "end":
                    break
        end = json.loads(events[-1].data)
        assert end["status"] == "completed", end["error"]
        assert any(e.event == "log" for e in events)

        result = http.get(f"runs/{run_id}/result").json()
        assert result["speed"]["band_mph"] == [55.0, 56.0]
        assert len(result["buttons"]["set_presses"]) == 2
        report = http.get(f"runs/{run_id}/artifacts/report.html")
        assert report.status_code == 200 and "<html" in report.text.lower()


def test_options_pass_through_to_the_extension(lite):
    server = lite("--CTSApp.max_upload_bytes=1000")
    small = httpx.post(f"{server.url}v1/uploads", headers=server.headers, content=b"x" * 500, timeout=10)
    assert small.status_code == 201
    big = httpx.post(f"{server.url}v1/uploads", headers=server.headers, content=b"x" * 5000, timeout=10)
    assert big.status_code == 413
    assert "1000 bytes" in big.json()["message"]


def test_stopping_cts_lite_stops_its_runs_and_a_restart_reports_them(lite):
    server = lite()
    with httpx.Client(base_url=f"{server.url}v1/", headers=server.headers, timeout=30) as http:
        run_id = http.post(
            "runs", json={"tool_id": "test-misbehave", "params": {"mode": "spawn", "seconds": 60}}
        ).json()["run_id"]
        deadline = time.monotonic() + 30
        while http.get(f"runs/{run_id}").json()["status"] != "running" and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # the tool has spawned its own child processes
    family = psutil.Process(server.proc.pid).children(recursive=True)
    assert family, "the run's processes should be running"

    assert server.stop() == 0
    gone, alive = psutil.wait_procs(family, timeout=10)
    assert [p for p in alive if p.is_running() and p.status() != psutil.STATUS_ZOMBIE] == []

    again = lite()
    run = httpx.get(f"{again.url}v1/runs/{run_id}", headers=again.headers, timeout=10).json()
    assert run["status"] == "failed"
    assert "interrupted" in run["error"]


def test_a_root_dir_that_does_not_exist_is_refused_with_a_message(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "jupyter_cts.server.lite",
            "--root-dir",
            str(tmp_path / "missing"),
            "--port",
            "0",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=lite_env(tmp_path),
    )
    assert done.returncode != 0
    assert "missing" in done.stderr and "not a folder" in done.stderr


def test_help_shows_the_options_and_an_example(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "jupyter_cts.server.lite", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env=lite_env(tmp_path),
    )
    assert done.returncode == 0
    for word in ("--port", "--root-dir", "Examples", "CTS_TOKEN"):
        assert word in done.stdout


def test_the_readme_demo_runs_end_to_end_through_cts_lite(tmp_path):
    """`make demo` (the README's first command) runs `python -m jupyter_cts.demo`."""
    out = tmp_path / "demo"
    done = subprocess.run(
        [sys.executable, "-m", "jupyter_cts.demo", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        env=lite_env(tmp_path),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "cts-lite stopped (exit code 0)" in done.stdout
    for heading in ("target windows", "set presses", "engaged intervals", "top candidate bits"):
        assert heading in done.stdout
    report = Path(done.stdout.split("report: ", 1)[1].split()[0])
    assert report.is_file() and report.stat().st_size > 1000
    assert "[engine] completed" in done.stdout, "the run's log was followed live"


def test_kernels_started_by_the_server_are_told_where_the_api_is(lite):
    """A notebook's client finds the server through CTS_URL/CTS_TOKEN in its kernel's environment."""
    server = lite("--CTSApp.kernel_env=True")
    http = httpx.Client(base_url=server.url, headers=server.headers, timeout=30)
    kernel = http.post("api/kernels", json={"name": "python3"}).json()
    try:
        deadline = time.monotonic() + 30
        kernels = []
        while not kernels and time.monotonic() < deadline:
            kernels = [
                p
                for p in psutil.Process(server.proc.pid).children(recursive=True)
                if kernel["id"] in " ".join(p.cmdline())
            ]
            time.sleep(0.1)
        assert kernels, "the kernel process never appeared"
        env = kernels[0].environ()
        assert env["CTS_URL"] == server.url
        assert env["CTS_TOKEN"] == server.token
    finally:
        http.delete(f"api/kernels/{kernel['id']}")
        http.close()


def test_the_installed_config_enables_the_extension_in_any_jupyter_server():
    """pip install puts jupyter-config/ into etc/jupyter/jupyter_server_config.d: Jupyter finds it."""
    shipped = json.loads(
        (
            Path(__file__).parents[1] / "jupyter-config" / "jupyter_server_config.d" / "jupyter_cts.json"
        ).read_text()
    )
    assert shipped == {"ServerApp": {"jpserver_extensions": {"jupyter_cts": True}}}
    installed = Path(sys.prefix) / "etc" / "jupyter" / "jupyter_server_config.d" / "jupyter_cts.json"
    assert json.loads(installed.read_text()) == shipped
    listing = subprocess.run(
        [sys.executable, "-m", "jupyter_server", "extension", "list"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    text = listing.stdout + listing.stderr
    assert "jupyter_cts enabled" in text.replace("\x1b[32m", "").replace("\x1b[0m", "")
    assert "jupyter_cts 0" in text and "OK" in text
