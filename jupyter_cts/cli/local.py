"""``cts run --local``: the same engine, inside this process; no server, same outputs.

Runs are stored in a folder of their own (``CTS_LOCAL_DATA_DIR``, default
``<jupyter data dir>/cts-local``), never in a server's store: a local engine starting up would
otherwise "recover" a live server's running runs as interrupted. Inputs are the user's own files,
so any readable path is accepted (the engine's ``run_local`` allows ``/``); relative paths are
relative to the current folder.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from jupyter_cts.cli import render
from jupyter_cts.cli.exitcodes import ExitCode
from jupyter_cts.cli.output import Output, ProgressLine
from jupyter_cts.cli.params import parse_params
from jupyter_cts.cli.waiting import Interrupted, report
from jupyter_cts.client.api import safe_file_name
from jupyter_cts.client.errors import UnsafeNameError
from jupyter_cts.engine.models import RunInput, RunRequest, RunStatus
from jupyter_cts.errors import UnknownToolError


def local_data_dir() -> Path:
    configured = os.environ.get("CTS_LOCAL_DATA_DIR")
    if configured:
        return Path(configured).expanduser()
    from jupyter_core.paths import jupyter_data_dir

    return Path(jupyter_data_dir()) / "cts-local"


def run_locally(
    tool_id: str,
    inputs: Sequence[str],
    param_pairs: Sequence[str],
    *,
    name: str | None,
    timeout_s: float | None,
    follow: bool,
    out_dir: Path | None,
    out: Output,
) -> int:
    """Validate, run and report like the server path does; returns the exit code."""
    from jupyter_cts.engine.local import run_local
    from jupyter_cts.engine.models import Run
    from jupyter_cts.registry import ToolRegistry

    registry = ToolRegistry()
    registry.discover_tools()
    try:
        tool = registry.get_tool(tool_id)
    except UnknownToolError:
        known = ", ".join(sorted(t.id for t in registry.tools())) or "none"
        raise UnknownToolError(f"there is no tool {tool_id!r}; the installed tools are: {known}") from None
    values = parse_params(param_pairs, tool.params_schema())
    request = RunRequest(
        tool_id=tool_id,
        params=values,
        input=_input([os.path.expanduser(p) for p in inputs]),
        name=name,
        timeout_s=timeout_s,
    )
    data_dir = local_data_dir()
    bar = ProgressLine(redraw=None if not follow else False)

    def on_event(event: object) -> None:
        record = getattr(event, "record", None)
        run: Run | None = getattr(event, "run", None)
        if getattr(event, "kind", "") == "log" and record is not None and follow:
            line = render.log_line(record)
            out.info(line) if out.json_mode else out.text(line)
        elif run is not None:
            bar.update(run)

    out.info(f"running {tool_id} locally (runs are kept in {data_dir})")
    try:
        final = run_local(
            request, data_dir=data_dir, root_dir=Path.cwd(), on_event=on_event, registry=registry
        )
    except KeyboardInterrupt:
        raise Interrupted(
            "interrupted: the local run was stopped (local runs end with the cts process)"
        ) from None
    finally:
        bar.close()
    run_dir = data_dir / "runs" / final.run_id
    result = _read_json(run_dir / "result.json") if final.status == RunStatus.COMPLETED else None
    code = report(None, final, out, result=result)
    artifacts_dir = run_dir / "artifacts"
    if out_dir is not None:
        _copy_artifacts(artifacts_dir, out_dir, out)
    elif final.artifacts:
        out.info(f"artifacts: {artifacts_dir}")
    if final.status == RunStatus.FAILED:
        out.info(f"the full log: {run_dir / 'log.jsonl'}")
    return code if isinstance(code, int) else ExitCode.OK


def _input(paths: list[str]) -> RunInput | None:
    if not paths:
        return None
    return RunInput(type="path", value=paths[0] if len(paths) == 1 else paths)


def _copy_artifacts(source: Path, dest: Path, out: Output) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    copied = 0
    for item in sorted(source.iterdir()) if source.is_dir() else []:
        try:
            target = dest / safe_file_name(item.name)
        except UnsafeNameError as exc:
            out.info(f"warning: {exc}")
            continue
        if item.is_file():
            shutil.copyfile(item, target)
            copied += 1
    out.info(f"saved {copied} artifact{'s' if copied != 1 else ''} to {dest}")


def _read_json(path: Path) -> dict | None:
    import json

    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None
