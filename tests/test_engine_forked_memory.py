"""Run processes neither copy the template's objects nor hand their freed memory back to the kernel."""

from __future__ import annotations

import gc
import multiprocessing
import resource
import sys
from typing import Any

import pytest

from jupyter_cts.engine.forked_memory import freeze_inherited_objects, keep_freed_memory

FORK = multiprocessing.get_context("fork")


def _pages_copied_by_a_full_collection(queue: Any) -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    gc.collect()
    queue.put(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)


def _collect_in_a_child() -> int:
    queue = FORK.Queue()
    child = FORK.Process(target=_pages_copied_by_a_full_collection, args=(queue,))
    child.start()
    faults: int = queue.get(timeout=60)
    child.join()
    return faults


def test_a_child_collector_copies_no_frozen_objects() -> None:
    inherited = [{"segment": i, "partial": [i]} for i in range(200_000)]  # ~40 MB of tracked objects
    copied = _collect_in_a_child()
    freeze_inherited_objects()
    try:
        frozen_copied = _collect_in_a_child()
    finally:
        gc.unfreeze()
    del inherited
    assert copied > 5_000  # a page per few dozen objects: the child copied most of the heap
    assert frozen_copied < copied / 10


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt is glibc's (Linux)")
def test_glibc_takes_the_run_memory_settings() -> None:
    queue = FORK.Queue()
    child = FORK.Process(target=lambda: queue.put(keep_freed_memory()))  # not in this test process
    child.start()
    assert queue.get(timeout=30) is True
    child.join()
