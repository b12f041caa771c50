"""A run's log: ``log.jsonl`` in its folder, one :class:`LogRecord` per line, ``seq`` from 1.

Lines are appended whole and flushed at once, so a reader (``get_logs``, a live stream) sees every
record written so far and never half a line. The last seq is kept in the store when a run ends.
"""

from __future__ import annotations

import json
import threading
from datetime import datetime
from typing import IO, Literal

from jupyter_cts.engine.models import LogRecord
from jupyter_cts.engine.store import RunStore, utcnow

MAX_MESSAGE_CHARS = 100_000
LogSource = Literal["log", "stdout", "stderr", "engine"]
_PREFIX = '{"seq":'


class _OpenLog:
    def __init__(self, fh: IO[str], seq: int) -> None:
        self.fh = fh
        self.seq = seq
        self.lock = threading.Lock()


class RunLogs:
    """Appends and reads the records of every run of one store."""

    def __init__(self, store: RunStore) -> None:
        self._store = store
        self._open: dict[str, _OpenLog] = {}
        self._lock = threading.Lock()

    def append(
        self,
        run_id: str,
        message: str,
        *,
        level: str = "INFO",
        source: LogSource = "log",
        t: datetime | None = None,
    ) -> LogRecord:
        log = self._get(run_id)
        if len(message) > MAX_MESSAGE_CHARS:
            message = (
                message[:MAX_MESSAGE_CHARS] + f" ... [{len(message) - MAX_MESSAGE_CHARS} characters cut]"
            )
        with log.lock:
            log.seq += 1
            record = LogRecord(seq=log.seq, t=t or utcnow(), level=level, source=source, message=message)
            log.fh.write(record.model_dump_json() + "\n")
            log.fh.flush()
        return record

    def last_seq(self, run_id: str) -> int:
        with self._lock:
            log = self._open.get(run_id)
        return log.seq if log is not None else _count_lines(self._store, run_id)

    def close(self, run_id: str) -> int:
        """Stop appending to a run's log; returns its last seq."""
        with self._lock:
            log = self._open.pop(run_id, None)
        if log is None:
            return _count_lines(self._store, run_id)
        with log.lock:
            log.fh.close()
            return log.seq

    def close_all(self) -> None:
        with self._lock:
            run_ids = list(self._open)
        for run_id in run_ids:
            self.close(run_id)

    def read(self, run_id: str, since: int = 0, limit: int | None = None) -> list[LogRecord]:
        """Records with ``seq > since``, oldest first, at most ``limit``."""
        path = self._store.log_path(run_id)
        records: list[LogRecord] = []
        try:
            fh = path.open(encoding="utf-8")
        except FileNotFoundError:
            return records
        with fh:
            for line in fh:
                if not line.endswith("\n"):
                    break  # a line being written right now: the next read gets it
                if _seq_of(line) <= since:
                    continue
                records.append(LogRecord.model_validate_json(line))
                if limit is not None and len(records) >= limit:
                    break
        return records

    def _get(self, run_id: str) -> _OpenLog:
        with self._lock:
            log = self._open.get(run_id)
            if log is None:
                seq = _count_lines(self._store, run_id)
                path = self._store.log_path(run_id)
                path.parent.mkdir(parents=True, exist_ok=True)
                log = self._open[run_id] = _OpenLog(path.open("a", encoding="utf-8"), seq)
            return log


def _seq_of(line: str) -> int:
    if line.startswith(_PREFIX):
        end = line.find(",", len(_PREFIX))
        if end > 0:
            try:
                return int(line[len(_PREFIX) : end])
            except ValueError:
                pass
    return int(json.loads(line)["seq"])


def _count_lines(store: RunStore, run_id: str) -> int:
    """The last seq on disk (a crash can leave the store's copy behind the file)."""
    try:
        with store.log_path(run_id).open(encoding="utf-8") as fh:
            last = 0
            for line in fh:
                if line.endswith("\n"):
                    last = _seq_of(line)
            return last
    except FileNotFoundError:
        return 0
