"""Which frames a car puts on its buses, at which rates, filled from the simulated drive.

A ``Layout`` lists a make's DBC messages with bus and rate; ``build_frames`` samples the drive at each
message's ticks, packs all frames of a message in one ``pack_many`` call (counters and checksums
included) and adds deterministic "noise" addresses the DBC does not describe, as a real bus has.
Rates for Subaru follow what openpilot's Subaru CarState expects (opendbc ``car/subaru/carstate.py``
and its CANParser frequencies of earlier versions).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from jupyter_cts.can import load_dbc, pack_many
from jupyter_cts.can.checksums import subaru_checksum
from jupyter_cts.synth.drive import MPH_TO_KPH, TICKS_PER_S, Drive

TICK_NS = 1_000_000_000 // TICKS_PER_S
BOOT_NS = 42_000_000_000  # logMonoTime of the drive's first event: time since the device booted
ECHO = 128  # src of the panda's echo of a frame openpilot sent on bus 0

Columns = dict[str, "np.ndarray | float | int"]
Fill = Callable[[Drive, np.ndarray], Columns]


@dataclass(frozen=True)
class MessageSpec:
    name: str
    bus: int
    rate_hz: int  # must divide 100: frames go out on 10 ms ticks
    fill: Fill = lambda d, k: {}


@dataclass(frozen=True)
class Layout:
    """A make's traffic. ``echoes`` are messages openpilot sends on bus 0 (copies of the camera's)."""

    dbc: str
    messages: tuple[MessageSpec, ...]
    echoes: tuple[str, ...] = ()
    noise_buses: tuple[int, ...] = (0, 0, 0, 0, 1, 2)
    # where carState's fields come from: message names in this layout
    speed: tuple[str, tuple[str, ...]] = ("Wheel_Speeds", ("FL", "FR", "RL", "RR"))
    cruise_message: str = "CruiseControl"
    set_speed_message: str = "ES_DashStatus"
    blinker_message: str = "Dashlights"
    blinker_is_lamp: bool = True  # Subaru sends the flashing lamp; Toyota the stalk position
    brake_message: str = "Brake_Status"
    gas_message: str = "Throttle"


@dataclass
class Frames:
    """Every frame of a drive in log order, with the tick each one goes out on."""

    tick: np.ndarray  # int64
    bus: np.ndarray  # uint8
    address: np.ndarray  # uint32
    dlc: np.ndarray  # uint8
    data: np.ndarray  # (n, 8) uint8
    echo: np.ndarray  # bool: an echo of a frame openpilot sent (also goes into sendcan)
    schedule: dict[str, np.ndarray] = field(default_factory=dict)  # message name -> its ticks

    def __len__(self) -> int:
        return int(self.tick.shape[0])


def _b(x: np.ndarray) -> np.ndarray:
    return x.astype(np.int64)


def _subaru_messages() -> tuple[MessageSpec, ...]:
    def kph(d: Drive, k: np.ndarray) -> np.ndarray:
        return np.clip(d.speed_mph[k] * MPH_TO_KPH, 0, 230)

    return (
        MessageSpec(
            "Throttle",
            0,
            100,
            lambda d, k: {
                "Engine_RPM": d.engine_rpm[k],
                "Throttle_Pedal": d.gas_pedal[k],
                "Throttle_Combo": d.gas_pedal[k],
                "Throttle_Cruise": np.where(d.engaged[k], 40, 0),
            },
        ),
        MessageSpec("Transmission", 0, 100, lambda d, k: {"Gear": 121, "RPM": d.engine_rpm[k]}),
        MessageSpec(
            "Wheel_Speeds",
            0,
            50,
            lambda d, k: {
                w: np.clip(d.wheel_kph(i)[k], 0, 460) for i, w in enumerate(("FL", "FR", "RL", "RR"))
            },
        ),
        MessageSpec("Brake_Status", 0, 50, lambda d, k: {"Brake": _b(d.brake[k])}),
        MessageSpec(
            "Brake_Pedal",
            0,
            50,
            lambda d, k: {
                "Speed": kph(d, k),
                "Brake_Lights": _b(d.brake[k]),
                "Brake_Pedal": _b(d.brake[k]) * 120,
            },
        ),
        MessageSpec(
            "Steering_Torque",
            0,
            50,
            lambda d, k: {
                "Steering_Angle": d.steering_angle[k],
                "Steer_Torque_Sensor": d.steering_torque[k],
                "Steer_Torque_Output": 0,
            },
        ),
        MessageSpec(
            "G_Sensor",
            0,
            50,
            lambda d, k: {
                "Longitudinal": np.clip(d.accel_ms2[k], -12, 12),
                "Lateral": 0.0,
            },
        ),
        MessageSpec(
            "Cruise_Buttons",
            0,
            50,
            lambda d, k: {
                "Main": _b(d.main_button[k]),
                "Set": _b(d.set_button[k]),
                "Resume": _b(d.resume_button[k]),
            },
        ),
        MessageSpec(
            "CruiseControl",
            0,
            20,
            lambda d, k: {
                "Cruise_On": _b(d.main_on[k]),
                "Cruise_Activated": _b(d.engaged[k]),
            },
        ),
        MessageSpec(
            "Cruise_Status",
            0,
            20,
            lambda d, k: {
                "Cruise_On": _b(d.main_on[k]),
                "Cruise_Activated": _b(d.engaged[k]),
                "Cruise_Set_Speed": d.set_speed[k],
            },
        ),
        MessageSpec("BSD_RCTA", 0, 20),
        MessageSpec(
            "Dashlights",
            0,
            10,
            lambda d, k: {
                "UNITS": int(d.imperial),
                "ICY_ROAD": 3,
                "LEFT_BLINKER": _b(d.left_lamp[k]),
                "RIGHT_BLINKER": _b(d.right_lamp[k]),
            },
        ),
        MessageSpec("BodyInfo", 0, 1, lambda d, k: {"LOWBEAM": 1, "BRAKE": _b(d.brake[k])}),
        MessageSpec("Dash_State", 0, 1, lambda d, k: {"Units": int(d.imperial)}),
        # the EyeSight camera, on bus 2
        MessageSpec("ES_LKAS", 2, 50),
        MessageSpec(
            "ES_Distance",
            2,
            20,
            lambda d, k: {
                "Cruise_Throttle": np.where(d.engaged[k], 1818, 0),
                "Close_Distance": 2.0,
            },
        ),
        MessageSpec(
            "ES_Status",
            2,
            20,
            lambda d, k: {
                "Cruise_Activated": _b(d.engaged[k]),
                "Cruise_RPM": np.where(d.engaged[k], 600, 0),
            },
        ),
        MessageSpec("ES_Brake", 2, 20, lambda d, k: {"Cruise_Activated": _b(d.engaged[k])}),
        MessageSpec(
            "ES_DashStatus",
            2,
            10,
            lambda d, k: {
                "Cruise_On": _b(d.main_on[k]),
                "Cruise_Activated_Dash": _b(d.engaged[k]),
                "Cruise_Set_Speed": d.set_speed[k],
                "Cruise_Distance": 3,
                "Far_Distance": 15,
            },
        ),
        MessageSpec("ES_LKAS_State", 2, 10, lambda d, k: {"LKAS_Dash_State": 1}),
        MessageSpec("ES_Infotainment", 2, 10),
    )


def _toyota_messages() -> tuple[MessageSpec, ...]:
    def kph(d: Drive, k: np.ndarray) -> np.ndarray:
        return d.speed_mph[k] * MPH_TO_KPH

    return (
        MessageSpec("STEER_ANGLE_SENSOR", 0, 100, lambda d, k: {"STEER_ANGLE": d.steering_angle[k]}),
        MessageSpec(
            "WHEEL_SPEEDS",
            0,
            50,
            lambda d, k: {
                w: d.wheel_kph(i)[k]
                for i, w in enumerate(
                    ("WHEEL_SPEED_FL", "WHEEL_SPEED_FR", "WHEEL_SPEED_RL", "WHEEL_SPEED_RR")
                )
            },
        ),
        MessageSpec("SPEED", 0, 50, lambda d, k: {"SPEED": kph(d, k)}),
        MessageSpec("BRAKE_MODULE", 0, 50, lambda d, k: {"BRAKE_PRESSED": _b(d.brake[k])}),
        MessageSpec(
            "GAS_PEDAL",
            0,
            50,
            lambda d, k: {
                "GAS_PEDAL": d.gas_pedal[k] * 0.4,
                "GAS_RELEASED": _b(d.gas_pedal[k] == 0),
            },
        ),
        MessageSpec(
            "STEER_TORQUE_SENSOR",
            0,
            50,
            lambda d, k: {
                "STEER_TORQUE_DRIVER": d.steering_torque[k],
                "STEER_ANGLE": d.steering_angle[k],
            },
        ),
        MessageSpec(
            "PCM_CRUISE",
            0,
            25,
            lambda d, k: {
                "CRUISE_ACTIVE": _b(d.engaged[k]),
                "CRUISE_STATE": np.where(d.engaged[k], 8, 0),
            },
        ),
        MessageSpec(
            "PCM_CRUISE_2",
            0,
            25,
            lambda d, k: {
                "MAIN_ON": _b(d.main_on[k]),
                "SET_SPEED": d.set_speed[k],
                "BRAKE_PRESSED": _b(d.brake[k]),
            },
        ),
        MessageSpec(
            "PCM_CRUISE_SM",
            0,
            5,
            lambda d, k: {
                "MAIN_ON": _b(d.main_on[k]),
                "UI_SET_SPEED": d.set_speed[k],
            },
        ),
        MessageSpec(
            "BLINKERS_STATE",
            0,
            5,
            lambda d, k: {
                "TURN_SIGNALS": _b(d.left_stalk[k]) + 2 * _b(d.right_stalk[k] & ~d.left_stalk[k]),
            },
        ),
        MessageSpec("GEAR_PACKET", 0, 1),
        MessageSpec("BODY_CONTROL_STATE", 0, 1),
    )


SUBARU = Layout(
    dbc="subaru_global_2017_generated",
    messages=_subaru_messages(),
    echoes=("ES_LKAS", "ES_DashStatus", "ES_LKAS_State"),
)
TOYOTA = Layout(
    dbc="toyota_nodsu_pt_generated",
    messages=_toyota_messages(),
    noise_buses=(0, 0, 0, 1, 2),
    speed=("WHEEL_SPEEDS", ("WHEEL_SPEED_FL", "WHEEL_SPEED_FR", "WHEEL_SPEED_RL", "WHEEL_SPEED_RR")),
    cruise_message="PCM_CRUISE",
    set_speed_message="PCM_CRUISE_2",
    blinker_message="BLINKERS_STATE",
    blinker_is_lamp=False,
    brake_message="BRAKE_MODULE",
    gas_message="GAS_PEDAL",
)


def layout_for(brand: str) -> Layout:
    return TOYOTA if brand.lower() in ("toyota", "lexus") else SUBARU


def _ticks(n: int, rate_hz: int, phase: int) -> np.ndarray:
    if TICKS_PER_S % rate_hz:
        raise ValueError(f"rate {rate_hz} Hz does not divide {TICKS_PER_S} ticks per second")
    step = TICKS_PER_S // rate_hz
    return np.arange(phase % step, n, step)


def build_frames(drive: Drive, layout: Layout) -> Frames:
    """All frames of the drive, in log order (by tick, then by message as listed)."""
    dbc = load_dbc(layout.dbc)
    parts: list[tuple[np.ndarray, int, int, np.ndarray, np.ndarray, bool]] = []
    schedule: dict[str, np.ndarray] = {}
    for i, spec in enumerate(layout.messages):
        msg = dbc.message(spec.name)
        k = _ticks(drive.n, spec.rate_hz, phase=3 * i)
        schedule[spec.name] = k
        data = pack_many(dbc, spec.name, spec.fill(drive, k), counters=np.arange(k.shape[0]), n=k.shape[0])
        parts.append((k, spec.bus, msg.address, _pad8(data), np.full(k.shape[0], msg.size), False))
        if spec.name in layout.echoes:
            parts.append((k, ECHO, msg.address, _pad8(data), np.full(k.shape[0], msg.size), True))
    exclude = {m.address for m in dbc.messages.values()} | _other_make_addresses(layout)
    parts.extend(_noise(drive, layout, exclude))

    tick = np.concatenate([p[0] for p in parts])
    order = np.argsort(tick, kind="stable")
    counts = [p[0].shape[0] for p in parts]
    return Frames(
        tick=tick[order].astype(np.int64),
        bus=np.repeat([p[1] for p in parts], counts).astype(np.uint8)[order],
        address=np.repeat([p[2] for p in parts], counts).astype(np.uint32)[order],
        dlc=np.concatenate([p[4] for p in parts]).astype(np.uint8)[order],
        data=np.concatenate([p[3] for p in parts])[order],
        echo=np.repeat([p[5] for p in parts], counts).astype(bool)[order],
        schedule=schedule,
    )


def _pad8(data: np.ndarray) -> np.ndarray:
    if data.shape[1] == 8:
        return data
    out = np.zeros((data.shape[0], 8), np.uint8)
    out[:, : data.shape[1]] = data
    return out


def _other_make_addresses(layout: Layout) -> set[int]:
    """Noise must not reuse a Subaru address in a Toyota log (or the reverse): keep foreign logs foreign."""
    out: set[int] = set()
    for other in (SUBARU, TOYOTA):
        if other.dbc != layout.dbc:
            out |= set(load_dbc(other.dbc).messages)
    return out


NOISE_RATES = (100, 50, 50, 20, 20, 10, 10)


def _noise(drive: Drive, layout: Layout, exclude: set[int]) -> list:
    """Addresses no DBC names: fixed bytes, counter and checksum, slowly toggling bits, a drifting byte.

    Deterministic for the scenario's seed; the toggling bits are there to be *wrong* answers for a
    bit search (they flip at random times, unrelated to any button).
    """
    sc = drive.scenario
    rng = np.random.default_rng([sc.seed, 2])
    candidates = np.array([a for a in range(0x050, 0x700) if a not in exclude])
    count = min(sc.noise_addresses, candidates.shape[0])
    addresses = np.sort(rng.choice(candidates, count, replace=False))
    rates = rng.permutation(np.resize(NOISE_RATES, count))
    parts = []
    duration_s = drive.n / TICKS_PER_S
    for address, rate in zip(addresses, rates, strict=True):
        k = _ticks(drive.n, int(rate), phase=int(rng.integers(0, TICKS_PER_S)))
        dlc = 8 if rng.random() < 0.8 else int(rng.integers(4, 8))
        data = np.tile(rng.integers(0, 256, 8, dtype=np.uint8), (k.shape[0], 1))
        t = k / TICKS_PER_S
        for _ in range(int(rng.integers(0, 4))):  # telegraph bits: random dwell, mean 0.5..20 s
            g = int(rng.integers(16, dlc * 8))
            mean = float(rng.uniform(0.5, 20))
            switches = np.cumsum(rng.exponential(mean, int(duration_s / mean * 3) + 10))
            on = (np.searchsorted(switches, t) % 2).astype(bool)
            byte, bit = divmod(g, 8)
            data[:, byte] = np.where(
                on, data[:, byte] | np.uint8(1 << bit), data[:, byte] & np.uint8(0xFF ^ (1 << bit))
            )
        if dlc > 6 and rng.random() < 0.5:  # a drifting analog byte
            walk = int(data[0, 6]) + np.cumsum(rng.integers(-1, 2, k.shape[0]))
            data[:, 6] = np.clip(walk, 0, 255).astype(np.uint8)
        data[:, dlc:] = 0
        if rng.random() < 0.7:  # Subaru-style counter nibble and checksum byte
            data[:, 1] = (data[:, 1] & 0xF0) | (np.arange(k.shape[0]) % 16).astype(np.uint8)
            data[:, 0] = subaru_checksum(int(address), data[:, :dlc]).astype(np.uint8)
        bus = int(rng.choice(layout.noise_buses))
        parts.append((k, bus, int(address), data, np.full(k.shape[0], dlc), False))
    return parts
