"""cruise-control-analyzer: the flagship tool, wired from its parts.

plan (choose the DBC) -> analyze_segment per file -> combine -> artifacts (result.json,
report.html, speed_timeline.png, CSV/JSON exports).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from jupyter_cts.can.dbc import Dbc, load_dbc
from jupyter_cts.can.fingerprints import dbc_for_fingerprint
from jupyter_cts.errors import DbcLookupError, ToolError
from jupyter_cts.logs import read_log
from jupyter_cts.logs.reader import LogData
from jupyter_cts.logs.source import SegmentFile, resolve_segments
from jupyter_cts.tools.base import InputKind, ToolContext, local_cpus, map_segments, map_serial
from jupyter_cts.tools.cruise_control.combine import Analysis, Joined, join_segments, rank_bits
from jupyter_cts.tools.cruise_control.params import CruiseControlParams
from jupyter_cts.tools.cruise_control.segment import SegmentPartial, analyze_segment
from jupyter_cts.tools.exports import run_metadata, write_json, write_table
from jupyter_cts.tools.segmented import Plan, SegmentedTool, SegmentTask, analyze_task
from jupyter_cts.tools.side_by_side import Helper, side_by_side

log = logging.getLogger(__name__)

DEFAULT_DBC = "subaru_global_2017"

COLUMNS: dict[str, list[str]] = {
    "timeline": ["t_s", "log_mono_time", "event", "value", "speed_mph", "detail"],
    "candidates": [
        "rank",
        "address_hex",
        "bus",
        "g",
        "lsb_label",
        "msb_label",
        "signal",
        "score",
        "score_marker",
        "score_engaged",
        "rank_marker",
        "rank_engaged",
        "toggles",
        "rises",
        "falls",
        "flips_in_windows",
        "windows_hit",
        "flips_engaged",
        "engaged_edges_hit",
        "edge_lag_s",
    ],
    "edges": [
        "t_s",
        "log_mono_time",
        "address_hex",
        "bus",
        "g",
        "lsb_label",
        "msb_label",
        "signal",
        "role",
        "edge",
        "speed_mph",
    ],
    "marker_windows": [
        "index",
        "start_s",
        "end_s",
        "window_start_s",
        "window_end_s",
        "duration_s",
        "partial",
        "start_log_mono_time",
        "end_log_mono_time",
        "top_bits",
    ],
    "engaged_intervals": [
        "start_s",
        "end_s",
        "duration_s",
        "open",
        "start_log_mono_time",
        "end_log_mono_time",
        "speed_mph_at_start",
        "set_speed_at_start",
    ],
}


def choose_dbc(params: CruiseControlParams, fingerprint: str | None) -> tuple[Dbc, str, list[str]]:
    """The DBC to decode with, why, and any warning a person should see about that choice."""
    warnings: list[str] = []
    if params.dbc:
        try:
            return load_dbc(params.dbc), "from the dbc parameter", warnings
        except DbcLookupError as err:
            raise ToolError(f"dbc parameter: {err}") from None
    name = dbc_for_fingerprint(fingerprint)
    if name is not None:
        return load_dbc(name), f"chosen from car fingerprint {fingerprint}", warnings
    if fingerprint:
        warnings.append(
            f"car fingerprint {fingerprint} is not a Subaru this tool knows: decoding with {DEFAULT_DBC} "
            "anyway "
            "(set the dbc parameter if the car needs another DBC)"
        )
        return load_dbc(DEFAULT_DBC), f"default; fingerprint {fingerprint} unknown", warnings
    warnings.append(f"the log names no car (no carParams event): decoding with {DEFAULT_DBC}")
    return load_dbc(DEFAULT_DBC), "default; no car fingerprint logged", warnings


class ReadAhead:
    """The first file, read in the run process for its car fingerprint, kept for segment 0's analysis.

    Segment 0 then reads nothing, whether it runs in this process (serial) or in a pool worker
    forked from it (which inherits the copy); a Dask worker elsewhere reads the file itself. At
    most one file is held, and a run drops it once its segments are analysed.
    """

    def __init__(self) -> None:
        self._held: tuple[str, bool, LogData] | None = None

    def keep(self, path: str, salvage: bool, data: LogData) -> None:
        self._held = (path, salvage, data)

    def take(self, path: str, salvage: bool) -> LogData | None:
        """The data of ``path`` if it is the one held (then no longer held), else None."""
        if self._held is None or self._held[:2] != (path, salvage):
            return None
        data, self._held = self._held[2], None
        return data

    def drop(self) -> None:
        self._held = None


READ_AHEAD = ReadAhead()


class CruiseControlAnalyzer(SegmentedTool):
    """Subaru cruise control: speed band, Set/Resume presses, engaged spans, marker windows, bits."""

    id = "cruise-control-analyzer"
    name = "Cruise control analyzer"
    description = (
        "Finds when a Subaru drive was in a target speed band, every Set/Resume press and cruise engagement, "
        "blinker-marked windows, and ranks the CAN bits that change with them."
    )
    category = "analysis"
    version = "1.0.0"
    input_kind = InputKind.LOG
    Params = CruiseControlParams
    preload = ("matplotlib.figure", "matplotlib.backends.backend_agg", "matplotlib.collections")

    @classmethod
    def warm_up(cls) -> None:
        """Parse the default DBC and draw a small speed timeline in memory: a process's first
        figure loads fonts and fills matplotlib's caches, which every run forked afterwards skips."""
        from jupyter_cts.tools.cruise_control.plot import render_speed_timeline, sample_plot

        load_dbc(DEFAULT_DBC)
        render_speed_timeline(sample_plot(), CruiseControlParams.model_validate({}), io.BytesIO())

    def plan(self, inputs: list[Path], params: CruiseControlParams) -> Plan:
        segments = resolve_segments(inputs)
        first = None
        if not params.dbc:
            first = read_log(segments[0].path, salvage=params.salvage)
            READ_AHEAD.keep(str(segments[0].path), params.salvage, first)
        return self._plan(segments, params, first)

    def _plan(self, segments: list[SegmentFile], params: CruiseControlParams, first: LogData | None) -> Plan:
        tasks = [SegmentTask(i, str(seg.path), seg.number) for i, seg in enumerate(segments)]
        # the car is named in carParams, logged at the start of the drive: the first file tells
        fingerprint = first.metadata.car_fingerprint if first is not None else None
        dbc, reason, warnings = choose_dbc(params, fingerprint)
        log.info("decoding with DBC %s (%s)", dbc.name, reason)
        return Plan(
            tasks,
            {
                "dbc": dbc.source if params.dbc and Path(params.dbc).is_file() else dbc.name,
                "dbc_reason": reason,
                "warnings": warnings,
                "fingerprint": fingerprint,
            },
        )

    @classmethod
    def analyze_segment(
        cls, task: SegmentTask, params: CruiseControlParams, shared: dict[str, Any]
    ) -> SegmentPartial:
        return analyze_segment(
            task.path,
            params,
            load_dbc(shared["dbc"]),
            index=task.index,
            number=task.number,
            data=READ_AHEAD.take(task.path, params.salvage),
        )

    def analyse(
        self,
        inputs: list[Path],
        params: CruiseControlParams,
        progress: Callable[[float, str], None] | None = None,
        ctx: ToolContext | None = None,
    ) -> tuple[Plan, Analysis]:
        """Read, decode and analyse every segment; write nothing."""
        plan, joined = self._joined(inputs, params, progress, ctx)
        return plan, self._ranked(joined, plan)

    def run(self, inputs: list[Path], params: CruiseControlParams, ctx: ToolContext) -> dict[str, Any]:
        from jupyter_cts.tools.cruise_control.plot import prepare_figure

        ctx.progress(0, "reading the input")
        # forked now, while this process is small: it draws the plot at the end (see ``_write``),
        # on a figure it prepares while this process reads the first file
        helper = Helper.start(local_cpus(ctx), prepare=partial(prepare_figure, params))
        try:
            plan, joined = self._joined(inputs, params, ctx.progress, ctx)
            return self._write(joined, plan, ctx, helper)
        finally:
            if helper is not None:
                helper.close()

    def combine(
        self, partials: list[SegmentPartial], plan: Plan, params: CruiseControlParams, ctx: ToolContext
    ) -> dict[str, Any]:
        return self._write(self._join(partials, plan, params, load_dbc(plan.shared["dbc"])), plan, ctx)

    def _joined(
        self,
        inputs: list[Path],
        params: CruiseControlParams,
        progress: Callable[[float, str], None] | None,
        ctx: ToolContext | None,
    ) -> tuple[Plan, Joined]:
        """Every segment analysed, their tracks joined.

        The first file is read here for the car fingerprint (the DBC choice). Every segment, that
        one too, then goes through the context's segment mapper
        (``jupyter_cts.tools.base.map_segments``): one at a time in this process unless the engine
        hands the run a process pool or a Dask cluster, so no worker waits while this process
        analyses the first segment alone; segment 0 reuses the read (:data:`READ_AHEAD`) here or in
        a forked worker.
        """
        plan = self.plan(inputs, params)
        dbc = load_dbc(plan.shared["dbc"])  # before any worker forks: they inherit it parsed

        def on_done(done: int, total: int) -> None:
            if progress is not None:
                progress(5 + 80 * done / total, f"segments done: {done} of {total}")

        work = partial(analyze_task, type(self), params=params, shared=plan.shared)
        try:
            if ctx is not None:
                partials = list(map_segments(ctx, work, plan.tasks, on_done))
            else:
                partials = list(map_serial(work, plan.tasks, on_done))
        finally:
            READ_AHEAD.drop()  # segment 0 ran in a worker (or failed): this process's copy goes
        return plan, self._join(partials, plan, params, dbc)

    def _join(
        self, partials: list[SegmentPartial], plan: Plan, params: CruiseControlParams, dbc: Dbc
    ) -> Joined:
        return join_segments(
            partials, params, dbc, dbc_reason=plan.shared["dbc_reason"], warnings=plan.shared["warnings"]
        )

    def _ranked(self, joined: Joined, plan: Plan) -> Analysis:
        """The bits ranked and the result assembled (with a late fingerprint's warning)."""
        analysis = rank_bits(joined)
        fp, dbc = analysis.result["input"]["car_fingerprint"], joined.dbc
        if (
            not joined.params.dbc
            and plan.shared.get("fingerprint") is None
            and dbc_for_fingerprint(fp) not in (None, dbc.name)
        ):
            analysis.result["warnings"].append(
                f"car fingerprint {fp} appears only after the first file and maps to "
                f"{dbc_for_fingerprint(fp)}; "
                f"the drive was decoded with {dbc.name} (set the dbc parameter to choose)"
            )
        return analysis

    def _write(
        self, joined: Joined, plan: Plan, ctx: ToolContext, helper: Helper | None = None
    ) -> dict[str, Any]:
        """Rank the bits and write every artifact; the result.

        The plot needs only the joined tracks, so when the run has a second CPU it is drawn by the
        run's helper process (forked when the run started, its figure prepared since) while this
        process ranks the bits and writes the tables (the two slowest steps after the segments);
        the report, which embeds both, comes last.
        """
        from jupyter_cts.tools.cruise_control.plot import render_speed_timeline
        from jupyter_cts.tools.cruise_control.report import render_report

        params = joined.params
        png = ctx.artifact("speed_timeline.png")
        ranked: list[Analysis] = []

        def tables() -> None:
            ctx.progress(88, "ranking bits and writing the tables")
            analysis = self._ranked(joined, plan)
            meta = run_metadata(
                self,
                params,
                ctx,
                input_sha256=analysis.result["metadata"]["input_sha256"],
                input_files=analysis.result["metadata"]["input_files"],
                dbc=analysis.result["input"]["dbc"],
            )
            analysis.result["metadata"] = meta
            write_tables(analysis, params, ctx, meta)
            ranked.append(analysis)

        figure = partial(render_speed_timeline, joined.speed_plot.decimated(), params, png)  # picklable
        side_by_side(tables, figure, helper=helper)
        result = ranked[0].result
        ctx.progress(98, "writing the report")
        render_report(result, png, ctx.artifact("report.html"), candidates=ranked[0].candidates)
        ctx.progress(100, "done")
        return result


def write_tables(
    analysis: Analysis, params: CruiseControlParams, ctx: ToolContext, meta: dict[str, Any]
) -> None:
    """The CSV/JSON exports the params ask for, and ``result.json``, into the run's artifact folder."""
    r = analysis.result
    tables: dict[str, list[dict[str, Any]]] = {
        "timeline": analysis.timeline,
        "candidates": analysis.candidates,
        "edges": analysis.edges,
        "marker_windows": r["marker_windows"],
        "engaged_intervals": r["cruise"]["engaged_intervals"],
    }
    if params.export_csv or params.export_json:
        for stem, rows in tables.items():
            write_table(
                ctx, stem, COLUMNS[stem], rows, meta, as_csv=params.export_csv, as_json=params.export_json
            )
    write_json(ctx, "result.json", r)
