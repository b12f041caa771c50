"""A newcomer reads ``cts --help`` (examples, exit codes, how to turn on completion) and turns on shell
completion, which then completes commands, tool ids and run ids."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import httpx
from cli_harness import CTS, SLEEPER, Server, clean_env, cts


def test_help_shows_examples_exit_codes_and_completion(tmp_path: Path) -> None:
    top = cts(["--help"], env=clean_env(tmp_path))
    run = cts(["run", "--help"], env=clean_env(tmp_path))

    assert top.code == 0 and run.code == 0
    assert "Examples:" in top.stdout and "cts run cruise-control-analyzer --path seg/rlog.zst" in top.stdout
    assert "Exit codes: 0 ok, 1 usage" in top.stdout
    assert "_CTS_COMPLETE=bash_source cts" in top.stdout
    for command in ("cap", "run", "status", "runs", "logs", "cancel", "result", "artifacts", "synth"):
        assert f"  {command} " in top.stdout, f"{command} is listed"
    assert "Examples:" in run.stdout
    for option in (
        "--path",
        "--upload",
        "-p, --param",
        "--name",
        "--timeout",
        "--wait",
        "--follow",
        "--out",
        "--local",
        "--json",
    ):
        assert option in run.stdout, option


def _complete(words: str, env: dict[str, str]) -> list[str]:
    """What bash's completion function asks ``cts`` for, exactly as the generated script does."""
    cword = len(words.split()) - (0 if words.endswith(" ") else 1)
    done = subprocess.run(
        CTS,
        env={**env, "COMP_WORDS": words, "COMP_CWORD": str(cword), "_CTS_COMPLETE": "bash_complete"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return [line.split(",", 1)[1] for line in done.stdout.splitlines() if "," in line]


def test_the_bash_completion_script_is_generated(tmp_path: Path) -> None:
    script = subprocess.run(
        CTS,
        env={**clean_env(tmp_path), "_CTS_COMPLETE": "bash_source"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout

    assert "_CTS_COMPLETE=bash_complete" in script
    assert "complete -o nosort -F _cts_completion cts" in script
    if shutil.which("bash"):
        checked = subprocess.run(["bash", "-n"], input=script, capture_output=True, text=True, check=False)
        assert checked.returncode == 0, checked.stderr


def test_completion_of_commands_and_tool_ids(tmp_path: Path) -> None:
    env = clean_env(tmp_path)

    assert _complete("cts st", env) == ["status"]
    assert "cruise-control-analyzer" in _complete("cts run cr", env)
    assert _complete("cts run --lo", env) == ["--local"]


def test_completion_of_run_ids_asks_the_server(cts_lite: Server) -> None:
    run_id = cts(["run", SLEEPER, "-p", "seconds=0"], env=cts_lite.env()).stdout.strip()
    listed = httpx.get(f"{cts_lite.url}v1/runs?limit=50", headers=cts_lite.headers, timeout=10).json()

    offered = _complete(f"cts status {run_id[:6]}", cts_lite.env())

    assert run_id in offered
    assert set(offered) == {r["run_id"] for r in listed["runs"] if r["run_id"].startswith(run_id[:6])}


def test_completion_stays_quiet_when_the_server_is_down(tmp_path: Path) -> None:
    env = clean_env(tmp_path, CTS_URL="http://127.0.0.1:9/", CTS_TOKEN="x")

    assert _complete("cts status ", env) == []
    assert _complete("cts logs ", env) == []
