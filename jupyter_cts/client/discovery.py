"""Finding the jupyter-cts server to talk to, so notebooks and shells rarely need a URL.

Looked at in this order, the first that answers wins:

1. an explicit URL (and token) from the caller (``--url``/``--token``);
2. ``CTS_URL`` / ``CTS_TOKEN``, set by the user;
3. ``JUPYTER_CTS_URL`` / ``JUPYTER_CTS_TOKEN``, which the extension puts into the kernels it starts;
4. JupyterHub's single-user variables (``JUPYTERHUB_SERVICE_URL`` or ``JUPYTERHUB_SERVICE_PREFIX``,
   with ``JUPYTERHUB_API_TOKEN``);
5. the runtime files (``jpserver-<pid>.json``) of the running Jupyter servers: each is probed on
   ``/v1/health`` and only servers with the extension count. With several, the one that started this
   kernel wins (``JPY_PARENT_PID`` or an ancestor process), then the one whose ``root_dir`` holds the
   notebook (``JPY_SESSION_NAME``) or the current folder, then the most recently started.

Sources 1-4 are trusted as given (a wrong one fails on the first request with a clear error); only
runtime files are probed, because several servers may be running and most lack the extension.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from jupyter_cts.client.errors import ServerNotFoundError

#: ``probe(url, token) -> bool``: does the server at ``url`` have the extension?
Probe = Callable[[str, "str | None"], bool]


@dataclass(frozen=True)
class ServerEndpoint:
    """Where the API lives: ``url`` is the server's base URL (ending in ``/``); the API is ``{url}v1/``."""

    url: str
    token: str | None
    source: str
    root_dir: str | None = None
    pid: int | None = None


def find_server(
    url: str | None = None,
    token: str | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    runtime_dir: str | Path | None = None,
    probe: Probe | None = None,
) -> ServerEndpoint:
    """The server to use, following the order in this module's docstring.

    Raises :class:`ServerNotFoundError` naming every place looked at when nothing fits.
    """
    env = os.environ if environ is None else environ
    probe = probe or probe_health
    if url:
        return ServerEndpoint(
            normalize_url(url),
            token or env.get("CTS_TOKEN") or _runtime_token(url, runtime_dir),
            "the --url option",
        )
    for url_var, token_var, source in (
        ("CTS_URL", "CTS_TOKEN", "CTS_URL"),
        ("JUPYTER_CTS_URL", "JUPYTER_CTS_TOKEN", "the kernel's JUPYTER_CTS_URL"),
    ):
        if env.get(url_var):
            found_token = token or env.get(token_var) or _runtime_token(env[url_var], runtime_dir)
            return ServerEndpoint(normalize_url(env[url_var]), found_token, source)
    hub = _from_jupyterhub(env, token, runtime_dir)
    if hub is not None:
        return hub
    servers = running_servers(runtime_dir)
    with_extension = [s for s in servers if probe(s.url, token or s.token)]
    if with_extension:
        best = _pick(with_extension, env)
        return ServerEndpoint(best.url, token or best.token, best.source, best.root_dir, best.pid)
    raise ServerNotFoundError(_nothing_found_message(servers, runtime_dir))


def running_servers(runtime_dir: str | Path | None = None) -> list[ServerEndpoint]:
    """Every live Jupyter server with a runtime file, most recently started first.

    Reads the ``jpserver-<pid>.json`` files jupyter_server writes, skipping those whose process is
    gone. (``jupyter_server.serverapp.list_running_servers`` does the same but costs a two-second
    import of the whole server, paid by every ``cts`` command; it also deletes stale files, which a
    client has no business doing.)
    """
    from jupyter_core.paths import jupyter_runtime_dir

    folder = Path(runtime_dir) if runtime_dir is not None else Path(jupyter_runtime_dir())
    found: list[tuple[float, ServerEndpoint]] = []
    for info_file in folder.glob("jpserver-*.json") if folder.is_dir() else []:
        try:
            info = json.loads(info_file.read_text(encoding="utf-8"))
            mtime = info_file.stat().st_mtime
        except (OSError, ValueError):  # being written, or removed meanwhile
            continue
        if not isinstance(info, dict) or not _alive(info.get("pid")):
            continue
        endpoint = _endpoint_from_info(info, info_file)
        if endpoint is not None:
            found.append((mtime, endpoint))
    found.sort(key=lambda pair: pair[0], reverse=True)
    return [endpoint for _, endpoint in found]


def _alive(pid: Any) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process, but alive
        return True
    return True


def probe_health(url: str, token: str | None, timeout: float = 2.0) -> bool:
    """True when ``{url}v1/health`` answers JSON with a status: the extension is there and we may use it."""
    headers = {"Authorization": f"token {token}"} if token else {}
    try:
        response = httpx.get(f"{url}v1/health", headers=headers, timeout=timeout)
    except httpx.HTTPError:
        return False
    if response.status_code != 200 or "json" not in response.headers.get("content-type", ""):
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and "status" in body


def normalize_url(url: str) -> str:
    """A base URL with a scheme and exactly one trailing slash (``localhost:8888`` -> ``http://localhost:8888/``)."""
    url = url.strip()
    if "://" not in url:
        url = "http://" + url
    parts = urlsplit(url)
    path = parts.path.rstrip("/") + "/"
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def _endpoint_from_info(info: Mapping[str, Any], info_file: Path) -> ServerEndpoint | None:
    url = info.get("url")
    if not url:
        return None
    pid = info.get("pid")
    return ServerEndpoint(
        url=normalize_url(str(url)),
        token=info.get("token") or None,
        source=f"the runtime file {info_file}",
        root_dir=info.get("root_dir"),
        pid=int(pid) if pid is not None else None,
    )


def _runtime_token(url: str, runtime_dir: str | Path | None) -> str | None:
    """The token of the running server at ``url``, when its runtime file is readable: saves typing it."""
    wanted = normalize_url(url)
    try:
        servers = running_servers(runtime_dir)
    except OSError:
        return None
    for server in servers:
        if _same_server(server.url, wanted):
            return server.token
    return None


def _same_server(a: str, b: str) -> bool:
    pa, pb = urlsplit(a), urlsplit(b)
    local = {"localhost", "127.0.0.1", "::1", "0.0.0.0", ""}
    same_host = pa.hostname == pb.hostname or (pa.hostname in local and pb.hostname in local)
    return same_host and pa.port == pb.port and pa.path == pb.path


def _from_jupyterhub(
    env: Mapping[str, str], token: str | None, runtime_dir: str | Path | None
) -> ServerEndpoint | None:
    """A single-user server under JupyterHub: its own URL and the user's API token."""
    hub_token = token or env.get("JUPYTERHUB_API_TOKEN")
    prefix = env.get("JUPYTERHUB_SERVICE_PREFIX")
    service_url = env.get("JUPYTERHUB_SERVICE_URL")
    if not hub_token or not (prefix or service_url):
        return None
    if service_url:
        url = normalize_url(service_url)
        parts = urlsplit(url)
        if prefix and parts.path == "/":
            url = urlunsplit((parts.scheme, parts.netloc, "/" + prefix.strip("/") + "/", "", ""))
        return ServerEndpoint(url, hub_token, "JupyterHub's JUPYTERHUB_SERVICE_URL")
    # Only a prefix: the host is whichever local server serves that prefix.
    wanted = "/" + (prefix or "").strip("/") + "/"
    for server in running_servers(runtime_dir):
        if urlsplit(server.url).path == wanted:
            return ServerEndpoint(
                server.url, hub_token, "JupyterHub's JUPYTERHUB_SERVICE_PREFIX", server.root_dir, server.pid
            )
    return None


def _pick(servers: list[ServerEndpoint], env: Mapping[str, str]) -> ServerEndpoint:
    """Among servers with the extension: the kernel's own, else the one holding the notebook or cwd."""
    family = set(_ancestor_pids(env))
    for server in servers:
        if server.pid is not None and server.pid in family:
            return server
    places = [p for p in (_session_path(env), Path.cwd()) if p is not None]
    for place in places:
        holders = [s for s in servers if s.root_dir and _inside(place, Path(s.root_dir))]
        if holders:
            # The deepest root_dir is the most specific match.
            return max(holders, key=lambda s: len(Path(s.root_dir or "/").parts))
    return servers[0]


def _ancestor_pids(env: Mapping[str, str]) -> Iterable[int]:
    """The pid a kernel's launcher recorded (``JPY_PARENT_PID``), then our real ancestors."""
    parent = env.get("JPY_PARENT_PID", "")
    if parent.isdigit():
        yield int(parent)
    try:
        import psutil

        for proc in psutil.Process().parents():
            yield proc.pid
    except Exception:  # psutil may be denied /proc on locked-down hosts; the hint above still counts
        return


def _session_path(env: Mapping[str, str]) -> Path | None:
    name = env.get("JPY_SESSION_NAME")
    if not name:
        return None
    path = Path(name)
    return path if path.is_absolute() else None


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
    except (ValueError, OSError):
        return False
    return True


def _nothing_found_message(servers: list[ServerEndpoint], runtime_dir: str | Path | None) -> str:
    if runtime_dir is None:
        from jupyter_core.paths import jupyter_runtime_dir

        runtime_dir = jupyter_runtime_dir()
    seen = (
        f"{len(servers)} running Jupyter server(s) in {runtime_dir}, none with the jupyter_cts extension"
        if servers
        else f"no running Jupyter server in {runtime_dir}"
    )
    return (
        "no jupyter-cts server found: --url, CTS_URL, JUPYTER_CTS_URL and JupyterHub's variables are unset, "
        f"and there is {seen}. Start one with `cts-lite`, or pass --url and --token (or set CTS_URL and "
        "CTS_TOKEN)."
    )
