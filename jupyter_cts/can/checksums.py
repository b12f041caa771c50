"""Checksum rules per DBC family, vectorized over many frames at once.

Each car make protects its frames differently; opendbc picks the rule from the DBC name's prefix
(``opendbc/can/dbc.py``: ``get_checksum_state``) and so do we. Adding a make is one ``register`` call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

# (address, data of shape (n, message size) uint8) -> checksum per frame (n,) int64
ChecksumFn = Callable[[int, np.ndarray], np.ndarray]


@dataclass(frozen=True)
class ChecksumFamily:
    """How one make fills its CHECKSUM signal. ``prefixes`` are DBC name prefixes."""

    name: str
    prefixes: tuple[str, ...]
    compute: ChecksumFn
    checksum_signal: str = "CHECKSUM"
    counter_signal: str = "COUNTER"


def _byte_sum(value: int) -> int:
    total = 0
    while value:
        total += value & 0xFF
        value >>= 8
    return total


def subaru_checksum(address: int, data: np.ndarray) -> np.ndarray:
    """Global-platform Subaru: address bytes plus every data byte after the checksum byte 0, mod 256."""
    return (_byte_sum(address) + data[:, 1:].sum(axis=1, dtype=np.int64)) & 0xFF


def toyota_checksum(address: int, data: np.ndarray) -> np.ndarray:
    """Toyota: frame length plus address bytes plus all data bytes but the last (the checksum), mod 256."""
    size = data.shape[1]
    return (size + _byte_sum(address) + data[:, :-1].sum(axis=1, dtype=np.int64)) & 0xFF


def honda_checksum(address: int, data: np.ndarray) -> np.ndarray:
    """Honda: 8 minus the nibble sum of address and data (checksum nibble excluded), 4 bits."""
    nib = 0
    a = address
    while a:
        nib += a & 0xF
        a >>= 4
    d = data.astype(np.int64)
    body = ((d[:, :-1] & 0xF) + (d[:, :-1] >> 4)).sum(axis=1) + (d[:, -1] >> 4)
    total = 8 - (nib + body)
    if address > 0x7FF:  # 29-bit frames
        total += 3
    return total & 0xF


_REGISTRY: list[ChecksumFamily] = [
    ChecksumFamily("subaru", ("subaru_global_",), subaru_checksum),
    ChecksumFamily("toyota", ("toyota_", "lexus_"), toyota_checksum),
    ChecksumFamily("honda", ("honda_", "acura_"), honda_checksum),
]


def register(family: ChecksumFamily) -> None:
    """Add (or replace, by name) a family; later registrations win over earlier ones on shared prefixes."""
    _REGISTRY[:] = [f for f in _REGISTRY if f.name != family.name]
    _REGISTRY.append(family)


def family_for(dbc_name: str) -> ChecksumFamily | None:
    """The family whose prefix matches ``dbc_name``, or None when the DBC carries no known checksum."""
    for family in reversed(_REGISTRY):
        if dbc_name.startswith(family.prefixes):
            return family
    return None
