"""A person watches a run: a progress bar (--wait), the live log (--follow), JSON for scripts (--json);
interrupts the watching (Ctrl-C leaves the run alone) and cancels a run.

Long runs use the test sleeper tool the harness installs into cts-lite (it takes as long as it is
asked to, logging and reporting progress every 0.1 s), so the timing never depends on how fast an
analysis happens to be on this machine.
"""

from __future__ import annotations

import json
import os
import pty
import queue
import select
import signal
import subprocess
import threading
import time

import httpx
from cli_harness import CTS, SLEEPER, Server, cts, start_cts

TOOL = "cruise-control-analyzer"


def _served_logs(server: Server, run_id: str) -> list[dict]:
    return httpx.get(f"{server.url}v1/runs/{run_id}/logs", headers=server.headers, timeout=10).json()


def _stderr_lines(proc: subprocess.Popen[str]) -> queue.Queue[str | None]:
    """stderr of a running command, line by line as it is written."""
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def _wait_for_line(lines: queue.Queue[str | None], needle: str, timeout: float = 30) -> tuple[str, list[str]]:
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            break
        if line is None:
            break
        seen.append(line)
        if needle in line:
            return line, seen
    raise AssertionError(f"no line with {needle!r} on stderr; saw: {seen}")


def test_wait_shows_the_runs_own_progress_then_a_summary(cts_lite: Server, segment: str) -> None:
    result = cts(["run", TOOL, "--path", segment, "-p", "speed_min=50", "--wait"], env=cts_lite.env())

    assert result.code == 0, result
    run_id = result.stderr.split()[1]
    final = cts_lite.get_run(run_id)
    assert final["status"] == "completed"
    assert final["progress_message"] and final["progress_message"] in result.stderr, "the run's own message"
    assert "100%" in result.stderr
    headline = result.stdout.splitlines()[0]
    assert headline.startswith(f"run {run_id} ({TOOL}) completed in ")
    served = httpx.get(f"{cts_lite.url}v1/runs/{run_id}/result", headers=cts_lite.headers, timeout=10).json()
    assert f"target_windows: {len(served['target_windows'])} item" in result.stdout
    assert f"cts artifacts {run_id} --download DIR" in result.stderr


def test_follow_prints_the_runs_log_lines_as_the_server_stored_them(cts_lite: Server) -> None:
    result = cts(["run", SLEEPER, "-p", "seconds=1", "--follow"], env=cts_lite.env())

    assert result.code == 0, result
    run_id = result.stderr.split()[1]
    stored = [record["message"] for record in _served_logs(cts_lite, run_id)]
    printed = [line for line in result.stdout.splitlines() if not line.startswith(("run ", "  "))]
    assert [line.split(maxsplit=2)[2].removeprefix("[engine] ") for line in printed] == [
        message for message in stored
    ], "every stored line, once, in order"
    assert any("step 10 of 10" in line for line in printed)
    assert f"run {run_id} ({SLEEPER}) completed" in result.stdout


def test_json_mode_prints_one_json_document_and_keeps_progress_on_stderr(cts_lite: Server) -> None:
    result = cts(["--json", "run", SLEEPER, "-p", "seconds=0.5", "--wait"], env=cts_lite.env())

    assert result.code == 0, result
    run = json.loads(result.stdout)
    assert run["status"] == "completed" and run["tool_id"] == SLEEPER
    assert run == cts_lite.get_run(run["run_id"])
    assert "slept step 5 of 5" in result.stderr


def test_a_failed_run_exits_3_with_its_error(cts_lite: Server) -> None:
    waited = cts(["run", SLEEPER, "-p", "seconds=0.2", "-p", "fail=true", "--wait"], env=cts_lite.env())
    followed = cts(["run", SLEEPER, "-p", "seconds=0.2", "-p", "fail=true", "--follow"], env=cts_lite.env())

    for result in (waited, followed):
        assert result.code == 3, result
        assert "error: the sleeper was asked to fail (fail=true)" in result.stderr
        run_id = result.stderr.split()[1]
        assert f"cts logs {run_id}" in result.stderr
        assert cts_lite.get_run(run_id)["status"] == "failed"
    result = cts(["result", waited.stderr.split()[1]], env=cts_lite.env())
    assert result.code == 3 and "asked to fail" in result.stderr, result


def test_a_run_that_times_out_exits_3(cts_lite: Server) -> None:
    result = cts(["run", SLEEPER, "-p", "seconds=30", "--timeout", "1", "--wait"], env=cts_lite.env())

    assert result.code == 3, result
    assert "timed out" in result.stderr


def test_ctrl_c_while_waiting_leaves_the_run_running(cts_lite: Server) -> None:
    proc = start_cts(["run", SLEEPER, "-p", "seconds=4", "--wait"], env=cts_lite.env())
    lines = _stderr_lines(proc)
    first, _ = _wait_for_line(lines, " queued (")
    run_id = first.split()[1]
    _wait_for_line(lines, "slept step")  # it is running and the bar shows its own message

    proc.send_signal(signal.SIGINT)
    code = proc.wait(timeout=15)

    rest = []
    while (line := lines.get(timeout=5)) is not None:
        rest.append(line)
    assert code == 130, "".join(rest)
    assert (
        f"run {run_id} is still running; follow it with `cts logs -f {run_id}`, "
        f"cancel it with `cts cancel {run_id}`"
    ) in "".join(rest)
    assert "Traceback" not in "".join(rest)
    assert cts_lite.get_run(run_id)["status"] == "running", "nobody asked the server to stop it"
    assert cts_lite.wait_final(run_id)["status"] == "completed"


def test_cancel_stops_a_running_run_and_whoever_follows_it_exits_4(cts_lite: Server) -> None:
    started = cts(["run", SLEEPER, "-p", "seconds=30"], env=cts_lite.env())
    run_id = started.stdout.strip()
    follower = start_cts(["logs", "-f", run_id], env=cts_lite.env())
    waiter = start_cts(
        ["run", SLEEPER, "-p", "seconds=30", "--wait", "--name", "also canceled"], env=cts_lite.env()
    )
    waiter_lines = _stderr_lines(waiter)
    waited_id = _wait_for_line(waiter_lines, " queued (")[0].split()[1]
    deadline = time.monotonic() + 30
    while {cts_lite.get_run(run_id)["status"], cts_lite.get_run(waited_id)["status"]} != {"running"}:
        assert time.monotonic() < deadline, "both runs start"
        time.sleep(0.1)

    canceled = cts(["cancel", run_id], env=cts_lite.env())
    also = cts(["cancel", waited_id], env=cts_lite.env())

    assert canceled.code == 0, canceled
    assert f"run {run_id} cancel" in canceled.stdout
    assert also.code == 0, also
    assert follower.wait(timeout=20) == 4
    assert waiter.wait(timeout=20) == 4
    assert cts_lite.wait_final(run_id)["status"] == "canceled"
    again = cts(["cancel", run_id], env=cts_lite.env())
    assert again.code == 1 and "already ended (canceled)" in again.stderr, again
    result = cts(["result", run_id], env=cts_lite.env())
    assert result.code == 4, result


def test_logs_of_a_finished_run_and_logs_since(cts_lite: Server) -> None:
    run_id = cts(["run", SLEEPER, "-p", "seconds=0.3"], env=cts_lite.env()).stdout.strip()
    cts_lite.wait_final(run_id)
    stored = _served_logs(cts_lite, run_id)

    everything = cts(["logs", run_id, "--json"], env=cts_lite.env())
    later = cts(["logs", run_id, "--json", "--since", str(stored[1]["seq"])], env=cts_lite.env())
    followed = cts(["logs", "-f", run_id], env=cts_lite.env())

    assert [json.loads(line) for line in everything.stdout.splitlines()] == stored
    assert [json.loads(line)["seq"] for line in later.stdout.splitlines()] == [r["seq"] for r in stored[2:]]
    assert followed.code == 0, "a finished run streams its whole log and ends at once"
    assert len(followed.stdout.splitlines()) == len(stored)


def test_on_a_terminal_the_progress_bar_redraws_one_line(cts_lite: Server) -> None:
    """stderr is a real pseudo-terminal here, as in an interactive shell."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [*CTS, "run", SLEEPER, "-p", "seconds=1", "--wait"],
        env=cts_lite.env(COLUMNS="100"),
        stdout=subprocess.PIPE,
        stderr=slave,
        text=True,
    )
    os.close(slave)
    screen = b""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if not select.select([master], [], [], 0.5)[0]:
            continue
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the terminal closes when the command exits
            break
        if not chunk:
            break
        screen += chunk
    os.close(master)
    stdout, _ = proc.communicate(timeout=30)

    assert proc.returncode == 0, stdout
    text = screen.decode()
    bar_part = text.split("\n", 1)[1]  # after "run ID queued (tool)"
    redraws = bar_part.split("\n", 1)[0]
    assert redraws.count("\r") >= 5, "one line, redrawn as the run progresses"
    assert "slept step 10 of 10" in redraws and "100%" in redraws
    assert all(len(part.rstrip()) <= 99 for part in redraws.split("\r")), "fits the terminal"
    assert "completed" in stdout.splitlines()[0]
