"""Two independent pieces of a tool's last step at once, when the run has a second CPU here.

Once a route's segments are combined, what is left (the plot and the report, the exports and
``result.json``) runs in the run process while the CPUs the segment workers used sit idle.
:func:`side_by_side` runs ``beside`` in a :class:`Helper`, a copy of the run process forked when the
run started, while ``here`` runs in the caller. With one CPU, or where fork does not exist, both
run here, one after the other.

A helper can also get ready while it waits: ``Helper.start(cpus, prepare=...)`` runs ``prepare()``
in the helper as soon as it is forked (the run is still reading its input then, and the second CPU
is idle), and the work it is later sent is called with what ``prepare`` returned. Run here instead,
the work is called with no argument, so it must be able to start from scratch.

Nothing is lost if the helper fails: whatever it did not finish is done here afterwards, so an
error is raised from the caller's own process with its own traceback.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import sys
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

log = logging.getLogger(__name__)


class Helper:
    """A forked copy of the run process started early, before the run builds its big arrays, that
    later runs one picklable call beside the run (:func:`side_by_side`).

    Forked late, a copy shares the run's whole heap: whatever either process then writes is copied
    page by page, and the fork itself takes milliseconds. Forked early, it shares little and is
    ready when the call arrives (pickled: a module-level function or a ``functools.partial`` of one
    with plain data).
    """

    def __init__(self, process: Any, conn: Connection) -> None:
        self._process = process
        self._conn = conn
        self._used = False

    @classmethod
    def start(cls, cpus: int, prepare: Callable[[], Any] | None = None) -> Helper | None:
        """A helper when the run may use a second CPU here (``cpus >= 2``) and can fork; else None.

        ``prepare`` (not pickled: the helper is a fork) runs in the helper at once; its result is
        handed to the work the helper is sent (see the module docstring)."""
        if cpus < 2 or not hasattr(os, "fork") or sys.platform == "darwin":
            return None
        fork = multiprocessing.get_context("fork")
        try:
            ours, theirs = fork.Pipe()
            process = fork.Process(target=_serve, args=(theirs, prepare), name="cts-beside", daemon=True)
            process.start()
        except OSError as err:  # no memory or no process slots: everything runs in the caller
            log.debug("could not fork a helper (%s)", err)
            return None
        theirs.close()
        return cls(process, ours)

    def submit(self, fn: Callable[..., Any]) -> bool:
        """Send ``fn`` to the helper; False if it cannot take it (used, gone, or ``fn`` not picklable)."""
        if self._used:
            return False
        self._used = True
        try:
            self._conn.send(fn)
        except Exception as err:  # noqa: BLE001 - a pickling error or a dead helper: the caller runs it
            log.debug("could not hand the work to the helper (%s)", err)
            return False
        return True

    def wait(self) -> bool:
        """Whether the submitted call finished without an error (False if the helper died)."""
        try:
            ok = bool(self._conn.recv())
        except (EOFError, OSError):
            ok = False
        self._process.join()
        return ok

    def close(self) -> None:
        """Let an unused helper go; wait for it to exit."""
        if not self._used:
            with contextlib.suppress(OSError):
                self._conn.send(None)
        self._conn.close()
        self._process.join()


def _serve(conn: Connection, prepare: Callable[[], Any] | None) -> None:
    prepared = None
    if prepare is not None:
        try:
            prepared = prepare()
        except Exception as err:  # noqa: BLE001 - the work then starts from scratch, as it would here
            log.debug("the helper could not get ready (%s)", err)
    try:
        fn = conn.recv()
    except EOFError:
        return
    if fn is None:
        return
    try:
        fn() if prepared is None else fn(prepared)
    except BaseException:  # noqa: BLE001 - redone (and raised) in the run process
        conn.send(False)
        return
    conn.send(True)


def side_by_side(here: Callable[[], Any], beside: Callable[..., Any], *, helper: Helper | None) -> None:
    """``here()`` in the caller and ``beside`` in ``helper`` at the same time (given what the helper
    prepared, if anything); without a helper, or if it fails, ``beside()`` runs here afterwards.
    Both done when this returns."""
    if helper is None or not helper.submit(beside):
        here()
        beside()
        return
    try:
        here()
    finally:
        ok = helper.wait()
    if not ok:
        log.warning("the helper process failed or died; doing its part here")
        beside()
