"""Which DBC signals the analyzer reads, and how it picks the bus each comes from.

Roles (speed, Set button, engaged, ...) map to DBC messages and signals by *name*, so any Subaru DBC
that names them the same works, and each role lists fallbacks in order of preference (Subaru cars
carry cruise state in several messages; not every platform has all of them). Addresses always come
from the DBC, never from this file.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from jupyter_cts.can.dbc import Dbc, Message, Signal
from jupyter_cts.can.decode import ECHO_BUS, extract_raw, physical
from jupyter_cts.logs.table import CanTable

KPH_PER_MPH = 1.609344

SPEED_MESSAGE = "Wheel_Speeds"
WHEELS = ("FL", "FR", "RL", "RR")

# role -> (message, signal) candidates, best first
ROLES: dict[str, tuple[tuple[str, str], ...]] = {
    "set": (("Cruise_Buttons", "Set"),),
    "resume": (("Cruise_Buttons", "Resume"),),
    "main": (("Cruise_Buttons", "Main"),),
    "engaged": (
        ("Cruise_Status", "Cruise_Activated"),
        ("CruiseControl", "Cruise_Activated"),
        ("ES_Brake", "Cruise_Activated"),
        ("ES_DashStatus", "Cruise_Activated_Dash"),
    ),
    "cruise_on": (
        ("Cruise_Status", "Cruise_On"),
        ("CruiseControl", "Cruise_On"),
        ("ES_DashStatus", "Cruise_On"),
    ),
    "set_speed": (("Cruise_Status", "Cruise_Set_Speed"), ("ES_DashStatus", "Cruise_Set_Speed")),
    "left": (("Dashlights", "LEFT_BLINKER"),),
    "right": (("Dashlights", "RIGHT_BLINKER"),),
    "units": (("Dashlights", "UNITS"),),
    "brake": (("Brake_Status", "Brake"), ("Brake_Pedal", "Brake_Lights")),
}

# what a person reads when a role is missing
ROLE_NAMES = {
    "set": "the Set button",
    "resume": "the Resume button",
    "main": "the Main button",
    "engaged": "cruise engaged state",
    "cruise_on": "cruise main switch state",
    "set_speed": "the cruise set speed",
    "left": "the left blinker lamp",
    "right": "the right blinker lamp",
    "units": "the dash units",
    "brake": "the brake pedal",
}


@dataclass(frozen=True)
class BusChoice:
    """The bus a message was read from, and what else was seen."""

    bus: int | None
    counts: dict[int, int]  # received frames per bus (echoes excluded)
    switched: bool  # carried by different buses at different times (never overlapping)


class FrameIndex:
    """The frames of one table grouped by (address, bus) with one stable sort, each group in log order.

    Every message the analyzer decodes, the bus choice and the bit statistics read their frames from
    here instead of scanning the whole table again.
    """

    def __init__(self, table: CanTable) -> None:
        self.table = table
        key = (table.address.astype(np.uint64) << np.uint64(8)) | table.bus.astype(np.uint64)
        self.order = np.argsort(key, kind="stable")
        sk = key[self.order]
        self.slices: dict[int, dict[int, tuple[int, int]]] = {}
        if not len(table):
            return
        starts = np.flatnonzero(np.concatenate([[True], sk[1:] != sk[:-1]]))
        ends = np.concatenate([starts[1:], [len(table)]])
        for s, e in zip(starts.tolist(), ends.tolist(), strict=True):
            k = int(sk[s])
            self.slices.setdefault(k >> 8, {})[k & 0xFF] = (s, e)

    def rows(self, address: int, bus: int) -> np.ndarray:
        s, e = self.slices.get(address, {}).get(bus, (0, 0))
        return self.order[s:e]

    def received_order(self) -> np.ndarray:
        """All rows grouped like ``order``, without the panda's echoes (src >= 128)."""
        return self.order[self.table.bus[self.order] < ECHO_BUS]

    def choose_bus(self, address: int, bus: int | None = None) -> BusChoice:
        """The received bus carrying ``address`` most often (or ``bus`` when given); never merged."""
        present = self.slices.get(address, {})
        received = {b: e - s for b, (s, e) in sorted(present.items()) if b < ECHO_BUS}
        if bus is not None:
            return BusChoice(bus if bus in present else None, received, False)
        if not received:
            return BusChoice(None, received, False)
        best = max(received, key=lambda b: (received[b], -b))
        switched = False
        if len(received) > 1:
            t = self.table.t_ns
            spans = sorted(
                (int(t[self.rows(address, b)].min()), int(t[self.rows(address, b)].max())) for b in received
            )
            switched = all(x[1] < y[0] for x, y in zip(spans, spans[1:], strict=False))
        return BusChoice(best, received, switched)

    def frames(self, address: int, bus: int | None) -> CanTable:
        if bus is None:
            return CanTable.empty(self.table.data.shape[1])
        return self.table.filter(self.rows(address, bus))


def signal_values(frames: CanTable, sig: Signal) -> np.ndarray:
    """Physical values of one signal, NaN where a frame is too short to carry it."""
    value = physical(extract_raw(frames.data, sig), sig)
    short = frames.dlc.astype(np.int64) <= sig.last_byte
    if short.any():
        value[short] = np.nan
    return value


def find_role(dbc: Dbc, role: str, present: set[int]) -> tuple[Message, Signal] | None:
    """The first candidate of ``role`` defined in the DBC whose address occurs in the log.

    Falls back to the first candidate the DBC defines at all (so a missing message is reported by
    its preferred name), or None when the DBC has none of them.
    """
    defined: list[tuple[Message, Signal]] = []
    for message, signal in ROLES[role]:
        msg = dbc.by_name.get(message)
        if msg is None or signal not in msg.signals:
            continue
        defined.append((msg, msg.signals[signal]))
        if msg.address in present:
            return msg, msg.signals[signal]
    return defined[0] if defined else None


def single_bit(sig: Signal) -> int | None:
    """The frame bit ``g`` of a one-bit signal (None for wider signals)."""
    return sig.lsb if sig.size == 1 else None
