"""``cts run``: start a tool on a server (or locally), and optionally wait, follow and download."""

from __future__ import annotations

from pathlib import Path

import click

from jupyter_cts.cli.completion import complete_tool_id
from jupyter_cts.cli.exitcodes import ExitCode
from jupyter_cts.cli.output import Output
from jupyter_cts.cli.params import parse_params, split_pairs
from jupyter_cts.cli.render import human_size
from jupyter_cts.cli.session import Session, json_option, pass_session
from jupyter_cts.cli.waiting import download_all, follow_logs, report, wait_with_progress
from jupyter_cts.client import CTSClient
from jupyter_cts.engine.models import Run

RUN_HELP = """Run TOOL on a log and print its run id at once (status queued).

\b
--path names the input on the server (relative to its root folder, or
absolute inside an allowed folder): a segment file, a segment folder, or a
route folder; repeat it for an explicit list. --upload sends a local file
first. Parameters are -p KEY=VALUE, checked by the server against the tool's
schema (`cts cap TOOL` lists them); lists are -p KEY=a,b.

\b
--wait shows a progress bar with the run's own message, then a summary;
--follow prints the live log instead; --out DIR waits and downloads the
artifacts into DIR. Ctrl-C while waiting leaves the run running (exit 130).
--local runs the tool here, no server needed, with the same outputs.

\b
Examples:
  cts run cruise-control-analyzer --path seg/rlog.zst -p speed_min=50
  cts run cruise-control-analyzer --path route/ -p speed_min=50 -p speed_max=52 --wait
  cts run cruise-control-analyzer --upload rlog.zst --follow --out report/
  cts run rlog-to-csv --path seg/rlog.zst -p window_start=30 -p window_dur=10 --local --out csv/
  RUN=$(cts run cruise-control-analyzer --path seg/rlog.zst) && cts logs -f "$RUN"
"""


@click.command(help=RUN_HELP)
@click.argument("tool_id", metavar="TOOL", shell_complete=complete_tool_id)
@click.option("--path", "paths", multiple=True, metavar="PATH", help="Input on the server (repeatable).")
@click.option(
    "--upload",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Upload this local log file and run on it.",
)
@click.option(
    "-p", "--param", "params", multiple=True, metavar="KEY=VALUE", help="A tool parameter (repeatable)."
)
@click.option("--name", help="A name for the run, shown in listings.")
@click.option(
    "--timeout",
    "timeout_s",
    type=click.FloatRange(min=0, min_open=True),
    metavar="SECONDS",
    help="Stop the run after this long (capped by the server's maximum).",
)
@click.option("--wait", is_flag=True, help="Wait for the end with a progress bar, then summarize.")
@click.option("--follow", is_flag=True, help="Print the run's log lines live until it ends.")
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    metavar="DIR",
    help="Wait, then download every artifact into DIR.",
)
@click.option("--local", is_flag=True, help="Run in this process's own engine; no server needed.")
@json_option
@pass_session
def run(
    session: Session,
    tool_id: str,
    paths: tuple[str, ...],
    upload: Path | None,
    params: tuple[str, ...],
    name: str | None,
    timeout_s: float | None,
    wait: bool,
    follow: bool,
    out_dir: Path | None,
    local: bool,
) -> int:
    if paths and upload is not None:
        raise click.UsageError("give either --path or --upload, not both")
    split_pairs(params)  # a malformed -p is a usage error, found before any server is contacted
    if local:
        from jupyter_cts.cli.local import run_locally

        inputs = [str(upload)] if upload is not None else list(paths)
        return run_locally(
            tool_id,
            inputs,
            params,
            name=name,
            timeout_s=timeout_s,
            follow=follow,
            out_dir=out_dir,
            out=session.out,
        )
    client = session.client()
    out = session.out
    started = _start(client, out, tool_id, paths, upload, params, name, timeout_s)
    if not (wait or follow or out_dir):
        _announce(started, out)
        return ExitCode.OK
    out.info(f"run {started.run_id} {started.status} ({started.tool_id})")
    if follow:
        final = follow_logs(client, started, out, logs_on_stdout=not out.json_mode)
    else:
        final = wait_with_progress(client, started)
    code = report(client, final, out)
    if out_dir is not None and final.artifacts:
        download_all(client, final, out_dir, out)
    elif out_dir is None and final.artifacts and not out.json_mode:
        out.info(
            f"artifacts: {len(final.artifacts)} files; get them with "
            f"`cts artifacts {final.run_id} --download DIR`"
        )
    return code


def _start(
    client: CTSClient,
    out: Output,
    tool_id: str,
    paths: tuple[str, ...],
    upload: Path | None,
    params: tuple[str, ...],
    name: str | None,
    timeout_s: float | None,
) -> Run:
    tool = client.tool(tool_id)  # 404 names the registered tools; the schema shapes -p lists
    values = parse_params(params, tool.params_schema)
    upload_id = None
    if upload is not None:
        out.info(f"uploading {upload} ({human_size(upload.stat().st_size)}) ...")
        uploaded = client.upload(upload)
        upload_id = uploaded.upload_id
        out.info(f"uploaded as {upload_id} (sha256 {uploaded.sha256[:12]}...)")
    input_path: str | list[str] | None = None
    if paths:
        input_path = paths[0] if len(paths) == 1 else list(paths)
    return client.start_run(
        tool_id, values, input_path=input_path, upload_id=upload_id, name=name, timeout_s=timeout_s
    )


def _announce(run: Run, out: Output) -> None:
    """Just started: the id on stdout (so ``RUN=$(cts run ...)`` works), what to do next on stderr."""
    if out.json_mode:
        out.json(run)
    else:
        out.text(run.run_id)
    out.info(
        f"run {run.run_id} {run.status} ({run.tool_id}); follow it with `cts logs -f {run.run_id}`, "
        f"check it with `cts status {run.run_id}`"
    )
