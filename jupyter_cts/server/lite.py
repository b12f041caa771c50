"""``cts-lite``: a Jupyter server with only the jupyter-cts extension, for shells and scripts.

It prints the URL and token on stdout (``CTS_URL=...`` and ``CTS_TOKEN=...`` lines a script can
parse) and serves until Ctrl-C or SIGTERM. Other options pass through to Jupyter, e.g.
``--CTSApp.max_concurrent_runs=2`` or ``--IdentityProvider.token=secret``.
"""

from __future__ import annotations

import argparse
import gc
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jupyter_server.serverapp import ServerApp


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cts-lite",
        description="Serve the jupyter-cts REST API (/v1) from a Jupyter server with no other extensions.",
        epilog="Examples:\n  cts-lite --port 8890 --root-dir ~/drives\n"
        "  cts-lite --port 0 --CTSApp.max_concurrent_runs=2   # any free port\n"
        "Then: export CTS_URL=... CTS_TOKEN=... (as printed) and use `cts cap`.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--port",
        type=int,
        default=8888,
        help="TCP port (0: any free port; default 8888, or the next free one).",
    )
    p.add_argument(
        "--ip", default="127.0.0.1", help="Interface to listen on (default 127.0.0.1, this machine only)."
    )
    p.add_argument(
        "--root-dir", default=".", help="Folder runs may read inputs from (default: the current folder)."
    )
    p.add_argument(
        "--data-dir",
        default=None,
        help="Where runs and uploads are stored (default: <jupyter data dir>/cts).",
    )
    return p


def build_server(argv: list[str] | None = None) -> ServerApp:
    """An initialized (bound, not yet serving) ServerApp with only jupyter_cts loaded."""
    args, passthrough = _parser().parse_known_args(argv)
    from jupyter_server.serverapp import ServerApp  # after argument parsing: `--help` stays instant

    root = Path(args.root_dir).expanduser().resolve()
    if not root.is_dir():
        raise SystemExit(f"cts-lite: --root-dir {root} is not a folder; create it or pick another one.")
    extra = [f"--CTSApp.data_dir={Path(args.data_dir).expanduser().resolve()}"] if args.data_dir else []
    app = ServerApp.instance(
        jpserver_extensions={"jupyter_cts": True},
        open_browser=False,
        ip=args.ip,
        port=args.port,
        port_retries=0 if args.port else 50,
        root_dir=str(root),
    )
    # find_extensions=False: other installed extensions (JupyterLab, ...) stay out of this server.
    app.initialize(argv=[*extra, *passthrough], find_extensions=False)
    return app


def banner(app: ServerApp) -> str:
    url = app.connection_url
    token = app.identity_provider.token or ""
    return (
        f"cts-lite is serving jupyter-cts at {url}\n"
        f"  CTS_URL={url}\n"
        f"  CTS_TOKEN={token}\n"
        f"  try: curl -H 'Authorization: token {token}' {url}v1/health\n"
        "Press Ctrl-C to stop.\n"
    )


def main(argv: list[str] | None = None) -> int:
    app = build_server(argv)
    sys.stdout.write(banner(app))
    sys.stdout.flush()
    _freeze_startup_objects()
    app.start()
    return 0


def _freeze_startup_objects() -> None:
    """Move everything the imports and set-up created out of the cyclic GC's reach.

    A full collection walks every tracked object; in a Jupyter server that is mostly modules and
    classes that live forever, and it took 100-130 ms (every request waiting meanwhile) a few times
    a minute under polling load. Frozen, they are skipped and full collections stay short."""
    gc.collect()
    gc.freeze()


class LiteProcess:
    """A ``cts-lite`` started as a subprocess (demo, benchmarks, tests): its URL, token and process."""

    def __init__(
        self, proc: subprocess.Popen[str], url: str, token: str, root_dir: Path, log_path: Path | None
    ) -> None:
        self.proc = proc
        self.url = url
        self.token = token
        self.root_dir = root_dir
        self.log_path = log_path

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"token {self.token}"}

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM (Jupyter's clean shutdown: extensions stop, runs are killed), then SIGKILL if it hangs."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode

    def __enter__(self) -> LiteProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def launch(
    root_dir: str | Path,
    *,
    data_dir: str | Path | None = None,
    port: int = 0,
    args: list[str] | None = None,
    env: dict[str, str] | None = None,
    log_path: str | Path | None = None,
    startup_timeout: float = 60.0,
) -> LiteProcess:
    """Start ``cts-lite`` in a subprocess and wait until it printed its URL and token and answers."""
    cmd = [sys.executable, "-m", "jupyter_cts.server.lite", "--port", str(port), "--root-dir", str(root_dir)]
    if data_dir is not None:
        cmd += ["--data-dir", str(data_dir)]
    cmd += args or []
    log = open(log_path, "w") if log_path else subprocess.DEVNULL  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=log, text=True, env=env, start_new_session=True
    )
    if log_path:
        log.close()  # type: ignore[union-attr]
    found: dict[str, str] = {}
    lines: queue.Queue[str | None] = queue.Queue()
    threading.Thread(target=_pump, args=(proc, lines), daemon=True).start()
    deadline = time.monotonic() + startup_timeout
    while not {"CTS_URL", "CTS_TOKEN"} <= found.keys():
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            line = None
        if line is None:
            proc.kill()
            proc.wait(5)
            where = f"; see {log_path}" if log_path else ""
            raise RuntimeError(f"cts-lite did not start (exit code {proc.returncode}){where}")
        key, _, value = line.strip().partition("=")
        if key in ("CTS_URL", "CTS_TOKEN"):
            found[key] = value
    server = LiteProcess(
        proc, found["CTS_URL"], found["CTS_TOKEN"], Path(root_dir), Path(log_path) if log_path else None
    )
    _wait_healthy(server, deadline)
    return server


def _pump(proc: subprocess.Popen[str], lines: queue.Queue[str | None]) -> None:
    """Keep reading stdout so the server never blocks on a full pipe."""
    assert proc.stdout is not None
    for line in proc.stdout:
        lines.put(line)
    lines.put(None)


def _wait_healthy(server: LiteProcess, deadline: float) -> None:
    import httpx

    while True:
        try:
            if httpx.get(f"{server.url}v1/health", headers=server.headers, timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline or server.proc.poll() is not None:
            server.stop()
            raise RuntimeError("cts-lite printed its URL but never answered GET v1/health")
        time.sleep(0.1)


if __name__ == "__main__":
    sys.exit(main())
