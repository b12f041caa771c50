"""A person at a shell lists the tools, starts an analysis on a generated drive and watches it run.

Everything goes through the real ``cts`` command (a subprocess) against a real ``cts-lite``; the
expected values are read from the server with plain HTTP, never typed into the test.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path

import httpx
from cli_harness import Server, clean_env, cts

TOOL = "cruise-control-analyzer"


def test_cap_lists_every_tool_with_its_parameters_types_defaults_and_units(cts_lite: Server) -> None:
    caps = httpx.get(f"{cts_lite.url}v1/capabilities", headers=cts_lite.headers, timeout=10).json()

    result = cts(["cap"], env=cts_lite.env())

    assert result.code == 0, result
    lines = result.stdout.splitlines()
    for tool in caps["tools"]:
        assert any(line.startswith(tool["id"]) for line in lines), f"{tool['id']} is listed"
        for name, prop in tool["params_schema"].get("properties", {}).items():
            line = next((ln for ln in lines if ln.strip().startswith(name + " ")), None)
            assert line is not None, f"parameter {name} of {tool['id']} is listed"
            if isinstance(prop.get("default"), float | int) and not isinstance(prop.get("default"), bool):
                assert f"default {prop['default']}" in line, line
            if prop.get("unit"):
                assert f"[{prop['unit']}]" in line, line
    analyzer = next(t for t in caps["tools"] if t["id"] == TOOL)
    speed_min = next(ln for ln in lines if ln.strip().startswith("speed_min "))
    assert "number" in speed_min
    assert analyzer["params_schema"]["properties"]["speed_min"]["default"] == 55.0


def test_cap_json_is_the_servers_capabilities(cts_lite: Server) -> None:
    caps = httpx.get(f"{cts_lite.url}v1/capabilities", headers=cts_lite.headers, timeout=10).json()

    result = cts(["--json", "cap"], env=cts_lite.env())

    assert result.code == 0, result
    assert json.loads(result.stdout) == caps


def test_run_prints_the_id_of_a_queued_run_at_once(cts_lite: Server, segment: str) -> None:
    result = cts(["run", TOOL, "--path", segment, "-p", "speed_min=50", "--json"], env=cts_lite.env())

    assert result.code == 0, result
    started = json.loads(result.stdout)
    assert started["status"] == "queued"
    assert started["params"]["speed_min"] == 50.0, "the server coerced the string and filled the defaults"
    assert started["params"]["speed_max"] == 56.0
    assert cts_lite.wait_final(started["run_id"])["status"] == "completed"


def test_a_run_goes_queued_running_completed(cts_lite: Server, segment: str) -> None:
    plain = cts(["run", TOOL, "--path", segment, "-p", "speed_min=50"], env=cts_lite.env())
    assert plain.code == 0, plain
    run_id = plain.stdout.strip()
    assert f"run {run_id} queued" in plain.stderr
    assert f"cts logs -f {run_id}" in plain.stderr

    seen: list[str] = []
    deadline = time.monotonic() + 60
    while not seen or seen[-1] not in ("completed", "failed", "canceled"):
        assert time.monotonic() < deadline, f"still {seen} after 60 s"
        status = cts(["status", run_id, "--json"], env=cts_lite.env())
        assert status.code == 0, status
        state = json.loads(status.stdout)["status"]
        if not seen or seen[-1] != state:
            seen.append(state)

    order = ["queued", "running", "completed"]
    assert seen[-1] == "completed", seen
    assert [order.index(s) for s in seen] == sorted(order.index(s) for s in seen), f"never backwards: {seen}"
    final = cts_lite.get_run(run_id)
    assert final["started_at"] and final["started_at"] <= final["completed_at"], "it did run"
    text = cts(["status", run_id], env=cts_lite.env())
    assert "status:    completed" in text.stdout and f"run:       {run_id}" in text.stdout


def test_an_unknown_tool_exits_1_and_lists_the_real_ones(cts_lite: Server, segment: str) -> None:
    result = cts(["run", "no-such-tool", "--path", segment], env=cts_lite.env())

    assert result.code == 1, result
    assert "no-such-tool" in result.stderr
    assert TOOL in result.stderr


def test_invalid_parameters_exit_1_with_one_line_per_field(cts_lite: Server, segment: str) -> None:
    before = httpx.get(f"{cts_lite.url}v1/runs", headers=cts_lite.headers, timeout=10).json()["total"]

    result = cts(
        ["run", TOOL, "--path", segment, "-p", "speed_min=fast", "-p", "no_such_param=1"], env=cts_lite.env()
    )

    assert result.code == 1, result
    lines = result.stderr.splitlines()
    assert any(ln.strip().startswith("params.speed_min: ") for ln in lines), result
    assert any(ln.strip().startswith("params.no_such_param: ") for ln in lines), result
    after = httpx.get(f"{cts_lite.url}v1/runs", headers=cts_lite.headers, timeout=10).json()["total"]
    assert after == before, "nothing was started"


def test_a_missing_input_is_refused_naming_the_path(cts_lite: Server) -> None:
    result = cts(["run", TOOL, "--path", "no/such/rlog.zst"], env=cts_lite.env())

    assert result.code == 1, result
    assert "no/such/rlog.zst" in result.stderr


def test_runs_and_result_show_a_finished_run(cts_lite: Server, segment: str) -> None:
    run_id = cts(
        ["run", TOOL, "--path", segment, "--name", "listing story"], env=cts_lite.env()
    ).stdout.strip()
    cts_lite.wait_final(run_id)

    listing = cts(["runs", "--tool", TOOL, "--limit", "100"], env=cts_lite.env())
    result = cts(["result", run_id], env=cts_lite.env())

    assert listing.code == 0, listing
    row = next(ln for ln in listing.stdout.splitlines() if ln.startswith(run_id))
    assert "completed" in row and "listing story" in row
    served = httpx.get(f"{cts_lite.url}v1/runs/{run_id}/result", headers=cts_lite.headers, timeout=10).json()
    assert result.code == 0, result
    assert json.loads(result.stdout) == served


def test_cts_finds_a_running_cts_lite_without_being_told(cts_lite: Server) -> None:
    """No --url, no CTS_URL: the runtime file cts-lite wrote is found and probed."""
    result = cts(["--json", "cap"], env=clean_env(cts_lite.runtime_dir))

    assert result.code == 0, result
    assert {t["id"] for t in json.loads(result.stdout)["tools"]} >= {TOOL}


def test_a_local_file_is_uploaded_then_analysed(cts_lite: Server, segment: str, tmp_path: Path) -> None:
    """The log lives on the person's machine, not the server's: --upload streams it over first."""
    local_copy = tmp_path / "my-drive" / "rlog.zst"
    local_copy.parent.mkdir()
    shutil.copyfile(cts_lite.root_dir / segment, local_copy)

    result = cts(
        ["run", TOOL, "--upload", str(local_copy), "-p", "speed_min=50", "--json", "--wait"],
        env=cts_lite.env(),
    )

    assert result.code == 0, result
    run = json.loads(result.stdout)
    assert run["status"] == "completed"
    assert run["input"]["type"] == "upload"
    digest = hashlib.sha256(local_copy.read_bytes()).hexdigest()
    assert f"sha256 {digest[:12]}" in result.stderr, "the server hashed exactly the bytes sent"
    served = httpx.get(
        f"{cts_lite.url}v1/runs/{run['run_id']}/result", headers=cts_lite.headers, timeout=10
    ).json()
    assert served["input"]["events"] > 0
