"""Read one segment file the way every tool does: through the public logs API, one file at a time.

Tools process routes segment by segment (memory stays flat, and segments can fan out to other
processes), so they never ask the logs layer for a whole route at once.
"""

from __future__ import annotations

from pathlib import Path

from jupyter_cts.logs import LogData, read_log


def read_segment(path: str | Path, *, salvage: bool) -> LogData:
    """``read_log`` of one segment file."""
    return read_log(path, salvage=salvage)
