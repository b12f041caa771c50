"""Generated openpilot logs for the log-reading tests, and an independent oracle to check them against.

Logs are written with the project's own ``LogWriter`` (real cereal schema through pycapnp); the oracle
decompresses with the compression libraries directly and reads every event with pycapnp through the
full schema, so it shares no code with the numpy wire decoder under test.
"""

from __future__ import annotations

import bz2
import random
import struct
from dataclasses import dataclass, field
from pathlib import Path

import zstandard

from jupyter_cts.logs.schema import Event
from jupyter_cts.logs.writer import Compression, LogWriter

Frame = tuple[int, bytes, int]  # (address, data, src) as LogWriter takes them
Row = tuple[int, int, int, bytes]  # (logMonoTime, src, address, dat) as a reader returns them

# Subaru-like addresses; the reader must not care, but realistic values make failures readable.
ADDRESSES = (0x002, 0x040, 0x13A, 0x13C, 0x144, 0x146, 0x241, 0x321, 0x390)


@dataclass
class Drive:
    """What a generated log holds, as written."""

    path: Path
    can: list[tuple[int, list[Frame]]] = field(default_factory=list)  # (t_ns, frames) per can event
    car_state: list[dict] = field(default_factory=list)

    def rows(self) -> list[Row]:
        return [(t, src, address, data) for t, frames in self.can for (address, data, src) in frames]


def write_drive(
    path: Path,
    *,
    seconds: float = 2.0,
    compression: Compression = "zst",
    seed: int = 0,
    t0_ns: int = 1_000_000_000,
    frames_per_event: int = 6,
    echoes: bool = True,
    car_fingerprint: str | None = "SUBARU_OUTBACK",
    level: int | None = None,
) -> Drive:
    """A small drive at 100 Hz: initData, carParams, can (with echoes), carState, sendcan and filler."""
    rng = random.Random(seed)
    drive = Drive(Path(path))
    with LogWriter(path, compression, level=level) as w:
        w.init_data(
            t0_ns,
            dongle_id=f"dongle{seed}",
            version="0.9.8",
            git_commit="abc123",
            wall_time_ns=1_700_000_000 * 10**9,
        )
        if car_fingerprint is not None:
            w.car_params(t0_ns + 1, car_fingerprint=car_fingerprint, brand="subaru", car_vin="JF2TEST")
        for k in range(int(seconds * 100)):
            t = t0_ns + 10_000_000 * (k + 1)
            frames = [
                (rng.choice(ADDRESSES), rng.randbytes(rng.choice((8, 8, 8, 5, 0))), rng.choice((0, 1, 2)))
                for _ in range(frames_per_event)
            ]
            if echoes and k % 5 == 0:
                frames.append((0x122, rng.randbytes(8), 128))  # panda echo of a frame sent on bus 0
            w.can(t, frames)
            drive.can.append((t, frames))
            state = {
                "v_ego": k * 0.1,
                "cruise_enabled": k % 50 > 25,
                "cruise_available": True,
                "cruise_speed": 25.0,
                "left_blinker": k % 30 < 10,
                "right_blinker": False,
                "brake_pressed": k % 70 == 3,
                "gas_pressed": False,
                "standstill": k == 0,
            }
            w.car_state(t + 1000, **state)
            drive.car_state.append({"t_ns": t + 1000, **state})
            if k % 10 == 0:
                w.can(t + 2000, [(0x122, bytes(8), 0)], sendcan=True)
                w.event(t + 3000, "deviceState", cpuTempC=[45.0, 46.0])
    return drive


def decompress(path: Path) -> bytes:
    """The event stream of a file, by magic bytes, with the libraries directly."""
    raw = Path(path).read_bytes()
    if raw.startswith(b"\x28\xb5\x2f\xfd"):
        return zstandard.ZstdDecompressor().decompressobj().decompress(raw)
    if raw.startswith(b"BZh"):
        return bz2.decompress(raw)
    return raw


def oracle_rows(path: Path) -> list[Row]:
    """Every frame of every ``can`` event, read by pycapnp through the full schema."""
    return [
        (ev.logMonoTime, c.src, c.address, bytes(c.dat))
        for ev in Event.read_multiple_bytes(decompress(path))
        if ev.which() == "can"
        for c in ev.can
    ]


def oracle_car_state(path: Path) -> list[tuple]:
    """(logMonoTime, vEgo, cruise enabled, cruise speed, left blinker) of every carState, by pycapnp."""
    return [
        (
            ev.logMonoTime,
            ev.carState.vEgo,
            ev.carState.cruiseState.enabled,
            ev.carState.cruiseState.speed,
            ev.carState.leftBlinker,
        )
        for ev in Event.read_multiple_bytes(decompress(path))
        if ev.which() == "carState"
    ]


def table_rows(table) -> list[Row]:  # noqa: ANN001 - a CanTable
    """A CanTable as oracle rows: payloads cut to their length."""
    return [
        (int(t), int(b), int(a), bytes(d[:n]))
        for t, b, a, d, n in zip(table.t_ns, table.bus, table.address, table.data, table.dlc, strict=True)
    ]


def message_offsets(data: bytes) -> list[int]:
    """Byte offset of every message in an event stream, from the segment tables (test-side framing)."""
    offsets, pos = [], 0
    while pos < len(data):
        offsets.append(pos)
        (count,) = struct.unpack_from("<I", data, pos)
        sizes = struct.unpack_from(f"<{count + 1}I", data, pos + 4)
        pos += (4 + 4 * (count + 1) + 7) // 8 * 8 + 8 * sum(sizes)
    return offsets


def can_list_pointer_offset(data: bytes, message: int) -> int:
    """Byte offset of the ``can`` list pointer of a single-segment event starting at ``message``.

    Root pointer at word 1; the Event struct's pointer section follows its data section.
    """
    (root,) = struct.unpack_from("<Q", data, message + 8)
    offset = ((root & 0xFFFFFFFF) >> 2) - ((root & 0x80000000) >> 1)
    data_words = (root >> 32) & 0xFFFF
    struct_word = 2 + offset
    return message + 8 * (struct_word + data_words)
