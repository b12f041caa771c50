"""The ``cts`` command group, its global options, and ``main`` with the SPEC's exit codes."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from jupyter_cts import __version__
from jupyter_cts.cli.exitcodes import ExitCode
from jupyter_cts.cli.failures import report_failure
from jupyter_cts.cli.output import Output
from jupyter_cts.cli.session import Session

HELP = """Run jupyter-cts analysis tools on openpilot drive logs, on a server or locally.

\b
The server is found in this order: --url/--token, CTS_URL/CTS_TOKEN, the
variables a Jupyter kernel gets (JUPYTER_CTS_URL), JupyterHub's, then the
running Jupyter servers that have the jupyter_cts extension.

\b
Examples:
  cts cap                                   # tools, their parameters, defaults and units
  cts run cruise-control-analyzer --path seg/rlog.zst -p speed_min=50
  cts run cruise-control-analyzer --path seg/rlog.zst -p speed_min=50 --wait --out report/
  cts run cruise-control-analyzer --upload ~/drive/rlog.zst --follow
  cts run cruise-control-analyzer --path seg/rlog.zst --local --out report/
  cts status RUN ; cts logs -f RUN ; cts cancel RUN ; cts result RUN
  cts --json runs --status running | jq '.runs[].run_id'
  cts synth --out demo/                     # a generated Subaru drive to try things on

\b
Exit codes: 0 ok, 1 usage or refused request, 2 server unreachable, auth
or no extension, 3 run failed, 4 run canceled, 130 interrupted.

\b
Shell completion (bash; zsh and fish work the same with zsh_source/fish_source):
  eval "$(_CTS_COMPLETE=bash_source cts)"
"""


@click.group(help=HELP, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--url",
    metavar="URL",
    help="Base URL of the Jupyter server (e.g. http://127.0.0.1:8888/). Env: CTS_URL.",
)
@click.option(
    "--token",
    metavar="TOKEN",
    help="The server's token, sent as 'Authorization: token ...'. Env: CTS_TOKEN.",
)
@click.option(
    "--json", "json_mode", is_flag=True, help="Machine-readable JSON on stdout; progress on stderr."
)
@click.version_option(__version__, prog_name="cts")
@click.pass_context
def cli(ctx: click.Context, url: str | None, token: str | None, json_mode: bool) -> None:
    session = Session(url=url, token=token, json_mode=json_mode)
    ctx.obj = session
    ctx.call_on_close(session.close)


def _register_commands() -> None:
    from jupyter_cts.cli import commands, run_cmd

    for command in (*commands.COMMANDS, run_cmd.run):
        cli.add_command(command)


_register_commands()


def main(argv: Sequence[str] | None = None) -> None:
    """The ``cts`` entry point: exits with the SPEC's codes (click alone would use 2 for usage errors)."""
    sys.exit(run(argv))


def run(argv: Sequence[str] | None = None) -> int:
    """Run ``cts`` with ``argv`` and return the exit code instead of exiting."""
    args = list(sys.argv[1:] if argv is None else argv)
    out = Output(json_mode="--json" in args)
    try:
        result = cli.main(args=args, prog_name="cts", standalone_mode=False)
    except click.exceptions.Abort as exc:
        if isinstance(exc.__context__, KeyboardInterrupt):
            out.info("interrupted")
            return ExitCode.INTERRUPTED
        return ExitCode.USAGE
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        return ExitCode.USAGE
    except KeyboardInterrupt:
        out.info("interrupted")
        return ExitCode.INTERRUPTED
    except Exception as exc:
        code = report_failure(exc, out)
        if code is None:
            raise
        return code
    return int(result) if isinstance(result, int) else ExitCode.OK
