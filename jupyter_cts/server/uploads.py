"""``POST /v1/uploads``: a log file streamed to disk as it arrives, never held whole in memory.

The body is the raw file (``?filename=`` names it). Authentication and authorization are checked in
``prepare``, before the first byte is accepted, because a streamed body arrives before the verb runs.
The size limit is enforced while streaming: past ``max_upload_bytes`` the partial file is deleted and
the rest of the body is read and dropped, so the client gets a clean 413 instead of a reset connection.
"""

from __future__ import annotations

import asyncio
from typing import Any

from jupyter_core.utils import ensure_async
from jupyter_server.auth.decorator import authorized
from tornado import web
from tornado.http1connection import HTTP1Connection

from jupyter_cts.errors import UploadTooLargeError
from jupyter_cts.server.base import AUTH_MESSAGE, CTSHandler
from jupyter_cts.server.errors import APIError, to_api_error
from jupyter_cts.server.schemas import UploadQuery

# How much past the limit we still read (and drop) to answer 413 cleanly; beyond it tornado closes
# the connection. A Content-Length past the limit plus this is refused before reading the body.
_DRAIN_SLACK = 16 * 1024 * 1024


@web.stream_request_body
class UploadHandler(CTSHandler):
    _writer: Any = None
    _received = 0
    _too_large = False
    _failure: BaseException | None = None

    async def prepare(self) -> None:  # type: ignore[override]
        await super().prepare()
        if self._finished or self.request.method != "POST":
            return
        user = getattr(self, "_jupyter_current_user", None)
        if not user:
            raise APIError(403, AUTH_MESSAGE, reason="Authentication Required")
        if not await ensure_async(self.authorizer.is_authorized(self, user, "write", self.auth_resource)):
            raise APIError(
                403, f"User is not authorized to write on resource: {self.auth_resource}.", reason="Forbidden"
            )
        limit = self.cts.max_upload_bytes
        declared = self.request.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit + _DRAIN_SLACK:
            raise self._too_large_error(int(declared))
        connection = self.request.connection
        assert isinstance(connection, HTTP1Connection)
        connection.set_max_body_size(limit + _DRAIN_SLACK)
        q = self.parse_query(UploadQuery)
        self._writer = await self.call(self.engine.uploads.begin, q.filename)

    async def data_received(self, chunk: bytes) -> None:
        self._received += len(chunk)
        if self._writer is None:
            return  # over the limit or failed: drop the rest of the body
        if self._received > self.cts.max_upload_bytes:
            self._too_large = True
            await self._abort()
            return
        try:
            await self.cts.run_blocking(self._writer.write, chunk)
        except Exception as exc:
            if isinstance(exc, UploadTooLargeError):
                self._too_large = True
            else:
                self._failure = exc
            await self._abort()

    @web.authenticated
    @authorized
    async def post(self) -> None:
        if self._too_large:
            raise self._too_large_error(self._received)
        if self._failure is not None:
            raise to_api_error(self._failure) or self._failure
        if self._writer is None:
            raise APIError(
                400, "The upload was interrupted; send the file again.", reason="Upload Interrupted"
            )
        writer, self._writer = self._writer, None
        upload = await self.call(writer.finish)
        self.write_json(upload, status=201)

    def _too_large_error(self, size: int) -> APIError:
        limit = self.cts.max_upload_bytes
        return APIError(
            413,
            f"The upload ({size} bytes or more) is larger than this server's limit of {limit} bytes; "
            "upload a single segment, or raise c.CTSApp.max_upload_bytes on the server.",
            reason="Upload Too Large",
        )

    async def _abort(self) -> None:
        writer, self._writer = self._writer, None
        if writer is not None:
            try:
                await self.cts.run_blocking(writer.abort)
            except Exception:
                self.log.warning("jupyter_cts: could not remove a partial upload", exc_info=True)

    def on_connection_close(self) -> None:
        """The client went away mid-upload: remove the partial file."""
        if self._writer is not None:
            asyncio.ensure_future(self._abort())
        super().on_connection_close()

    def on_finish(self) -> None:
        if self._writer is not None:  # an error answered before finish(): do not leave a partial file
            asyncio.ensure_future(self._abort())
        super().on_finish()
