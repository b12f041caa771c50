"""What can go wrong between the client and a server, as types callers can catch.

These live here, not in :mod:`jupyter_cts.errors`, because they are about HTTP: the layers below
never see them. They still derive from :class:`~jupyter_cts.errors.CTSError`, and the API errors
that mirror an engine error (invalid params, unknown run, wrong state) also derive from that
engine error, so ``except ValidationError`` works the same for a local run and a remote one.
"""

from __future__ import annotations

from typing import Any

from jupyter_cts.errors import CTSError, RunStateError, UnknownRunError, ValidationError


class CTSClientError(CTSError):
    """Base of the errors the client raises about the server it talks to."""


class CTSConnectionError(CTSClientError):
    """The server cannot be reached (refused, DNS, timeout), or no server was found at all."""


class ServerNotFoundError(CTSConnectionError):
    """Discovery looked everywhere it knows and found no server with the extension."""


class CTSAuthError(CTSClientError):
    """The server refused our credentials (401/403, or a redirect to its login page)."""


class ExtensionNotEnabledError(CTSClientError):
    """A web server answered, but not the jupyter_cts API (an HTML page, or 404 on ``/v1/health``)."""


class CTSTimeoutError(CTSClientError, TimeoutError):
    """A client-side wait ran out of time; the run itself goes on."""


class UnsafeNameError(CTSClientError):
    """An artifact name would write outside the download folder."""


class CTSAPIError(CTSClientError):
    """The API answered with an error: ``status``, its ``message``, and per-field ``errors``."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        reason: str | None = None,
        errors: list[dict[str, Any]] | None = None,
        url: str | None = None,
        method: str | None = None,
    ) -> None:
        self.status = status
        self.method = method
        self.message = message
        self.reason = reason
        self.errors = errors or []
        self.url = url
        CTSClientError.__init__(self, message)

    def field_lines(self) -> list[str]:
        """One ``loc: msg`` line per field, like ``params.speed_min: Input should be a valid number``."""
        return [f"{_loc(e.get('loc'))}: {e.get('msg', '')}" for e in self.errors]


class CTSValidationError(CTSAPIError, ValidationError):
    """422: the run request's params or input are invalid; ``errors`` names each field."""

    def __init__(self, status: int, message: str, **kwargs: Any) -> None:
        CTSAPIError.__init__(self, status, message, **kwargs)


class CTSNotFoundError(CTSAPIError, LookupError):
    """404 from the API itself: an unknown tool, run or artifact."""


class CTSUnknownRunError(CTSNotFoundError, UnknownRunError):
    """404 for a run id the server does not know."""


class CTSConflictError(CTSAPIError, RunStateError):
    """409: the run's state does not allow this (cancel a finished run, the result of a running one)."""


def _loc(loc: Any) -> str:
    if not loc:
        return "(request)"
    if isinstance(loc, list | tuple):
        return ".".join(str(part) for part in loc)
    return str(loc)
