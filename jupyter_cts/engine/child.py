"""The inside of a run process: set up its plumbing, run the tool, report how it ended.

The process gets three pipes from the engine: messages (JSON lines: log records, progress,
artifact notices, the outcome), stdout and stderr. stdout/stderr are redirected at the file
descriptor level, so prints from C extensions and from the tool's own subprocesses reach the run
log too. The process leads its own process group, so the engine can kill it with everything it
started. Any executor can call :func:`run_job` in a fresh process.
"""

from __future__ import annotations

import faulthandler
import importlib
import io
import logging
import os
import signal
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Any

from jupyter_cts.engine.context import Channel, RunContext
from jupyter_cts.engine.fanout import make_mapper
from jupyter_cts.engine.forked_memory import keep_freed_memory
from jupyter_cts.errors import CTSError
from jupyter_cts.jsonable import dumps_any

EXIT_OK = 0
EXIT_TOOL_FAILED = 1


class ChannelHandler(logging.Handler):
    """Sends every log record of the tool (and of the libraries it uses) to the engine."""

    def __init__(self, channel: Channel) -> None:
        super().__init__(logging.INFO)
        self._channel = channel

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
            if record.exc_info:
                message += "\n" + "".join(traceback.format_exception(*record.exc_info)).rstrip()
            elif record.exc_text:
                message += "\n" + record.exc_text
            self._channel.send(
                t="log", level=record.levelname, message=message, time=record.created, logger=record.name
            )
        except Exception:  # noqa: BLE001 - logging must never break the tool
            self.handleError(record)


def run_job(job: dict[str, Any], msg_fd: int, out_fd: int, err_fd: int) -> int:
    """Run one job in this (fresh, dedicated) process; returns the process exit code."""
    try:
        os.setpgid(0, 0)
    except OSError:
        pass  # already a group leader (the template made us one)
    _redirect_stdio(out_fd, err_fd)
    os.set_inheritable(msg_fd, False)
    channel = Channel(msg_fd)
    _reset_signals()
    _install_logging(channel)
    faulthandler.enable(file=sys.stderr, all_threads=True)
    if job.get("sys_path"):
        sys.path[:] = job["sys_path"]
    _enter_scratch_dir(Path(job["run_dir"]))
    keep_freed_memory()  # and so do the segment workers it forks
    log = logging.getLogger("jupyter_cts.engine.run")
    ctx: RunContext | None = None
    try:
        mapper = make_mapper(job.get("segment_mapper"), job["run_id"])
        ctx = RunContext(job["run_id"], Path(job["artifacts_dir"]), channel, mapper=mapper)
        tool_cls = load_tool(job["tool_ref"])
        params = tool_cls.Params.model_validate(job["params"])
        result = tool_cls().run([Path(p) for p in job["inputs"]], params, ctx)
        if not isinstance(result, dict):
            raise TypeError(f"the tool returned {type(result).__name__}, not a dict")
        _write_json(Path(job["run_dir"]) / "result.json", result)
        ctx.flush()
        channel.send(t="done")
        return EXIT_OK
    except BaseException as exc:  # noqa: BLE001 - every ending must be reported, even SystemExit
        if ctx is not None:
            ctx.flush()
        log.error("the tool failed: %s", describe_exception(exc), exc_info=not isinstance(exc, CTSError))
        channel.send(t="error", error=describe_exception(exc))
        return EXIT_TOOL_FAILED
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:  # noqa: BLE001
                pass


def describe_exception(exc: BaseException) -> str:
    """One sentence a user can act on. Our own errors already are; others get their type named."""
    if isinstance(exc, CTSError):
        return str(exc)
    if isinstance(exc, SystemExit):
        return f"the tool called sys.exit({exc.code!r}) instead of returning a result"
    if isinstance(exc, KeyboardInterrupt):
        return "the tool was interrupted"
    lines = str(exc).strip().splitlines()
    text = f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
    return f"{text} (see the run log for the traceback)"


def load_tool(ref: str) -> Any:
    """``package.module:Class`` -> the class (the same one the registry checked)."""
    module_name, _, qualname = ref.partition(":")
    obj: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def _redirect_stdio(out_fd: int, err_fd: int) -> None:
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(out_fd, 1)
    os.dup2(err_fd, 2)
    os.close(out_fd)
    os.close(err_fd)
    # Line buffered, so each printed line reaches the run log as it is printed.
    # (sys.__stdout__ & co. too: some libraries write there to bypass redirection)
    sys.stdout = sys.__stdout__ = _text(1, "w")  # type: ignore[misc]
    sys.stderr = sys.__stderr__ = _text(2, "w")  # type: ignore[misc]
    sys.stdin = sys.__stdin__ = _text(0, "r")  # type: ignore[misc]


def _text(fd: int, mode: str) -> io.TextIOWrapper:
    stream = open(fd, mode, buffering=1, encoding="utf-8", errors="replace", closefd=False)  # noqa: SIM115
    assert isinstance(stream, io.TextIOWrapper)
    return stream


def _reset_signals() -> None:
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)


def _install_logging(channel: Channel) -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    root.addHandler(ChannelHandler(channel))
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)


def _enter_scratch_dir(run_dir: Path) -> None:
    """Stray temporary files land in the run folder, never in the server's working directory."""
    scratch = run_dir / "tmp"
    scratch.mkdir(parents=True, exist_ok=True)
    os.chdir(scratch)
    os.environ["TMPDIR"] = str(scratch)
    tempfile.tempdir = None


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(dumps_any(data), encoding="utf-8")
    os.replace(tmp, path)
