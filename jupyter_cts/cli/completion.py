"""Shell completion for tool ids and run ids (``eval "$(_CTS_COMPLETE=bash_source cts)"``).

Completion must be quick and must never fail loudly: tool ids come from installed entry points
(no imports), run ids from the server with a short timeout, and any trouble completes nothing.
"""

from __future__ import annotations

from importlib.metadata import entry_points

import click
from click.shell_completion import CompletionItem

TOOL_GROUP = "jupyter_cts.tools"


def complete_tool_id(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    names = sorted({ep.name for ep in entry_points(group=TOOL_GROUP)})
    return [CompletionItem(name) for name in names if name.startswith(incomplete)]


def complete_run_id(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[CompletionItem]:
    try:
        from jupyter_cts.client import CTSClient

        root = ctx.find_root().params
        with CTSClient(root.get("url"), root.get("token"), timeout=2.0) as client:
            listing = client.list_runs(limit=50)
    except Exception:  # completion is a convenience: never a traceback in the middle of a prompt
        return []
    return [
        CompletionItem(run.run_id, help=f"{run.status} {run.tool_id}")
        for run in listing.runs
        if run.run_id.startswith(incomplete)
    ]
