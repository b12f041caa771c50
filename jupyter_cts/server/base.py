"""What every /v1 handler shares: auth resource, engine access off the event loop, JSON in and out."""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from collections.abc import Callable
from http.client import responses
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

import pydantic
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join

from jupyter_cts.engine.models import Artifact, Run
from jupyter_cts.server.errors import APIError, describe_fields, error_body, pydantic_errors, to_api_error

if TYPE_CHECKING:
    from jupyter_cts.engine import ExecutionEngine
    from jupyter_cts.server.app import CTSApp

M = TypeVar("M", bound=pydantic.BaseModel)
T = TypeVar("T")

AUTH_MESSAGE = (
    "Authentication required: send the server's token as the header 'Authorization: token <token>' "
    "(cts-lite prints it when it starts; `jupyter server list` shows it for other servers)."
)
# Run ids are short and URL-safe; anything else cannot name a run, so it never reaches the engine.
_RUN_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_PLAIN_NAME = re.compile(r"^[A-Za-z0-9._-]+$")  # needs no percent-encoding in a URL path


class RunTexts:
    """The JSON text of recently polled runs, keyed by the run object itself.

    The store returns the same frozen :class:`Run` until the run changes, so an identity check is
    enough to know the text is current. Used from the event loop only."""

    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._texts: OrderedDict[str, tuple[Run, str]] = OrderedDict()

    def get(self, run: Run, encode: Callable[[], str]) -> str:
        cached = self._texts.get(run.run_id)
        if cached is not None and cached[0] is run:
            self._texts.move_to_end(run.run_id)
            return cached[1]
        text = encode()
        self._texts[run.run_id] = (run, text)
        self._texts.move_to_end(run.run_id)
        if len(self._texts) > self._size:
            self._texts.popitem(last=False)
        return text


def _url_name(name: str) -> str:
    return name if _PLAIN_NAME.match(name) else quote(name, safe="")


class CTSHandler(APIHandler):
    """Base of the /v1 handlers. Each verb still carries ``@web.authenticated`` and ``@authorized``."""

    auth_resource = "cts"

    @property
    def cts(self) -> CTSApp:
        return self.settings["cts_app"]

    @property
    def engine(self) -> ExecutionEngine:
        return self.cts.engine

    async def prepare(self) -> None:  # type: ignore[override]
        await super().prepare()
        if not self._finished:
            await self.cts.ensure_engine_started()

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """An engine call that touches files (logs, results, artifacts, input paths), on the API threads."""
        try:
            return await self.cts.run_blocking(fn, *args, **kwargs)
        except Exception as exc:
            raise self._mapped(exc) from exc

    def quick(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """An engine call that only reads its SQLite store or memory, made right here on the event loop.

        The engine promises these return in well under a millisecond; a hop to a thread and back
        costs more than that under load (the GIL's switch interval), so status polling stays inline.
        """
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            raise self._mapped(exc) from exc

    @staticmethod
    def _mapped(exc: Exception) -> Exception:
        api = to_api_error(exc)
        return exc if api is None else api

    # -- input ---------------------------------------------------------------------------------------
    def parse_body(self, model: type[M]) -> M:
        """The JSON body validated by ``model``: 400 when it is not JSON, 422 naming each bad field."""
        raw = self.request.body or b""
        try:
            data = json.loads(raw.decode("utf-8")) if raw.strip() else None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise APIError(
                400,
                f"The request body is not valid JSON ({exc}); send a JSON object such as "
                '{"tool_id": "cruise-control-analyzer", "input": {"type": "path", "value": "seg/rlog.zst"}}.',
                reason="Bad JSON",
            ) from exc
        if not isinstance(data, dict):
            raise APIError(400, "The request body must be a JSON object.", reason="Bad JSON")
        try:
            return model.model_validate(data)
        except pydantic.ValidationError as exc:
            errs = pydantic_errors(exc)
            raise APIError(
                422,
                f"The request is invalid: {describe_fields(errs)}.",
                reason="Invalid Request",
                errors=errs,
            ) from exc

    def parse_query(self, model: type[M]) -> M:
        """Query arguments validated by ``model`` (unknown ones are ignored, as HTTP clients expect)."""
        values = {
            name: self.get_query_argument(name)
            for name in model.model_fields
            if self.get_query_argument(name, None) is not None
        }
        try:
            return model.model_validate(values)
        except pydantic.ValidationError as exc:
            errs = pydantic_errors(exc, prefix=("query",))
            raise APIError(
                422, f"Invalid query arguments: {describe_fields(errs)}.", reason="Invalid Query", errors=errs
            ) from exc

    def check_run_id(self, run_id: str) -> str:
        if not _RUN_ID.match(run_id):
            raise APIError(
                404, f"There is no run with id {run_id!r}; list runs with GET v1/runs.", reason="Unknown Run"
            )
        return run_id

    # -- output --------------------------------------------------------------------------------------
    def api_url(self, *parts: str) -> str:
        """An absolute path under this server's base_url: ``{base_url}v1/...``."""
        return url_path_join(self.base_url, "v1", *(quote(p, safe="") for p in parts))

    def run_body(self, run: Run) -> dict[str, Any]:
        """The run as JSON, each artifact with its download URL (the engine does not know base_url)."""
        body = run.model_dump(mode="json")
        if body["artifacts"]:
            prefix = self.api_url("runs", run.run_id, "artifacts") + "/"
            for art in body["artifacts"]:
                art["url"] = prefix + _url_name(art["name"])
        return body

    def run_json(self, run: Run) -> str:
        """:meth:`run_body` as text, encoded once per version of the run (status polling's answer)."""
        return self.cts.run_texts.get(run, lambda: json.dumps(self.run_body(run)))

    def write_run(self, run: Run, status: int = 200) -> None:
        self.set_status(status)
        self.finish(self.run_json(run))

    def artifact_urls(self, run_id: str, artifacts: list[Artifact]) -> list[Artifact]:
        prefix = self.api_url("runs", run_id, "artifacts") + "/"
        return [a.model_copy(update={"url": prefix + _url_name(a.name)}) for a in artifacts]

    def write_json(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        if isinstance(data, pydantic.BaseModel):
            text = data.model_dump_json()
        elif isinstance(data, list) and all(isinstance(d, pydantic.BaseModel) for d in data):
            text = "[" + ",".join(d.model_dump_json() for d in data) + "]"
        else:
            text = json.dumps(data)
        self.finish(text)

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        """Every error as ``{"message", "reason", "errors"}`` (Jupyter's shape plus field errors)."""
        exc = kwargs.get("exc_info", (None, None, None))[1]
        body = error_body(status_code, exc, responses.get(status_code, "Unknown HTTP Error"))
        if status_code == 403 and getattr(self, "_jupyter_current_user", None) is None:
            body["message"] = AUTH_MESSAGE
            body["reason"] = "Authentication Required"
        if status_code >= 500:
            self.log.error(
                "jupyter_cts: %s %s failed",
                self.request.method,
                self.request.path,
                exc_info=kwargs.get("exc_info"),
            )
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(body))

    def get_login_url(self) -> str:
        """API clients are never redirected to a login page: they get 403 JSON saying how to authenticate."""
        if not self.current_user:
            raise APIError(403, AUTH_MESSAGE, reason="Authentication Required")
        return super().get_login_url()
