"""The one source of truth for runs: a SQLite database (WAL) and one folder per run.

``{data_dir}/cts.sqlite`` holds every :class:`Run` field; ``{data_dir}/runs/<run_id>/`` holds
``log.jsonl``, ``result.json`` and ``artifacts/``. Status changes are conditional updates
(``WHERE status IN (...)``), so a cancel and a completion racing each other cannot both win.

Status polling reads the same few runs hundreds of times a second, so :meth:`RunStore.get` answers
from memory while nothing changed them: this store's own writes drop the run they touch, and
SQLite's ``PRAGMA data_version`` (which moves when another connection commits, e.g. a second
engine sharing the data folder) drops them all.
"""

from __future__ import annotations

import json
import secrets
import shutil
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from jupyter_cts.engine.models import Run, RunInput, RunList, RunStatus
from jupyter_cts.errors import UnknownRunError

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,   -- queue order (FIFO) and listing order
    run_id TEXT NOT NULL UNIQUE,
    status TEXT NOT NULL,
    tool_id TEXT NOT NULL,
    name TEXT,
    created_at TEXT NOT NULL,
    started_at TEXT,
    completed_at TEXT,
    params TEXT NOT NULL,
    input TEXT,
    inputs TEXT NOT NULL DEFAULT '[]',       -- resolved paths handed to the tool
    timeout_s REAL,
    progress REAL NOT NULL DEFAULT 0,
    progress_message TEXT NOT NULL DEFAULT '',
    artifacts TEXT NOT NULL DEFAULT '[]',
    error TEXT,
    metrics TEXT NOT NULL DEFAULT '{}',
    log_seq INTEGER NOT NULL DEFAULT 0,      -- last seq written to log.jsonl
    pid INTEGER,                             -- the run's process (and process group) while it runs
    pid_started REAL                         -- its start time, to never kill a recycled pid
);
CREATE INDEX IF NOT EXISTS runs_status_seq ON runs(status, seq);
CREATE INDEX IF NOT EXISTS runs_tool_seq ON runs(tool_id, seq);
"""

_JSON_COLUMNS = {"params", "input", "inputs", "artifacts", "metrics"}
CACHED_RUNS = 512  # runs kept decoded in memory (a few kB each)
ACTIVE = (RunStatus.QUEUED, RunStatus.RUNNING)


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    """Short, URL-safe, roughly time-sortable: 9 base32 chars of milliseconds + 7 random ones."""
    alphabet = "0123456789abcdefghjkmnpqrstvwxyz"
    ms = int(time.time() * 1000)
    head = "".join(alphabet[(ms >> (5 * i)) & 31] for i in reversed(range(9)))
    return head + "".join(secrets.choice(alphabet) for _ in range(7))


@dataclass(frozen=True)
class QueuedRun:
    """What the scheduler needs to launch a queued run."""

    run_id: str
    tool_id: str
    params: dict[str, Any]
    inputs: list[str]
    timeout_s: float | None


def _retry_while_locked(statement: Callable[[], object], timeout_s: float = 10.0) -> None:
    """Run a set-up statement that SQLite may refuse without waiting (switching to WAL needs the
    database alone), while another engine opens the same store at the same moment (parallel
    ``cts run --local`` calls)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            statement()
            return
        except sqlite3.OperationalError as err:
            if "locked" not in str(err) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


class RunStore:
    """Runs in SQLite plus their folders. Thread-safe: one connection guarded by a lock."""

    def __init__(self, data_dir: str | Path) -> None:
        self.data_dir = Path(data_dir)
        self.runs_dir = self.data_dir / "runs"
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        self.db_path = self.data_dir / "cts.sqlite"
        self._lock = threading.RLock()
        self._cache: OrderedDict[str, Run] = OrderedDict()
        self._data_version: int | None = None
        self._db = sqlite3.connect(self.db_path, check_same_thread=False, isolation_level=None, timeout=10)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA busy_timeout=10000")
        with self._lock:
            _retry_while_locked(lambda: self._db.execute("PRAGMA journal_mode=WAL"))
            self._db.execute("PRAGMA synchronous=NORMAL")
            # idempotent; executescript manages its own transaction
            _retry_while_locked(lambda: self._db.executescript(_SCHEMA))
            _retry_while_locked(lambda: self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}"))

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self, run_id: str) -> Iterator[sqlite3.Connection]:
        """A write transaction on one run; whatever happens, its cached copy is dropped."""
        with self._lock:  # readers wait for the lock too, so dropping the copy at the end suffices
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            finally:
                self._cache.pop(run_id, None)
            self._db.execute("COMMIT")

    def _check_cache(self) -> None:
        """Drop every cached run when another connection has committed since we last looked."""
        version = self._db.execute("PRAGMA data_version").fetchone()[0]
        if version != self._data_version:
            self._cache.clear()
            self._data_version = version

    # -- folders -----------------------------------------------------------------------------------

    def run_dir(self, run_id: str) -> Path:
        return self.runs_dir / run_id

    def artifacts_dir(self, run_id: str) -> Path:
        return self.run_dir(run_id) / "artifacts"

    def log_path(self, run_id: str) -> Path:
        return self.run_dir(run_id) / "log.jsonl"

    def result_path(self, run_id: str) -> Path:
        return self.run_dir(run_id) / "result.json"

    # -- writes ------------------------------------------------------------------------------------

    def insert(self, run: Run, inputs: list[str]) -> None:
        """Record a new run and create its folder (the folder first, so a listed run has one)."""
        self.artifacts_dir(run.run_id).mkdir(parents=True, exist_ok=True)
        row = _to_row(run)
        row["inputs"] = json.dumps(inputs)
        columns = ", ".join(row)
        marks = ", ".join(f":{k}" for k in row)
        with self._tx(run.run_id) as db:
            db.execute(f"INSERT INTO runs ({columns}) VALUES ({marks})", row)

    def transition(
        self, run_id: str, from_statuses: Iterable[RunStatus], to: RunStatus, **fields: Any
    ) -> bool:
        """Move a run to ``to`` only if it is in one of ``from_statuses``; True when it moved."""
        allowed = [str(s) for s in from_statuses]
        values = {"status": str(to), **_encode(fields)}
        sets = ", ".join(f"{k} = ?" for k in values)
        marks = ", ".join("?" for _ in allowed)
        with self._tx(run_id) as db:
            cur = db.execute(
                f"UPDATE runs SET {sets} WHERE run_id = ? AND status IN ({marks})",
                [*values.values(), run_id, *allowed],
            )
            return cur.rowcount == 1

    def update(self, run_id: str, *, only_if: Iterable[RunStatus] | None = None, **fields: Any) -> bool:
        """Set fields (no status change); with ``only_if``, only while the run is in those states."""
        values = _encode(fields)
        if not values:
            return False
        sets = ", ".join(f"{k} = ?" for k in values)
        sql = f"UPDATE runs SET {sets} WHERE run_id = ?"
        args: list[Any] = [*values.values(), run_id]
        if only_if is not None:
            allowed = [str(s) for s in only_if]
            sql += f" AND status IN ({', '.join('?' for _ in allowed)})"
            args += allowed
        with self._tx(run_id) as db:
            return db.execute(sql, args).rowcount == 1

    def delete(self, run_id: str) -> None:
        """Forget a final run and remove its folder (retention)."""
        with self._tx(run_id) as db:
            db.execute("DELETE FROM runs WHERE run_id = ?", (run_id,))
        shutil.rmtree(self.run_dir(run_id), ignore_errors=True)

    # -- reads -------------------------------------------------------------------------------------

    def get(self, run_id: str) -> Run:
        """The run as stored. The same (frozen) object is returned until the run changes."""
        with self._lock:
            self._check_cache()
            run = self._cache.get(run_id)
            if run is not None:
                self._cache.move_to_end(run_id)
                return run
            row = self._db.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
            if row is None:
                raise UnknownRunError(f"no run with id {run_id!r}; list the runs to see which exist")
            run = _from_row(row)
            self._cache[run_id] = run
            if len(self._cache) > CACHED_RUNS:
                self._cache.popitem(last=False)
            return run

    def status(self, run_id: str) -> RunStatus:
        with self._lock:
            row = self._db.execute("SELECT status FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        if row is None:
            raise UnknownRunError(f"no run with id {run_id!r}; list the runs to see which exist")
        return RunStatus(row["status"])

    def exists(self, run_id: str) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM runs WHERE run_id = ?", (run_id,)).fetchone() is not None

    def list_runs(
        self, *, status: RunStatus | None = None, tool_id: str | None = None, limit: int = 50, offset: int = 0
    ) -> RunList:
        """Newest first."""
        where, args = [], []
        if status is not None:
            where.append("status = ?")
            args.append(str(status))
        if tool_id is not None:
            where.append("tool_id = ?")
            args.append(tool_id)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        with self._lock:
            total = self._db.execute(f"SELECT COUNT(*) FROM runs {clause}", args).fetchone()[0]
            rows = self._db.execute(
                f"SELECT * FROM runs {clause} ORDER BY seq DESC LIMIT ? OFFSET ?", [*args, limit, offset]
            ).fetchall()
        return RunList(runs=[_from_row(r) for r in rows], total=total)

    def counts(self) -> dict[RunStatus, int]:
        with self._lock:
            rows = self._db.execute("SELECT status, COUNT(*) AS n FROM runs GROUP BY status").fetchall()
        found = {RunStatus(r["status"]): r["n"] for r in rows}
        return {s: found.get(s, 0) for s in RunStatus}

    def queued(self, limit: int) -> list[QueuedRun]:
        """The oldest queued runs first: the queue is FIFO."""
        with self._lock:
            rows = self._db.execute(
                "SELECT run_id, tool_id, params, inputs, timeout_s FROM runs "
                "WHERE status = ? ORDER BY seq LIMIT ?",
                (str(RunStatus.QUEUED), limit),
            ).fetchall()
        return [
            QueuedRun(
                r["run_id"], r["tool_id"], json.loads(r["params"]), json.loads(r["inputs"]), r["timeout_s"]
            )
            for r in rows
        ]

    def running_processes(self) -> list[tuple[str, int | None, float | None]]:
        """(run_id, pid, pid_started) of runs marked running: used when recovering after a restart."""
        with self._lock:
            rows = self._db.execute(
                "SELECT run_id, pid, pid_started FROM runs WHERE status = ?", (str(RunStatus.RUNNING),)
            ).fetchall()
        return [(r["run_id"], r["pid"], r["pid_started"]) for r in rows]

    def log_seq(self, run_id: str) -> int:
        with self._lock:
            row = self._db.execute("SELECT log_seq FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        return int(row["log_seq"]) if row else 0

    def final_runs(self) -> list[tuple[str, datetime | None]]:
        """(run_id, completed_at) of final runs, oldest first: what retention may remove."""
        finals = [str(s) for s in RunStatus if s.is_final]
        with self._lock:
            rows = self._db.execute(
                f"SELECT run_id, completed_at FROM runs WHERE status IN ({', '.join('?' for _ in finals)}) "
                "ORDER BY seq",
                finals,
            ).fetchall()
        return [(r["run_id"], _parse_dt(r["completed_at"])) for r in rows]

    def active_inputs(self) -> list[RunInput]:
        """Inputs of queued and running runs (retention must keep their uploads)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT input FROM runs WHERE status IN (?, ?)", [str(s) for s in ACTIVE]
            ).fetchall()
        values = [json.loads(r["input"]) for r in rows if r["input"]]
        return [RunInput.model_validate(v) for v in values if v]


def _encode(fields: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in fields.items():
        if isinstance(value, datetime):
            value = value.isoformat()
        elif key in _JSON_COLUMNS:
            value = json.dumps(_jsonable(value))
        out[key] = value
    return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _to_row(run: Run) -> dict[str, Any]:
    data = run.model_dump(mode="json")
    row: dict[str, Any] = {}
    for key, value in data.items():
        row[key] = json.dumps(value) if key in _JSON_COLUMNS else value
    return row


def _from_row(row: sqlite3.Row) -> Run:
    data = {k: row[k] for k in row.keys() if k in Run.model_fields}
    for key in _JSON_COLUMNS & data.keys():
        data[key] = json.loads(data[key]) if data[key] is not None else None
    if data.get("metrics") is None:
        data["metrics"] = {}
    if data.get("artifacts") is None:
        data["artifacts"] = []
    return Run.model_validate(data)


def _parse_dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
