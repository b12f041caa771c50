"""Analyse one segment on its own: the map half of the analyzer's map/combine split.

``analyze_segment`` reads one log file and returns a small, picklable ``SegmentPartial``: the speed
series, every role's signal reduced to its changes (``Track``), and the flip summary. Nothing in it
depends on other segments, so segments can run in any order, in other processes or on a Dask
cluster; ``combine`` joins them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from jupyter_cts.can.bits import parse_bit_selector
from jupyter_cts.can.dbc import Dbc
from jupyter_cts.logs import read_log
from jupyter_cts.logs.reader import LogData
from jupyter_cts.logs.table import CanTable
from jupyter_cts.tools.cruise_control.flips import FlipSummary, summarize_flips
from jupyter_cts.tools.cruise_control.params import CruiseControlParams
from jupyter_cts.tools.cruise_control.signals import (
    KPH_PER_MPH,
    ROLES,
    SPEED_MESSAGE,
    WHEELS,
    FrameIndex,
    find_role,
    signal_values,
)
from jupyter_cts.tools.cruise_control.tracks import Track
from jupyter_cts.tools.exports import sha256_file

log = logging.getLogger(__name__)

NS = 1_000_000_000
EDGE_SLACK_NS = NS  # extra exact-count region at segment edges, beyond pre/post/margin


@dataclass(frozen=True)
class Source:
    """Where a role's values came from in one segment."""

    message: str
    signal: str
    address: int
    bus: int | None
    g: int | None  # frame bit of a one-bit signal
    frames: int


@dataclass
class SegmentPartial:
    """Everything the combine step needs from one segment. Picklable; about 0.5 MB for a busy minute."""

    index: int
    path: str
    number: int | None
    sha256: str
    first_t: int | None  # first and last event (any type), ns
    last_t: int | None
    n_events: int
    can_frames: dict[int, int]  # per bus, echoes included as logged
    metadata: dict[str, Any]
    speed_t: np.ndarray  # int64 ns
    speed_mph: np.ndarray  # float32
    speed_bus: int | None
    tracks: dict[str, Track]
    sources: dict[str, Source]
    bus_counts: dict[str, dict[int, int]]  # message -> received frames per bus
    flips: FlipSummary
    warnings: list[str] = field(default_factory=list)
    damaged: bool = False


def analyze_segment(
    path: str | Path,
    params: CruiseControlParams,
    dbc: Dbc,
    *,
    index: int = 0,
    number: int | None = None,
    data: LogData | None = None,
) -> SegmentPartial:
    """Read one log file (unless ``data`` is what reading it gave) and reduce it to a ``SegmentPartial``.

    A damaged file raises ``LogFormatError`` unless ``params.salvage``; then the events before the
    damage are analysed and the damage becomes a warning.
    """
    path = Path(path)
    if data is None:
        data = read_log(path, salvage=params.salvage)
    if number is None and data.segments:
        number = data.segments[0].number
    return reduce_segment(data, params, dbc, index=index, path=path, number=number, sha256=sha256_file(path))


def reduce_segment(
    data: LogData,
    params: CruiseControlParams,
    dbc: Dbc,
    *,
    index: int,
    path: Path,
    number: int | None,
    sha256: str,
) -> SegmentPartial:
    """The analysis of one already-read segment (see ``analyze_segment``)."""
    can = data.can
    index_ = FrameIndex(can)
    warnings = [f"segment {_seg_name(number, index)}: {w}" for w in data.warnings]
    present = {int(a) for a in np.unique(can.address)} if len(can) else set()
    tracks: dict[str, Track] = {}
    sources: dict[str, Source] = {}
    bus_counts: dict[str, dict[int, int]] = {}

    def bus_for(msg_name: str, address: int) -> int | None:
        choice = index_.choose_bus(address)
        bus_counts[msg_name] = choice.counts
        if choice.switched:
            warnings.append(
                f"segment {_seg_name(number, index)}: {msg_name} ({address:#x}) moved from one bus to "
                "another "
                f"mid-segment (frames per bus {choice.counts}); only bus {choice.bus} was used"
            )
        return choice.bus

    # speed: mean of the four wheels, kph -> mph
    speed_t = np.zeros(0, np.int64)
    speed_mph = np.zeros(0, np.float32)
    speed_bus = None
    speed_msg = dbc.by_name.get(SPEED_MESSAGE)
    if speed_msg is not None and speed_msg.address in present:
        speed_bus = bus_for(SPEED_MESSAGE, speed_msg.address)
        frames = index_.frames(speed_msg.address, speed_bus)
        kph = np.mean([signal_values(frames, speed_msg.signals[w]) for w in WHEELS], axis=0)
        ok = ~np.isnan(kph)
        speed_t = frames.t_ns[ok].astype(np.int64)
        speed_mph = (kph[ok] / KPH_PER_MPH).astype(np.float32)
    in_band = (speed_mph >= params.speed_min) & (speed_mph <= params.speed_max)
    tracks["in_band"] = Track.from_samples(speed_t, in_band)

    decoded: dict[int, tuple[int | None, CanTable]] = {}
    for role in ROLES:
        found = find_role(dbc, role, present)
        if found is None:
            continue
        msg, sig = found
        if msg.address not in decoded:
            bus = bus_for(msg.name, msg.address) if msg.address in present else None
            decoded[msg.address] = (bus, index_.frames(msg.address, bus))
        bus, frames = decoded[msg.address]
        values = signal_values(frames, sig)
        ok = ~np.isnan(values)
        tracks[role] = Track.from_samples(frames.t_ns[ok].astype(np.int64), values[ok])
        sources[role] = Source(
            msg.name, sig.name, msg.address, bus, sig.lsb if sig.size == 1 else None, int(ok.sum())
        )

    if params.engaged_bit is not None:
        sel = parse_bit_selector(params.engaged_bit)
        wanted_bus = sel.bus if sel.bus is not None else params.engaged_bus
        choice = index_.choose_bus(sel.address, wanted_bus)
        frames = index_.frames(sel.address, choice.bus)
        byte, bit = divmod(sel.g, 8)
        carried = frames.dlc.astype(np.int64) > byte
        values = (frames.data[carried, byte] >> np.uint8(bit)) & np.uint8(1)
        tracks["engaged"] = Track.from_samples(frames.t_ns[carried].astype(np.int64), values)
        sources["engaged"] = Source(
            params.engaged_bit, f"b{sel.g}", sel.address, choice.bus, sel.g, int(carried.sum())
        )

    flips = summarize_flips(
        can,
        _query_times(tracks, params),
        head_ns=int(max(params.marker_post, params.engaged_margin) * NS) + EDGE_SLACK_NS,
        tail_ns=int(max(params.marker_pre, params.engaged_margin) * NS) + EDGE_SLACK_NS,
        grouped=index_.received_order(),
    )
    seg = data.segments[0] if data.segments else None
    meta = data.metadata
    return SegmentPartial(
        index=index,
        path=str(path),
        number=number,
        sha256=sha256,
        first_t=seg.start_t_ns if seg else data.first_t_ns,
        last_t=seg.end_t_ns if seg else None,
        n_events=data.n_events,
        can_frames=can.counts_by_bus() if len(can) else {},
        metadata={k: v for k, v in vars(meta).items() if v is not None},
        speed_t=speed_t,
        speed_mph=speed_mph,
        speed_bus=speed_bus,
        tracks=tracks,
        sources=sources,
        bus_counts=bus_counts,
        flips=flips,
        warnings=warnings,
        damaged=data.damage is not None,
    )


def _query_times(tracks: dict[str, Track], params: CruiseControlParams) -> np.ndarray:
    """Every time a window or interval edge can fall on, from this segment's own edges."""
    parts = [np.zeros(0, np.int64)]
    if params.marker_type == "blinkers":
        if "left" in tracks:
            parts.append(tracks["left"].rising() - int(params.marker_pre * NS))
        if "right" in tracks:
            parts.append(tracks["right"].rising() + int(params.marker_post * NS))
    if "engaged" in tracks:
        t = tracks["engaged"].as_bool().t
        margin = int(params.engaged_margin * NS)
        parts += [t - margin, t + margin]
    return np.concatenate(parts)


def _seg_name(number: int | None, index: int) -> str:
    return str(number) if number is not None else f"#{index}"
