"""Uploaded logs: written as the bytes arrive, refused as soon as they pass the size limit, usable
by a run once finished, under a safe file name in ``{data_dir}/uploads/<upload_id>/``.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest

PLUGINS = str(Path(__file__).parent / "plugins")
if PLUGINS not in sys.path:
    sys.path.insert(0, PLUGINS)  # the test tools and their entry points (tests/plugins/README.md)
from cts_test_tools import testing  # noqa: E402

from jupyter_cts.engine.models import RunInput, RunRequest, RunStatus  # noqa: E402
from jupyter_cts.engine.uploads import safe_filename  # noqa: E402
from jupyter_cts.errors import UnknownUploadError, UploadTooLargeError  # noqa: E402
from jupyter_cts.logs import LogWriter  # noqa: E402

make_engine = testing.make_engine  # fixture


def a_log(tmp_path: Path) -> bytes:
    path = tmp_path / "made" / "rlog.zst"
    with LogWriter(path) as writer:
        for i in range(200):
            writer.can(i * 10_000_000, [(0x140, bytes([i % 256]) * 8, 0), (0x13C, bytes(8), 1)])
    return path.read_bytes()


def test_an_upload_is_streamed_in_chunks_then_a_run_reads_it(make_engine, tmp_path: Path) -> None:
    engine = make_engine()
    data = a_log(tmp_path)

    writer = engine.uploads.begin("rlog.zst")
    for start in range(0, len(data), 1000):
        writer.write(data[start : start + 1000])
    upload = writer.finish()

    assert (upload.size, upload.sha256, upload.filename) == (
        len(data),
        hashlib.sha256(data).hexdigest(),
        "rlog.zst",
    )
    stored = engine.uploads.path(upload.upload_id)
    assert stored == tmp_path / "data" / "uploads" / upload.upload_id / "rlog.zst"
    assert stored.read_bytes() == data
    assert engine.uploads.get(upload.upload_id) == upload
    run = engine.execute_tool(
        RunRequest(tool_id="test-read-input", input=RunInput(type="upload", value=upload.upload_id)),
        timeout=30,
    )
    assert run.status == RunStatus.COMPLETED, run.error
    assert engine.get_result(run.run_id) == {"inputs": [str(stored)], "bytes": len(data)}


def test_an_upload_past_the_limit_is_refused_at_once_and_leaves_nothing(make_engine, tmp_path: Path) -> None:
    engine = make_engine(start=False, max_upload_bytes=10)
    writer = engine.uploads.begin("big.zst")
    writer.write(b"123456")

    with pytest.raises(UploadTooLargeError, match="larger than the limit of 10 bytes"):
        writer.write(b"789012")

    assert list((tmp_path / "data" / "uploads").iterdir()) == []
    with pytest.raises(UnknownUploadError):
        engine.uploads.path(writer.upload_id)


def test_an_unfinished_or_aborted_upload_cannot_be_used(make_engine, tmp_path: Path) -> None:
    engine = make_engine(start=False)
    unfinished = engine.uploads.begin("rlog.zst")
    unfinished.write(b"\x28\xb5\x2f\xfd")
    aborted = engine.uploads.begin("rlog.zst")
    aborted.write(b"\x28\xb5\x2f\xfd")
    aborted.abort()

    for upload_id in (unfinished.upload_id, aborted.upload_id, "../../etc", "no-such-upload"):
        with pytest.raises(UnknownUploadError):
            engine.uploads.path(upload_id)
    assert not (tmp_path / "data" / "uploads" / aborted.upload_id).exists()
    with pytest.raises(ValueError, match="already finished or aborted"):
        aborted.write(b"more")


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("rlog.zst", "rlog.zst"),
        ("../../etc/passwd", "passwd"),
        ("C:\\drives\\qlog.bz2", "qlog.bz2"),
        ("my drive (1).zst", "my_drive_1_.zst"),
        ("...", "upload"),
        (None, "upload"),
        ("upload.json", "upload"),
    ],
)
def test_uploaded_file_names_are_made_safe(given: str | None, stored: str) -> None:
    assert safe_filename(given) == stored
