"""``cts run TOOL --local``: the same engine inside the calling process, no server.

The run still executes in its own process with the same validation, logs, result and artifacts as
through the server; only the doors differ. The returned run's artifacts carry ``file://`` URLs,
so a caller can copy them without knowing where the data folder is.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from jupyter_cts.engine.config import EngineConfig
from jupyter_cts.engine.engine import ExecutionEngine
from jupyter_cts.engine.events import RunEvent
from jupyter_cts.engine.models import Run, RunRequest
from jupyter_cts.registry import ToolRegistry


def run_local(
    request: RunRequest,
    data_dir: str | Path | None = None,
    root_dir: str | Path | None = None,
    on_event: Callable[[RunEvent], None] | None = None,
    *,
    allowed_input_dirs: list[Path] | None = None,
    registry: ToolRegistry | None = None,
    wait_timeout: float | None = None,
) -> Run:
    """Validate, run and wait for one run; ``on_event`` gets its log and status events live.

    ``data_dir`` defaults to a new temporary folder, which is kept (it holds the artifacts).
    Several ``run_local`` calls (processes or threads) may use the same ``data_dir`` at once.
    ``root_dir`` defaults to the current directory. Inputs may come from anywhere the user can
    read (``allowed_input_dirs`` defaults to ``/``): on one's own machine there is no server
    boundary to protect. Raises what ``ExecutionEngine.start_run`` raises for invalid requests.
    A KeyboardInterrupt stops the engine, which kills the run, and is re-raised.
    """
    folder = Path(data_dir) if data_dir is not None else Path(tempfile.mkdtemp(prefix="cts-local-"))
    config = EngineConfig(
        data_dir=folder,
        root_dir=Path(root_dir) if root_dir is not None else Path.cwd(),
        allowed_input_dirs=allowed_input_dirs if allowed_input_dirs is not None else [Path("/")],
        max_concurrent_runs=1,
        max_queued_runs=1,
        shared_data_dir=True,  # parallel `cts run --local` calls may share a data folder
    )
    engine = ExecutionEngine(config, registry=registry)
    unsubscribe = engine.subscribe(on_event) if on_event is not None else None
    engine.start()
    try:
        run = engine.start_run(request)
        run = engine.wait(run.run_id, wait_timeout)
    finally:
        engine.stop()
        if unsubscribe is not None:
            unsubscribe()
    for artifact in run.artifacts:
        artifact.url = engine.artifact_path(run.run_id, artifact.name).as_uri()
    return run
