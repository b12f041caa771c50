"""Read logs into columns: ``read_can`` for CAN frames, ``read_log`` for CAN plus carState and metadata.

CAN frames come from the numpy wire decoder (``wire.py``); the few other events a tool needs
(carState at 100 Hz, initData, carParams) are decoded with pycapnp, but only those: the wire pass
already knows every event's type and place.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import capnp
import numpy as np

from jupyter_cts.errors import LogFormatError
from jupyter_cts.logs.columns import leaf, read_columns, slow_row
from jupyter_cts.logs.decompress import decompress_file
from jupyter_cts.logs.pointers import MessageView, PointerError
from jupyter_cts.logs.schema import CAR_PARAMS, EVENT, INIT_DATA, Event, TextFields, member_pointer
from jupyter_cts.logs.source import PathLike, SegmentFile, resolve_segments
from jupyter_cts.logs.table import CanTable, Series
from jupyter_cts.logs.wire import WireEvents, decode_events

Input = PathLike | Iterable[PathLike]

# car_state column -> carState field (m/s for speeds, as openpilot logs them)
CAR_STATE_PATHS = {
    "v_ego": "vEgo",
    "v_ego_raw": "vEgoRaw",
    "cruise_enabled": "cruiseState.enabled",
    "cruise_available": "cruiseState.available",
    "cruise_speed": "cruiseState.speed",
    "left_blinker": "leftBlinker",
    "right_blinker": "rightBlinker",
    "brake_pressed": "brakePressed",
    "gas_pressed": "gasPressed",
    "standstill": "standstill",
}
CAR_STATE_LEAVES = {name: leaf("carState", path) for name, path in CAR_STATE_PATHS.items()}
CAR_STATE_FIELDS: dict[str, type] = {name: lf.dtype for name, lf in CAR_STATE_LEAVES.items()}
CAR_STATE_POINTER = member_pointer("carState")


@dataclass(frozen=True)
class LogMetadata:
    """What the log says about the car and the software; ``None`` when it was not logged."""

    car_fingerprint: str | None = None
    brand: str | None = None
    car_vin: str | None = None
    dongle_id: str | None = None
    version: str | None = None
    git_commit: str | None = None
    wall_time_ns: int | None = None

    def merged(self, other: LogMetadata) -> LogMetadata:
        """Fields already known win; the gaps are filled from ``other`` (a later segment)."""
        return LogMetadata(**{k: v if v is not None else getattr(other, k) for k, v in vars(self).items()})


@dataclass(frozen=True)
class SegmentInfo:
    """One file of the input: where it is, which segment it is, and what it held."""

    path: Path
    number: int | None
    start_t_ns: int | None  # first and last logMonoTime; None when the file held no event
    end_t_ns: int | None
    n_events: int
    n_can_frames: int
    route: str | None = None
    kind: str = "unknown"


@dataclass
class LogData:
    """Everything a tool reads from an input. Times: ``t_s = (t_ns - first_t_ns) / 1e9``."""

    can: CanTable
    car_state: Series
    metadata: LogMetadata
    segments: list[SegmentInfo]
    first_t_ns: int | None  # earliest logMonoTime of the input, the zero of every t_s
    warnings: list[str] = field(default_factory=list)
    damage: LogFormatError | None = None  # the first damage met while salvaging
    n_events: int = 0

    def t_s(self, t_ns: np.ndarray) -> np.ndarray:
        """Seconds since the input's first event, as float64."""
        first = 0 if self.first_t_ns is None else self.first_t_ns
        return (t_ns.astype(np.int64) - np.int64(first)) / 1e9


class SalvageWarning(UserWarning):
    """``read_can(..., salvage=True)`` met damage and returned only the frames before it."""


def read_can(path_or_paths: Input, *, salvage: bool = False) -> CanTable:
    """Every CAN frame of the input, in log order (``can`` events only, echoes kept as src >= 128).

    With ``salvage``, damage keeps the frames before it and is reported as a ``SalvageWarning``.
    """
    tables = []
    for seg in resolve_segments(path_or_paths):
        _, events = _decode(seg, salvage)
        for message in events.warnings:
            warnings.warn(message, SalvageWarning, stacklevel=2)
        tables.append(events.can)
    return tables[0] if len(tables) == 1 else CanTable.concat(tables)


def read_log(path_or_paths: Input, *, salvage: bool = False) -> LogData:
    """CAN frames, carState, metadata and segment boundaries of the whole input."""
    return _combine(list(iter_segments(path_or_paths, salvage=salvage)))


def iter_segments(path_or_paths: Input, *, salvage: bool = False) -> Iterator[LogData]:
    """One ``LogData`` per file, read only when asked for: memory stays flat over a long route.

    Each part's ``first_t_ns`` is its own; for route-wide ``t_s`` use the first part's.
    With ``salvage``, damage in one file keeps that file's events before it and reading goes on
    with the next file.
    """
    for seg in resolve_segments(path_or_paths):
        yield _read_segment(seg, salvage)


def _decode(seg: SegmentFile, salvage: bool) -> tuple[bytes, WireEvents]:
    raw = decompress_file(seg.path, salvage=salvage)
    events = decode_events(raw.data, seg.path, salvage=salvage)
    if raw.damage is not None:
        # The compressed stream broke first; where the event stream stops is only its consequence.
        events.damage = raw.damage
    if events.damage is not None:
        events.warnings.insert(0, f"salvaged the events before the damage: {events.damage}")
    return raw.data, events


def _read_segment(seg: SegmentFile, salvage: bool) -> LogData:
    raw, events = _decode(seg, salvage)
    damage = None
    while True:
        try:
            car_state, metadata = _car_state(raw, events), _metadata(raw, events)
            break
        except _EventDamage as err:
            # The wire pass reads CAN lists only; pycapnp found a carState/initData/carParams broken.
            # Cut there and look again: an earlier event of another type may be broken too.
            cut = int(events.start[err.index])
            damage = LogFormatError(seg.path, cut if err.offset is None else err.offset, err.reason)
            events = decode_events(raw[:cut], seg.path, salvage=True)
    if damage is not None:
        if not salvage:
            raise damage
        events.damage = damage
        events.warnings.insert(0, f"salvaged the events before the damage: {damage}")
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
        car_state=car_state,
        metadata=metadata,
        segments=[info],
        first_t_ns=info.start_t_ns,
        warnings=events.warnings,
        damage=events.damage,
        n_events=n,
    )


class _EventDamage(Exception):
    def __init__(self, index: int, reason: str, offset: int | None = None) -> None:
        self.index = index  # the event, where the stream is cut
        self.reason = reason
        self.offset = offset  # the bad pointer, when known


def _car_state(raw: bytes, events: WireEvents) -> Series:
    """carState columns: numpy for what the fast path reads, pycapnp (numbers only) for the rest."""
    idx = np.flatnonzero(events.which == EVENT.car_state)
    u64 = np.frombuffer(raw, "<u8", count=len(raw) // 8)
    lo = events.seg0[idx]
    cols = read_columns(
        u64, lo, lo, lo + events.seg0_words[idx], events.multi[idx], CAR_STATE_POINTER, CAR_STATE_LEAVES
    )
    if cols.bad is not None:
        raise _EventDamage(int(idx[cols.bad]), "a carState pointer leads outside its event", cols.bad_offset)
    if cols.slow.shape[0]:
        data = memoryview(raw)
        for pos in cols.slow.tolist():
            i = int(idx[pos])
            try:
                with Event.from_bytes(data[int(events.start[i]) : int(events.end[i])]) as ev:
                    row = slow_row(ev, "carState", CAR_STATE_LEAVES)
            except capnp.KjException as err:
                reason = f"Cap'n Proto cannot decode this carState ({str(err).splitlines()[0]})"
                raise _EventDamage(i, reason) from err
            for name, value in row.items():
                cols.values[name][pos] = value
    return Series(events.t_ns[idx].astype(np.uint64), cols.values)


def _texts(raw: bytes, events: WireEvents, which: int, layout: TextFields) -> LogMetadata:
    """The text fields of the first event of one type, read by the bounds-checked pointer follower."""
    hits = np.flatnonzero(events.which == which)
    if not hits.shape[0]:
        return LogMetadata()
    i = int(hits[0])
    try:
        msg = MessageView(raw, int(events.start[i]), int(events.end[i]))
        root = msg.root()
        member = None if root is None else msg.struct(root, layout.event_pointer)
        if member is None:
            return LogMetadata()
        values: dict[str, Any] = {name: msg.text(member, slot) for name, slot in layout.texts.items()}
        values.update({name: msg.uint(member, b, 8) or None for name, b in layout.uint64_bytes.items()})
    except PointerError as err:
        raise _EventDamage(i, err.reason, err.offset) from err
    return LogMetadata(**values)


def _metadata(raw: bytes, events: WireEvents) -> LogMetadata:
    """From the first initData and the first carParams of the segment."""
    init = _texts(raw, events, EVENT.init_data, INIT_DATA)
    return init.merged(_texts(raw, events, EVENT.car_params, CAR_PARAMS))


def _combine(parts: list[LogData]) -> LogData:
    if len(parts) == 1:
        return parts[0]  # nothing to join: no copies
    if not parts:
        return LogData(CanTable.empty(), _concat_series([]), LogMetadata(), [], None)
    meta = LogMetadata()
    for part in parts:
        meta = meta.merged(part.metadata)
    firsts = [p.first_t_ns for p in parts if p.first_t_ns is not None]
    return LogData(
        can=CanTable.concat([p.can for p in parts]),
        car_state=_concat_series([p.car_state for p in parts]),
        metadata=meta,
        segments=[s for p in parts for s in p.segments],
        first_t_ns=min(firsts) if firsts else None,
        warnings=[w for p in parts for w in p.warnings],
        damage=next((p.damage for p in parts if p.damage is not None), None),
        n_events=sum(p.n_events for p in parts),
    )


def _concat_series(parts: list[Series]) -> Series:
    """Like ``Series.concat``, but an input without carState still has every (empty) field."""
    joined = Series.concat(parts)
    if joined.fields:
        return joined
    return Series(np.zeros(0, np.uint64), {n: np.zeros(0, d) for n, d in CAR_STATE_FIELDS.items()})
