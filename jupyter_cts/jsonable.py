"""Plain JSON from what analyses produce, shared by the tools (artifacts) and the engine (result.json).

JSON has no NaN, numpy types or dates; every layer that writes a result must turn them into the same
plain values, so there is one conversion.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from pathlib import Path
from typing import Any


def jsonable(value: Any) -> Any:
    """Plain JSON: numpy scalars and arrays, paths and dates converted; NaN and infinities as null."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
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
