"""can-bitwatch: what changed on the bus inside a window, bit by bit, reading its input chunk by chunk."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from jupyter_cts.can.bits import BitSelector, parse_bit_selector
from jupyter_cts.tools.base import InputKind, Tool, ToolContext
from jupyter_cts.tools.can_bitwatch.analysis import (
    PARTS,
    BitwatchAccumulator,
    Window,
    accel_hunt,
    counts_rows,
    edge_rows,
    label_frames,
    per_address,
    window_only,
)
from jupyter_cts.tools.can_bitwatch.params import CanBitwatchParams
from jupyter_cts.tools.can_bitwatch.source import Chunk, Source, open_source
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
EDGE_CAP = 400  # window edges kept per bit (pulse hunting and edge lists); busier bits are counted only


def chunk_labels(chunk: Chunk, params: CanBitwatchParams, window: Window | None) -> np.ndarray:
    """Each frame's part: from the params' window, else the CSV's labels, else all "window"."""
    if window is not None:
        return label_frames(chunk.t_s, window)
    if chunk.labels is not None:
        # rlog-to-csv writes "all" when it had no window: then the whole input is the window
        return np.where(chunk.labels == "all", "window", chunk.labels).astype(object)
    return np.full(chunk.t_s.shape, "window", dtype=object)


def params_window(params: CanBitwatchParams) -> Window | None:
    if params.window_start is None and params.window_dur is None:
        return None
    start = params.window_start or 0.0
    end = start + params.window_dur if params.window_dur is not None else float("inf")
    return Window(start, end, "params")


def found_window(acc: BitwatchAccumulator, source: Source, given: Window | None) -> tuple[Window, list[str]]:
    """The window that was used, for the result: the params', the CSV's, or the whole input."""
    if given is not None:
        return given, []
    if (
        source.kind == "csv"
        and acc.first_window_s < np.inf
        and (acc.first_post_s < np.inf or acc.t_min < acc.first_window_s)
    ):
        return Window(acc.first_window_s, acc.first_post_s, "can.csv labels"), []
    note = (
        "no window given (window_start) and the input carries none: the whole input is the window, "
        "pre/post are empty"
    )
    return Window(acc.t_min if acc.t_min < np.inf else 0.0, np.inf, "whole input"), [note]


def part_durations(acc: BitwatchAccumulator, window: Window) -> dict[str, float]:
    if acc.t_min > acc.t_max:
        return dict.fromkeys(PARTS, 0.0)
    lo, hi = acc.t_min, acc.t_max
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
        source = open_source(inputs)
        selectors = [parse_bit_selector(text) for text in params.watch]
        acc = BitwatchAccumulator([(s.address, s.bus, s.g) for s in selectors], edge_cap=EDGE_CAP)
        given = params_window(params)
        frames = 0
        for i, chunk in enumerate(source.chunks()):
            acc.add(chunk.table, chunk.t_s, chunk_labels(chunk, params, given))
            frames += len(chunk.table)
            ctx.progress(min(5 + 5 * i, 70), f"{frames} frames read")
        window, notes = found_window(acc, source, given)
        warnings = [*source.warnings, *notes]
        durations = part_durations(acc, window)
        groups = acc.sorted_groups()
        ctx.progress(75, "ranking bits")

        counts = counts_rows(groups, durations)
        only = window_only(groups)
        hunt = accel_hunt(groups, params.pulse_count, params.pulse_s, params.pulse_tolerance_s)
        edges, watched = self._edges(acc, params, selectors, only, warnings)

        digests = [sha256_file(f) for f in source.files]
        meta = run_metadata(
            self,
            params,
            ctx,
            input_sha256=combined_sha256(digests),
            input_files=[{"path": f, "sha256": d} for f, d in zip(source.files, digests, strict=True)],
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
                "kind": source.kind,
                "files": source.files,
                "frames": frames,
                "first_log_mono_time": source.first_t_ns,
                "duration_s": round(acc.t_max - acc.t_min, 6) if frames else 0.0,
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

    @staticmethod
    def _edges(
        acc: BitwatchAccumulator,
        params: CanBitwatchParams,
        selectors: list[BitSelector],
        only: list[dict[str, Any]],
        warnings: list[str],
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Every edge of the watched bits; without a watch list, of the bits changing only in the window."""
        edges: list[dict[str, Any]] = []
        watched = []
        seen: set[tuple[int, int, int]] = set()
        for text, sel in zip(params.watch, selectors, strict=True):
            pairs = [
                k for k in sorted(acc.groups) if k[0] == sel.address and (sel.bus is None or k[1] == sel.bus)
            ]
            if not pairs:
                warnings.append(f"watched bit {text}: address {sel.address:#x} has no frames in the input")
            for pair in pairs:
                if (*pair, sel.g) in seen:
                    continue  # the same bit named twice (e.g. in both label styles)
                seen.add((*pair, sel.g))
                gb = acc.groups[pair]
                rows = edge_rows(gb, sel.g, gb.watched_edges.get(sel.g, []))
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
                gb = acc.groups[(int(str(row["address"]), 16), int(str(row["bus"])))]
                g = int(str(row["g"]))
                if g in gb.too_many:
                    warnings.append(
                        f"edges of {row['address']} bus {row['bus']} b{g} not listed: it flips too often"
                    )
                    continue
                edges += edge_rows(gb, g, [(t, m, r, "window") for t, m, r in gb.window_edges.get(g, [])])
        edges.sort(key=lambda r: (r["t_s"], r["address"], r["bus"], r["g"]))
        return edges, watched
