"""Which bits behave like the thing the driver marked? Scores for every (address, bus, bit) that flips.

Two questions, one score each, both between 0 and 1:

* marker: does the bit flip in *every* marker window (coverage) and *only* there (concentration)?
* engaged: does the bit flip at every engage/disengage edge, and rarely anywhere else?

Concentration compares the share of a bit's flips that fall inside the windows with the share of
time the windows cover: a counter flips everywhere, so its share inside equals the time share and its
concentration is 0; a blinker lamp that only flashes inside the windows scores 1. The candidate's
score is the better of the two, so both the marker bit and the cruise-engaged bit rise to the top.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Intervals:
    """Half-open time intervals (a, b] in ns, and the flips of every key inside each."""

    a: np.ndarray  # int64
    b: np.ndarray  # int64
    counts: np.ndarray  # int64 (n_intervals, n_keys)

    @property
    def duration_ns(self) -> int:
        return int(np.sum(self.b - self.a)) if self.a.size else 0


def merge(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Union of intervals (a, b] as disjoint, sorted intervals."""
    if a.size == 0:
        return a.astype(np.int64), b.astype(np.int64)
    order = np.argsort(a, kind="stable")
    a, b = a[order].astype(np.int64), b[order].astype(np.int64)
    out_a, out_b = [int(a[0])], [int(b[0])]
    for lo, hi in zip(a[1:], b[1:], strict=True):
        if lo <= out_b[-1]:
            out_b[-1] = max(out_b[-1], int(hi))
        else:
            out_a.append(int(lo))
            out_b.append(int(hi))
    return np.array(out_a, np.int64), np.array(out_b, np.int64)


def concentration(inside: np.ndarray, total: np.ndarray, time_share: float) -> np.ndarray:
    """How much more of a bit's flips fall inside than its share of time would give (0..1)."""
    if time_share >= 1.0:
        return np.zeros(total.shape)
    share = inside / np.maximum(total, 1)
    return np.clip((share - time_share) / (1.0 - time_share), 0.0, 1.0)


@dataclass(frozen=True)
class Scores:
    windows_hit: np.ndarray  # per key: windows with at least one flip
    flips_in_windows: np.ndarray
    edges_hit: np.ndarray  # per key: engaged edges with a flip within the margin
    flips_at_edges: np.ndarray
    flips_engaged: np.ndarray  # inside engaged intervals widened by the margin
    score_marker: np.ndarray
    score_engaged: np.ndarray

    @property
    def score(self) -> np.ndarray:
        return np.maximum(self.score_marker, self.score_engaged)


def score_keys(
    toggles: np.ndarray,
    total_ns: int,
    windows: Intervals,
    windows_union: Intervals,
    edges: Intervals,
    edges_union: Intervals,
    engaged_union: Intervals,
) -> Scores:
    """Scores of every key from its flip counts inside windows and around engaged edges."""
    total_ns = max(total_ns, 1)
    n_w = windows.a.size
    n_e = edges.a.size
    nk = toggles.size
    zero = np.zeros(nk, np.int64)
    hit_w = (windows.counts > 0).sum(axis=0) if n_w else zero
    in_w = windows_union.counts.sum(axis=0) if windows_union.a.size else zero
    hit_e = (edges.counts > 0).sum(axis=0) if n_e else zero
    at_e = edges_union.counts.sum(axis=0) if edges_union.a.size else zero
    in_eng = engaged_union.counts.sum(axis=0) if engaged_union.a.size else zero
    s_m = np.zeros(nk)
    if n_w:
        s_m = hit_w / n_w * concentration(in_w, toggles, windows_union.duration_ns / total_ns)
    s_e = np.zeros(nk)
    if n_e:
        s_e = hit_e / n_e * concentration(at_e, toggles, edges_union.duration_ns / total_ns)
    return Scores(hit_w, in_w, hit_e, at_e, in_eng, s_m, s_e)
