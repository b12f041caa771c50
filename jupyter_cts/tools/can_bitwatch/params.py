"""Parameters of can-bitwatch."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from jupyter_cts.can.bits import parse_bit_selector
from jupyter_cts.tools.base import ToolParams
from jupyter_cts.tools.window import WindowDuration, WindowStart


class CanBitwatchParams(ToolParams):
    """Which bits to follow and where the window of interest is."""

    watch: list[str] = Field(
        default_factory=list,
        title="Watched bits",
        description=(
            "Bits whose every edge is listed, e.g. 0x027:MSB B4b5 or 0x027:b34 (optional bus: 0x027@1:b34); "
            "several separated by commas. Empty: the bits that change only inside the window."
        ),
        examples=[["0x027:MSB B4b5", "0x027:b34"]],
    )
    window_start: WindowStart = Field(
        None,
        description=(
            "Start of the window of interest in seconds since the first event. Empty: the window a can.csv "
            "from rlog-to-csv was labelled with, else the whole input."
        ),
    )
    window_dur: WindowDuration = Field(
        None, description="Length of the window in seconds; empty: to the end of the input."
    )
    pulse_s: float = Field(
        2.0,
        gt=0,
        le=60,
        title="Pulse length",
        description=(
            "accel_hunt.csv lists bits with exactly pulse_count high pulses this long inside the window."
        ),
        json_schema_extra={"unit": "s"},
    )
    pulse_tolerance_s: float = Field(
        0.5,
        ge=0,
        le=30,
        title="Pulse tolerance",
        description="How far a pulse may be from pulse_s and still count.",
        json_schema_extra={"unit": "s"},
    )
    pulse_count: int = Field(
        3, ge=1, le=50, title="Pulses", description="How many pulses accel_hunt.csv looks for."
    )

    @field_validator("watch", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        if value is None:
            return []
        if isinstance(value, str):
            return [p.strip() for p in value.split(",") if p.strip()]
        return value

    @field_validator("watch", mode="after")
    @classmethod
    def _selectors(cls, value: list[str]) -> list[str]:
        for text in value:
            parse_bit_selector(text)  # ValueError names what is wrong
        return value
