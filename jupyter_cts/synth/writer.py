"""Generated drives on disk: rlog (and qlog) files laid out like a comma device's, plus ``truth.json``.

Each 10 ms tick becomes one ``can`` event holding the frames due in it (as openpilot's logger
receives them from the panda), a ``sendcan`` event for what openpilot sent, and a ``carState``
computed from the same frames; ``initData`` and ``carParams`` open every segment; a few filler
services make the event mix realistic.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from jupyter_cts.logs.table import CanTable
from jupyter_cts.logs.writer import LogWriter
from jupyter_cts.synth.drive import MPH_TO_MS, TICKS_PER_S, Drive, simulate
from jupyter_cts.synth.layouts import BOOT_NS, TICK_NS, Frames, Layout, build_frames, layout_for
from jupyter_cts.synth.scenario import Scenario
from jupyter_cts.synth.truth import build_truth, wheel_speed_mph

DEFAULT_ROUTE = "0000000000000000|2026-11-24--10-00-00"
WALL_START_NS = 1_795_514_400 * 1_000_000_000  # 2026-11-24 10:00:00 UTC, the default route's start
SEGMENT_S = 60.0
BLINKER_HOLD_TICKS = 50  # openpilot holds carState blinkers 0.5 s after the lamp goes dark
QLOG_CAN_EVERY, QLOG_CAR_STATE_EVERY = 100, 10  # openpilot's qlog decimation

Compression = Literal["zst", "bz2"] | None


@dataclass
class Generated:
    """A simulated drive and everything derived from it, before anything is written."""

    scenario: Scenario
    drive: Drive
    layout: Layout
    frames: Frames
    car_state: dict[str, np.ndarray] = field(default_factory=dict)  # per tick

    def can_table(self, start_k: int = 0, end_k: int | None = None) -> CanTable:
        """The frames of ticks ``[start_k, end_k)`` as ``read_can`` would return them."""
        f = self.frames
        rows = (f.tick >= start_k) & (f.tick < (self.drive.n if end_k is None else end_k))
        return CanTable(
            t_ns=(BOOT_NS + f.tick[rows] * TICK_NS).astype(np.uint64),
            bus=f.bus[rows],
            address=f.address[rows],
            dlc=f.dlc[rows],
            data=f.data[rows],
        )

    def truth(self, start_k: int = 0, end_k: int | None = None) -> dict:
        return build_truth(self.drive, self.frames, self.layout, start_k=start_k, end_k=end_k)


@dataclass(frozen=True)
class WrittenSegment:
    path: Path
    number: int
    start_s: float  # in drive time
    end_s: float
    n_events: int
    n_frames: int
    qlog_path: Path | None = None


@dataclass(frozen=True)
class WrittenRoute:
    out_dir: Path
    route_name: str
    segments: list[WrittenSegment]
    truth_path: Path
    scenario_path: Path


def generate(scenario: Scenario, *, duration_s: float | None = None) -> Generated:
    """Simulate the drive and build its frames and carState (nothing is written)."""
    sc = scenario if duration_s is None else scenario.model_copy(update={"duration_s": duration_s})
    drive = simulate(sc)
    layout = layout_for(sc.brand)
    frames = build_frames(drive, layout)
    return Generated(sc, drive, layout, frames, _car_state(drive, frames, layout))


def _hold(values: np.ndarray, ticks: np.ndarray, n: int) -> np.ndarray:
    """Per-tick value of the latest frame sent at or before each tick (the first frame's before it)."""
    idx = np.clip(np.searchsorted(ticks, np.arange(n), side="right") - 1, 0, None)
    return values[idx]


def _car_state(drive: Drive, frames: Frames, layout: Layout) -> dict[str, np.ndarray]:
    """carState as openpilot would publish it from these frames: every field follows its CAN message."""
    n, sched = drive.n, frames.schedule
    speed_ticks, mph = wheel_speed_mph(drive, frames, layout)
    v_ego = _hold(mph * MPH_TO_MS, speed_ticks, n)
    cruise = sched[layout.cruise_message]
    set_ticks = sched[layout.set_speed_message]
    per_unit = MPH_TO_MS if drive.imperial else 1 / 3.6
    blink = sched[layout.blinker_message]

    def blinker(lamp: np.ndarray, stalk: np.ndarray) -> np.ndarray:
        seen = _hold((lamp if layout.blinker_is_lamp else stalk)[blink], blink, n).astype(np.int64)
        lit = np.concatenate([[0], np.cumsum(seen)])
        recent = lit[1:] - lit[np.clip(np.arange(n) + 1 - BLINKER_HOLD_TICKS, 0, None)]
        return recent > 0

    brake_ticks, gas_ticks = sched[layout.brake_message], sched[layout.gas_message]
    return {
        "v_ego": v_ego,
        "cruise_enabled": _hold(drive.engaged[cruise], cruise, n),
        "cruise_available": _hold(drive.main_on[cruise], cruise, n),
        "cruise_speed": _hold(drive.set_speed[set_ticks] * per_unit, set_ticks, n),
        "left_blinker": blinker(drive.left_lamp, drive.left_stalk),
        "right_blinker": blinker(drive.right_lamp, drive.right_stalk),
        "brake_pressed": _hold(drive.brake[brake_ticks], brake_ticks, n),
        "gas_pressed": _hold(drive.gas_pedal[gas_ticks] > 0, gas_ticks, n),
        "standstill": v_ego < 0.01,
    }


def write_file(
    path: str | Path,
    gen: Generated,
    start_k: int,
    end_k: int,
    *,
    compression: Compression = "zst",
    qlog: bool = False,
    dongle_id: str = "0000000000000000",
) -> tuple[int, int]:
    """Write ticks ``[start_k, end_k)`` as one log file; returns (events, CAN frames) written."""
    f, sc, cs = gen.frames, gen.scenario, gen.car_state
    lo, hi = (int(x) for x in np.searchsorted(f.tick, [start_k, end_k]))
    bounds = np.searchsorted(f.tick[lo:hi], np.arange(start_k, end_k + 1)) + lo
    payloads = [bytes(row[:d]) for row, d in zip(f.data[lo:hi], f.dlc[lo:hi], strict=True)]
    addresses, buses, echoes = f.address[lo:hi].tolist(), f.bus[lo:hi].tolist(), f.echo[lo:hi].tolist()
    n_frames = 0
    fields = {name: values[start_k:end_k].tolist() for name, values in cs.items()}
    with LogWriter(path, compression) as w:
        t0 = BOOT_NS + start_k * TICK_NS
        w.init_data(
            t0,
            dongle_id=dongle_id,
            version="0.10.0-synth",
            git_commit="synthetic",
            wall_time_ns=WALL_START_NS + start_k * TICK_NS,
        )
        w.car_params(t0, car_fingerprint=sc.car_fingerprint, brand=sc.brand)
        for i, k in enumerate(range(start_k, end_k)):
            t = BOOT_NS + k * TICK_NS
            a, b = int(bounds[i]) - lo, int(bounds[i + 1]) - lo
            if not qlog or k % QLOG_CAN_EVERY == 0:
                sent = [(addresses[j], payloads[j], 0) for j in range(a, b) if echoes[j]]
                if sent:
                    w.can(t, sent, sendcan=True)
                w.can(t, [(addresses[j], payloads[j], buses[j]) for j in range(a, b)])
                n_frames += b - a
            if not qlog or k % QLOG_CAR_STATE_EVERY == 0:
                w.car_state(t + 1_000_000, **{name: values[i] for name, values in fields.items()})
            _filler(w, gen.drive, k, t)
        return w.n_events, n_frames


def _filler(w: LogWriter, drive: Drive, k: int, t: int) -> None:
    """Other services a real log carries, at their usual low rates."""
    if k % (TICKS_PER_S // 2) == 7:
        w.event(t + 3_000_000, "deviceState", freeSpacePercent=71.5, memoryUsagePercent=38, started=True)
    if k % (TICKS_PER_S // 10) == 5:
        speed = float(drive.speed_mph[k]) * MPH_TO_MS
        w.event(
            t + 4_000_000,
            "gpsLocationExternal",
            latitude=37.77 + k * 1e-7,
            longitude=-122.41,
            speed=speed,
            bearingDeg=90.0,
            hasFix=True,
            source="ublox",
        )


def _file_name(kind: str, compression: Compression) -> str:
    return f"{kind}.{compression}" if compression else kind


def _segment_ticks(segment: int, segment_s: float, total_ticks: int) -> tuple[int, int]:
    per = int(round(segment_s * TICKS_PER_S))
    start = segment * per
    if start >= total_ticks:
        raise ValueError(f"segment {segment} starts at {start / TICKS_PER_S} s, after the drive ends")
    return start, min(start + per, total_ticks)


def write_segment(
    out_path: str | Path,
    scenario: Scenario,
    segment: int = 0,
    *,
    segment_s: float = SEGMENT_S,
    compression: Compression = "zst",
    qlog_path: str | Path | None = None,
    truth_path: str | Path | None = None,
) -> WrittenSegment:
    """Write segment ``segment`` (``segment_s`` seconds each) of the scenario's drive to ``out_path``.

    Times, counters and noise continue from earlier segments, as if the drive had been recorded whole.
    ``truth_path`` gets this segment's truth, with times relative to the segment's first event.
    """
    total = scenario.duration_s if segment == 0 else max(scenario.duration_s, (segment + 1) * segment_s)
    gen = generate(scenario, duration_s=total)
    start_k, end_k = _segment_ticks(segment, segment_s, gen.drive.n)
    events, frames = write_file(out_path, gen, start_k, end_k, compression=compression)
    if qlog_path is not None:
        write_file(qlog_path, gen, start_k, end_k, compression=compression, qlog=True)
    if truth_path is not None:
        Path(truth_path).write_text(json.dumps(gen.truth(start_k, end_k), indent=1))
    return WrittenSegment(
        Path(out_path),
        segment,
        start_k / TICKS_PER_S,
        end_k / TICKS_PER_S,
        events,
        frames,
        Path(qlog_path) if qlog_path is not None else None,
    )


def write_route(
    out_dir: str | Path,
    scenario: Scenario,
    segments: int = 1,
    *,
    route_name: str = DEFAULT_ROUTE,
    segment_s: float = SEGMENT_S,
    compression: Compression = "zst",
    qlog: bool = False,
) -> WrittenRoute:
    """Write a route: ``<out_dir>/<route_name>--N/rlog.<ext>`` for N in 0..segments-1, plus
    ``truth.json`` (times from the route's first event) and ``scenario.json`` in ``out_dir``.

    The drive lasts ``segments * segment_s`` seconds (the scenario's own duration is replaced).
    """
    if segments < 1:
        raise ValueError(f"segments must be at least 1, not {segments}")
    out = Path(out_dir)
    gen = generate(scenario, duration_s=segments * segment_s)
    dongle_id = route_name.split("|", 1)[0] if "|" in route_name else "0000000000000000"
    written = []
    for number in range(segments):
        start_k, end_k = _segment_ticks(number, segment_s, gen.drive.n)
        folder = out / f"{route_name}--{number}"
        rlog = folder / _file_name("rlog", compression)
        events, frames = write_file(rlog, gen, start_k, end_k, compression=compression, dongle_id=dongle_id)
        qpath = None
        if qlog:
            qpath = folder / _file_name("qlog", compression)
            write_file(qpath, gen, start_k, end_k, compression=compression, qlog=True, dongle_id=dongle_id)
        written.append(
            WrittenSegment(rlog, number, start_k / TICKS_PER_S, end_k / TICKS_PER_S, events, frames, qpath)
        )
    truth = gen.truth()
    truth["route_name"] = route_name
    truth["segments"] = [
        {
            "number": s.number,
            "path": str(s.path.relative_to(out)),
            "start_s": s.start_s,
            "end_s": s.end_s,
            "can_frames": s.n_frames,
            "events": s.n_events,
        }
        for s in written
    ]
    truth_path = out / "truth.json"
    truth_path.write_text(json.dumps(truth, indent=1))
    scenario_path = out / "scenario.json"
    scenario_path.write_text(gen.scenario.model_dump_json(indent=1))
    return WrittenRoute(out, route_name, written, truth_path, scenario_path)
