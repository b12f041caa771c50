"""What a generated drive should contain: a small, JSON-serializable description a person can read.

A scenario says what the *driver* does (speed over time, button presses, brake taps, blinker stalk
periods); the car's reaction (cruise engaging, set speeds, lamps flashing) is simulated from it, so
the ground truth in ``truth.json`` follows from the same rules the CAN frames do.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Press(BaseModel):
    """A button held from ``t_s`` for ``duration_s`` seconds (people hold buttons 0.2-0.4 s)."""

    model_config = ConfigDict(frozen=True)

    t_s: float = Field(ge=0)
    duration_s: float = Field(default=0.3, gt=0, le=5)


class Span(BaseModel):
    """A period, e.g. the blinker stalk held from ``start_s`` to ``end_s``."""

    model_config = ConfigDict(frozen=True)

    start_s: float = Field(ge=0)
    end_s: float

    @model_validator(mode="after")
    def _ordered(self) -> Span:
        if self.end_s <= self.start_s:
            raise ValueError(f"span ends ({self.end_s} s) before it starts ({self.start_s} s)")
        return self


class Scenario(BaseModel):
    """One drive. Times are seconds from the first event of the drive; speeds are mph.

    Cruise rules (Subaru-like): Main toggles cruise available; Set engages at the current speed when
    main is on and the car does at least ``min_engage_mph``, and lowers the set speed by one while
    engaged; Resume re-engages at the last set speed, and raises it by one while engaged; a brake
    press disengages (the set speed is remembered); main off disengages and forgets it.
    """

    name: str = "custom"
    duration_s: float = Field(default=60.0, gt=0, le=3600)
    speed_profile: list[tuple[float, float]] = Field(
        default_factory=lambda: [(0.0, 0.0), (10.0, 55.5), (60.0, 55.5)],
        description="piecewise-linear (t_s, mph) points; held flat after the last one",
    )
    set_presses: list[Press] = Field(default_factory=list)
    resume_presses: list[Press] = Field(default_factory=list)
    main_presses: list[Press] = Field(
        default_factory=lambda: [Press(t_s=1.0)], description="each press toggles cruise main on/off"
    )
    brake_presses: list[Press] = Field(default_factory=list)
    left_blinker: list[Span] = Field(default_factory=list, description="left stalk held on")
    right_blinker: list[Span] = Field(default_factory=list, description="right stalk held on")
    units: Literal["mph", "kph"] = Field(default="mph", description="dash units (Dashlights.UNITS)")
    car_fingerprint: str = "SUBARU_IMPREZA"
    brand: str = "subaru"
    seed: int = 0
    band_mph: tuple[float, float] = Field(default=(55.0, 56.0), description="band truth.json reports")
    min_engage_mph: float = 20.0
    noise_addresses: int = Field(default=28, ge=0, le=400, description="extra non-DBC addresses")
    marker_timeout_s: float = Field(default=15.0, gt=0, description="for truth marker windows")

    @model_validator(mode="after")
    def _profile(self) -> Scenario:
        if not self.speed_profile:
            raise ValueError("speed_profile needs at least one (t_s, mph) point")
        times = [t for t, _ in self.speed_profile]
        if times != sorted(times):
            raise ValueError("speed_profile times must increase")
        if any(v < 0 or v > 150 for _, v in self.speed_profile):
            raise ValueError("speed_profile speeds must lie in 0..150 mph")
        return self
