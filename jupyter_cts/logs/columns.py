"""Primitive fields of one event type (carState at 100 Hz, ...) as numpy columns, by fancy indexing.

Where each field sits comes from the schema: a path of struct pointers from the Event's union member
down to the struct holding the field, then a bit or byte offset in that struct's data section.
Cap'n Proto stores a field XOR its default and leaves out fields past a short data section (an
older writer), which then read as the default. Events the fast path cannot read (several
segments, far pointers) are decoded by pycapnp, numbers only, which is safe on damaged input.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from jupyter_cts.logs.schema import Event

_U = np.uint64
_KIND = _U(3)

_PRIMITIVES: dict[str, tuple[int, type]] = {  # bits, numpy dtype of the column
    "bool": (1, np.bool_),
    "int8": (8, np.int8),
    "uint8": (8, np.uint8),
    "int16": (16, np.int16),
    "uint16": (16, np.uint16),
    "int32": (32, np.int32),
    "uint32": (32, np.uint32),
    "float32": (32, np.float32),
    "int64": (64, np.int64),
    "uint64": (64, np.uint64),
    "float64": (64, np.float64),
}
_UNSIGNED = {8: np.uint8, 16: np.uint16, 32: np.uint32, 64: np.uint64}


@dataclass(frozen=True)
class Leaf:
    """One primitive field: how to reach its struct, where it sits, and its default bits."""

    cereal_path: tuple[str, ...]  # e.g. ("cruiseState", "enabled") below the union member
    pointers: tuple[int, ...]  # pointer slots from the member's struct down to the field's struct
    bit: int  # bit offset in that struct's data section
    bits: int
    default_bits: int
    dtype: type


def leaf(member: str, path: str) -> Leaf:
    """The layout of ``Event.<member>.<path>`` (dots for nested structs), read from the schema."""
    schema = Event.schema.fields[member].schema
    names = path.split(".")
    pointers = []
    for name in names[:-1]:
        field = schema.fields[name]
        if field.proto.slot.type.which() != "struct":
            raise ValueError(f"{member}.{path}: {name} is not a struct")
        pointers.append(int(field.proto.slot.offset))
        schema = field.schema
    slot = schema.fields[names[-1]].proto.slot
    kind = str(slot.type.which())
    if kind not in _PRIMITIVES:
        raise ValueError(f"{member}.{path} is a {kind}, not a number or bool")
    bits, dtype = _PRIMITIVES[kind]
    default = getattr(slot.defaultValue, kind)
    if kind.startswith("float"):
        default_bits = int(np.array(default, dtype).view(_UNSIGNED[bits]))
    else:
        default_bits = int(default) & ((1 << bits) - 1)
    return Leaf(tuple(names), tuple(pointers), int(slot.offset) * bits, bits, default_bits, dtype)


@dataclass
class Columns:
    """The result: one array per requested field for the events read, and what could not be read."""

    values: dict[str, np.ndarray]
    slow: np.ndarray  # positions (into the requested events) left to pycapnp
    bad: int | None  # first position whose pointers are damaged
    bad_offset: int  # byte offset of that damage


def read_columns(
    u64: np.ndarray,
    root_w: np.ndarray,
    seg_lo: np.ndarray,
    seg_hi: np.ndarray,
    multi: np.ndarray,
    member_pointer: int,
    leaves: dict[str, Leaf],
) -> Columns:
    """Fields of the member struct of the given events (root pointer word and segment 0 bounds each)."""
    trouble = _Trouble(multi)
    root = trouble.check(_struct(u64, root_w, seg_lo, seg_hi))
    structs: dict[tuple[int, ...], _Structs] = {
        (): trouble.check(_child(u64, root, member_pointer, seg_lo, seg_hi))
    }
    values = {}
    for name, lf in leaves.items():
        for depth in range(1, len(lf.pointers) + 1):
            key = lf.pointers[:depth]
            if key not in structs:
                structs[key] = trouble.check(_child(u64, structs[key[:-1]], key[-1], seg_lo, seg_hi))
        values[name] = _read_leaf(u64, structs[lf.pointers], lf)
    return Columns(values, np.flatnonzero(trouble.slow), trouble.first, trouble.offset)


class _Trouble:
    """Which events go to pycapnp (far pointers in multi-segment messages) and the first damaged one."""

    def __init__(self, multi: np.ndarray) -> None:
        self.multi = multi
        self.slow = np.zeros(multi.shape[0], bool)
        self.bad = np.zeros(multi.shape[0], bool)
        self.first: int | None = None
        self.offset = 0

    def check(self, ref: _Structs) -> _Structs:
        self.slow |= ref.far & self.multi & ~self.bad
        wrong = ~ref.ok & ~self.slow & ~self.bad
        if wrong.any():
            k = int(np.flatnonzero(wrong)[0])
            if self.first is None or k < self.first:
                self.first, self.offset = k, int(ref.at[k]) * 8
            self.bad |= wrong
        return ref


@dataclass
class _Structs:
    """Per event: a struct's first word and section sizes; absent structs have 0/0 sizes."""

    word: np.ndarray
    dw: np.ndarray
    pw: np.ndarray
    ok: np.ndarray  # readable by the fast path (or null)
    far: np.ndarray  # reached through a far pointer
    at: np.ndarray  # word of the pointer, for error offsets


def _struct(u64: np.ndarray, at: np.ndarray, lo: np.ndarray, hi: np.ndarray, present: Any = True) -> _Structs:
    ptr = u64.take(at, mode="clip")
    ptr = np.where(present & (at < hi) & (at >= lo), ptr, _U(0))
    word = at + 1 + ((ptr.view("<i8") << 32) >> 34)
    dw = ((ptr >> _U(32)) & _U(0xFFFF)).astype(np.int64)
    pw = (ptr >> _U(48)).astype(np.int64)
    kind = ptr & _KIND
    inside = (word >= lo) & (word + dw + pw <= hi)
    ok = (ptr == 0) | ((kind == 0) & inside)
    dw[~ok | (ptr == 0)] = 0
    pw[~ok | (ptr == 0)] = 0
    return _Structs(word, dw, pw, ok, kind == 2, at)


def _child(u64: np.ndarray, parent: _Structs, slot: int, lo: np.ndarray, hi: np.ndarray) -> _Structs:
    child = _struct(u64, parent.word + parent.dw + slot, lo, hi, present=parent.pw > slot)
    child.ok &= parent.ok
    return child


def _read_leaf(u64: np.ndarray, ref: _Structs, lf: Leaf) -> np.ndarray:
    byte = lf.bit // 8
    present = ref.dw * 8 >= byte + max(1, lf.bits // 8)
    if lf.bits == 1:
        raw = u64.view(np.uint8).take(ref.word * 8 + byte, mode="clip")
        raw = (raw >> np.uint8(lf.bit % 8)) & np.uint8(1)
    else:
        raw = u64.view(np.dtype(_UNSIGNED[lf.bits]).newbyteorder("<")).take(
            ref.word * (8 // (lf.bits // 8)) + byte // (lf.bits // 8), mode="clip"
        )
    raw = np.where(present, raw, 0).astype(_UNSIGNED[max(8, lf.bits)])
    if lf.default_bits:
        raw ^= np.array(lf.default_bits, _UNSIGNED[max(8, lf.bits)])
    if lf.bits == 1:
        return raw.astype(np.bool_)
    return raw.view(lf.dtype)


def slow_row(ev: Any, member: str, leaves: dict[str, Leaf]) -> dict[str, Any]:
    """The same fields of one event through pycapnp (numbers only: safe on damaged input)."""
    struct = getattr(ev, member)
    row = {}
    for name, lf in leaves.items():
        value = struct
        for part in lf.cereal_path:
            value = getattr(value, part)
        row[name] = value
    return row
