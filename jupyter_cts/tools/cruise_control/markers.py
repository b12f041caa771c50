"""Marker windows: a driver flicks the left blinker, does something, then flicks the right one.

The lamp signals flash (about 1.5 Hz) while the stalk is on, so every flash is a rising edge. A
window opens on the first left rising edge, and closes on the next right rising edge if that comes
within ``timeout``; further left flashes inside an open window do not open new windows. A window
whose right edge never comes is dropped once ``timeout`` has passed (and reported), or kept as
``partial`` when the log ends before the timeout could run out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class MarkerWindow:
    """One marker window, all times in ns on the log's clock."""

    start_t: int  # the left rising edge that opened it
    end_t: int  # the right rising edge that closed it, or the end of the log when partial
    window_start_t: int  # start_t - pre
    window_end_t: int  # end_t + post (not past the end of the log when partial)
    partial: bool


@dataclass(frozen=True)
class MarkerResult:
    windows: list[MarkerWindow]
    timed_out: list[int]  # left edges whose window found no right edge within the timeout


def find_marker_windows(
    left_rises: np.ndarray,
    right_rises: np.ndarray,
    *,
    timeout_ns: int,
    pre_ns: int,
    post_ns: int,
    log_end_t: int,
) -> MarkerResult:
    """Pair left and right blinker rising edges into windows (see the module docstring)."""
    left = np.sort(np.asarray(left_rises, np.int64))
    right = np.sort(np.asarray(right_rises, np.int64))
    windows: list[MarkerWindow] = []
    timed_out: list[int] = []
    i = 0
    while i < left.size:
        start = int(left[i])
        j = int(np.searchsorted(right, start, side="right"))
        if j < right.size and int(right[j]) - start <= timeout_ns:
            end = int(right[j])
            windows.append(MarkerWindow(start, end, start - pre_ns, end + post_ns, False))
            resume_after = end
        elif log_end_t - start < timeout_ns:
            windows.append(MarkerWindow(start, log_end_t, start - pre_ns, log_end_t, True))
            break
        else:
            timed_out.append(start)
            resume_after = start + timeout_ns
        # flashes inside the window (or inside the timed-out wait) open nothing new
        i = int(np.searchsorted(left, resume_after, side="right"))
    return MarkerResult(windows, timed_out)
