"""Plain JSON from what analyses produce, shared by the tools (artifacts) and the engine (result.json).

JSON has no NaN, numpy types or dates; every layer that writes a result must turn them into the same
plain values, so there is one conversion.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def jsonable(value: Any) -> Any:
    """Plain JSON: numpy scalars and arrays, paths and dates converted; NaN and infinities as null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {_key(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | bool):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "model_dump"):
        return jsonable(value.model_dump(mode="json"))
    if hasattr(value, "tolist"):  # numpy arrays and scalars, without importing numpy here
        return jsonable(value.tolist())
    if hasattr(value, "item"):
        return jsonable(value.item())
    raise TypeError(
        f"the result holds a value of type {type(value).__name__}, which is not JSON: convert it in the tool"
    )


def _key(key: Any) -> str:
    """A dict key as the JSON encoder writes it (``True`` as "true", ``None`` as "null")."""
    if isinstance(key, str):
        return key
    return json.dumps(key) if key is None or isinstance(key, bool) else str(key)


def encode_plain(encode: Callable[[Any], T], value: Any) -> T:
    """``encode(jsonable(value))``, without walking a value that is plain JSON already.

    ``encode`` must refuse what is not strict JSON (the C encoder with ``allow_nan=False`` refuses
    whatever ``jsonable`` would change: numpy values, NaN, paths, dates), so trying it first is far
    cheaper than converting a large value that needs nothing.
    """
    try:
        return encode(value)
    except (TypeError, ValueError):
        return encode(jsonable(value))


def dumps_any(value: Any) -> str:
    """``dumps(jsonable(value))`` (see :func:`encode_plain`)."""
    return encode_plain(dumps, value)


def compact_any(value: Any) -> str:
    """``value`` as one line of compact plain JSON (``jsonable`` applied only when needed)."""
    return encode_plain(_compact, value)


def _compact(value: Any) -> str:
    return json.dumps(value, allow_nan=False, separators=(",", ":"))


def dumps(value: Any) -> str:
    """Plain JSON (see :func:`jsonable`) as text a person can read: objects indented by two spaces,
    a list that holds objects or lists one item per line, each line compact.

    ``json.dumps(indent=...)`` encodes in pure Python (the C encoder has no indentation), which made
    writing a route's ``result.json`` a visible step; here every line goes through the C encoder.
    Raises ``ValueError`` on NaN or infinity, as the result must be strict JSON.
    """
    return _readable(value, "")


def _readable(value: Any, pad: str) -> str:
    inner = pad + "  "
    if isinstance(value, dict) and value:
        items = (f"{inner}{_line(_key(k))}: {_readable(v, inner)}" for k, v in value.items())
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(value, list | tuple) and any(isinstance(v, dict | list | tuple) for v in value):
        return "[\n" + ",\n".join(inner + _line(v) for v in value) + "\n" + pad + "]"
    return _line(value)


def _line(value: Any) -> str:
    return json.dumps(value, allow_nan=False, separators=(", ", ": "))
