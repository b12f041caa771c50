"""Every way a ``cts`` command can fail, turned into a message on stderr and its exit code."""

from __future__ import annotations

import click

from jupyter_cts.cli.exitcodes import ExitCode
from jupyter_cts.cli.output import Output
from jupyter_cts.cli.params import ParamError
from jupyter_cts.cli.waiting import Interrupted
from jupyter_cts.client import (
    CTSAPIError,
    CTSAuthError,
    CTSConnectionError,
    CTSTimeoutError,
    ExtensionNotEnabledError,
)
from jupyter_cts.errors import CTSError, ValidationError


def report_failure(exc: BaseException, out: Output) -> ExitCode | None:
    """Print ``exc`` for a person and return the exit code, or None when it is not ours to explain."""
    if isinstance(exc, Interrupted):
        out.info(str(exc))
        return ExitCode.INTERRUPTED
    if isinstance(exc, ParamError):
        out.error(str(exc))
        return ExitCode.USAGE
    if isinstance(exc, CTSAuthError | CTSConnectionError | ExtensionNotEnabledError):
        out.error(str(exc))
        return ExitCode.SERVER
    if isinstance(exc, CTSTimeoutError):
        out.error(str(exc))
        return ExitCode.USAGE
    if isinstance(exc, CTSAPIError):
        return _api_failure(exc, out)
    if isinstance(exc, ValidationError) and exc.errors:
        out.error(f"{str(exc).split(':')[0].rstrip('.')}:")
        for line in _field_lines(exc.errors):
            out.info(f"  {line}")
        return ExitCode.USAGE
    if isinstance(exc, CTSError):
        out.error(str(exc))
        return ExitCode.USAGE
    if isinstance(exc, click.UsageError):
        exc.show()
        return ExitCode.USAGE
    return None


def _api_failure(exc: CTSAPIError, out: Output) -> ExitCode:
    if exc.errors:
        reason = (exc.reason or "invalid request").lower()
        out.error(f"the server refused the request ({exc.status} {reason}):")
        for line in exc.field_lines():
            out.info(f"  {line}")
    elif exc.status >= 500:
        out.error(
            f"the server failed: {exc.method or 'the request'} {exc.url or ''} answered {exc.status} "
            f"({exc.message}). Try again; the server's log has the details."
        )
    else:
        out.error(exc.message)
    return ExitCode.SERVER if exc.status >= 500 else ExitCode.USAGE


def _field_lines(errors: list[dict]) -> list[str]:
    lines = []
    for e in errors:
        loc = e.get("loc") or []
        where = ".".join(str(p) for p in loc) if isinstance(loc, list | tuple) else str(loc)
        lines.append(f"{where or '(request)'}: {e.get('msg', '')}")
    return lines
