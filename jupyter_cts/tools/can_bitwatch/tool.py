"""can-bitwatch: what changed on the bus inside a window, bit by bit."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from jupyter_cts.can.bits import parse_bit_selector
from jupyter_cts.tools.base import InputKind, Tool, ToolContext
from jupyter_cts.tools.can_bitwatch.analysis import (
    PARTS,
    Window,
    accel_hunt,
    counts_rows,
    edges_of,
    group_bits,
    label_frames,
    per_address,
    window_only,
)
from jupyter_cts.tools.can_bitwatch.params import CanBitwatchParams
from jupyter_cts.tools.can_bitwatch.source import Frames, load_frames
from jupyter_cts.tools.exports import combined_sha256, run_metadata, sha256_file, write_csv, write_json

log = logging.getLogger(__name__)

COLUMNS: dict[str, list[str]] = {
    "counts": ["address", "bus", "pre", "window", "post", "delta"],
    "bit_edges": ["t_s", "log_mono_time", "address", "bus", "g", "lsb_label", "msb_label", "edge", "segment"],
    "candidates_window_only": [
        "address",
        "bus",
        "g",
        "lsb_label",
        "msb_label",
        "window_flips",
        "window_rises",
        "window_falls",
        "first_flip_s",
        "last_flip_s",
        "value_before",
    ],
    "accel_hunt": [
        "address",
        "bus",
        "g",
        "lsb_label",
        "msb_label",
        "pulses",
        "starts_s",
        "durations_s",
        "mean_duration_s",
        "flips_outside",
    ],
}
EDGE_BITS_WITHOUT_WATCH = 50  # without a watch list, edges of this many window-only bits are listed


def resolve_window(frames: Frames, params: CanBitwatchParams) -> tuple[Window, np.ndarray, list[str]]:
    """The window and each frame's part: from the params, else the CSV's labels, else everything."""
    if params.window_start is not None or params.window_dur is not None:
        start = params.window_start or 0.0
        end = start + params.window_dur if params.window_dur is not None else float("inf")
        window = Window(start, end, "params")
        return window, label_frames(frames.t_s, window), []
    if frames.labels is not None and (frames.labels == "window").any():
        inside = frames.t_s[frames.labels == "window"]
        after = frames.t_s[frames.labels == "post"]
        end = float(after.min()) if after.size else float("inf")
        return Window(float(inside.min()), end, "can.csv labels"), frames.labels.astype(object), []
    window = Window(0.0, float("inf"), "whole input")
    note = (
        "no window given (window_start) and the input carries none: the whole input is the window, "
        "pre/post are empty"
    )
    return window, np.full(frames.t_s.shape, "window", dtype=object), [note]


def part_durations(t_s: np.ndarray, window: Window) -> dict[str, float]:
    if not t_s.size:
        return dict.fromkeys(PARTS, 0.0)
    lo, hi = float(t_s.min()), float(t_s.max())
    start, end = min(max(window.start_s, lo), hi), min(max(window.end_s, lo), hi)
    return {"pre": start - lo, "window": end - start, "post": hi - end}


class CanBitwatch(Tool):
    """Compare frames and bits before, inside and after a window; follow chosen bits edge by edge."""

    id = "can-bitwatch"
    name = "CAN bitwatch"
    description = (
        "Counts frames and bit flips per address before, inside and after a window, lists bits that change "
        "only inside it, every edge of watched bits, and bits pulsing like an accelerator test."
    )
    category = "analysis"
    version = "1.0.0"
    input_kind = InputKind.CSV
    Params = CanBitwatchParams

    def run(self, inputs: list[Path], params: CanBitwatchParams, ctx: ToolContext) -> dict[str, Any]:
        ctx.progress(0, "reading frames")
        frames = load_frames(inputs)
        warnings = list(frames.warnings)
        window, labels, notes = resolve_window(frames, params)
        warnings += notes
        durations = part_durations(frames.t_s, window)
        ctx.progress(40, "counting bit flips")
        groups = group_bits(frames.table, frames.t_s, labels)
        by_pair = {(gb.address, gb.bus): gb for gb in groups}

        counts = counts_rows(groups, durations)
        only = window_only(groups)
        hunt = accel_hunt(groups, params.pulse_count, params.pulse_s, params.pulse_tolerance_s)
        edges: list[dict[str, Any]] = []
        watched = []
        seen: set[tuple[int, int, int]] = set()
        for text in params.watch:
            sel = parse_bit_selector(text)
            pairs = [(a, b) for (a, b) in by_pair if a == sel.address and (sel.bus is None or b == sel.bus)]
            if not pairs:
                warnings.append(f"watched bit {text}: address {sel.address:#x} has no frames in the input")
            for pair in pairs:
                if (*pair, sel.g) in seen:
                    continue  # the same bit named twice (e.g. in both label styles)
                seen.add((*pair, sel.g))
                rows = edges_of(by_pair[pair], sel.g)
                edges += rows
                watched.append(
                    {
                        "selector": text,
                        "address": f"0x{pair[0]:03X}",
                        "bus": pair[1],
                        "g": sel.g,
                        "edges": {p: sum(1 for r in rows if r["segment"] == p) for p in PARTS},
                    }
                )
        if not params.watch:
            for row in only[:EDGE_BITS_WITHOUT_WATCH]:
                edges += edges_of(by_pair[(int(str(row["address"]), 16), int(row["bus"]))], int(row["g"]))  # type: ignore[call-overload]
        edges.sort(key=lambda r: (r["t_s"], r["address"], r["bus"], r["g"]))

        digests = [sha256_file(f) for f in frames.files]
        meta = run_metadata(
            self,
            params,
            ctx,
            input_sha256=combined_sha256(digests),
            input_files=[{"path": f, "sha256": d} for f, d in zip(frames.files, digests, strict=True)],
            window={
                "start_s": window.start_s,
                "end_s": None if window.end_s == float("inf") else window.end_s,
                "source": window.source,
            },
        )
        ctx.progress(80, "writing files")
        write_csv(ctx, "counts.csv", COLUMNS["counts"], counts, meta)
        write_csv(ctx, "bit_edges.csv", COLUMNS["bit_edges"], edges, meta)
        write_csv(ctx, "candidates_window_only.csv", COLUMNS["candidates_window_only"], only, meta)
        write_csv(ctx, "accel_hunt.csv", COLUMNS["accel_hunt"], hunt, meta)
        write_json(
            ctx,
            "per_address.json",
            {"metadata": meta, "durations_s": durations, "addresses": per_address(groups, durations)},
        )
        result = {
            "input": {
                "kind": frames.kind,
                "files": frames.files,
                "frames": len(frames.table),
                "first_log_mono_time": frames.first_t_ns,
                "duration_s": round(float(frames.t_s.max() - frames.t_s.min()), 6)
                if frames.t_s.size
                else 0.0,
            },
            "window": meta["window"],
            "durations_s": {k: round(v, 6) for k, v in durations.items()},
            "frames": {p: sum(gb.frames[p] for gb in groups) for p in PARTS},
            "addresses": len(groups),
            "counts": counts[:50],
            "window_only": only[:100],
            "window_only_total": len(only),
            "watched": watched,
            "edges": len(edges),
            "accel_hunt": hunt,
            "warnings": warnings,
            "metadata": meta,
        }
        write_json(ctx, "result.json", result)
        ctx.progress(100, f"{len(only)} window-only bits, {len(hunt)} pulse candidates")
        return result
