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

import functools
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
    # the cumulative counts (len(cum_rows) x len(sample_t)) as their non-zero steps, sample by sample:
    # the steps of samples 0..j are the first col_end[j]; step i says cum_rows[step_row[i]] gained
    # step_count[i] flips. Far smaller than the dense matrix (and than a sample index per step).
    col_end: np.ndarray
    step_row: np.ndarray
    step_count: np.ndarray
    frame_t0: int  # first frame of the segment
    frame_t1: int  # last frame of the segment
    head_end_t: int  # counts are exact for any time up to here ...
    tail_start_t: int  # ... and from here on, besides the sample times
    rare_key: np.ndarray  # rows of ``keys`` (a narrow unsigned type)
    # flip times of rarely flipping keys, in time order, as the step from the one before (the first
    # from ``frame_t0``): uint32 when every step fits, which halves the biggest array of a partial
    rare_dt: np.ndarray
    rare_rise: np.ndarray  # bool
    rare_max: int = 256  # keys flipping at most this often keep their flip times

    @property
    def falls(self) -> np.ndarray:
        return self.toggles - self.rises

    @functools.cached_property
    def rare_t(self) -> np.ndarray:
        """int64 flip times of the rarely flipping keys (``rare_key``), in time order."""
        return self.frame_t0 + np.cumsum(self.rare_dt, dtype=_I64)

    @staticmethod
    def empty() -> FlipSummary:
        z64 = np.zeros(0, _I64)
        z32 = np.zeros(0, np.int32)
        z8 = np.zeros(0, np.uint8)
        return FlipSummary(
            np.zeros(0, np.uint64),
            z32,
            z32,
            z8,
            z8,
            z64,
            z64,
            z64,
            z64,
            z64,
            z64,
            -1,
            -1,
            -1,
            -1,
            z64,
            z64,
            np.zeros(0, bool),
            0,
        )

    def all_exact(self, xs: np.ndarray) -> bool:
        """Whether the counts at every x are exact: before or after every frame, at a sample, or near
        an edge."""
        xs = np.asarray(xs, _I64)
        middle = (xs > self.head_end_t) & (xs < self.tail_start_t)
        inside = xs[middle & (xs >= self.frame_t0) & (xs < self.frame_t1)]
        if not inside.size:
            return True
        j = np.searchsorted(self.sample_t, inside, side="right") - 1
        return bool(np.all((j >= 0) & (self.sample_t[np.maximum(j, 0)] == inside)))

    def local_upto_many(self, xs: np.ndarray) -> np.ndarray:
        """Flips at t <= x for the keys in ``cum_rows``, one row per x (in any order)."""
        xs = np.asarray(xs, np.int64)
        out = np.zeros((xs.size, self.cum_rows.size), np.int64)
        if not xs.size or not self.cum_rows.size:
            return out
        after = xs >= self.frame_t1
        out[after] = self.toggles[self.cum_rows]
        # the last sample at or before each x; each step counts for every x whose sample is at or after it
        col = np.searchsorted(self.sample_t, xs, side="right") - 1
        todo = np.flatnonzero(~after & (xs >= self.frame_t0) & (col >= 0))
        if todo.size:
            order = todo[np.argsort(col[todo], kind="stable")]
            # steps are sorted by sample: those up to query q's sample end at ends[q], and each step
            # counts first for the first query whose sample is at or after its own
            ends = self.col_end[col[order]]
            first_q = np.repeat(np.arange(order.size), np.diff(ends, prepend=0))
            used = int(ends[-1])
            nk = self.cum_rows.size
            per_q = np.bincount(
                first_q * nk + self.step_row[:used],
                weights=self.step_count[:used],
                minlength=order.size * nk,
            ).reshape(order.size, nk)
            out[order] = np.cumsum(per_q, axis=0).astype(np.int64)
        return out


_BITS_OF_BYTE = np.unpackbits(np.arange(256, dtype=np.uint8)[:, None], axis=1, bitorder="little").astype(
    np.int64
)


def bit_counts_per_group(values: np.ndarray, group_of: np.ndarray, n_groups: int) -> np.ndarray:
    """How many rows of each group have each bit set: (n_groups, 8 * bytes) int32.

    One histogram of byte values per group and byte column, times the bits of each byte value: a
    few bincounts instead of summing an unpacked (rows x bits) matrix.
    """
    out = np.zeros((n_groups, values.shape[1] * 8), np.int32)
    base = group_of.astype(np.int64) * 256
    for j in range(values.shape[1]):
        hist = np.bincount(base + values[:, j], minlength=n_groups * 256).reshape(n_groups, 256)
        out[:, j * 8 : (j + 1) * 8] = hist @ _BITS_OF_BYTE
    return out


def sum_bits_per_run(values: np.ndarray, run_start: np.ndarray) -> np.ndarray:
    """How many rows of each run have each bit set: (runs, 8 * bytes) int32, runs given by their starts.

    Eight bits' 0/1 values sit in the eight byte lanes of a uint64, so one uint64 addition adds eight
    bits at once; runs are cut into pieces of at most 255 rows first, so no lane ever carries into
    the next, and the pieces' byte lanes are then added up per run.
    """
    n = values.shape[0]
    lanes = np.unpackbits(values, axis=1, bitorder="little").view(np.uint64)  # (rows, bytes)
    pieces = np.union1d(run_start, np.arange(0, n, 255))
    sums = np.add.reduceat(lanes, pieces, axis=0)
    per_piece = sums.view(np.uint8).reshape(pieces.size, values.shape[1] * 8)
    return np.add.reduceat(per_piece, np.searchsorted(pieces, run_start), axis=0, dtype=np.int32)


def summarize_flips(
    table: CanTable,
    query_t: np.ndarray,
    *,
    head_ns: int,
    tail_ns: int,
    rare_max: int = 256,
    rows: np.ndarray | None = None,
    grouped: np.ndarray | None = None,
) -> FlipSummary:
    """Flip statistics of one segment's frames (see the module docstring). Vectorized per frame.

    ``rows`` (indices into ``table``) restricts them to some frames without copying the table;
    ``grouped`` gives such rows already sorted by (address, bus), stable (saves the sort).
    """
    if grouped is not None:
        order = np.asarray(grouped)
        n = int(order.size)
        if n == 0:
            return FlipSummary.empty()
        gk = (table.address[order].astype(np.uint64) << np.uint64(8)) | table.bus[order].astype(np.uint64)
        ts = table.t_ns[order].astype(_I64)
    else:
        picked = np.arange(len(table)) if rows is None else np.asarray(rows)
        n = int(picked.size)
        if n == 0:
            return FlipSummary.empty()
        group = (table.address[picked].astype(np.uint64) << np.uint64(8)) | table.bus[picked].astype(
            np.uint64
        )
        local = np.argsort(group, kind="stable")
        order = picked[local]
        gk = group[local]
        ts = table.t_ns[order].astype(_I64)
    t = ts
    nbytes = max(int(table.dlc[order].max()), 1)
    packed = table.data[order, :nbytes]
    starts = np.flatnonzero(np.concatenate([[True], gk[1:] != gk[:-1]]))
    ends = np.concatenate([starts[1:], [n]])
    ng = starts.size
    group_of = np.repeat(np.arange(ng), ends - starts)
    # change[r]: the bytes' XOR from the frame before (same address and bus) to frame r, seen at ts[r]
    change = np.zeros_like(packed)
    np.bitwise_xor(packed[1:], packed[:-1], out=change[1:])
    change[starts] = 0
    rising = change & packed

    frame_t0, frame_t1 = int(t.min()), int(t.max())
    head_end = frame_t0 + int(head_ns)
    tail_start = frame_t1 - int(tail_ns)
    # sample times: the queries, plus every flip time near the segment's edges
    flip_t = ts[change.any(axis=1)]
    edge_t = flip_t[(flip_t <= head_end) | (flip_t >= tail_start)]
    q = np.asarray(query_t, _I64)
    q = q[(q >= frame_t0) & (q < frame_t1)]
    sample_t = np.unique(np.concatenate([q, edge_t]))

    # Flips per run of rows that share a group and a sample bin, all bits at once: a flip at t counts
    # toward every sample at or after t, so its bin is the first sample >= t (len(sample_t): none).
    # Near the segment's edges every flip time is a sample, so runs there are single rows.
    bin_of = np.searchsorted(sample_t, ts, side="left")
    run_start = np.flatnonzero(np.concatenate([[True], (gk[1:] != gk[:-1]) | (bin_of[1:] != bin_of[:-1])]))
    run_counts = sum_bits_per_run(change, run_start)  # (runs, bits)
    toggles_g = np.add.reduceat(run_counts, np.searchsorted(run_start, starts), axis=0)
    rises_g = bit_counts_per_group(rising, group_of, ng)
    nb = nbytes * 8
    # one key per (group, bit) within the group's payload length
    max_dlc_g = np.maximum.reduceat(table.dlc[order].astype(np.int64), starts)
    bit_ok = np.arange(nb)[None, :] < (max_dlc_g[:, None] * 8)
    gi, bi = np.nonzero(bit_ok)
    gkey_g = gk[starts]
    keys = make_key(gkey_g[gi] >> np.uint64(8), gkey_g[gi] & np.uint64(0xFF), bi)
    # groups are sorted by (address, bus) and np.nonzero walks bits in order: keys come out sorted
    row_of = np.full((ng, nb), -1, _I64)
    row_of[gi, bi] = np.arange(keys.size)
    toggles = toggles_g[gi, bi]
    first_v_g = np.unpackbits(packed[starts], axis=1, bitorder="little")
    last_v_g = np.unpackbits(packed[ends - 1], axis=1, bitorder="little")

    # the cumulative counts at each sample, as their non-zero steps
    counted = np.flatnonzero(bin_of[run_start] < sample_t.size)
    rr, cc = np.nonzero(run_counts[counted])
    run_rows = run_start[counted[rr]]
    cum_rows = np.flatnonzero(toggles > 0)
    step_row = np.searchsorted(cum_rows, row_of[group_of[run_rows], cc])
    step_col = bin_of[run_rows]
    step_count = run_counts[counted[rr], cc]
    by_col = np.lexsort((step_row, step_col))  # sample by sample, so a prefix is "up to sample j"

    # flip times of the bits that flip rarely: only the rows where such a bit changed get unpacked
    rare_g = (toggles_g > 0) & (toggles_g <= rare_max) & bit_ok
    rare_bytes = np.packbits(rare_g, axis=1, bitorder="little")[:, :nbytes]
    hits = change & rare_bytes[group_of]
    hit_rows = np.flatnonzero(hits.any(axis=1))
    hr, hc = np.nonzero(np.unpackbits(hits[hit_rows], axis=1, bitorder="little"))
    rows_hit = hit_rows[hr]
    rk = row_of[group_of[rows_hit], hc]
    rt = ts[rows_hit]
    rrise = ((rising[rows_hit, hc // 8] >> (hc % 8).astype(np.uint8)) & 1) == 1
    by_time = np.lexsort((rk, rt))
    return FlipSummary(
        keys=keys,
        toggles=toggles.astype(np.int32),
        rises=rises_g[gi, bi].astype(np.int32),
        first_v=first_v_g[gi, bi].astype(np.uint8),
        last_v=last_v_g[gi, bi].astype(np.uint8),
        first_t=ts[starts][gi],
        sample_t=sample_t,
        cum_rows=cum_rows,
        col_end=np.searchsorted(step_col[by_col], np.arange(sample_t.size), side="right").astype(np.int64),
        step_row=step_row[by_col].astype(_smallest(cum_rows.size)),
        step_count=step_count[by_col].astype(_smallest(int(step_count.max(initial=0)) + 1)),
        frame_t0=frame_t0,
        frame_t1=frame_t1,
        head_end_t=head_end,
        tail_start_t=tail_start,
        rare_key=rk[by_time].astype(_smallest(keys.size)),
        rare_dt=_time_steps(rt[by_time], frame_t0),
        rare_rise=rrise[by_time],
        rare_max=rare_max,
    )


def _time_steps(t: np.ndarray, t0: int) -> np.ndarray:
    """Sorted times as steps from ``t0`` and from each other (see ``FlipSummary.rare_dt``)."""
    steps = np.diff(t, prepend=t0)
    return steps.astype(np.uint32) if steps.size and steps.max() <= np.iinfo(np.uint32).max else steps


def _smallest(limit: int) -> type:
    """The narrowest unsigned dtype holding values below ``limit`` (keeps partials small)."""
    return np.uint16 if limit <= np.iinfo(np.uint16).max else np.int64


class FlipCounter:
    """Flip counts over a whole input, from the summaries of its segments in time order, of every
    bit that flips at least once (``keys``).

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
        self._keep_flipping()
        self._t0 = np.array([s.frame_t0 for s in self.summaries], _I64)
        # the keys whose every flip time is known: at most ``rare_max`` flips in every segment
        self.complete = np.ones(self.keys.size, bool)
        for s, idx in zip(self.summaries, self._index, strict=True):
            self.complete[idx[s.toggles > s.rare_max]] = False

    def _keep_flipping(self) -> None:
        """Drop the keys that never flip (most bits of most messages): they count nothing anywhere,
        and every count matrix has a column per key."""
        live = np.flatnonzero(self.toggles > 0)
        where = np.full(self.keys.size, -1, _I64)
        where[live] = np.arange(live.size)
        self.keys, self.toggles, self.rises = self.keys[live], self.toggles[live], self.rises[live]
        self._base = [base[live] for base in self._base]
        # a segment's rows that flip (its own flips or a boundary flip) all map to kept keys
        self._index = [where[idx] for idx in self._index]
        self._boundary = [(where[idx], t, rise) for idx, t, rise in self._boundary]

    @property
    def falls(self) -> np.ndarray:
        return self.toggles - self.rises

    def upto_many(self, xs: np.ndarray) -> np.ndarray:
        """Flips of every key at t <= x, one row per x.

        The xs are visited in time order, so each segment's xs are one block of rows, filled in
        place (these matrices are the biggest arrays of a combine).
        """
        xs = np.asarray(xs, np.int64)
        order = np.argsort(xs, kind="stable")
        by_time = xs[order]
        out = np.zeros((xs.size, self.keys.size), np.int64)  # rows in ``by_time`` order
        seg = np.searchsorted(self._t0, by_time, side="right") - 1  # -1: before every segment
        blocks = np.searchsorted(seg, np.arange(len(self.summaries) + 1))
        for k, s in enumerate(self.summaries):
            lo, hi = int(blocks[k]), int(blocks[k + 1])
            if lo == hi:
                continue
            here, block = by_time[lo:hi], out[lo:hi]
            block[:] = self._base[k]
            b_idx, b_t, _ = self._boundary[k]
            if b_idx.size:
                block[:, b_idx] += b_t[None, :] <= here[:, None]  # keys are unique per boundary
            if not s.all_exact(here):
                self.approximate = True
            block[:, self._index[k][s.cum_rows]] += s.local_upto_many(here)
        result = np.empty_like(out)
        result[order] = out
        return result

    def upto(self, x: int) -> np.ndarray:
        """Flips of every key at t <= x."""
        return self.upto_many(np.array([x]))[0]

    def between(self, a: int, b: int) -> np.ndarray:
        """Flips of every key with a < t <= b."""
        if b <= a:
            return np.zeros(self.keys.size, np.int64)
        return self.upto(b) - self.upto(a)

    def between_many(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Flips of every key with a < t <= b, one row per (a, b) pair (empty where b <= a)."""
        a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
        both = self.upto_many(np.concatenate([a, b]))
        counts = both[a.size :] - both[: a.size]
        counts[b <= a] = 0
        return counts

    def rare_events(self, keys: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(key, t, rise)`` of every flip of the keys whose flip times were kept in every segment
        (``complete``), in time order; only of ``keys`` when given.

        A route has hundreds of thousands of such flips and callers want a few keys' worth: choosing
        them before the sort keeps combining cheap (a stable sort of a subset keeps its order).
        """
        wanted = self.complete if keys is None else self.complete & np.isin(self.keys, keys)
        out_keys, ts, rises = [], [], []
        for s, idx, (b_idx, b_t, b_rise) in zip(self.summaries, self._index, self._boundary, strict=True):
            keep = wanted[b_idx]
            rare = idx[s.rare_key]
            own = wanted[rare]
            out_keys += [self.keys[rare[own]], self.keys[b_idx[keep]]]
            ts += [s.rare_t[own], b_t[keep]]
            rises += [s.rare_rise[own], b_rise[keep]]
        if not out_keys:
            return np.zeros(0, np.uint64), np.zeros(0, _I64), np.zeros(0, bool)
        k, t, r = np.concatenate(out_keys), np.concatenate(ts), np.concatenate(rises)
        o = np.lexsort((k, t))
        return k[o], t[o], r[o]
