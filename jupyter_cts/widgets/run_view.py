"""``RunView(run_id)``: one run, live: status, progress, elapsed time, log tail, then the results.

It polls the server (see :mod:`jupyter_cts.widgets.polling` for how that stays off the kernel's
back) and renders each snapshot. When the run completes it shows the result summary, every table
of the result (also as pandas DataFrames on :attr:`RunView.tables`), the images among the
artifacts inline (the speed plot) and a download link per artifact. A failed run shows its error in
a red box at the top, where nobody can miss it.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as w
import pandas as pd

from jupyter_cts.engine.models import Artifact, LogRecord, Run, RunStatus
from jupyter_cts.widgets.connection import artifact_href, async_twin, connect
from jupyter_cts.widgets.polling import Poller, running_loop
from jupyter_cts.widgets.results import result_summary, result_tables, summary_html, table_html
from jupyter_cts.widgets.snapshot import RunFetcher, RunSnapshot

if TYPE_CHECKING:
    from jupyter_cts.client import CTSClient

TAIL_LINES = 15
STATUS_COLORS = {
    RunStatus.QUEUED: "#757575",
    RunStatus.RUNNING: "#1565c0",
    RunStatus.COMPLETED: "#2e7d32",
    RunStatus.FAILED: "#c62828",
    RunStatus.CANCELED: "#ef6c00",
}
BAR_STYLES = {RunStatus.COMPLETED: "success", RunStatus.FAILED: "danger", RunStatus.CANCELED: "warning"}


def _utc(t: datetime | None) -> datetime | None:
    if t is None:
        return None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def elapsed_s(run: Run, now: datetime | None = None) -> float | None:
    """Seconds the run has been running (or ran); ``None`` while it waits in the queue."""
    start = _utc(run.started_at)
    if start is None:
        return None
    end = _utc(run.completed_at) or (now or datetime.now(UTC))
    return max(0.0, (end - start).total_seconds())


def format_elapsed(seconds: float | None) -> str:
    if seconds is None:
        return "waiting to start"
    minutes, secs = divmod(seconds, 60)
    return f"{int(minutes)} min {secs:04.1f} s" if minutes else f"{secs:.1f} s"


class RunView(w.VBox):
    """A live view of the run ``run_id`` on the server the client talks to.

    ``RunView(run_id)`` finds the server itself; pass ``client=`` to choose. In a kernel it updates
    by itself; in a script call :meth:`wait` (or :meth:`refresh`) to bring it up to date.
    """

    def __init__(
        self,
        run_id: str,
        client: CTSClient | None = None,
        *,
        interval: float = 0.5,
        tail_lines: int = TAIL_LINES,
        autostart: bool = True,
        on_final: Callable[[RunView], None] | None = None,
    ) -> None:
        self.run_id = run_id
        self.client = connect(client)
        self.interval = interval
        self.tail_lines = tail_lines
        self.run: Run | None = None
        self.log_records: list[LogRecord] = []
        self.result: dict[str, Any] | None = None
        self.tables: dict[str, pd.DataFrame] = {}
        self.artifacts: list[Artifact] = []
        self.images: dict[str, bytes] = {}
        self._on_final = [on_final] if on_final else []
        self._final_seen = False
        self.poller: Poller[RunSnapshot] | None = None
        self._build()
        if autostart:
            self.start()

    # -- layout ------------------------------------------------------------------------------------

    def _build(self) -> None:
        self.title = w.HTML(f"<b>Run</b> <code>{html.escape(self.run_id)}</code>")
        self.status = w.HTML(self._badge("connecting"))
        self.status.add_class("cts-run-status")
        self.progress = w.FloatProgress(value=0, min=0, max=100, layout=w.Layout(width="50%"))
        self.progress.add_class("cts-run-progress")
        self.message = w.Label("")
        self.elapsed = w.Label("")
        self.error_box = w.HTML("", layout=w.Layout(display="none"))
        self.error_box.add_class("cts-run-error")
        self.log_tail = w.HTML("")
        self.log_tail.add_class("cts-run-log")
        self.cancel_button = w.Button(
            description="Cancel run",
            icon="stop",
            button_style="warning",
            tooltip="Stop this run on the server",
        )
        self.cancel_button.on_click(lambda _: self._cancel_clicked())
        self.results = w.VBox([], layout=w.Layout(display="none"))
        self.results.add_class("cts-run-results")
        self.add_class("cts-run-view")
        super().__init__(
            children=[
                w.HBox([self.title, self.status, self.cancel_button]),
                self.error_box,
                w.HBox([self.progress, self.message]),
                self.elapsed,
                self.log_tail,
                self.results,
            ]
        )

    @staticmethod
    def _badge(status: str) -> str:
        color = STATUS_COLORS.get(status, "#757575")  # type: ignore[call-overload]
        return (
            f"<span style='background:{color};color:white;padding:1px 8px;border-radius:8px'>"
            f"{html.escape(status)}</span>"
        )

    # -- polling -----------------------------------------------------------------------------------

    def start(self) -> str:
        """Fetch the run once right away (an unknown run id fails here, loudly), then poll.

        Returns the polling mode: ``"asyncio"`` (kernel loop), ``"thread"`` (no loop running) or
        ``"final"`` when the run had already ended and there is nothing to follow.
        """
        if self.poller is not None and self.poller.running:
            return self.poller.mode or ""
        fetcher = RunFetcher(self.run_id, self.client)
        fetcher.since = max((r.seq for r in self.log_records), default=0)
        self.apply(fetcher.fetch())
        if self.final:
            return "final"
        if running_loop() is not None:
            fetcher.async_client = async_twin(self.client)
        cleanup = fetcher.async_client.aclose if fetcher.async_client is not None else None
        self.poller = Poller(
            fetcher.fetch,
            fetcher.fetch_async,
            self.apply,
            lambda s: s.is_final,
            interval=self.interval,
            on_error=self._polling_failed,
            cleanup_async=cleanup,
        )
        return self.poller.start()

    @property
    def final(self) -> bool:
        """The run is completed, failed or canceled (as far as this view has seen)."""
        return self.run is not None and self.run.status.is_final

    def refresh(self) -> None:
        """Bring the view up to date with what was fetched so far (thread mode; harmless otherwise)."""
        if self.poller is not None and self.poller.mode == "thread":
            self.poller.drain()

    def wait(self, timeout: float | None = None) -> Run | None:
        """Block until the run is final, updating the view (scripts and tests; not inside a kernel)."""
        if self.poller is None and not self.final:
            self.start()
        if self.poller is not None:
            self.poller.wait(timeout)
        return self.run

    async def wait_async(self, timeout: float | None = None) -> Run | None:
        """Await the run's end without blocking the loop (``await view.wait_async()`` in a cell)."""
        if self.poller is None and not self.final:
            self.start()
        if self.poller is not None:
            await self.poller.wait_async(timeout)
        return self.run

    def close(self) -> None:
        """Stop polling, then close the widgets."""
        if self.poller is not None:
            self.poller.stop()
        super().close()

    def _polling_failed(self, exc: BaseException) -> None:
        self._show_error(
            f"Lost contact with the server while following this run: {exc}. "
            "The run goes on; call view.start() to follow it again."
        )

    # -- rendering ---------------------------------------------------------------------------------

    def apply(self, snap: RunSnapshot) -> None:
        """Show one snapshot; called on the thread that owns the widgets."""
        run = self.run = snap.run
        self.status.value = self._badge(str(run.status))
        self.progress.value = 100.0 if run.status is RunStatus.COMPLETED else float(run.progress)
        self.progress.bar_style = BAR_STYLES.get(run.status, "info")
        self.progress.description = f"{run.progress:.0f}%"
        self.message.value = run.progress_message
        self.elapsed.value = f"Elapsed: {format_elapsed(elapsed_s(run))}"
        self.title.value = (
            f"<b>{html.escape(run.name or run.tool_id)}</b> <code>{html.escape(run.run_id)}</code>"
        )
        self.cancel_button.layout.display = "none" if run.status.is_final else ""
        if snap.logs:
            self.log_records.extend(snap.logs)
            self._render_log()
        if run.status is RunStatus.FAILED:
            self._show_error(run.error or "The run failed; its log says why.")
        elif run.status is RunStatus.CANCELED:
            self._show_error(run.error or "The run was canceled.", color="#ef6c00", title="Canceled")
        if snap.result is not None or snap.problems:
            self._render_results(snap)
        if run.status.is_final and not self._final_seen:
            self._final_seen = True
            for callback in self._on_final:
                callback(self)

    def _render_log(self) -> None:
        tail = self.log_records[-self.tail_lines :]
        lines = "\n".join(html.escape(f"{r.t:%H:%M:%S} {r.level:<7} {r.message}") for r in tail)
        self.log_tail.value = (
            "<details open><summary>Log (last lines)</summary>"
            f"<pre style='font-size:11px;line-height:1.3;margin:0'>{lines}</pre></details>"
        )

    def _show_error(self, message: str, *, color: str = "#c62828", title: str = "Run failed") -> None:
        self.error_box.value = (
            f"<div style='border:2px solid {color};background:#fff3f0;padding:8px;border-radius:4px'>"
            f"<b style='color:{color}'>{html.escape(title)}:</b> {html.escape(message)}</div>"
        )
        self.error_box.layout.display = ""

    def _render_results(self, snap: RunSnapshot) -> None:
        """Summary beside the plot (the run at a glance), then the tables, then the files."""
        parts: list[w.Widget] = []
        if snap.result is not None:
            self.result = snap.result
            self.tables = result_tables(snap.result)
            self.artifacts = snap.artifacts
            self.images = snap.images
            summary = w.HTML(
                "<h4>Summary</h4><div style='max-height:440px;overflow:auto'>"
                f"{summary_html(result_summary(snap.result))}</div>",
                layout=w.Layout(width="38%" if snap.images else "100%", margin="0 12px 0 0"),
            )
            summary.add_class("cts-run-summary")
            plots = [
                w.VBox(
                    [
                        w.HTML(f"<h4>{html.escape(name)}</h4>"),
                        w.Image(
                            value=data, format=name.rsplit(".", 1)[-1], layout=w.Layout(max_width="100%")
                        ),
                    ]
                )
                for name, data in snap.images.items()
            ]
            parts.append(w.HBox([summary, w.VBox(plots, layout=w.Layout(width="60%"))]) if plots else summary)
            if self.tables:
                tabs = w.Tab(children=[w.HTML(table_html(df)) for df in self.tables.values()])
                tabs.titles = tuple(f"{name} ({len(df)})" for name, df in self.tables.items())
                parts.append(
                    w.HTML(
                        "<h4>Tables</h4><small>The same tables as pandas DataFrames: "
                        "<code>view.tables</code></small>"
                    )
                )
                parts.append(tabs)
            if snap.artifacts:
                parts.append(w.HTML(self._links_html(snap.artifacts)))
        for problem in snap.problems:
            parts.append(w.HTML(f"<p style='color:#c62828'>{html.escape(problem)}</p>"))
        self.results.children = parts
        self.results.layout.display = ""

    def _links_html(self, artifacts: list[Artifact]) -> str:
        items = "".join(
            f"<li><a href='{html.escape(artifact_href(self.client, self.run_id, a.name, a.url))}' "
            f"target='_blank' download='{html.escape(a.name, quote=True)}'>{html.escape(a.name)}</a> "
            f"<small>({a.size:,} bytes, {html.escape(a.content_type)})</small></li>"
            for a in artifacts
        )
        return f"<h4>Artifacts</h4><ul class='cts-artifacts'>{items}</ul>"

    # -- actions -----------------------------------------------------------------------------------

    def cancel(self) -> Run:
        """Ask the server to cancel the run; the view shows ``canceled`` on its next poll."""
        run = self.client.cancel(self.run_id)
        self.refresh()
        return run

    def _cancel_clicked(self) -> None:
        from jupyter_cts.client import CTSClientError

        try:
            self.cancel()
        except CTSClientError as exc:  # e.g. 409: it finished meanwhile; the next poll shows how
            self.message.value = f"Could not cancel: {exc}"

    def download(self, dest_dir: str | Path, names: list[str] | None = None) -> list[Path]:
        """Save the run's artifacts (all, or ``names``) into ``dest_dir`` through the client."""
        wanted = names or [a.name for a in (self.artifacts or self.client.artifacts(self.run_id))]
        return [self.client.download_artifact(self.run_id, name, dest_dir) for name in wanted]

    def on_final(self, callback: Callable[[RunView], None]) -> None:
        """Call ``callback(view)`` once the run is completed, failed or canceled."""
        if self._final_seen:
            callback(self)
        else:
            self._on_final.append(callback)
