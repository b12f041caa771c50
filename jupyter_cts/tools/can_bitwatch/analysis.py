"""What changed around a window: frame counts, bit flips per part, edges of watched bits, pulses.

Every (address, bus) is handled on its own (buses are never merged). A flip is the change between
two consecutive frames of the same address and bus; it belongs to the part (pre/window/post) of the
later frame, so a change that happens exactly as the window opens counts as inside it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jupyter_cts.can.bits import bit_labels
from jupyter_cts.logs.table import CanTable

PARTS = ("pre", "window", "post")


@dataclass(frozen=True)
class Window:
    start_s: float
    end_s: float  # inf when the window runs to the end
    source: str  # "params", "can.csv labels" or "whole input"


@dataclass
class GroupBits:
    """Bit behaviour of one (address, bus)."""

    address: int
    bus: int
    frames: dict[str, int]
    flips: dict[str, np.ndarray]  # part -> flips per bit
    rises: dict[str, np.ndarray]
    first_flip_s: np.ndarray  # first/last flip inside the window per bit (nan: none)
    last_flip_s: np.ndarray
    value_before: np.ndarray  # bit value in the last frame before the window (-1: no such frame)
    t_s: np.ndarray  # frame times (for edges and pulses)
    mono: np.ndarray
    bits: np.ndarray  # (n, nbits) uint8
    labels: np.ndarray  # part per frame

    @property
    def nbits(self) -> int:
        return int(self.bits.shape[1])


def label_frames(t_s: np.ndarray, window: Window) -> np.ndarray:
    out = np.full(t_s.shape, "window", dtype=object)
    out[t_s < window.start_s] = "pre"
    out[t_s >= window.end_s] = "post"
    return out


def group_bits(table: CanTable, t_s: np.ndarray, labels: np.ndarray) -> list[GroupBits]:
    """Per (address, bus): frames per part and per-bit flips/rises per part."""
    if not len(table):
        return []
    key = (table.address.astype(np.uint64) << np.uint64(8)) | table.bus.astype(np.uint64)
    order = np.argsort(key, kind="stable")
    sk = key[order]
    starts = np.flatnonzero(np.concatenate([[True], sk[1:] != sk[:-1]]))
    ends = np.concatenate([starts[1:], [len(order)]])
    out = []
    for a, b in zip(starts, ends, strict=True):
        rows = order[a:b]
        nbytes = max(int(table.dlc[rows].max()), 1)
        bits = np.unpackbits(table.data[rows, :nbytes], axis=1, bitorder="little")
        lab = labels[rows].astype(str)
        ts = t_s[rows]
        flip = bits[1:] != bits[:-1]
        rise = flip & (bits[1:] == 1)
        later = lab[1:]
        flips = {p: flip[later == p].sum(axis=0) for p in PARTS}
        rises = {p: rise[later == p].sum(axis=0) for p in PARTS}
        inside = later == "window"
        first = np.full(bits.shape[1], np.nan)
        last = np.full(bits.shape[1], np.nan)
        if inside.any():
            fw = flip & inside[:, None]
            has = fw.any(axis=0)
            t_later = ts[1:]
            first[has] = t_later[np.argmax(fw[:, has], axis=0)]
            last[has] = t_later[fw.shape[0] - 1 - np.argmax(fw[::-1, has], axis=0)]
        pre_rows = np.flatnonzero(lab == "pre")
        before = bits[pre_rows[-1]].astype(np.int64) if pre_rows.size else np.full(bits.shape[1], -1)
        out.append(
            GroupBits(
                address=int(sk[a] >> np.uint64(8)),
                bus=int(sk[a] & np.uint64(0xFF)),
                frames={p: int((lab == p).sum()) for p in PARTS},
                flips=flips,
                rises=rises,
                first_flip_s=first,
                last_flip_s=last,
                value_before=before,
                t_s=ts,
                mono=table.t_ns[rows].astype(np.int64),
                bits=bits,
                labels=lab,
            )
        )
    return out


def bit_fields(address: int, bus: int, g: int) -> dict[str, object]:
    label = bit_labels(g)
    return {
        "address": f"0x{address:03X}",
        "bus": bus,
        "g": g,
        "lsb_label": label.lsb_label,
        "msb_label": label.msb_label,
    }


def counts_rows(groups: list[GroupBits], durations: dict[str, float]) -> list[dict[str, object]]:
    """Frames per part, and ``delta``: window frames beyond what the rate outside the window predicts."""
    outside_s = durations["pre"] + durations["post"]
    rows = []
    for gb in groups:
        outside = gb.frames["pre"] + gb.frames["post"]
        expected = outside / outside_s * durations["window"] if outside_s > 0 else 0.0
        rows.append(
            {
                "address": f"0x{gb.address:03X}",
                "bus": gb.bus,
                **gb.frames,
                "delta": round(gb.frames["window"] - expected, 2) + 0.0,
            }
        )
    rows.sort(key=lambda r: (-float(str(r["delta"])), str(r["address"]), int(str(r["bus"]))))
    return rows


def window_only(groups: list[GroupBits]) -> list[dict[str, object]]:
    """Bits that flip inside the window and never before or after it: button-like candidates."""
    rows = []
    for gb in groups:
        w, outside = gb.flips["window"], gb.flips["pre"] + gb.flips["post"]
        for g in np.flatnonzero((w > 0) & (outside == 0)):
            rows.append(
                {
                    **bit_fields(gb.address, gb.bus, int(g)),
                    "window_flips": int(w[g]),
                    "window_rises": int(gb.rises["window"][g]),
                    "window_falls": int(w[g] - gb.rises["window"][g]),
                    "first_flip_s": round(float(gb.first_flip_s[g]), 6),
                    "last_flip_s": round(float(gb.last_flip_s[g]), 6),
                    "value_before": int(gb.value_before[g]) if gb.value_before[g] >= 0 else None,
                }
            )
    rows.sort(key=lambda r: (int(r["window_flips"]), str(r["address"]), int(r["bus"]), int(r["g"])))  # type: ignore[call-overload]
    return rows


def edges_of(gb: GroupBits, g: int) -> list[dict[str, object]]:
    if g >= gb.nbits or gb.bits.shape[0] < 2:
        return []
    v = gb.bits[:, g].astype(np.int8)
    step = np.diff(v)
    idx = np.flatnonzero(step) + 1
    return [
        {
            "t_s": round(float(gb.t_s[i]), 6),
            "log_mono_time": int(gb.mono[i]),
            **bit_fields(gb.address, gb.bus, g),
            "edge": "rise" if step[i - 1] > 0 else "fall",
            "segment": str(gb.labels[i]),
        }
        for i in idx
    ]


def pulses_in_window(gb: GroupBits, g: int) -> list[tuple[float, float]]:
    """(start_s, duration_s) of every high pulse that rises and falls inside the window."""
    v = gb.bits[:, g].astype(np.int8)
    step = np.diff(v)
    inside = gb.labels[1:] == "window"
    rises = gb.t_s[1:][(step > 0) & inside]
    falls = gb.t_s[1:][(step < 0) & inside]
    out = []
    for r in rises:
        j = int(np.searchsorted(falls, r, side="right"))
        if j < falls.size:
            out.append((float(r), float(falls[j] - r)))
    return out


def accel_hunt(
    groups: list[GroupBits], count: int, length_s: float, tolerance_s: float
) -> list[dict[str, object]]:
    """Bits with exactly ``count`` high pulses of ``length_s`` +/- ``tolerance_s`` inside the window."""
    rows = []
    for gb in groups:
        for g in np.flatnonzero(gb.rises["window"] == count):
            pulses = pulses_in_window(gb, int(g))
            if len(pulses) != count or any(abs(d - length_s) > tolerance_s for _, d in pulses):
                continue
            rows.append(
                {
                    **bit_fields(gb.address, gb.bus, int(g)),
                    "pulses": count,
                    "starts_s": ";".join(f"{s:.3f}" for s, _ in pulses),
                    "durations_s": ";".join(f"{d:.3f}" for _, d in pulses),
                    "mean_duration_s": round(sum(d for _, d in pulses) / count, 3),
                    "flips_outside": int(gb.flips["pre"][g] + gb.flips["post"][g]),
                }
            )
    rows.sort(key=lambda r: (int(r["flips_outside"]), str(r["address"]), int(r["bus"]), int(r["g"])))  # type: ignore[call-overload]
    return rows


def per_address(groups: list[GroupBits], durations: dict[str, float]) -> list[dict[str, object]]:
    out = []
    for gb in groups:
        out.append(
            {
                "address": gb.address,
                "address_hex": f"0x{gb.address:03X}",
                "bus": gb.bus,
                "frames": gb.frames,
                "rate_hz": {
                    p: round(gb.frames[p] / durations[p], 3) if durations[p] > 0 else None for p in PARTS
                },
                "bits_changed": {
                    p: [bit_labels(int(g)).lsb_label for g in np.flatnonzero(gb.flips[p])] for p in PARTS
                },
                "flips": {p: int(gb.flips[p].sum()) for p in PARTS},
                "window_only_bits": [
                    bit_labels(int(g)).lsb_label
                    for g in np.flatnonzero(
                        (gb.flips["window"] > 0) & (gb.flips["pre"] + gb.flips["post"] == 0)
                    )
                ],
            }
        )
    return out
