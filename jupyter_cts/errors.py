"""Error types users can catch, shared by every layer.

Each message says what happened, where, and what to do next. The server maps these classes to
HTTP statuses in one place (``jupyter_cts.server.errors``); nothing here knows about HTTP.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


class CTSError(Exception):
    """Base class of every error jupyter-cts raises on purpose."""


class LogFormatError(CTSError):
    """A log file is damaged or is not an openpilot log.

    ``offset`` is the byte offset in the *decompressed* event stream where reading stopped (or in the
    file itself when decompression failed, see ``in_compressed``), so a user can cut the file there.
    """

    def __init__(self, path: str | Path, offset: int, reason: str, *, in_compressed: bool = False) -> None:
        self.path = str(path)
        self.offset = int(offset)
        self.reason = reason
        self.in_compressed = in_compressed
        where = "compressed byte" if in_compressed else "byte"
        super().__init__(f"{self.path}: damaged log at {where} {self.offset}: {reason}")

    def __reduce__(self) -> Any:
        # Crosses process boundaries (segment workers, Dask): rebuild from the fields, not the message.
        fields = (self.path, self.offset, self.reason)
        return _rebuild, (type(self), fields, {"in_compressed": self.in_compressed})


class ToolError(CTSError):
    """A tool cannot produce a result from this input (missing messages, unknown car, ...)."""


class ValidationError(CTSError):
    """Parameters or input of a run are invalid; ``errors`` names each field like pydantic does."""

    def __init__(self, message: str, errors: list[dict[str, Any]] | None = None) -> None:
        self.errors = errors or []
        super().__init__(message)

    def __reduce__(self) -> Any:
        return _rebuild, (type(self), (str(self), self.errors), {})


class InputError(ValidationError):
    """An input path is missing or holds no openpilot log (no rlog/qlog file, segment or route folder).

    A ``ValidationError`` so every door reports it like any other bad input (``loc`` ``input.value``).
    """

    def __init__(self, message: str, path: str | Path | None = None) -> None:
        self.path = None if path is None else str(path)
        super().__init__(message, [{"loc": ["input", "value"], "msg": message, "type": "input_error"}])

    def __reduce__(self) -> Any:
        return _rebuild, (type(self), (str(self), self.path), {})


class ClusterError(CTSError):
    """The Dask cluster cannot do the work: scheduler unreachable, workers lost, inputs they cannot read."""


class InputNotAllowedError(CTSError):
    """An input path resolves outside ``root_dir`` and the configured ``allowed_input_dirs``."""


class UnknownToolError(CTSError, LookupError):
    """No registered tool has this id."""


class UnknownRunError(CTSError, LookupError):
    """No run with this id is in the store."""


class RunStateError(CTSError):
    """The run is in a state that does not allow this action (cancel a finished run, ...)."""


class QueueFullError(CTSError):
    """``max_queued_runs`` runs are already waiting."""


class DbcError(CTSError):
    """A DBC file cannot be parsed, or a packed value does not fit its signal."""


class DbcLookupError(DbcError, LookupError):
    """No DBC, message or signal has this name; the message lists the closest matches."""


class UnknownUploadError(CTSError, LookupError):
    """No finished upload has this id (it never existed, was aborted, or was removed by retention)."""


class UploadTooLargeError(CTSError):
    """An upload grew past ``max_upload_bytes``; the partial file has been deleted."""


class UnknownArtifactError(CTSError, LookupError):
    """A run has no artifact with this name."""


def _rebuild(cls: type[Exception], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Exception:
    """Unpickle an error whose constructor takes its fields rather than its message."""
    return cls(*args, **kwargs)
