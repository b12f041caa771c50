"""The one place that turns jupyter-cts errors into HTTP answers.

Every handler error leaves as Jupyter's JSON shape ``{"message", "reason"}`` plus ``errors`` (one entry
per invalid field) with the status the SPEC gives each error type.
"""

from __future__ import annotations

from typing import Any

import pydantic
from tornado.web import HTTPError

from jupyter_cts import errors as cts_errors

# Most specific first: InputError is a ValidationError, UnknownToolError a LookupError, ...
_STATUS_BY_ERROR: tuple[tuple[type[BaseException], int, str], ...] = (
    (cts_errors.ValidationError, 422, "Invalid Request"),
    (cts_errors.UnknownUploadError, 422, "Unknown Upload"),
    (cts_errors.UnknownToolError, 404, "Unknown Tool"),
    (cts_errors.UnknownRunError, 404, "Unknown Run"),
    (cts_errors.UnknownArtifactError, 404, "Unknown Artifact"),
    (cts_errors.InputNotAllowedError, 403, "Input Not Allowed"),
    (cts_errors.RunStateError, 409, "Run State Conflict"),
    (cts_errors.UploadTooLargeError, 413, "Upload Too Large"),
    (cts_errors.QueueFullError, 429, "Queue Full"),
    (cts_errors.LogFormatError, 422, "Not A Log"),
    (cts_errors.ToolError, 422, "Tool Error"),
)


class APIError(HTTPError):
    """An HTTP error whose message is a full sentence for the user, with optional per-field errors."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        reason: str | None = None,
        errors: list[dict[str, Any]] | None = None,
    ) -> None:
        # tornado %-formats log_message when it logs; keep the user's text intact in `message`.
        super().__init__(status, message.replace("%", "%%"), reason=reason)
        self.message = message
        self.errors = errors or []


def _status_for(exc: BaseException) -> tuple[int, str] | None:
    for klass, status, reason in _STATUS_BY_ERROR:
        if isinstance(exc, klass):
            return status, reason
    return None


def pydantic_errors(
    exc: pydantic.ValidationError, prefix: tuple[str | int, ...] = ()
) -> list[dict[str, Any]]:
    """pydantic's errors as ``[{loc, msg, type}]`` (no input echo: it may be large or private)."""
    return [{"loc": [*prefix, *err["loc"]], "msg": err["msg"], "type": err["type"]} for err in exc.errors()]


def describe_fields(errors: list[dict[str, Any]]) -> str:
    """``params.speed_min: Input should be a valid number; ...`` for the one-line message."""
    parts = [f"{'.'.join(str(p) for p in e['loc']) or '(body)'}: {e['msg']}" for e in errors[:5]]
    more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
    return "; ".join(parts) + more


def to_api_error(exc: BaseException) -> APIError | None:
    """Map an exception to its API answer, or None if it is not one users are meant to see."""
    if isinstance(exc, APIError):
        return exc
    if isinstance(exc, pydantic.ValidationError):
        errs = pydantic_errors(exc)
        return APIError(
            422, f"The request is invalid: {describe_fields(errs)}.", reason="Invalid Request", errors=errs
        )
    mapped = _status_for(exc)
    if mapped is None:
        return None
    status, reason = mapped
    errs = list(getattr(exc, "errors", None) or [])
    message = sentence(str(exc) or reason)
    return APIError(status, message, reason=reason, errors=errs)


def sentence(text: str) -> str:
    """Lower-case exception text ("no run with id 'x'; list the runs") as a sentence for people."""
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def error_body(status: int, exc: BaseException | None, default_message: str) -> dict[str, Any]:
    """The JSON written for any error status, whatever raised it."""
    if isinstance(exc, APIError):
        return {"message": exc.message, "reason": exc.reason, "errors": exc.errors}
    if isinstance(exc, HTTPError):
        message = exc.log_message % exc.args if exc.log_message and exc.args else exc.log_message
        return {"message": message or default_message, "reason": exc.reason, "errors": []}
    if exc is not None:
        return {
            "message": f"The server hit an unexpected {type(exc).__name__}; see the server log for details.",
            "reason": "Internal Server Error",
            "errors": [],
        }
    return {"message": default_message, "reason": None, "errors": []}
