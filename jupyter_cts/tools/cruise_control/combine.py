"""Join segment partials into one analysis: the reduce half of the analyzer's map/combine split.

Tracks are concatenated (a press or an engaged span straddling two segments stays one event), times
become seconds since the first event of the whole input, and bit flips are counted inside the
marker windows and around the engaged edges that only the joined timeline knows.

Two stages: :func:`join_segments` joins the tracks and finds every timed event (a few
milliseconds), :func:`rank_bits` counts and ranks the bit flips and assembles the result (most of
the cost). The speed plot needs only the first, so it can be drawn while the second runs.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from jupyter_cts.can.bits import bit_labels
from jupyter_cts.can.dbc import Dbc
from jupyter_cts.errors import ToolError
from jupyter_cts.tools.cruise_control.candidates import (
    Intervals,
    Scores,
    edge_lag_s,
    merge,
    rankings,
    score_keys,
)
from jupyter_cts.tools.cruise_control.flips import FlipCounter, split_key
from jupyter_cts.tools.cruise_control.markers import MarkerResult, find_marker_windows
from jupyter_cts.tools.cruise_control.params import CruiseControlParams
from jupyter_cts.tools.cruise_control.plot import SpeedPlot
from jupyter_cts.tools.cruise_control.segment import NS, SegmentPartial, Source
from jupyter_cts.tools.cruise_control.signals import ROLE_NAMES, ROLES, SPEED_MESSAGE
from jupyter_cts.tools.cruise_control.tracks import Track
from jupyter_cts.tools.exports import combined_sha256

RESULT_CANDIDATES = 200  # result.json keeps the best ones; the exports keep all
TOP_BITS_PER_WINDOW = 5
EDGE_CANDIDATES = 10  # bits whose edges the edges export lists, besides the DBC's own bits
UNITS_MPH = 1  # Dashlights.UNITS == 1: the dash (and the set speed) shows mph, like openpilot reads it
SPARSE_SPEED_HZ = 10.0  # Wheel_Speeds is sent at 50 Hz; far fewer means a qlog
GAP_WARN_S = 1.0
LAG_MIN_SCORE = 0.5  # edge lag (a tie-breaker among strong engaged candidates) is measured from here up


@dataclass
class Analysis:
    """The result plus the full tables the artifacts need (too big or too raw for result.json)."""

    result: dict[str, Any]
    candidate_columns: dict[str, list[Any]] = field(default_factory=dict)
    edges: list[dict[str, Any]] = field(default_factory=list)
    timeline: list[dict[str, Any]] = field(default_factory=list)

    @functools.cached_property
    def candidates(self) -> list[dict[str, Any]]:
        """Every flipping bit as a row, best first (built when an export asks: there can be thousands)."""
        return _rows(self.candidate_columns)


def combine(
    partials: list[SegmentPartial],
    params: CruiseControlParams,
    dbc: Dbc,
    *,
    dbc_reason: str,
    warnings: list[str] | None = None,
) -> Analysis:
    """One ``Analysis`` from the partials of every segment (any order; sorted by index here)."""
    return rank_bits(join_segments(partials, params, dbc, dbc_reason=dbc_reason, warnings=warnings))


@dataclass
class Joined:
    """The first stage of :func:`combine`: the segments' tracks joined, every timed event found."""

    parts: list[SegmentPartial]
    params: CruiseControlParams
    dbc: Dbc
    dbc_reason: str
    warnings: list[str]
    t0: int
    t_end: int
    fingerprint: str | None
    brand: str | None
    speed_t: np.ndarray
    speed: np.ndarray
    sources: dict[str, Source]
    duration_s: float
    target_windows: list[dict[str, Any]]
    buttons: dict[str, list[dict[str, Any]]]
    intervals: list[dict[str, Any]]
    set_speed_changes: list[dict[str, Any]]
    unit: str
    engaged_spans: tuple[np.ndarray, np.ndarray, np.ndarray]  # starts, ends, still open
    markers: MarkerResult
    segments: list[dict[str, Any]]

    def s(self, t: Any) -> Any:
        return _seconds(self.t0, t)

    def speed_at(self, t: np.ndarray) -> np.ndarray:
        return _speed_at(self.speed_t, self.speed, t)

    @property
    def speed_plot(self) -> SpeedPlot:
        """What ``speed_timeline.png`` shows, in seconds: all of it known before any bit is counted."""

        def pressed(key: str) -> list[tuple[float, float | None]]:
            return [(p["t_s"], p["speed_mph"]) for p in self.buttons[key]]

        return SpeedPlot(
            t_s=(self.speed_t - self.t0) / 1e9,
            mph=self.speed,
            target_windows=[(w["start_s"], w["end_s"]) for w in self.target_windows],
            engaged=[(iv["start_s"], iv["end_s"]) for iv in self.intervals],
            marker_windows=[
                (float(self.s(w.window_start_t)), float(self.s(w.window_end_t))) for w in self.markers.windows
            ],
            segment_starts=[seg["start_s"] for seg in self.segments],
            set_presses=pressed("set_presses"),
            resume_presses=pressed("resume_presses"),
            car=self.fingerprint,
            duration_s=self.duration_s,
        )


def join_segments(
    partials: list[SegmentPartial],
    params: CruiseControlParams,
    dbc: Dbc,
    *,
    dbc_reason: str,
    warnings: list[str] | None = None,
) -> Joined:
    """Stage one: join the tracks, find target windows, presses, engaged spans and marker windows."""
    parts = sorted(partials, key=lambda p: p.index)
    warnings = list(warnings or [])
    for p in parts:
        warnings += p.warnings
    timed = [p for p in parts if p.first_t is not None]
    if not timed:
        raise ToolError(
            f"no events in {_files_text(parts)}: the input holds no readable openpilot events; "
            "check that it is an rlog/qlog and not an empty or foreign file"
        )
    t0 = int(timed[0].first_t)  # type: ignore[arg-type]
    t_end = max(int(p.last_t) for p in timed if p.last_t is not None)
    fingerprint = next(
        (p.metadata.get("car_fingerprint") for p in parts if p.metadata.get("car_fingerprint")), None
    )
    brand = next((p.metadata.get("brand") for p in parts if p.metadata.get("brand")), None)

    speed_t = np.concatenate([p.speed_t for p in parts]) if parts else np.zeros(0, np.int64)
    speed = np.concatenate([p.speed_mph for p in parts]) if parts else np.zeros(0, np.float32)
    tracks = {
        role: Track.concat([p.tracks[role] for p in parts if role in p.tracks]) for role in _roles(parts)
    }
    _require_signals(parts, dbc, fingerprint, speed_t, tracks)
    sources = _sources(parts, warnings)
    _warn_missing(sources, tracks, dbc, params, warnings)
    _warn_gaps(timed, t0, warnings)
    _warn_bus_switch(parts, warnings)

    s = functools.partial(_seconds, t0)
    speed_at = functools.partial(_speed_at, speed_t, speed)

    def in_band(mph: np.ndarray) -> np.ndarray:
        return (mph >= params.speed_min) & (mph <= params.speed_max)

    duration_s = (t_end - t0) / 1e9
    rate = speed_t.size / duration_s if duration_s > 0 else 0.0
    if 0 < rate < SPARSE_SPEED_HZ:
        warnings.append(
            f"{SPEED_MESSAGE} arrives at {rate:.1f} Hz (a full rlog has 50 Hz): this looks like a qlog, so "
            f"edge times are only accurate to about {1 / rate:.1f} s; analyse the rlog for precise times"
        )

    # target windows: first and last in-band sample of every maximal span
    tw_start, tw_last, _, _ = tracks["in_band"].on_spans()
    target_windows = [
        {
            "start_s": float(s(a)),
            "end_s": float(s(b)),
            "duration_s": round((int(b) - int(a)) / 1e9, 6),
            "start_log_mono_time": int(a),
            "end_log_mono_time": int(b),
        }
        for a, b in zip(tw_start, tw_last, strict=True)
    ]
    if speed.size and not target_windows:
        warnings.append(
            f"the speed never entered the band {params.speed_min:g}-{params.speed_max:g} mph "
            f"(it ranged {float(speed.min()):.1f}-{float(speed.max()):.1f} mph): no target windows; "
            "adjust speed_min/speed_max to the speeds driven"
        )

    def presses(role: str) -> list[dict[str, Any]]:
        t = tracks[role].rising() if role in tracks else np.zeros(0, np.int64)
        mph = speed_at(t)
        return [
            {
                "t_s": float(s(ti)),
                "log_mono_time": int(ti),
                "speed_mph": _num(v),
                "in_target": bool(in_band(np.array([v]))[0]),
            }
            for ti, v in zip(t, mph, strict=True)
        ]

    def moments(t: np.ndarray) -> list[dict[str, Any]]:
        return [{"t_s": float(s(ti)), "log_mono_time": int(ti)} for ti in t]

    on = tracks.get("cruise_on", Track.empty())
    buttons = {
        "set_presses": presses("set"),
        "resume_presses": presses("resume"),
        "main_presses": presses("main"),
        "main_on": moments(on.rising()),
        "main_off": moments(on.falling()),
    }

    # engaged intervals: first engaged sample to first disengaged sample
    engaged = tracks.get("engaged", Track.empty())
    e_start, _, e_end, e_open = engaged.on_spans()
    set_speed = tracks.get("set_speed", Track.empty())
    units_value = _majority(tracks.get("units", Track.empty()))
    unit = "mph" if units_value == UNITS_MPH else ("kph" if units_value is not None else "unknown")
    to_mph = 1.0 if unit == "mph" else 1 / 1.609344
    intervals = [
        {
            "start_s": float(s(a)),
            "end_s": float(s(b)),
            "duration_s": round((int(b) - int(a)) / 1e9, 6),
            "open": bool(o),
            "start_log_mono_time": int(a),
            "end_log_mono_time": int(b),
            "speed_mph_at_start": _num(speed_at(np.array([a]))[0]),
            "set_speed_at_start": _num(set_speed.value_at(np.array([a + NS // 5]))[0])
            if len(set_speed)
            else None,
        }
        for a, b, o in zip(e_start, e_end, e_open, strict=True)
    ]
    ct, old, new = set_speed.changes()
    set_speed_changes = [
        {
            "t_s": float(s(ti)),
            "log_mono_time": int(ti),
            "from": _num(a),
            "to": _num(b),
            "unit": unit,
            "to_mph": _num(b * to_mph) if unit != "unknown" else None,
            "engaged": bool(engaged.value_at(np.array([ti]))[0] == 1) if len(engaged) else None,
        }
        for ti, a, b in zip(ct, old, new, strict=True)
    ]

    # marker windows
    markers = find_marker_windows(
        tracks["left"].rising()
        if "left" in tracks and params.marker_type == "blinkers"
        else np.zeros(0, np.int64),
        tracks["right"].rising()
        if "right" in tracks and params.marker_type == "blinkers"
        else np.zeros(0, np.int64),
        timeout_ns=int(params.marker_timeout * NS),
        pre_ns=int(params.marker_pre * NS),
        post_ns=int(params.marker_post * NS),
        log_end_t=t_end,
    )
    for t in markers.timed_out:
        warnings.append(
            f"left blinker at {float(s(t)):.2f} s opened a marker window but no right blinker followed "
            f"within "
            f"{params.marker_timeout:g} s: window dropped (raise marker_timeout if that was a marker)"
        )
    partial_windows = [w for w in markers.windows if w.partial]
    if partial_windows:
        warnings.append(
            f"the log ends {(t_end - partial_windows[0].start_t) / 1e9:.1f} s after the left blinker at "
            f"{float(s(partial_windows[0].start_t)):.2f} s with no right blinker: kept as a partial "
            "marker window"
        )

    segments = [
        {
            "index": p.index,
            "number": p.number,
            "path": p.path,
            "start_s": float(s(p.first_t)) if p.first_t is not None else None,
            "end_s": float(s(p.last_t)) if p.last_t is not None else None,
            "duration_s": round((p.last_t - p.first_t) / 1e9, 6)
            if p.first_t is not None and p.last_t
            else 0.0,
            "events": p.n_events,
            "can_frames": sum(p.can_frames.values()),
            "damaged": p.damaged,
            "sha256": p.sha256,
        }
        for p in parts
    ]
    return Joined(
        parts=parts,
        params=params,
        dbc=dbc,
        dbc_reason=dbc_reason,
        warnings=warnings,
        t0=t0,
        t_end=t_end,
        fingerprint=fingerprint,
        brand=brand,
        speed_t=speed_t,
        speed=speed,
        sources=sources,
        duration_s=duration_s,
        target_windows=target_windows,
        buttons=buttons,
        intervals=intervals,
        set_speed_changes=set_speed_changes,
        unit=unit,
        engaged_spans=(e_start, e_end, e_open),
        markers=markers,
        segments=segments,
    )


def rank_bits(j: Joined) -> Analysis:
    """Stage two: bit flips in the marker windows and around the engaged edges, ranked; the result."""
    parts, params, dbc, warnings, sources = j.parts, j.params, j.dbc, j.warnings, j.sources
    s, speed_at, markers, segments = j.s, j.speed_at, j.markers, j.segments
    e_start, e_end, e_open = j.engaged_spans
    speed, t0 = j.speed, j.t0

    # bit flips inside windows and around engaged edges
    counter = FlipCounter([p.flips for p in parts])
    margin = int(params.engaged_margin * NS)
    win_a = np.array([w.window_start_t for w in markers.windows], np.int64)
    win_b = np.array([w.window_end_t for w in markers.windows], np.int64)
    closed = ~e_open
    edge_t = np.concatenate([e_start, e_end[closed]])
    edge_a, edge_b = edge_t - margin, edge_t + margin
    win, win_u, edges, edges_u, eng_u = _intervals(
        counter,
        (win_a, win_b),
        merge(win_a, win_b),
        (edge_a, edge_b),
        merge(edge_a, edge_b),
        merge(e_start - margin, np.where(e_open, e_end, e_end + margin)),
    )
    total_ns = sum(int(p.flips.frame_t1 - p.flips.frame_t0) for p in parts if p.flips.keys.size)
    addr, bus, g = split_key(counter.keys)
    defining = np.zeros(counter.keys.size, bool)
    for role in ("left", "right"):
        src = sources.get(role)
        if src is not None and src.g is not None and src.bus is not None:
            defining |= (addr == src.address) & (bus == src.bus) & (g == src.g)
    scores = score_keys(
        counter.toggles, total_ns, win, win_u, edges, edges_u, eng_u, marker_defining=defining
    )
    if counter.approximate:
        warnings.append(
            "some bit flip counts near window edges are approximate (a window edge fell between samples)"
        )

    names = _bit_names(dbc)
    strong = np.flatnonzero(scores.score_engaged >= LAG_MIN_SCORE)
    lag_keys, lag_t, _ = counter.rare_events(counter.keys[strong])
    lag = edge_lag_s(counter.keys, lag_keys, lag_t, edge_t, margin, strong)
    order, rank_m, rank_e = rankings(scores, counter.toggles, lag, addr, bus, g)
    columns = _candidate_columns(order, addr, bus, g, names, counter, scores, rank_m, rank_e, lag)
    candidates = _rows(columns, limit=max(RESULT_CANDIDATES, EDGE_CANDIDATES))

    marker_windows = []
    for i, w in enumerate(markers.windows):
        counts = win.counts[i]
        # the bits that flipped here, best marker evidence (over all windows) first
        here = np.flatnonzero((counts > 0) & (scores.score_marker > 0))
        top = here[np.argsort(rank_m[here], kind="stable")][:TOP_BITS_PER_WINDOW]
        marker_windows.append(
            {
                "index": i + 1,
                "start_s": float(s(w.start_t)),
                "end_s": float(s(w.end_t)),
                "window_start_s": float(s(w.window_start_t)),
                "window_end_s": float(s(w.window_end_t)),
                "duration_s": round((w.end_t - w.start_t) / 1e9, 6),
                "partial": w.partial,
                "start_log_mono_time": int(w.start_t),
                "end_log_mono_time": int(w.end_t),
                "top_bits": [
                    {
                        **_bit_fields(int(addr[k]), int(bus[k]), int(g[k]), names),
                        "flips": int(counts[k]),
                        "flips_total": int(counter.toggles[k]),
                        "score_marker": round(float(scores.score_marker[k]), 4),
                    }
                    for k in top
                ],
            }
        )

    edge_rows = _edges(counter, candidates, sources, names, s, speed_at, warnings)
    can_frames: dict[str, int] = {}
    for p in parts:
        for b, n in p.can_frames.items():
            can_frames[str(b)] = can_frames.get(str(b), 0) + n
    speed_src = next((p for p in parts if p.speed_bus is not None), None)
    result: dict[str, Any] = {
        "input": {
            "files": [p.path for p in parts],
            "segments": segments,
            "duration_s": round(j.duration_s, 6),
            "events": sum(p.n_events for p in parts),
            "can_frames": dict(sorted(can_frames.items(), key=lambda kv: int(kv[0]))),
            "car_fingerprint": j.fingerprint,
            "brand": j.brand,
            "dbc": dbc.name,
            "dbc_reason": j.dbc_reason,
            "first_log_mono_time": t0,
        },
        "speed": {
            "signal": f"{SPEED_MESSAGE} mean of FL, FR, RL, RR",
            "address": dbc.by_name[SPEED_MESSAGE].address,
            "bus": speed_src.speed_bus if speed_src else None,
            "samples": int(speed.size),
            "min_mph": _num(speed.min()) if speed.size else None,
            "mean_mph": _num(speed.astype(np.float64).mean()) if speed.size else None,
            "max_mph": _num(speed.max()) if speed.size else None,
            "band_mph": [params.speed_min, params.speed_max],
        },
        "target_windows": j.target_windows,
        "buttons": j.buttons,
        "cruise": {
            "engaged_intervals": j.intervals,
            "set_speed_changes": j.set_speed_changes,
            "set_speed_unit": j.unit,
            "engaged_source": _source_text(sources.get("engaged")),
            "set_speed_source": _source_text(sources.get("set_speed")),
        },
        "marker_windows": marker_windows,
        "candidates": candidates[:RESULT_CANDIDATES],
        "candidates_total": len(order),
        "sources": {role: _source_text(src) for role, src in sorted(sources.items())},
        "warnings": warnings,
        "metadata": {
            "input_sha256": combined_sha256([p.sha256 for p in parts]),
            "input_files": [{"path": p.path, "sha256": p.sha256} for p in parts],
        },
    }
    analysis = Analysis(result, columns, edge_rows)
    analysis.timeline = _timeline(analysis.result, segments, speed_at)
    return analysis


# -- helpers ------------------------------------------------------------------------------------------


def _seconds(t0: int, t: Any) -> Any:
    """Log time (ns) as seconds since the first event of the input, rounded to the microsecond."""
    if isinstance(t, np.ndarray):
        return np.round((t.astype(np.int64) - t0) / 1e9, 6)
    return round((int(t) - t0) / 1e9, 6)


def _speed_at(speed_t: np.ndarray, speed: np.ndarray, t: np.ndarray) -> np.ndarray:
    """The last wheel speed logged at or before each time (the first one, before it)."""
    if speed_t.size == 0:
        return np.full(np.shape(t), np.nan)
    idx = np.clip(np.searchsorted(speed_t, t, side="right") - 1, 0, speed_t.size - 1)
    return speed[idx].astype(np.float64)


def _num(v: Any, nd: int = 4) -> float | None:
    f = float(v)
    return None if np.isnan(f) else round(f, nd)


def _roles(parts: list[SegmentPartial]) -> list[str]:
    seen: dict[str, None] = {}
    for p in parts:
        seen.update(dict.fromkeys(p.tracks))
    return list(seen)


def _files_text(parts: list[SegmentPartial]) -> str:
    if len(parts) == 1:
        return parts[0].path
    return f"{len(parts)} files ({parts[0].path} ...)" if parts else "the input"


CRUISE_ROLES = ("set", "resume", "engaged", "cruise_on")


def _require_signals(
    parts: list[SegmentPartial],
    dbc: Dbc,
    fingerprint: str | None,
    speed_t: np.ndarray,
    tracks: dict[str, Track],
) -> None:
    """Without wheel speeds or any cruise signal there is nothing to analyse: say what is missing,
    which car the log says it is, and what to do, instead of producing an empty result."""
    has_cruise = any(len(tracks.get(role, Track.empty())) for role in CRUISE_ROLES)
    if speed_t.size and has_cruise:
        return
    car = f"car fingerprint {fingerprint}" if fingerprint else "no car fingerprint logged"
    frames = sum(sum(p.can_frames.values()) for p in parts)
    speed_msg = dbc.by_name.get(SPEED_MESSAGE)
    if speed_msg is None:
        raise ToolError(
            f"DBC {dbc.name} defines no {SPEED_MESSAGE} message ({car}): cruise-control-analyzer needs a "
            "Subaru "
            "DBC; leave dbc empty to choose it from the car fingerprint, or pass subaru_global_2017"
        )
    missing = [] if speed_t.size else [f"{SPEED_MESSAGE} ({speed_msg.address:#x})"]
    if not has_cruise:
        for role in ("set", "engaged"):
            message = ROLES[role][0][0]
            msg = dbc.by_name.get(message)
            if msg is not None:
                missing.append(f"{message} ({msg.address:#x})")
    sparse = ""
    duration = sum((p.last_t or 0) - (p.first_t or 0) for p in parts if p.first_t is not None) / 1e9
    if speed_t.size and duration > 0 and speed_t.size / duration < SPARSE_SPEED_HZ:
        sparse = f"; wheel speeds come at {speed_t.size / duration:.1f} Hz, so this looks like a qlog"
    raise ToolError(
        f"no {' or '.join(missing)} frames in {_files_text(parts)} ({car}, {frames} CAN frames in "
        f"total{sparse}): "
        "cruise-control-analyzer needs a Subaru rlog with wheel speeds and cruise messages, decoded "
        "with DBC "
        f"{dbc.name}; analyse the segment's rlog, or set dbc if the car needs another DBC"
    )


def _sources(parts: list[SegmentPartial], warnings: list[str]) -> dict[str, Source]:
    """The source of each role, from the first segment that had frames for it."""
    out: dict[str, Source] = {}
    for p in parts:
        for role, src in p.sources.items():
            if role not in out or (out[role].frames == 0 and src.frames > 0):
                out[role] = src
    return out


def _warn_missing(
    sources: dict[str, Source],
    tracks: dict[str, Track],
    dbc: Dbc,
    params: CruiseControlParams,
    warnings: list[str],
) -> None:
    needed = ["set", "resume", "engaged", "set_speed"]
    if params.marker_type == "blinkers":
        needed += ["left", "right"]
    for role in needed:
        src = sources.get(role)
        if src is None:
            options = ", ".join(f"{m}.{sig}" for m, sig in ROLES[role])
            warnings.append(
                f"DBC {dbc.name} defines none of {options}: {ROLE_NAMES[role]} cannot be analysed"
            )
        elif role not in tracks or not len(tracks[role]):
            warnings.append(
                f"no {src.message} ({src.address:#x}) frames in the log: "
                f"{ROLE_NAMES[role]} cannot be analysed"
            )


def _warn_gaps(timed: list[SegmentPartial], t0: int, warnings: list[str]) -> None:
    for a, b in zip(timed, timed[1:], strict=False):
        if a.last_t is not None and b.first_t is not None and (b.first_t - a.last_t) / 1e9 > GAP_WARN_S:
            warnings.append(
                f"{(b.first_t - a.last_t) / 1e9:.1f} s gap between segment {a.number} and segment {b.number} "
                "(is a segment missing?): events across the gap are joined as if continuous"
            )
        if a.first_t is not None and b.first_t is not None and b.first_t < a.first_t:
            warnings.append(
                f"segment {b.number} starts before segment {a.number}: the segments are not in time order"
            )


def _warn_bus_switch(parts: list[SegmentPartial], warnings: list[str]) -> None:
    chosen: dict[str, dict[int, list[Any]]] = {}
    for p in parts:
        for msg, counts in p.bus_counts.items():
            if counts:
                best = max(counts, key=lambda b: (counts[b], -b))
                chosen.setdefault(msg, {}).setdefault(best, []).append(
                    p.number if p.number is not None else p.index
                )
    for msg, by_bus in chosen.items():
        if len(by_bus) > 1:
            detail = "; ".join(f"bus {b} in segments {segs}" for b, segs in sorted(by_bus.items()))
            warnings.append(
                f"{msg} switched buses between segments ({detail}): each segment used its busiest bus, "
                "buses were not merged"
            )


def _intervals(counter: FlipCounter, *spans: tuple[np.ndarray, np.ndarray]) -> list[Intervals]:
    """Each ``(starts, ends)`` with the flips inside, counted together: every count is a pass over
    every segment's flip summary, so one pass for all of them instead of one per kind."""
    pairs = [(np.asarray(a, np.int64), np.asarray(b, np.int64)) for a, b in spans]
    counts = counter.between_many(
        np.concatenate([a for a, _ in pairs]), np.concatenate([b for _, b in pairs])
    )
    cuts = np.cumsum([a.size for a, _ in pairs])[:-1]
    return [Intervals(a, b, c) for (a, b), c in zip(pairs, np.split(counts, cuts), strict=True)]


_NAMES: dict[tuple[str, str], dict[tuple[int, int], str]] = {}


def _bit_names(dbc: Dbc) -> dict[tuple[int, int], str]:
    """(address, g) -> "Message.Signal" for every bit a DBC signal covers (cached per DBC)."""
    cached = _NAMES.get((dbc.name, dbc.source))
    if cached is not None:
        return cached
    names: dict[tuple[int, int], str] = {}
    for msg in dbc.messages.values():
        for sig in msg.signals.values():
            for byte, shift, width, _ in sig.pieces:
                for k in range(width):
                    names.setdefault((msg.address, byte * 8 + shift + k), f"{msg.name}.{sig.name}")
    _NAMES[(dbc.name, dbc.source)] = names
    return names


def _bit_fields(address: int, bus: int, g: int, names: dict[tuple[int, int], str]) -> dict[str, Any]:
    label = _label(g)
    return {
        "address": address,
        "address_hex": f"0x{address:03X}",
        "bus": bus,
        "g": g,
        "lsb_label": label.lsb_label,
        "msb_label": label.msb_label,
        "signal": names.get((address, g), ""),
    }


def _candidate_columns(
    order: np.ndarray,
    addr: np.ndarray,
    bus: np.ndarray,
    g: np.ndarray,
    names: dict[tuple[int, int], str],
    c: FlipCounter,
    sc: Scores,
    rank_m: np.ndarray,
    rank_e: np.ndarray,
    lag: np.ndarray,
) -> dict[str, list[Any]]:
    """One column per field, one entry per flipping bit in ``order`` (there can be thousands)."""
    a, b, bits = addr[order].tolist(), bus[order].tolist(), g[order].tolist()
    labels = [_label(x) for x in bits]
    lag_o = lag[order]
    columns: dict[str, list[Any]] = {
        "rank": list(range(1, len(order) + 1)),
        "address": a,
        "address_hex": [f"0x{x:03X}" for x in a],
        "bus": b,
        "g": bits,
        "lsb_label": [lab.lsb_label for lab in labels],
        "msb_label": [lab.msb_label for lab in labels],
        "signal": [names.get((x, y), "") for x, y in zip(a, bits, strict=True)],
        "toggles": c.toggles[order].tolist(),
        "rises": c.rises[order].tolist(),
        "falls": c.falls[order].tolist(),
        "flips_in_windows": sc.flips_in_windows[order].tolist(),
        "windows_hit": sc.windows_hit[order].tolist(),
        "flips_engaged": sc.flips_engaged[order].tolist(),
        "engaged_edges_hit": sc.edges_hit[order].tolist(),
        "score_marker": np.round(sc.score_marker[order], 4).tolist(),
        "score_engaged": np.round(sc.score_engaged[order], 4).tolist(),
        "score": np.round(sc.score[order], 4).tolist(),
        "rank_marker": rank_m[order].tolist(),
        "rank_engaged": rank_e[order].tolist(),
        "edge_lag_s": [None if np.isnan(x) else x for x in np.round(lag_o, 4).tolist()],
    }
    return columns


def _rows(columns: dict[str, list[Any]], limit: int | None = None) -> list[dict[str, Any]]:
    keys = list(columns)
    cut = [col[:limit] for col in columns.values()] if limit is not None else list(columns.values())
    return [dict(zip(keys, row, strict=True)) for row in zip(*cut, strict=True)]


@functools.cache
def _label(g: int) -> Any:
    return bit_labels(g)


def _source_text(src: Source | None) -> str | None:
    if src is None:
        return None
    bus = "no frames" if src.bus is None else f"bus {src.bus}"
    return f"{src.message}.{src.signal} ({src.address:#x}, {bus})"


def _majority(track: Track) -> int | None:
    """The value a signal held for most of the time (by samples between changes)."""
    if not len(track):
        return None
    ends = np.append(track.t[1:], track.end_t)
    held = ends - track.t
    vals = track.v
    best = None
    best_t = -1
    for v in np.unique(vals[~np.isnan(vals)]):
        total = int(held[vals == v].sum())
        if total > best_t:
            best, best_t = int(v), total
    return best


def _edges(
    counter: FlipCounter,
    candidates: list[dict[str, Any]],
    sources: dict[str, Source],
    names: dict[tuple[int, int], str],
    s: Any,
    speed_at: Any,
    warnings: list[str],
) -> list[dict[str, Any]]:
    """Every rise and fall of the DBC's one-bit cruise/button/blinker signals and the best candidates."""
    from jupyter_cts.tools.cruise_control.flips import make_key

    watched: dict[int, str] = {}
    for role, src in sources.items():
        if src.g is not None and src.bus is not None and role != "units":
            watched[int(make_key(src.address, src.bus, src.g))] = role
    for c in candidates[:EDGE_CANDIDATES]:
        watched.setdefault(int(make_key(c["address"], c["bus"], c["g"])), f"candidate #{c['rank']}")
    want = np.array(sorted(watched), np.uint64)
    missing = [
        k for k in want if k in counter.keys and not counter.complete[np.searchsorted(counter.keys, k)]
    ]
    for k in missing:
        ka, kb, kg = (int(x[0]) for x in split_key(np.array([k])))
        warnings.append(
            f"edges of 0x{ka:03X} bus {kb} b{kg} are not exported: the bit flips too often to list every edge"
        )
    keys, t, rise = counter.rare_events(want)
    # a few dozen bits have thousands of edges: each bit's fields are built once
    unique = np.unique(keys)
    fields = {
        k: {**_bit_fields(a, b, g, names), "role": watched[k]}
        for k, a, b, g in zip(unique.tolist(), *(x.tolist() for x in split_key(unique)), strict=True)
    }
    speeds = [None if v != v else round(v, 4) for v in speed_at(t).tolist()]  # v != v: NaN
    return [
        {"t_s": ts, "log_mono_time": mono, **fields[k], "edge": "rise" if r else "fall", "speed_mph": v}
        for ts, mono, k, r, v in zip(
            s(t).tolist(), t.tolist(), keys.tolist(), rise.tolist(), speeds, strict=True
        )
    ]


def _timeline(result: dict[str, Any], segments: list[dict[str, Any]], speed_at: Any) -> list[dict[str, Any]]:
    """The drive as a list of events a person can read top to bottom."""
    rows: list[dict[str, Any]] = []

    def add(t_s: float | None, mono: int | None, event: str, value: Any = "", detail: str = "") -> None:
        if t_s is None:
            return
        rows.append(
            {
                "t_s": t_s,
                "log_mono_time": mono,
                "event": event,
                "value": value,
                "speed_mph": None,  # looked up for every row at once below
                "detail": detail,
            }
        )

    t0 = result["input"]["first_log_mono_time"]
    for seg in segments:
        if seg["start_s"] is not None:
            add(
                seg["start_s"],
                t0 + int(round(seg["start_s"] * 1e9)),
                "segment_start",
                seg["number"],
                seg["path"],
            )
    for w in result["target_windows"]:
        add(w["start_s"], w["start_log_mono_time"], "target_enter")
        add(w["end_s"], w["end_log_mono_time"], "target_exit")
    b = result["buttons"]
    for name, key in (
        ("set_press", "set_presses"),
        ("resume_press", "resume_presses"),
        ("main_press", "main_presses"),
    ):
        for p in b[key]:
            add(p["t_s"], p["log_mono_time"], name, "in target" if p["in_target"] else "")
    for p in b["main_on"]:
        add(p["t_s"], p["log_mono_time"], "main_on")
    for p in b["main_off"]:
        add(p["t_s"], p["log_mono_time"], "main_off")
    for iv in result["cruise"]["engaged_intervals"]:
        add(iv["start_s"], iv["start_log_mono_time"], "engaged", iv["set_speed_at_start"])
        if not iv["open"]:
            add(iv["end_s"], iv["end_log_mono_time"], "disengaged")
    for c in result["cruise"]["set_speed_changes"]:
        add(c["t_s"], c["log_mono_time"], "set_speed", c["to"], f"from {c['from']} {c['unit']}")
    for w in result["marker_windows"]:
        add(w["start_s"], w["start_log_mono_time"], "marker_open", w["index"])
        if not w["partial"]:
            add(w["end_s"], w["end_log_mono_time"], "marker_close", w["index"])
    timed = [r for r in rows if r["log_mono_time"] is not None]
    mph = speed_at(np.array([r["log_mono_time"] for r in timed], np.int64))
    for r, v in zip(timed, mph.tolist(), strict=True):
        r["speed_mph"] = _num(v)
    rows.sort(key=lambda r: (r["t_s"], r["event"]))
    return rows
