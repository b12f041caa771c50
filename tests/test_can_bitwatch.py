"""can-bitwatch: what changed on the bus inside a window, from rlog-to-csv's can.csv or from the log.

The story: a driver presses Set once, then pulses Resume three times for two seconds each (an
"accelerator test"), all inside a window of interest. From the exported CSV, can-bitwatch must name
the Set bit as changing only inside the window, list every edge of watched bits, and find the
Resume bit's three two-second pulses.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pydantic
import pytest

from jupyter_cts.synth import Press, Scenario, write_segment
from jupyter_cts.tools.base import DirectoryContext
from jupyter_cts.tools.can_bitwatch import CanBitwatch, CanBitwatchParams
from jupyter_cts.tools.rlog_to_csv import RlogToCsv, RlogToCsvParams

GOLDEN_HEADERS = {
    "counts.csv": "address,bus,pre,window,post,delta",
    "bit_edges.csv": "t_s,log_mono_time,address,bus,g,lsb_label,msb_label,edge,segment",
    "candidates_window_only.csv": (
        "address,bus,g,lsb_label,msb_label,window_flips,window_rises,window_falls,first_flip_s,last_flip_s,"
        "value_before"
    ),
    "accel_hunt.csv": (
        "address,bus,g,lsb_label,msb_label,pulses,starts_s,durations_s,mean_duration_s,flips_outside"
    ),
}
WINDOW = (10.0, 25.0)  # start, length
SET_AT = 12.0
RESUMES = (21.0, 25.0, 29.0)

STORY = Scenario(
    name="bitwatch",
    duration_s=50.0,
    speed_profile=[(0.0, 0.0), (8.0, 50.0), (50.0, 50.0)],
    main_presses=[Press(t_s=1.0)],
    set_presses=[Press(t_s=SET_AT, duration_s=0.3)],
    resume_presses=[Press(t_s=t, duration_s=2.0) for t in RESUMES],
    seed=7,
)


def rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def bitwatch(path: Path, out: Path, **params: Any) -> dict[str, Any]:
    return CanBitwatch().run([path], CanBitwatchParams(**params), DirectoryContext(out, run_id="bw"))


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("bitwatch")
    log = root / "rlog.zst"
    write_segment(log, STORY)
    RlogToCsv().run(
        [log], RlogToCsvParams(window_start=WINDOW[0], window_dur=WINDOW[1]), DirectoryContext(root / "csv")
    )
    return log, root / "csv" / "can.csv"


@pytest.fixture(scope="module")
def from_csv(
    story: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("from_csv")
    return out, bitwatch(story[1], out, watch="0x146:b43, 0x146:MSB B5b4, 0x7ff:b1")


def test_the_window_comes_from_the_labels_rlog_to_csv_wrote(from_csv: tuple[Path, dict]) -> None:
    _, result = from_csv
    assert result["window"]["source"] == "can.csv labels"
    assert result["window"]["start_s"] == pytest.approx(WINDOW[0], abs=0.01)
    assert result["window"]["end_s"] == pytest.approx(sum(WINDOW), abs=0.01)
    assert result["durations_s"]["window"] == pytest.approx(WINDOW[1], abs=0.02)


GOLDEN_KEYS = {
    "result": ["input", "window", "durations_s", "frames", "addresses", "counts", "window_only",
               "window_only_total", "watched", "edges", "accel_hunt", "warnings", "metadata"],
    "per_address": ["metadata", "durations_s", "addresses"],
    "address": ["address", "address_hex", "bus", "frames", "rate_hz", "bits_changed", "flips",
                "window_only_bits"],
}  # fmt: skip


def test_the_json_files_have_their_golden_keys(from_csv: tuple[Path, dict]) -> None:
    out, result = from_csv
    per_address = json.loads((out / "per_address.json").read_text())
    assert list(json.loads((out / "result.json").read_text())) == GOLDEN_KEYS["result"] == list(result)
    assert list(per_address) == GOLDEN_KEYS["per_address"]
    assert all(list(a) == GOLDEN_KEYS["address"] for a in per_address["addresses"])


@pytest.mark.parametrize("name", sorted(GOLDEN_HEADERS))
def test_every_csv_has_its_golden_header_and_a_sidecar(from_csv: tuple[Path, dict], name: str) -> None:
    out, _ = from_csv
    with open(out / name, newline="") as f:
        assert ",".join(next(csv.reader(f))) == GOLDEN_HEADERS[name]
    meta = json.loads((out / f"{name}.meta.json").read_text())
    assert meta["tool"] == "can-bitwatch" and meta["run_id"] == "bw" and len(meta["input_sha256"]) == 64


def test_the_set_bit_changes_only_inside_the_window(from_csv: tuple[Path, dict]) -> None:
    out, result = from_csv
    only = {(r["address"], r["bus"], r["g"]): r for r in rows(out / "candidates_window_only.csv")}
    set_bit = only[("0x146", "0", "43")]
    assert (set_bit["lsb_label"], set_bit["msb_label"]) == ("B5b3", "MSB B5b4")
    assert (int(set_bit["window_rises"]), int(set_bit["window_falls"])) == (1, 1)
    assert float(set_bit["first_flip_s"]) == pytest.approx(SET_AT, abs=0.05)
    assert set_bit["value_before"] == "0"
    assert result["window_only_total"] == len(only)
    per_address = json.loads((out / "per_address.json").read_text())["addresses"]
    buttons = next(a for a in per_address if a["address"] == 0x146 and a["bus"] == 0)
    assert "B5b3" in buttons["window_only_bits"]


def test_a_watched_bit_named_twice_lists_each_edge_once(from_csv: tuple[Path, dict]) -> None:
    out, result = from_csv
    edges = [r for r in rows(out / "bit_edges.csv") if (r["address"], r["g"]) == ("0x146", "43")]
    assert [(r["edge"], r["segment"]) for r in edges] == [("rise", "window"), ("fall", "window")]
    assert float(edges[0]["t_s"]) == pytest.approx(SET_AT, abs=0.05)
    assert float(edges[1]["t_s"]) == pytest.approx(SET_AT + 0.3, abs=0.05)
    assert [w["edges"] for w in result["watched"]] == [{"pre": 0, "window": 2, "post": 0}]
    assert any("0x7ff" in w for w in result["warnings"])


def test_three_two_second_pulses_inside_the_window_are_found(from_csv: tuple[Path, dict]) -> None:
    out, result = from_csv
    hunt = {(r["address"], r["bus"], r["g"]): r for r in rows(out / "accel_hunt.csv")}
    resume = hunt[("0x146", "0", "44")]
    assert [float(s) for s in resume["starts_s"].split(";")] == pytest.approx(list(RESUMES), abs=0.05)
    assert all(abs(float(d) - 2.0) <= 0.05 for d in resume["durations_s"].split(";"))
    assert int(resume["pulses"]) == 3 and int(resume["flips_outside"]) == 0
    assert len(result["accel_hunt"]) == len(hunt)
    # the Set bit pulsed once: not an accelerator test
    assert ("0x146", "0", "43") not in hunt


def test_counts_compare_frames_inside_the_window_with_the_rate_outside(from_csv: tuple[Path, dict]) -> None:
    out, result = from_csv
    counts = {(r["address"], r["bus"]): r for r in rows(out / "counts.csv")}
    wheel = counts[("0x13A", "0")]
    assert int(wheel["window"]) == pytest.approx(50 * WINDOW[1], abs=2)  # 50 Hz
    assert abs(float(wheel["delta"])) < 2
    assert (
        sum(int(r["pre"]) + int(r["window"]) + int(r["post"]) for r in counts.values())
        == result["input"]["frames"]
    )


def test_a_log_gives_the_same_answers_as_its_csv(
    story: tuple[Path, Path], from_csv: tuple[Path, dict], tmp_path: Path
) -> None:
    log, _ = story
    out_csv, from_file = from_csv
    direct = bitwatch(log, tmp_path, watch=["0x146:b43"], window_start=WINDOW[0], window_dur=WINDOW[1])
    assert direct["window"]["source"] == "params"
    assert direct["frames"] == from_file["frames"]
    assert rows(tmp_path / "candidates_window_only.csv") == rows(out_csv / "candidates_window_only.csv")
    assert rows(tmp_path / "accel_hunt.csv") == rows(out_csv / "accel_hunt.csv")


def test_without_any_window_the_whole_input_is_the_window_and_it_says_so(
    story: tuple[Path, Path], tmp_path: Path
) -> None:
    log, _ = story
    result = bitwatch(log, tmp_path)
    assert result["window"]["source"] == "whole input"
    assert result["frames"]["pre"] == result["frames"]["post"] == 0
    assert any("whole input is the window" in w for w in result["warnings"])


def test_bad_selectors_are_refused_by_name() -> None:
    with pytest.raises(pydantic.ValidationError) as err:
        CanBitwatchParams(watch="0x146:b43, 0x146:Q9")
    assert err.value.errors()[0]["loc"][0] == "watch" and "0x146:Q9" in str(err.value)


def test_a_route_read_segment_by_segment_matches_its_csv_read_in_small_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Memory stays flat because input is folded chunk by chunk; chunk boundaries must not show."""
    from jupyter_cts.synth import preset, write_route
    from jupyter_cts.tools.can_bitwatch import source

    write_route(tmp_path / "route", preset("demo", 120.0), segments=2)
    window = {"window_start": 58.0, "window_dur": 4.0}  # across the segment boundary at 60 s
    RlogToCsv().run([tmp_path / "route"], RlogToCsvParams(**window), DirectoryContext(tmp_path / "csv"))
    from_log = bitwatch(tmp_path / "route", tmp_path / "log", watch=["0x146:b44"], **window)
    monkeypatch.setattr(source, "CSV_CHUNK_ROWS", 7_919)  # many chunks, none aligned with anything
    from_csv = bitwatch(tmp_path / "csv" / "can.csv", tmp_path / "chunked", watch=["0x146:b44"])
    assert from_log["frames"] == from_csv["frames"]
    for name in ("counts.csv", "candidates_window_only.csv", "bit_edges.csv", "accel_hunt.csv"):
        assert rows(tmp_path / "log" / name) == rows(tmp_path / "chunked" / name), name
    # the Resume press held across the boundary is one rise and one fall, inside the window
    resume = [(r["edge"], r["segment"]) for r in rows(tmp_path / "log" / "bit_edges.csv")]
    assert resume.count(("rise", "window")) == 1 and resume.count(("fall", "window")) == 1
