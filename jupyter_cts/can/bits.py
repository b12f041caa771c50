"""Bit names and bit statistics: the raw material of "which bit is the Set button?".

Naming: the global index ``g = byte*8 + bit`` with bit 0 the least significant bit of byte 0. People
also write ``B5b3`` (byte 5, bit 3 from the LSB) or, like cabana's grid, ``MSB B5b4`` (bit counted from
the byte's most significant bit, ``7 - bit``). All three name the same bit; every output carries all three.

Statistics work on whole arrays: frames are grouped per (address, bus) with one stable sort (so each
group stays in log order), unpacked to bits with ``np.unpackbits`` and differenced along time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from jupyter_cts.can.decode import choose_bus
from jupyter_cts.logs.table import CanTable

MAX_ADDRESS = 0x1FFFFFFF
MAX_BYTES = 64  # CAN-FD


class BitLabel(NamedTuple):
    g: int
    lsb_label: str  # "B5b3"
    msb_label: str  # "MSB B5b4"


class BitSelector(NamedTuple):
    address: int
    bus: int | None
    g: int


def bit_labels(g: int) -> BitLabel:
    """The three names of global bit ``g``."""
    if not 0 <= g < MAX_BYTES * 8:
        raise ValueError(f"bit index {g} is out of range: frames have bits 0..{MAX_BYTES * 8 - 1}")
    byte, bit = divmod(g, 8)
    return BitLabel(g, f"B{byte}b{bit}", f"MSB B{byte}b{7 - bit}")


_SELECTOR_RE = re.compile(
    r"^\s*(?P<addr>0[xX][0-9a-fA-F]+|\d+)\s*(?:@\s*(?P<bus>\d+)\s*)?:\s*(?P<bit>.*?)\s*$"
)
_GLOBAL_RE = re.compile(r"^[bB](\d+)$")
_BYTE_BIT_RE = re.compile(r"^(?P<msb>MSB[\s_]*)?[bB](?P<byte>\d+)[bB](?P<bit>\d+)$", re.IGNORECASE)
_FORMS = "'0x241:b55', '0x241:B6b7' or '0x241:MSB B6b0', with an optional bus as '0x241@1:b55'"


def parse_bit_selector(text: str) -> BitSelector:
    """``0x241:b55`` / ``0x241:B6b7`` / ``0x241:MSB B6b0`` / ``0x241@1:b55`` -> (address, bus or None, g).

    Raises ValueError naming the part that is wrong, so pydantic validators can pass it on as is.
    """
    m = _SELECTOR_RE.match(text or "")
    if not m:
        raise ValueError(f"cannot read bit selector {text!r}: write {_FORMS}")
    address = int(m.group("addr"), 0)
    if address > MAX_ADDRESS:
        raise ValueError(
            f"address {address:#x} in {text!r} is larger than a 29-bit CAN id ({MAX_ADDRESS:#x})"
        )
    bus = int(m.group("bus")) if m.group("bus") is not None else None
    if bus is not None and bus > 255:
        raise ValueError(f"bus {bus} in {text!r} is out of range 0..255")
    return BitSelector(address, bus, _parse_bit(m.group("bit"), text))


def _parse_bit(part: str, text: str) -> int:
    if m := _GLOBAL_RE.match(part):
        g = int(m.group(1))
        if g >= MAX_BYTES * 8:
            raise ValueError(
                f"bit b{g} in {text!r} is out of range: frames have bits b0..b{MAX_BYTES * 8 - 1}"
            )
        return g
    if m := _BYTE_BIT_RE.match(part):
        byte, bit = int(m.group("byte")), int(m.group("bit"))
        if bit > 7:
            raise ValueError(f"bit {bit} in {text!r} is out of range: a byte has bits 0..7")
        if byte >= MAX_BYTES:
            raise ValueError(f"byte {byte} in {text!r} is out of range: frames have bytes 0..{MAX_BYTES - 1}")
        return byte * 8 + (7 - bit if m.group("msb") else bit)
    raise ValueError(f"cannot read the bit part {part!r} of {text!r}: write {_FORMS}")


def format_bit_selector(address: int, g: int, bus: int | None = None, *, msb: bool = False) -> str:
    """The selector text for a bit, e.g. ``0x241:b55`` or ``0x241@2:MSB B6b0``."""
    label = bit_labels(g)
    where = f"{address:#x}" if bus is None else f"{address:#x}@{bus}"
    return f"{where}:{label.msb_label if msb else f'b{g}'}"


def bit_matrix(table: CanTable) -> np.ndarray:
    """Bits of every frame, shape (n, 8 * longest payload) bool, column ``g`` = global bit ``g``.

    Meant for the frames of one address (``table.where(address, bus)``).
    """
    nbytes = int(table.dlc.max()) if len(table) else table.data.shape[1]
    return np.unpackbits(table.data[:, :nbytes], axis=1, bitorder="little").astype(bool)


@dataclass(frozen=True)
class BitStat:
    """How one bit of one (address, bus) behaved. Transitions count into frames selected by the mask."""

    address: int
    bus: int
    g: int
    lsb_label: str
    msb_label: str
    frames: int  # frames of this address/bus in the mask
    high: int  # of those, frames with the bit set
    flips: int  # value changes between consecutive frames of this address/bus
    rises: int
    falls: int
    first: int
    last: int


def bit_stats(table: CanTable, *, mask: np.ndarray | None = None) -> list[BitStat]:
    """Per (address, bus, bit) counts, sorted by address, bus, bit.

    ``mask`` (bool per frame of ``table``) restricts the statistics to some frames, e.g. those inside
    marker windows. A transition counts when its *later* frame is in the mask, compared with the frame
    just before it in the whole log, so a change across the window's opening edge is counted and gaps
    between windows never fake one.
    """
    if mask is None:
        mask = np.ones(len(table), bool)
    mask = np.asarray(mask, bool)
    if mask.shape != (len(table),):
        raise ValueError(f"mask has shape {mask.shape}; it needs one bool per frame ({len(table)})")
    out: list[BitStat] = []
    for address, bus, rows in _groups(table):
        sel = mask[rows]
        if not sel.any():
            continue
        out.extend(_group_stats(address, bus, table.data[rows], table.dlc[rows], sel))
    return out


def _groups(table: CanTable) -> list[tuple[int, int, np.ndarray]]:
    """Row indices per (address, bus), each in log order (stable sort on one combined key)."""
    if not len(table):
        return []
    key = (table.address.astype(np.uint64) << np.uint64(8)) | table.bus.astype(np.uint64)
    order = np.argsort(key, kind="stable")
    sorted_key = key[order]
    starts = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1]])
    ends = np.r_[starts[1:], len(order)]
    return [
        (int(sorted_key[s] >> np.uint64(8)), int(sorted_key[s] & np.uint64(0xFF)), order[s:e])
        for s, e in zip(starts, ends, strict=True)
    ]


def _group_stats(address: int, bus: int, data: np.ndarray, dlc: np.ndarray, sel: np.ndarray) -> list[BitStat]:
    nbytes = int(dlc.max())
    if nbytes == 0:
        return []
    bits = np.unpackbits(data[:, :nbytes], axis=1, bitorder="little").astype(np.int8)
    step = np.diff(bits, axis=0)
    counted = sel[1:, None]
    rises = ((step == 1) & counted).sum(axis=0)
    falls = ((step == -1) & counted).sum(axis=0)
    chosen = bits[sel]
    high = chosen.sum(axis=0)
    first, last = chosen[0], chosen[-1]
    frames = int(sel.sum())
    return [
        BitStat(
            address,
            bus,
            g,
            *bit_labels(g)[1:],
            frames,
            int(high[g]),
            int(rises[g] + falls[g]),
            int(rises[g]),
            int(falls[g]),
            int(first[g]),
            int(last[g]),
        )
        for g in range(nbytes * 8)
    ]


def bit_flips(table: CanTable, address: int, bus: int | None = None) -> np.ndarray:
    """Flip count per bit (index ``g``) of one address on one bus."""
    frames = _frames_of(table, address, bus)
    if len(frames) < 2:
        return np.zeros(8 * (int(frames.dlc.max()) if len(frames) else 8), np.int64)
    return np.abs(np.diff(bit_matrix(frames).astype(np.int8), axis=0)).sum(axis=0).astype(np.int64)


def bit_edges(table: CanTable, address: int, bus: int | None, g: int) -> tuple[np.ndarray, np.ndarray]:
    """``(rise_t_ns, fall_t_ns)``: times of the frames where bit ``g`` turns 1, and where it turns 0.

    The first frame is not an edge (nothing before it to compare with). ``bus=None`` takes the only
    received bus carrying the address.
    """
    frames = _frames_of(table, address, bus)
    byte, bit = divmod(g, 8)
    if byte >= frames.data.shape[1] or len(frames) < 2:
        empty = np.zeros(0, np.uint64)
        return empty, empty.copy()
    values = ((frames.data[:, byte] >> np.uint8(bit)) & np.uint8(1)).astype(np.int8)
    step = np.diff(values)
    later = frames.t_ns[1:]
    return later[step == 1], later[step == -1]


def _frames_of(table: CanTable, address: int, bus: int | None) -> CanTable:
    chosen = choose_bus(table, address, bus)
    if chosen is None:
        return CanTable.empty(table.data.shape[1])
    return table.where(address, chosen)
