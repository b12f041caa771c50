"""Signals reduced to their changes, so segments can be analysed apart and joined without seams.

A sampled signal (cruise engaged, a button, the blinker lamp, "speed in band") is kept as the list of
samples where its value changes, plus the time of the sample just before each change and the last
sample of the segment. That is all the information edges, intervals and windows need, it is tiny
(a few entries per minute instead of thousands of samples), and joining two segments is a concat
that drops the first entry of the second when the value did not change across the boundary: a
button held across a segment boundary stays ONE press.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

_EMPTY_T = np.zeros(0, np.int64)


@dataclass(frozen=True)
class Track:
    """Change points of one sampled signal, in time order.

    ``t[i]`` is the first sample with value ``v[i]``; ``before_t[i]`` the sample just before it
    (equal to ``t[0]`` for the very first sample, since nothing came before). ``end_t`` is the last
    sample's time. An empty track (no samples) has ``len(t) == 0`` and ``end_t == -1``.
    """

    t: np.ndarray  # int64 ns
    before_t: np.ndarray  # int64 ns
    v: np.ndarray  # float64
    end_t: int

    @staticmethod
    def empty() -> Track:
        return Track(_EMPTY_T, _EMPTY_T, np.zeros(0, np.float64), -1)

    @staticmethod
    def from_samples(t_ns: np.ndarray, values: np.ndarray) -> Track:
        """Keep the first sample and every sample whose value differs from the one before."""
        t_ns = np.asarray(t_ns, np.int64)
        values = np.asarray(values, np.float64)
        if t_ns.size == 0:
            return Track.empty()
        change = np.empty(t_ns.size, bool)
        change[0] = True
        # NaN never equals NaN: treat two NaNs in a row as "no change"
        same = (values[1:] == values[:-1]) | (np.isnan(values[1:]) & np.isnan(values[:-1]))
        change[1:] = ~same
        idx = np.flatnonzero(change)
        before = np.where(idx > 0, t_ns[np.maximum(idx - 1, 0)], t_ns[idx])
        return Track(t_ns[idx], before, values[idx], int(t_ns[-1]))

    def __len__(self) -> int:
        return int(self.t.size)

    @property
    def start_t(self) -> int:
        return int(self.t[0]) if self.t.size else -1

    @staticmethod
    def concat(tracks: list[Track]) -> Track:
        """Join segment tracks in order; a value that does not change across a boundary is no change."""
        ts, befores, vs = [], [], []
        last_v: float | None = None
        last_end = -1
        for tr in tracks:
            if not len(tr):
                continue
            t, before, v = tr.t, tr.before_t.copy(), tr.v
            if last_v is not None:
                before[0] = last_end
                if v[0] == last_v or (np.isnan(v[0]) and np.isnan(last_v)):
                    t, before, v = t[1:], before[1:], v[1:]
            ts.append(t)
            befores.append(before)
            vs.append(v)
            last_v = float(tr.v[-1])
            last_end = tr.end_t
        if not ts:
            return Track.empty()
        return Track(np.concatenate(ts), np.concatenate(befores), np.concatenate(vs), last_end)

    # -- what analyses ask of a track -----------------------------------------------------------

    def rising(self) -> np.ndarray:
        """Times of 0 -> non-zero changes. A signal already on at its first sample is not a rise."""
        on = self.v != 0
        idx = np.flatnonzero(on[1:] & ~on[:-1]) + 1
        return self.t[idx]

    def falling(self) -> np.ndarray:
        """Times of non-zero -> 0 changes (the first sample seen off)."""
        on = self.v != 0
        idx = np.flatnonzero(~on[1:] & on[:-1]) + 1
        return self.t[idx]

    def as_bool(self) -> Track:
        """The same track seen as on (non-zero) / off, merging changes that keep it on."""
        on = (self.v != 0).astype(np.float64)
        keep = np.ones(on.size, bool)
        keep[1:] = on[1:] != on[:-1]
        return Track(self.t[keep], self.before_t[keep], on[keep], self.end_t)

    def on_spans(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Spans where the value is non-zero.

        Returns ``(start_t, last_on_t, off_t, open_end)``: the first sample on, the last sample on,
        the first sample off (``end_t`` when the signal is still on at the end) and whether the span
        was still open when the samples ended.
        """
        b = self.as_bool()
        starts = np.flatnonzero(b.v != 0)
        nxt = starts + 1  # on a boolean track the entry after an "on" is always an "off"
        closed = nxt < len(b)
        safe = np.minimum(nxt, max(len(b) - 1, 0))
        off_t = np.where(closed, b.t[safe], b.end_t).astype(np.int64)
        last_on_t = np.where(closed, b.before_t[safe], b.end_t).astype(np.int64)
        return b.t[starts], last_on_t, off_t, ~closed

    def changes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(t, old, new)`` for every change after the first sample."""
        return self.t[1:], self.v[:-1], self.v[1:]

    def value_at(self, t_ns: np.ndarray) -> np.ndarray:
        """The value in force at each time (NaN before the first sample)."""
        t_ns = np.asarray(t_ns, np.int64)
        idx = np.searchsorted(self.t, t_ns, side="right") - 1
        out = np.full(t_ns.shape, np.nan)
        ok = idx >= 0
        out[ok] = self.v[idx[ok]]
        return out
