"""Pytest fixtures for testing through the REST door (enable with
``pytest_plugins = ["pytest_jupyter.jupyter_server", "jupyter_cts.server.pytest_plugin"]``).

- ``cts_app``: the extension of pytest-jupyter's ``jp_serverapp``, started as the server's start hook
  starts it and stopped (engine, run processes) when the test ends. pytest-jupyter never runs the
  start and stop hooks itself.
- ``cts_listening``: port, base_url and token of the listening test server (for raw-socket tests).
- ``cts_api``: a small JSON client over ``jp_fetch`` (and its odd ``base_url``) that never raises on
  error statuses, so tests assert on the answer a user gets.

A test file configures the server with ``jp_server_config``, e.g.
``{"ServerApp": {"jpserver_extensions": {"jupyter_cts": True}}, "CTSApp": {"data_dir": ...}}``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from tornado.httputil import HTTPHeaders

from jupyter_cts.server.app import CTSApp


def cts_extension(serverapp: Any) -> CTSApp:
    """The CTSApp instance a ServerApp loaded."""
    apps = serverapp.extension_manager.extension_apps.get("jupyter_cts")
    if not apps:
        raise LookupError(
            "jupyter_cts is not loaded: enable it in jp_server_config (ServerApp.jpserver_extensions)"
        )
    return next(iter(apps))


@pytest.fixture
def cts_app(jp_serverapp: Any, jp_asyncio_loop: asyncio.AbstractEventLoop) -> Iterator[CTSApp]:
    app = cts_extension(jp_serverapp)
    jp_asyncio_loop.run_until_complete(app._start_jupyter_server_extension(jp_serverapp))
    yield app
    jp_asyncio_loop.run_until_complete(app.stop_extension())


@dataclass
class Reply:
    status: int
    headers: HTTPHeaders
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class APIClient:
    """``await api.get("runs", run_id)`` -> :class:`Reply`; paths are relative to ``{base_url}v1/``."""

    def __init__(self, fetch: Callable[..., Any]) -> None:
        self._fetch = fetch

    async def request(
        self,
        method: str,
        *path: str,
        json_body: Any = None,
        body: bytes | str | None = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> Reply:
        if json_body is not None:
            body = json.dumps(json_body)
        if body is None and method in ("POST", "PUT", "PATCH") and "body_producer" not in kwargs:
            body = b""
        r = await self._fetch(
            "v1", *path, method=method, body=body, params=params, headers=headers, raise_error=False, **kwargs
        )
        return Reply(r.code, r.headers, r.body or b"")

    async def get(self, *path: str, **kw: Any) -> Reply:
        return await self.request("GET", *path, **kw)

    async def post(self, *path: str, **kw: Any) -> Reply:
        return await self.request("POST", *path, **kw)

    async def delete(self, *path: str, **kw: Any) -> Reply:
        return await self.request("DELETE", *path, **kw)

    async def wait_for(self, run_id: str, statuses: set[str], timeout: float = 30.0) -> dict[str, Any]:
        """Poll the run until its status is one of ``statuses``; fail the test after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            run = (await self.get("runs", run_id)).json
            if run["status"] in statuses:
                return run
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"run {run_id} is still {run['status']} after {timeout} s, wanted {statuses}"
                )
            await asyncio.sleep(0.05)


@dataclass
class Listening:
    """Where the test server listens, for tests that talk raw HTTP over a socket."""

    port: int
    base_url: str
    token: str


@pytest.fixture
def cts_listening(
    http_server_client: Any, jp_http_port: int, jp_base_url: str, jp_serverapp: Any, cts_app: CTSApp
) -> Listening:
    return Listening(jp_http_port, jp_base_url, jp_serverapp.identity_provider.token)


@pytest.fixture
def cts_api(jp_fetch: Callable[..., Any], cts_app: CTSApp) -> APIClient:
    return APIClient(jp_fetch)
