"""Writing a tool's files: CSV with a header row and a metadata sidecar, JSON with its metadata inside.

Every exported table can be traced back to the run that made it: the sidecar (``<name>.csv.meta.json``)
names the tool and version, the params, the input's sha256 and the run id, and lists the columns.
The CSV itself stays plain (no comment lines), so any spreadsheet or ``pandas.read_csv`` reads it.
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
import math
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from jupyter_cts.jsonable import compact_any, dumps_any, encode_plain, jsonable
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


def write_json(ctx: ToolContext, name: str, payload: Any) -> Path:
    path = ctx.artifact(name)
    path.write_text(dumps_any(payload) + "\n", encoding="utf-8")  # one string, one write
    return path


# Cells of these types go to a CSV writer and the JSON encoder as they are (csv writes None as "");
# floats too, once a column is known to hold no NaN or infinity.
_PLAIN = frozenset({int, str, bool, type(None)})
_SCALARS = _PLAIN | {float}
CSV_CHUNK_ROWS = 10_000  # rows turned into columns at a time: a generator of rows stays a stream


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return ""
    if isinstance(value, list | dict):
        return compact_any(value)
    return value


def _columns(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> list[list[Any]]:
    """The rows' values column by column (a missing key as None)."""
    return [[row.get(c) for row in rows] for c in columns]


def _csv_column(values: list[Any]) -> list[Any]:
    kinds = set(map(type, values))
    if kinds <= _PLAIN or (kinds <= _SCALARS and _finite([v for v in values if type(v) is float])):
        return values
    return [_cell(v) for v in values]


def _finite(floats: list[float]) -> bool:
    """No NaN or infinity among ``floats`` (one C-level sum instead of a check per value)."""
    try:
        return math.isfinite(math.fsum(floats))
    except (OverflowError, ValueError):  # an infinity, or a sum too large for a float
        return False


def write_csv(
    ctx: ToolContext,
    name: str,
    columns: Sequence[str],
    rows: Iterable[dict[str, Any]],
    meta: dict[str, Any],
) -> list[Path]:
    """``name`` (ending in .csv) with exactly ``columns`` as header, plus ``name.meta.json``.

    Cells are converted a column at a time (most columns need nothing) and written with
    ``writerows``: a Python call per cell was most of the cost of a long table.
    """
    path = ctx.artifact(name)
    n = 0
    it = iter(rows)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(columns)
        while chunk := list(itertools.islice(it, CSV_CHUNK_ROWS)):
            writer.writerows(zip(*(_csv_column(col) for col in _columns(chunk, columns)), strict=True))
            n += len(chunk)
    sidecar = write_json(
        ctx, f"{name}.meta.json", {**meta, "file": name, "columns": list(columns), "rows": n}
    )
    return [path, sidecar]


def _json_values(values: list[Any], indent: str) -> list[str]:
    """Each value as ``json.dumps(jsonable(...), indent=2)`` writes it ``indent`` deep."""
    if set(map(type, values)) <= _SCALARS:
        return encode_plain(_one_per_line, values)  # converted only for a NaN or an infinity
    values = [jsonable(v) for v in values]
    if set(map(type, values)) <= _SCALARS:
        return _one_per_line(values)
    return [json.dumps(v, indent=2, allow_nan=False).replace("\n", "\n" + indent) for v in values]


def _one_per_line(values: list[Any]) -> list[str]:
    """Scalars, each as the encoder writes it: the whole column through the C encoder (an ASCII
    encoding has no raw newline of its own, so newlines can separate the items)."""
    return json.dumps(values, separators=("\n", ": "), allow_nan=False)[1:-1].split("\n")


def table_json(meta: dict[str, Any], columns: Sequence[str], rows: Sequence[dict[str, Any]]) -> str:
    """``{"metadata", "columns", "rows"}`` exactly as ``json.dumps(jsonable(...), indent=2)`` writes
    it, with the rows encoded a column at a time: json's indenting encoder is pure Python and was
    most of the cost of the JSON exports."""
    payload = {"metadata": meta, "columns": list(columns), "rows": [] if columns else [{} for _ in rows]}
    head = json.dumps(jsonable(payload), indent=2, allow_nan=False)
    if not rows or not columns:
        return head
    # a row as the encoder indents it (its keys 6 deep), with a format field for each value
    keys = [json.dumps(str(c)).replace("{", "{{").replace("}", "}}") for c in columns]
    row = "    {{\n" + ",\n".join(f"      {k}: {{}}" for k in keys) + "\n    }}"
    values = [_json_values(col, " " * 6) for col in _columns(rows, columns)]
    body = ",\n".join(map(row.format, *values))
    return head.removesuffix("[]\n}") + "[\n" + body + "\n  ]\n}"


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
        path = ctx.artifact(f"{stem}.json")
        path.write_text(table_json(meta, columns, rows) + "\n", encoding="utf-8")
        written.append(path)
    return written
