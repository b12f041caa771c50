"""Uploading a log to the server and running a tool on it.

The body is written to disk as it arrives (never held whole), its size is checked while it streams,
and a refused or abandoned upload leaves no file behind.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import time
from pathlib import Path

import pytest

from jupyter_cts.synth import preset, write_segment

TEST_TOOLS = Path(__file__).parent / "plugins"
LIMIT = 256 * 1024


@pytest.fixture
def jp_server_config(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(TEST_TOOLS))
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_cts": True}},
        "CTSApp": {"data_dir": str(tmp_path / "cts-data"), "max_upload_bytes": LIMIT, "kernel_env": False},
    }


@pytest.fixture
def segment(tmp_path) -> bytes:
    """A real (generated) 20 s rlog, well under the server's upload limit."""
    written = write_segment(tmp_path / "drive" / "rlog.zst", preset("no_presses", duration_s=20))
    data = written.path.read_bytes()
    assert len(data) < LIMIT
    return data


def leftovers(tmp_path) -> list[Path]:
    uploads = tmp_path / "cts-data" / "uploads"
    return [p for p in uploads.rglob("*") if p.is_file()] if uploads.exists() else []


def chunks_of(data: bytes, size: int = 16 * 1024):
    async def produce(write):
        for i in range(0, len(data), size):
            await write(data[i : i + size])

    return produce


async def test_an_uploaded_log_becomes_the_input_of_a_run(cts_api, segment):
    reply = await cts_api.post("uploads", params={"filename": "rlog.zst"}, body=segment)
    assert reply.status == 201, reply.json
    upload = reply.json
    assert upload["size"] == len(segment)
    assert upload["sha256"] == hashlib.sha256(segment).hexdigest()
    assert upload["filename"] == "rlog.zst"

    started = await cts_api.post(
        "runs",
        json_body={"tool_id": "test-read-input", "input": {"type": "upload", "value": upload["upload_id"]}},
    )
    assert started.status == 202, started.json
    run = await cts_api.wait_for(started.json["run_id"], {"completed", "failed"})
    assert run["status"] == "completed", run["error"]
    result = (await cts_api.get("runs", run["run_id"], "result")).json
    assert result["bytes"] == len(segment)
    assert result["inputs"][0].endswith("rlog.zst")


async def test_a_chunked_upload_is_written_as_it_arrives(cts_api, segment, tmp_path):
    """Without Content-Length the body streams in chunks; the file grows before the body is over."""
    sizes_seen: list[int] = []

    async def produce(write):
        half = len(segment) // 2
        await write(segment[:half])
        deadline = time.monotonic() + 5
        while not sizes_seen and time.monotonic() < deadline:  # the server has written the first half
            # all of it but what a file buffer may still hold
            sizes_seen.extend(
                s for p in leftovers(tmp_path) if (s := p.stat().st_size) >= half - io.DEFAULT_BUFFER_SIZE
            )
            await asyncio.sleep(0.02)
        await write(segment[half:])

    reply = await cts_api.post("uploads", params={"filename": "rlog.zst"}, body_producer=produce)
    assert reply.status == 201, reply.json
    assert sizes_seen, "the first half of the body never reached the disk while the rest was pending"
    assert reply.json["sha256"] == hashlib.sha256(segment).hexdigest()


async def test_an_upload_over_the_limit_is_refused_and_leaves_nothing(cts_api, tmp_path):
    too_big = bytes(range(256)) * (LIMIT // 256 + 64)
    declared = await cts_api.post("uploads", params={"filename": "big.zst"}, body=too_big)
    assert declared.status == 413
    assert str(LIMIT) in declared.json["message"]
    assert "max_upload_bytes" in declared.json["message"]

    streamed = await cts_api.post("uploads", params={"filename": "big.zst"}, body_producer=chunks_of(too_big))
    assert streamed.status == 413
    assert leftovers(tmp_path) == []


async def test_a_client_that_leaves_mid_upload_leaves_no_partial_file(cts_listening, tmp_path):
    server = cts_listening
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(
        f"POST {server.base_url}v1/uploads?filename=rlog.zst HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: token {server.token}\r\nContent-Length: 100000\r\n\r\n".encode()
        + b"x" * 30000
    )
    await writer.drain()
    deadline = time.monotonic() + 5
    while not leftovers(tmp_path) and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert leftovers(tmp_path), "the partial upload should be on disk while it streams"
    writer.close()
    deadline = time.monotonic() + 5
    while leftovers(tmp_path) and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    assert leftovers(tmp_path) == []


async def test_a_run_on_an_unknown_upload_names_the_input_field(cts_api):
    reply = await cts_api.post(
        "runs",
        json_body={"tool_id": "test-read-input", "input": {"type": "upload", "value": "0123456789abcdef"}},
    )
    assert reply.status == 422
    assert any(e["loc"] == ["input", "value"] for e in reply.json["errors"]), reply.json
    assert "upload" in reply.json["message"]


async def test_uploads_need_a_token_before_any_byte_is_stored(cts_api, tmp_path):
    reply = await cts_api.post("uploads", body=b"x" * 1000, headers={"Authorization": ""})
    assert reply.status == 403
    assert "token" in reply.json["message"]
    assert leftovers(tmp_path) == []
