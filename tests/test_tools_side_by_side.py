"""side_by_side: a tool's last step split over two CPUs when the run has them, with nothing lost."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from jupyter_cts.engine.fanout import PoolMapper
from jupyter_cts.tools.base import DirectoryContext, local_cpus, map_serial
from jupyter_cts.tools.side_by_side import side_by_side


def _writer(path: Path, text: str):
    def write() -> None:
        path.write_text(f"{text} {os.getpid()}")

    return write


def test_with_two_cpus_the_second_part_runs_in_another_process(tmp_path: Path) -> None:
    here, beside = tmp_path / "here", tmp_path / "beside"
    side_by_side(_writer(here, "here"), _writer(beside, "beside"), cpus=2)
    assert here.read_text() == f"here {os.getpid()}"
    assert beside.read_text().startswith("beside ") and beside.read_text() != f"beside {os.getpid()}"


def test_the_two_parts_overlap_in_time(tmp_path: Path) -> None:
    def nap() -> None:
        time.sleep(0.5)

    started = time.monotonic()
    side_by_side(nap, nap, cpus=2)
    assert time.monotonic() - started < 0.9  # both ~0.5 s, at once


def test_with_one_cpu_both_run_here_in_order(tmp_path: Path) -> None:
    order: list[str] = []
    side_by_side(lambda: order.append("here"), lambda: order.append("beside"), cpus=1)
    assert order == ["here", "beside"]


def test_a_copy_that_dies_has_its_part_done_here(tmp_path: Path) -> None:
    out = tmp_path / "beside"
    parent = os.getpid()

    def beside() -> None:
        if os.getpid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)  # killed mid-work (out of memory, ...)
        out.write_text("done here")

    side_by_side(lambda: None, beside, cpus=2)
    assert out.read_text() == "done here"


def test_an_error_in_the_copy_is_raised_from_here(tmp_path: Path) -> None:
    def beside() -> None:
        raise ValueError("bad plot input")

    with pytest.raises(ValueError, match="bad plot input"):
        side_by_side(lambda: None, beside, cpus=2)


def test_contexts_report_their_mappers_cpus(tmp_path: Path) -> None:
    assert local_cpus(DirectoryContext(tmp_path / "a")) == 1
    assert local_cpus(DirectoryContext(tmp_path / "b", mapper=map_serial)) == 1
    assert local_cpus(DirectoryContext(tmp_path / "c", mapper=PoolMapper(2))) == 2
    assert local_cpus(object()) == 1  # type: ignore[arg-type]  # a context that does not say
