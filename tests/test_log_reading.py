"""Reading logs: a user points read_can / read_log at a file, a segment, a route or a list, and gets
every CAN frame exactly as pycapnp reads it through the full cereal schema, plus carState and metadata."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from logfactory import oracle_rows, table_rows, write_drive

from jupyter_cts.errors import InputError, ValidationError
from jupyter_cts.logs import LogWriter, iter_segments, read_can, read_log, resolve_segments

ROUTE = "a3f2c1d0e9b8a7f6|2024-01-01--12-00-00"


@pytest.mark.parametrize("compression", ["zst", "bz2", None])
def test_a_segment_file_reads_frame_for_frame_like_pycapnp(tmp_path: Path, compression: str | None) -> None:
    drive = write_drive(tmp_path / "rlog", compression=compression, seed=1)

    table = read_can(drive.path)

    assert table_rows(table) == oracle_rows(drive.path)
    assert table_rows(table) == drive.rows()
    assert table.t_ns.dtype == np.uint64 and table.bus.dtype == np.uint8
    assert table.address.dtype == np.uint32 and table.dlc.dtype == np.uint8
    assert table.data.dtype == np.uint8 and table.data.shape == (len(table), 8)


@pytest.mark.parametrize(
    ("name", "compression"), [("rlog.bz2", "zst"), ("rlog.zst", "bz2"), ("rlog.zst", None), ("rlog", "zst")]
)
def test_the_container_is_told_by_magic_bytes_not_by_the_name(
    tmp_path: Path, name: str, compression: str | None
) -> None:
    drive = write_drive(tmp_path / name, compression=compression, seed=2)

    assert table_rows(read_can(drive.path)) == drive.rows()


def test_a_segment_folder_prefers_the_rlog_over_the_qlog(tmp_path: Path) -> None:
    segment = tmp_path / f"{ROUTE}--3"
    qlog = write_drive(segment / "qlog.zst", seed=3, seconds=0.5)
    rlog = write_drive(segment / "rlog.bz2", seed=4, seconds=1.0)

    [found] = resolve_segments(segment)
    log = read_log(segment)

    assert (found.path, found.kind, found.route, found.number) == (rlog.path, "rlog", ROUTE, 3)
    assert table_rows(log.can) == rlog.rows() != qlog.rows()
    assert log.segments[0].kind == "rlog"


def test_a_segment_folder_with_only_a_qlog_reads_the_qlog(tmp_path: Path) -> None:
    qlog = write_drive(tmp_path / f"{ROUTE}--0" / "qlog.zst", seed=5, seconds=0.5)

    [found] = resolve_segments(tmp_path / f"{ROUTE}--0")

    assert (found.kind, found.number) == ("qlog", 0)
    assert table_rows(read_can(found.path)) == qlog.rows()


def _route(tmp_path: Path, numbers: list[int]) -> dict[int, Path]:
    """Segment folders written in the given (shuffled) order, each starting a minute after the last."""
    paths = {}
    for n in numbers:
        drive = write_drive(
            tmp_path / "route" / f"{ROUTE}--{n}" / "rlog.zst", seed=n, seconds=0.3, t0_ns=(n + 1) * 60 * 10**9
        )
        paths[n] = drive.path
    return paths


def test_a_route_folder_orders_its_segments_by_number_not_by_name(tmp_path: Path) -> None:
    paths = _route(tmp_path, [10, 2, 0, 1])

    segments = resolve_segments(tmp_path / "route")
    log = read_log(tmp_path / "route")

    assert [s.number for s in segments] == [0, 1, 2, 10]
    assert [s.path for s in segments] == [paths[n] for n in (0, 1, 2, 10)]
    assert {s.route for s in segments} == {ROUTE}
    assert [s.number for s in log.segments] == [0, 1, 2, 10]
    assert np.all(np.diff(log.can.t_ns.astype(np.int64)) >= 0)
    assert table_rows(log.can) == [row for n in (0, 1, 2, 10) for row in oracle_rows(paths[n])]
    assert log.first_t_ns == log.segments[0].start_t_ns


def test_segment_folders_with_a_plain_number_suffix_also_count(tmp_path: Path) -> None:
    for n in (11, 9):
        write_drive(tmp_path / "r" / f"drive--{n}" / "rlog", compression=None, seed=n, seconds=0.1)

    assert [(s.route, s.number) for s in resolve_segments(tmp_path / "r")] == [("drive", 9), ("drive", 11)]


def test_a_flat_folder_of_route_files_is_a_route_too(tmp_path: Path) -> None:
    """Some download tools put '<route>--N--rlog.zst' files side by side instead of folders."""
    for n in (10, 1):
        write_drive(tmp_path / f"{ROUTE}--{n}--rlog.zst", seed=n, seconds=0.1)
    write_drive(tmp_path / f"{ROUTE}--1--qlog.zst", seed=99, seconds=0.1)

    segments = resolve_segments(tmp_path)

    assert [(s.number, s.kind, s.path.name) for s in segments] == [
        (1, "rlog", f"{ROUTE}--1--rlog.zst"),
        (10, "rlog", f"{ROUTE}--10--rlog.zst"),
    ]
    assert {s.route for s in segments} == {ROUTE}


def test_an_explicit_list_is_read_in_the_given_order(tmp_path: Path) -> None:
    a = write_drive(tmp_path / "a" / "rlog.zst", seed=7, seconds=0.2)
    b = write_drive(tmp_path / "seg--4" / "rlog.bz2", seed=8, seconds=0.2, compression="bz2")
    segment_b = b.path.parent

    table = read_can([segment_b, a.path])

    assert table_rows(table) == b.rows() + a.rows()
    assert [s.path for s in resolve_segments([segment_b, a.path])] == [segment_b / "rlog.bz2", a.path]


def test_inputs_that_are_not_logs_say_so(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("not a log")

    for bad in (tmp_path / "missing.zst", tmp_path / "empty", tmp_path / "notes", []):
        with pytest.raises(InputError) as err:
            resolve_segments(bad)
        assert isinstance(err.value, ValidationError)
        assert err.value.errors[0]["loc"] == ["input", "value"]
    with pytest.raises(InputError, match="no such file"):
        read_can(tmp_path / "missing.zst")
    with pytest.raises(InputError, match="no openpilot log"):
        read_log(tmp_path / "notes")


def test_panda_echoes_keep_their_own_bus(tmp_path: Path) -> None:
    drive = write_drive(tmp_path / "rlog.zst", seed=9, echoes=True)
    sent = [r for r in drive.rows() if r[1] >= 128]

    table = read_can(drive.path)
    counts = table.counts_by_bus()

    assert sent, "the generated drive must hold echoes for this test to mean anything"
    assert counts[128] == len(sent)
    assert {0, 1, 2, 128} == set(counts)
    echoes = table.filter(table.bus >= 128)
    assert table_rows(echoes) == sent


def test_sendcan_events_are_not_received_frames(tmp_path: Path) -> None:
    drive = write_drive(tmp_path / "rlog", compression=None, seed=10)

    table = read_can(drive.path)

    assert len(table) == len(drive.rows())  # the 0x122 sendcan frames are left out


def test_canfd_payloads_widen_the_table_to_64_bytes(tmp_path: Path) -> None:
    frames = [
        (0x100, bytes(range(64)), 0),
        (0x101, b"", 1),
        (0x102, bytes(range(12)), 2),
        (0x103, b"\x01" * 8, 0),
    ]
    with LogWriter(tmp_path / "rlog.zst") as w:
        w.can(5, frames)
        w.can(6, [])

    table = read_can(tmp_path / "rlog.zst")

    assert table.data.shape == (4, 64)
    assert table.dlc.tolist() == [64, 0, 12, 8]
    assert table_rows(table) == oracle_rows(tmp_path / "rlog.zst")
    assert not table.data[2, 12:].any()  # padding past a frame's length is zero


def test_to_pandas_gives_one_row_per_frame(tmp_path: Path) -> None:
    drive = write_drive(tmp_path / "rlog.zst", seed=11, seconds=0.3)

    df = read_can(drive.path).to_pandas()

    assert list(df.columns) == ["t_ns", "bus", "address", "dlc", "data"]
    assert list(zip(df.t_ns, df.bus, df.address, df.data, strict=True)) == drive.rows()


def test_read_log_gives_car_state_and_metadata(tmp_path: Path) -> None:
    drive = write_drive(tmp_path / f"{ROUTE}--5" / "rlog.zst", seed=12, seconds=1.0)

    log = read_log(drive.path.parent)

    cs = log.car_state
    assert cs.t_ns.tolist() == [s["t_ns"] for s in drive.car_state]
    for name in ("v_ego", "cruise_speed"):
        assert cs[name].dtype == np.float32
        np.testing.assert_allclose(cs[name], [s[name] for s in drive.car_state], rtol=1e-6)
    np.testing.assert_allclose(cs["v_ego_raw"], cs["v_ego"])  # the writer's default
    for name in (
        "cruise_enabled",
        "cruise_available",
        "left_blinker",
        "right_blinker",
        "brake_pressed",
        "gas_pressed",
        "standstill",
    ):
        assert cs[name].dtype == np.bool_
        assert cs[name].tolist() == [s[name] for s in drive.car_state]
    meta = log.metadata
    assert (meta.car_fingerprint, meta.brand, meta.car_vin) == ("SUBARU_OUTBACK", "subaru", "JF2TEST")
    assert (meta.dongle_id, meta.version, meta.git_commit) == ("dongle12", "0.9.8", "abc123")
    assert meta.wall_time_ns == 1_700_000_000 * 10**9
    [seg] = log.segments
    assert (seg.number, seg.route, seg.n_can_frames) == (5, ROUTE, len(drive.rows()))
    assert seg.n_events == log.n_events == 2 + len(drive.can) * 2 + len(drive.can) // 10 * 2
    assert log.first_t_ns == seg.start_t_ns == 1_000_000_000
    assert log.t_s(log.can.t_ns)[0] == pytest.approx(0.01)
    assert log.warnings == [] and log.damage is None


def test_metadata_that_was_not_logged_is_none(tmp_path: Path) -> None:
    drive = write_drive(tmp_path / "rlog", compression=None, seed=13, seconds=0.1, car_fingerprint=None)

    meta = read_log(drive.path).metadata

    assert meta.car_fingerprint is None and meta.brand is None and meta.car_vin is None
    assert meta.dongle_id == "dongle13"


def test_iter_segments_reads_one_segment_at_a_time(tmp_path: Path) -> None:
    paths = _route(tmp_path, [0, 1, 2])

    parts = iter_segments(tmp_path / "route")
    first = next(parts)

    assert [s.path for s in first.segments] == [paths[0]]
    assert table_rows(first.can) == oracle_rows(paths[0])
    rest = list(parts)
    assert [p.segments[0].number for p in rest] == [1, 2]
    assert sum(len(p.can) for p in [first, *rest]) == len(read_can(tmp_path / "route"))


def test_logs_written_here_are_valid_for_openpilots_logreader(tmp_path: Path) -> None:
    from openpilot_logging.logreader import LogReader

    for name, compression in (("rlog.zst", "zst"), ("rlog.bz2", "bz2"), ("rlog", None)):
        drive = write_drive(tmp_path / name, compression=compression, seed=14, seconds=0.2)
        rows = [
            (m.logMonoTime, c.src, c.address, bytes(c.dat))
            for m in LogReader(str(drive.path))
            if m.which() == "can"
            for c in m.can
        ]
        assert rows == drive.rows()
