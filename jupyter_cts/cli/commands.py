"""The ``cts`` commands that look at tools and runs: cap, status, runs, logs, cancel, result,
artifacts, and synth (a demo drive). ``run`` lives in :mod:`jupyter_cts.cli.run_cmd`."""

from __future__ import annotations

from pathlib import Path

import click

from jupyter_cts.cli import render
from jupyter_cts.cli.completion import complete_run_id, complete_tool_id
from jupyter_cts.cli.exitcodes import ExitCode, for_status
from jupyter_cts.cli.session import Session, json_option, pass_session
from jupyter_cts.cli.waiting import download_all, left_running
from jupyter_cts.client import CTSConflictError
from jupyter_cts.engine.models import RunStatus

RUN_ID = click.argument("run_id", metavar="RUN", shell_complete=complete_run_id)


@click.command()
@click.argument("tool_id", metavar="[TOOL]", required=False, shell_complete=complete_tool_id)
@json_option
@pass_session
def cap(session: Session, tool_id: str | None) -> int:
    """List the tools with their parameters, types, defaults and units.

    \b
    Examples:
      cts cap
      cts cap cruise-control-analyzer
      cts --json cap | jq '.tools[].id'
    """
    client = session.client()
    out = session.out
    if tool_id:
        tool = client.tool(tool_id)
        if out.json_mode:
            out.json(tool)
        else:
            for line in render.tool_block(tool):
                out.text(line)
        return ExitCode.OK
    caps = client.capabilities()
    if out.json_mode:
        out.json(caps)
        return ExitCode.OK
    out.text(f"jupyter-cts {caps.version} at {client.url} (API v{caps.api_version}), {len(caps.tools)} tools")
    for tool in caps.tools:
        out.text()
        for line in render.tool_block(tool):
            out.text(line)
    for problem in caps.errors:
        out.info(f"warning: the tool plugin {problem.entry_point} did not load: {problem.error}")
    return ExitCode.OK


@click.command()
@RUN_ID
@json_option
@pass_session
def status(session: Session, run_id: str) -> int:
    """Show a run: status, progress, params, times, error, metrics, artifacts.

    \b
    Example:
      cts status 3f2a9c1b7d4e
    """
    run = session.client().get_run(run_id)
    if session.out.json_mode:
        session.out.json(run)
    else:
        for line in render.run_detail(run):
            session.out.text(line)
    return ExitCode.OK


@click.command()
@click.option(
    "--status",
    "status_filter",
    type=click.Choice([s.value for s in RunStatus]),
    help="Only runs in this state.",
)
@click.option(
    "--tool", "tool_id", metavar="TOOL", shell_complete=complete_tool_id, help="Only runs of this tool."
)
@click.option("--limit", type=click.IntRange(1, 1000), default=20, show_default=True)
@click.option("--offset", type=click.IntRange(0), default=0)
@json_option
@pass_session
def runs(session: Session, status_filter: str | None, tool_id: str | None, limit: int, offset: int) -> int:
    """List runs, newest first.

    \b
    Examples:
      cts runs
      cts runs --status running --tool cruise-control-analyzer
    """
    listing = session.client().list_runs(status_filter, tool_id, limit, offset)
    out = session.out
    if out.json_mode:
        out.json(listing)
        return ExitCode.OK
    for line in render.runs_table(listing.runs):
        out.text(line)
    shown = len(listing.runs)
    if listing.total > offset + shown:
        out.info(f"{shown} of {listing.total} runs shown; see more with --offset {offset + shown}")
    return ExitCode.OK


@click.command()
@RUN_ID
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines until the run ends.")
@click.option("--since", type=click.IntRange(0), default=0, metavar="SEQ", help="Only lines after this seq.")
@json_option
@pass_session
def logs(session: Session, run_id: str, follow: bool, since: int) -> int:
    """Print a run's log (the tool's logging, stdout and stderr).

    With -f, waits for new lines and exits with the run's outcome (0, 3 failed, 4 canceled).
    With --json, prints one JSON log record per line.

    \b
    Examples:
      cts logs 3f2a9c1b7d4e
      cts logs -f 3f2a9c1b7d4e
    """
    client = session.client()
    out = session.out

    def show(record: object) -> None:
        if out.json_mode:
            out.json(record, lines=True)
        else:
            out.text(render.log_line(record))  # type: ignore[arg-type]

    if not follow:
        for record in client.logs(run_id, since=since):
            show(record)
        return ExitCode.OK
    last_status = RunStatus.QUEUED
    try:
        for event in client.follow_logs(run_id, last_event_id=since or None):
            if event.kind == "log" and event.record is not None:
                show(event.record)
            elif event.run is not None:
                last_status = event.run.status
            if event.kind == "end":
                break
    except KeyboardInterrupt:
        raise left_running(run_id, last_status) from None
    final = client.get_run(run_id)
    if final.status == RunStatus.FAILED and final.error:
        out.info(f"run {run_id} failed: {final.error}")
    return for_status(final.status)


@click.command()
@RUN_ID
@json_option
@pass_session
def cancel(session: Session, run_id: str) -> int:
    """Cancel a queued or running run (its whole process group is stopped).

    \b
    Example:
      cts cancel 3f2a9c1b7d4e
    """
    client = session.client()
    try:
        run = client.cancel(run_id)
    except CTSConflictError:
        run = client.get_run(run_id)
        session.out.error(f"run {run_id} already ended ({run.status}); there is nothing to cancel")
        return ExitCode.USAGE
    if session.out.json_mode:
        session.out.json(run)
    elif run.status == RunStatus.CANCELED:
        session.out.text(f"run {run_id} canceled")
    else:
        session.out.text(f"run {run_id}: cancel requested (now {run.status})")
    return ExitCode.OK


@click.command()
@RUN_ID
@json_option
@pass_session
def result(session: Session, run_id: str) -> int:
    """Print the result (JSON) of a completed run.

    Exits 3 if the run failed, 4 if it was canceled, 1 if it has not ended yet.

    \b
    Examples:
      cts result 3f2a9c1b7d4e
      cts result 3f2a9c1b7d4e | jq '.buttons.set_presses'
    """
    client = session.client()
    try:
        value = client.result(run_id)
    except CTSConflictError:
        run = client.get_run(run_id)
        if run.status.is_final:
            session.out.error(
                f"run {run_id} {run.status}" + (f": {run.error}" if run.error else "") + "; it has no result"
            )
            return for_status(run.status)
        session.out.error(f"run {run_id} is still {run.status}; wait for it with `cts logs -f {run_id}`")
        return ExitCode.USAGE
    session.out.json(value)
    return ExitCode.OK


@click.command()
@RUN_ID
@click.option(
    "--download",
    "dest",
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    help="Save every artifact into DIR (created if needed).",
)
@json_option
@pass_session
def artifacts(session: Session, run_id: str, dest: Path | None) -> int:
    """List a run's artifacts, or download them all.

    \b
    Examples:
      cts artifacts 3f2a9c1b7d4e
      cts artifacts 3f2a9c1b7d4e --download report/
    """
    client = session.client()
    out = session.out
    listing = client.artifacts(run_id)
    if dest is not None:
        saved = download_all(client, client.get_run(run_id), dest, out)
        if out.json_mode:
            out.json(
                [
                    {**a.model_dump(mode="json"), "path": str(dest / a.name)}
                    for a in listing
                    if dest / a.name in saved
                ]
            )
        else:
            for path in saved:
                out.text(str(path))
        return ExitCode.OK
    if out.json_mode:
        out.json(listing)
    else:
        for line in render.artifacts_table(listing):
            out.text(line)
    return ExitCode.OK


@click.command(context_settings={"ignore_unknown_options": True, "allow_extra_args": True})
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    help="Folder to write the generated segment or route into.",
)
@click.argument("synth_args", nargs=-1, type=click.UNPROCESSED)
def synth(out_dir: Path, synth_args: tuple[str, ...]) -> int:
    """Generate a demo Subaru drive (a segment or route with known truth).

    Other options go to `python -m jupyter_cts.synth` unchanged (see its --help).

    \b
    Examples:
      cts synth --out demo/
      cts run cruise-control-analyzer --path demo --local --out report/
    """
    from jupyter_cts.synth.__main__ import main as synth_main  # heavy (schema, DBC): only when asked for

    code = synth_main(["--out", str(out_dir), *synth_args])
    return int(code or 0)


COMMANDS = (cap, status, runs, logs, cancel, result, artifacts, synth)
