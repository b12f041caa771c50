"""The exit codes of ``cts`` (SPEC "Entry points for people"): scripts branch on these."""

from __future__ import annotations

from enum import IntEnum

from jupyter_cts.engine.models import RunStatus


class ExitCode(IntEnum):
    OK = 0
    USAGE = 1  # bad arguments, unknown tool or run, invalid parameters, a request the server refused
    SERVER = 2  # server unreachable, not found, wrong token, or no jupyter_cts extension on it
    RUN_FAILED = 3
    RUN_CANCELED = 4
    INTERRUPTED = 130  # Ctrl-C


def for_status(status: RunStatus) -> ExitCode:
    """What a command that waited for a run exits with."""
    return {
        RunStatus.COMPLETED: ExitCode.OK,
        RunStatus.FAILED: ExitCode.RUN_FAILED,
        RunStatus.CANCELED: ExitCode.RUN_CANCELED,
    }.get(status, ExitCode.OK)
