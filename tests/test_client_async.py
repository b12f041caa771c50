"""A notebook (or any asyncio program) drives runs with ``AsyncCTSClient`` without blocking its loop:
start, stream the live log, wait, read the result, download an artifact, and get typed errors."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from cli_harness import SLEEPER, Server

from jupyter_cts.client import (
    AsyncCTSClient,
    CTSClient,
    CTSConflictError,
    CTSUnknownRunError,
    CTSValidationError,
)
from jupyter_cts.engine.models import RunStatus
from jupyter_cts.errors import UnknownRunError, ValidationError


def test_a_run_streamed_awaited_and_downloaded(cts_lite: Server, tmp_path: Path) -> None:
    async def story() -> None:
        async with AsyncCTSClient(cts_lite.url, cts_lite.token) as client:
            run = await client.start_run(SLEEPER, {"seconds": "0.5"}, name="async story")
            assert run.status == RunStatus.QUEUED and run.params["seconds"] == 0.5

            ticks = 0

            async def ticker() -> None:  # proves the loop stays free while we stream
                nonlocal ticks
                while True:
                    await asyncio.sleep(0.01)
                    ticks += 1

            beat = asyncio.ensure_future(ticker())
            events = [event async for event in client.follow_logs(run.run_id)]
            beat.cancel()

            assert events[-1].kind == "end" and events[-1].run is not None
            assert events[-1].run.status == RunStatus.COMPLETED
            records = [e.record for e in events if e.kind == "log" and e.record is not None]
            assert [r.seq for r in records] == sorted({r.seq for r in records}), "once each, in order"
            assert [r.seq for r in records] == [r.seq for r in await client.logs(run.run_id)]
            assert ticks > 10

            seen: list[float] = []
            final = await client.wait(run.run_id, on_progress=lambda r: seen.append(r.progress))
            assert final.status == RunStatus.COMPLETED and seen[-1] == 100.0
            result = await client.result(run.run_id)
            assert result["slept_s"] == 0.5
            names = [a.name for a in await client.artifacts(run.run_id)]
            saved = await client.download_artifact(run.run_id, "steps.txt", tmp_path)
            assert "steps.txt" in names and saved == tmp_path / "steps.txt"
            assert saved.read_text().splitlines()[-1] == str(len(result["steps"]))

    asyncio.run(story())


def test_resuming_a_stream_after_a_given_event_skips_what_was_seen(cts_lite: Server) -> None:
    with CTSClient(cts_lite.url, cts_lite.token) as client:
        run = client.start_run(SLEEPER, {"seconds": 0.3})
        everything = [e.record.seq for e in client.follow_logs(run.run_id) if e.record is not None]
        resumed = [
            e.record.seq
            for e in client.follow_logs(run.run_id, last_event_id=everything[2])
            if e.record is not None
        ]

    assert resumed == everything[3:]


def test_api_errors_are_typed_like_the_engines(cts_lite: Server) -> None:
    async def story() -> None:
        async with AsyncCTSClient(cts_lite.url, cts_lite.token) as client:
            with pytest.raises(CTSValidationError) as invalid:
                await client.start_run(SLEEPER, {"seconds": "long"})
            assert isinstance(invalid.value, ValidationError)
            assert ["params", "seconds"] in [e["loc"] for e in invalid.value.errors]
            with pytest.raises(CTSUnknownRunError) as unknown:
                await client.get_run("nosuchrun")
            assert isinstance(unknown.value, UnknownRunError)
            done = await client.start_run(SLEEPER, {"seconds": 0})
            await client.wait(done.run_id)
            with pytest.raises(CTSConflictError):
                await client.cancel(done.run_id)

    asyncio.run(story())
