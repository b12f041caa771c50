"""How the widgets reach the server: the project's client, plus the two small things it lacks.

- the async twin of a sync client (same server, same token), for polling on the kernel's loop;
- a listing of the server's folders through Jupyter's own contents API (``{base_url}api/contents``),
  for the input file picker: the jupyter-cts API deliberately has no directory listing, and the
  contents API already applies Jupyter's rules (root folder, hidden files).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote, urlsplit

import httpx

if TYPE_CHECKING:
    from jupyter_cts.client import AsyncCTSClient, CTSClient


def connect(client: CTSClient | None = None) -> CTSClient:
    """The given client, or one found by discovery (``CTS_URL``/``CTS_TOKEN``, running servers ...)."""
    if client is not None:
        return client
    from jupyter_cts.client import CTSClient

    return CTSClient()


def async_twin(client: CTSClient) -> AsyncCTSClient:
    """An async client for the same server and token: the poller awaits it on the kernel's loop."""
    from jupyter_cts.client import AsyncCTSClient

    return AsyncCTSClient(endpoint=client.endpoint)


@dataclass(frozen=True)
class Entry:
    """One item of a server folder; ``path`` is relative to the server's root folder."""

    name: str
    path: str
    is_dir: bool


def list_server_dir(client: CTSClient, path: str = "", timeout: float = 10.0) -> list[Entry]:
    """Folders first, then files, of ``path`` under the server's root folder."""
    endpoint = client.endpoint
    url = f"{endpoint.url}api/contents/{quote(path.strip('/'))}"
    headers = {"Authorization": f"token {endpoint.token}"} if endpoint.token else {}
    response = httpx.get(url, params={"content": "1"}, headers=headers, timeout=timeout)
    if response.status_code == 404:
        raise FileNotFoundError(f"the server has no folder {path or '/'!r} under its root folder")
    response.raise_for_status()
    body = response.json()
    if body.get("type") != "directory":
        raise NotADirectoryError(f"{path!r} on the server is a file, not a folder")
    entries = [Entry(e["name"], e["path"], e["type"] == "directory") for e in body.get("content") or []]
    return sorted(entries, key=lambda e: (not e.is_dir, e.name.lower()))


def artifact_href(client: CTSClient, run_id: str, name: str, url: str | None = None) -> str:
    """The link a browser follows to download an artifact.

    The server's path without scheme and host: in JupyterLab the page and the API share one origin,
    so the browser's Jupyter login cookie authenticates the download and no token is written into
    the notebook. (Against a separate ``cts-lite``, log in to it once in the browser, or use
    ``RunView.download``.)
    """
    if url:
        parts = urlsplit(url)
        return parts.path + (f"?{parts.query}" if parts.query else "")
    base = urlsplit(client.endpoint.url).path
    return f"{base}v1/runs/{quote(run_id, safe='')}/artifacts/{quote(name, safe='')}"


def fetch_artifact_bytes(client: CTSClient, run_id: str, name: str) -> bytes:
    """One artifact's content (for inline images), through the client so auth and errors are its own."""
    with tempfile.TemporaryDirectory(prefix="cts-artifact-") as tmp:
        return Path(client.download_artifact(run_id, name, tmp)).read_bytes()


async def fetch_artifact_bytes_async(client: AsyncCTSClient, run_id: str, name: str) -> bytes:
    with tempfile.TemporaryDirectory(prefix="cts-artifact-") as tmp:
        path = await client.download_artifact(run_id, name, tmp)
        return Path(path).read_bytes()
