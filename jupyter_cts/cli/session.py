"""What every ``cts`` command shares: the global options, one lazily made client, and ``--json``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import click

from jupyter_cts.cli.output import Output
from jupyter_cts.client import CTSClient

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class Session:
    url: str | None = None
    token: str | None = None
    json_mode: bool = False
    _client: CTSClient | None = field(default=None, repr=False)

    def client(self) -> CTSClient:
        """The server's client, found on first use: commands that need no server never look for one."""
        if self._client is None:
            self._client = CTSClient(self.url, self.token)
        return self._client

    @property
    def out(self) -> Output:
        return Output(self.json_mode)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


def json_option(fn: F) -> F:
    """``--json`` on a subcommand too (``cts run ... --json`` as well as ``cts --json run ...``)."""

    def turn_on(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
        if value:
            ctx.find_object(Session).json_mode = True  # type: ignore[union-attr]

    return click.option(
        "--json",
        "json_flag",
        is_flag=True,
        expose_value=False,
        callback=turn_on,
        help="Machine-readable JSON on stdout; progress and hints go to stderr.",
    )(fn)


pass_session = click.make_pass_decorator(Session)
