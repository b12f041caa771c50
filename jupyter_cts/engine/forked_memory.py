"""Memory settings for processes that fork (the run template) and processes that are forks (runs).

A forked child shares its parent's pages until one of them writes to a page; the first write costs
a page fault and a 4 kB copy (several microseconds in a virtual machine). Two things made a run
write to far more pages than it used:

- Python's cyclic garbage collector. A full collection in the child visits every container object
  it inherited and writes to each one's header, so a run copied most of the template's heap: a
  third of a 30-segment analysis's combine step was page faults. Objects frozen in the parent
  (:func:`freeze_inherited_objects`) are never visited by a child's collector.
- glibc returning freed memory to the kernel. By default the top of the heap is released as soon
  as 128 kB or more is free, and every array above the (adaptive) mmap threshold is a fresh mapping,
  so each segment faulted in its temporaries anew. :func:`keep_freed_memory` lets a run reuse what
  it freed; a run is short-lived, so holding its peak until it exits costs nothing.
"""

from __future__ import annotations

import ctypes
import functools
import gc
import logging
import sys
from typing import Any

log = logging.getLogger(__name__)

# mallopt parameters (glibc's malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
TRIM_THRESHOLD = 1 << 30  # never give the heap back while the run lasts (it ends soon)
MMAP_THRESHOLD = 32 << 20  # glibc's largest: arrays below it come from the reused heap


def freeze_inherited_objects() -> None:
    """Collect, then freeze every object tracked by the GC, so that the children forked from now on
    never visit (and so never copy) them. For a process whose job is to fork: it never collects
    those objects again."""
    gc.collect()
    gc.freeze()


def keep_freed_memory() -> bool:
    """Make glibc keep freed memory for reuse instead of returning it to the kernel (see the module
    docstring). Inherited by the processes this one forks. False where there is no glibc."""
    mallopt = _mallopt()
    if mallopt is None:
        return False
    ok = bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)) and bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))
    if not ok:
        log.debug("mallopt refused the run's memory settings")
    return ok


@functools.cache
def _mallopt() -> Any:
    """glibc's ``mallopt``, looked up in the symbols already loaded (no library search: this runs
    in every run process); None elsewhere (musl and other C libraries have none)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return None
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return mallopt
