"""Bit flips per (address, bus, bit), counted so that segments can be summarised apart.

Finding "the bit that is the Set button" means counting, for every bit of every message, how often
it flips inside marker windows and near engage/disengage edges. Those windows are only known once
all segments are joined, so a segment cannot count them itself, and shipping every flip (millions:
counters and checksums flip in every frame) would make the per-segment summary as big as the log.

Instead each segment keeps the cumulative flip count of every flipping bit at a few sample times:
every time a window or interval edge could fall on (its own blinker and cruise edges, shifted by
the params' pre/post/margin) and every frame time near its start and end (where edges of the
neighbouring segments can reach). Any window's count is then exactly ``C(end) - C(start)``.
Bits that flip rarely also keep their flip times, for the edge exports.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jupyter_cts.logs.table import CanTable

_I64 = np.int64


def make_key(address: np.ndarray | int, bus: np.ndarray | int, g: np.ndarray | int) -> np.ndarray:
    """One sortable uint64 per (address, bus, bit): address in the high bits, then bus, then g."""
    a = np.asarray(address, np.uint64)
    b = np.asarray(bus, np.uint64)
    return (a << np.uint64(24)) | (b << np.uint64(16)) | np.asarray(g, np.uint64)


def split_key(key: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    key = np.asarray(key, np.uint64)
    return (
        (key >> np.uint64(24)).astype(np.int64),
        ((key >> np.uint64(16)) & np.uint64(0xFF)).astype(np.int64),
        (key & np.uint64(0xFFFF)).astype(np.int64),
    )


@dataclass(frozen=True)
class FlipSummary:
    """What one segment knows about its bit flips (picklable, a few hundred kB at most)."""

    keys: np.ndarray  # uint64, sorted: every bit of every (address, bus) seen (within its dlc)
    toggles: np.ndarray  # int32 flips inside the segment
    rises: np.ndarray  # int32
    first_v: np.ndarray  # uint8 value in the first frame
    last_v: np.ndarray  # uint8 value in the last frame
    first_t: np.ndarray  # int64 first frame of the key's (address, bus)
    sample_t: np.ndarray  # int64 sorted sample times of the cumulative counts
    cum_rows: np.ndarray  # int64 rows of ``keys`` that flip at all
    # the cumulative counts (len(cum_rows) x len(sample_t)) as their non-zero steps, column by column:
    # at sample j, cum_rows[step_row[i]] gained step_count[i] flips. Far smaller than the dense matrix.
    step_col: np.ndarray
    step_row: np.ndarray
    step_count: np.ndarray
    frame_t0: int  # first frame of the segment
    frame_t1: int  # last frame of the segment
    head_end_t: int  # counts are exact for any time up to here ...
    tail_start_t: int  # ... and from here on, besides the sample times
    rare_key: np.ndarray  # rows of ``keys`` (a narrow unsigned type)
    rare_t: np.ndarray  # int64 flip times of rarely flipping keys
    rare_rise: np.ndarray  # bool
    rare_max: int = 256  # keys flipping at most this often keep their flip times

    @property
    def falls(self) -> np.ndarray:
        return self.toggles - self.rises

    @staticmethod
    def empty() -> FlipSummary:
        z64 = np.zeros(0, _I64)
        z32 = np.zeros(0, np.int32)
        z8 = np.zeros(0, np.uint8)
        return FlipSummary(
            np.zeros(0, np.uint64), z32, z32, z8, z8, z64, z64, z64,
            z64, z64, z64, -1, -1, -1, -1, z64, z64, np.zeros(0, bool), 0,
        )  # fmt: skip

    def local_upto(self, x: int) -> tuple[np.ndarray, bool]:
        """Flips at t <= x for the keys in ``cum_rows``, and whether that count is exact."""
        if x < self.frame_t0:
            return np.zeros(self.cum_rows.size, np.int32), True
        if x >= self.frame_t1:
            return self.toggles[self.cum_rows], True
        j = int(np.searchsorted(self.sample_t, x, side="right")) - 1
        exact = (j >= 0 and self.sample_t[j] == x) or x <= self.head_end_t or x >= self.tail_start_t
        m = int(np.searchsorted(self.step_col, j, side="right"))
        counts = np.bincount(self.step_row[:m], weights=self.step_count[:m], minlength=self.cum_rows.size)
        return counts.astype(np.int64), exact


def summarize_flips(
    table: CanTable,
    query_t: np.ndarray,
    *,
    head_ns: int,
    tail_ns: int,
    rare_max: int = 256,
) -> FlipSummary:
    """Flip statistics of one segment's frames (see the module docstring). Vectorized per frame."""
    n = len(table)
    if n == 0:
        return FlipSummary.empty()
    t = table.t_ns.astype(_I64)
    group = (table.address.astype(np.uint64) << np.uint64(8)) | table.bus.astype(np.uint64)
    order = np.argsort(group, kind="stable")
    gk = group[order]
    ts = t[order]
    nbytes = max(int(table.dlc.max()), 1)
    packed = table.data[order, :nbytes]
    starts = np.flatnonzero(np.concatenate([[True], gk[1:] != gk[:-1]]))
    ends = np.concatenate([starts[1:], [n]])
    # change[r]: the bytes' XOR from the frame before (same address and bus) to frame r, seen at ts[r];
    # working on packed bytes first keeps the per-bit passes to two unpacks
    change = np.zeros_like(packed)
    np.bitwise_xor(packed[1:], packed[:-1], out=change[1:])
    change[starts] = 0
    flip = np.unpackbits(change, axis=1, bitorder="little")
    rise = np.unpackbits(change & packed, axis=1, bitorder="little")
    nb = flip.shape[1]
    toggles_g = np.add.reduceat(flip, starts, axis=0, dtype=np.int32)
    rises_g = np.add.reduceat(rise, starts, axis=0, dtype=np.int32)
    first_v_g = np.unpackbits(packed[starts], axis=1, bitorder="little")
    last_v_g = np.unpackbits(packed[ends - 1], axis=1, bitorder="little")
    max_dlc_g = np.maximum.reduceat(table.dlc[order].astype(np.int64), starts)

    # one key per (group, bit) within the group's payload length
    ng = starts.size
    bit_ok = np.arange(nb)[None, :] < (max_dlc_g[:, None] * 8)
    gi, bi = np.nonzero(bit_ok)
    gkey_g = gk[starts]
    keys = make_key(gkey_g[gi] >> np.uint64(8), gkey_g[gi] & np.uint64(0xFF), bi)
    # groups are sorted by (address, bus) and np.nonzero walks bits in order: keys come out sorted
    row_of = np.full((ng, nb), -1, _I64)
    row_of[gi, bi] = np.arange(keys.size)

    toggles = toggles_g[gi, bi]
    frame_t0, frame_t1 = int(t.min()), int(t.max())
    head_end = frame_t0 + int(head_ns)
    tail_start = frame_t1 - int(tail_ns)

    # sample times: the queries, plus every flip time near the segment's edges
    flip_t = ts[change.any(axis=1)]
    edge_t = flip_t[(flip_t <= head_end) | (flip_t >= tail_start)]
    q = np.asarray(query_t, _I64)
    q = q[(q >= frame_t0) & (q < frame_t1)]
    sample_t = np.unique(np.concatenate([q, edge_t]))

    cum_blocks: list[np.ndarray] = []
    cum_rows: list[np.ndarray] = []
    rare_key: list[np.ndarray] = []
    rare_t: list[np.ndarray] = []
    rare_rise: list[np.ndarray] = []
    for k in range(ng):
        a, b = int(starts[k]), int(ends[k])
        cols = np.flatnonzero((toggles_g[k] > 0) & bit_ok[k])
        if cols.size == 0 or b - a < 2:
            continue
        sub = flip[a + 1 : b][:, cols]
        tg = ts[a + 1 : b]
        csum = np.cumsum(sub, axis=0, dtype=np.int32)
        m = np.searchsorted(tg, sample_t, side="right")
        block = np.zeros((cols.size, sample_t.size), np.int32)
        have = m > 0
        block[:, have] = csum[m[have] - 1].T
        cum_blocks.append(block)
        cum_rows.append(row_of[k, cols])
        rare = cols[toggles_g[k, cols] <= rare_max]
        if rare.size:
            rr, cc = np.nonzero(flip[a + 1 : b][:, rare])
            rare_key.append(row_of[k, rare[cc]])
            rare_t.append(tg[rr])
            rare_rise.append(rise[a + 1 + rr, rare[cc]] == 1)

    def cat(parts: list[np.ndarray], dtype: type) -> np.ndarray:
        return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)

    rows = cat(cum_rows, _I64)
    cum = np.vstack(cum_blocks) if cum_blocks else np.zeros((0, sample_t.size), np.int32)
    by_row = np.argsort(rows, kind="stable")  # rows in key order
    steps = np.diff(cum[by_row], axis=1, prepend=0)
    step_col, step_row = np.nonzero(steps.T)  # column by column, so a prefix is "up to sample j"
    rk = cat(rare_key, _I64)
    rt = cat(rare_t, _I64)
    rrise = cat(rare_rise, bool)
    by_time = np.lexsort((rk, rt))
    return FlipSummary(
        keys=keys,
        toggles=toggles.astype(np.int32),
        rises=rises_g[gi, bi].astype(np.int32),
        first_v=first_v_g[gi, bi].astype(np.uint8),
        last_v=last_v_g[gi, bi].astype(np.uint8),
        first_t=ts[starts][gi],
        sample_t=sample_t,
        cum_rows=rows[by_row],
        step_col=step_col.astype(_smallest(sample_t.size)),
        step_row=step_row.astype(_smallest(rows.size)),
        step_count=steps.T[step_col, step_row].astype(_smallest(int(steps.max(initial=0)) + 1)),
        frame_t0=frame_t0,
        frame_t1=frame_t1,
        head_end_t=head_end,
        tail_start_t=tail_start,
        rare_key=rk[by_time].astype(_smallest(keys.size)),
        rare_t=rt[by_time],
        rare_rise=rrise[by_time],
        rare_max=rare_max,
    )


def _smallest(limit: int) -> type:
    """The narrowest unsigned dtype holding values below ``limit`` (keeps partials small)."""
    return np.uint16 if limit <= np.iinfo(np.uint16).max else np.int64


class FlipCounter:
    """Flip counts over a whole input, from the summaries of its segments in time order.

    A bit whose value differs between the last frame of one segment and the first frame of the next
    flipped at that boundary; that flip is counted at the first frame of the later segment.
    """

    def __init__(self, summaries: list[FlipSummary]) -> None:
        self.summaries = [s for s in summaries if s.keys.size]
        all_keys = [s.keys for s in self.summaries]
        self.keys = np.unique(np.concatenate(all_keys)) if all_keys else np.zeros(0, np.uint64)
        nk = self.keys.size
        self.toggles = np.zeros(nk, np.int64)
        self.rises = np.zeros(nk, np.int64)
        self.approximate = False
        self._index: list[np.ndarray] = []  # segment key row -> union index
        self._base: list[np.ndarray] = []  # flips before the segment (incl. earlier boundaries)
        self._boundary: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (union idx, t, rise)
        last_v = np.full(nk, -1, np.int16)
        for s in self.summaries:
            idx = np.searchsorted(self.keys, s.keys)
            prev = last_v[idx]
            crossed = (prev >= 0) & (prev != s.first_v)
            b_idx = idx[crossed]
            b_rise = s.first_v[crossed] == 1
            self._base.append(self.toggles.copy())
            self._boundary.append((b_idx, s.first_t[crossed], b_rise))
            self._index.append(idx)
            self.toggles[b_idx] += 1
            self.rises[b_idx[b_rise]] += 1
            self.toggles[idx] += s.toggles
            self.rises[idx] += s.rises
            last_v[idx] = s.last_v
        self._t0 = np.array([s.frame_t0 for s in self.summaries], _I64)

    @property
    def falls(self) -> np.ndarray:
        return self.toggles - self.rises

    def upto(self, x: int) -> np.ndarray:
        """Flips of every key at t <= x."""
        k = int(np.searchsorted(self._t0, x, side="right")) - 1
        if k < 0:
            return np.zeros(self.keys.size, np.int64)
        s = self.summaries[k]
        out = self._base[k].copy()
        b_idx, b_t, _ = self._boundary[k]
        np.add.at(out, b_idx[b_t <= x], 1)
        local, exact = s.local_upto(int(x))
        if not exact:
            self.approximate = True
        out[self._index[k][s.cum_rows]] += local
        return out

    def between(self, a: int, b: int) -> np.ndarray:
        """Flips of every key with a < t <= b."""
        if b <= a:
            return np.zeros(self.keys.size, np.int64)
        return self.upto(b) - self.upto(a)

    def rare_events(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(key, t, rise)`` of every flip of the keys whose flip times were kept in every segment."""
        complete = np.ones(self.keys.size, bool)
        for s, idx in zip(self.summaries, self._index, strict=True):
            complete[idx[s.toggles > s.rare_max]] = False
        keys, ts, rises = [], [], []
        for s, idx, (b_idx, b_t, b_rise) in zip(self.summaries, self._index, self._boundary, strict=True):
            keep = complete[b_idx]
            own = complete[idx[s.rare_key]]
            keys += [self.keys[idx[s.rare_key[own]]], self.keys[b_idx[keep]]]
            ts += [s.rare_t[own], b_t[keep]]
            rises += [s.rare_rise[own], b_rise[keep]]
        self.complete = complete
        if not keys:
            return np.zeros(0, np.uint64), np.zeros(0, _I64), np.zeros(0, bool)
        k, t, r = np.concatenate(keys), np.concatenate(ts), np.concatenate(rises)
        o = np.lexsort((k, t))
        return k[o], t[o], r[o]
