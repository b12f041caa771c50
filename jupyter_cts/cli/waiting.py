"""Watching a run until it ends: a progress line, or live log lines; Ctrl-C leaves the run alone.

Waiting is the client's business only: interrupting it asks nothing and cancels nothing, because a
long analysis on a shared server should not die with the terminal that started it.
"""

from __future__ import annotations

from pathlib import Path

from jupyter_cts.cli import render
from jupyter_cts.cli.exitcodes import ExitCode, for_status
from jupyter_cts.cli.output import Output, ProgressLine
from jupyter_cts.client import CTSClient, CTSClientError, CTSConnectionError, UnsafeNameError
from jupyter_cts.engine.models import Run, RunStatus


class Interrupted(Exception):
    """Ctrl-C while waiting; the message tells how to pick the run up again."""

    exit_code = ExitCode.INTERRUPTED


def left_running(run_id: str, status: RunStatus | str = RunStatus.RUNNING) -> Interrupted:
    state = "queued" if str(status) == RunStatus.QUEUED else "running"
    return Interrupted(
        f"run {run_id} is still {state}; follow it with `cts logs -f {run_id}`, cancel it with "
        f"`cts cancel {run_id}`"
    )


def lost_touch(exc: CTSConnectionError, run_id: str) -> CTSConnectionError:
    """The server went away while we watched: the run itself may well be going on."""
    return CTSConnectionError(f"{exc} Run {run_id} may still be going: check it with `cts status {run_id}`.")


def wait_with_progress(client: CTSClient, run: Run) -> Run:
    """Poll the run, drawing its progress and own message on stderr, until it is final."""
    bar = ProgressLine()
    last = run
    try:
        bar.update(run)

        def seen(update: Run) -> None:
            nonlocal last
            last = update
            bar.update(update)

        return client.wait(run.run_id, on_progress=seen)
    except KeyboardInterrupt:
        raise left_running(run.run_id, last.status) from None
    except CTSConnectionError as exc:
        raise lost_touch(exc, run.run_id) from exc
    finally:
        bar.close()


def follow_logs(client: CTSClient, run: Run, out: Output, *, logs_on_stdout: bool) -> Run:
    """Print the run's log lines as they come (stdout, or stderr in --json mode) until it ends."""
    status_line = ProgressLine(redraw=False)
    last = run
    try:
        for event in client.follow_logs(run.run_id):
            if event.kind == "log" and event.record is not None:
                line = render.log_line(event.record)
                if logs_on_stdout:
                    out.text(line)
                else:
                    out.info(line)
            elif event.run is not None:
                last = event.run
                status_line.update(event.run)
            if event.kind == "end":
                break
    except KeyboardInterrupt:
        raise left_running(run.run_id, last.status) from None
    except CTSConnectionError as exc:
        raise lost_touch(exc, run.run_id) from exc
    return last if last.status.is_final else client.get_run(run.run_id)


def report(client: CTSClient | None, run: Run, out: Output, *, result: dict | None = None) -> ExitCode:
    """The end of a waited-for run: headline, result digest or error, hints; the exit code it earns."""
    if out.json_mode:
        out.json(run)
        return for_status(run.status)
    out.text(render.run_headline(run))
    if run.status == RunStatus.COMPLETED:
        if result is None and client is not None:
            try:
                result = client.result(run.run_id)
            except CTSClientError:
                result = None
        for line in render.result_summary(result or {}):
            out.text(f"  {line}")
    elif run.error:
        out.error(run.error)
        if client is not None:
            out.info(f"the full log: cts logs {run.run_id}")
    return for_status(run.status)


def download_all(client: CTSClient, run: Run, dest: Path, out: Output) -> list[Path]:
    """Every artifact of the run into ``dest``; an unsafe name is skipped with a warning, not fatal."""
    saved: list[Path] = []
    for artifact in client.artifacts(run.run_id):
        try:
            saved.append(client.download_artifact(run.run_id, artifact.name, dest))
        except UnsafeNameError as exc:
            out.info(f"warning: {exc}")
    out.info(f"saved {len(saved)} artifact{'s' if len(saved) != 1 else ''} of run {run.run_id} to {dest}")
    return saved
