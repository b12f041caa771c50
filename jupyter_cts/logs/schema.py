"""The one place that loads a Cap'n Proto schema: openpilot-logging's cereal.

Loading opendbc's ``car.capnp`` as well would abort the interpreter ("Duplicate ID"), so every
module that needs cereal imports it from here. The struct layout the wire decoder needs (where
``logMonoTime`` sits, which discriminant means ``can``, where a ``CanData`` keeps its address) is
read from the loaded schema at import time, so a schema upgrade cannot silently shift an offset.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from openpilot_logging.cereal import log  # loads log.capnp, car.capnp and custom.capnp

__all__ = [
    "log",
    "Event",
    "EVENT",
    "CAN_DATA",
    "INIT_DATA",
    "CAR_PARAMS",
    "EventLayout",
    "CanDataLayout",
    "TextFields",
    "discriminant",
    "member_pointer",
]

Event = log.Event


@dataclass(frozen=True)
class EventLayout:
    """Where an ``Event`` keeps what the fast path reads, in bytes/pointer slots of its struct."""

    data_words: int  # data section size as this schema writes it
    pointer_words: int
    log_mono_time_byte: int  # byte offset of logMonoTime (UInt64) in the data section
    which_byte: int  # byte offset of the union discriminant (UInt16) in the data section
    can: int  # discriminant values of the union members the reader cares about
    sendcan: int
    car_state: int
    init_data: int
    car_params: int
    can_pointer: int  # pointer-section index of the `can` list
    names: tuple[str, ...]  # union member name by discriminant value


@dataclass(frozen=True)
class CanDataLayout:
    """Where a ``CanData`` list element keeps address, src and dat."""

    data_words: int
    pointer_words: int
    address_byte: int  # UInt32
    src_byte: int  # UInt8
    dat_pointer: int


def _expect(ok: bool, what: str) -> None:
    if not ok:
        raise ImportError(
            f"the installed cereal schema (openpilot-logging) has an unexpected layout: {what}; "
            "install a supported openpilot-logging version (see pyproject.toml)"
        )


def _slot(struct_schema: Any, name: str) -> Any:
    """The schema node of one field; its ``slot.offset`` counts in units of the field's own size."""
    return struct_schema.fields[name].proto


def member_pointer(name: str) -> int:
    """Pointer slot of an Event union member in the Event struct (members share it in practice)."""
    return int(_slot(Event.schema, name).slot.offset)


def discriminant(name: str) -> int:
    """Discriminant value of an Event union member, as written on the wire."""
    return int(_slot(Event.schema, name).discriminantValue)


def _event_layout() -> EventLayout:
    schema = Event.schema
    node = schema.node.struct
    log_mono = _slot(schema, "logMonoTime")
    _expect(log_mono.slot.type.which() == "uint64", "Event.logMonoTime is not a UInt64")
    names = [""] * int(node.discriminantCount)
    for name in schema.union_fields:
        names[discriminant(name)] = name
    can = _slot(schema, "can")
    _expect(can.slot.type.which() == "list", "Event.can is not a list")
    return EventLayout(
        data_words=int(node.dataWordCount),
        pointer_words=int(node.pointerCount),
        log_mono_time_byte=int(log_mono.slot.offset) * 8,
        which_byte=int(node.discriminantOffset) * 2,
        can=discriminant("can"),
        sendcan=discriminant("sendcan"),
        car_state=discriminant("carState"),
        init_data=discriminant("initData"),
        car_params=discriminant("carParams"),
        can_pointer=int(can.slot.offset),
        names=tuple(names),
    )


def _can_data_layout() -> CanDataLayout:
    schema = log.CanData.schema
    node = schema.node.struct
    address, src, dat = (_slot(schema, n) for n in ("address", "src", "dat"))
    _expect(address.slot.type.which() == "uint32", "CanData.address is not a UInt32")
    _expect(src.slot.type.which() == "uint8", "CanData.src is not a UInt8")
    _expect(dat.slot.type.which() == "data", "CanData.dat is not Data")
    return CanDataLayout(
        data_words=int(node.dataWordCount),
        pointer_words=int(node.pointerCount),
        address_byte=int(address.slot.offset) * 4,
        src_byte=int(src.slot.offset),
        dat_pointer=int(dat.slot.offset),
    )


@dataclass(frozen=True)
class TextFields:
    """Where an Event union member's struct keeps the texts (and one UInt64) the metadata needs."""

    event_pointer: int  # pointer slot of the member in the Event struct
    texts: dict[str, int]  # our name -> pointer slot of a Text field
    uint64_bytes: dict[str, int]  # our name -> byte offset of a UInt64 field


def _text_fields(member: str, texts: dict[str, str], uint64s: dict[str, str]) -> TextFields:
    field = Event.schema.fields[member]
    struct_schema = field.schema
    for name in texts.values():
        _expect(_slot(struct_schema, name).slot.type.which() == "text", f"{member}.{name} is not Text")
    for name in uint64s.values():
        _expect(_slot(struct_schema, name).slot.type.which() == "uint64", f"{member}.{name} is not UInt64")
    return TextFields(
        event_pointer=int(field.proto.slot.offset),
        texts={ours: int(_slot(struct_schema, name).slot.offset) for ours, name in texts.items()},
        uint64_bytes={
            ours: int(_slot(struct_schema, name).slot.offset) * 8 for ours, name in uint64s.items()
        },
    )


EVENT = _event_layout()
CAN_DATA = _can_data_layout()
INIT_DATA = _text_fields(
    "initData",
    {"dongle_id": "dongleId", "version": "version", "git_commit": "gitCommit"},
    {"wall_time_ns": "wallTimeNanos"},
)
CAR_PARAMS = _text_fields(
    "carParams", {"car_fingerprint": "carFingerprint", "brand": "brand", "car_vin": "carVin"}, {}
)
