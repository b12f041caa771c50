"""Frames for can-bitwatch: from a can.csv written by rlog-to-csv, or straight from a log."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from jupyter_cts.errors import ToolError
from jupyter_cts.logs.reader import iter_segments
from jupyter_cts.logs.table import CanTable
from jupyter_cts.tools.rlog_to_csv import COLUMNS as CSV_COLUMNS


@dataclass
class Frames:
    """CAN frames in log order with their times since the first event, and the CSV's labels if any."""

    table: CanTable
    t_s: np.ndarray  # float64
    first_t_ns: int
    labels: np.ndarray | None  # "pre"/"window"/"post"/"all" per frame, when read from a labelled CSV
    files: list[str]
    kind: str  # "csv" or "log"
    warnings: list[str] = field(default_factory=list)


def is_csv(path: Path) -> bool:
    """A can.csv starts with its header line; a log never starts with text like that."""
    if not path.is_file():
        return False
    with open(path, "rb") as f:
        head = f.read(64)
    return head.startswith(b"t_s,")


def load_frames(inputs: list[Path]) -> Frames:
    if len(inputs) == 1 and is_csv(inputs[0]):
        return read_can_csv(inputs[0])
    if any(is_csv(p) for p in inputs):
        raise ToolError("give can-bitwatch either one can.csv or log files, not both")
    return read_logs(inputs)


def read_logs(inputs: list[Path]) -> Frames:
    tables, warnings, files = [], [], []
    first: int | None = None
    for data in iter_segments(inputs if len(inputs) > 1 else inputs[0], salvage=True):
        info = data.segments[0]
        files.append(str(info.path))
        warnings += [f"{info.path}: {w}" for w in data.warnings]
        if first is None and data.first_t_ns is not None:
            first = data.first_t_ns
        tables.append(data.can)
    table = CanTable.concat(tables)
    first = first if first is not None else 0
    return Frames(table, (table.t_ns.astype(np.int64) - first) / 1e9, first, None, files, "log", warnings)


def read_can_csv(path: Path) -> Frames:
    import pandas as pd

    try:
        df = pd.read_csv(path, dtype={"address": str, "data_hex": str, "segment": str}, keep_default_na=False)
    except (ValueError, pd.errors.ParserError) as err:
        raise ToolError(
            f"{path}: cannot read as CSV ({err}); give a can.csv written by rlog-to-csv"
        ) from None
    missing = [c for c in CSV_COLUMNS[:5] if c not in df.columns]
    if missing:
        raise ToolError(
            f"{path}: missing column(s) {', '.join(missing)}; can-bitwatch reads the can.csv of rlog-to-csv "
            f"({','.join(CSV_COLUMNS)})"
        )
    n = len(df)
    try:
        address = np.array(
            [int(a, 16) if a.lower().startswith("0x") else int(a) for a in df["address"]], np.uint32
        )
        payloads = [bytes.fromhex(h) for h in df["data_hex"]]
    except ValueError as err:
        raise ToolError(
            f"{path}: bad address or data_hex value ({err}); was the file edited by hand?"
        ) from None
    dlc = np.array([len(p) for p in payloads], np.uint8) if n else np.zeros(0, np.uint8)
    width = 64 if n and int(dlc.max()) > 8 else 8
    data = np.frombuffer(b"".join(p.ljust(width, b"\0") for p in payloads), np.uint8).reshape(n, width)
    mono = df["log_mono_time"].to_numpy(np.int64)
    t_s = df["t_s"].to_numpy(np.float64)
    # t_s was written relative to the first event; recover that zero from any row
    first = int(mono[0] - round(t_s[0] * 1e9)) if n else 0
    table = CanTable(mono.astype(np.uint64), df["bus"].to_numpy(np.uint8), address, dlc, data.copy())
    labels = df["segment"].to_numpy(str) if "segment" in df.columns else None
    return Frames(table, t_s, first, labels, [str(path)], "csv")
