"""Frames for can-bitwatch, chunk by chunk: a can.csv from rlog-to-csv, or the segments of a log.

Chunks come in log order and each is dropped before the next is read, so a long route or a large
CSV never sits in memory whole.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from jupyter_cts.errors import ToolError
from jupyter_cts.logs import read_log
from jupyter_cts.logs.source import resolve_segments
from jupyter_cts.logs.table import CanTable
from jupyter_cts.tools.rlog_to_csv import COLUMNS as CSV_COLUMNS

CSV_CHUNK_ROWS = 200_000


@dataclass
class Chunk:
    table: CanTable
    t_s: np.ndarray  # seconds since the input's first event
    labels: np.ndarray | None  # the CSV's pre/window/post/all labels, when read from a can.csv


@dataclass
class Source:
    """Where frames come from; ``chunks()`` reads them, filling ``first_t_ns`` and ``warnings``."""

    kind: str  # "csv" or "log"
    files: list[str]
    first_t_ns: int = 0
    warnings: list[str] = field(default_factory=list)
    _paths: list[Path] = field(default_factory=list)

    def chunks(self) -> Iterator[Chunk]:
        return self._csv_chunks() if self.kind == "csv" else self._log_chunks()

    def _log_chunks(self) -> Iterator[Chunk]:
        first: int | None = None
        for path in self._paths:
            data = read_log(path, salvage=True)
            self.warnings += [f"{path}: {w}" for w in data.warnings]
            if first is None and data.first_t_ns is not None:
                first = self.first_t_ns = data.first_t_ns
            can = data.can
            yield Chunk(can, (can.t_ns.astype(np.int64) - (first or 0)) / 1e9, None)

    def _csv_chunks(self) -> Iterator[Chunk]:
        import pandas as pd

        path = self._paths[0]
        try:
            reader = pd.read_csv(
                path,
                dtype={"address": str, "data_hex": str, "segment": str},
                keep_default_na=False,
                chunksize=CSV_CHUNK_ROWS,
            )
            for i, df in enumerate(reader):
                if i == 0:
                    _check_columns(path, list(df.columns))
                chunk = _csv_chunk(path, df)
                if i == 0 and len(chunk.table):
                    self.first_t_ns = int(chunk.table.t_ns[0]) - round(float(chunk.t_s[0]) * 1e9)
                yield chunk
        except (ValueError, pd.errors.ParserError) as err:
            raise ToolError(
                f"{path}: cannot read as CSV ({err}); give a can.csv written by rlog-to-csv"
            ) from None


def is_csv(path: Path) -> bool:
    """A can.csv starts with its header line; a log never starts with text like that."""
    if not path.is_file():
        return False
    with open(path, "rb") as f:
        return f.read(64).startswith(b"t_s,")


def open_source(inputs: list[Path]) -> Source:
    if len(inputs) == 1 and is_csv(inputs[0]):
        return Source("csv", [str(inputs[0])], _paths=[inputs[0]])
    if any(is_csv(p) for p in inputs):
        raise ToolError("give can-bitwatch either one can.csv or log files, not both")
    paths = [s.path for s in resolve_segments(inputs if len(inputs) > 1 else inputs[0])]
    return Source("log", [str(p) for p in paths], _paths=paths)


def _check_columns(path: Path, columns: list[str]) -> None:
    missing = [c for c in CSV_COLUMNS[:5] if c not in columns]
    if missing:
        raise ToolError(
            f"{path}: missing column(s) {', '.join(missing)}; can-bitwatch reads the can.csv of rlog-to-csv "
            f"({','.join(CSV_COLUMNS)})"
        )


def _csv_chunk(path: Path, df: object) -> Chunk:
    import pandas as pd

    assert isinstance(df, pd.DataFrame)
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
    data = np.frombuffer(b"".join(p.ljust(width, b"\0") for p in payloads), np.uint8).reshape(n, width).copy()
    mono = df["log_mono_time"].to_numpy(np.int64)
    table = CanTable(mono.astype(np.uint64), df["bus"].to_numpy(np.uint8), address, dlc, data)
    labels = df["segment"].to_numpy(str) if "segment" in df.columns else None
    return Chunk(table, df["t_s"].to_numpy(np.float64), labels)
