"""RunStore.get answers from memory, yet never returns a stale run (its own writes or another engine's)."""

from __future__ import annotations

from pathlib import Path

import pydantic
import pytest

from jupyter_cts.engine.models import Run, RunStatus
from jupyter_cts.engine.store import CACHED_RUNS, RunStore, new_id, utcnow
from jupyter_cts.server.base import RunTexts

QUEUED, RUNNING, COMPLETED = RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.COMPLETED


def _insert(store: RunStore) -> str:
    run = Run(run_id=new_id(), status=QUEUED, tool_id="test-echo", created_at=utcnow())
    store.insert(run, inputs=[])
    return run.run_id


@pytest.fixture
def store(tmp_path: Path) -> RunStore:
    s = RunStore(tmp_path / "data")
    yield s
    s.close()


def test_the_same_object_until_the_run_changes(store: RunStore) -> None:
    run_id = _insert(store)
    first = store.get(run_id)
    assert store.get(run_id) is first
    assert store.transition(run_id, [QUEUED], RUNNING, started_at=utcnow())
    moved = store.get(run_id)
    assert moved is not first and moved.status == RUNNING and first.status == QUEUED
    store.update(run_id, progress=0.5, progress_message="half way")
    assert store.get(run_id).progress == 0.5


def test_a_refused_transition_or_a_failed_write_leaves_the_truth(store: RunStore) -> None:
    run_id = _insert(store)
    store.get(run_id)
    assert not store.transition(run_id, [RUNNING], COMPLETED)
    assert store.get(run_id).status == QUEUED
    with pytest.raises(Exception, match="no such column"):
        store.update(run_id, no_such_column=1)
    assert store.get(run_id).status == QUEUED


def test_another_connection_writing_is_seen_at_once(store: RunStore, tmp_path: Path) -> None:
    """A second engine on the same data folder (``shared_data_dir``) commits through its own connection."""
    run_id = _insert(store)
    assert store.get(run_id).status == QUEUED
    other = RunStore(tmp_path / "data")
    try:
        assert other.transition(run_id, [QUEUED], RunStatus.CANCELED, error="canceled elsewhere")
        other.delete(_insert(other))
    finally:
        other.close()
    seen = store.get(run_id)
    assert seen.status == RunStatus.CANCELED and seen.error == "canceled elsewhere"


def test_a_deleted_run_is_gone(store: RunStore) -> None:
    run_id = _insert(store)
    store.get(run_id)
    store.delete(run_id)
    with pytest.raises(Exception, match="no run with id"):
        store.get(run_id)


def test_runs_handed_out_are_frozen(store: RunStore) -> None:
    run = store.get(_insert(store))
    with pytest.raises(pydantic.ValidationError):
        run.status = COMPLETED  # type: ignore[misc]


def test_memory_is_bounded(store: RunStore) -> None:
    ids = [_insert(store) for _ in range(CACHED_RUNS + 20)]
    for run_id in ids:
        store.get(run_id)
    assert len(store._cache) == CACHED_RUNS
    assert store.get(ids[0]).run_id == ids[0]  # evicted, read again from SQLite


def test_run_texts_encode_each_version_once(store: RunStore) -> None:
    texts, calls = RunTexts(size=2), []

    def encoder(run: Run):
        return lambda: calls.append(run.status) or f"{run.run_id}:{run.status}"

    run_id = _insert(store)
    run = store.get(run_id)
    assert texts.get(run, encoder(run)) == texts.get(store.get(run_id), encoder(run)) == f"{run_id}:queued"
    store.transition(run_id, [QUEUED], RUNNING)
    fresh = store.get(run_id)
    assert texts.get(fresh, encoder(fresh)) == f"{run_id}:running"
    assert calls == [QUEUED, RUNNING]
    for _ in range(3):  # older runs fall out of the bounded map
        other = store.get(_insert(store))
        texts.get(other, encoder(other))
    assert len(texts._texts) == 2
