"""A person gets the report files of an analysis onto their own disk.

``--out DIR`` on ``cts run`` and ``cts artifacts RUN --download DIR`` save exactly what the server
lists, byte for byte, under the same plain names; a name that could escape the folder is refused.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest
from cli_harness import Server, cts

from jupyter_cts.client import CTSClient, UnsafeNameError

TOOL = "cruise-control-analyzer"


def _served(server: Server, run_id: str) -> dict[str, str]:
    """name -> sha256 of every artifact, fetched with plain HTTP."""
    listing = httpx.get(f"{server.url}v1/runs/{run_id}/artifacts", headers=server.headers, timeout=10).json()
    digests = {}
    for artifact in listing:
        body = httpx.get(
            f"{server.url}v1/runs/{run_id}/artifacts/{artifact['name']}", headers=server.headers, timeout=30
        ).content
        assert len(body) == artifact["size"]
        digests[artifact["name"]] = hashlib.sha256(body).hexdigest()
    return digests


def _on_disk(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}


def test_run_with_out_waits_and_downloads_every_artifact(
    cts_lite: Server, segment: str, tmp_path: Path
) -> None:
    out = tmp_path / "report"

    result = cts(
        ["run", TOOL, "--path", segment, "-p", "speed_min=50", "--out", str(out)], env=cts_lite.env()
    )

    assert result.code == 0, result
    run_id = result.stderr.split("run ", 1)[1].split()[0]
    served = _served(cts_lite, run_id)
    assert {"result.json", "report.html"} <= served.keys()
    assert _on_disk(out) == served, "same names, same bytes, nothing else (no .part files left)"
    assert f"saved {len(served)} artifacts of run {run_id} to {out}" in result.stderr


def test_artifacts_lists_and_downloads(cts_lite: Server, segment: str, tmp_path: Path) -> None:
    run_id = cts(["run", TOOL, "--path", segment], env=cts_lite.env()).stdout.strip()
    assert cts_lite.wait_final(run_id)["status"] == "completed"
    served = _served(cts_lite, run_id)

    listing = cts(["artifacts", run_id], env=cts_lite.env())
    download = cts(["artifacts", run_id, "--download", str(tmp_path / "dl")], env=cts_lite.env())

    assert listing.code == 0, listing
    names = [ln.split()[0] for ln in listing.stdout.splitlines()[1:]]
    assert sorted(names) == sorted(served)
    assert download.code == 0, download
    assert _on_disk(tmp_path / "dl") == served
    assert sorted(Path(p).name for p in download.stdout.split()) == sorted(served)


@pytest.mark.parametrize("name", ["../escape.txt", "/etc/passwd", "sub/dir.txt", "..", "a\\b.txt", ""])
def test_a_name_that_could_leave_the_folder_is_refused_before_any_request(
    cts_lite: Server, tmp_path: Path, name: str
) -> None:
    dest = tmp_path / "dest"
    with CTSClient(cts_lite.url, cts_lite.token) as client, pytest.raises(UnsafeNameError) as raised:
        client.download_artifact("anyrun", name, dest)

    assert "not a plain file name" in str(raised.value)
    assert not (tmp_path / "escape.txt").exists()
    assert not dest.exists() or not any(dest.iterdir())
