"""What the CLI stories need: a real ``cts-lite``, a Jupyter server without the extension, and a way
to run the real ``cts`` command as a subprocess, the way a person at a shell does.

Loaded as a pytest plugin from ``tests/conftest.py`` so the servers start once per session.
Every process started here is stopped at the end; each gets an isolated environment (its own
Jupyter runtime folder, no CTS_* variables from the developer's shell).
"""

from __future__ import annotations

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

CTS = [sys.executable, "-m", "jupyter_cts.cli"]
_FOREIGN_VARS = ("CTS_", "JUPYTER_CTS_", "JUPYTERHUB_", "JPY_")


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


def clean_env(runtime_dir: Path, **extra: str) -> dict[str, str]:
    """This process's environment minus anything that would point ``cts`` at another server."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_FOREIGN_VARS)}
    env["JUPYTER_RUNTIME_DIR"] = str(runtime_dir)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


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


@pytest.fixture(scope="session")
def cts_lite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A real ``cts-lite`` on a free 127.0.0.1 port, with its own root, data and runtime folders."""
    from jupyter_cts.server.lite import launch

    base = tmp_path_factory.mktemp("cts-lite")
    root, data, runtime = base / "root", base / "data", base / "runtime"
    for folder in (root, data, runtime):
        folder.mkdir()
    log_path = base / "server.log"
    server = launch(
        root,
        data_dir=data,
        env=clean_env(runtime),
        log_path=log_path,
        args=["--CTSApp.max_concurrent_runs=2", "--ServerApp.allow_root=True"],
    )
    try:
        yield Server(server.url, server.token, root, runtime, data, log_path)
    finally:
        server.stop()


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
