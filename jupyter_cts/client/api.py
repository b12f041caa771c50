"""The REST API as data: what each call sends and how its answer is read, shared by both clients.

The sync and async clients differ only in how they move bytes; everything about paths, query
parameters, bodies, retries and the meaning of an answer lives here once.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import httpx
from pydantic import TypeAdapter

from jupyter_cts.client.errors import (
    CTSAPIError,
    CTSAuthError,
    CTSConflictError,
    CTSNotFoundError,
    CTSUnknownRunError,
    CTSValidationError,
    ExtensionNotEnabledError,
    UnsafeNameError,
)
from jupyter_cts.engine.models import (
    Artifact,
    Capabilities,
    Health,
    LogRecord,
    Run,
    RunInput,
    RunList,
    RunRequest,
    RunStatus,
    ToolInfo,
)

T = TypeVar("T")

#: Requests that may be sent twice without harm, and the answers worth a second try.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "DELETE"})
RETRY_STATUSES = frozenset({502, 503})
RETRY_DELAYS_S = (0.2, 0.6)


@dataclass(frozen=True)
class Call(Generic[T]):
    """One API request: ``path`` is relative to ``{base_url}v1/``; ``decode`` reads a 2xx answer."""

    method: str
    path: str
    decode: Callable[[httpx.Response], T]
    params: dict[str, Any] = field(default_factory=dict)
    json: Any = None
    #: On the health check, any 404 means the extension is missing (there is no other reason for it).
    health_check: bool = False
    #: Which kind of thing a JSON 404 is about ("run" makes it a CTSUnknownRunError).
    subject: str = ""

    @property
    def retryable(self) -> bool:
        return self.method in IDEMPOTENT_METHODS


def path(*segments: str) -> str:
    """Join path segments, each percent-encoded so ids and names cannot change the route."""
    return "/".join(quote(s, safe="") for s in segments)


# --- the calls -------------------------------------------------------------------------------------


def health() -> Call[Health]:
    return Call("GET", "health", _model(Health), health_check=True)


def capabilities() -> Call[Capabilities]:
    return Call("GET", "capabilities", _model(Capabilities))


def tool(tool_id: str) -> Call[ToolInfo]:
    return Call("GET", path("tools", tool_id), _model(ToolInfo), subject="tool")


def start_run(request: RunRequest) -> Call[Run]:
    body = request.model_dump(mode="json", exclude_none=True)
    return Call("POST", "runs", _model(Run), json=body, subject="tool")


def run_request(
    tool_id: str,
    params: dict[str, Any] | None = None,
    *,
    input_path: str | list[str] | None = None,
    upload_id: str | None = None,
    name: str | None = None,
    timeout_s: float | None = None,
) -> RunRequest:
    """The body of ``POST /v1/runs`` from the arguments people think in."""
    if input_path is not None and upload_id is not None:
        raise ValueError("give either input_path or upload_id, not both")
    run_input = None
    if input_path is not None:
        run_input = RunInput(type="path", value=input_path)
    elif upload_id is not None:
        run_input = RunInput(type="upload", value=upload_id)
    return RunRequest(tool_id=tool_id, params=params or {}, input=run_input, name=name, timeout_s=timeout_s)


def get_run(run_id: str) -> Call[Run]:
    return Call("GET", path("runs", run_id), _model(Run), subject="run")


def list_runs(
    status: RunStatus | str | None = None,
    tool_id: str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> Call[RunList]:
    query: dict[str, Any] = {
        "status": str(status) if status else None,
        "tool_id": tool_id,
        "limit": limit,
        "offset": offset or None,
    }
    return Call("GET", "runs", _model(RunList), params={k: v for k, v in query.items() if v is not None})


def cancel(run_id: str) -> Call[Run]:
    return Call("DELETE", path("runs", run_id), _model(Run), subject="run")


def logs(run_id: str, since: int = 0) -> Call[list[LogRecord]]:
    return Call("GET", path("runs", run_id, "logs"), _log_records, params={"since": since}, subject="run")


def result(run_id: str) -> Call[dict[str, Any]]:
    return Call("GET", path("runs", run_id, "result"), _json_object, subject="run")


def artifacts(run_id: str) -> Call[list[Artifact]]:
    return Call("GET", path("runs", run_id, "artifacts"), _artifact_list, subject="run")


def artifact_path(run_id: str, name: str) -> str:
    return path("runs", run_id, "artifacts", name)


def logs_stream_path(run_id: str) -> str:
    return path("runs", run_id, "logs")


SSE_HEADERS = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}


# --- reading answers -------------------------------------------------------------------------------


def check(response: httpx.Response, call_or_path: Call[Any] | str, *, expect_json: bool = True) -> None:
    """Raise the typed error an answer stands for; return quietly for a usable 2xx.

    The body must already be read (``response.read()`` for streamed answers).
    """
    health_check = isinstance(call_or_path, Call) and call_or_path.health_check
    subject = call_or_path.subject if isinstance(call_or_path, Call) else ""
    where = f"{response.request.method} {response.request.url}"
    status = response.status_code
    is_json = "json" in response.headers.get("content-type", "")
    if 300 <= status < 400:
        raise CTSAuthError(
            f"{where} redirected to {response.headers.get('location', 'another page')} (usually the login "
            "page): the token is missing or wrong. Pass it with --token or CTS_TOKEN."
        )
    if status == 401 or (status == 403 and _is_auth_refusal(response, is_json)):
        raise CTSAuthError(
            f"{where} was refused ({status}): the token is missing or wrong. Pass the one the server printed "
            "at start with --token or CTS_TOKEN (`jupyter server list` shows the tokens of local servers)."
        )
    if status == 404 and (health_check or not is_json):
        raise ExtensionNotEnabledError(_not_enabled_message(response))
    if 200 <= status < 300:
        if expect_json and not is_json:
            raise ExtensionNotEnabledError(_not_enabled_message(response))
        return
    raise _api_error(response, subject, is_json)


def _is_auth_refusal(response: httpx.Response, is_json: bool) -> bool:
    """Jupyter's 403s (no or bad token, not authorized, XSRF) versus the API's own "input not allowed".

    The API marks its refusal with the reason ``Input Not Allowed`` (or per-field ``errors``); every
    other 403 is about who is asking.
    """
    body = _safe_json(response) if is_json else None
    if not isinstance(body, dict):
        return True
    return not (body.get("errors") or body.get("reason") == "Input Not Allowed")


def _api_error(response: httpx.Response, subject: str, is_json: bool) -> CTSAPIError:
    body = _safe_json(response) if is_json else None
    status = response.status_code
    if isinstance(body, dict):
        message = str(body.get("message") or body.get("reason") or response.reason_phrase)
        reason = body.get("reason")
        errors = [e for e in body.get("errors") or [] if isinstance(e, dict)]
    else:
        message = f"the server answered {status} {response.reason_phrase}: {response.text[:200].strip()}"
        reason, errors = None, []
    kwargs: dict[str, Any] = {
        "reason": reason,
        "errors": errors,
        "url": str(response.request.url),
        "method": response.request.method,
    }
    if status == 422 or (status == 400 and errors):
        return CTSValidationError(status, message, **kwargs)
    if status == 404:
        cls = CTSUnknownRunError if subject == "run" else CTSNotFoundError
        return cls(status, message, **kwargs)
    if status == 409:
        return CTSConflictError(status, message, **kwargs)
    return CTSAPIError(status, message, **kwargs)


def _not_enabled_message(response: httpx.Response) -> str:
    kind = response.headers.get("content-type", "no content type").split(";")[0]
    return (
        f"the jupyter_cts extension is not enabled on that server ({response.request.method} "
        f"{response.request.url} answered {response.status_code} with {kind}, not the jupyter-cts API). "
        "Enable it with `jupyter server extension enable jupyter_cts` and restart the server, or start "
        "`cts-lite`."
    )


def _safe_json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except (ValueError, UnicodeDecodeError):
        return None


def _model(model: type[T]) -> Callable[[httpx.Response], T]:
    adapter = TypeAdapter(model)

    def decode(response: httpx.Response) -> T:
        return adapter.validate_json(response.content)

    return decode


def _json_object(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    return body if isinstance(body, dict) else {"result": body}


_RECORDS = TypeAdapter(list[LogRecord])
_ARTIFACTS = TypeAdapter(list[Artifact])


def _log_records(response: httpx.Response) -> list[LogRecord]:
    """A list, ``{"logs": [...]}``-like object, or JSON lines: whichever the server sends."""
    text = response.text
    try:
        body = json.loads(text)
    except ValueError:
        body = [json.loads(line) for line in text.splitlines() if line.strip()]
    return _RECORDS.validate_python(_unwrap_list(body, ("logs", "records", "items", "lines")))


def _artifact_list(response: httpx.Response) -> list[Artifact]:
    return _ARTIFACTS.validate_python(_unwrap_list(response.json(), ("artifacts", "items")))


def _unwrap_list(body: Any, keys: tuple[str, ...]) -> Any:
    if isinstance(body, dict):
        for key in keys:
            if isinstance(body.get(key), list):
                return body[key]
    return body


def safe_file_name(name: str) -> str:
    """``name`` if it is a plain file name; anything that could leave the download folder is refused."""
    bad = (
        not name
        or name in {".", ".."}
        or "/" in name
        or "\\" in name
        or "\x00" in name
        or ".." in name
        or name.startswith("~")
        or any(ord(ch) < 32 for ch in name)
    )
    if bad:
        raise UnsafeNameError(
            f"refusing to save the artifact {name!r}: its name is not a plain file name (no path separators, "
            "no '..'). Download it by hand from the API if you trust it."
        )
    return name


def check_event_stream(response: httpx.Response) -> None:
    """A 2xx log stream must be Server-Sent Events; anything else is a server we do not understand."""
    kind = response.headers.get("content-type", "").split(";")[0].strip()
    if kind != "text/event-stream":
        raise CTSAPIError(
            response.status_code,
            f"{response.request.method} {response.request.url} answered with {kind or 'no content type'} "
            "instead of an event stream: is a proxy in the way, or is the server's jupyter_cts too old?",
            url=str(response.request.url),
        )
