"""How the client finds its server when nobody gives it a URL.

Each story writes real ``jpserver-<pid>.json`` runtime files (for live processes, as Jupyter does)
into a temporary runtime folder, next to small real HTTP servers: one answering ``/v1/health`` as
the extension does (and checking the token), one answering HTML as a Jupyter server without the
extension does. The end-to-end story against a real ``cts-lite`` is in test_cli_run.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from jupyter_cts.client import CTSClient, ServerNotFoundError, find_server
from jupyter_cts.client.discovery import normalize_url


class _Server:
    """A real HTTP server on 127.0.0.1 that either has the extension (health JSON) or does not (HTML)."""

    def __init__(self, *, extension: bool, token: str) -> None:
        outer = self
        self.token = token
        self.seen_auth: list[str | None] = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                outer.seen_auth.append(self.headers.get("Authorization"))
                if not extension or self.path != "/v1/health":
                    self._answer(404, "text/html", b"<html><body>404 : Not Found</body></html>")
                elif self.headers.get("Authorization") != f"token {outer.token}":
                    self._answer(403, "application/json", b'{"message": "Forbidden", "reason": null}')
                else:
                    body = {"status": "ok", "version": "test", "runs_queued": 0, "runs_running": 0}
                    self._answer(200, "application/json", json.dumps(body).encode())

            def _answer(self, status: int, kind: str, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def runtime_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "runtime"
    folder.mkdir()
    return folder


@pytest.fixture
def servers() -> Iterator[list[_Server]]:
    made: list[_Server] = []
    yield made
    for server in made:
        server.close()


@pytest.fixture
def new_pid() -> Iterator[Callable[[], int]]:
    """Pids of real sleeping processes: runtime files only count while their pid is alive."""
    procs: list[subprocess.Popen[bytes]] = []

    def spawn() -> int:
        proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
        procs.append(proc)
        return proc.pid

    yield spawn
    for proc in procs:
        proc.kill()
        proc.wait()


def start(servers: list[_Server], *, extension: bool, token: str) -> _Server:
    server = _Server(extension=extension, token=token)
    servers.append(server)
    return server


def write_runtime_file(folder: Path, pid: int, url: str, token: str, root_dir: Path) -> Path:
    """What jupyter_server's ``write_server_info_file`` writes, for a server at ``url``."""
    path = folder / f"jpserver-{pid}.json"
    parts = urlsplit(url)
    info = {
        "url": url,
        "token": token,
        "pid": pid,
        "root_dir": str(root_dir),
        "base_url": parts.path,
        "hostname": parts.hostname,
        "port": parts.port,
        "secure": False,
        "password": False,
        "sock": "",
        "version": "2",
    }
    path.write_text(json.dumps(info))
    return path


def test_an_explicit_url_wins_over_every_other_source(runtime_dir: Path) -> None:
    env = {"CTS_URL": "http://elsewhere:1/", "CTS_TOKEN": "env-token", "JUPYTERHUB_API_TOKEN": "hub"}

    found = find_server("localhost:9999/base", "mine", environ=env, runtime_dir=runtime_dir)

    assert found.url == "http://localhost:9999/base/"
    assert found.token == "mine"
    assert found.source == "the --url option"


def test_cts_url_and_token_come_from_the_environment(runtime_dir: Path) -> None:
    env = {"CTS_URL": "http://10.0.0.5:8888", "CTS_TOKEN": "abc", "JUPYTER_CTS_URL": "http://kernel:1/"}

    found = find_server(environ=env, runtime_dir=runtime_dir)

    assert (found.url, found.token, found.source) == ("http://10.0.0.5:8888/", "abc", "CTS_URL")


def test_a_kernel_started_by_the_extension_uses_what_it_was_given(runtime_dir: Path) -> None:
    env = {
        "JUPYTER_CTS_URL": "http://127.0.0.1:7777/lab-base/",
        "JUPYTER_CTS_TOKEN": "kernel-token",
        "JUPYTERHUB_API_TOKEN": "hub",
        "JUPYTERHUB_SERVICE_URL": "http://127.0.0.1:1/user/a/",
    }

    found = find_server(environ=env, runtime_dir=runtime_dir)

    assert (found.url, found.token) == ("http://127.0.0.1:7777/lab-base/", "kernel-token")


def test_jupyterhub_single_user_servers_use_the_service_url_and_api_token(runtime_dir: Path) -> None:
    env = {
        "JUPYTERHUB_API_TOKEN": "hub-token",
        "JUPYTERHUB_SERVICE_PREFIX": "/user/alice/",
        "JUPYTERHUB_SERVICE_URL": "http://127.0.0.1:38001/",
    }

    found = find_server(environ=env, runtime_dir=runtime_dir)

    assert (found.url, found.token) == ("http://127.0.0.1:38001/user/alice/", "hub-token")


def test_jupyterhub_prefix_alone_finds_the_local_server_serving_it(
    runtime_dir: Path, tmp_path: Path, new_pid: Callable[[], int]
) -> None:
    write_runtime_file(runtime_dir, new_pid(), "http://127.0.0.1:8001/other/", "t1", tmp_path)
    write_runtime_file(runtime_dir, new_pid(), "http://127.0.0.1:8002/user/alice/", "", tmp_path)
    env = {"JUPYTERHUB_API_TOKEN": "hub-token", "JUPYTERHUB_SERVICE_PREFIX": "/user/alice/"}

    found = find_server(environ=env, runtime_dir=runtime_dir)

    assert (found.url, found.token) == ("http://127.0.0.1:8002/user/alice/", "hub-token")


def test_runtime_files_lead_to_the_one_server_with_the_extension(
    runtime_dir: Path, tmp_path: Path, servers: list[_Server], new_pid: Callable[[], int]
) -> None:
    plain = start(servers, extension=False, token="plain-token")
    cts = start(servers, extension=True, token="cts-token")
    write_runtime_file(runtime_dir, new_pid(), plain.url, plain.token, tmp_path)
    write_runtime_file(runtime_dir, new_pid(), cts.url, cts.token, tmp_path)

    found = find_server(environ={}, runtime_dir=runtime_dir)

    assert (found.url, found.token) == (cts.url, "cts-token")
    assert found.source.startswith("the runtime file")
    assert "token cts-token" in cts.seen_auth, "the probe must send the server's own token"


def test_with_several_the_server_that_started_this_kernel_wins(
    runtime_dir: Path, tmp_path: Path, servers: list[_Server], new_pid: Callable[[], int]
) -> None:
    first = start(servers, extension=True, token="one")
    second = start(servers, extension=True, token="two")
    first_pid, second_pid = new_pid(), new_pid()
    write_runtime_file(runtime_dir, first_pid, first.url, first.token, tmp_path / "a")
    write_runtime_file(runtime_dir, second_pid, second.url, second.token, tmp_path / "b")

    for pid, expected in ((first_pid, first), (second_pid, second)):
        found = find_server(environ={"JPY_PARENT_PID": str(pid)}, runtime_dir=runtime_dir)
        assert found.url == expected.url and found.pid == pid


def test_with_several_the_server_holding_the_notebook_wins(
    runtime_dir: Path, tmp_path: Path, servers: list[_Server], new_pid: Callable[[], int]
) -> None:
    first = start(servers, extension=True, token="one")
    second = start(servers, extension=True, token="two")
    (tmp_path / "a").mkdir()
    (tmp_path / "b" / "work").mkdir(parents=True)
    write_runtime_file(runtime_dir, new_pid(), first.url, first.token, tmp_path / "a")
    write_runtime_file(runtime_dir, new_pid(), second.url, second.token, tmp_path / "b")
    notebook = tmp_path / "b" / "work" / "analysis.ipynb"

    found = find_server(environ={"JPY_SESSION_NAME": str(notebook)}, runtime_dir=runtime_dir)

    assert found.url == second.url and found.token == "two"


def test_runtime_files_of_dead_servers_are_ignored(
    runtime_dir: Path, tmp_path: Path, servers: list[_Server]
) -> None:
    cts = start(servers, extension=True, token="tok")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = write_runtime_file(runtime_dir, dead.pid, cts.url, cts.token, tmp_path)

    with pytest.raises(ServerNotFoundError) as raised:
        find_server(environ={}, runtime_dir=runtime_dir)

    assert "no running Jupyter server" in str(raised.value)
    assert stale.exists(), "a client only reads runtime files; cleaning them is the server's business"


def test_nothing_found_says_where_it_looked_and_what_to_do(
    runtime_dir: Path, tmp_path: Path, servers: list[_Server], new_pid: Callable[[], int]
) -> None:
    plain = start(servers, extension=False, token="x")
    write_runtime_file(runtime_dir, new_pid(), plain.url, plain.token, tmp_path)

    with pytest.raises(ServerNotFoundError) as raised:
        find_server(environ={}, runtime_dir=runtime_dir)

    message = str(raised.value)
    assert str(runtime_dir) in message
    assert "1 running Jupyter server(s)" in message and "none with the jupyter_cts extension" in message
    assert "cts-lite" in message and "--url" in message


def test_an_explicit_url_without_token_borrows_it_from_that_servers_runtime_file(
    runtime_dir: Path, tmp_path: Path, servers: list[_Server], new_pid: Callable[[], int]
) -> None:
    cts = start(servers, extension=True, token="from-file")
    write_runtime_file(runtime_dir, new_pid(), cts.url, cts.token, tmp_path)
    same_server_other_spelling = cts.url.replace("127.0.0.1", "localhost")

    found = find_server(same_server_other_spelling, environ={}, runtime_dir=runtime_dir)

    assert found.token == "from-file"


def test_the_client_sends_the_token_it_found(
    runtime_dir: Path,
    tmp_path: Path,
    servers: list[_Server],
    new_pid: Callable[[], int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cts = start(servers, extension=True, token="secret")
    write_runtime_file(runtime_dir, new_pid(), cts.url, cts.token, tmp_path)
    for var in ("CTS_URL", "CTS_TOKEN", "JUPYTER_CTS_URL", "JUPYTERHUB_API_TOKEN", "JPY_PARENT_PID"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(runtime_dir))

    with CTSClient() as client:
        health = client.health()

    assert health.status == "ok"
    assert cts.seen_auth[-1] == "token secret"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("localhost:8888", "http://localhost:8888/"),
        ("https://hub.example/user/a", "https://hub.example/user/a/"),
        ("http://127.0.0.1:1/a%40b//", "http://127.0.0.1:1/a%40b/"),
    ],
)
def test_urls_are_normalized_to_a_base_with_one_trailing_slash(given: str, expected: str) -> None:
    assert normalize_url(given) == expected
