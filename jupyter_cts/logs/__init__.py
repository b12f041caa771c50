"""Reading (and, for tests and demos, writing) openpilot logs.

``read_can(path).to_pandas()`` is all a notebook user needs to know. Names are imported lazily so
that ``jupyter_cts.logs.table`` stays importable without loading the cereal schema (a process that
uses opendbc's ``car`` package must never load it).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jupyter_cts.logs.reader import LogData, LogMetadata, SegmentInfo, iter_segments, read_can, read_log
    from jupyter_cts.logs.source import SegmentFile, resolve_segments
    from jupyter_cts.logs.table import CanTable, Series
    from jupyter_cts.logs.writer import LogWriter

_WHERE = {
    "CanTable": "table",
    "Series": "table",
    "LogWriter": "writer",
    "SegmentFile": "source",
    "resolve_segments": "source",
    "read_can": "reader",
    "read_log": "reader",
    "iter_segments": "reader",
    "LogData": "reader",
    "LogMetadata": "reader",
    "SegmentInfo": "reader",
}

__all__ = [
    "CanTable",
    "LogData",
    "LogMetadata",
    "LogWriter",
    "SegmentFile",
    "SegmentInfo",
    "Series",
    "iter_segments",
    "read_can",
    "read_log",
    "resolve_segments",
]


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'jupyter_cts.logs' has no attribute {name!r}")
    return getattr(import_module(f"jupyter_cts.logs.{_WHERE[name]}"), name)
