"""Parameters of cruise-control-analyzer: their JSON Schema is the form, the CLI help and the REST contract.

Every field carries a title, a description with its unit, and bounds where a slider makes sense.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from jupyter_cts.can.bits import parse_bit_selector
from jupyter_cts.tools.base import ToolParams


class CruiseControlParams(ToolParams):
    """What to look for in a Subaru drive, and which files to write."""

    speed_min: float = Field(
        55.0,
        ge=0,
        le=200,
        title="Target speed, low end",
        description="Lower edge of the target speed band, in mph (mean of the four wheel speeds).",
        json_schema_extra={"unit": "mph"},
    )
    speed_max: float = Field(
        56.0,
        ge=0,
        le=200,
        title="Target speed, high end",
        description="Upper edge of the target speed band, in mph; must not be below speed_min.",
        json_schema_extra={"unit": "mph"},
    )
    marker_type: Literal["blinkers", "none"] = Field(
        "blinkers",
        title="Marker",
        description=(
            "How the driver marked moments of interest: 'blinkers' = left blinker opens a window, "
            "right blinker closes it; 'none' = no marker windows."
        ),
    )
    marker_pre: float = Field(
        1.5,
        ge=0,
        le=10,
        title="Window lead-in",
        description="Seconds added before the left blinker edge when counting bit flips in a window.",
        json_schema_extra={"unit": "s"},
    )
    marker_post: float = Field(
        1.5,
        ge=0,
        le=10,
        title="Window lead-out",
        description="Seconds added after the right blinker edge when counting bit flips in a window.",
        json_schema_extra={"unit": "s"},
    )
    marker_timeout: float = Field(
        15.0,
        ge=0.5,
        le=60,
        title="Marker timeout",
        description="Seconds a window waits for the right blinker before it is dropped.",
        json_schema_extra={"unit": "s"},
    )
    engaged_bit: str | None = Field(
        None,
        title="Engaged bit",
        description=(
            "Take cruise engagement from this bit instead of the DBC signals, e.g. '0x241:b55' or "
            "'0x241:MSB B6b0' (high = engaged). Empty: use the DBC's Cruise_Activated."
        ),
        examples=["0x241:b55", "0x241:MSB B6b0"],
    )
    engaged_bus: int | None = Field(
        None,
        ge=0,
        le=255,
        title="Engaged bit bus",
        description="CAN bus of engaged_bit; empty: the bus that carries its address most often.",
    )
    engaged_margin: float = Field(
        0.5,
        ge=0,
        le=5,
        title="Engaged edge margin",
        description=(
            "Seconds around each engage/disengage edge in which a bit flip counts as 'at the edge'; "
            "engaged intervals are widened by it when counting flips inside them."
        ),
        json_schema_extra={"unit": "s"},
    )
    dbc: str | None = Field(
        None,
        title="DBC",
        description=(
            "opendbc DBC name (e.g. subaru_global_2017) or a path to a .dbc file. Empty: chosen from "
            "the logged car fingerprint, else subaru_global_2017."
        ),
    )
    export_csv: bool = Field(True, title="Write CSV files", description="Write the CSV exports.")
    export_json: bool = Field(True, title="Write JSON files", description="Write the JSON exports.")
    salvage: bool = Field(
        True,
        title="Salvage damaged logs",
        description=(
            "Keep the events before damage in a corrupt or truncated file and say so in warnings, "
            "instead of failing the run."
        ),
    )

    @field_validator("engaged_bit")
    @classmethod
    def _selector(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parse_bit_selector(value)  # raises ValueError with a message naming the wrong part
        return value.strip()

    @field_validator("dbc")
    @classmethod
    def _blank_dbc(cls, value: str | None) -> str | None:
        return value.strip() if value and value.strip() else None

    @model_validator(mode="after")
    def _consistent(self) -> CruiseControlParams:
        if self.speed_min > self.speed_max:
            raise ValueError(
                f"speed_min ({self.speed_min} mph) is above speed_max ({self.speed_max} mph): "
                "swap them or widen the band"
            )
        if self.engaged_bit is not None and self.engaged_bus is not None:
            sel_bus = parse_bit_selector(self.engaged_bit).bus
            if sel_bus is not None and sel_bus != self.engaged_bus:
                raise ValueError(
                    f"engaged_bit {self.engaged_bit!r} names bus {sel_bus} but engaged_bus is "
                    f"{self.engaged_bus}: give the bus once"
                )
        return self
