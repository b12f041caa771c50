"""Writing a tool's files: CSV with a header row and a metadata sidecar, JSON with its metadata inside.

Every exported table can be traced back to the run that made it: the sidecar (``<name>.csv.meta.json``)
names the tool and version, the params, the input's sha256 and the run id, and lists the columns.
The CSV itself stays plain (no comment lines), so any spreadsheet or ``pandas.read_csv`` reads it.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from jupyter_cts.tools.base import Tool, ToolContext


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def combined_sha256(digests: Sequence[str]) -> str:
    """One digest for several input files: the file's own for one, else the sha256 of the digests in order."""
    if len(digests) == 1:
        return digests[0]
    return hashlib.sha256("".join(digests).encode()).hexdigest()


def run_metadata(
    tool: type[Tool] | Tool,
    params: BaseModel,
    ctx: ToolContext,
    *,
    input_sha256: str | None,
    input_files: list[dict[str, Any]] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """What makes a run reproducible: tool, version, params, input digest, run id, when."""
    return {
        "tool": tool.id,
        "tool_version": tool.version,
        "run_id": ctx.run_id,
        "params": params.model_dump(mode="json"),
        "input_sha256": input_sha256,
        "input_files": input_files or [],
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **extra,
    }


def jsonable(value: Any) -> Any:
    """NaN/inf become null (JSON has no NaN); numpy scalars become plain numbers."""
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item):
        return jsonable(value.item())
    return value


def write_json(ctx: ToolContext, name: str, payload: Any) -> Path:
    path = ctx.artifact(name)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(jsonable(payload), f, indent=2, allow_nan=False)
        f.write("\n")
    return path


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return ""
    if isinstance(value, list | dict):
        return json.dumps(jsonable(value), separators=(",", ":"))
    return value


def write_csv(
    ctx: ToolContext,
    name: str,
    columns: Sequence[str],
    rows: Iterable[dict[str, Any]],
    meta: dict[str, Any],
) -> list[Path]:
    """``name`` (ending in .csv) with exactly ``columns`` as header, plus ``name.meta.json``."""
    path = ctx.artifact(name)
    n = 0
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_cell(row.get(c)) for c in columns])
            n += 1
    sidecar = write_json(
        ctx, f"{name}.meta.json", {**meta, "file": name, "columns": list(columns), "rows": n}
    )
    return [path, sidecar]


def write_table(
    ctx: ToolContext,
    stem: str,
    columns: Sequence[str],
    rows: list[dict[str, Any]],
    meta: dict[str, Any],
    *,
    as_csv: bool,
    as_json: bool,
) -> list[Path]:
    """One table as ``stem.csv`` (+ sidecar) and/or ``stem.json`` (``{"metadata", "columns", "rows"}``)."""
    written: list[Path] = []
    if as_csv:
        written += write_csv(ctx, f"{stem}.csv", columns, rows, meta)
    if as_json:
        payload = {
            "metadata": meta,
            "columns": list(columns),
            "rows": [{c: r.get(c) for c in columns} for r in rows],
        }
        written.append(write_json(ctx, f"{stem}.json", payload))
    return written
