"""Check a run request before it is queued: the tool exists, params fit its model, the input is
readable, allowed and of the kind the tool takes, the timeout is within the server's maximum.

Every problem names its field the way pydantic does (``loc`` like ``["params", "speed_min"]`` or
``["input", "value"]``) so each door (REST, CLI, notebook form) can show it next to that field.
"""

from __future__ import annotations

import json
import os
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydantic

from jupyter_cts.engine.config import EngineConfig
from jupyter_cts.engine.models import RunInput, RunRequest
from jupyter_cts.engine.uploads import UploadStore
from jupyter_cts.errors import InputNotAllowedError, UnknownUploadError, ValidationError
from jupyter_cts.logs.decompress import container_of
from jupyter_cts.logs.source import resolve_segments
from jupyter_cts.registry import ToolRegistry
from jupyter_cts.tools.base import InputKind, Tool

ErrorList = list[dict[str, Any]]
_SEQUENCES = (list, tuple, set, frozenset)
_SNIFF_BYTES = 4096


@dataclass(frozen=True)
class ValidRun:
    """A request that passed every check, in the form the engine stores and the run process gets."""

    tool_id: str
    params: dict[str, Any]
    input: RunInput | None
    inputs: list[str]
    timeout_s: float


def validate_request(
    request: RunRequest, registry: ToolRegistry, config: EngineConfig, uploads: UploadStore
) -> ValidRun:
    """Raises UnknownToolError, InputNotAllowedError, or ValidationError listing every bad field."""
    tool = registry.get_tool(request.tool_id)
    errors: ErrorList = []
    inputs = _check_input(tool, request.input, config, uploads, errors)
    params = validate_params(tool, request.params, errors)
    timeout_s = _check_timeout(request.timeout_s, config, errors)
    if errors:
        raise ValidationError(f"invalid run request for tool {tool.id!r}: {summarize(errors)}", errors)
    assert params is not None
    run_input = request.input if tool.input_kind != InputKind.NONE else None
    return ValidRun(tool.id, params, run_input, inputs, timeout_s)


def summarize(errors: ErrorList) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors)


# -- params ----------------------------------------------------------------------------------------


def validate_params(tool: type[Tool], params: dict[str, Any], errors: ErrorList) -> dict[str, Any] | None:
    """The validated params with defaults filled (JSON mode), or None with ``errors`` extended."""
    model = tool.Params
    if not isinstance(params, dict):
        errors.append(
            {
                "loc": ["params"],
                "msg": "Input should be an object of parameter names and values",
                "type": "dict_type",
            }
        )
        return None
    unknown = _unknown_keys(model, params)
    if unknown and model.model_config.get("extra") != "forbid":
        errors.extend(
            {"loc": ["params", k], "msg": "Extra inputs are not permitted", "type": "extra_forbidden"}
            for k in unknown
        )
        return None
    try:
        validated = model.model_validate(coerce_cli_strings(model, params))
    except pydantic.ValidationError as exc:
        errors.extend(
            {"loc": ["params", *e["loc"]], "msg": e["msg"], "type": e["type"]}
            for e in exc.errors(include_url=False)
        )
        return None
    return validated.model_dump(mode="json")


def _unknown_keys(model: type[pydantic.BaseModel], params: dict[str, Any]) -> list[str]:
    known = set(model.model_fields)
    known |= {f.alias for f in model.model_fields.values() if f.alias}
    return sorted(k for k in params if k not in known)


def coerce_cli_strings(model: type[pydantic.BaseModel], params: dict[str, Any]) -> dict[str, Any]:
    """Strings for list fields (``-p buses=0,1`` or ``-p buses=[0,1]``) become lists.

    Pydantic's lax mode already turns ``"50"`` into 50.0 and ``"false"`` into False; lists are the
    one shape a ``key=value`` command line cannot spell, so they are split here.
    """
    out = dict(params)
    for name, field in model.model_fields.items():
        key = field.alias if field.alias and field.alias in out else name
        value = out.get(key)
        if isinstance(value, str) and _is_sequence(field.annotation):
            out[key] = _split(value)
    return out


def _is_sequence(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin in _SEQUENCES:
        return True
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return len(args) == 1 and _is_sequence(args[0])
    if origin is typing.Annotated:
        return _is_sequence(typing.get_args(annotation)[0])
    return False


def _split(value: str) -> Any:
    text = value.strip()
    if text.startswith("["):
        try:
            return json.loads(text)
        except ValueError:
            return value  # let pydantic report it
    return [part.strip() for part in text.split(",") if part.strip()]


# -- input -----------------------------------------------------------------------------------------


def _check_input(
    tool: type[Tool],
    run_input: RunInput | None,
    config: EngineConfig,
    uploads: UploadStore,
    errors: ErrorList,
) -> list[str]:
    given = run_input is not None and run_input.type != "none" and run_input.value not in (None, "", [])
    if tool.input_kind == InputKind.NONE:
        if given:
            errors.append(
                {
                    "loc": ["input"],
                    "msg": f"tool {tool.id!r} takes no input; leave input out",
                    "type": "input_not_accepted",
                }
            )
        return []
    if not given:
        what = (
            "an openpilot log (file, segment or route folder)"
            if tool.input_kind == InputKind.LOG
            else "a CSV file"
        )
        errors.append(
            {
                "loc": ["input"],
                "msg": f"tool {tool.id!r} needs {what}: give a path or an upload id",
                "type": "missing",
            }
        )
        return []
    assert run_input is not None
    if run_input.type == "upload":
        return _check_upload(run_input.value, uploads, errors)
    values = run_input.value if isinstance(run_input.value, list) else [run_input.value]
    paths: list[Path] = []
    for i, value in enumerate(values):
        loc: list[str | int] = ["input", "value"] + ([i] if isinstance(run_input.value, list) else [])
        path = resolve_allowed(str(value), config)
        if not path.exists():
            errors.append(
                {
                    "loc": loc,
                    "msg": f"{value}: no such file or folder (looked for {path})",
                    "type": "path_not_found",
                }
            )
        else:
            paths.append(path)
    if len(paths) == len(values):
        _check_kind(tool, paths, config, errors)
    return [str(p) for p in paths]


def _check_upload(value: Any, uploads: UploadStore, errors: ErrorList) -> list[str]:
    if not isinstance(value, str):
        errors.append(
            {"loc": ["input", "value"], "msg": "an upload input takes one upload id", "type": "string_type"}
        )
        return []
    try:
        return [str(uploads.path(value))]
    except UnknownUploadError as exc:
        errors.append({"loc": ["input", "value"], "msg": str(exc), "type": "upload_not_found"})
        return []


def resolve_allowed(value: str, config: EngineConfig) -> Path:
    """Absolute, symlinks resolved, and inside root_dir or an allowed folder (else InputNotAllowedError)."""
    path = Path(value).expanduser()
    if not path.is_absolute():
        path = config.root_dir / path
    resolved = path.resolve()
    roots = config.input_roots()
    if not any(resolved.is_relative_to(root) for root in roots):
        allowed = ", ".join(str(r) for r in roots)
        raise InputNotAllowedError(
            f"input path {value!r} resolves to {resolved}, outside the folders runs may read ({allowed}); "
            "move the log under one of them or ask the administrator to add its folder to allowed_input_dirs"
        )
    return resolved


def _check_kind(tool: type[Tool], paths: list[Path], config: EngineConfig, errors: ErrorList) -> None:
    """A log tool needs logs; a CSV tool takes a file (or, like can-bitwatch, a log folder)."""
    if tool.input_kind == InputKind.CSV and all(p.is_file() for p in paths):
        return
    try:
        segments = resolve_segments(paths if len(paths) > 1 else paths[0])
    except ValidationError as exc:
        errors.extend(exc.errors or [{"loc": ["input", "value"], "msg": str(exc), "type": "input_error"}])
        return
    for segment in segments:
        # A route folder inside root_dir could hold symlinks to files elsewhere: check each file.
        resolve_allowed(str(segment.path), config)
    for segment in segments:
        problem = sniff_log(segment.path)
        if problem is not None:
            errors.append({"loc": ["input", "value"], "msg": problem, "type": "not_a_log"})
            return


def sniff_log(path: Path) -> str | None:
    """Why ``path`` cannot be an openpilot log, from its first bytes; None when it may be one.

    Only the container is checked (zstd, bzip2, or raw Cap'n Proto framing): a damaged log is
    still a log, and the tool reports its damage with the byte offset.
    """
    try:
        with path.open("rb") as fh:
            head = fh.read(_SNIFF_BYTES)
            size = os.fstat(fh.fileno()).st_size
    except OSError as exc:
        return f"{path}: cannot be read ({exc.strerror}); check its permissions"
    if not head:
        return f"{path}: the file is empty; pass an rlog or qlog file that holds events"
    if container_of(head) != "raw" or _capnp_framing_ok(head, size):
        return None
    return (
        f"{path}: not an openpilot log (neither zstd nor bzip2 compressed, nor Cap'n Proto events); "
        "pass an rlog or qlog file, a segment folder or a route folder"
    )


def _capnp_framing_ok(head: bytes, size: int) -> bool:
    """The first message's segment table: a small count, then sizes that fit in the file."""
    if len(head) < 8:
        return False
    count = int.from_bytes(head[:4], "little") + 1
    table = 4 + 4 * count
    table += table % 8  # padded to a whole word
    if count > 512 or len(head) < table:
        return False
    words = [int.from_bytes(head[4 + 4 * i : 8 + 4 * i], "little") for i in range(count)]
    return words[0] > 0 and table + 8 * sum(words) <= size


def _check_timeout(timeout_s: float | None, config: EngineConfig, errors: ErrorList) -> float:
    value = config.default_timeout_s if timeout_s is None else float(timeout_s)
    if value > config.max_timeout_s:
        errors.append(
            {
                "loc": ["timeout_s"],
                "msg": f"Input should be at most {config.max_timeout_s:g} s (the server's max_timeout_s)",
                "type": "less_than_equal",
            }
        )
    return value
