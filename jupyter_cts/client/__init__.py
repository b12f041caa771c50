"""A typed client for the jupyter-cts REST API (``{base_url}v1/``), sync and async.

Used by the ``cts`` CLI and the notebook widgets::

    from jupyter_cts.client import CTSClient

    with CTSClient() as cts:                      # finds the server (see .discovery)
        run = cts.start_run("cruise-control-analyzer", {"speed_min": 50}, input_path="seg/rlog.zst")
        run = cts.wait(run.run_id, on_progress=lambda r: print(r.progress, r.progress_message))
        cts.download_artifact(run.run_id, "report.html", "out/")

Answers are parsed into the shared models of :mod:`jupyter_cts.engine.models`; failures raise the
types of :mod:`jupyter_cts.client.errors`.
"""

from jupyter_cts.client.aio import AsyncCTSClient
from jupyter_cts.client.discovery import ServerEndpoint, find_server
from jupyter_cts.client.errors import (
    CTSAPIError,
    CTSAuthError,
    CTSClientError,
    CTSConflictError,
    CTSConnectionError,
    CTSNotFoundError,
    CTSTimeoutError,
    CTSUnknownRunError,
    CTSValidationError,
    ExtensionNotEnabledError,
    ServerNotFoundError,
    UnsafeNameError,
)
from jupyter_cts.client.events import StreamEvent
from jupyter_cts.client.sync import CTSClient

__all__ = [
    "AsyncCTSClient",
    "CTSAPIError",
    "CTSAuthError",
    "CTSClient",
    "CTSClientError",
    "CTSConflictError",
    "CTSConnectionError",
    "CTSNotFoundError",
    "CTSTimeoutError",
    "CTSUnknownRunError",
    "CTSValidationError",
    "ExtensionNotEnabledError",
    "ServerEndpoint",
    "ServerNotFoundError",
    "StreamEvent",
    "UnsafeNameError",
    "find_server",
]
