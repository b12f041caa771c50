"""Tools that exercise the engine: each does one thing a real tool might do, on purpose.

They are registered through ``../cts_test_tools-0.1.0.dist-info/entry_points.txt`` and import
nothing heavy, so a run of them measures the engine, not the tool.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from jupyter_cts.errors import ToolError
from jupyter_cts.tools.base import InputKind, Tool, ToolContext, ToolParams

log = logging.getLogger(__name__)


class EchoParams(ToolParams):
    speed_min: float = Field(55.0, description="Lower speed bound (mph).")
    speed_max: float = Field(56.0, description="Upper speed bound (mph).")
    export_csv: bool = Field(True, description="Write echo.csv.")
    buses: list[int] = Field(default_factory=list, description="CAN buses to keep.")
    label: str = Field("", max_length=40)

    @field_validator("speed_max")
    @classmethod
    def _max_not_below_min(cls, value: float, info: Any) -> float:
        low = info.data.get("speed_min")
        if low is not None and value < low:
            raise ValueError(f"speed_max ({value}) must be at least speed_min ({low})")
        return value


class EchoTool(Tool):
    """Returns its validated params: the smallest possible run (used by the engine benchmark)."""

    id = "test-echo"
    name = "Echo"
    description = "Returns its parameters."
    category = "test"
    input_kind = InputKind.NONE
    Params = EchoParams

    def run(self, inputs: list[Path], params: EchoParams, ctx: ToolContext) -> dict[str, Any]:
        if params.export_csv:
            ctx.artifact("echo.csv").write_text(
                "key,value\n" + "".join(f"{k},{v}\n" for k, v in params.model_dump().items())
            )
        return {"params": params.model_dump(), "run_id": ctx.run_id}


class StepsParams(ToolParams):
    steps: int = Field(3, ge=0, le=10_000)
    delay_s: float = Field(0.05, ge=0, le=60)


class StepsTool(Tool):
    """Reports progress, logs, prints (Python and raw fd, and from a subprocess), writes an artifact."""

    id = "test-steps"
    name = "Steps"
    description = "Counts steps slowly, talking about it."
    category = "test"
    input_kind = InputKind.NONE
    Params = StepsParams

    def run(self, inputs: list[Path], params: StepsParams, ctx: ToolContext) -> dict[str, Any]:
        log.info("tool pid %d", os.getpid())
        os.write(1, b"raw write on fd 1\n")
        subprocess.run(["sh", "-c", "echo from a subprocess"], check=True)
        rows = []
        for i in range(params.steps):
            log.info("step %d of %d", i + 1, params.steps)
            print(f"stdout says step {i + 1}")
            print(f"stderr says step {i + 1}", file=sys.stderr)
            ctx.progress(100.0 * (i + 1) / params.steps, f"step {i + 1} of {params.steps}")
            rows.append(f"{i + 1}\n")
            time.sleep(params.delay_s)
        ctx.artifact("steps.csv").write_text("step\n" + "".join(rows))
        return {"steps": params.steps, "pid": os.getpid()}


Mode = Literal[
    "tool_error", "exception", "segfault", "exit", "sigkill", "sleep", "spawn", "leave_child", "bad_result"
]


class MisbehaveParams(ToolParams):
    mode: Mode
    seconds: float = Field(30.0, ge=0)


class MisbehaveTool(Tool):
    """Fails in every way a tool can: errors, crashes, hanging, leaving processes behind."""

    id = "test-misbehave"
    name = "Misbehave"
    description = "Fails on purpose."
    category = "test"
    input_kind = InputKind.NONE
    Params = MisbehaveParams

    def run(self, inputs: list[Path], params: MisbehaveParams, ctx: ToolContext) -> dict[str, Any]:
        log.info("tool pid %d", os.getpid())
        mode = params.mode
        if mode == "tool_error":
            raise ToolError("the log has no wheel speed messages: record a drive with the car's CAN")
        if mode == "exception":
            raise ValueError("bad value in frame 7")
        if mode == "segfault":
            ctypes.string_at(0)
        if mode == "exit":
            os._exit(3)
        if mode == "sigkill":  # what the kernel's out-of-memory killer does
            os.kill(os.getpid(), signal.SIGKILL)
        if mode == "bad_result":
            return {"not json": object()}
        if mode in ("spawn", "leave_child"):
            child = subprocess.Popen(["sleep", "600"])
            log.info("grandchild pid %d", child.pid)
            escaped = subprocess.Popen(["sleep", "600"], start_new_session=True)
            log.info("escaped grandchild pid %d", escaped.pid)
            if mode == "leave_child":
                return {"left": [child.pid, escaped.pid]}
        ctx.progress(1, "sleeping")
        time.sleep(params.seconds)
        return {"slept": params.seconds}


class NoParams(ToolParams):
    pass


class ReadInputTool(Tool):
    """Reports the input paths it was given and their sizes (a log tool, for input handling)."""

    id = "test-read-input"
    name = "Read input"
    description = "Lists its inputs."
    category = "test"
    input_kind = InputKind.LOG
    Params = NoParams

    def run(self, inputs: list[Path], params: NoParams, ctx: ToolContext) -> dict[str, Any]:
        files = [p for p in inputs if p.is_file()]
        return {"inputs": [str(p) for p in inputs], "bytes": sum(p.stat().st_size for p in files)}


class ReadCsvTool(ReadInputTool):
    """Same, for the CSV input kind."""

    id = "test-read-csv"
    name = "Read CSV"
    input_kind = InputKind.CSV
