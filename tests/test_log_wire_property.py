"""The numpy wire decoder against pycapnp on whole families of generated logs.

Hypothesis writes logs with random frame counts (empty can lists included), payloads of 0..64 bytes,
random addresses and buses, other services interleaved, and events built in a tiny first segment so
pycapnp spreads them over several segments with far pointers. Whatever it builds, read_can must equal
what pycapnp reads through the full schema, frame for frame.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from logfactory import oracle_car_state, oracle_rows, table_rows

from jupyter_cts.logs import LogWriter, read_can, read_log

frames = st.lists(
    st.tuples(
        st.integers(0, 2**29 - 1),  # extended ids up to 29 bits
        st.binary(min_size=0, max_size=64),
        st.integers(0, 255),  # buses, echoes (128 + bus) and anything else a panda may log
    ),
    max_size=12,
)
events = st.lists(
    st.one_of(
        st.tuples(st.just("can"), frames),
        st.tuples(st.just("sendcan"), frames),
        st.tuples(st.just("carState"), st.tuples(st.floats(0, 60, width=32), st.booleans(), st.booleans())),
        st.tuples(st.just("deviceState"), st.lists(st.floats(20, 90, width=32), max_size=4)),
    ),
    min_size=1,  # an empty file is damage, see test_log_damage.py
    max_size=25,
)
# None: pycapnp's default arena (one segment); small numbers force multi-segment messages.
arenas = st.one_of(st.none(), st.sampled_from([1, 2, 4, 9, 32]))

SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)


def _add(w: LogWriter, t: int, which: str, payload) -> None:  # noqa: ANN001
    if which in ("can", "sendcan"):
        w.can(t, payload, sendcan=which == "sendcan")
    elif which == "carState":
        v_ego, cruise, blinker = payload
        w.car_state(t, v_ego=v_ego, cruise_enabled=cruise, cruise_speed=v_ego / 2, left_blinker=blinker)
    else:
        w.event(t, which, cpuTempC=payload)


def _write(path: Path, evs: list, first_segment_words: int | None, compression: str | None) -> None:
    with LogWriter(path, compression, first_segment_words=first_segment_words) as w:
        for k, (which, payload) in enumerate(evs):
            _add(w, 1_000 + 10_000_000 * k, which, payload)


@SETTINGS
@given(evs=events, first_segment_words=arenas, compression=st.sampled_from([None, "zst"]))
def test_read_can_equals_pycapnp_on_any_generated_log(evs, first_segment_words, compression) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rlog"
        _write(path, evs, first_segment_words, compression)

        table = read_can(path)

        assert table_rows(table) == oracle_rows(path)
        longest = max((len(d) for which, fs in evs if which == "can" for _, d, _ in fs), default=0)
        assert table.data.shape[1] == (64 if longest > 8 else 8)
        widths = np.arange(table.data.shape[1])[None, :] >= table.dlc[:, None]
        assert not table.data[widths].any(), "bytes past a frame's length must be zero"


texts = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=40)


@SETTINGS
@given(
    parts=st.lists(st.tuples(events, arenas), min_size=1, max_size=4),
    meta_arena=arenas,
    fingerprint=texts,
    dongle_id=texts,
)
def test_mixed_arenas_in_one_log_keep_log_order(parts, meta_arena, fingerprint, dongle_id) -> None:
    """Single- and multi-segment events in one file: fast-path and pycapnp frames share one order."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rlog"
        with LogWriter(path, None, first_segment_words=meta_arena) as w:
            w.init_data(0, dongle_id=dongle_id, version="0.9.9")
            w.car_params(0, car_fingerprint=fingerprint, brand="subaru")
            t = 0
            for evs, arena in parts:
                w.first_segment_words = arena
                for which, payload in evs:
                    t += 1
                    _add(w, t, which, payload)

        log = read_log(path)

        assert table_rows(log.can) == oracle_rows(path)
        assert log.n_events == 2 + sum(len(evs) for evs, _ in parts)
        assert (log.metadata.car_fingerprint, log.metadata.dongle_id) == (
            fingerprint or None,
            dongle_id or None,
        )
        assert (log.metadata.brand, log.metadata.version) == ("subaru", "0.9.9")
        cs = log.car_state
        columns = zip(
            cs.t_ns, cs["v_ego"], cs["cruise_enabled"], cs["cruise_speed"], cs["left_blinker"], strict=True
        )
        assert [tuple(x.item() for x in row) for row in columns] == oracle_car_state(path)
