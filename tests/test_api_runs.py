"""A run through the REST door: start it, watch it, read its logs, result and files, list and cancel.

The server is pytest-jupyter's, with its odd base_url (``/a%40b/``), so every URL the API hands out
must carry that prefix. Tools come from the test plugin package in ``tests/plugins``.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from urllib.parse import quote

import pytest

from jupyter_cts.synth import preset, write_segment

TEST_TOOLS = Path(__file__).parent / "plugins"


@pytest.fixture
def jp_server_config(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(TEST_TOOLS))
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_cts": True}},
        "CTSApp": {
            "data_dir": str(tmp_path / "cts-data"),
            "max_concurrent_runs": 2,
            "activity_interval_s": 0.1,
            "kernel_env": False,
        },
    }


async def start(cts_api, tool_id, params=None, **extra):
    reply = await cts_api.post("runs", json_body={"tool_id": tool_id, "params": params or {}, **extra})
    assert reply.status == 202, reply.json
    return reply


async def test_a_run_goes_from_queued_through_running_to_completed(cts_api, jp_base_url):
    reply = await start(cts_api, "test-steps", {"steps": 4, "delay_s": 0.15}, name="four steps")
    run = reply.json
    run_url = f"{jp_base_url}v1/runs/{run['run_id']}"
    assert reply.headers["Location"] == run_url
    assert run["status"] == "queued"
    assert run["name"] == "four steps"
    assert run["params"] == {"steps": 4, "delay_s": 0.15}  # validated, defaults filled

    running = await cts_api.wait_for(run["run_id"], {"running", "completed"})
    assert running["started_at"] is not None
    done = await cts_api.wait_for(run["run_id"], {"completed", "failed", "canceled"})
    assert done["status"] == "completed", done["error"]
    assert done["progress"] == 100
    assert done["progress_message"] == "step 4 of 4"
    assert done["metrics"]["wall_s"] > 0.4

    result = await cts_api.get("runs", run["run_id"], "result")
    assert result.status == 200
    assert result.json["steps"] == 4

    arts = (await cts_api.get("runs", run["run_id"], "artifacts")).json
    steps_csv = next(a for a in arts if a["name"] == "steps.csv")
    assert steps_csv["url"] == f"{run_url}/artifacts/steps.csv"
    assert steps_csv["content_type"].startswith("text/csv")
    assert [a["url"] for a in done["artifacts"]] == [a["url"] for a in arts]

    file = await cts_api.get("runs", run["run_id"], "artifacts", "steps.csv")
    assert file.status == 200
    assert file.body == b"step\n1\n2\n3\n4\n"
    assert file.headers["Content-Type"].startswith("text/csv")
    assert file.headers["Content-Disposition"] == 'inline; filename="steps.csv"'
    assert int(file.headers["Content-Length"]) == steps_csv["size"]
    download = await cts_api.get("runs", run["run_id"], "artifacts", "steps.csv", params={"download": "1"})
    assert download.headers["Content-Disposition"].startswith("attachment")

    logs = (await cts_api.get("runs", run["run_id"], "logs")).json
    messages = [r["message"] for r in logs]
    assert [r["seq"] for r in logs] == list(range(1, len(logs) + 1))
    assert "step 3 of 4" in messages
    assert "stdout says step 2" in messages
    later = (await cts_api.get("runs", run["run_id"], "logs", params={"since": logs[-3]["seq"]})).json
    assert later == logs[-2:]


async def test_runs_are_listed_newest_first_with_filters_and_paging(cts_api):
    ids = [(await start(cts_api, "test-echo", {"label": f"n{i}"})).json["run_id"] for i in range(3)]
    for run_id in ids:
        await cts_api.wait_for(run_id, {"completed"})
    steps = (await start(cts_api, "test-steps", {"steps": 1, "delay_s": 0})).json["run_id"]
    await cts_api.wait_for(steps, {"completed"})

    everything = (await cts_api.get("runs")).json
    assert everything["total"] == 4
    assert [r["run_id"] for r in everything["runs"]] == [steps, *reversed(ids)]

    echoes = (await cts_api.get("runs", params={"tool_id": "test-echo", "limit": 2})).json
    assert echoes["total"] == 3
    assert [r["run_id"] for r in echoes["runs"]] == [ids[2], ids[1]]
    rest = (await cts_api.get("runs", params={"tool_id": "test-echo", "limit": 2, "offset": 2})).json
    assert [r["run_id"] for r in rest["runs"]] == [ids[0]]
    assert (await cts_api.get("runs", params={"status": "running"})).json == {"runs": [], "total": 0}
    for run in everything["runs"]:
        for art in run["artifacts"]:
            assert art["url"].endswith(f"/v1/runs/{run['run_id']}/artifacts/{quote(art['name'])}")


async def test_a_running_run_is_canceled_and_health_counts_it(cts_api):
    run_id = (await start(cts_api, "test-misbehave", {"mode": "sleep", "seconds": 60})).json["run_id"]
    await cts_api.wait_for(run_id, {"running"})
    health = (await cts_api.get("health")).json
    assert health["status"] == "ok"
    assert health["runs_running"] == 1

    reply = await cts_api.delete("runs", run_id)
    assert reply.status == 202
    assert reply.json["status"] == "canceled"
    assert (await cts_api.wait_for(run_id, {"canceled"}))["completed_at"] is not None
    assert (await cts_api.get("health")).json["runs_running"] == 0


async def test_capabilities_describe_each_tool_and_one_tool_can_be_fetched(cts_api):
    caps = (await cts_api.get("capabilities")).json
    assert caps["api_version"] == "1"
    tools = {t["id"]: t for t in caps["tools"]}
    steps = tools["test-steps"]
    assert steps["input"] == "none"
    assert set(steps["params_schema"]["properties"]) == {"steps", "delay_s"}
    one = await cts_api.get("tools", "test-steps")
    assert one.status == 200
    assert one.json == steps


async def test_the_activity_clock_ticks_while_a_run_executes(cts_api, cts_app, jp_serverapp):
    """An idle culler looks at the server's last activity: a long analysis must keep it fresh."""
    web_app = jp_serverapp.web_app
    run_id = (await start(cts_api, "test-misbehave", {"mode": "sleep", "seconds": 60})).json["run_id"]
    await cts_api.wait_for(run_id, {"running"})
    before = web_app.last_activity()
    await asyncio.sleep(0.5)  # no requests meanwhile: only the extension can move the clock
    assert web_app.last_activity() > before
    assert jp_serverapp.extension_manager.any_activity()

    await cts_api.delete("runs", run_id)
    await cts_api.wait_for(run_id, {"canceled"})
    quiet = web_app.settings["cts_last_activity"]
    await asyncio.sleep(0.4)
    assert web_app.settings["cts_last_activity"] == quiet
    assert not jp_serverapp.extension_manager.any_activity()


@pytest.fixture
def demo_drive(jp_root_dir, tmp_path):
    """A generated one-minute Subaru segment under the server's root_dir, and what was planted in it."""
    truth_path = tmp_path / "truth.json"
    write_segment(jp_root_dir / "drives" / "demo--0" / "rlog.zst", preset("demo"), truth_path=truth_path)
    return "drives/demo--0", json.loads(truth_path.read_text())


async def test_real_analyses_of_a_generated_drive_through_the_api(cts_api, demo_drive):
    path, truth = demo_drive
    started = await start(
        cts_api,
        "cruise-control-analyzer",
        {"speed_min": 55, "speed_max": 56},
        input={"type": "path", "value": path},
    )
    run = await cts_api.wait_for(started.json["run_id"], {"completed", "failed"}, timeout=120)
    assert run["status"] == "completed", run["error"]
    result = (await cts_api.get("runs", run["run_id"], "result")).json

    sets = [p["t_s"] for p in result["buttons"]["set_presses"]]
    assert sets == pytest.approx([p["can_t_s"] for p in truth["presses"]["set"]], abs=0.05)
    windows = [(w["start_s"], w["end_s"]) for w in result["target_windows"]]
    expected = [(w["start_s"], w["end_s"]) for w in truth["target_windows"]]
    assert len(windows) == len(expected)
    for got, want in zip(windows, expected, strict=True):
        assert got == pytest.approx(want, abs=0.05)
    assert len(result["cruise"]["engaged_intervals"]) == len(truth["engaged_intervals"])
    assert result["metadata"]["run_id"] == run["run_id"]

    arts = {a["name"]: a for a in (await cts_api.get("runs", run["run_id"], "artifacts")).json}
    assert {"result.json", "report.html", "speed_timeline.png", "candidates.csv"} <= set(arts)
    report = await cts_api.get("runs", run["run_id"], "artifacts", "report.html")
    assert report.headers["Content-Type"].startswith("text/html")
    assert "sandbox" in report.headers["Content-Security-Policy"], "a report is shown, never run"
    png = await cts_api.get("runs", run["run_id"], "artifacts", "speed_timeline.png")
    assert png.headers["Content-Type"] == "image/png" and png.body.startswith(b"\x89PNG")

    csv_run = await start(
        cts_api, "rlog-to-csv", {"window_start": 14, "window_dur": 2}, input={"type": "path", "value": path}
    )
    csv_done = await cts_api.wait_for(csv_run.json["run_id"], {"completed", "failed"}, timeout=120)
    assert csv_done["status"] == "completed", csv_done["error"]
    can_csv = await cts_api.get("runs", csv_done["run_id"], "artifacts", "can.csv")
    lines = can_csv.body.decode().splitlines()
    assert lines[0] == "t_s,log_mono_time,bus,address,data_hex,segment"
    assert {line.rsplit(",", 1)[1] for line in lines[1:]} == {"pre", "window", "post"}

    watch = await start(
        cts_api, "can-bitwatch", {"window_start": 14, "window_dur": 2}, input={"type": "path", "value": path}
    )
    watched = await cts_api.wait_for(watch.json["run_id"], {"completed", "failed"}, timeout=120)
    assert watched["status"] == "completed", watched["error"]
    names = {a["name"] for a in watched["artifacts"]}
    assert {"counts.csv", "bit_edges.csv", "per_address.json", "accel_hunt.csv"} <= names
