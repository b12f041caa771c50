"""What changed around a window: frame counts, bit flips per part, edges of watched bits, pulses.

Frames arrive in chunks (a segment of a route, a slice of a can.csv), in log order, and are folded
into one running summary per (address, bus), so memory does not grow with the input: a group keeps
its counts, the bits of its last frame (so a flip across a chunk boundary is seen), and the edges
it may have to list (watched bits always; other bits inside the window, up to a cap). Buses are
never merged. A flip is the change between two consecutive frames of the same address and bus; it
belongs to the part (pre/window/post) of the later frame, so a change exactly as the window opens
counts as inside it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from jupyter_cts.can.bits import bit_labels
from jupyter_cts.logs.table import CanTable

PARTS = ("pre", "window", "post")
Edge = tuple[float, int, bool]  # t_s, log_mono_time, rising


@dataclass(frozen=True)
class Window:
    start_s: float
    end_s: float  # inf when the window runs to the end
    source: str  # "params", "can.csv labels" or "whole input"


def label_frames(t_s: np.ndarray, window: Window) -> np.ndarray:
    out = np.full(t_s.shape, "window", dtype=object)
    out[t_s < window.start_s] = "pre"
    out[t_s >= window.end_s] = "post"
    return out


@dataclass
class GroupBits:
    """The running summary of one (address, bus)."""

    address: int
    bus: int
    nbits: int
    frames: dict[str, int] = field(default_factory=lambda: dict.fromkeys(PARTS, 0))
    flips: dict[str, np.ndarray] = field(default_factory=dict)  # part -> flips per bit
    rises: dict[str, np.ndarray] = field(default_factory=dict)
    first_flip_s: np.ndarray = field(default_factory=lambda: np.zeros(0))  # inside the window, nan: none
    last_flip_s: np.ndarray = field(default_factory=lambda: np.zeros(0))
    value_before: np.ndarray = field(
        default_factory=lambda: np.zeros(0, np.int64)
    )  # last pre frame, -1: none
    last: np.ndarray | None = None  # bits of the latest frame
    window_edges: dict[int, list[Edge]] = field(default_factory=dict)  # capped per bit
    too_many: set[int] = field(default_factory=set)  # bits whose window edges passed the cap
    watched_edges: dict[int, list[tuple[float, int, bool, str]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._resize(self.nbits)

    def _resize(self, nbits: int) -> None:
        def grow(a: np.ndarray, fill: float, dtype: type) -> np.ndarray:
            out: np.ndarray = np.full(nbits, fill, dtype=dtype)
            out[: a.size] = a
            return out

        for part in PARTS:
            self.flips[part] = grow(self.flips.get(part, np.zeros(0)), 0, np.int64)
            self.rises[part] = grow(self.rises.get(part, np.zeros(0)), 0, np.int64)
        self.first_flip_s = grow(self.first_flip_s, np.nan, np.float64)
        self.last_flip_s = grow(self.last_flip_s, np.nan, np.float64)
        self.value_before = grow(self.value_before, -1, np.int64)
        if self.last is not None and self.last.size < nbits:
            self.last = np.concatenate([self.last, np.zeros(nbits - self.last.size, np.uint8)])
        self.nbits = nbits

    def fold(
        self,
        bits: np.ndarray,
        t_s: np.ndarray,
        mono: np.ndarray,
        labels: np.ndarray,
        watched: Iterable[int],
        cap: int,
    ) -> None:
        """Add this group's next frames (bits per frame, in log order) to the summary."""
        if bits.shape[1] > self.nbits:
            self._resize(bits.shape[1])
        elif bits.shape[1] < self.nbits:
            bits = np.pad(bits, ((0, 0), (0, self.nbits - bits.shape[1])))
        for part in PARTS:
            self.frames[part] += int((labels == part).sum())
        seq = bits if self.last is None else np.vstack([self.last[None, :], bits])
        later = slice(1, None) if self.last is None else slice(None)
        flip = seq[1:] != seq[:-1]
        now, lab, ts, mo = bits[later], labels[later], t_s[later], mono[later]
        rise = flip & (now == 1)
        for part in PARTS:
            sel = lab == part
            if sel.any():
                self.flips[part] += flip[sel].sum(axis=0)
                self.rises[part] += rise[sel].sum(axis=0)
        inside = lab == "window"
        if inside.any():
            self._window(flip, rise, inside, ts, mo, cap)
        pre = np.flatnonzero(labels == "pre")
        if pre.size:
            self.value_before = bits[pre[-1]].astype(np.int64)
        for g in watched:
            if g < self.nbits:
                for r in np.flatnonzero(flip[:, g]).tolist():
                    self.watched_edges.setdefault(g, []).append(
                        (float(ts[r]), int(mo[r]), bool(rise[r, g]), str(lab[r]))
                    )
        self.last = bits[-1].copy()

    def _window(
        self, flip: np.ndarray, rise: np.ndarray, inside: np.ndarray, ts: np.ndarray, mo: np.ndarray, cap: int
    ) -> None:
        fw = flip & inside[:, None]
        count = fw.sum(axis=0)
        has = np.flatnonzero(count)
        first = ts[np.argmax(fw[:, has], axis=0)]
        last = ts[fw.shape[0] - 1 - np.argmax(fw[::-1, has], axis=0)]
        self.first_flip_s[has] = np.fmin(self.first_flip_s[has], first)
        self.last_flip_s[has] = np.fmax(self.last_flip_s[has], last)
        for g in has.tolist():
            if g in self.too_many:
                continue
            kept = self.window_edges.setdefault(g, [])
            if len(kept) + int(count[g]) > cap:
                self.too_many.add(g)
                del self.window_edges[g]
                continue
            rows = np.flatnonzero(fw[:, g])
            kept += [(float(ts[r]), int(mo[r]), bool(rise[r, g])) for r in rows.tolist()]


class BitwatchAccumulator:
    """Folds chunks of frames, in log order, into one ``GroupBits`` per (address, bus)."""

    def __init__(self, watch: list[tuple[int, int | None, int]], edge_cap: int) -> None:
        self.watch = watch
        self.cap = edge_cap
        self.groups: dict[tuple[int, int], GroupBits] = {}
        self.t_min = np.inf
        self.t_max = -np.inf
        self.first_window_s = np.inf
        self.first_post_s = np.inf

    def add(self, table: CanTable, t_s: np.ndarray, labels: np.ndarray) -> None:
        if not len(table):
            return
        self.t_min = min(self.t_min, float(t_s.min()))
        self.t_max = max(self.t_max, float(t_s.max()))
        labels = labels.astype(str)
        for part, attr in (("window", "first_window_s"), ("post", "first_post_s")):
            sel = labels == part
            if sel.any():
                setattr(self, attr, min(getattr(self, attr), float(t_s[sel].min())))
        key = (table.address.astype(np.uint64) << np.uint64(8)) | table.bus.astype(np.uint64)
        order = np.argsort(key, kind="stable")
        sk = key[order]
        starts = np.flatnonzero(np.concatenate([[True], sk[1:] != sk[:-1]]))
        ends = np.concatenate([starts[1:], [len(order)]])
        mono = table.t_ns.astype(np.int64)
        for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
            rows = order[a:b]
            address, bus = int(sk[a] >> np.uint64(8)), int(sk[a] & np.uint64(0xFF))
            nbytes = max(int(table.dlc[rows].max()), 1)
            bits = np.unpackbits(table.data[rows, :nbytes], axis=1, bitorder="little")
            group = self.groups.get((address, bus))
            if group is None:
                group = self.groups[(address, bus)] = GroupBits(address, bus, bits.shape[1])
            watched = sorted({g for (wa, wb, g) in self.watch if wa == address and (wb is None or wb == bus)})
            group.fold(bits, t_s[rows], mono[rows], labels[rows], watched, self.cap)

    def sorted_groups(self) -> list[GroupBits]:
        return [self.groups[k] for k in sorted(self.groups)]


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


def only_in_window(gb: GroupBits) -> np.ndarray:
    return np.flatnonzero((gb.flips["window"] > 0) & (gb.flips["pre"] + gb.flips["post"] == 0))


def window_only(groups: list[GroupBits]) -> list[dict[str, object]]:
    """Bits that flip inside the window and never before or after it: button-like candidates."""
    rows = []
    for gb in groups:
        w = gb.flips["window"]
        for g in only_in_window(gb).tolist():
            rows.append(
                {
                    **bit_fields(gb.address, gb.bus, g),
                    "window_flips": int(w[g]),
                    "window_rises": int(gb.rises["window"][g]),
                    "window_falls": int(w[g] - gb.rises["window"][g]),
                    "first_flip_s": round(float(gb.first_flip_s[g]), 6),
                    "last_flip_s": round(float(gb.last_flip_s[g]), 6),
                    "value_before": int(gb.value_before[g]) if gb.value_before[g] >= 0 else None,
                }
            )
    rows.sort(
        key=lambda r: (int(str(r["window_flips"])), str(r["address"]), int(str(r["bus"])), int(str(r["g"])))
    )
    return rows


def edge_rows(
    gb: GroupBits, g: int, edges: Iterable[tuple[float, int, bool, str]]
) -> list[dict[str, object]]:
    return [
        {
            "t_s": round(t, 6),
            "log_mono_time": mono,
            **bit_fields(gb.address, gb.bus, g),
            "edge": "rise" if rising else "fall",
            "segment": part,
        }
        for t, mono, rising, part in edges
    ]


def pulses_in_window(edges: list[Edge]) -> list[tuple[float, float]]:
    """(start_s, duration_s) of every high pulse that rises and falls inside the window."""
    out = []
    rises = [t for t, _, rising in edges if rising]
    falls = [t for t, _, rising in edges if not rising]
    for r in rises:
        after = [f for f in falls if f > r]
        if after:
            out.append((r, after[0] - r))
    return out


def accel_hunt(
    groups: list[GroupBits], count: int, length_s: float, tolerance_s: float
) -> list[dict[str, object]]:
    """Bits with exactly ``count`` high pulses of ``length_s`` +/- ``tolerance_s`` inside the window."""
    rows = []
    for gb in groups:
        for g in np.flatnonzero(gb.rises["window"] == count).tolist():
            if g not in gb.window_edges:
                continue  # flipped more often than a pulse train can
            pulses = pulses_in_window(gb.window_edges[g])
            if len(pulses) != count or any(abs(d - length_s) > tolerance_s for _, d in pulses):
                continue
            rows.append(
                {
                    **bit_fields(gb.address, gb.bus, g),
                    "pulses": count,
                    "starts_s": ";".join(f"{s:.3f}" for s, _ in pulses),
                    "durations_s": ";".join(f"{d:.3f}" for _, d in pulses),
                    "mean_duration_s": round(sum(d for _, d in pulses) / count, 3),
                    "flips_outside": int(gb.flips["pre"][g] + gb.flips["post"][g]),
                }
            )
    rows.sort(
        key=lambda r: (int(str(r["flips_outside"])), str(r["address"]), int(str(r["bus"])), int(str(r["g"])))
    )
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
                "window_only_bits": [bit_labels(int(g)).lsb_label for g in only_in_window(gb)],
            }
        )
    return out
