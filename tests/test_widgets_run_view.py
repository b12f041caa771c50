"""The run view: one run followed live, then its results, without ever blocking the kernel.

Stories against a real ``cts-lite``: a slow run's progress seen step by step (polling on a thread
when no event loop runs, on the loop when one does, as in a kernel), a finished analysis shown
with its tables, plot and working download links, a failed run shouting its error, a canceled
run, and polling that stops when the view is closed. Every widget update must happen on the
thread that owns the widgets.
"""

from __future__ import annotations

import asyncio
import html
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import ipywidgets as w
import pandas as pd
import pytest
from lite_harness import TEST_PLUGINS, running_lite

from jupyter_cts.server.lite import LiteProcess
from jupyter_cts.widgets import RunView

TIMEOUT_S = 120


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiteProcess]:
    """A real ``cts-lite`` with the built-in tools and the test tools (test-steps, test-misbehave: known
    timing), and two demo drives in its root."""
    base = tmp_path_factory.mktemp("widgets-run-view")
    with running_lite(base, plugins=TEST_PLUGINS, drives=["demo", "toyota"]) as lite:
        yield lite


@pytest.fixture(scope="module")
def client(server: Any) -> Iterator[Any]:
    from jupyter_cts.client import CTSClient

    with CTSClient(server.url, server.token) as cts:
        yield cts


class Watcher:
    """Records every value the status, progress and message widgets take, and on which thread."""

    def __init__(self, view: RunView) -> None:
        self.statuses: list[str] = []
        self.messages: list[str] = []
        self.threads: set[int] = set()
        view.status.observe(self._on_status, names="value")
        view.message.observe(lambda ch: self._seen(self.messages, ch["new"]), names="value")
        view.progress.observe(lambda ch: self.threads.add(threading.get_ident()), names="value")

    def _on_status(self, change: dict[str, Any]) -> None:
        text = change["new"]
        self._seen(self.statuses, text.split(">")[1].split("<")[0] if ">" in text else text)

    def _seen(self, values: list[str], value: str) -> None:
        self.threads.add(threading.get_ident())
        if not values or values[-1] != value:
            values.append(value)


def walk(widget: w.Widget) -> Iterator[w.Widget]:
    """Every widget inside ``widget``, depth first (what the page shows)."""
    yield widget
    for child in getattr(widget, "children", ()):
        yield from walk(child)


def slow_steps(client: Any, steps: int = 6, delay_s: float = 0.3) -> str:
    return client.start_run("test-steps", {"steps": steps, "delay_s": delay_s}).run_id


def test_a_slow_run_is_followed_step_by_step_in_thread_mode(client):
    view = RunView(slow_steps(client), client, interval=0.1, autostart=False)
    seen = Watcher(view)
    assert view.start() == "thread", "no event loop runs here, so a thread fetches"
    run = view.wait(TIMEOUT_S)
    assert run is not None and run.status == "completed"
    assert seen.statuses[-1] == "completed" and "running" in seen.statuses
    assert len([m for m in seen.messages if m.startswith("step ")]) >= 2, seen.messages
    assert view.progress.value == 100 and view.progress.bar_style == "success"
    assert "step 6 of 6" in view.log_tail.value
    assert seen.threads == {threading.get_ident()}, "widgets only change on the thread that owns them"
    assert view.poller is not None and view.poller.thread is not None
    view.poller.thread.join(5)
    assert not view.poller.thread.is_alive(), "polling ends with the run"


def test_on_an_event_loop_polling_is_a_task_that_leaves_the_loop_free(client):
    run_id = slow_steps(client, steps=5, delay_s=0.3)

    async def story() -> tuple[RunView, Watcher, int]:
        view = RunView(run_id, client, interval=0.1, autostart=False)
        seen = Watcher(view)
        assert view.start() == "asyncio"
        assert view.poller is not None and view.poller.task is not None
        ticks = 0

        async def other_work() -> None:  # what the kernel does meanwhile: run other cells
            nonlocal ticks
            while not view.final:
                ticks += 1
                await asyncio.sleep(0.01)

        await asyncio.gather(view.wait_async(TIMEOUT_S), other_work())
        return view, seen, ticks

    view, seen, ticks = asyncio.run(story())
    assert view.run is not None and view.run.status == "completed"
    assert "running" in seen.statuses and seen.statuses[-1] == "completed"
    assert ticks > 50, "the loop kept serving other work while the view polled"
    assert seen.threads == {threading.get_ident()}
    assert view.poller is not None and view.poller.task is not None and view.poller.task.done()


def test_a_completed_analysis_shows_summary_tables_plot_and_links(client, server):
    run = client.start_run(
        "cruise-control-analyzer",
        {"speed_min": 50, "speed_max": 60},
        input_path="demo/rlog.zst",
        name="view story",
    )
    view = RunView(run.run_id, client, interval=0.2)
    view.wait(TIMEOUT_S)
    assert view.run is not None and view.run.status == "completed", view.run and view.run.error
    assert "view story" in view.title.value
    assert view.elapsed.value.startswith("Elapsed: ") and "s" in view.elapsed.value
    assert {"candidates", "target_windows", "cruise.engaged_intervals"} <= set(view.tables)
    assert all(isinstance(df, pd.DataFrame) for df in view.tables.values())
    assert {"address", "bus"} <= set(view.tables["candidates"].columns)
    assert view.images["speed_timeline.png"].startswith(b"\x89PNG"), "the speed plot is shown inline"
    shown = list(walk(view.results))
    assert any(isinstance(x, w.Image) for x in shown)
    assert any(isinstance(x, w.Tab) for x in shown)
    html_shown = "".join(x.value for x in shown if isinstance(x, w.HTML))
    assert "speed.max_mph" in html_shown, "the summary"
    links = view.results.children[-1].value
    for artifact in view.artifacts:
        href = f"/v1/runs/{run.run_id}/artifacts/{artifact.name}"
        assert f"href='{href}'" in links, artifact.name
    origin = server.url.split("/", 3)
    report = f"{origin[0]}//{origin[2]}/v1/runs/{run.run_id}/artifacts/report.html"
    assert httpx.get(report, headers=server.headers).status_code == 200, "the link works through the server"
    assert httpx.get(report).status_code in (401, 403), "and only with the user's authentication"


def test_a_view_of_a_finished_run_needs_no_polling(client):
    run_id = client.start_run("test-steps", {"steps": 1, "delay_s": 0}).run_id
    client.wait(run_id, timeout=TIMEOUT_S)
    view = RunView(run_id, client)
    assert view.final and view.poller is None
    assert view.start() == "final"
    assert view.result == {"steps": 1, "pid": view.result["pid"]}


def test_a_failed_run_shows_its_error_prominently(client):
    run_id = client.start_run("cruise-control-analyzer", {}, input_path="toyota/rlog.zst").run_id
    view = RunView(run_id, client, interval=0.2)
    view.wait(TIMEOUT_S)
    assert view.run is not None and view.run.status == "failed"
    assert view.error_box.layout.display != "none"
    assert "Run failed" in view.error_box.value
    assert view.run.error and "TOYOTA_COROLLA" in view.run.error, "the tool's own sentence, naming the car"
    assert html.escape(view.run.error) in view.error_box.value
    assert view.progress.bar_style == "danger"
    assert view.results.layout.display == "none", "no results for a failed run"


def test_the_cancel_button_cancels_the_run(client):
    run_id = client.start_run("test-misbehave", {"mode": "sleep", "seconds": 60}).run_id
    view = RunView(run_id, client, interval=0.2)
    view.cancel_button.click()
    run = view.wait(TIMEOUT_S)
    assert run is not None and run.status == "canceled"
    assert "Canceled" in view.error_box.value
    assert view.cancel_button.layout.display == "none"


def test_closing_the_view_stops_polling(client):
    run_id = client.start_run("test-misbehave", {"mode": "sleep", "seconds": 60}).run_id
    try:
        view = RunView(run_id, client, interval=0.1)
        seen = Watcher(view)
        assert view.poller is not None and view.poller.thread is not None
        view.close()
        view.poller.thread.join(2)
        assert not view.poller.thread.is_alive()
        before = list(seen.messages)
        time.sleep(0.5)
        view.refresh()
        assert seen.messages == before, "a closed view is not updated any more"

        async def on_loop() -> RunView:
            view = RunView(run_id, client, interval=0.1)
            view.close()
            await asyncio.sleep(0.3)
            return view

        looped = asyncio.run(on_loop())
        assert looped.poller is not None and looped.poller.task is not None and looped.poller.task.done()
    finally:
        client.cancel(run_id)


def test_an_unknown_run_id_fails_at_once(client):
    from jupyter_cts.client import CTSUnknownRunError

    with pytest.raises(CTSUnknownRunError):
        RunView("no-such-run", client)
