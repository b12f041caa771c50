"""Small pieces both clients share about moving bytes: headers, timeouts, error wording, progress."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx

from jupyter_cts import __version__
from jupyter_cts.client.discovery import ServerEndpoint
from jupyter_cts.client.errors import CTSConnectionError

CHUNK_BYTES = 1 << 20
#: Log streams stay open for the whole run; the server sends heartbeats, so a long silence means trouble.
STREAM_TIMEOUT = httpx.Timeout(10.0, read=90.0)


def client_headers(token: str | None) -> dict[str, str]:
    headers = {"User-Agent": f"jupyter-cts-client/{__version__}", "Accept": "application/json"}
    if token:
        headers["Authorization"] = f"token {token}"
    return headers


def connection_error(endpoint: ServerEndpoint, exc: Exception) -> CTSConnectionError:
    """Say which server could not be reached, how we found it, and what to try."""
    detail = str(exc) or type(exc).__name__
    return CTSConnectionError(
        f"cannot reach the jupyter-cts server at {endpoint.url} (from {endpoint.source}): {detail}. "
        "Is it running? Start one with `cts-lite`, or point --url / CTS_URL at the right one."
    )


def partial_path(target: Path) -> Path:
    """Where a download goes until it is complete, so a half file never carries the final name."""
    return target.with_name(f".{target.name}.part")


class ProgressTracker:
    """Counts bytes sent and reports ``(done, total)`` to an optional callback."""

    def __init__(self, total: int, callback: Callable[[int, int], None] | None) -> None:
        self.total = total
        self.done = 0
        self._callback = callback

    def add(self, n: int) -> None:
        self.done += n
        if self._callback is not None:
            self._callback(self.done, self.total)
