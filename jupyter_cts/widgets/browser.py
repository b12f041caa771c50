"""``ToolBrowser()``: every tool the server offers, each opening its form, and the recent runs.

The starting point for someone who does not know the tool ids yet: pick a tool by name, read
what it does, fill in its form. Below, the latest runs with their status; picking one opens its
run view.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from jupyter_cts.engine.models import Run, ToolInfo
from jupyter_cts.widgets.connection import connect
from jupyter_cts.widgets.form import ToolForm
from jupyter_cts.widgets.run_view import STATUS_COLORS, RunView

if TYPE_CHECKING:
    from jupyter_cts.client import CTSClient

RECENT_RUNS = 10


class ToolBrowser(w.VBox):
    """Tools with their descriptions; choosing one opens its :class:`ToolForm`. Recent runs below."""

    def __init__(self, client: CTSClient | None = None, *, recent: int = RECENT_RUNS) -> None:
        self.client = connect(client)
        self.recent = recent
        caps = self.client.capabilities()
        self.tools: dict[str, ToolInfo] = {t.id: t for t in caps.tools}
        self.forms: dict[str, ToolForm] = {}
        self.runs: list[Run] = []
        self.view: RunView | None = None
        self.tool_list = w.Select(
            options=[(f"{t.name}  ({t.id})", t.id) for t in caps.tools],
            value=None,
            rows=min(8, max(2, len(caps.tools))),
            layout=w.Layout(width="420px"),
        )
        self.tool_list.add_class("cts-tool-list")
        self.tool_list.observe(lambda ch: self.open_tool(ch["new"]) if ch["new"] else None, names="value")
        self.descriptions = w.HTML(self._descriptions_html(caps.tools, [e.model_dump() for e in caps.errors]))
        self.form_box = w.VBox([])
        self.refresh_button = w.Button(
            description="Refresh", icon="refresh", tooltip="Reload the recent runs"
        )
        self.refresh_button.on_click(lambda _: self.refresh_runs())
        self.runs_table = w.HTML("")
        self.runs_table.add_class("cts-recent-runs")
        self.run_list = w.Dropdown(options=[], description="Open run", value=None)
        self.run_list.observe(lambda ch: self.open_run(ch["new"]) if ch["new"] else None, names="value")
        self.view_box = w.VBox([])
        super().__init__(
            children=[
                w.HTML("<h3 style='margin:4px 0'>Analysis tools</h3>"),
                w.HBox([self.tool_list, self.descriptions]),
                self.form_box,
                w.HBox([w.HTML("<h3 style='margin:4px 0'>Recent runs</h3>"), self.refresh_button]),
                self.runs_table,
                self.run_list,
                self.view_box,
            ]
        )
        self.add_class("cts-tool-browser")
        self.refresh_runs()

    @staticmethod
    def _descriptions_html(tools: list[ToolInfo], errors: list[dict[str, Any]]) -> str:
        items = "".join(
            f"<li><b>{html.escape(t.name)}</b> <code>{html.escape(t.id)}</code>: "
            f"{html.escape(t.description)}</li>"
            for t in tools
        )
        broken = "".join(
            f"<li style='color:#c62828'>plugin {html.escape(str(e.get('entry_point')))} failed to load: "
            f"{html.escape(str(e.get('error')))}</li>"
            for e in errors
        )
        return f"<ul style='margin:0'>{items}{broken}</ul>"

    def open_tool(self, tool_id: str) -> ToolForm:
        """Show the form of ``tool_id`` (kept, so values survive switching back and forth)."""
        if tool_id not in self.forms:
            self.forms[tool_id] = ToolForm(self.tools[tool_id], self.client)
        form = self.forms[tool_id]
        self.form_box.children = [form]
        if self.tool_list.value != tool_id:
            self.tool_list.value = tool_id
        return form

    def refresh_runs(self) -> list[Run]:
        """Reload the latest runs from the server."""
        self.runs = self.client.list_runs(limit=self.recent).runs
        rows = "".join(
            "<tr>"
            f"<td><code>{html.escape(r.run_id)}</code></td><td>{html.escape(r.name or '')}</td>"
            f"<td>{html.escape(r.tool_id)}</td>"
            f"<td><span style='color:{STATUS_COLORS.get(r.status, '#757575')}'>"
            f"{html.escape(str(r.status))}</span></td>"
            f"<td>{r.created_at:%Y-%m-%d %H:%M:%S}</td>"
            "</tr>"
            for r in self.runs
        )
        head = "<tr><th>run</th><th>name</th><th>tool</th><th>status</th><th>created</th></tr>"
        self.runs_table.value = f"<table>{head}{rows}</table>" if self.runs else "<p>No runs yet.</p>"
        self.run_list.options = [(f"{r.run_id} {r.tool_id} ({r.status})", r.run_id) for r in self.runs]
        self.run_list.value = None
        return self.runs

    def open_run(self, run_id: str) -> RunView:
        """Show the run view of ``run_id`` below the list."""
        if self.view is not None:
            self.view.close()
        self.view = RunView(run_id, self.client)
        self.view_box.children = [self.view]
        return self.view

    def close(self) -> None:
        for form in self.forms.values():
            form.close()
        if self.view is not None:
            self.view.close()
        super().close()
