"""The warm template process of the local executor: imports the tools once, then forks each run.

A fresh interpreter that imports numpy, pandas and the tools takes around a second; a fork of one
that already has takes a few milliseconds. The template is single-threaded (so forking it is
safe), lives in its own session, and talks to the engine over a SOCK_SEQPACKET socket:

engine -> template: ``hello`` (sys.path, modules to preload), ``spawn`` (a job, with the run's three
pipes attached as file descriptors), ``kill`` (a run id).
template -> engine: ``ready``, ``spawned`` (run id, pid), ``exited`` (run id, exit code, usage).

It is the parent of every run, so it reaps them: when a run's leader exits it first kills whatever
is left in the run's process group, then reports. It is also a "child subreaper" (Linux): a
process a run started in a new session, whose parent then exited, is adopted by the template
instead of init, recognised by the ``CTS_RUN_ID`` in its environment, and killed with its run.
When the engine goes away (the socket closes) it kills every run it started and exits, so a
crashed server leaves no orphans behind.
"""

from __future__ import annotations

import importlib
import json
import os
import selectors
import signal
import socket
import sys
import traceback
from pathlib import Path
from typing import Any

from jupyter_cts.engine.forked_memory import freeze_inherited_objects
from jupyter_cts.engine.processes import kill_tree, killpg

MAX_MESSAGE = 1 << 20
RUN_FDS = 3  # messages, stdout, stderr
RUN_ID_ENV = "CTS_RUN_ID"
PR_SET_CHILD_SUBREAPER = 36


def main(control_fd: int) -> None:
    sock = socket.socket(fileno=control_fd)
    hello = _recv(sock)[0]
    if not hello:
        return
    sys.path[:] = hello.get("sys_path") or sys.path
    failed = _preload(hello.get("preload", []))
    freeze_inherited_objects()  # a run's garbage collector then never copies the template's objects
    _become_subreaper()
    try:
        _send(sock, op="ready", failed=failed, pid=os.getpid())
    except (BrokenPipeError, ConnectionError):
        return  # the engine stopped while we were preloading: nothing to serve
    Template(sock).serve()


def _become_subreaper() -> None:
    """Adopt the orphans of runs (Linux only; elsewhere they go to init as usual)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _preload(modules: list[str]) -> list[str]:
    """Import each module; call each ``module:attr.path`` (a tool's ``warm_up``). The failures."""
    failed = []
    for name in ["jupyter_cts.engine.child", "psutil", *modules]:
        try:
            module, _, attrs = name.partition(":")
            target: Any = importlib.import_module(module)
            if attrs:
                for attr in attrs.split("."):
                    target = getattr(target, attr)
                target()
        except BaseException as exc:  # noqa: BLE001 - a broken plugin must not take the template down
            if isinstance(exc, KeyboardInterrupt):
                raise
            failed.append(f"{name}: {type(exc).__name__}: {exc}")
    return failed


def _recv(sock: socket.socket) -> tuple[dict[str, Any] | None, list[int]]:
    data, fds, _flags, _addr = socket.recv_fds(sock, MAX_MESSAGE, RUN_FDS + 1)
    if not data:
        for fd in fds:
            os.close(fd)
        return None, []
    return json.loads(data), fds


def _send(sock: socket.socket, **message: Any) -> None:
    sock.send(json.dumps(message).encode())


class Template:
    """The fork loop. ``children`` maps each live run pid to its run id."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.children: dict[int, str] = {}
        self.sig_r, self.sig_w = os.pipe()
        os.set_blocking(self.sig_r, False)
        os.set_blocking(self.sig_w, False)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in a terminal is for the engine to handle
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.set_wakeup_fd(self.sig_w)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.sock, selectors.EVENT_READ, "control")
        self.selector.register(self.sig_r, selectors.EVENT_READ, "signal")

    def serve(self) -> None:
        try:
            while True:
                for key, _ in self.selector.select():
                    if key.data == "signal":
                        self._drain_signals()
                        self._reap()
                    elif not self._handle_request():
                        return
        except (BrokenPipeError, ConnectionError):
            pass
        finally:
            self._kill_everything()

    def _handle_request(self) -> bool:
        try:
            message, fds = _recv(self.sock)
        except (ConnectionError, OSError):
            return False
        if message is None:
            return False  # the engine closed the socket: stop
        op = message.get("op")
        if op == "spawn":
            self._spawn(message["job"], fds)
        elif op == "kill":
            for fd in fds:
                os.close(fd)
            self._kill_run(message["run_id"])
        return True

    def _spawn(self, job: dict[str, Any], fds: list[int]) -> None:
        run_id = job["run_id"]
        if len(fds) != RUN_FDS:
            for fd in fds:
                os.close(fd)
            _send(
                self.sock, op="spawn_failed", run_id=run_id, error=f"expected {RUN_FDS} pipes, got {len(fds)}"
            )
            return
        try:
            pid = os.fork()
        except OSError as exc:
            for fd in fds:
                os.close(fd)
            _send(self.sock, op="spawn_failed", run_id=run_id, error=f"cannot fork: {exc}")
            return
        if pid == 0:
            self._become_run(job, fds)
        try:
            os.setpgid(pid, pid)  # also done by the child; whichever runs first wins, no race
        except OSError:
            pass
        for fd in fds:
            os.close(fd)
        self.children[pid] = run_id
        _send(self.sock, op="spawned", run_id=run_id, pid=pid)

    def _become_run(self, job: dict[str, Any], fds: list[int]) -> None:
        code = 70
        try:
            signal.set_wakeup_fd(-1)
            self.selector.close()
            self.sock.close()
            os.close(self.sig_r)
            os.close(self.sig_w)
            os.environ[RUN_ID_ENV] = job["run_id"]  # inherited by everything the run starts
            from jupyter_cts.engine.child import run_job

            code = run_job(job, *fds)
        except BaseException:  # noqa: BLE001 - the run process must end here, whatever happened
            try:
                traceback.print_exc()
                sys.stderr.flush()
            except BaseException:  # noqa: BLE001
                pass
        finally:
            os._exit(code)

    def _drain_signals(self) -> None:
        try:
            while os.read(self.sig_r, 4096):
                pass
        except BlockingIOError:
            pass

    def _reap(self) -> None:
        while True:
            try:
                info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                return
            if info is None or info.si_pid == 0:
                return
            pid = info.si_pid
            # The leader is a zombie but still holds its pid: its group id cannot be reused yet.
            killpg(pid)
            _, status, usage = os.wait4(pid, 0)
            run_id = self.children.pop(pid, None)
            if run_id is not None:
                self._kill_adopted(run_id)
                _send(
                    self.sock,
                    op="exited",
                    run_id=run_id,
                    pid=pid,
                    returncode=os.waitstatus_to_exitcode(status),
                    cpu_s=usage.ru_utime + usage.ru_stime,
                    max_rss_mb=usage.ru_maxrss / 1024.0,
                )

    def _kill_run(self, run_id: str) -> None:
        for pid, rid in list(self.children.items()):
            if rid == run_id:
                kill_tree(pid)
        self._kill_adopted(run_id)

    def _kill_adopted(self, run_id: str | None) -> None:
        """Kill orphans of run ``run_id`` (every orphan when None) that this template adopted."""
        adopted = [pid for pid in _child_pids() if pid not in self.children]
        if not adopted:
            return
        import psutil

        for pid in adopted:
            try:
                owner = psutil.Process(pid).environ().get(RUN_ID_ENV)
            except Exception:  # noqa: BLE001 - gone, or a zombie waiting to be reaped
                continue
            if owner is not None and (run_id is None or owner == run_id):
                kill_tree(pid)

    def _kill_everything(self) -> None:
        for pid in list(self.children):
            kill_tree(pid)
        self._kill_adopted(None)
        for pid in list(self.children):
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass


def _child_pids() -> list[int]:
    """This process's children; /proc lists them directly (psutil would scan every process)."""
    files = list(Path(f"/proc/{os.getpid()}/task").glob("*/children"))
    try:
        if files:
            return [int(pid) for f in files for pid in f.read_text().split()]
    except OSError:
        pass
    import psutil

    return [p.pid for p in psutil.Process().children()]


if __name__ == "__main__":
    main(int(sys.argv[1]))
