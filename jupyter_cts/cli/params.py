"""``-p key=value`` into a params dict, guided by the tool's JSON Schema.

Scalars stay strings: the server validates and coerces them (``"50"`` -> 50.0, ``"false"`` ->
False) and its per-field errors are the ones people see, identical from every door. Only shapes a
string cannot express are built here: lists (``-p buses=0,1``, ``-p buses='[0, 1]'`` or the key
repeated), objects (JSON), and ``null`` for optional parameters (``-p engaged_bit=none``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from jupyter_cts.cli.render import json_types

NULL_WORDS = frozenset({"", "none", "null"})


class ParamError(ValueError):
    """A ``-p`` argument that cannot be read; the message names it and shows the right form."""


def split_pairs(pairs: Sequence[str]) -> list[tuple[str, str]]:
    """``KEY=VALUE`` strings as (key, raw value); checked before any server is asked anything."""
    split = []
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise ParamError(f"-p {pair!r} is not KEY=VALUE (for example -p speed_min=50)")
        split.append((key.strip(), raw))
    return split


def parse_params(pairs: Sequence[str], schema: dict[str, Any] | None = None) -> dict[str, Any]:
    schema = schema or {}
    properties = schema.get("properties") or {}
    params: dict[str, Any] = {}
    for key, raw in split_pairs(pairs):
        types = json_types(schema, properties[key]) if key in properties else []
        if "array" in types and not _is_null(raw, types):
            params.setdefault(key, [])
            if not isinstance(params[key], list):
                raise ParamError(f"-p {key} is given twice")
            params[key].extend(_list(key, raw))
            continue
        if key in params:
            raise ParamError(f"-p {key} is given twice; give each parameter once")
        params[key] = _scalar(key, raw, types)
    return params


def _is_null(raw: str, types: list[str]) -> bool:
    return "null" in types and raw.strip().lower() in NULL_WORDS


def _list(key: str, raw: str) -> list[Any]:
    text = raw.strip()
    if text.startswith("["):
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise ParamError(
                f'-p {key}={raw} is not a JSON list ({exc}); write -p {key}=a,b or \'["a", "b"]\''
            ) from exc
        if not isinstance(value, list):
            raise ParamError(f"-p {key}={raw} must be a list")
        return value
    return [item.strip() for item in text.split(",") if item.strip()]


def _scalar(key: str, raw: str, types: list[str]) -> Any:
    if _is_null(raw, types):
        return None
    if types and all(t == "object" or t == "null" for t in types):
        try:
            return json.loads(raw)
        except ValueError as exc:
            raise ParamError(f"-p {key} takes a JSON object ({exc})") from exc
    return raw
