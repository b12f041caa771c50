"""cruise-control-analyzer finds what was planted in generated drives, as precisely as the CAN allows.

Each scenario is generated with ``jupyter_cts.synth`` (which writes the truth next to the log), then
analysed the way a notebook user would: ``CruiseControlAnalyzer().run(...)`` with a folder context.
Tolerances are the ones the tool promises: presses within 0.05 s, target window edges within one
wheel-speed sample (20 ms), engaged edges within 0.1 s, and marker windows matched one to one
(within one period of the 10 Hz lamp message).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from jupyter_cts.synth import preset, write_route, write_segment
from jupyter_cts.tools.base import DirectoryContext
from jupyter_cts.tools.cruise_control import CruiseControlAnalyzer, CruiseControlParams

PRESS_S = 0.05
SPEED_SAMPLE_S = 0.02
ENGAGED_S = 0.1
LAMP_S = 0.1 + 0.005

SCENARIOS = ["demo", "no_presses", "brake_disengage", "unclosed_marker", "never_in_band", "kph_only"]


class Drives:
    """Generates each scenario once per module and analyses it once: (result, truth)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.cache: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}

    def segment(self, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
        if name not in self.cache:
            log = self.root / name / "rlog.zst"
            log.parent.mkdir(parents=True)
            write_segment(log, preset(name), truth_path=self.root / name / "truth.json")
            result = analyse(log, self.root / name / "out")
            self.cache[name] = (result, json.loads((self.root / name / "truth.json").read_text()))
        return self.cache[name]

    def route(self, name: str, segments: int) -> tuple[dict[str, Any], dict[str, Any]]:
        key = f"{name}-route-{segments}"
        if key not in self.cache:
            written = write_route(self.root / key, preset(name, 60.0 * segments), segments=segments)
            result = analyse(self.root / key, self.root / key / "out")
            self.cache[key] = (result, json.loads(written.truth_path.read_text()))
        return self.cache[key]


def analyse(path: Path, out: Path, **params: Any) -> dict[str, Any]:
    params = {"export_csv": False, "export_json": False, **params}
    return CruiseControlAnalyzer().run([path], CruiseControlParams(**params), DirectoryContext(out))


@pytest.fixture(scope="module")
def drives(tmp_path_factory: pytest.TempPathFactory) -> Drives:
    return Drives(tmp_path_factory.mktemp("drives"))


def assert_times(found: list[float], planted: list[float], tolerance: float, what: str) -> None:
    """One found time per planted time, in order, each within the tolerance."""
    assert len(found) == len(planted), f"{what}: found {found}, planted {planted}"
    for f, p in zip(found, planted, strict=True):
        assert abs(f - p) <= tolerance, f"{what}: found {f} s for planted {p} s (tolerance {tolerance} s)"


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_set_and_resume_presses_are_found_where_they_were_planted(drives: Drives, scenario: str) -> None:
    result, truth = drives.segment(scenario)
    for key, planted in (
        ("set_presses", truth["presses"]["set"]),
        ("resume_presses", truth["presses"]["resume"]),
    ):
        found = result["buttons"][key]
        assert_times([p["t_s"] for p in found], [p["t_s"] for p in planted], PRESS_S, key)
        assert [p["in_target"] for p in found] == [p["in_target"] for p in planted]
        for f, p in zip(found, planted, strict=True):
            assert f["speed_mph"] == pytest.approx(p["speed_mph"], abs=0.3)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_target_window_edges_are_within_one_wheel_speed_sample(drives: Drives, scenario: str) -> None:
    result, truth = drives.segment(scenario)
    found, planted = result["target_windows"], truth["target_windows"]
    assert_times(
        [w["start_s"] for w in found], [w["start_s"] for w in planted], SPEED_SAMPLE_S, "window starts"
    )
    assert_times([w["end_s"] for w in found], [w["end_s"] for w in planted], SPEED_SAMPLE_S, "window ends")


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_engaged_intervals_start_and_end_within_a_tenth_of_a_second(drives: Drives, scenario: str) -> None:
    result, truth = drives.segment(scenario)
    found, planted = result["cruise"]["engaged_intervals"], truth["engaged_intervals"]
    assert_times([i["start_s"] for i in found], [i["start_s"] for i in planted], ENGAGED_S, "engaged starts")
    assert_times([i["end_s"] for i in found], [i["end_s"] for i in planted], ENGAGED_S, "engaged ends")
    assert [i["open"] for i in found] == [i["open_at_end"] for i in planted]


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_marker_windows_match_the_planted_blinker_pairs_one_to_one(drives: Drives, scenario: str) -> None:
    result, truth = drives.segment(scenario)
    found, planted = result["marker_windows"], truth["marker_windows"]
    assert_times([w["start_s"] for w in found], [w["start_s"] for w in planted], LAMP_S, "marker opens")
    assert [w["partial"] for w in found] == [w["partial"] for w in planted]
    closed = [(f, p) for f, p in zip(found, planted, strict=True) if not p["partial"]]
    assert_times([f["end_s"] for f, _ in closed], [p["end_s"] for _, p in closed], LAMP_S, "marker closes")
    for w in found:
        assert w["window_start_s"] == pytest.approx(w["start_s"] - 1.5)
        if not w["partial"]:
            assert w["window_end_s"] == pytest.approx(w["end_s"] + 1.5)


def test_a_drive_without_presses_has_no_presses_and_is_never_engaged(drives: Drives) -> None:
    result, truth = drives.segment("no_presses")
    assert result["buttons"]["set_presses"] == [] == truth["presses"]["set"]
    assert result["cruise"]["engaged_intervals"] == []
    # main was switched on, and that is all that happened to cruise
    assert [m["t_s"] for m in result["buttons"]["main_on"]] == pytest.approx(
        [m["t_s"] for m in truth["main"]], abs=0.1
    )


def test_a_brake_tap_ends_the_engaged_interval(drives: Drives) -> None:
    result, truth = drives.segment("brake_disengage")
    (interval,) = result["cruise"]["engaged_intervals"]
    (brake,) = truth["presses"]["brake"]
    assert interval["end_s"] == pytest.approx(brake["t_s"], abs=ENGAGED_S)
    assert not interval["open"]


def test_a_marker_the_log_ends_inside_is_kept_as_partial_and_said_so(drives: Drives) -> None:
    result, _ = drives.segment("unclosed_marker")
    last = result["marker_windows"][-1]
    assert last["partial"] and last["end_s"] == pytest.approx(result["input"]["duration_s"])
    assert any("partial marker window" in w for w in result["warnings"])


def test_a_drive_that_never_reaches_the_band_says_so_instead_of_guessing(drives: Drives) -> None:
    result, truth = drives.segment("never_in_band")
    assert result["target_windows"] == [] == truth["target_windows"]
    assert all(not p["in_target"] for p in result["buttons"]["set_presses"])
    assert any("never entered the band 55-56 mph" in w for w in result["warnings"])


@pytest.mark.parametrize("scenario", ["demo", "kph_only"])
def test_set_speeds_are_reported_in_the_dash_units(drives: Drives, scenario: str) -> None:
    result, truth = drives.segment(scenario)
    changes = [c for c in result["cruise"]["set_speed_changes"] if c["to"] != 0]
    assert [c["to"] for c in changes] == [c["set_speed"] for c in truth["set_speed_changes"]]
    assert result["cruise"]["set_speed_unit"] == truth["units"]
    if truth["units"] == "kph":
        assert changes[0]["to_mph"] == pytest.approx(changes[0]["to"] / 1.609344, abs=1e-3)
    # wheel speeds are km/h on the bus whatever the dash shows: the band stays in mph
    assert result["speed"]["max_mph"] == pytest.approx(55.8, abs=0.1)


def test_a_route_is_one_timeline_with_its_segment_boundaries(drives: Drives) -> None:
    result, truth = drives.route("demo", segments=3)
    segments = result["input"]["segments"]
    assert [s["number"] for s in segments] == [0, 1, 2]
    assert [s["start_s"] for s in segments] == pytest.approx(
        [s["start_s"] for s in truth["segments"]], abs=0.01
    )
    assert result["input"]["duration_s"] == pytest.approx(180.0, abs=0.05)
    # times continue across segments, and everything planted is found once, on the route's clock
    assert_times(
        [p["t_s"] for p in result["buttons"]["set_presses"]],
        [p["t_s"] for p in truth["presses"]["set"]],
        PRESS_S,
        "set presses",
    )
    assert_times(
        [p["t_s"] for p in result["buttons"]["resume_presses"]],
        [p["t_s"] for p in truth["presses"]["resume"]],
        PRESS_S,
        "resume presses",
    )
    found, planted = result["cruise"]["engaged_intervals"], truth["engaged_intervals"]
    assert_times([i["start_s"] for i in found], [i["start_s"] for i in planted], ENGAGED_S, "engaged starts")
    assert_times([i["end_s"] for i in found], [i["end_s"] for i in planted], ENGAGED_S, "engaged ends")
    assert_times(
        [w["start_s"] for w in result["target_windows"]],
        [w["start_s"] for w in truth["target_windows"]],
        SPEED_SAMPLE_S,
        "target windows",
    )
    assert len(result["marker_windows"]) == len(truth["marker_windows"])


def test_a_press_held_across_a_segment_boundary_counts_once(drives: Drives) -> None:
    result, truth = drives.route("demo", segments=2)
    boundary = result["input"]["segments"][1]["start_s"]
    straddling = [p for p in truth["presses"]["resume"] if p["t_s"] < boundary < p["t_s"] + p["duration_s"]]
    assert straddling, "the demo route plants a Resume press across the boundary"
    near = [p for p in result["buttons"]["resume_presses"] if abs(p["t_s"] - boundary) < 1.0]
    assert len(near) == 1 and near[0]["t_s"] == pytest.approx(straddling[0]["t_s"], abs=PRESS_S)
    # the engagement that press starts runs on into the next segment as one interval
    spanning = [i for i in result["cruise"]["engaged_intervals"] if i["start_s"] < boundary < i["end_s"]]
    assert len(spanning) == 1
