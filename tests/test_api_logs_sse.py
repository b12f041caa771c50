"""Following a run's log live: Server-Sent Events with ids, resume, heartbeats and a clean end.

A client that connects after the run ended gets the whole log and ``end`` at once; one that
connects while it runs sees records as they are written; one that reconnects with
``Last-Event-ID`` misses nothing and sees nothing twice; one that goes away is forgotten.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

TEST_TOOLS = Path(__file__).parent / "plugins"


@pytest.fixture
def jp_server_config(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(TEST_TOOLS))
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_cts": True}},
        "CTSApp": {"data_dir": str(tmp_path / "cts-data"), "sse_heartbeat_s": 0.2, "kernel_env": False},
    }


def parse_events(text: str) -> list[dict]:
    """SSE text -> [{"event", "id", "data"}] (comments such as heartbeats are kept as {"comment"})."""
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        event: dict = {}
        for line in block.split("\n"):
            if line.startswith(":"):
                event["comment"] = line[1:].strip()
            elif ":" in line:
                key, _, value = line.partition(":")
                event[key] = value[1:] if value.startswith(" ") else value
        if event and "retry" not in event:
            if "data" in event:
                event["data"] = json.loads(event["data"])
            events.append(event)
    return events


async def start(cts_api, tool_id, params):
    reply = await cts_api.post("runs", json_body={"tool_id": tool_id, "params": params})
    assert reply.status == 202, reply.json
    return reply.json["run_id"]


class RawStream:
    """A bare socket client, so a test can read part of a stream and then simply go away."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer, self.text = reader, writer, ""

    @classmethod
    async def open(cls, port, path, token, last_event_id=None):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        extra = f"Last-Event-ID: {last_event_id}\r\n" if last_event_id is not None else ""
        writer.write(
            f"GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nAuthorization: token {token}\r\n"
            f"Accept: text/event-stream\r\n{extra}\r\n".encode()
        )
        await writer.drain()
        return cls(reader, writer)

    async def read_until(self, needle: str, timeout: float = 10) -> str:
        deadline = time.monotonic() + timeout
        while needle not in self.text:
            chunk = await asyncio.wait_for(self.reader.read(4096), max(0.01, deadline - time.monotonic()))
            if not chunk:
                raise AssertionError(f"stream closed before {needle!r}: {self.text!r}")
            self.text += chunk.decode()
        return self.text

    @property
    def events(self) -> list[dict]:
        body = self.text.split("\r\n\r\n", 1)[1]
        complete = body[: body.rfind("\n\n") + 2]
        return parse_events(complete)

    def close(self) -> None:
        self.writer.close()


async def test_a_finished_run_sends_its_whole_log_and_end_at_once(cts_api):
    run_id = await start(cts_api, "test-steps", {"steps": 3, "delay_s": 0})
    await cts_api.wait_for(run_id, {"completed"})
    stored = (await cts_api.get("runs", run_id, "logs")).json

    reply = await cts_api.get("runs", run_id, "logs", headers={"Accept": "text/event-stream"})
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("text/event-stream")
    assert reply.headers["Cache-Control"] == "no-cache"
    assert reply.headers["X-Accel-Buffering"] == "no"
    events = parse_events(reply.body.decode())
    logs = [e for e in events if e.get("event") == "log"]
    assert [int(e["id"]) for e in logs] == [r["seq"] for r in stored]
    assert [e["data"] for e in logs] == stored
    assert events[-1].get("event") == "end"
    assert events[-1]["data"]["status"] == "completed"


async def test_a_live_stream_follows_the_run_as_it_happens(cts_api):
    run_id = await start(cts_api, "test-steps", {"steps": 5, "delay_s": 0.2})
    arrivals: list[tuple[float, bytes]] = []
    reply = await cts_api.get(
        "runs",
        run_id,
        "logs",
        params={"stream": "1"},
        streaming_callback=lambda chunk: arrivals.append((time.monotonic(), chunk)),
    )
    assert reply.status == 200
    events = parse_events(b"".join(c for _, c in arrivals).decode())

    ids = [int(e["id"]) for e in events if e.get("event") == "log"]
    assert ids == list(range(1, len(ids) + 1)), "log ids are the seqs, in order, once each"
    messages = [e["data"]["message"] for e in events if e.get("event") == "log"]
    assert [m for m in messages if m.startswith("step ")] == [f"step {i} of 5" for i in range(1, 6)]
    progress = [e["data"]["progress"] for e in events if e.get("event") == "status"]
    assert progress == sorted(progress) and progress[-1] == 100
    assert events[-1].get("event") == "end" and events[-1]["data"]["status"] == "completed"
    first_step = next(t for t, c in arrivals if b"step 1 of 5" in c)
    assert arrivals[-1][0] - first_step > 0.5, "records arrived while the run was going, not all at the end"


async def test_a_reconnecting_client_resumes_after_its_last_event_id(cts_api, cts_listening):
    port, token = cts_listening.port, cts_listening.token
    path = f"{cts_listening.base_url}v1/runs/{{}}/logs"
    run_id = await start(cts_api, "test-steps", {"steps": 6, "delay_s": 0.15})

    first = await RawStream.open(port, path.format(run_id), token)
    await first.read_until("step 2 of 6")
    seen = [int(e["id"]) for e in first.events if e.get("event") == "log"]
    first.close()  # the network dropped

    second = await RawStream.open(port, path.format(run_id), token, last_event_id=seen[-1])
    await second.read_until("event: end")
    second.close()
    resumed = [int(e["id"]) for e in second.events if e.get("event") == "log"]
    stored = [r["seq"] for r in (await cts_api.get("runs", run_id, "logs")).json]
    assert resumed[0] == seen[-1] + 1
    assert seen + resumed == stored, "nothing missed, nothing twice"

    again = await cts_api.get("runs", run_id, "logs", params={"stream": "1", "since": stored[-2]})
    assert [int(e["id"]) for e in parse_events(again.body.decode()) if e.get("event") == "log"] == stored[-1:]


async def test_a_client_that_goes_away_is_unsubscribed_and_idle_streams_get_heartbeats(
    cts_api, cts_app, cts_listening
):
    port, token = cts_listening.port, cts_listening.token
    run_id = await start(cts_api, "test-misbehave", {"mode": "sleep", "seconds": 60})
    await cts_api.wait_for(run_id, {"running"})

    stream = await RawStream.open(port, f"{cts_listening.base_url}v1/runs/{run_id}/logs", token)
    text = await stream.read_until(": heartbeat\n\n: heartbeat\n\n", timeout=5)
    assert "Cache-Control: no-cache" in text
    assert cts_app.open_streams == 1
    stream.close()
    deadline = time.monotonic() + 5
    while cts_app.open_streams and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert cts_app.open_streams == 0, "the server still holds the stream of a client that left"
    assert (await cts_api.get("runs", run_id)).json["status"] == "running", "leaving does not cancel the run"
    await cts_api.delete("runs", run_id)


async def test_the_json_page_pages_with_since_and_limit(cts_api):
    run_id = await start(cts_api, "test-steps", {"steps": 3, "delay_s": 0})
    await cts_api.wait_for(run_id, {"completed"})
    everything = (await cts_api.get("runs", run_id, "logs")).json
    page = (await cts_api.get("runs", run_id, "logs", params={"since": 2, "limit": 3})).json
    assert page == everything[2:5]


async def test_streams_of_unknown_runs_and_bad_resume_ids_are_refused_as_json(cts_api):
    missing = await cts_api.get("runs", "nosuchrun", "logs", headers={"Accept": "text/event-stream"})
    assert missing.status == 404
    assert "nosuchrun" in missing.json["message"]
    run_id = await start(cts_api, "test-echo", {})
    bad = await cts_api.get(
        "runs", run_id, "logs", headers={"Accept": "text/event-stream", "Last-Event-ID": "x"}
    )
    assert bad.status == 400
    assert "Last-Event-ID" in bad.json["message"]
