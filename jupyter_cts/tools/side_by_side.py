"""Two independent pieces of a tool's last step at once, when the run may use a second CPU here.

Once a route's segments are combined, what is left (the plot and the report, the exports and
``result.json``) runs in the run process alone while the CPUs the segment workers used sit idle.
:func:`side_by_side` runs ``beside`` in a forked copy of the process, which shares every array
already in memory (nothing is pickled), while ``here`` runs in the caller. With one CPU, or
where fork does not exist, both run here, one after the other.

Nothing is lost if the copy fails: whatever it did not finish is done here afterwards, so an
error is raised from the caller's own process with its own traceback.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import sys
from collections.abc import Callable

log = logging.getLogger(__name__)


def side_by_side(here: Callable[[], None], beside: Callable[[], None], *, cpus: int) -> None:
    """``here()`` and ``beside()``, at the same time when ``cpus >= 2``; both done when this returns."""
    if cpus < 2 or not hasattr(os, "fork") or sys.platform == "darwin":
        here()
        beside()
        return
    try:
        fork = multiprocessing.get_context("fork")
        copy = fork.Process(target=beside, name="cts-side-by-side", daemon=True)
        copy.start()
    except OSError as err:  # no memory or no process slots for a fork: do it all here
        log.debug("could not fork for side_by_side (%s); running both here", err)
        here()
        beside()
        return
    try:
        here()
    finally:
        copy.join()
    if copy.exitcode != 0:
        log.warning("the forked copy ended with exit code %s; finishing its part here", copy.exitcode)
        beside()
