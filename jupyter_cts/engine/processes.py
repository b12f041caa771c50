"""Killing a run's processes, and saying in words how a process ended."""

from __future__ import annotations

import os
import signal

INTERRUPTED = "interrupted: server stopped"


def killpg(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def kill_tree(pid: int) -> None:
    """SIGKILL a run: its process group, plus descendants that moved to another group or session."""
    descendants = []
    try:
        import psutil

        descendants = psutil.Process(pid).children(recursive=True)
    except Exception:  # noqa: BLE001 - gone already: the group kill below still happens
        pass
    killpg(pid)
    for proc in descendants:
        try:
            proc.kill()
        except Exception:  # noqa: BLE001
            pass


def create_time(pid: int) -> float | None:
    """When ``pid`` started, to recognise it later (pids are recycled)."""
    try:
        import psutil

        return float(psutil.Process(pid).create_time())
    except Exception:  # noqa: BLE001 - already gone
        return None


def kill_if_same(pid: int, started: float | None) -> bool:
    """Kill a leftover run of an earlier engine, only if ``pid`` is still that very process."""
    if started is None:
        return False
    now = create_time(pid)
    if now is None or abs(now - started) > 0.5:
        return False
    kill_tree(pid)
    return True


def describe_exit(returncode: int | None) -> str:
    """A crash in words: "the tool process died (signal 11 SIGSEGV)", "... exited with code 3 ..."."""
    if returncode is None:
        return "the tool process ended in an unknown way"
    if returncode < 0:
        number = -returncode
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = "unknown signal"
        text = f"the tool process died (signal {number} {name})"
        if number == signal.SIGKILL:
            text += "; it may have been killed by the system for using too much memory"
        return text
    return f"the tool process exited with code {returncode} before reporting a result"
