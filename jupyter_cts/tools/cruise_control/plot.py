"""speed_timeline.png: the drive at a glance.

Speed over time with the band from the params, target windows, Set/Resume presses, engaged spans,
marker windows and segment boundaries. Agg backend: no display, safe in a worker process.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

FIGSIZE = (12, 5)  # inches
DPI = 100
# Columns of the speed line's decimation: two per pixel across the whole figure, so no pixel
# column sees fewer extremes than the data has. The data files keep every sample.
BUCKETS = 2 * FIGSIZE[0] * DPI
# Room for the tick labels, axis labels, title and the legend row below the axes.
MARGINS = {"left": 0.055, "right": 0.985, "top": 0.93, "bottom": 0.2}


@dataclass
class SpeedPlot:
    """Everything the figure shows, in seconds since the first event (built by ``combine.Joined``)."""

    t_s: np.ndarray
    mph: np.ndarray
    target_windows: list[tuple[float, float]]
    engaged: list[tuple[float, float]]
    marker_windows: list[tuple[float, float]]
    segment_starts: list[float | None]  # one per segment, in order
    set_presses: list[tuple[float, float | None]]  # (t_s, mph)
    resume_presses: list[tuple[float, float | None]]
    car: str | None
    duration_s: float

    def decimated(self) -> SpeedPlot:
        """The same plot with the speed line cut to what the figure can show (``decimate``): what
        crosses to another process to be drawn."""
        t, v = decimate(self.t_s, self.mph, BUCKETS)
        return dataclasses.replace(self, t_s=t, mph=v)


def sample_plot() -> SpeedPlot:
    """A tiny drive with one of everything the figure shows (warms a process up, see the tool)."""
    t = np.linspace(0.0, 60.0, 61)
    return SpeedPlot(
        t_s=t,
        mph=np.linspace(40.0, 60.0, 61).astype(np.float32),
        target_windows=[(10.0, 20.0)],
        engaged=[(15.0, 40.0)],
        marker_windows=[(30.0, 35.0)],
        segment_starts=[0.0, 30.0],
        set_presses=[(15.0, 50.0)],
        resume_presses=[(25.0, None)],
        car="SUBARU_IMPREZA",
        duration_s=60.0,
    )


@dataclass
class PreparedFigure:
    """The figure's parts that do not depend on the drive, drawn once (``prepare_figure``)."""

    figure: Any  # matplotlib.figure.Figure
    axes: Any
    band: tuple[float, float]  # the params' speed band it shows


def prepare_figure(params: Any) -> PreparedFigure:
    """Figure, axes, labels, grid and the params' speed band, drawn once: the first draw of a figure
    makes its ticks and lays out its text, which the final draw then reuses (the helper process
    does this while the run reads its input; see ``tools.side_by_side``)."""
    prepared = _blank_figure(params)
    prepared.figure.canvas.draw()
    return prepared


def _blank_figure(params: Any) -> PreparedFigure:
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=FIGSIZE, dpi=DPI)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.axhspan(
        params.speed_min,
        params.speed_max,
        color="tab:green",
        alpha=0.25,
        lw=0,
        label=f"band {params.speed_min:g}-{params.speed_max:g} mph",
    )
    ax.set_xlabel("time since first event (s)")
    ax.set_ylabel("speed (mph)")
    ax.grid(True, alpha=0.3)
    # Fixed margins: the figure size and its labels never change, and measuring them
    # (tight_layout) costs a third of the plot's time.
    fig.subplots_adjust(**MARGINS)
    return PreparedFigure(fig, ax, (params.speed_min, params.speed_max))


def render_speed_timeline(
    plot: SpeedPlot, params: Any, path: Path | BinaryIO, prepared: PreparedFigure | None = None
) -> Path | BinaryIO:
    """The PNG, on ``prepared`` (same pixels, less time) when it shows the same band, else from
    scratch. A prepared figure is drawn on, so it serves one plot."""
    t, v = decimate(plot.t_s, plot.mph, BUCKETS)
    if prepared is None or prepared.band != (params.speed_min, params.speed_max):
        prepared = _blank_figure(params)
    fig, ax = prepared.figure, prepared.axes
    _vspans(
        ax,
        [(a, max(b, a + 0.05)) for a, b in plot.target_windows],
        color="tab:green",
        alpha=0.12,
        label="target window",
    )
    _vspans(ax, plot.engaged, ymax=0.04, color="tab:blue", alpha=0.8, label="cruise engaged")
    _vspans(ax, plot.marker_windows, color="tab:orange", alpha=0.15, label="marker window")
    _vlines(ax, [x for x in plot.segment_starts[1:] if x is not None])
    ax.plot(t, v, color="black", lw=1.0, label="speed (mean of 4 wheels)")
    for presses, marker, color, label in (
        (plot.set_presses, "^", "tab:red", "Set"),
        (plot.resume_presses, "v", "tab:purple", "Resume"),
    ):
        if presses:
            xs = [p[0] for p in presses]
            ys = [p[1] if p[1] is not None else np.nan for p in presses]
            ax.scatter(xs, ys, marker=marker, s=70, color=color, zorder=5, label=f"{label} press")
    n = len(plot.segment_starts)
    ax.set_title(
        f"Speed timeline - {plot.car or 'unknown car'}, {plot.duration_s:.0f} s, {n} segment(s)",
        y=1.0,  # placed, not measured: no tick labels above the axes to clear (saves ~10 ms)
    )
    top = max(float(np.nanmax(v)) if v.size else 0.0, params.speed_max)
    ax.set_ylim(-2, top * 1.12 + 2)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), fontsize=8, ncol=7, frameon=False)
    description = (
        f"speed over {plot.duration_s:.1f} s with the band "
        f"{params.speed_min:g}-{params.speed_max:g} mph, "
        f"{len(plot.target_windows)} target windows, {len(plot.set_presses)} Set and "
        f"{len(plot.resume_presses)} Resume presses, "
        f"{len(plot.engaged)} engaged "
        f"intervals, {len(plot.marker_windows)} marker windows"
    )
    fig.savefig(
        path,
        format="png",
        metadata={"Title": "speed timeline", "Description": description},
        pil_kwargs={"compress_level": 1},  # zlib level 1: 40% less encoding time for 1.2x the bytes
    )
    return path


def decimate(t: np.ndarray, v: np.ndarray, buckets: int) -> tuple[np.ndarray, np.ndarray]:
    """At most about ``2 * buckets`` points that draw like all of them: the lowest and the highest
    sample of every run of consecutive samples, in time order, plus the first and last sample.

    Every peak and dip survives (a plain stride would drop a short spike); speeds hold no NaN
    (``segment.py`` drops undecodable samples).
    """
    n = t.size
    if n <= 4 * buckets:
        return t, v
    k = -(-n // buckets)  # samples per run
    runs = n // k  # at most ``buckets``; the rest (fewer than k samples) is kept as is
    full = v[: runs * k].reshape(runs, k)
    start = np.arange(runs) * k
    lo = start + full.argmin(axis=1)
    hi = start + full.argmax(axis=1)
    keep = np.unique(np.concatenate([[0], lo, hi, np.arange(runs * k, n), [n - 1]]))
    return t[keep], v[keep]


def _vspans(
    ax: Any,
    spans: Sequence[tuple[float, float]],
    *,
    color: str,
    alpha: float,
    label: str,
    ymax: float = 1.0,
) -> None:
    """Vertical spans (data x, axes y) as one collection: what ``axvspan`` draws, minus an artist each."""
    if not spans:
        return
    from matplotlib.collections import PolyCollection

    rects = [[(a, 0.0), (a, ymax), (b, ymax), (b, 0.0)] for a, b in spans]
    collection = PolyCollection(
        rects,
        transform=ax.get_xaxis_transform(),
        facecolors=color,
        edgecolors=color,
        linewidths=0,
        alpha=alpha,
        label=label,
    )
    ax.add_collection(collection, autolim=False)
    _update_xlim(ax, [x for span in spans for x in span])


def _vlines(ax: Any, xs: Sequence[float]) -> None:
    """Dotted full-height lines at ``xs`` (segment boundaries) as one collection."""
    if not xs:
        return
    from matplotlib.collections import LineCollection

    lines = [[(x, 0.0), (x, 1.0)] for x in xs]
    ax.add_collection(
        LineCollection(
            lines, transform=ax.get_xaxis_transform(), colors="0.6", linewidths=0.6, linestyles=":"
        ),
        autolim=False,
    )
    _update_xlim(ax, xs)


def _update_xlim(ax: Any, xs: Sequence[float]) -> None:
    """Let the x range cover ``xs``, as ``axvspan``/``axvline`` do (their y is in axes units)."""
    ax.update_datalim([(x, 0.0) for x in xs], updatey=False)
    ax.autoscale_view(scaley=False)
