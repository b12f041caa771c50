"""When things go wrong, ``cts`` says what happened and what to do, and exits with the SPEC's code:
1 for usage mistakes and requests the server refuses, 2 when the server cannot be reached, refuses
the token, or lacks the extension."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from cli_harness import SLEEPER, Server, clean_env, cts, free_port, start_cts


def test_a_server_that_is_down_exits_2_and_says_how_to_start_one(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/"

    result = cts(["cap"], env=clean_env(tmp_path, CTS_URL=url, CTS_TOKEN="whatever"))

    assert result.code == 2, result
    assert f"cannot reach the jupyter-cts server at {url}" in result.stderr
    assert "cts-lite" in result.stderr
    assert "Traceback" not in result.stderr


def test_no_server_anywhere_exits_2_naming_where_it_looked(tmp_path: Path) -> None:
    runtime = tmp_path / "runtime"
    runtime.mkdir()

    result = cts(["runs"], env=clean_env(runtime))

    assert result.code == 2, result
    assert "no jupyter-cts server found" in result.stderr
    assert str(runtime) in result.stderr


def test_a_jupyter_server_without_the_extension_is_named_as_such(plain_jupyter: Server) -> None:
    result = cts(["cap"], env=plain_jupyter.env())

    assert result.code == 2, result
    assert "the jupyter_cts extension is not enabled on that server" in result.stderr
    assert "jupyter server extension enable jupyter_cts" in result.stderr
    assert "Traceback" not in result.stderr and "JSON" not in result.stderr


def test_discovery_skips_a_jupyter_server_without_the_extension(plain_jupyter: Server) -> None:
    """The plain server's runtime file is found, probed, and passed over: nothing else is running."""
    assert list(plain_jupyter.runtime_dir.glob("jpserver-*.json")), "the plain server wrote its runtime file"

    result = cts(["cap"], env=clean_env(plain_jupyter.runtime_dir))

    assert result.code == 2, result
    assert (
        "1 running Jupyter server(s)" in result.stderr
        and "none with the jupyter_cts extension" in result.stderr
    )


def test_a_wrong_token_exits_2_and_says_which_token_to_use(cts_lite: Server) -> None:
    result = cts(["cap"], env=cts_lite.env(CTS_TOKEN="not-the-token"))

    assert result.code == 2, result
    assert "token is missing or wrong" in result.stderr
    assert "--token" in result.stderr and "CTS_TOKEN" in result.stderr


def test_a_missing_token_exits_2(cts_lite: Server) -> None:
    env = cts_lite.env()
    del env["CTS_TOKEN"]
    runtime_without_files = cts_lite.runtime_dir.parent / "empty-runtime"
    runtime_without_files.mkdir(exist_ok=True)
    env["JUPYTER_RUNTIME_DIR"] = str(runtime_without_files)  # so no runtime file lends the token

    result = cts(["runs"], env=env)

    assert result.code == 2, result
    assert "token is missing or wrong" in result.stderr


def test_usage_mistakes_exit_1_before_reaching_any_server(tmp_path: Path) -> None:
    env = clean_env(tmp_path, CTS_URL=f"http://127.0.0.1:{free_port()}/")
    log = tmp_path / "rlog.zst"
    log.write_bytes(b"not really a log")

    not_key_value = cts(["run", "cruise-control-analyzer", "--path", "x", "-p", "speed_min"], env=env)
    both_inputs = cts(["run", "cruise-control-analyzer", "--path", "x", "--upload", str(log)], env=env)
    no_such_command = cts(["frobnicate"], env=env)
    bad_choice = cts(["runs", "--status", "sleeping"], env=env)

    assert not_key_value.code == 1 and "is not KEY=VALUE" in not_key_value.stderr, not_key_value
    assert both_inputs.code == 1 and "either --path or --upload" in both_inputs.stderr, both_inputs
    assert no_such_command.code == 1 and "No such command" in no_such_command.stderr, no_such_command
    assert bad_choice.code == 1 and "sleeping" in bad_choice.stderr, bad_choice


def test_an_unknown_run_id_exits_1_and_names_it(cts_lite: Server) -> None:
    for command in (
        ["status", "nosuchrun"],
        ["logs", "nosuchrun"],
        ["cancel", "nosuchrun"],
        ["result", "nosuchrun"],
    ):
        result = cts(command, env=cts_lite.env())
        assert result.code == 1, result
        assert "nosuchrun" in result.stderr, result


class _FlakyServer:
    """A real HTTP server that answers 503 to the first request of each kind, then answers properly.

    It stands in for a server behind a proxy that hiccups: reads may be retried, a run start may not
    (a retried POST could start the analysis twice).
    """

    def __init__(self) -> None:
        self.requests: list[tuple[str, str]] = []
        outer = self
        tool = {
            "id": "demo-tool",
            "name": "Demo",
            "description": "",
            "category": "analysis",
            "version": "1",
            "input": "none",
            "params_schema": {"type": "object", "properties": {}},
        }

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                outer.requests.append((self.command, self.path))
                if sum(1 for r in outer.requests if r == (self.command, self.path)) == 1:
                    return self._answer(503, {"message": "Service Unavailable", "reason": None})
                if self.path.startswith("/v1/runs?"):
                    return self._answer(200, {"runs": [], "total": 0})
                if self.path == "/v1/tools/demo-tool":
                    return self._answer(200, tool)
                return self._answer(404, {"message": "nothing here", "reason": "Not Found"})

            do_GET = do_POST = _handle  # noqa: N815

            def _answer(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_reads_are_retried_after_a_503_but_a_run_start_is_not(tmp_path: Path) -> None:
    server = _FlakyServer()
    try:
        env = clean_env(tmp_path, CTS_URL=server.url, CTS_TOKEN="t")

        listing = cts(["runs"], env=env)
        start = cts(["run", "demo-tool"], env=env)
    finally:
        server.close()

    assert listing.code == 0, listing
    assert server.requests.count(("GET", "/v1/runs?limit=20")) == 2, "one 503, then the retry that worked"
    assert start.code == 2, start
    assert "503" in start.stderr
    assert server.requests.count(("POST", "/v1/runs")) == 1, "a POST is never sent twice"


class _CuttableLink:
    """A TCP forwarder to a server, whose cable can be cut: the server goes on, we lose it."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/"
        self.open: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            self.open += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)

    def cut(self) -> None:
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept(); close() alone does not
        self.listener.close()
        for sock in self.open:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


def test_losing_the_server_while_waiting_exits_2_saying_the_run_goes_on(cts_lite: Server) -> None:
    link = _CuttableLink(urlsplit(cts_lite.url).port or 80)
    waiting = start_cts(["run", SLEEPER, "-p", "seconds=3", "--wait"], env=cts_lite.env(CTS_URL=link.url))
    assert waiting.stderr is not None
    run_id = waiting.stderr.readline().split()[1]
    deadline = time.monotonic() + 30
    while cts_lite.get_run(run_id)["status"] != "running":
        assert time.monotonic() < deadline, "the run starts"
        time.sleep(0.05)

    link.cut()
    _, stderr = waiting.communicate(timeout=30)

    assert waiting.returncode == 2, stderr
    assert f"cannot reach the jupyter-cts server at {link.url}" in stderr
    assert f"Run {run_id} may still be going: check it with `cts status {run_id}`" in stderr
    assert cts_lite.wait_final(run_id)["status"] == "completed", "and it did go on"
