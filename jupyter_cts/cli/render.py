"""Text a person reads: tool listings, run summaries, tables. No I/O here, only strings."""

from __future__ import annotations

import json
import shutil
import textwrap
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from jupyter_cts.engine.models import Artifact, LogRecord, Run, ToolInfo

# --- tools and their parameters ---------------------------------------------------------------------


def tool_block(tool: ToolInfo) -> list[str]:
    """A tool with each parameter's type, default, unit and description."""
    lines = [f"{tool.id}  ({tool.name}; {tool.category}, v{tool.version}, input: {tool.input})"]
    if tool.description:
        lines.extend(_wrap(tool.description, "  "))
    params = param_rows(tool.params_schema)
    if not params:
        lines.append("  parameters: none")
        return lines
    lines.append("  parameters:")
    name_w = max(len(p["name"]) for p in params)
    type_w = max(len(p["type"]) for p in params)
    for p in params:
        extras = "  ".join(x for x in (p["default"], p["unit"], p["range"]) if x)
        head = f"    {p['name']:<{name_w}}  {p['type']:<{type_w}}  {extras}".rstrip()
        lines.append(head)
        if p["description"]:
            lines.extend(_wrap(p["description"], " " * (name_w + 6)))
    return lines


def _wrap(text: str, indent: str) -> list[str]:
    width = min(110, max(60, shutil.get_terminal_size((100, 24)).columns - 1))
    return textwrap.wrap(" ".join(text.split()), width, initial_indent=indent, subsequent_indent=indent)


def param_rows(schema: dict[str, Any]) -> list[dict[str, str]]:
    """One row per parameter: name, type, default, unit, range, description (all display strings)."""
    properties = schema.get("properties") or {}
    required = set(schema.get("required") or [])
    rows = []
    for name, prop in properties.items():
        resolved = resolve(schema, prop)
        rows.append(
            {
                "name": name,
                "type": type_label(schema, prop),
                "default": "required"
                if name in required
                else f"default {_value(prop.get('default'))}"
                if "default" in prop
                else "",
                "unit": f"[{unit}]" if (unit := unit_of(prop, resolved)) else "",
                "range": _range(resolved),
                "description": str(prop.get("description") or resolved.get("description") or "").strip(),
            }
        )
    return rows


def resolve(root: dict[str, Any], prop: dict[str, Any]) -> dict[str, Any]:
    """Follow a local ``$ref`` (pydantic puts enums and nested models under ``$defs``)."""
    ref = prop.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        node: Any = root
        for part in ref[2:].split("/"):
            node = node.get(part, {}) if isinstance(node, dict) else {}
        return {**node, **{k: v for k, v in prop.items() if k != "$ref"}}
    return prop


def json_types(root: dict[str, Any], prop: dict[str, Any]) -> list[str]:
    """The JSON types a property accepts, nulls included (``anyOf``/``oneOf`` flattened)."""
    prop = resolve(root, prop)
    if "enum" in prop:
        return ["enum"]
    if "const" in prop:
        return ["const"]
    kind = prop.get("type")
    if isinstance(kind, list):
        return [str(k) for k in kind]
    if isinstance(kind, str):
        return [kind]
    types: list[str] = []
    for option in prop.get("anyOf") or prop.get("oneOf") or prop.get("allOf") or []:
        types.extend(t for t in json_types(root, option) if t not in types)
    return types


def type_label(root: dict[str, Any], prop: dict[str, Any]) -> str:
    options: list[dict[str, Any]] = prop.get("anyOf") or prop.get("oneOf") or [prop]
    labels: list[str] = []
    for option in options:
        option = resolve(root, option)
        if "enum" in option:
            label = "|".join(str(v) for v in option["enum"])
        elif "const" in option:
            label = repr(option["const"])
        elif option.get("type") == "array":
            label = f"list[{type_label(root, option.get('items') or {})}]"
        elif isinstance(option.get("type"), str):
            label = str(option["type"])
        elif isinstance(option.get("type"), list):
            label = "|".join(option["type"])
        else:
            label = "any"
        if label not in labels:
            labels.append(label)
    if "null" in labels and len(labels) > 1:
        labels.remove("null")
        return " or ".join(labels) + " (optional)"
    return " or ".join(labels)


def unit_of(prop: dict[str, Any], resolved: dict[str, Any]) -> str:
    for key in ("unit", "x-unit", "units"):
        if prop.get(key) or resolved.get(key):
            return str(prop.get(key) or resolved.get(key))
    return ""


def _range(prop: dict[str, Any]) -> str:
    low = prop.get("minimum", prop.get("exclusiveMinimum"))
    high = prop.get("maximum", prop.get("exclusiveMaximum"))
    if low is None and high is None:
        for option in prop.get("anyOf") or []:
            low = option.get("minimum", option.get("exclusiveMinimum", low))
            high = option.get("maximum", option.get("exclusiveMaximum", high))
    if low is None and high is None:
        return ""
    return f"range {_value(low) if low is not None else ''}..{_value(high) if high is not None else ''}"


def _value(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(_value(v) for v in value) or "[]"
    return str(value)


# --- runs ---------------------------------------------------------------------------------------------


def run_detail(run: Run) -> list[str]:
    """``cts status``: every field a person may ask about."""
    rows: list[tuple[str, str]] = [
        ("run", run.run_id),
        ("tool", run.tool_id),
        ("name", run.name or ""),
        ("status", _status_text(run)),
        ("input", _input_text(run)),
        ("params", ", ".join(f"{k}={_value(v)}" for k, v in run.params.items())),
        ("created", _time(run.created_at)),
        ("started", _time(run.started_at)),
        ("completed", _time(run.completed_at)),
        ("timeout", f"{run.timeout_s:g} s" if run.timeout_s else ""),
        ("error", run.error or ""),
        ("metrics", metrics_text(run)),
        ("artifacts", ", ".join(a.name for a in run.artifacts)),
    ]
    return [f"{key + ':':<11}{value}" for key, value in rows if value]


def run_headline(run: Run) -> str:
    """One sentence: what became of the run and how long it took."""
    took = f" in {run.metrics.wall_s:.1f} s" if run.metrics.wall_s is not None else _elapsed(run)
    line = f"run {run.run_id} ({run.tool_id}) {run.status}{took}"
    extra = metrics_text(run, wall=False)
    return f"{line} ({extra})" if extra else line


def metrics_text(run: Run, *, wall: bool = True) -> str:
    m = run.metrics
    parts = []
    if wall and m.wall_s is not None:
        parts.append(f"wall {m.wall_s:.1f} s")
    if m.cpu_s is not None:
        parts.append(f"cpu {m.cpu_s:.1f} s")
    if m.max_rss_mb is not None:
        parts.append(f"peak memory {m.max_rss_mb:.0f} MB")
    return ", ".join(parts)


def runs_table(runs: list[Run]) -> list[str]:
    header = ("RUN", "STATUS", "PROGRESS", "TOOL", "CREATED", "NAME")
    rows = [
        (r.run_id, str(r.status), f"{r.progress:.0f}%", r.tool_id, _time(r.created_at), r.name or "")
        for r in runs
    ]
    return table(header, rows)


def artifacts_table(artifacts: list[Artifact]) -> list[str]:
    rows = [(a.name, human_size(a.size), a.content_type) for a in artifacts]
    return table(("NAME", "SIZE", "TYPE"), rows)


def table(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> list[str]:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=False)]
    return [
        "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=False)).rstrip()
        for row in (header, *rows)
    ]


def log_line(record: LogRecord) -> str:
    source = "" if record.source == "log" else f"[{record.source}] "
    return f"{record.t.astimezone():%H:%M:%S} {record.level:<7} {source}{record.message}"


def result_summary(result: dict[str, Any], limit: int = 14) -> list[str]:
    """A tool-agnostic digest of a result: how many of each thing it found, then its warnings.

    Every tool's result has its own shape; counting the lists (one level into sections) says the
    most in the fewest lines: ``target_windows: 2 items``, ``buttons.set_presses: 2 items``.
    ``input`` and ``metadata`` (SPEC fields of every tool) are summarised in one line or skipped.
    """
    lines: list[str] = []
    source = result.get("input")
    if isinstance(source, dict):
        scalars = [f"{k}={_value(v)}" for k, v in source.items() if isinstance(v, int | float | str | bool)]
        if scalars:
            lines.append("input: " + ", ".join(scalars[:4]))
    for key, value in result.items():
        if key in ("input", "metadata", "warnings"):
            continue
        if isinstance(value, list):
            lines.append(f"{key}: {_count(value)}")
        elif isinstance(value, dict):
            lines.extend(
                f"{key}.{sub}: {_count(inner)}" for sub, inner in value.items() if isinstance(inner, list)
            )
    warnings = result.get("warnings")
    if len(lines) > limit:
        lines = lines[:limit] + [f"... ({len(lines) - limit} more; `cts result RUN` prints it all)"]
    if isinstance(warnings, list):
        lines.extend(f"warning: {w if isinstance(w, str) else json.dumps(w)}" for w in warnings)
    return lines


def _count(items: list[Any]) -> str:
    return f"{len(items)} item{'s' if len(items) != 1 else ''}"


def human_size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def _status_text(run: Run) -> str:
    text = str(run.status)
    if not run.status.is_final or run.progress:
        text += f" {run.progress:.0f}%"
    if run.progress_message:
        text += f"  {run.progress_message}"
    return text


def _input_text(run: Run) -> str:
    if run.input is None or run.input.value is None:
        return ""
    value = run.input.value
    shown = ", ".join(value) if isinstance(value, list) else value
    return f"{run.input.type} {shown}"


def _time(value: datetime | None) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S") if value else ""


def _elapsed(run: Run) -> str:
    if run.started_at and run.completed_at:
        return f" in {(run.completed_at - run.started_at).total_seconds():.1f} s"
    return ""
