"""rlog-to-csv: every CAN frame of a log as one CSV row, for spreadsheets, pandas and can-bitwatch.

Rows are written segment by segment as they are read, so memory stays flat however long the route
is: only one segment's frames are ever held. Columns: ``t_s`` (seconds since the input's first
event), ``log_mono_time`` (ns, to line up with other tools), ``bus`` (``src`` as logged: 128+ are
the panda's echoes), ``address`` (hex), ``data_hex`` (the payload, its real length) and ``segment``
(``pre``/``window``/``post`` around the chosen window, or ``all`` without one).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field, field_validator

from jupyter_cts.logs import read_log
from jupyter_cts.logs.source import resolve_segments
from jupyter_cts.logs.table import CanTable
from jupyter_cts.tools.base import InputKind, Tool, ToolContext, ToolParams
from jupyter_cts.tools.exports import combined_sha256, run_metadata, sha256_file, write_json
from jupyter_cts.tools.window import WindowDuration, WindowStart

log = logging.getLogger(__name__)

COLUMNS = ["t_s", "log_mono_time", "bus", "address", "data_hex", "segment"]


def _split_list(value: Any) -> Any:
    """CLI and form values come as text: accept "0,2" and "0x13a, 0x146" as lists."""
    if isinstance(value, str):
        parts = [p.strip() for p in value.replace(";", ",").split(",")]
        return [p for p in parts if p] or None
    if isinstance(value, int):
        return [value]
    return value


def parse_address(value: int | str) -> int:
    if isinstance(value, int):
        address = value
    else:
        text = value.strip()
        try:
            address = int(text, 16) if text.lower().startswith("0x") else int(text, 0)
        except ValueError:
            raise ValueError(f"address {value!r} is not a number: write it like 0x13a or 314") from None
    if not 0 <= address <= 0x1FFFFFFF:
        raise ValueError(f"address {value!r} is outside 0..0x1FFFFFFF (a 29-bit CAN id)")
    return address


class RlogToCsvParams(ToolParams):
    """Which frames to write and how to label them."""

    window_start: WindowStart = Field(
        None,
        description="Start of the window of interest, in seconds since the first event; empty: no window.",
    )
    window_dur: WindowDuration = Field(
        None, description="Length of the window in seconds; empty: the window runs to the end of the log."
    )
    buses: list[int] | None = Field(
        None,
        title="Buses",
        description="Only these buses (src values, e.g. 0,2; 128+ are echoes); empty: every bus.",
    )
    addresses: list[int] | None = Field(
        None,
        title="Addresses",
        description="Only these CAN ids, hex or decimal (e.g. 0x13a,0x146); empty: every address.",
    )

    @field_validator("buses", mode="before")
    @classmethod
    def _bus_text(cls, value: Any) -> Any:
        return _split_list(value)

    @field_validator("buses", mode="after")
    @classmethod
    def _buses(cls, value: list[int] | None) -> list[int] | None:
        for b in value or []:
            if not 0 <= b <= 255:
                raise ValueError(f"bus {b} is outside 0..255")
        return value

    @field_validator("addresses", mode="before")
    @classmethod
    def _addresses(cls, value: Any) -> Any:
        value = _split_list(value)
        if value is None:
            return None
        return [parse_address(v) for v in value]

    def window(self) -> tuple[float, float] | None:
        """(start, end) in seconds, or None when no window was asked for."""
        if self.window_start is None and self.window_dur is None:
            return None
        start = self.window_start or 0.0
        return start, (start + self.window_dur) if self.window_dur is not None else float("inf")


def hex_payloads(table: CanTable) -> list[str]:
    """Each frame's payload as lowercase hex, cut to its real length."""
    width = table.data.shape[1]
    flat = table.data.tobytes().hex()
    step = 2 * width
    return [flat[i * step : i * step + 2 * n] for i, n in enumerate(table.dlc.tolist())]


def label_segments(t_s: np.ndarray, window: tuple[float, float] | None) -> np.ndarray:
    if window is None:
        return np.full(t_s.shape, "all", dtype=object)
    out = np.full(t_s.shape, "window", dtype=object)
    out[t_s < window[0]] = "pre"
    out[t_s >= window[1]] = "post"
    return out


def format_rows(table: CanTable, t0: int, window: tuple[float, float] | None) -> tuple[str, dict[str, int]]:
    """The CSV text of one chunk of frames, and how many rows went to each label."""
    mono = table.t_ns.astype(np.int64)
    t_s = (mono - t0) / 1e9
    labels = label_segments(t_s, window)
    text = "".join(
        f"{t:.6f},{m},{b},0x{a:03X},{h},{lab}\n"
        for t, m, b, a, h, lab in zip(
            t_s.tolist(),
            mono.tolist(),
            table.bus.tolist(),
            table.address.tolist(),
            hex_payloads(table),
            labels.tolist(),
            strict=True,
        )
    )
    if not len(table):
        return text, {}
    names, counts = np.unique(labels.astype(str), return_counts=True)
    return text, {str(k): int(v) for k, v in zip(names.tolist(), counts.tolist(), strict=True)}


class RlogToCsv(Tool):
    """Write a log's CAN frames to can.csv, optionally filtered and labelled around a window."""

    id = "rlog-to-csv"
    name = "rlog to CSV"
    description = (
        "Writes every CAN frame of a log (or route) to can.csv: time, bus, address, payload, and whether it "
        "falls before, inside or after a window. Streams segment by segment."
    )
    category = "export"
    version = "1.0.0"
    input_kind = InputKind.LOG
    Params = RlogToCsvParams

    def run(self, inputs: list[Path], params: RlogToCsvParams, ctx: ToolContext) -> dict[str, Any]:
        segments = resolve_segments(inputs)
        window = params.window()
        buses = np.array(params.buses, np.int64) if params.buses else None
        addresses = np.array(params.addresses, np.int64) if params.addresses else None
        counts: dict[str, int] = {}
        seg_rows: list[dict[str, Any]] = []
        warnings: list[str] = []
        t0: int | None = None
        t_end: int | None = None
        out = ctx.artifact("can.csv")
        with open(out, "w", encoding="utf-8", newline="", buffering=1 << 20) as f:
            f.write(",".join(COLUMNS) + "\n")
            for i, seg in enumerate(segments):
                data = read_log(seg.path, salvage=True)
                ctx.progress(100 * i / len(segments), f"segment {i + 1} of {len(segments)}")
                info = data.segments[0]
                warnings += [f"{info.path}: {w}" for w in data.warnings]
                if t0 is None and data.first_t_ns is not None:
                    t0 = data.first_t_ns
                if info.end_t_ns is not None:
                    t_end = info.end_t_ns
                can = data.can
                keep = np.ones(len(can), bool)
                if buses is not None:
                    keep &= np.isin(can.bus, buses)
                if addresses is not None:
                    keep &= np.isin(can.address, addresses)
                chunk = can.filter(keep) if not keep.all() else can
                text, c = format_rows(chunk, t0 or 0, window)
                f.write(text)
                for k, v in c.items():
                    counts[k] = counts.get(k, 0) + v
                seg_rows.append(
                    {
                        "path": str(info.path),
                        "number": info.number,
                        "frames": len(can),
                        "rows": len(chunk),
                        "damaged": data.damage is not None,
                    }
                )
                log.info("%s: %d of %d frames written", info.path, len(chunk), len(can))
                del data, can, chunk, text
        digests = [sha256_file(s.path) for s in segments]
        duration = (t_end - t0) / 1e9 if t0 is not None and t_end is not None else 0.0
        if window is not None and window[0] > duration:
            warnings.append(
                f"window_start {window[0]:g} s is after the end of the log ({duration:.1f} s): "
                "every row is 'pre'"
            )
        meta = run_metadata(
            self,
            params,
            ctx,
            input_sha256=combined_sha256(digests),
            input_files=[{"path": str(s.path), "sha256": d} for s, d in zip(segments, digests, strict=True)],
        )
        result = {
            "rows": sum(counts.values()),
            "rows_by_segment": counts,
            "window": None
            if window is None
            else {"start_s": window[0], "end_s": None if window[1] == float("inf") else window[1]},
            "input": {
                "files": [str(s.path) for s in segments],
                "segments": seg_rows,
                "duration_s": round(duration, 6),
                "first_log_mono_time": t0,
            },
            "columns": COLUMNS,
            "warnings": warnings,
            "metadata": meta,
        }
        write_json(
            ctx, "can.csv.meta.json", {**meta, "file": "can.csv", "columns": COLUMNS, "rows": result["rows"]}
        )
        ctx.progress(100, f"{result['rows']} rows written")
        return result
