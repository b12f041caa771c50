"""Where ``cts`` writes: answers on stdout, everything meant for a person watching on stderr.

With ``--json`` stdout carries JSON only (one document, or JSON lines for log streams), so a script
can pipe it into ``jq`` while progress and hints still reach the terminal on stderr.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from typing import Any, TextIO

import click
from pydantic import BaseModel

from jupyter_cts.engine.models import Run


def to_jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    return value


class Output:
    def __init__(self, json_mode: bool) -> None:
        self.json_mode = json_mode

    def json(self, value: Any, *, lines: bool = False) -> None:
        """One JSON document on stdout (``lines``: compact, one per line, for streams)."""
        text = json.dumps(to_jsonable(value), indent=None if lines else 2, default=str)
        click.echo(text)

    def text(self, line: str = "") -> None:
        """A line of the human answer on stdout (never in --json mode)."""
        if not self.json_mode:
            click.echo(line)

    def info(self, line: str) -> None:
        """A hint or progress line on stderr, in every mode."""
        click.echo(line, err=True)

    def error(self, line: str) -> None:
        click.echo(f"error: {line}", err=True)


class ProgressLine:
    """A run's status, progress and own message on stderr.

    On a terminal one line is redrawn in place (``\\r``). Otherwise (a pipe, a log file) a line is
    written when the status changes, and for a new message or 10% more progress at most once every
    ``min_interval_s``, so logs stay short.
    """

    def __init__(
        self, stream: TextIO | None = None, *, redraw: bool | None = None, min_interval_s: float = 1.0
    ) -> None:
        self.stream = stream or sys.stderr
        self.redraw = self.stream.isatty() if redraw is None else redraw
        self.min_interval_s = min_interval_s
        self._drawn = False
        self._last: tuple[str, int, str] | None = None
        self._printed: tuple[str, int, str] | None = None
        self._printed_at = 0.0

    def update(self, run: Run) -> None:
        percent = max(0, min(100, int(run.progress)))
        state = (str(run.status), percent, run.progress_message)
        if state == self._last:
            return
        self._last = state
        if self.redraw:
            width = max(20, shutil.get_terminal_size((100, 20)).columns - 1)
            line = format_progress(run, bar_width=20)[:width]
            self.stream.write("\r" + line.ljust(width))
            self.stream.flush()
            self._drawn = True
            return
        printed, now = self._printed, time.monotonic()
        news = printed is None or printed[2] != state[2] or abs(percent - printed[1]) >= 10
        if (
            printed is None
            or printed[0] != state[0]
            or (news and now - self._printed_at >= self.min_interval_s)
        ):
            self._printed, self._printed_at = state, now
            self.stream.write(format_progress(run, bar_width=20) + "\n")
            self.stream.flush()

    def close(self) -> None:
        """End the redrawn line so the next output starts on its own line."""
        if self.redraw and self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False


def format_progress(run: Run, bar_width: int = 20) -> str:
    percent = max(0.0, min(100.0, float(run.progress)))
    filled = int(round(bar_width * percent / 100))
    bar = "#" * filled + "-" * (bar_width - filled)
    message = f"  {run.progress_message}" if run.progress_message else ""
    return f"{run.run_id} {run.status!s:<9} [{bar}] {percent:3.0f}%{message}"
