"""What the CLI stories need: a real ``cts-lite``, a Jupyter server without the extension, and a way
to run the real ``cts`` command as a subprocess, the way a person at a shell does.

Loaded as a pytest plugin from ``tests/conftest.py`` so the servers start once per session.
Every process started here is stopped at the end; each gets an isolated environment (its own
Jupyter runtime folder, no CTS_* variables from the developer's shell).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from lite_harness import clean_env, running_lite

CTS = [sys.executable, "-m", "jupyter_cts.cli"]


@dataclass
class Result:
    """What a person sees after a command: its exit code, stdout and stderr."""

    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def __repr__(self) -> str:  # shown by pytest when an assertion on a result fails
        return f"exit {self.code}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


@dataclass
class Server:
    url: str
    token: str
    root_dir: Path
    runtime_dir: Path
    data_dir: Path
    log_path: Path

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    def env(self, **extra: str) -> dict[str, str]:
        """The environment of a shell where ``CTS_URL``/``CTS_TOKEN`` point at this server."""
        return clean_env(self.runtime_dir, **{"CTS_URL": self.url, "CTS_TOKEN": self.token, **extra})

    def get_run(self, run_id: str) -> dict:
        """The run as the server reports it, read with plain HTTP (not through the code under test)."""
        response = httpx.get(f"{self.url}v1/runs/{run_id}", headers=self.headers, timeout=10)
        response.raise_for_status()
        return response.json()

    def wait_final(self, run_id: str, timeout: float = 60.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            run = self.get_run(run_id)
            if run["status"] in ("completed", "failed", "canceled"):
                return run
            if time.monotonic() > deadline:
                raise AssertionError(f"run {run_id} still {run['status']} after {timeout} s")
            time.sleep(0.1)


def cts(args: Sequence[str], *, env: dict[str, str], cwd: Path | None = None, timeout: float = 120) -> Result:
    """Run ``cts ARGS`` to the end, as a shell would."""
    done = subprocess.run(
        [*CTS, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )
    return Result(done.returncode, done.stdout, done.stderr)


def start_cts(args: Sequence[str], *, env: dict[str, str], cwd: Path | None = None) -> subprocess.Popen[str]:
    """Start ``cts ARGS`` without waiting (to interrupt it, or to watch it work)."""
    return subprocess.Popen(
        [*CTS, *args], env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_answering(url: str, proc: subprocess.Popen, log_path: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}; see {log_path}")
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"the server at {url} never answered; see {log_path}")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


SLEEPER = "cli-test-sleeper"
_SLEEPER_MODULE = '''"""A tool whose run takes as long as asked: for waiting, following, Ctrl-C, cancel."""

import logging
import time

from pydantic import Field

from jupyter_cts.errors import ToolError
from jupyter_cts.tools.base import InputKind, Tool, ToolParams

log = logging.getLogger(__name__)


class SleeperParams(ToolParams):
    seconds: float = Field(2.0, ge=0, le=120, description="How long to run.", json_schema_extra={"unit": "s"})
    fail: bool = Field(False, description="Fail at the end instead of completing.")


class Sleeper(Tool):
    id = "cli-test-sleeper"
    name = "Sleeper (CLI tests)"
    description = "Sleeps in steps of 0.1 s, logging and reporting progress each step."
    category = "test"
    input_kind = InputKind.NONE
    Params = SleeperParams

    def run(self, inputs, params, ctx):
        steps = max(1, round(params.seconds / 0.1))
        for step in range(1, steps + 1):
            time.sleep(params.seconds / steps)
            log.info("step %d of %d", step, steps)
            ctx.progress(100.0 * step / steps, f"slept step {step} of {steps}")
        ctx.artifact("steps.txt").write_text("\\n".join(str(i) for i in range(1, steps + 1)))
        if params.fail:
            raise ToolError("the sleeper was asked to fail (fail=true)")
        return {"slept_s": params.seconds, "steps": list(range(1, steps + 1)), "warnings": []}
'''


def write_test_plugin(folder: Path) -> Path:
    """An installed-looking package (module + dist-info with an entry point) that adds the sleeper tool.

    Put ``folder`` on PYTHONPATH and the registry discovers it like any third-party tool package.
    """
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "cts_cli_test_tools.py").write_text(_SLEEPER_MODULE)
    info = folder / "cts_cli_test_tools-1.0.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: cts-cli-test-tools\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[jupyter_cts.tools]\n{SLEEPER} = cts_cli_test_tools:Sleeper\n")
    return folder


@pytest.fixture(scope="session")
def plugin_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_test_plugin(tmp_path_factory.mktemp("plugins"))


@pytest.fixture(scope="session")
def cts_lite(tmp_path_factory: pytest.TempPathFactory, plugin_dir: Path) -> Iterator[Server]:
    """A real ``cts-lite`` on a free 127.0.0.1 port, with its own root, data and runtime folders, and
    the test sleeper tool installed next to the built-in tools."""
    base = tmp_path_factory.mktemp("cts-lite")
    with running_lite(base, plugins=plugin_dir) as lite:
        yield Server(
            lite.url, lite.token, base / "root", base / "runtime", base / "data", base / "server.log"
        )


@pytest.fixture(scope="session")
def plain_jupyter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A real Jupyter server with no extensions at all: what ``cts`` meets when jupyter_cts is off."""
    base = tmp_path_factory.mktemp("plain-jupyter")
    runtime = base / "runtime"
    runtime.mkdir()
    port, token = free_port(), "plain-token"
    log_path = base / "server.log"
    code = (
        "from jupyter_server.serverapp import ServerApp\n"
        f"app = ServerApp.instance(open_browser=False, ip='127.0.0.1', port={port}, port_retries=0,"
        f" root_dir={str(base)!r}, jpserver_extensions={{}}, allow_root=True)\n"
        f"app.initialize(argv=['--IdentityProvider.token={token}'], find_extensions=False)\n"
        "app.start()\n"
    )
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-c", code],
            env=clean_env(runtime),
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_answering(f"{url}api/status", proc, log_path)
        yield Server(url, token, base, runtime, base, log_path)
    finally:
        _stop(proc)


@pytest.fixture(scope="session")
def segment(cts_lite: Server) -> str:
    """A generated one-minute Subaru segment inside the server's root, written by ``cts synth``.

    Returned as the path relative to the server's root folder, the way a person passes ``--path``.
    """
    out = cts_lite.root_dir / "drive"
    result = cts(["synth", "--out", str(out)], env=clean_env(cts_lite.runtime_dir))
    assert result.code == 0, result
    truth = json.loads((out / "truth.json").read_text())
    return str(Path("drive") / truth["segments"][0]["path"])
