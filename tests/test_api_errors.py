"""What a user gets when something is wrong: the SPEC's status, Jupyter's JSON error shape, and a
message that names the problem. A tool that crashes or hangs fails its run, never the server.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

TEST_TOOLS = Path(__file__).parent / "plugins"


@pytest.fixture
def shared_dir(tmp_path) -> Path:
    """A folder outside root_dir that the server is configured to allow."""
    folder = tmp_path / "shared-drives"
    folder.mkdir()
    return folder


@pytest.fixture
def jp_server_config(tmp_path, monkeypatch, shared_dir):
    monkeypatch.syspath_prepend(str(TEST_TOOLS))
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_cts": True}},
        "CTSApp": {
            "data_dir": str(tmp_path / "cts-data"),
            "allowed_input_dirs": [str(shared_dir)],
            "max_concurrent_runs": 1,
            "max_queued_runs": 1,
            "kernel_env": False,
        },
    }


def assert_error(reply, status: int, *words: str) -> dict:
    """The answer has the status, Jupyter's error shape, and a message naming the problem."""
    assert reply.status == status, (reply.status, reply.body)
    assert reply.headers["Content-Type"].startswith("application/json")
    body = reply.json
    assert set(body) >= {"message", "reason", "errors"}
    assert body["message"].strip().endswith("."), f"not a sentence: {body['message']!r}"
    for word in words:
        assert word in body["message"], f"{word!r} not in {body['message']!r}"
    return body


async def run(cts_api, tool_id="test-echo", **body):
    return await cts_api.post("runs", json_body={"tool_id": tool_id, **body})


async def test_a_body_that_is_not_json_is_400(cts_api):
    assert_error(await cts_api.post("runs", body="{tool_id: oops"), 400, "JSON")
    assert_error(await cts_api.post("runs", body='["test-echo"]'), 400, "JSON object")


async def test_an_unknown_tool_is_404_and_lists_the_known_ones(cts_api):
    assert_error(await run(cts_api, "no-such-tool"), 404, "no-such-tool")
    assert_error(await cts_api.get("tools", "no-such-tool"), 404, "no-such-tool", "test-echo")


@pytest.mark.parametrize(
    "method, tail",
    [
        ("GET", ()),
        ("DELETE", ()),
        ("GET", ("logs",)),
        ("GET", ("result",)),
        ("GET", ("artifacts",)),
        ("GET", ("artifacts", "result.json")),
    ],
)
async def test_an_unknown_run_is_404_on_every_run_endpoint(cts_api, method, tail):
    assert_error(await cts_api.request(method, "runs", "zz0nosuchrun", *tail), 404, "zz0nosuchrun")


async def test_bad_params_are_422_and_name_each_field(cts_api):
    body = assert_error(
        await run(cts_api, "test-steps", params={"steps": "many", "bogus": 1}),
        422,
        "params.steps",
        "params.bogus",
    )
    locs = {tuple(e["loc"]) for e in body["errors"]}
    assert {("params", "steps"), ("params", "bogus")} <= locs
    assert all(e["msg"] and e["type"] for e in body["errors"])

    cross = assert_error(await run(cts_api, params={"speed_min": 60, "speed_max": 50}), 422, "speed_max")
    assert [e["loc"] for e in cross["errors"]] == [["params", "speed_max"]]

    shape = assert_error(await run(cts_api, timeout_s=-1, colour="red"), 422, "timeout_s", "colour")
    assert {tuple(e["loc"]) for e in shape["errors"]} == {("timeout_s",), ("colour",)}


async def test_bad_query_arguments_are_422(cts_api):
    body = assert_error(await cts_api.get("runs", params={"limit": "0", "status": "sleeping"}), 422, "limit")
    assert {tuple(e["loc"]) for e in body["errors"]} == {("query", "limit"), ("query", "status")}


async def test_inputs_outside_the_allowed_folders_are_403(cts_api, jp_root_dir, tmp_path, shared_dir):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "rlog.zst").write_bytes(b"\x28\xb5\x2f\xfd")
    (jp_root_dir / "escape").symlink_to(outside, target_is_directory=True)
    for value in (str(outside / "rlog.zst"), "../elsewhere/rlog.zst", "escape/rlog.zst", "/etc/passwd"):
        reply = await run(cts_api, "test-read-input", input={"type": "path", "value": value})
        assert_error(reply, 403, str(shared_dir))

    (shared_dir / "drive.csv").write_text("t_s,bus\n0,0\n")
    allowed = await run(
        cts_api, "test-read-csv", input={"type": "path", "value": str(shared_dir / "drive.csv")}
    )
    assert allowed.status == 202, allowed.json


async def test_a_missing_file_is_422_naming_the_path(cts_api):
    reply = await run(cts_api, "test-read-input", input={"type": "path", "value": "drives/nope/rlog.zst"})
    missing = assert_error(reply, 422, "drives/nope/rlog.zst")
    assert missing["errors"][0]["loc"] == ["input", "value"]


async def test_a_file_that_is_not_a_log_is_422_naming_it(cts_api, jp_root_dir):
    (jp_root_dir / "notes.txt").write_text("cruise set button is probably 0x321\n" * 20)
    reply = await run(cts_api, "test-read-input", input={"type": "path", "value": "notes.txt"})
    not_a_log = assert_error(reply, 422, "notes.txt")
    assert not_a_log["errors"][0]["loc"] == ["input", "value"]


async def test_cancelling_a_finished_run_is_409_and_so_is_the_result_of_a_failed_run(cts_api):
    done = (await run(cts_api)).json["run_id"]
    await cts_api.wait_for(done, {"completed"})
    assert_error(await cts_api.delete("runs", done), 409, done, "completed")

    failed = (await run(cts_api, "test-misbehave", params={"mode": "tool_error"})).json["run_id"]
    run_state = await cts_api.wait_for(failed, {"failed"})
    assert "wheel speed" in run_state["error"]
    assert_error(await cts_api.get("runs", failed, "result"), 409, failed, "failed")


async def test_a_full_queue_is_429(cts_api):
    sleeper = (await run(cts_api, "test-misbehave", params={"mode": "sleep", "seconds": 60})).json["run_id"]
    await cts_api.wait_for(sleeper, {"running"})
    waiting = await run(cts_api)
    assert waiting.status == 202
    assert_error(await run(cts_api), 429, "max_queued_runs")
    await cts_api.delete("runs", waiting.json["run_id"])
    await cts_api.delete("runs", sleeper)


@pytest.mark.parametrize(
    "mode, words", [("segfault", "SIGSEGV"), ("exit", "code 3"), ("exception", "ValueError")]
)
async def test_a_tool_that_crashes_fails_its_run_and_the_server_carries_on(cts_api, mode, words):
    run_id = (await run(cts_api, "test-misbehave", params={"mode": mode})).json["run_id"]
    failed = await cts_api.wait_for(run_id, {"failed", "completed"})
    assert failed["status"] == "failed"
    assert words in failed["error"]
    assert (await cts_api.get("health")).json["status"] == "ok"
    after = (await run(cts_api)).json["run_id"]
    assert (await cts_api.wait_for(after, {"completed", "failed"}))["status"] == "completed"


async def test_a_tool_that_hangs_times_out_and_the_server_carries_on(cts_api):
    run_id = (
        await run(cts_api, "test-misbehave", params={"mode": "sleep", "seconds": 60}, timeout_s=1)
    ).json["run_id"]
    failed = await cts_api.wait_for(run_id, {"failed", "completed"}, timeout=20)
    assert failed["status"] == "failed"
    assert "timed out after 1 s" in failed["error"]
    assert (await cts_api.get("health")).json["runs_running"] == 0


async def test_artifact_names_cannot_leave_the_run_folder(cts_api, tmp_path):
    run_id = (await run(cts_api)).json["run_id"]
    await cts_api.wait_for(run_id, {"completed"})
    secret = tmp_path / "cts-data" / "cts.sqlite"
    assert secret.exists()
    for name in ("../../cts.sqlite", "..", "%2e%2e%2fcts.sqlite", ".hidden"):
        reply = await cts_api.get("runs", run_id, "artifacts", name)
        assert reply.status == 404, name
    os.symlink(secret, tmp_path / "cts-data" / "runs" / run_id / "artifacts" / "link.sqlite")
    assert_error(await cts_api.get("runs", run_id, "artifacts", "link.sqlite"), 404, "link.sqlite")
