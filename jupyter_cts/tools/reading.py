"""Read one segment the way the tools need it: CAN frames, metadata and times, no carState.

``jupyter_cts.logs.read_log`` also decodes every carState event through pycapnp, which costs about
two thirds of reading a segment, and the tools read everything they need from raw CAN. Until the
logs layer offers ``read_log(..., car_state=False)``, this module does the same steps without that
one (using the reader's own decode and metadata helpers), and falls back to ``read_log`` whenever
those helpers are not there.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from jupyter_cts.logs import reader as _reader
from jupyter_cts.logs.reader import LogData, LogMetadata, SegmentInfo, read_log
from jupyter_cts.logs.source import resolve_segments
from jupyter_cts.logs.table import Series


def read_segment(path: str | Path, *, salvage: bool) -> LogData:
    """``read_log`` of one file, with an empty ``car_state``."""
    decode = getattr(_reader, "_decode", None)
    metadata = getattr(_reader, "_metadata", None)
    if decode is None or metadata is None:
        return read_log(path, salvage=salvage)
    seg = resolve_segments(path)[0]
    raw, events = decode(seg, salvage)
    warnings = list(events.warnings)
    try:
        meta = metadata(raw, events)
    except Exception as err:  # a damaged initData/carParams: the car is unknown, the CAN is still good
        meta = LogMetadata()
        warnings.append(f"{seg.path}: cannot read initData/carParams ({err}); the car is treated as unknown")
    n = len(events)
    info = SegmentInfo(
        path=seg.path,
        number=seg.number,
        start_t_ns=int(events.t_ns.min()) if n else None,
        end_t_ns=int(events.t_ns.max()) if n else None,
        n_events=n,
        n_can_frames=len(events.can),
        route=seg.route,
        kind=seg.kind,
    )
    return LogData(
        can=events.can,
        car_state=Series(np.zeros(0, np.uint64), {}),
        metadata=meta,
        segments=[info],
        first_t_ns=info.start_t_ns,
        warnings=warnings,
        damage=events.damage,
        n_events=n,
    )
