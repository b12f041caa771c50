"""The ground truth of a generated drive, in the shapes the analyzer reports, for scoring it.

Times are seconds from the first event of the file (or route) the truth belongs to. Where a person
planted something (a press at 15.0 s) we give the planted time; ``can_t_s`` adds the first frame that
shows it on the bus (at most one message period later), which is what a decoder can see.
Target windows come from the wheel speeds *as packed* (quantized), the signal the analyzer reads.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from jupyter_cts.can import bit_labels, format_bit_selector, load_dbc
from jupyter_cts.synth.drive import TICKS_PER_S, Drive, tick_of
from jupyter_cts.synth.layouts import Frames, Layout
from jupyter_cts.synth.scenario import Press, Span

KPH_TO_MPH = 1 / 1.609344

# the bits a bit search should find: truth key -> (message, signal); Subaru global DBC
SUBARU_BITS = {
    "set": ("Cruise_Buttons", "Set"),
    "resume": ("Cruise_Buttons", "Resume"),
    "main": ("Cruise_Buttons", "Main"),
    "left_blinker": ("Dashlights", "LEFT_BLINKER"),
    "right_blinker": ("Dashlights", "RIGHT_BLINKER"),
    "cruise_activated": ("Cruise_Status", "Cruise_Activated"),
    "cruise_control_activated": ("CruiseControl", "Cruise_Activated"),
    "brake": ("Brake_Status", "Brake"),
}


def target_windows(t_s: np.ndarray, speed_mph: np.ndarray, lo: float, hi: float) -> list[dict[str, float]]:
    """Maximal runs of samples with ``lo <= speed <= hi``: first and last in-band sample times."""
    inside = (speed_mph >= lo) & (speed_mph <= hi)
    if not inside.any():
        return []
    step = np.diff(inside.astype(np.int8), prepend=0, append=0)
    starts, ends = np.flatnonzero(step == 1), np.flatnonzero(step == -1) - 1
    return [
        {"start_s": float(t_s[a]), "end_s": float(t_s[b]), "duration_s": float(t_s[b] - t_s[a])}
        for a, b in zip(starts, ends, strict=True)
    ]


def wheel_speed_mph(drive: Drive, frames: Frames, layout: Layout) -> tuple[np.ndarray, np.ndarray]:
    """(tick, mph) of every speed frame on bus 0: the mean of the four wheels as packed."""
    from jupyter_cts.can.decode import extract_raw, physical

    dbc = load_dbc(layout.dbc)
    name, wheels = layout.speed
    msg = dbc.message(name)
    rows = (frames.address == msg.address) & (frames.bus == 0)
    data = frames.data[rows]
    kph = np.mean([physical(extract_raw(data, msg.signal(w)), msg.signal(w)) for w in wheels], axis=0)
    return frames.tick[rows], kph * KPH_TO_MPH


def _first_frame(schedule: np.ndarray, k: int) -> int | None:
    i = int(np.searchsorted(schedule, k))
    return int(schedule[i]) if i < schedule.shape[0] else None


def build_truth(
    drive: Drive, frames: Frames, layout: Layout, *, start_k: int = 0, end_k: int | None = None
) -> dict:
    """Truth for ticks ``[start_k, end_k)`` (a segment, or the whole route), times relative to ``start_k``."""
    sc = drive.scenario
    end_k = drive.n if end_k is None else end_k
    t0 = start_k / TICKS_PER_S

    def rel(k: int | None) -> float | None:
        return None if k is None else round(k / TICKS_PER_S - t0, 6)

    def inside(k: int) -> bool:
        return start_k <= k < end_k

    lo, hi = sc.band_mph
    ticks, mph = wheel_speed_mph(drive, frames, layout)
    keep = (ticks >= start_k) & (ticks < end_k)
    windows = target_windows(ticks[keep] / TICKS_PER_S - t0, mph[keep], lo, hi)
    sched = frames.schedule

    def presses(items: list[Press], message: str | None) -> list[dict[str, Any]]:
        out = []
        for p in items:
            k = tick_of(p.t_s)
            if not inside(k):
                continue
            speed = float(drive.speed_mph[k])
            seen = _first_frame(sched[message], k) if message in sched else None
            out.append(
                {
                    "t_s": rel(k),
                    "duration_s": p.duration_s,
                    "can_t_s": rel(seen),
                    "speed_mph": round(speed, 4),
                    "in_target": bool(lo <= speed <= hi),
                }
            )
        return out

    button_msg = "Cruise_Buttons" if "Cruise_Buttons" in sched else None
    cruise_msg = "Cruise_Status" if "Cruise_Status" in sched else layout.cruise_message
    marker = marker_windows(sc.left_blinker, sc.right_blinker, sc.marker_timeout_s, end_k / TICKS_PER_S)
    result = {
        "scenario": sc.model_dump(mode="json"),
        "car_fingerprint": sc.car_fingerprint,
        "brand": sc.brand,
        "dbc": layout.dbc,
        "units": sc.units,
        "t0_s": t0,
        "duration_s": (end_k - start_k) / TICKS_PER_S,
        "speed_source": f"{layout.speed[0]} mean of {', '.join(layout.speed[1])} (bus 0), mph",
        "band_mph": [lo, hi],
        "target_windows": windows,
        "presses": {
            "set": presses(sc.set_presses, button_msg),
            "resume": presses(sc.resume_presses, button_msg),
            "main": presses(sc.main_presses, button_msg),
            "brake": presses(sc.brake_presses, layout.brake_message),
        },
        "main": [
            {"t_s": rel(c.k), "on": c.main_on}
            for prev, c in zip(drive.changes, drive.changes[1:], strict=False)
            if c.main_on != prev.main_on and inside(c.k)
        ],
        "engaged_intervals": _engaged(drive, sched.get(cruise_msg), start_k, end_k, rel),
        "set_speed_changes": [
            {"t_s": rel(c.k), "set_speed": c.set_speed, "units": sc.units}
            for prev, c in zip(drive.changes, drive.changes[1:], strict=False)
            if c.set_speed is not None and c.set_speed != prev.set_speed and inside(c.k)
        ],
        "blinkers": {
            "left": [_span(s, rel, inside) for s in sc.left_blinker if inside(tick_of(s.start_s))],
            "right": [_span(s, rel, inside) for s in sc.right_blinker if inside(tick_of(s.start_s))],
        },
        "marker_windows": [
            {
                **w,
                "start_s": rel(tick_of(w["start_s"])),
                "end_s": rel(None if w["end_s"] is None else tick_of(w["end_s"])),
            }
            for w in marker
            if inside(tick_of(w["start_s"]))
        ],
        "frames": _frame_counts(frames, start_k, end_k),
    }
    if layout.dbc.startswith("subaru_global"):
        result["bits"] = _bits(layout)
        result["marker_button"] = _marker_button(sc, marker)
    return result


def marker_windows(left: list[Span], right: list[Span], timeout_s: float, log_end_s: float) -> list[dict]:
    """Left stalk on opens a window; the next right stalk on within ``timeout_s`` closes it.

    Flashes (and further left stalks) inside an open window do not open new ones. A window the log
    ends inside is ``partial``; one the timeout expires on is dropped (``timed_out`` is not a window).
    """
    rights = sorted(s.start_s for s in right if s.start_s < log_end_s)
    out: list[dict] = []
    open_until = -1.0
    for start in sorted(s.start_s for s in left):
        if start <= open_until:
            continue
        close = next((r for r in rights if start < r <= start + timeout_s), None)
        if close is not None:
            out.append({"start_s": start, "end_s": close, "partial": False})
            open_until = close
        elif start + timeout_s > log_end_s:
            out.append({"start_s": start, "end_s": None, "partial": True})
            open_until = log_end_s
        else:
            open_until = start + timeout_s
    return out


def _span(s: Span, rel: Any, inside: Any) -> dict:
    return {"start_s": rel(tick_of(s.start_s)), "end_s": rel(tick_of(s.end_s))}


def _engaged(drive: Drive, schedule: np.ndarray | None, start_k: int, end_k: int, rel: Any) -> list[dict]:
    out: list[dict] = []
    on = drive.engaged[start_k:end_k].astype(np.int8)
    if not on.any():
        return out
    step = np.diff(on, prepend=0, append=0)
    for a, b in zip(np.flatnonzero(step == 1), np.flatnonzero(step == -1), strict=True):
        ka, kb = start_k + int(a), start_k + int(b)
        interval = {
            "start_s": rel(ka),
            "end_s": rel(kb),
            "open_at_start": ka == start_k and start_k > 0 and bool(drive.engaged[start_k - 1]),
            "open_at_end": kb == end_k,
        }
        if schedule is not None:
            seen_on, seen_off = _first_frame(schedule, ka), _first_frame(schedule, kb)
            interval["can_start_s"] = rel(seen_on)
            interval["can_end_s"] = rel(seen_off) if seen_off is not None and seen_off < end_k else None
        out.append(interval)
    return out


def _frame_counts(frames: Frames, start_k: int, end_k: int) -> dict:
    rows = (frames.tick >= start_k) & (frames.tick < end_k)
    buses, counts = np.unique(frames.bus[rows], return_counts=True)
    return {
        "total": int(rows.sum()),
        "per_bus": {str(int(b)): int(c) for b, c in zip(buses, counts, strict=True)},
    }


def _bits(layout: Layout) -> dict[str, dict]:
    dbc = load_dbc(layout.dbc)
    out = {}
    for key, (message, signal) in SUBARU_BITS.items():
        msg = dbc.message(message)
        sig = msg.signal(signal)
        bus = next(m.bus for m in layout.messages if m.name == message)
        label = bit_labels(sig.lsb)
        out[key] = {
            "message": message,
            "signal": signal,
            "address": msg.address,
            "bus": bus,
            "g": label.g,
            "lsb_label": label.lsb_label,
            "msb_label": label.msb_label,
            "selector": format_bit_selector(msg.address, label.g),
            "msb_selector": format_bit_selector(msg.address, label.g, msb=True),
        }
    return out


def _marker_button(sc: Any, windows: list[dict]) -> str | None:
    """The button pressed inside every closed marker window and never outside them, if there is one."""
    closed = [w for w in windows if not w["partial"]]
    if not closed:
        return None
    for name, items in (("set", sc.set_presses), ("resume", sc.resume_presses), ("main", sc.main_presses)):
        hits = [any(w["start_s"] <= p.t_s <= w["end_s"] for p in items) for w in closed]
        stray = [p for p in items if not any(w["start_s"] <= p.t_s <= w["end_s"] for w in closed)]
        if all(hits) and not stray:
            return name
    return None
