"""Bit names and bit statistics: the numbers a "which bit is the Set button?" search is built on."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jupyter_cts.can import (
    bit_edges,
    bit_flips,
    bit_labels,
    bit_matrix,
    bit_stats,
    format_bit_selector,
    parse_bit_selector,
)
from jupyter_cts.logs.table import CanTable


def table_of(rows: list[tuple[int, int, int, bytes]]) -> CanTable:
    """Frames as (t_ns, bus, address, payload), in log order."""
    data = np.zeros((len(rows), 8), np.uint8)
    for i, (_, _, _, payload) in enumerate(rows):
        data[i, : len(payload)] = list(payload)
    return CanTable(
        t_ns=np.array([r[0] for r in rows], np.uint64),
        bus=np.array([r[1] for r in rows], np.uint8),
        address=np.array([r[2] for r in rows], np.uint32),
        dlc=np.array([len(r[3]) for r in rows], np.uint8),
        data=data,
    )


def test_every_bit_has_three_names_that_lead_back_to_it():
    assert bit_labels(43) == (43, "B5b3", "MSB B5b4")  # the SPEC's own example
    for g in range(64):
        label = bit_labels(g)
        byte, bit = divmod(g, 8)
        assert label.lsb_label == f"B{byte}b{bit}"
        assert label.msb_label == f"MSB B{byte}b{7 - bit}"
        for text in (f"0x146:b{g}", f"0x146:{label.lsb_label}", f"0x146:{label.msb_label}"):
            assert parse_bit_selector(text) == (0x146, None, g), text
        assert parse_bit_selector(format_bit_selector(0x146, g, 2, msb=True)) == (0x146, 2, g)
    with pytest.raises(ValueError, match="out of range"):
        bit_labels(512)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0x241:b55", (0x241, None, 55)),
        ("0x241:B6b7", (0x241, None, 55)),
        ("0x241:MSB B6b0", (0x241, None, 55)),
        ("0x241@1:b55", (0x241, 1, 55)),
        ("  0x241 @ 2 : msb b6b0 ", (0x241, 2, 55)),
        ("577:B6b7", (577, None, 55)),
        ("0x18DAF110:b0", (0x18DAF110, None, 0)),
        ("0x100:b511", (0x100, None, 511)),
    ],
)
def test_bit_selectors_in_every_written_form(text, expected):
    assert parse_bit_selector(text) == expected


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("", "cannot read bit selector"),
        ("0x241", "cannot read bit selector"),
        ("0x241:55", "cannot read the bit part '55'"),
        ("0x241:B6b8", "bit 8 .* a byte has bits 0..7"),
        ("0x241:B64b0", "byte 64 .* out of range"),
        ("0x241:b512", "b512 .* out of range"),
        ("0x241@256:b1", "bus 256 .* out of range"),
        ("0x3FFFFFFF:b1", "larger than a 29-bit CAN id"),
        ("zz:b1", "cannot read bit selector"),
    ],
)
def test_bad_bit_selectors_say_what_is_wrong(text, complaint):
    with pytest.raises(ValueError, match=complaint):
        parse_bit_selector(text)


def test_flips_rises_and_falls_are_counted_per_address_and_bus():
    # address 0x100 on bus 0: bit 0 goes 1,0,1,1,1 and bit 9 (B1b1) goes up once at the end;
    # the same address on bus 2 holds still, interleaved, and must not be merged into bus 0's sequence;
    # 0x200 toggles bit 7 every frame.
    rows = [
        (10, 0, 0x100, bytes([0b01, 0])),
        (11, 2, 0x100, bytes([0, 0])),
        (12, 0, 0x200, bytes([0x80])),
        (20, 0, 0x100, bytes([0b00, 0])),
        (21, 2, 0x100, bytes([0, 0])),
        (22, 0, 0x200, bytes([0x00])),
        (30, 0, 0x100, bytes([0b01, 0])),
        (31, 2, 0x100, bytes([0, 0])),
        (32, 0, 0x200, bytes([0x80])),
        (40, 0, 0x100, bytes([0b01, 0])),
        (41, 2, 0x100, bytes([0, 0])),
        (42, 0, 0x200, bytes([0x00])),
        (50, 0, 0x100, bytes([0b01, 2])),
        (51, 2, 0x100, bytes([0, 0])),
    ]
    table = table_of(rows)
    stats = {(s.address, s.bus, s.g): s for s in bit_stats(table)}

    b0 = stats[(0x100, 0, 0)]
    assert (b0.frames, b0.high, b0.flips, b0.rises, b0.falls, b0.first, b0.last) == (5, 4, 2, 1, 1, 1, 1)
    assert (b0.lsb_label, b0.msb_label) == ("B0b0", "MSB B0b7")
    b9 = stats[(0x100, 0, 9)]
    assert (b9.flips, b9.rises, b9.falls, b9.first, b9.last) == (1, 1, 0, 0, 1)
    assert all(stats[(0x100, 2, g)].flips == 0 for g in range(16)), "bus 2 never changes"
    assert stats[(0x200, 0, 7)].flips == 3 and stats[(0x200, 0, 7)].falls == 2
    assert max(g for a, b, g in stats if a == 0x200) == 7, "a 1-byte frame has 8 bits"

    # inside a window: only transitions *into* the selected frames count, against the frame before
    window = (table.t_ns >= 30) & (table.t_ns <= 45)
    inside = {(s.address, s.bus, s.g): s for s in bit_stats(table, mask=window)}
    assert (inside[(0x100, 0, 0)].rises, inside[(0x100, 0, 0)].frames) == (1, 2)
    assert inside[(0x100, 0, 9)].rises == 0, "the B1b1 rise happens after the window"
    assert (inside[(0x200, 0, 7)].frames, inside[(0x200, 0, 7)].flips) == (2, 2)

    rise_t, fall_t = bit_edges(table, 0x100, 0, 0)
    assert list(rise_t) == [30] and list(fall_t) == [20]
    assert list(bit_flips(table, 0x200, 0)) == [0] * 7 + [3]
    assert bit_matrix(table.where(0x100, 0)).shape == (5, 16)
    assert bit_matrix(table.where(0x100, 0))[:, 0].tolist() == [True, False, True, True, True]


def test_an_empty_selection_gives_no_statistics():
    table = table_of([(1, 0, 0x10, bytes([1])), (2, 0, 0x10, bytes([0]))])
    assert bit_stats(table, mask=np.zeros(2, bool)) == []
    assert bit_stats(CanTable.empty()) == []
    with pytest.raises(ValueError, match="one bool per frame"):
        bit_stats(table, mask=np.ones(3, bool))
    rise, fall = bit_edges(table, 0x99, None, 0)
    assert len(rise) == len(fall) == 0


frames_strategy = st.lists(
    st.tuples(
        st.sampled_from([0, 2, 128]),
        st.sampled_from([0x13A, 0x146, 0x241]),
        st.binary(min_size=0, max_size=8),
    ),
    max_size=60,
)


@settings(max_examples=60, deadline=None)
@given(frames=frames_strategy, mask_bits=st.lists(st.booleans(), min_size=60, max_size=60))
def test_vectorized_statistics_equal_a_frame_by_frame_count(frames, mask_bits):
    table = table_of([(i, bus, addr, payload) for i, (bus, addr, payload) in enumerate(frames)])
    mask = np.array(mask_bits[: len(frames)], bool)
    got = {
        (s.address, s.bus, s.g): (s.frames, s.high, s.flips, s.rises, s.falls, s.first, s.last)
        for s in bit_stats(table, mask=mask)
    }

    expected = {}
    for address, bus in {(a, b) for b, a, _ in frames}:
        idx = [i for i, (b, a, _) in enumerate(frames) if (a, b) == (address, bus)]
        nbits = 8 * max(len(frames[i][2]) for i in idx)
        if not any(mask[i] for i in idx) or nbits == 0:
            continue
        for g in range(nbits):
            value = [(table.data[i, g // 8] >> (g % 8)) & 1 for i in idx]
            chosen = [v for v, i in zip(value, idx, strict=True) if mask[i]]
            rises = sum(1 for k in range(1, len(idx)) if mask[idx[k]] and value[k] > value[k - 1])
            falls = sum(1 for k in range(1, len(idx)) if mask[idx[k]] and value[k] < value[k - 1])
            expected[(address, bus, g)] = (
                len(chosen),
                sum(chosen),
                rises + falls,
                rises,
                falls,
                chosen[0],
                chosen[-1],
            )
    assert got == expected
