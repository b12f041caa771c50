"""Which bits behave like the thing the driver marked? Scores for every (address, bus, bit) that flips.

Two questions, one score each, both between 0 and 1:

* marker: does the bit flip in *every* marker window (coverage) and *only* there (concentration)?
* engaged: does the bit flip at every engage/disengage edge, and rarely anywhere else?

Concentration compares the share of a bit's flips that fall inside the windows with the share of
time the windows cover: a counter flips everywhere, so its share inside equals the time share and its
concentration is 0; a blinker lamp that only flashes inside the windows scores 1. The candidate's
score is the better of the two, so both the marker bit and the cruise-engaged bit rise to the top.

The blinker lamp bits that *define* the marker windows are left out of the marker score (they flip in
every window by construction; the question is what *else* did). Ties are broken per question: for
markers, more flips inside the windows is more evidence; for engagement, flips that hug the edges
more tightly (smaller lag) win, so the signal that defines engagement ranks above its delayed copies.
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
    *,
    marker_defining: np.ndarray | None = None,
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
        if marker_defining is not None:
            s_m = np.where(marker_defining, 0.0, s_m)
    s_e = np.zeros(nk)
    if n_e:
        s_e = hit_e / n_e * concentration(at_e, toggles, edges_union.duration_ns / total_ns)
    return Scores(hit_w, in_w, hit_e, at_e, in_eng, s_m, s_e)


def window_concentration(
    in_window: np.ndarray, toggles: np.ndarray, window_ns: int, total_ns: int
) -> np.ndarray:
    """Per key: how concentrated its flips are in one window (see ``concentration``)."""
    return concentration(in_window, toggles, min(window_ns / max(total_ns, 1), 1.0))


def edge_lag_s(
    keys: np.ndarray,
    ev_key: np.ndarray,
    ev_t: np.ndarray,
    edge_t: np.ndarray,
    margin_ns: int,
    which: np.ndarray,
) -> np.ndarray:
    """Mean distance (s) from each engaged edge to the key's nearest flip within the margin.

    Only for the keys in ``which`` whose flip times are known (``ev_key``/``ev_t``); NaN otherwise.
    """
    out = np.full(keys.size, np.nan)
    if edge_t.size == 0 or ev_key.size == 0:
        return out
    order = np.lexsort((ev_t, ev_key))
    sk, st = ev_key[order], ev_t[order]
    lo = np.searchsorted(sk, keys[which], side="left")
    hi = np.searchsorted(sk, keys[which], side="right")
    for k, a, b in zip(which, lo, hi, strict=True):
        if a == b:
            continue
        t = st[a:b]
        j = np.searchsorted(t, edge_t)
        before = t[np.maximum(j - 1, 0)]
        after = t[np.minimum(j, t.size - 1)]
        near = np.minimum(np.abs(before - edge_t), np.abs(after - edge_t))
        hit = near <= margin_ns
        if hit.any():
            out[k] = float(near[hit].mean()) / 1e9
    return out


def rankings(
    scores: Scores, toggles: np.ndarray, lag_s: np.ndarray, addr: np.ndarray, bus: np.ndarray, g: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(overall order, rank by marker score, rank by engaged score) over the keys that flip at all.

    Ranks are 1-based, 0 for keys that do not flip. Overall: by score, then by the better of the two
    ranks, so the best marker bit and the best engaged bit come first.
    """
    flipping = np.flatnonzero(toggles > 0)
    lag = np.where(np.isnan(lag_s), np.inf, lag_s)
    rank_m = np.zeros(toggles.size, np.int64)
    rank_e = np.zeros(toggles.size, np.int64)
    base = (g[flipping], bus[flipping], addr[flipping], toggles[flipping])
    om = flipping[np.lexsort((*base, -scores.flips_in_windows[flipping], -scores.score_marker[flipping]))]
    oe = flipping[
        np.lexsort((*base, -scores.edges_hit[flipping], lag[flipping], -scores.score_engaged[flipping]))
    ]
    rank_m[om] = np.arange(1, om.size + 1)
    rank_e[oe] = np.arange(1, oe.size + 1)
    best = np.minimum(np.where(scores.score_marker >= scores.score_engaged, rank_m, rank_e), toggles.size + 1)
    overall = flipping[np.lexsort((*base, best[flipping], -scores.score[flipping]))]
    return overall, rank_m, rank_e
