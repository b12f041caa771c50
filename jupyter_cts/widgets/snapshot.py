"""What a run view needs from the server, fetched in one go: the run, its new log lines and, once
the run has completed, its result, artifacts and images.

The fetcher keeps its own log cursor (``since``) because in thread mode fetching and applying
happen on different threads at different times; the view only ever receives finished snapshots.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from jupyter_cts.engine.models import Artifact, LogRecord, Run, RunStatus
from jupyter_cts.widgets.connection import fetch_artifact_bytes, fetch_artifact_bytes_async

if TYPE_CHECKING:
    from jupyter_cts.client import AsyncCTSClient, CTSClient

#: Images shown inline are fetched only up to this size; bigger ones stay links.
MAX_INLINE_IMAGE_BYTES = 5_000_000


@dataclass
class RunSnapshot:
    run: Run
    logs: list[LogRecord] = field(default_factory=list)
    result: dict[str, Any] | None = None
    artifacts: list[Artifact] = field(default_factory=list)
    images: dict[str, bytes] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # what could not be fetched, said in the view

    @property
    def is_final(self) -> bool:
        return self.run.status.is_final


def _inline_images(artifacts: list[Artifact]) -> list[Artifact]:
    return [a for a in artifacts if a.content_type.startswith("image/") and a.size <= MAX_INLINE_IMAGE_BYTES]


class RunFetcher:
    """Fetches snapshots of one run, sync or async, continuing the log where the last one stopped."""

    def __init__(self, run_id: str, client: CTSClient, async_client: AsyncCTSClient | None = None) -> None:
        self.run_id = run_id
        self.client = client
        self.async_client = async_client
        self.since = 0

    def _advance(self, records: list[LogRecord]) -> list[LogRecord]:
        fresh = [r for r in records if r.seq > self.since]
        if fresh:
            self.since = max(r.seq for r in fresh)
        return fresh

    def fetch(self) -> RunSnapshot:
        run = self.client.get_run(self.run_id)
        snap = RunSnapshot(run, self._advance(self.client.logs(self.run_id, since=self.since)))
        if run.status is RunStatus.COMPLETED:
            try:
                snap.result = self.client.result(self.run_id)
                snap.artifacts = self.client.artifacts(self.run_id)
                for art in _inline_images(snap.artifacts):
                    snap.images[art.name] = fetch_artifact_bytes(self.client, self.run_id, art.name)
            except Exception as exc:  # noqa: BLE001 - the run is still shown, with what went wrong
                snap.problems.append(f"could not fetch the run's results: {exc}")
        return snap

    async def fetch_async(self) -> RunSnapshot:
        client = self.async_client
        if client is None:
            raise RuntimeError("no async client: create the fetcher with one to poll on an event loop")
        run = await client.get_run(self.run_id)
        snap = RunSnapshot(run, self._advance(await client.logs(self.run_id, since=self.since)))
        if run.status is RunStatus.COMPLETED:
            try:
                snap.result = await client.result(self.run_id)
                snap.artifacts = await client.artifacts(self.run_id)
                for art in _inline_images(snap.artifacts):
                    snap.images[art.name] = await fetch_artifact_bytes_async(client, self.run_id, art.name)
            except Exception as exc:  # noqa: BLE001
                snap.problems.append(f"could not fetch the run's results: {exc}")
        return snap
