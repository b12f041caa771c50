"""The interface between the engine (queue, limits, store) and whatever runs the processes.

The engine decides *when* a run starts and *whether* it must be killed; an executor only starts
the process, relays what it says (:class:`ExecutorSink`) and kills it on request. Sink calls may
come from any executor thread, one run's calls in the order they happened, ``on_exit`` last.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from jupyter_cts.engine.config import EngineConfig


@dataclass(frozen=True)
class Job:
    """Everything a run process needs, JSON-able so it can cross any process or machine boundary."""

    run_id: str
    tool_id: str
    tool_ref: str  # "package.module:Class", importable in the run process
    params: dict[str, Any]
    inputs: list[str]
    run_dir: str
    artifacts_dir: str
    sys_path: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "tool_id": self.tool_id,
            "tool_ref": self.tool_ref,
            "params": self.params,
            "inputs": self.inputs,
            "run_dir": self.run_dir,
            "artifacts_dir": self.artifacts_dir,
            "sys_path": self.sys_path,
        }


@dataclass(frozen=True)
class ExitInfo:
    """How a run process ended: its exit code (negative: killed by that signal) and usage.

    ``lost`` is set when the executor lost track of the process (its template died, say).
    """

    returncode: int | None
    cpu_s: float | None = None
    max_rss_mb: float | None = None
    lost: str | None = None


class ExecutorSink(Protocol):
    """Implemented by the engine."""

    def on_spawned(self, run_id: str, pid: int | None) -> None:
        """The run's process exists (``pid`` when it is on this machine)."""

    def on_message(self, run_id: str, message: dict[str, Any]) -> None:
        """A message from :mod:`jupyter_cts.engine.child`: log, progress, artifact, done, error."""

    def on_output(self, run_id: str, stream: Literal["stdout", "stderr"], line: str) -> None:
        """One line the run's processes wrote to stdout or stderr."""

    def on_exit(self, run_id: str, info: ExitInfo) -> None:
        """The run's process is gone and everything it said has been delivered."""


class Executor(ABC):
    """Starts and kills run processes; one instance per engine."""

    def __init__(self, config: EngineConfig, sink: ExecutorSink) -> None:
        self.config = config
        self.sink = sink

    @abstractmethod
    def start(self, preload: list[str]) -> None:
        """Get ready; ``preload`` names modules worth importing once (the tools)."""

    @abstractmethod
    def launch(self, job: Job) -> None:
        """Start the run's process and return at once; ``on_spawned`` follows, ``on_exit`` at the end."""

    @abstractmethod
    def kill(self, run_id: str) -> None:
        """Kill the run's process group and its descendants; ``on_exit`` follows. No-op when gone."""

    @abstractmethod
    def stop(self, timeout: float) -> None:
        """Kill every run still going, deliver their ``on_exit``, release processes and threads."""
