"""side_by_side: a tool's last step split over two CPUs when the run has them, with nothing lost.

The second CPU is a helper process forked when the run starts; the work it gets is pickled.
"""

from __future__ import annotations

import os
import signal
import time
from functools import partial
from pathlib import Path

import psutil
import pytest

from jupyter_cts.engine.fanout import PoolMapper
from jupyter_cts.tools.base import DirectoryContext, local_cpus, map_serial
from jupyter_cts.tools.side_by_side import Helper, side_by_side


def _write_pid(path: Path, text: str) -> None:
    path.write_text(f"{text} {os.getpid()}")


def _nap() -> None:
    time.sleep(0.5)


def _die_unless_in(parent: int, out: Path) -> None:
    if os.getpid() != parent:
        os.kill(os.getpid(), signal.SIGKILL)  # killed mid-work (out of memory, ...)
    out.write_text("done here")


def _fail() -> None:
    raise ValueError("bad plot input")


def test_with_two_cpus_the_second_part_runs_in_the_helper(tmp_path: Path) -> None:
    here, beside = tmp_path / "here", tmp_path / "beside"
    side_by_side(
        partial(_write_pid, here, "here"), partial(_write_pid, beside, "beside"), helper=Helper.start(2)
    )
    assert here.read_text() == f"here {os.getpid()}"
    assert beside.read_text().startswith("beside ") and beside.read_text() != f"beside {os.getpid()}"


def test_the_two_parts_overlap_in_time() -> None:
    helper = Helper.start(2)
    started = time.monotonic()
    side_by_side(_nap, _nap, helper=helper)
    assert time.monotonic() - started < 0.9  # both ~0.5 s, at once


def test_with_one_cpu_there_is_no_helper_and_both_run_here_in_order() -> None:
    order: list[str] = []
    helper = Helper.start(1)
    assert helper is None
    side_by_side(lambda: order.append("here"), lambda: order.append("beside"), helper=helper)
    assert order == ["here", "beside"]


def test_work_that_cannot_be_pickled_runs_here() -> None:
    order: list[str] = []
    side_by_side(lambda: order.append("here"), lambda: order.append("beside"), helper=Helper.start(2))
    assert order == ["here", "beside"]


def test_a_helper_that_dies_has_its_part_done_here(tmp_path: Path) -> None:
    out = tmp_path / "beside"
    side_by_side(lambda: None, partial(_die_unless_in, os.getpid(), out), helper=Helper.start(2))
    assert out.read_text() == "done here"


def test_an_error_in_the_helper_is_raised_from_here() -> None:
    with pytest.raises(ValueError, match="bad plot input") as raised:
        side_by_side(lambda: None, _fail, helper=Helper.start(2))
    assert raised.traceback[-1].frame.f_globals["__name__"] == __name__  # raised again in this process


def test_an_unused_helper_exits_when_closed() -> None:
    helper = Helper.start(2)
    assert helper is not None
    pid = helper._process.pid
    helper.close()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def _ready(out: Path) -> str:
    out.write_text(f"prepared in {os.getpid()} at {time.monotonic()}")
    return "ready"


def _record(out: Path, prepared: str | None = None) -> None:
    out.write_text(f"{prepared} in {os.getpid()} at {time.monotonic()}")


def _not_ready() -> str:
    raise OSError("no fonts")


def test_a_helper_prepares_at_once_and_its_work_gets_what_it_prepared(tmp_path: Path) -> None:
    prepared, work = tmp_path / "prepared", tmp_path / "work"
    helper = Helper.start(2, prepare=partial(_ready, prepared))
    time.sleep(0.5)  # the caller busy with something else: the helper gets ready meanwhile
    sent = time.monotonic()
    side_by_side(lambda: None, partial(_record, work), helper=helper)
    ready_pid, ready_at = prepared.read_text().removeprefix("prepared in ").split(" at ")
    got, work_pid, _ = work.read_text().replace(" in ", " at ").split(" at ")
    assert got == "ready" and work_pid == ready_pid != str(os.getpid())
    assert float(ready_at) < sent  # prepared before the work was sent, not after


def test_a_helper_that_cannot_get_ready_still_does_the_work_from_scratch(tmp_path: Path) -> None:
    work = tmp_path / "work"
    side_by_side(lambda: None, partial(_record, work), helper=Helper.start(2, prepare=_not_ready))
    got, pid = work.read_text().split(" at ")[0].split(" in ")
    assert got == "None" and pid != str(os.getpid())  # in the helper, with nothing prepared


def test_work_done_here_gets_nothing_prepared(tmp_path: Path) -> None:
    work = tmp_path / "work"
    side_by_side(lambda: None, partial(_record, work), helper=Helper.start(1, prepare=_not_ready))
    assert work.read_text().startswith(f"None in {os.getpid()} ")


def test_contexts_report_their_mappers_cpus(tmp_path: Path) -> None:
    assert local_cpus(DirectoryContext(tmp_path / "a")) == 1
    assert local_cpus(DirectoryContext(tmp_path / "b", mapper=map_serial)) == 1
    assert local_cpus(DirectoryContext(tmp_path / "c", mapper=PoolMapper(2))) == 2
    assert local_cpus(object()) == 1  # type: ignore[arg-type]  # a context that does not say
