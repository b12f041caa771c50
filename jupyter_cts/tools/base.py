"""The tool contract: what every analysis tool declares and how it is called.

A tool knows nothing of HTTP or of the engine. It reads its inputs, reports progress through the
context it is given, logs with standard ``logging``, writes files only through
``ctx.artifact(name)`` and returns a JSON-able result. The engine runs it in a child process; a
notebook or a test can run it directly with :class:`DirectoryContext`.
"""

from __future__ import annotations

import logging
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel, ConfigDict

_ARTIFACT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")

T = TypeVar("T")
R = TypeVar("R")
# (done, total), called as each item finishes, in the order they finish
OnDone = Callable[[int, int], None]
# fn, items, on_done -> fn(item) for each item, in the order of ``items``
SegmentMapper = Callable[[Callable[[T], R], Sequence[T], OnDone | None], Iterator[R]]


class InputKind(StrEnum):
    """What a tool reads: an openpilot log (file, segment, route, list), a CSV file, or nothing."""

    LOG = "log"
    CSV = "csv"
    NONE = "none"


class ToolParams(BaseModel):
    """Base of every tool's ``Params``: unknown keys are errors, CLI strings are coerced."""

    model_config = ConfigDict(extra="forbid", validate_default=True)


@runtime_checkable
class ToolContext(Protocol):
    """What a running tool may touch besides its inputs."""

    run_id: str
    artifacts_dir: Path

    def progress(self, percent: float, message: str = "") -> None:
        """Report 0-100 progress with a short message a person can read."""

    def artifact(self, name: str) -> Path:
        """The path to write the artifact ``name`` to, inside the run's artifact folder."""

    # Optional: ``map_segments(fn, items, on_done=None) -> Iterator`` (a :data:`SegmentMapper`).
    # A context that has it may run ``fn`` over the items elsewhere (a process pool, a Dask
    # cluster); tools call it through :func:`map_segments`, which falls back to a serial loop, so
    # contexts written before it existed keep working. Not a protocol member for that reason.
    # Optional too: ``local_cpus`` (int), the processes the run may keep busy on this machine;
    # read through :func:`local_cpus`, which says 1 when a context does not tell.


def map_serial(fn: Callable[[T], R], items: Sequence[T], on_done: OnDone | None = None) -> Iterator[R]:
    """The default mapper: one item after the other, in this process (memory stays flat)."""
    total = len(items)
    for done, item in enumerate(items, 1):
        result = fn(item)
        if on_done is not None:
            on_done(done, total)
        yield result


def map_segments(
    ctx: ToolContext, fn: Callable[[T], R], items: Sequence[T], on_done: OnDone | None = None
) -> Iterator[R]:
    """``fn(item)`` for every item, results in the order of ``items``, wherever ``ctx`` runs them.

    ``fn`` and the items must be picklable (a module-level function, ``functools.partial`` of
    one, plain data) because a context may send them to other processes or machines.
    ``on_done(done, total)`` is called as items finish, so a tool can report progress.
    """
    mapper: SegmentMapper[T, R] | None = getattr(ctx, "map_segments", None)
    return (mapper or map_serial)(fn, items, on_done)


def local_cpus(ctx: ToolContext) -> int:
    """How many processes ``ctx``'s run may keep busy on this machine (at least 1).

    The engine sizes a run's segment pool to its share of the CPUs; a tool may use the same share
    for other work that can run side by side (see :mod:`jupyter_cts.tools.side_by_side`)."""
    return max(1, int(getattr(ctx, "local_cpus", 1)))


def mapper_cpus(mapper: SegmentMapper[Any, Any] | None) -> int:
    """The CPUs of this machine a run with ``mapper`` may keep busy: a process pool's size, a Dask
    run's share of the server (its segments run elsewhere, the rest here), else 1 (serial)."""
    return max(1, int(getattr(mapper, "local_cpus", 1)))


def check_artifact_name(name: str) -> str:
    """Artifact names are plain file names, so no artifact can escape its run folder."""
    if not _ARTIFACT_NAME.match(name) or name in {".", ".."}:
        raise ValueError(f"invalid artifact name {name!r}: use letters, digits, '.', '_' or '-'")
    return name


class Tool(ABC):
    """An analysis tool. Subclasses set the class attributes and implement :meth:`run`."""

    id: ClassVar[str]
    name: ClassVar[str]
    description: ClassVar[str]
    category: ClassVar[str] = "analysis"
    version: ClassVar[str] = "1.0.0"
    input_kind: ClassVar[InputKind] = InputKind.LOG
    Params: ClassVar[type[ToolParams]] = ToolParams
    # Heavy modules the tool imports lazily (plotting, ...): the engine imports them once in its warm
    # template process, so a run does not pay for them. Importing the tool module stays light.
    preload: ClassVar[tuple[str, ...]] = ()

    @classmethod  # noqa: B027 - optional: most tools have nothing to warm
    def warm_up(cls) -> None:
        """Called once in the engine's warm template process, after the imports, so that every run
        forked from it starts warm: parse the data files most runs need, draw a throwaway figure.
        Must be quick and must not write anything; an error is logged, never fatal."""

    @abstractmethod
    def run(self, inputs: list[Path], params: Any, ctx: ToolContext) -> dict[str, Any]:
        """Analyse ``inputs`` (already resolved and allowed) with validated ``params``."""

    @classmethod
    def params_schema(cls) -> dict[str, Any]:
        return cls.Params.model_json_schema()

    @classmethod
    def describe(cls) -> dict[str, Any]:
        """The public description used by capabilities, the CLI and the notebook forms."""
        return {
            "id": cls.id,
            "name": cls.name,
            "description": cls.description,
            "category": cls.category,
            "version": cls.version,
            "input": str(cls.input_kind),
            "params_schema": cls.params_schema(),
        }


class DirectoryContext:
    """Run a tool directly (notebook, test, benchmark): artifacts go into a folder, progress is logged."""

    def __init__(
        self, artifacts_dir: str | Path, run_id: str = "direct", mapper: SegmentMapper[Any, Any] | None = None
    ) -> None:
        self.run_id = run_id
        self.artifacts_dir = Path(artifacts_dir)
        self.artifacts_dir.mkdir(parents=True, exist_ok=True)
        self.progress_log: list[tuple[float, str]] = []
        self._log = logging.getLogger("jupyter_cts.tools")
        self._mapper = mapper

    @property
    def local_cpus(self) -> int:
        return mapper_cpus(self._mapper)

    def map_segments(
        self, fn: Callable[[T], R], items: Sequence[T], on_done: OnDone | None = None
    ) -> Iterator[R]:
        """Serial unless a ``mapper`` was given (e.g. a process pool from the engine)."""
        return (self._mapper or map_serial)(fn, items, on_done)

    def progress(self, percent: float, message: str = "") -> None:
        self.progress_log.append((float(percent), message))
        self._log.debug("progress %.0f%% %s", percent, message)

    def artifact(self, name: str) -> Path:
        return self.artifacts_dir / check_artifact_name(name)
