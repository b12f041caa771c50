"""Forget old runs (and uploads) when the administrator asks for it; off by default.

Only final runs are removed: by age (``retention_days`` after they ended) and by count (keep the
newest ``retention_max_runs``). Uploads older than ``retention_days`` go too, unless a queued or
running run still reads them.
"""

from __future__ import annotations

from datetime import timedelta

from jupyter_cts.engine.config import EngineConfig
from jupyter_cts.engine.store import RunStore, utcnow
from jupyter_cts.engine.uploads import UploadStore


def runs_to_remove(store: RunStore, config: EngineConfig) -> list[str]:
    finals = store.final_runs()  # oldest first
    remove: list[str] = []
    if config.retention_days is not None:
        cutoff = utcnow() - timedelta(days=config.retention_days)
        remove += [run_id for run_id, ended in finals if ended is not None and ended < cutoff]
    if config.retention_max_runs is not None:
        kept = [run_id for run_id, _ in finals if run_id not in set(remove)]
        surplus = len(kept) - config.retention_max_runs
        remove += kept[: max(0, surplus)]
    return remove


def uploads_to_remove(store: RunStore, uploads: UploadStore, config: EngineConfig) -> list[str]:
    if config.retention_days is None:
        return []
    in_use = {i.value for i in store.active_inputs() if i.type == "upload"}
    return [u for u in uploads.older_than(config.retention_days * 86400) if u not in in_use]


def apply_retention(store: RunStore, uploads: UploadStore, config: EngineConfig) -> list[str]:
    """Remove what the policy says; returns the removed run ids."""
    if not config.retention_enabled:
        return []
    removed = runs_to_remove(store, config)
    for run_id in removed:
        store.delete(run_id)
    for upload_id in uploads_to_remove(store, uploads, config):
        uploads.remove(upload_id)
    return removed
