"""``CTSApp``: the Jupyter Server extension that serves the engine under ``{base_url}v1/``.

Configuration is traitlets on this class (``c.CTSApp.max_concurrent_runs = 4`` or
``--CTSApp.max_concurrent_runs=4``). The engine is built with the settings, started by the server's
start hook (or by the first request, whichever comes first) and stopped by ``stop_extension``.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from jupyter_core.paths import jupyter_data_dir
from jupyter_server._tz import utcnow
from jupyter_server.extension.application import ExtensionApp
from jupyter_server.serverapp import ServerApp
from tornado.ioloop import PeriodicCallback
from traitlets import (
    Bool,
    CaselessStrEnum,
    Float,
    Integer,
    List,
    TraitError,
    Type,
    Unicode,
    default,
    validate,
)

from jupyter_cts.server.base import RunTexts
from jupyter_cts.server.errors import APIError

if TYPE_CHECKING:
    from jupyter_cts.engine import ExecutionEngine

T = TypeVar("T")


class CTSApp(ExtensionApp):
    """Runs openpilot log analysis tools for REST clients, the ``cts`` CLI and notebook widgets."""

    name = "jupyter_cts"
    description = "jupyter-cts: openpilot log analysis tools behind a /v1 REST API."

    data_dir = Unicode(
        help="Folder for the run store (cts.sqlite), run folders and uploads (default: <jupyter data>/cts)."
    ).tag(config=True)
    max_concurrent_runs = Integer(
        help="Runs executing at once; more wait in a FIFO queue. Default: CPUs."
    ).tag(config=True)
    max_queued_runs = Integer(100, help="Runs allowed to wait; one more is refused with 429.").tag(
        config=True
    )
    default_timeout_s = Float(3600.0, help="Timeout of a run that does not ask for one, in seconds.").tag(
        config=True
    )
    max_timeout_s = Float(6 * 3600.0, help="Largest timeout a run may ask for, in seconds.").tag(config=True)
    allowed_input_dirs = List(
        Unicode(), help="Folders besides the server's root_dir from which runs may read inputs."
    ).tag(config=True)
    max_upload_bytes = Integer(2 * 1024**3, help="Largest file POST /v1/uploads accepts, in bytes.").tag(
        config=True
    )
    executor = CaselessStrEnum(
        ["local", "dask"],
        "local",
        help="Where runs execute: 'local' processes, or an existing 'dask' cluster.",
    ).tag(config=True)
    dask_scheduler_address = Unicode(
        None, allow_none=True, help="Address of the Dask scheduler (tcp://host:8786) when executor is 'dask'."
    ).tag(config=True)
    retention_days = Float(
        None, allow_none=True, help="Delete finished runs older than this many days (off: None)."
    ).tag(config=True)
    retention_max_runs = Integer(
        None, allow_none=True, help="Keep at most this many finished runs (off: None)."
    ).tag(config=True)
    engine_class = Type(
        default_value="jupyter_cts.engine.ExecutionEngine",
        klass=object,
        help="The execution engine class; swap it by configuration (tests, deployments), not by patching.",
    ).tag(config=True)
    sse_heartbeat_s = Float(15.0, help="Seconds between heartbeat comments on a log event stream.").tag(
        config=True
    )
    activity_interval_s = Float(
        30.0,
        help="While runs are queued or running, mark the server active this often (keeps idle cullers away).",
    ).tag(config=True)
    api_threads = Integer(4, help="Threads for engine calls that touch files, off the event loop.").tag(
        config=True
    )
    kernel_env = Bool(
        True, help="Export CTS_URL and CTS_TOKEN to kernels this server starts, so notebooks find the API."
    ).tag(config=True)

    open_streams = 0  # log event streams currently open (visible to tests and diagnostics)

    @default("data_dir")
    def _default_data_dir(self) -> str:
        return str(Path(jupyter_data_dir()) / "cts")

    @default("max_concurrent_runs")
    def _default_max_concurrent_runs(self) -> int:
        return os.cpu_count() or 1

    @validate("max_concurrent_runs", "api_threads")
    def _at_least_one(self, proposal: Any) -> int:
        if proposal["value"] < 1:
            raise TraitError(f"CTSApp.{proposal['trait'].name} must be at least 1, not {proposal['value']}.")
        return int(proposal["value"])

    @validate("max_queued_runs", "max_upload_bytes")
    def _not_negative(self, proposal: Any) -> int:
        if proposal["value"] < 0:
            raise TraitError(f"CTSApp.{proposal['trait'].name} cannot be negative ({proposal['value']}).")
        return int(proposal["value"])

    @validate("default_timeout_s", "max_timeout_s", "sse_heartbeat_s", "activity_interval_s")
    def _positive_seconds(self, proposal: Any) -> float:
        if proposal["value"] <= 0:
            raise TraitError(f"CTSApp.{proposal['trait'].name} must be a positive number of seconds.")
        return float(proposal["value"])

    # -- wiring ---------------------------------------------------------------------------------------
    @property
    def server(self) -> ServerApp:
        """The ServerApp this extension is linked to (always set once the server loaded us)."""
        assert self.serverapp is not None, "CTSApp used before it was linked to a Jupyter server"
        return self.serverapp

    def initialize_settings(self) -> None:
        from jupyter_cts.engine import EngineConfig

        if self.default_timeout_s > self.max_timeout_s:
            raise TraitError(
                f"CTSApp.default_timeout_s ({self.default_timeout_s}) exceeds CTSApp.max_timeout_s "
                f"({self.max_timeout_s}); lower the first or raise the second."
            )
        data_dir = Path(self.data_dir).expanduser().resolve()
        data_dir.mkdir(parents=True, exist_ok=True)
        config = EngineConfig(
            data_dir=data_dir,
            root_dir=Path(self.server.root_dir).expanduser().resolve(),
            allowed_input_dirs=[Path(d).expanduser().resolve() for d in self.allowed_input_dirs],
            max_concurrent_runs=self.max_concurrent_runs,
            max_queued_runs=self.max_queued_runs,
            default_timeout_s=self.default_timeout_s,
            max_timeout_s=self.max_timeout_s,
            max_upload_bytes=self.max_upload_bytes,
            executor=self.executor,
            dask_scheduler_address=self.dask_scheduler_address,
            retention_days=self.retention_days,
            retention_max_runs=self.retention_max_runs,
        )
        self.engine: ExecutionEngine = self.engine_class(config)  # type: ignore[operator]
        self._pool = ThreadPoolExecutor(max_workers=self.api_threads, thread_name_prefix="cts-api")
        self._start_task: asyncio.Future[None] | None = None
        self._engine_running = False
        self._activity: PeriodicCallback | None = None
        self.run_texts = RunTexts()
        self.settings.update({"cts_app": self, "cts_engine": self.engine})

    def initialize_handlers(self) -> None:
        from jupyter_cts.server.openapi import build_document
        from jupyter_cts.server.routes import ROUTES

        base_url = self.server.base_url
        self.settings["cts_openapi"] = build_document(ROUTES, server_url=base_url)
        self.server.web_app.settings["cts_openapi"] = self.settings["cts_openapi"]
        self.handlers.extend((route.pattern, route.handler) for route in ROUTES)

    # -- lifecycle ------------------------------------------------------------------------------------
    async def _start_jupyter_server_extension(self, serverapp: Any) -> None:
        """The server's start hook: engine up, activity clock ticking, kernels told where we are."""
        await self.ensure_engine_started()
        if self.kernel_env:  # kernels inherit the server's environment: point them at this server
            os.environ["CTS_URL"] = serverapp.connection_url
            os.environ["CTS_TOKEN"] = serverapp.identity_provider.token or ""

    async def ensure_engine_started(self) -> None:
        """Start the engine once; concurrent callers (the start hook, early requests) share the start."""
        if self._engine_running:
            return
        if self._start_task is None:
            self._start_task = asyncio.ensure_future(self._start_engine())
        try:
            await asyncio.shield(self._start_task)
        except Exception as exc:
            raise APIError(
                503,
                f"The jupyter-cts engine could not start ({exc}); see the server log.",
                reason="Engine Unavailable",
            ) from exc

    async def _start_engine(self) -> None:
        try:
            await self.run_blocking(self.engine.start)
        except Exception:
            self.log.exception("jupyter_cts: the engine failed to start")
            raise
        self._engine_running = True
        self._activity = PeriodicCallback(self._mark_activity, self.activity_interval_s * 1000)
        self._activity.start()
        self.log.info("jupyter_cts: engine started (data in %s)", self.data_dir)

    async def stop_extension(self) -> None:
        """Stop the activity clock and the engine (it stops its runs' processes), then the API threads."""
        if self._activity is not None:
            self._activity.stop()
            self._activity = None
        if self._start_task is not None:
            try:
                await self._start_task
            except Exception:
                pass
        if self._engine_running:
            self._engine_running = False
            await asyncio.get_running_loop().run_in_executor(None, partial(self.engine.stop, timeout=10))
            self.log.info("jupyter_cts: engine stopped")
        self._pool.shutdown(wait=False, cancel_futures=True)

    def current_activity(self) -> bool:
        """Jupyter's idle shutdown asks this: a queued or running analysis counts as activity."""
        return bool(self._engine_running and self.engine.is_busy())

    def _mark_activity(self) -> None:
        if self.current_activity():
            self.server.web_app.settings["cts_last_activity"] = utcnow()

    async def run_blocking(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn`` on the API threads so the event loop never waits on the disk."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, partial(fn, *args, **kwargs))
