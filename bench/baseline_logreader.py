"""The straightforward way to analyse cruise control, for bench/cruise_control.py to compare against.

What people write today around openpilot-logging's ``LogReader``: iterate every event, and for each
CAN frame decode the signals by hand (int.from_bytes, shifts and masks, as in the Subaru DBC), keep
Python lists, then find presses, engaged spans, target windows and marker windows with loops, and
count every bit flip per (address, bus, bit) to rank candidate bits. Same signals, same bus rule
(bus 0), same outputs as cruise-control-analyzer's analysis, none of its vectorization.

    .venv/bin/python bench/baseline_logreader.py path/to/rlog.zst
"""

from __future__ import annotations

import sys
from bisect import bisect_left, bisect_right
from collections import defaultdict
from typing import Any

KPH_PER_MPH = 1.609344
WHEEL_SPEEDS, CRUISE_BUTTONS, CRUISE_STATUS, DASHLIGHTS, BRAKE_STATUS = 0x13A, 0x146, 0x241, 0x390, 0x13C


def _bits(value: int, start: int, size: int) -> int:
    return (value >> start) & ((1 << size) - 1)


def decode_frame(address: int, data: bytes) -> dict[str, float] | None:
    """The analyzer's signals of one frame, bit-twiddled in Python (little-endian starts from the DBC)."""
    v = int.from_bytes(data, "little")
    if address == WHEEL_SPEEDS:
        kph = [_bits(v, s, 13) * 0.057 for s in (51, 12, 38, 25)]  # FL, FR, RL, RR
        return {"mph": sum(kph) / 4 / KPH_PER_MPH}
    if address == CRUISE_BUTTONS:
        return {"main": _bits(v, 42, 1), "set": _bits(v, 43, 1), "resume": _bits(v, 44, 1)}
    if address == CRUISE_STATUS:
        # Cruise_Set_Speed is big-endian (Motorola) 12 bits from bit 51: low nibble of byte 6, then byte 7
        return {
            "on": _bits(v, 54, 1),
            "engaged": _bits(v, 55, 1),
            "set_speed": ((data[6] & 0x0F) << 8) | data[7],
        }
    if address == DASHLIGHTS:
        return {"left": _bits(v, 50, 1), "right": _bits(v, 51, 1), "units": _bits(v, 24, 1)}
    if address == BRAKE_STATUS:
        return {"brake": _bits(v, 62, 1)}
    return None


def rising(samples: list[tuple[int, float]]) -> list[int]:
    out, prev = [], None
    for t, v in samples:
        if prev is not None and v and not prev:
            out.append(t)
        prev = v
    return out


def spans(samples: list[tuple[int, bool]]) -> list[tuple[int, int]]:
    out, start, last = [], None, None
    for t, on in samples:
        if on and start is None:
            start = t
        if not on and start is not None:
            out.append((start, last if last is not None else t))
            start = None
        if on:
            last = t
    if start is not None and last is not None:
        out.append((start, last))
    return out


def analyse(
    path: str, speed_min: float = 55.0, speed_max: float = 56.0, *, bits: bool = True
) -> dict[str, Any]:
    """The whole analysis; ``bits=False`` skips the bit-flip counting (signals only, for reference)."""
    from openpilot_logging.logreader import LogReader

    signals: dict[str, list[tuple[int, float]]] = defaultdict(list)
    flips: dict[tuple[int, int], list[list[int]]] = {}
    last: dict[tuple[int, int], int] = {}
    first_t = None
    for event in LogReader(path):
        t = event.logMonoTime
        if first_t is None:
            first_t = t
        if event.which() != "can":
            continue
        for frame in event.can:
            address, bus, data = frame.address, frame.src, bytes(frame.dat)
            if bus >= 128:
                continue
            key = (address, bus)
            value = int.from_bytes(data, "little")
            if not bits:
                pass
            elif key in last:
                changed = value ^ last[key]
                while changed:
                    low = changed & -changed
                    flips[key][low.bit_length() - 1].append(t)
                    changed ^= low
            else:
                flips[key] = [[] for _ in range(8 * max(len(data), 8))]
            last[key] = value
            if bus == 0:
                decoded = decode_frame(address, data)
                if decoded:
                    for name, v in decoded.items():
                        signals[name].append((t, v))

    t0 = first_t or 0
    speed = signals["mph"]
    windows = spans([(t, speed_min <= v <= speed_max) for t, v in speed])

    def mph_at(t: int) -> float:
        i = bisect_right([s[0] for s in speed], t) - 1
        return speed[max(i, 0)][1] if speed else float("nan")

    presses = {
        name: [((t - t0) / 1e9, mph_at(t)) for t in rising(signals[name])]
        for name in ("set", "resume", "main")
    }
    engaged = [
        ((a - t0) / 1e9, (b - t0) / 1e9) for a, b in spans([(t, bool(v)) for t, v in signals["engaged"]])
    ]
    markers, left, right = [], rising(signals["left"]), rising(signals["right"])
    i = 0
    while i < len(left):
        start = left[i]
        close = next((r for r in right if start < r <= start + 15e9), None)
        if close is not None:
            markers.append((start - 1.5e9, close + 1.5e9))
        end = close if close is not None else start + 15e9
        while i < len(left) and left[i] <= end:
            i += 1
    candidates = []
    for (address, bus), per_bit in flips.items():
        for g, times in enumerate(per_bit):
            if times:
                inside = sum(bisect_right(times, b) - bisect_left(times, a) for a, b in markers)
                candidates.append((inside / len(times), address, bus, g, len(times)))
    candidates.sort(reverse=True)
    return {
        "target_windows": [((a - t0) / 1e9, (b - t0) / 1e9) for a, b in windows],
        "presses": presses,
        "engaged": engaged,
        "markers": markers,
        "candidates": candidates[:200],
    }


if __name__ == "__main__":
    result = analyse(sys.argv[1])
    print({k: (v if k != "candidates" else v[:5]) for k, v in result.items()})
