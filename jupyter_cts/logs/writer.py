"""Write openpilot logs with the real cereal schema, so tests and demos never need a recorded drive.

Events are built with pycapnp and serialized exactly like openpilot's logger does (one Cap'n Proto
message per event, concatenated), so both our reader and openpilot's ``LogReader`` accept the files.
"""

from __future__ import annotations

import bz2
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, Literal

import capnp
import zstandard

from jupyter_cts.logs.schema import Event

Compression = Literal["zst", "bz2"] | None
Frame = tuple[int, bytes, int]  # (address, payload, src)

_FLUSH_BYTES = 1 << 20


class LogWriter:
    """Context manager writing one log file: ``with LogWriter("rlog.zst") as w: w.can(t, frames)``.

    ``compression`` picks the container ('zst', 'bz2' or None for raw); it does not have to agree
    with the file name, which is how tests check that readers go by magic bytes.
    ``level`` is the compression level (zstd default 3, bzip2 default 9: 900 kB blocks).
    ``first_segment_words`` builds every event in a message arena of that many words, so larger
    events spill into extra segments and use far pointers (what big real-world events do).
    """

    def __init__(
        self,
        path: str | Path,
        compression: Compression = "zst",
        *,
        level: int | None = None,
        first_segment_words: int | None = None,
    ) -> None:
        if compression not in ("zst", "bz2", None):
            raise ValueError(f"compression must be 'zst', 'bz2' or None, not {compression!r}")
        self.path = Path(path)
        self.compression = compression
        self.level = level if level is not None else (9 if compression == "bz2" else 3)
        self.first_segment_words = first_segment_words
        self.n_events = 0
        self._file: BinaryIO | None = None
        self._compressor: Any = None
        self._pending: list[bytes] = []
        self._pending_bytes = 0

    # -- lifecycle ------------------------------------------------------------------------------

    def __enter__(self) -> LogWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "wb")  # noqa: SIM115 - closed in close()
        if self.compression == "bz2":
            self._compressor = bz2.BZ2Compressor(self.level)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._file is None:
            return
        if self.compression == "zst":
            # One frame over the whole log, so its header records the content size: openpilot's
            # LogReader calls zstandard.decompress(), which refuses frames without it.
            self._file.write(
                zstandard.ZstdCompressor(level=self.level, write_checksum=True).compress(
                    b"".join(self._pending)
                )
            )
            self._pending.clear()
        self._flush()
        if self._compressor is not None:
            self._file.write(self._compressor.flush())
        self._file.close()
        self._file = None

    # -- events ---------------------------------------------------------------------------------

    def can(self, t_ns: int, frames: Iterable[Frame], *, sendcan: bool = False) -> None:
        """One ``can`` (or ``sendcan``) event holding ``frames`` as (address, data, src)."""
        frames = list(frames)
        ev = self._new_event(t_ns)
        lst = ev.init("sendcan" if sendcan else "can", len(frames))
        for item, (address, data, src) in zip(lst, frames, strict=True):
            item.address = address
            item.dat = data
            item.src = src
        self.raw(ev.to_bytes())

    def car_state(
        self,
        t_ns: int,
        *,
        v_ego: float,
        v_ego_raw: float | None = None,
        cruise_enabled: bool = False,
        cruise_available: bool = False,
        cruise_speed: float = 0.0,
        left_blinker: bool = False,
        right_blinker: bool = False,
        brake_pressed: bool = False,
        gas_pressed: bool = False,
        standstill: bool = False,
    ) -> None:
        """One ``carState`` event; speeds in m/s like openpilot. ``v_ego_raw`` defaults to ``v_ego``."""
        ev = self._new_event(t_ns)
        cs = ev.init("carState")
        cs.vEgo = v_ego
        cs.vEgoRaw = v_ego if v_ego_raw is None else v_ego_raw
        cs.leftBlinker = left_blinker
        cs.rightBlinker = right_blinker
        cs.brakePressed = brake_pressed
        cs.gasPressed = gas_pressed
        cs.standstill = standstill
        cruise = cs.cruiseState
        cruise.enabled = cruise_enabled
        cruise.available = cruise_available
        cruise.speed = cruise_speed
        self.raw(ev.to_bytes())

    def init_data(
        self,
        t_ns: int,
        *,
        dongle_id: str = "",
        version: str = "",
        git_commit: str = "",
        wall_time_ns: int = 0,
    ) -> None:
        """The ``initData`` event openpilot writes first in every segment."""
        self.event(
            t_ns,
            "initData",
            dongleId=dongle_id,
            version=version,
            gitCommit=git_commit,
            wallTimeNanos=wall_time_ns,
        )

    def car_params(self, t_ns: int, *, car_fingerprint: str, brand: str, car_vin: str = "") -> None:
        """The ``carParams`` event that names the car."""
        self.event(t_ns, "carParams", carFingerprint=car_fingerprint, brand=brand, carVin=car_vin)

    def event(self, t_ns: int, which: str, **fields: Any) -> None:
        """Any other struct service, e.g. ``w.event(t, "deviceState", cpuTempC=[40.0])``.

        Fields use cereal names; nested structs can be given as dicts. Without fields the member is
        still initialised, so the event's ``which()`` is ``which``.
        """
        ev = self._new_event(t_ns)
        try:
            member = ev.init(which)
            for name, value in fields.items():
                setattr(member, name, value)
        except (AttributeError, capnp.KjException) as err:
            raise ValueError(f"cannot write a {which!r} event with fields {sorted(fields)}: {err}") from err
        self.raw(ev.to_bytes())

    def raw(self, message: bytes) -> None:
        """Append already serialized bytes as they are (a message, or deliberate garbage in tests)."""
        if self._file is None:
            raise RuntimeError(f"LogWriter for {self.path} is not open; use it as a context manager")
        self._pending.append(message)
        self._pending_bytes += len(message)
        self.n_events += 1
        if self._pending_bytes >= _FLUSH_BYTES and self.compression != "zst":
            self._flush()

    # -- internals ------------------------------------------------------------------------------

    def _new_event(self, t_ns: int) -> Any:
        if self.first_segment_words is None:
            ev = Event.new_message()
        else:
            ev = capnp._MallocMessageBuilder(self.first_segment_words).init_root(Event)
        ev.logMonoTime = int(t_ns)
        ev.valid = True
        return ev

    def _flush(self) -> None:
        if not self._pending or self._file is None:
            return
        chunk = b"".join(self._pending)
        self._pending.clear()
        self._pending_bytes = 0
        self._file.write(self._compressor.compress(chunk) if self._compressor is not None else chunk)
