"""Damaged logs: a user gets a LogFormatError that names the file and a byte offset, or, asking for
salvage, the events before the damage and a warning. Never a hang, an IndexError or a crash."""

from __future__ import annotations

import random
import struct
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from logfactory import (
    can_list_pointer_offset,
    message_offsets,
    oracle_rows,
    table_rows,
    write_drive,
)

from jupyter_cts.errors import LogFormatError
from jupyter_cts.logs import LogWriter, read_can, read_log
from jupyter_cts.logs.reader import SalvageWarning

pytestmark = pytest.mark.timeout(30)


def _salvage(path: Path) -> tuple[list, list[str]]:
    """read_can with salvage, returning its rows and the warnings it gave."""
    with pytest.warns(SalvageWarning) as record:
        table = read_can(path, salvage=True)
    return table_rows(table), [str(w.message) for w in record]


def _can_messages(data: bytes, path: Path) -> list[int]:
    """Offsets of the messages that are can events (the test-side framing, pycapnp for the type)."""
    from jupyter_cts.logs.schema import Event

    offsets = message_offsets(data)
    ends = [*offsets[1:], len(data)]
    out = []
    for start, end in zip(offsets, ends, strict=True):
        with Event.from_bytes(data[start:end]) as ev:
            if ev.which() == "can" and len(ev.can):
                out.append(start)
    return out


def test_an_empty_file_is_damage_at_byte_0(tmp_path: Path) -> None:
    path = tmp_path / "rlog"
    path.write_bytes(b"")

    with pytest.raises(LogFormatError) as err:
        read_can(path)
    rows, warned = _salvage(path)

    assert (err.value.path, err.value.offset) == (str(path), 0)
    assert str(path) in str(err.value) and "empty" in str(err.value)
    assert rows == [] and "empty" in warned[0]


def test_random_bytes_are_not_a_log(tmp_path: Path) -> None:
    path = tmp_path / "rlog.zst"  # the name does not make it one
    path.write_bytes(random.Random(7).randbytes(10_000))

    with pytest.raises(LogFormatError) as err:
        read_log(path)

    assert err.value.path == str(path) and err.value.offset == 0
    assert not err.value.in_compressed  # no zstd magic: read as a raw stream


def test_a_file_cut_inside_a_message(tmp_path: Path) -> None:
    drive = write_drive(tmp_path / "rlog", compression=None, seed=1)
    data = drive.path.read_bytes()
    offsets = message_offsets(data)
    cut_message = len(offsets) // 2
    cut = offsets[cut_message] + 20
    drive.path.write_bytes(data[:cut])

    with pytest.raises(LogFormatError) as err:
        read_can(drive.path)
    rows, warned = _salvage(drive.path)
    log = read_log(drive.path, salvage=True)

    assert err.value.offset == offsets[cut_message]
    assert str(drive.path) in str(err.value)
    assert rows == oracle_rows_of(data[: offsets[cut_message]], tmp_path)
    assert 0 < len(rows) < len(drive.rows())
    assert log.n_events == cut_message
    assert log.damage is not None and log.damage.offset == offsets[cut_message]
    assert "salvaged" in log.warnings[0] and "salvaged" in warned[0]


def oracle_rows_of(data: bytes, tmp_path: Path) -> list:
    prefix = tmp_path / "prefix"
    prefix.write_bytes(data)
    return oracle_rows(prefix)


def test_a_corrupt_message_header_between_good_messages(tmp_path: Path) -> None:
    drive = write_drive(tmp_path / "rlog", compression=None, seed=15)
    data = bytearray(drive.path.read_bytes())
    offsets = message_offsets(bytes(data))
    victim = offsets[len(offsets) // 3]
    struct.pack_into("<I", data, victim, 0x00C0_0000)  # "12 million segments"
    drive.path.write_bytes(bytes(data))

    with pytest.raises(LogFormatError) as err:
        read_log(drive.path)
    log = read_log(drive.path, salvage=True)

    assert err.value.offset == victim and "segments" in err.value.reason
    assert log.n_events == len(offsets) // 3
    assert table_rows(log.can) == oracle_rows_of(bytes(data[:victim]), tmp_path)


def test_a_truncated_zst_file(tmp_path: Path) -> None:
    drive = write_drive(tmp_path / "rlog.zst", seed=2, seconds=8)
    raw = drive.path.read_bytes()
    drive.path.write_bytes(raw[: len(raw) * 2 // 3])

    with pytest.raises(LogFormatError) as err:
        read_can(drive.path)
    rows, warned = _salvage(drive.path)

    assert err.value.in_compressed and err.value.offset == len(raw) * 2 // 3
    assert "truncated" in err.value.reason
    assert 0 < len(rows) < len(drive.rows())
    assert rows == drive.rows()[: len(rows)]
    assert "compressed byte" in warned[0]


def test_a_corrupt_zstd_stream(tmp_path: Path) -> None:
    drive = write_drive(tmp_path / "rlog.zst", seed=3, seconds=12)  # several zstd blocks
    raw = bytearray(drive.path.read_bytes())
    at = len(raw) // 2
    raw[at : at + 64] = bytes(64)
    drive.path.write_bytes(bytes(raw))

    with pytest.raises(LogFormatError) as err:
        read_can(drive.path)
    rows, _ = _salvage(drive.path)

    assert err.value.in_compressed and at <= err.value.offset < len(raw)
    assert 0 < len(rows) < len(drive.rows())
    assert rows == drive.rows()[: len(rows)]  # the blocks before the damage decoded as written


def test_a_zstd_checksum_mismatch_keeps_the_data_with_a_warning(tmp_path: Path) -> None:
    drive = write_drive(tmp_path / "rlog.zst", seed=4, seconds=2)
    raw = bytearray(drive.path.read_bytes())
    raw[-1] ^= 0xFF  # the frame's content checksum: every data byte is intact
    drive.path.write_bytes(bytes(raw))

    with pytest.raises(LogFormatError, match="checksum"):
        read_can(drive.path)
    rows, warned = _salvage(drive.path)

    assert rows == drive.rows()
    assert "checksum" in warned[0]


def test_a_corrupt_bz2_stream(tmp_path: Path) -> None:
    drive = write_drive(
        tmp_path / "rlog.bz2", compression="bz2", level=1, seed=5, seconds=12
    )  # 100 kB blocks
    raw = bytearray(drive.path.read_bytes())
    at = len(raw) * 3 // 4
    raw[at : at + 64] = random.Random(5).randbytes(64)
    drive.path.write_bytes(bytes(raw))

    with pytest.raises(LogFormatError) as err:
        read_can(drive.path)
    rows, warned = _salvage(drive.path)

    assert err.value.in_compressed and err.value.path == str(drive.path)
    assert 0 < len(rows) < len(drive.rows())
    assert rows == drive.rows()[: len(rows)]
    assert "bzip2" in warned[0]


@pytest.mark.parametrize("target", ["can list", "dat"])
def test_a_corrupt_pointer_inside_an_otherwise_valid_message(tmp_path: Path, target: str) -> None:
    drive = write_drive(tmp_path / "rlog", compression=None, seed=6)
    data = bytearray(drive.path.read_bytes())
    victim = _can_messages(bytes(data), drive.path)[10]
    pointer = can_list_pointer_offset(bytes(data), victim)
    if target == "dat":
        (list_ptr,) = struct.unpack_from("<Q", data, pointer)
        first_element = pointer + 8 + 8 * ((list_ptr & 0xFFFFFFFF) >> 2) + 8  # past the tag word
        pointer = first_element + 8  # CanData: one data word, then the dat pointer
    (word,) = struct.unpack_from("<Q", data, pointer)
    struct.pack_into("<Q", data, pointer, (word & ~0xFFFFFFFC) | (0x0FFFFFF0 << 2))  # far past the message
    drive.path.write_bytes(bytes(data))

    with pytest.raises(LogFormatError) as err:
        read_can(drive.path)
    rows, _ = _salvage(drive.path)

    assert err.value.offset == pointer and not err.value.in_compressed
    assert target in err.value.reason
    assert rows == oracle_rows_of(bytes(data[:victim]), tmp_path)
    assert len(rows) == sum(len(frames) for _, frames in drive.can[:10])


def test_salvaging_a_route_goes_on_after_a_damaged_segment(tmp_path: Path) -> None:
    route = tmp_path / "route"
    drives = [
        write_drive(route / f"r--{n}" / "rlog.zst", seed=n, seconds=0.5, t0_ns=n * 10**10) for n in range(3)
    ]
    raw = drives[1].path.read_bytes()
    drives[1].path.write_bytes(raw[: len(raw) // 2])

    with pytest.raises(LogFormatError) as err:
        read_log(route)
    log = read_log(route, salvage=True)

    assert err.value.path == str(drives[1].path)
    assert [s.number for s in log.segments] == [0, 1, 2]
    assert log.damage is not None and log.damage.path == str(drives[1].path)
    assert len(log.warnings) == 1 and str(drives[1].path) in log.warnings[0]
    rows = table_rows(log.can)
    assert rows[: len(drives[0].rows())] == drives[0].rows()
    assert rows[-len(drives[2].rows()) :] == drives[2].rows()


def test_a_payload_longer_than_canfd_is_cut_with_a_warning(tmp_path: Path) -> None:
    with LogWriter(tmp_path / "rlog", None) as w:
        w.can(1, [(0x10, bytes(range(100)), 0), (0x11, b"\x07", 1)])

    log = read_log(tmp_path / "rlog")

    assert log.can.dlc.tolist() == [64, 1]
    assert log.can.data[0].tolist() == list(range(64))
    assert "64" in log.warnings[0]


@settings(max_examples=100, deadline=None)
@given(
    arena=st.sampled_from([None, 2, 4]),
    flips=st.lists(st.tuples(st.integers(0, 10**6), st.integers(1, 255)), min_size=1, max_size=6),
    cut=st.one_of(st.none(), st.integers(0, 10**6)),
)
def test_any_flipped_bytes_give_a_result_or_a_log_format_error(arena, flips, cut) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rlog"
        with LogWriter(path, None, first_segment_words=arena) as w:
            w.init_data(0, dongle_id="d", version="v")
            w.car_params(0, car_fingerprint="SUBARU_OUTBACK", brand="subaru")
            for k in range(40):
                w.can(k, [(0x100 + k, bytes([k] * (k % 9 + 50 * (k % 13 == 0))), k % 3)] * (k % 4))
                w.car_state(k, v_ego=float(k))
        data = bytearray(path.read_bytes())
        for where, xor in flips:
            data[where % len(data)] ^= xor
        path.write_bytes(bytes(data[: None if cut is None else cut % (len(data) + 1)]))

        try:
            read_log(path)
        except LogFormatError as err:
            assert err.path == str(path) and 0 <= err.offset <= len(data)
        log = read_log(path, salvage=True)
        assert len(log.can.t_ns) == len(log.can.data) == len(log.can.dlc)
        assert log.n_events <= len(data) // 16  # every event takes at least two words
