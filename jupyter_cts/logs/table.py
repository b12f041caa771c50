"""Columnar containers for what a log holds: one numpy array per field, one row per frame or sample.

Arrays, not objects, because every consumer (DBC decoding, bit statistics, CSV export) works on whole
columns at once; a Python object per CAN frame would cost more than reading the log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class CanTable:
    """Every CAN frame of an input, in log order.

    ``bus`` is the ``src`` byte as logged: panda echoes of frames openpilot sent are ``128 + bus``
    and stay apart from received frames. ``data`` is zero padded to 8 columns, or 64 when any
    CAN-FD frame occurs; ``dlc`` holds each frame's real payload length in bytes.
    """

    t_ns: np.ndarray  # uint64 logMonoTime of the event the frame came in
    bus: np.ndarray  # uint8
    address: np.ndarray  # uint32
    dlc: np.ndarray  # uint8, payload length in bytes
    data: np.ndarray  # uint8, shape (n, 8) or (n, 64)

    @classmethod
    def empty(cls, width: int = 8) -> CanTable:
        return cls(
            t_ns=np.zeros(0, np.uint64),
            bus=np.zeros(0, np.uint8),
            address=np.zeros(0, np.uint32),
            dlc=np.zeros(0, np.uint8),
            data=np.zeros((0, width), np.uint8),
        )

    def __len__(self) -> int:
        return int(self.t_ns.shape[0])

    def filter(self, mask: np.ndarray) -> CanTable:
        """Rows where ``mask`` is true (a boolean array or index array)."""
        return CanTable(self.t_ns[mask], self.bus[mask], self.address[mask], self.dlc[mask], self.data[mask])

    def where(self, address: int, bus: int | None = None) -> CanTable:
        """Frames of one address, optionally on one bus."""
        mask = self.address == address
        if bus is not None:
            mask &= self.bus == bus
        return self.filter(mask)

    def pairs(self) -> list[tuple[int, int]]:
        """Distinct (address, bus) pairs, sorted."""
        if not len(self):
            return []
        key = (self.address.astype(np.uint64) << np.uint64(8)) | self.bus.astype(np.uint64)
        uniq = np.unique(key)
        return [(int(k >> np.uint64(8)), int(k & np.uint64(0xFF))) for k in uniq]

    def counts_by_bus(self) -> dict[int, int]:
        buses, counts = np.unique(self.bus, return_counts=True)
        return {int(b): int(c) for b, c in zip(buses, counts, strict=True)}

    @staticmethod
    def concat(tables: list[CanTable]) -> CanTable:
        """Join tables in order, widening 8-byte payloads to 64 when any table holds CAN-FD frames."""
        tables = [t for t in tables if len(t)] or tables[:1]
        if not tables:
            return CanTable.empty()
        width = max(t.data.shape[1] for t in tables)
        datas = []
        for t in tables:
            if t.data.shape[1] < width:
                padded = np.zeros((len(t), width), np.uint8)
                padded[:, : t.data.shape[1]] = t.data
                datas.append(padded)
            else:
                datas.append(t.data)
        return CanTable(
            t_ns=np.concatenate([t.t_ns for t in tables]),
            bus=np.concatenate([t.bus for t in tables]),
            address=np.concatenate([t.address for t in tables]),
            dlc=np.concatenate([t.dlc for t in tables]),
            data=np.concatenate(datas),
        )

    def to_pandas(self) -> pd.DataFrame:
        """One row per frame; ``data`` as bytes objects cut to each frame's length."""
        import pandas as pd

        payloads = [bytes(row[:n]) for row, n in zip(self.data, self.dlc, strict=True)]
        return pd.DataFrame(
            {
                "t_ns": self.t_ns,
                "bus": self.bus,
                "address": self.address,
                "dlc": self.dlc,
                "data": payloads,
            }
        )


@dataclass(frozen=True)
class Series:
    """A sampled non-CAN signal group (for example carState), one array per field, sharing ``t_ns``."""

    t_ns: np.ndarray
    fields: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.t_ns.shape[0])

    def __getitem__(self, name: str) -> np.ndarray:
        return self.fields[name]

    def to_pandas(self) -> pd.DataFrame:
        import pandas as pd

        return pd.DataFrame({"t_ns": self.t_ns, **self.fields})

    @staticmethod
    def concat(parts: list[Series]) -> Series:
        parts = [p for p in parts if len(p)]
        if not parts:
            return Series(np.zeros(0, np.uint64), {})
        names = parts[0].fields.keys()
        return Series(
            np.concatenate([p.t_ns for p in parts]),
            {n: np.concatenate([p.fields[n] for p in parts]) for n in names},
        )
