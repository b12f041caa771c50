"""The bit search: which CAN bit is the button pressed between the blinkers, which bit is "engaged"?

On the demo drive the driver presses Set inside every marker window and nowhere else, and cruise
engages and disengages several times; the planted Set bit must top the marker ranking and the
Cruise_Activated bit the engaged ranking, with every bit named in all three label styles.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from jupyter_cts.can import bit_labels
from jupyter_cts.synth import preset, write_route
from jupyter_cts.tools.base import DirectoryContext
from jupyter_cts.tools.cruise_control import CruiseControlAnalyzer, CruiseControlParams


def analyse(path: Path, out: Path, **params: Any) -> dict[str, Any]:
    params = {"export_csv": False, "export_json": False, **params}
    return CruiseControlAnalyzer().run([path], CruiseControlParams(**params), DirectoryContext(out))


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], dict[str, Any]]:
    root = tmp_path_factory.mktemp("candidates")
    route = write_route(root / "route", preset("demo", 120.0), segments=2)
    truth = json.loads(route.truth_path.read_text())
    result = analyse(root / "route", root / "out", export_json=True)
    result["all_candidates"] = json.loads((root / "out" / "candidates.json").read_text())["rows"]
    return root / "route", result, truth


def key(bit: dict[str, Any]) -> tuple[int, int, int]:
    return bit["address"], bit["bus"], bit["g"]


def test_the_button_pressed_in_every_marker_window_tops_the_marker_ranking(
    demo: tuple[Path, dict, dict],
) -> None:
    _, result, truth = demo
    assert truth["marker_button"] == "set"
    planted = truth["bits"]["set"]
    best = min(result["candidates"], key=lambda c: c["rank_marker"] or 10**9)
    assert key(best) == key(planted)
    assert best["score_marker"] == 1.0 and best["windows_hit"] == len(result["marker_windows"])
    assert result["candidates"][0]["score"] == 1.0 and key(result["candidates"][0]) == key(planted)


def test_the_cruise_activated_bit_tops_the_engaged_ranking(demo: tuple[Path, dict, dict]) -> None:
    _, result, truth = demo
    planted = truth["bits"]["cruise_activated"]
    best = min(result["candidates"], key=lambda c: c["rank_engaged"] or 10**9)
    assert key(best) == key(planted)
    edges = sum(1 + (not i["open"]) for i in result["cruise"]["engaged_intervals"])
    assert best["score_engaged"] == 1.0 and best["engaged_edges_hit"] == edges
    assert best["edge_lag_s"] == 0.0
    # overall, the two answers are the first two candidates
    assert {key(c) for c in result["candidates"][:2]} == {key(truth["bits"]["set"]), key(planted)}


def test_the_blinker_lamps_that_define_the_windows_are_not_offered_as_answers(
    demo: tuple[Path, dict, dict],
) -> None:
    _, result, truth = demo
    lamps = {key(truth["bits"]["left_blinker"]), key(truth["bits"]["right_blinker"])}
    for c in result["candidates"]:
        if key(c) in lamps:
            assert c["score_marker"] == 0.0 and c["flips_in_windows"] > 0
    for w in result["marker_windows"]:
        assert not lamps & {key(b) for b in w["top_bits"]}
        assert key(w["top_bits"][0]) == key(truth["bits"]["set"])


def test_counters_score_nothing(demo: tuple[Path, dict, dict]) -> None:
    _, result, _ = demo
    every = result["all_candidates"]
    assert len(every) == result["candidates_total"] > len(result["candidates"])
    counters = [c for c in every if c["signal"].endswith(".COUNTER")]
    assert len(counters) > 50, "the Subaru messages carry counters"
    assert max(max(c["score_marker"], c["score_engaged"]) for c in counters) < 0.05


def test_every_candidate_carries_all_three_bit_names(demo: tuple[Path, dict, dict]) -> None:
    _, result, _ = demo
    for c in result["candidates"]:
        label = bit_labels(c["g"])
        assert (c["lsb_label"], c["msb_label"]) == (label.lsb_label, label.msb_label)
        assert c["address_hex"] == f"0x{c['address']:03X}"
    scores = [c["score"] for c in result["candidates"]]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize("style", ["selector", "msb_selector"])
def test_an_engaged_bit_given_in_either_label_style_gives_the_same_intervals(
    demo: tuple[Path, dict, dict], tmp_path: Path, style: str
) -> None:
    route, result, truth = demo
    selector = truth["bits"]["cruise_activated"][style]
    chosen = analyse(route, tmp_path, engaged_bit=selector)
    assert chosen["cruise"]["engaged_source"].startswith(selector)
    strip = ("start_log_mono_time", "end_log_mono_time")

    def plain(intervals: list[dict]) -> list[dict]:  # noqa: E306
        return [{k: v for k, v in i.items() if k not in strip} for i in intervals]

    assert plain(chosen["cruise"]["engaged_intervals"]) == plain(result["cruise"]["engaged_intervals"])


def test_an_engaged_bit_from_the_camera_bus_sets_the_intervals(
    demo: tuple[Path, dict, dict], tmp_path: Path
) -> None:
    route, result, _ = demo
    # ES_Brake.Cruise_Activated, on the camera bus 2 at 20 Hz: a delayed copy of the powertrain's
    chosen = analyse(route, tmp_path, engaged_bit="0x220:b39", engaged_bus=2)
    assert "bus 2" in chosen["cruise"]["engaged_source"]
    ours, theirs = chosen["cruise"]["engaged_intervals"], result["cruise"]["engaged_intervals"]
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs, strict=True):
        assert a["start_s"] == pytest.approx(b["start_s"], abs=0.1)
