"""Helpers for engine tests: engines on temporary folders, and checks that no process is left."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from jupyter_cts.engine import EngineConfig, ExecutionEngine
from jupyter_cts.engine.models import Run, RunInput, RunRequest
from jupyter_cts.registry import ToolRegistry

PLUGINS_DIR = Path(__file__).resolve().parents[1]
TEST_GROUP = "jupyter_cts.test_tools"
TEMPLATE_MARK = "jupyter_cts.engine.executors.zygote"


def tools_registry() -> ToolRegistry:
    """Only the test tools: quick to preload, independent of the built-in tools."""
    return ToolRegistry(group=TEST_GROUP)


def run_request(
    tool_id: str, params: dict[str, Any] | None = None, path: str | list[str] | None = None, **kwargs: Any
) -> RunRequest:
    run_input = RunInput(type="path", value=path) if path is not None else None
    return RunRequest(tool_id=tool_id, params=params or {}, input=run_input, **kwargs)


@pytest.fixture
def make_engine(tmp_path: Path) -> Iterator[Callable[..., ExecutionEngine]]:
    """Build started engines on ``tmp_path``; all are stopped at the end of the test."""
    engines: list[ExecutionEngine] = []
    (tmp_path / "root").mkdir(exist_ok=True)
    # Servers that other test modules keep for their whole session are not this test's business.
    before = {p.pid for p in _descendants()}

    def make(start: bool = True, registry: ToolRegistry | None = None, **settings: Any) -> ExecutionEngine:
        settings.setdefault("data_dir", tmp_path / "data")
        settings.setdefault("root_dir", tmp_path / "root")
        settings.setdefault("max_concurrent_runs", 2)
        engine = ExecutionEngine(EngineConfig(**settings), registry=registry or tools_registry())
        engines.append(engine)
        if start:
            engine.start()
        return engine

    yield make
    for engine in engines:
        engine.stop()
    # Whatever the test did, nothing it started may outlive its engines, templates included.
    deadline = time.monotonic() + 5
    while _new_descendants(before) and time.monotonic() < deadline:
        time.sleep(0.02)
    leftovers = [p.cmdline() for p in _new_descendants(before)]
    assert leftovers == [], f"processes outlived the test's engines: {leftovers}"


def _new_descendants(before: set[int]) -> list[psutil.Process]:
    return [p for p in _descendants() if p.pid not in before]


def _descendants() -> list[psutil.Process]:
    found = []
    for proc in psutil.Process().children(recursive=True):
        try:
            if proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except psutil.NoSuchProcess:
            pass
    return found


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_until(condition: Callable[[], Any], timeout: float = 10, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def still_alive(pids: list[int], timeout: float = 5) -> list[int]:
    """The pids among ``pids`` that are still running after up to ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        living = [p for p in pids if alive(p)]
        if not living or time.monotonic() >= deadline:
            return living
        time.sleep(0.02)


def run_processes() -> list[psutil.Process]:
    """Run processes (and what they started) of the engines living in this test process.

    Those are the descendants of the process templates this process started itself; servers that
    other test modules keep running for their whole session (with templates of their own) are not
    counted.
    """
    found = []
    for child in psutil.Process().children():
        try:
            if TEMPLATE_MARK not in " ".join(child.cmdline()):
                continue
            for proc in child.children(recursive=True):
                if proc.status() != psutil.STATUS_ZOMBIE:
                    found.append(proc)
        except psutil.NoSuchProcess:
            continue
    return found


def logged_pids(engine: ExecutionEngine, run: Run, label: str) -> list[int]:
    """Pids a test tool wrote to its log as "<label> pid N"."""
    pattern = re.compile(rf"{re.escape(label)} pid (\d+)")
    return [int(m.group(1)) for r in engine.get_logs(run.run_id) for m in [pattern.fullmatch(r.message)] if m]


def assert_no_leftovers(*pids: int) -> None:
    """Every pid given is gone, and no run process of any engine remains under this process."""
    assert still_alive(list(pids)) == [], "processes of a run outlived it"
    deadline = time.monotonic() + 5
    while run_processes() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert run_processes() == [], f"leftover processes: {[p.cmdline() for p in run_processes()]}"
