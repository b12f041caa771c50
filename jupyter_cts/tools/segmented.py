"""Tools whose work splits per segment: analyse each segment alone, then combine.

A route is a folder of one-minute segments. A ``SegmentedTool`` says how to cut its input into
``SegmentTask``s (``plan``), how to reduce one segment to a small picklable partial
(``analyze_segment``, a classmethod so it can run in another process or on a Dask worker with only
the task, the params and the plan's shared values), and how to join the partials and write the
artifacts (``combine``). ``run`` does the three in order; the segments go through the context's
segment mapper (:func:`~jupyter_cts.tools.base.map_segments`): one at a time in this process by
default, a process pool or a Dask cluster when the engine provides one. Partials come back in
segment order either way, so ``combine`` sees the same list wherever the segments ran.
"""

from __future__ import annotations

import logging
from abc import abstractmethod
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from jupyter_cts.tools.base import Tool, ToolContext, map_segments

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SegmentTask:
    """One file of the input, in time order (``index`` 0 is the first)."""

    index: int
    path: str
    number: int | None = None


@dataclass
class Plan:
    """The tasks of one run plus what every task needs to know (picklable)."""

    tasks: list[SegmentTask]
    shared: dict[str, Any] = field(default_factory=dict)


class SegmentedTool(Tool):
    """A tool analysed segment by segment; see the module docstring."""

    @abstractmethod
    def plan(self, inputs: list[Path], params: Any) -> Plan:
        """Cut the input into tasks and decide what they share (e.g. the DBC)."""

    @classmethod
    @abstractmethod
    def analyze_segment(cls, task: SegmentTask, params: Any, shared: dict[str, Any]) -> Any:
        """Reduce one segment to a partial result (picklable, small)."""

    @abstractmethod
    def combine(self, partials: list[Any], plan: Plan, params: Any, ctx: ToolContext) -> dict[str, Any]:
        """Join the partials (in task order), write the artifacts, return the result."""

    def run(self, inputs: list[Path], params: Any, ctx: ToolContext) -> dict[str, Any]:
        ctx.progress(0, "reading the input")
        plan = self.plan(inputs, params)
        n = len(plan.tasks)
        ctx.progress(5, f"analysing {n} segment{'s' if n != 1 else ''}")

        def on_done(done: int, total: int) -> None:
            ctx.progress(5 + 80 * done / max(total, 1), f"segments done: {done} of {total}")

        work = partial(analyze_task, type(self), params=params, shared=plan.shared)
        partials = list(map_segments(ctx, work, plan.tasks, on_done))
        ctx.progress(85, "combining segments")
        result = self.combine(partials, plan, params, ctx)
        ctx.progress(100, "done")
        return result


def analyze_task(tool: type[SegmentedTool], task: SegmentTask, *, params: Any, shared: dict[str, Any]) -> Any:
    """One segment, wherever the mapper runs it (module level, so it pickles by reference)."""
    log.info("analysing %s", task.path)
    return tool.analyze_segment(task, params, shared)
