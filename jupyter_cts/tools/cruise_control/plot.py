"""speed_timeline.png: the drive at a glance.

Speed over time with the band from the params, target windows, Set/Resume presses, engaged spans,
marker windows and segment boundaries. Agg backend: no display, safe in a worker process.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

MAX_POINTS = 20_000  # a long route is decimated for drawing; the data files keep every sample


def render_speed_timeline(analysis: Any, params: Any, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure

    r = analysis.result
    t = analysis.speed_t_s
    v = analysis.speed_mph
    if t.size > MAX_POINTS:
        step = int(np.ceil(t.size / MAX_POINTS))
        t, v = t[::step], v[::step]

    fig = Figure(figsize=(12, 5), dpi=100)
    ax = fig.add_subplot(1, 1, 1)
    ax.axhspan(
        params.speed_min,
        params.speed_max,
        color="tab:green",
        alpha=0.25,
        lw=0,
        label=f"band {params.speed_min:g}-{params.speed_max:g} mph",
    )
    for i, w in enumerate(r["target_windows"]):
        ax.axvspan(
            w["start_s"],
            max(w["end_s"], w["start_s"] + 0.05),
            color="tab:green",
            alpha=0.12,
            lw=0,
            label="target window" if i == 0 else None,
        )
    for i, iv in enumerate(r["cruise"]["engaged_intervals"]):
        ax.axvspan(
            iv["start_s"],
            iv["end_s"],
            ymin=0,
            ymax=0.04,
            color="tab:blue",
            alpha=0.8,
            lw=0,
            label="cruise engaged" if i == 0 else None,
        )
    for i, w in enumerate(r["marker_windows"]):
        ax.axvspan(
            w["window_start_s"],
            w["window_end_s"],
            color="tab:orange",
            alpha=0.15,
            lw=0,
            label="marker window" if i == 0 else None,
        )
    for seg in r["input"]["segments"][1:]:
        if seg["start_s"] is not None:
            ax.axvline(seg["start_s"], color="0.6", lw=0.6, ls=":")
    ax.plot(t, v, color="black", lw=1.0, label="speed (mean of 4 wheels)")
    for key, marker, color, label in (
        ("set_presses", "^", "tab:red", "Set"),
        ("resume_presses", "v", "tab:purple", "Resume"),
    ):
        presses = r["buttons"][key]
        if presses:
            xs = [p["t_s"] for p in presses]
            ys = [p["speed_mph"] if p["speed_mph"] is not None else np.nan for p in presses]
            ax.scatter(xs, ys, marker=marker, s=70, color=color, zorder=5, label=f"{label} press")
    ax.set_xlabel("time since first event (s)")
    ax.set_ylabel("speed (mph)")
    car = r["input"].get("car_fingerprint") or "unknown car"
    ax.set_title(
        f"Speed timeline - {car}, {r['input']['duration_s']:.0f} s, {len(r['input']['segments'])} segment(s)"
    )
    ax.grid(True, alpha=0.3)
    top = max(float(np.nanmax(v)) if v.size else 0.0, params.speed_max)
    ax.set_ylim(-2, top * 1.12 + 2)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.13), fontsize=8, ncol=7, frameon=False)
    fig.tight_layout()
    description = (
        f"speed over {r['input']['duration_s']:.1f} s with the band "
        f"{params.speed_min:g}-{params.speed_max:g} mph, "
        f"{len(r['target_windows'])} target windows, {len(r['buttons']['set_presses'])} Set and "
        f"{len(r['buttons']['resume_presses'])} Resume presses, "
        f"{len(r['cruise']['engaged_intervals'])} engaged "
        f"intervals, {len(r['marker_windows'])} marker windows"
    )
    fig.savefig(path, format="png", metadata={"Title": "speed timeline", "Description": description})
    return path
