"""The simulated car, sampled at 100 Hz: speed, buttons, cruise state machine, lamps, pedals.

Everything the CAN frames and ``carState`` carry is computed here once, as arrays over ticks; the
frame layouts (``layouts.py``) only sample these arrays at each message's own rate. The cruise logic
runs over the few button *edges*, not over ticks, and its decisions become the truth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from jupyter_cts.synth.scenario import Press, Scenario, Span

TICKS_PER_S = 100
MPH_TO_KPH = 1.609344
MPH_TO_MS = 0.44704
BLINK_PERIOD_S = 1 / 1.5  # the lamp flashes at 1.5 Hz while the stalk is on, lit for half a period
# per-wheel speed factors (FL, FR, RL, RR): small, symmetric, so the four-wheel mean equals the profile
WHEEL_FACTORS = (1.002, 0.998, 1.001, 0.999)


@dataclass(frozen=True)
class CruiseChange:
    """The cruise state from tick ``k`` on."""

    k: int
    main_on: bool
    engaged: bool
    set_speed: int | None  # in the dash units; None: nothing remembered


@dataclass
class Drive:
    """Per-tick arrays of a whole drive (tick k is at ``k / 100`` s), plus the cruise decisions."""

    scenario: Scenario
    t_s: np.ndarray
    speed_mph: np.ndarray
    accel_ms2: np.ndarray
    set_button: np.ndarray
    resume_button: np.ndarray
    main_button: np.ndarray
    brake: np.ndarray
    left_stalk: np.ndarray
    right_stalk: np.ndarray
    left_lamp: np.ndarray
    right_lamp: np.ndarray
    main_on: np.ndarray
    engaged: np.ndarray
    set_speed: np.ndarray  # int, dash units, 0 when nothing is remembered
    gas_pedal: np.ndarray  # 0..255 pedal position
    engine_rpm: np.ndarray
    steering_angle: np.ndarray  # degrees
    steering_torque: np.ndarray
    changes: list[CruiseChange] = field(default_factory=list)

    @property
    def n(self) -> int:
        return int(self.t_s.shape[0])

    @property
    def imperial(self) -> bool:
        return self.scenario.units == "mph"

    def wheel_kph(self, wheel: int) -> np.ndarray:
        return self.speed_mph * MPH_TO_KPH * WHEEL_FACTORS[wheel]


def tick_of(t_s: float) -> int:
    """The first tick at or after ``t_s`` (tolerant of float noise like 14.999999)."""
    return max(0, math.ceil(round(t_s * TICKS_PER_S, 6)))


def held(n: int, presses: list[Press]) -> np.ndarray:
    out = np.zeros(n, bool)
    for p in presses:
        out[tick_of(p.t_s) : tick_of(p.t_s + p.duration_s)] = True
    return out


def stalk_and_lamp(t_s: np.ndarray, spans: list[Span]) -> tuple[np.ndarray, np.ndarray]:
    stalk = np.zeros(t_s.shape[0], bool)
    lamp = np.zeros(t_s.shape[0], bool)
    for s in spans:
        # a span running past the end of the drive is cut there (an unclosed marker)
        k0, k1 = min(tick_of(s.start_s), len(t_s)), min(tick_of(s.end_s), len(t_s))
        stalk[k0:k1] = True
        phase = (np.arange(k1 - k0) / TICKS_PER_S) % BLINK_PERIOD_S
        lamp[k0:k1] = phase < BLINK_PERIOD_S / 2
    return stalk, lamp


def speed_profile(t_s: np.ndarray, points: list[tuple[float, float]]) -> np.ndarray:
    times = np.array([p[0] for p in points], float)
    mph = np.array([p[1] for p in points], float)
    return np.interp(t_s, times, mph)


def in_units(mph: float, imperial: bool) -> int:
    """A set speed as the dash shows it: whole mph or km/h, rounded half up."""
    return int(math.floor((mph if imperial else mph * MPH_TO_KPH) + 0.5))


def cruise_changes(sc: Scenario, speed_mph: np.ndarray) -> list[CruiseChange]:
    """Run the cruise rules (see ``Scenario``) over the button and brake edges, in time order."""
    order = {"main": 0, "brake": 1, "set": 2, "resume": 3}
    edges = sorted(
        [(tick_of(p.t_s), "main") for p in sc.main_presses]
        + [(tick_of(p.t_s), "brake") for p in sc.brake_presses]
        + [(tick_of(p.t_s), "set") for p in sc.set_presses]
        + [(tick_of(p.t_s), "resume") for p in sc.resume_presses],
        key=lambda e: (e[0], order[e[1]]),
    )
    imperial = sc.units == "mph"
    main, engaged, memory = False, False, None
    changes = [CruiseChange(0, False, False, None)]
    for k, kind in edges:
        if k >= speed_mph.shape[0]:
            break
        speed = float(speed_mph[k])
        if kind == "main":
            main = not main
            if not main:
                engaged, memory = False, None
        elif kind == "brake":
            engaged = False
        elif kind == "set" and main:
            if engaged and memory is not None:
                memory -= 1
            elif speed >= sc.min_engage_mph:
                engaged, memory = True, in_units(speed, imperial)
        elif kind == "resume" and main and memory is not None:
            if engaged:
                memory += 1
            else:
                engaged = True
        state = CruiseChange(k, main, engaged, memory)
        last = changes[-1]
        if (state.main_on, state.engaged, state.set_speed) != (last.main_on, last.engaged, last.set_speed):
            changes.append(state)
    return changes


def simulate(sc: Scenario, *, duration_s: float | None = None) -> Drive:
    """The whole drive at 100 Hz. ``duration_s`` overrides the scenario's (routes use whole minutes)."""
    n = int(round((duration_s or sc.duration_s) * TICKS_PER_S))
    t_s = np.arange(n) / TICKS_PER_S
    rng = np.random.default_rng([sc.seed, 1])
    speed = speed_profile(t_s, sc.speed_profile)
    accel = np.gradient(speed * MPH_TO_MS, 1 / TICKS_PER_S) if n > 1 else np.zeros(n)

    changes = cruise_changes(sc, speed)
    ticks = np.array([c.k for c in changes])
    idx = np.searchsorted(ticks, np.arange(n), side="right") - 1
    main_on = np.array([c.main_on for c in changes])[idx]
    engaged = np.array([c.engaged for c in changes])[idx]
    set_speed = np.array([c.set_speed or 0 for c in changes])[idx]

    brake = held(n, sc.brake_presses)
    left_stalk, left_lamp = stalk_and_lamp(t_s, sc.left_blinker)
    right_stalk, right_lamp = stalk_and_lamp(t_s, sc.right_blinker)
    # the driver's foot: more pedal to accelerate, some to hold speed, none when braking or on cruise
    pedal = np.clip(25 + 60 * accel, 0, 255) * (speed > 0.5)
    pedal[engaged | brake] = 0
    rpm = 700 + 28 * speed + rng.normal(0, 15, n)
    angle = 4 * np.sin(2 * np.pi * t_s / 17) + 1.5 * np.sin(2 * np.pi * t_s / 5.3) + rng.normal(0, 0.2, n)
    torque = np.round(rng.normal(0, 6, n) + 3 * np.sin(2 * np.pi * t_s / 7))
    return Drive(
        scenario=sc,
        t_s=t_s,
        speed_mph=speed,
        accel_ms2=accel,
        set_button=held(n, sc.set_presses),
        resume_button=held(n, sc.resume_presses),
        main_button=held(n, sc.main_presses),
        brake=brake,
        left_stalk=left_stalk,
        right_stalk=right_stalk,
        left_lamp=left_lamp,
        right_lamp=right_lamp,
        main_on=main_on,
        engaged=engaged,
        set_speed=set_speed,
        gas_pedal=np.round(pedal),
        engine_rpm=np.round(np.clip(rpm, 0, 8000)),
        steering_angle=angle,
        steering_torque=torque,
        changes=changes,
    )
