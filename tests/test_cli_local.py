"""``cts run --local``: no server at all, the same engine in the CLI's process, the same outputs.

The shell these stories run in points CTS_URL at a closed port, so any attempt to reach a server
would fail loudly; the local result is compared with the same analysis run by ``cts-lite``.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from cli_harness import Server, clean_env, cts, free_port

TOOL = "cruise-control-analyzer"


@pytest.fixture
def offline_env(tmp_path: Path) -> dict[str, str]:
    return clean_env(
        tmp_path / "runtime",
        CTS_URL=f"http://127.0.0.1:{free_port()}/",
        CTS_TOKEN="unused",
        CTS_LOCAL_DATA_DIR=str(tmp_path / "local-data"),
    )


def _comparable(result: dict) -> dict:
    """A result without what differs by design between two runs: ids, paths and timings."""
    clean = {k: v for k, v in result.items() if k not in ("metadata", "input")}
    clean["input"] = {k: v for k, v in result.get("input", {}).items() if k not in ("files",)}
    return clean


def test_local_run_needs_no_server_and_gives_the_servers_outputs(
    cts_lite: Server, segment: str, offline_env: dict[str, str], tmp_path: Path
) -> None:
    local_out = tmp_path / "local"

    local = cts(
        ["run", TOOL, "--path", segment, "-p", "speed_min=50", "--local", "--json", "--out", str(local_out)],
        env=offline_env,
        cwd=cts_lite.root_dir,
    )

    assert local.code == 0, local
    run = json.loads(local.stdout)
    assert run["status"] == "completed"
    assert run["params"]["speed_min"] == 50.0
    local_result = json.loads((local_out / "result.json").read_text())

    remote = cts(
        ["run", TOOL, "--path", segment, "-p", "speed_min=50", "--json", "--wait"], env=cts_lite.env()
    )
    remote_run = json.loads(remote.stdout)
    served = httpx.get(
        f"{cts_lite.url}v1/runs/{remote_run['run_id']}/result", headers=cts_lite.headers, timeout=10
    ).json()
    assert _comparable(local_result) == _comparable(served)
    assert sorted(p.name for p in local_out.iterdir()) == sorted(a["name"] for a in remote_run["artifacts"])


def test_local_run_shows_progress_and_a_summary(
    cts_lite: Server, segment: str, offline_env: dict[str, str]
) -> None:
    result = cts(["run", TOOL, "--path", segment, "--local"], env=offline_env, cwd=cts_lite.root_dir)

    assert result.code == 0, result
    assert "completed" in result.stdout.splitlines()[0]
    assert "running" in result.stderr, "the progress line shows the run's own state"
    artifacts_line = next(ln for ln in result.stderr.splitlines() if ln.startswith("artifacts: "))
    artifacts_dir = Path(artifacts_line.removeprefix("artifacts: "))
    assert artifacts_dir.is_relative_to(offline_env["CTS_LOCAL_DATA_DIR"]), "local runs have their own store"
    assert (artifacts_dir / "result.json").is_file()


def test_local_follow_prints_the_log(cts_lite: Server, segment: str, offline_env: dict[str, str]) -> None:
    result = cts(
        ["run", TOOL, "--path", segment, "--local", "--follow"], env=offline_env, cwd=cts_lite.root_dir
    )

    assert result.code == 0, result
    log_lines = [ln for ln in result.stdout.splitlines() if " INFO " in ln or " WARNING " in ln]
    assert log_lines, result


def test_local_invalid_parameters_and_tools_are_usage_errors(
    cts_lite: Server, segment: str, offline_env: dict[str, str]
) -> None:
    bad_param = cts(
        ["run", TOOL, "--path", segment, "-p", "speed_min=fast", "--local"],
        env=offline_env,
        cwd=cts_lite.root_dir,
    )
    bad_tool = cts(
        ["run", "no-such-tool", "--path", segment, "--local"], env=offline_env, cwd=cts_lite.root_dir
    )

    assert bad_param.code == 1, bad_param
    assert any(ln.strip().startswith("params.speed_min: ") for ln in bad_param.stderr.splitlines()), bad_param
    assert bad_tool.code == 1, bad_tool
    assert "no-such-tool" in bad_tool.stderr and TOOL in bad_tool.stderr
