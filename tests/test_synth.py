"""Generated drives: what the generator writes must read back as the drive it claims, frame for frame.

Everything here goes through the doors a user uses: ``write_segment`` / ``write_route`` /
``python -m jupyter_cts.synth`` to write, ``jupyter_cts.logs`` to read, ``jupyter_cts.can`` to decode,
and opendbc itself (in a subprocess) to judge counters and checksums.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from opendbc_oracle import ask

from jupyter_cts.can import bit_edges, decode, load_dbc
from jupyter_cts.logs import read_can, read_log
from jupyter_cts.synth import PRESETS, Press, Scenario, Span, generate, preset, write_route, write_segment

SUBARU = "subaru_global_2017"
MPH_PER_KPH = 1 / 1.609344


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, dict, Scenario]:
    """One demo segment on disk with its truth, shared by the stories below."""
    folder = tmp_path_factory.mktemp("demo")
    scenario = preset("demo")
    write_segment(folder / "rlog.zst", scenario, truth_path=folder / "truth.json")
    return folder / "rlog.zst", json.loads((folder / "truth.json").read_text()), scenario


def t_s(table_or_ns, first_ns: int) -> np.ndarray:
    return (np.asarray(table_or_ns, np.int64) - first_ns) / 1e9


def test_a_demo_segment_reads_back_as_the_drive_it_describes(demo):
    path, truth, scenario = demo
    log = read_log(path)
    can, first = log.can, log.first_t_ns
    assert len(can) >= 90_000, "a minute of a real car bus carries ~1500-2500 frames per second"
    assert len(can) == truth["frames"]["total"]
    assert {int(b) for b in can.counts_by_bus()} == {0, 1, 2, 128}, "main, alt, camera buses and echoes"
    assert log.metadata.car_fingerprint == scenario.car_fingerprint and log.metadata.brand == "subaru"

    # wheel speeds (mean of the four wheels) follow the speed profile
    wheels = decode(can, SUBARU, "Wheel_Speeds", bus=0)
    mph = np.mean([wheels[w] for w in ("FL", "FR", "RL", "RR")], axis=0) * MPH_PER_KPH
    times = t_s(wheels.t_ns, first)
    profile = np.interp(times, *zip(*scenario.speed_profile, strict=True))
    assert len(wheels) == pytest.approx(50 * 60, abs=1), "Wheel_Speeds at 50 Hz"
    assert np.abs(mph - profile).max() < 0.05

    # the Set button bit rises at the planted presses, and nowhere else
    set_bit = truth["bits"]["set"]
    assert (set_bit["address"], set_bit["g"], set_bit["msb_label"]) == (0x146, 43, "MSB B5b4")
    rises, falls = bit_edges(can, set_bit["address"], set_bit["bus"], set_bit["g"])
    planted = [p.t_s for p in scenario.set_presses]
    np.testing.assert_allclose(t_s(rises, first), planted, atol=0.05)
    np.testing.assert_allclose(
        t_s(falls, first) - t_s(rises, first), [p.duration_s for p in scenario.set_presses], atol=0.03
    )
    assert [p["t_s"] for p in truth["presses"]["set"]] == planted

    # the cruise state on the bus matches the truth's engaged intervals
    status = decode(can, SUBARU, "Cruise_Status", ["Cruise_Activated", "Cruise_Set_Speed"])
    on = status["Cruise_Activated"].astype(int)
    edges = np.diff(on, prepend=0)
    starts = t_s(status.t_ns[edges == 1], first)
    ends = t_s(status.t_ns[edges == -1], first)
    truth_intervals = truth["engaged_intervals"]
    np.testing.assert_allclose(starts, [i["start_s"] for i in truth_intervals], atol=0.1)
    np.testing.assert_allclose(ends, [i["end_s"] for i in truth_intervals if not i["open_at_end"]], atol=0.1)
    shown = set(status["Cruise_Set_Speed"][on == 1].astype(int))
    assert shown == {c["set_speed"] for c in truth["set_speed_changes"]}


def test_counters_count_and_opendbc_accepts_every_checksum(demo, tmp_path):
    path, truth, _ = demo
    can = read_can(path)
    dbc = load_dbc(SUBARU)
    ours = [(a, b) for a, b in can.pairs() if a in dbc.messages and b < 128]
    assert len(ours) >= 15
    for address, bus in ours:
        msg = dbc.messages[address]
        if "COUNTER" not in msg.signals:
            continue
        counter = decode(can, dbc, address, ["COUNTER"], bus=bus).raw["COUNTER"]
        assert (np.diff(counter) % 16 == 1).all(), f"{msg.name} on bus {bus}"

    # opendbc's CANParser, with its counter and checksum checks on, over the first 10 s of both buses
    first = int(can.t_ns[0])
    early = can.filter((can.t_ns < first + 10_000_000_000) & np.isin(can.address, list(dbc.messages)))
    for bus in (0, 2):
        names = sorted({dbc.messages[a].name for a, b in early.pairs() if b == bus})
        rows = early.filter(early.bus == bus)
        events: dict[int, list] = {}
        for t, a, d, n in zip(rows.t_ns.tolist(), rows.address.tolist(), rows.data, rows.dlc, strict=True):
            events.setdefault(t, []).append([a, bytes(d[:n]).hex(), bus])
        answer = ask(
            "canparser",
            {"dbc": dbc.name, "bus": bus, "messages": names, "events": sorted(events.items())},
            tmp_path / f"bus{bus}",
        )
        assert answer["can_valid"], f"bus {bus}"
        for name in names:
            sent = int((rows.address == dbc.message(name).address).sum())
            assert answer[name]["checksum_failures"] == 0, name
            assert answer[name]["accepted"] == sent, (
                f"{name}: opendbc accepted {answer[name]['accepted']} of {sent}"
            )
        if bus == 0:
            ours_fl = decode(rows, dbc, "Wheel_Speeds", ["FL"])["FL"]
            np.testing.assert_array_equal(ours_fl, answer["Wheel_Speeds"]["values"]["FL"])


def test_car_state_agrees_with_the_can_frames(demo):
    path, truth, scenario = demo
    log = read_log(path)
    cs, first = log.car_state, log.first_t_ns
    assert len(cs) == pytest.approx(6000, abs=2), "carState at 100 Hz"
    times = t_s(cs.t_ns, first)
    profile = np.interp(times, *zip(*scenario.speed_profile, strict=True))
    assert np.abs(cs["v_ego"] / 0.44704 - profile).max() < 0.1, "vEgo comes from the wheel speeds"

    engaged = np.zeros(len(cs), bool)
    for i in truth["engaged_intervals"]:
        engaged |= (times >= i["start_s"] + 0.1) & (times < i["end_s"])
    assert cs["cruise_enabled"][engaged].all()
    assert cs["cruise_available"][times > 3].all(), "main was switched on at 2 s"

    # the lamp flashes at 1.5 Hz while the stalk is on; carState's blinker stays on throughout
    lamp = decode(log.can, SUBARU, "Dashlights", ["LEFT_BLINKER"])
    lamp_rises = t_s(bit_edges(log.can, 0x390, 0, 50)[0], first)
    assert len(lamp_rises) >= 2
    for span in scenario.left_blinker:
        flashes = lamp_rises[(lamp_rises >= span.start_s - 0.01) & (lamp_rises < span.end_s)]
        assert len(flashes) == 3 and np.allclose(np.diff(flashes), 1 / 1.5, atol=0.1)
        held = (times > span.start_s + 0.11) & (times < span.end_s)
        assert cs["left_blinker"][held].all()
    assert lamp["LEFT_BLINKER"].sum() < len(lamp) / 5
    assert [(w["start_s"], w["end_s"]) for w in truth["marker_windows"]] == [
        (left.start_s, right.start_s)
        for left, right in zip(scenario.left_blinker, scenario.right_blinker, strict=True)
    ]
    assert truth["marker_button"] == "set"


def test_the_same_seed_writes_the_same_bytes_and_another_seed_does_not(tmp_path):
    scenario = preset("no_presses", duration_s=20)
    write_segment(tmp_path / "a.zst", scenario)
    write_segment(tmp_path / "b.zst", scenario)
    write_segment(tmp_path / "c.zst", scenario.model_copy(update={"seed": 1}))
    assert (tmp_path / "a.zst").read_bytes() == (tmp_path / "b.zst").read_bytes()
    a, c = read_can(tmp_path / "a.zst"), read_can(tmp_path / "c.zst")
    assert not np.array_equal(a.address, c.address) or not np.array_equal(a.data, c.data)
    wheels = [decode(t, SUBARU, "Wheel_Speeds", ["FL"])["FL"] for t in (a, c)]
    np.testing.assert_array_equal(*wheels), "the seed moves the noise, not the drive"


def test_a_route_has_numbered_segments_with_continuous_time_and_counters(tmp_path):
    route = write_route(tmp_path, preset("demo", duration_s=120), segments=2, qlog=True)
    names = sorted(p.name for p in tmp_path.iterdir() if p.is_dir())
    assert names == [f"{route.route_name}--0", f"{route.route_name}--1"]
    assert all((tmp_path / n / "rlog.zst").is_file() and (tmp_path / n / "qlog.zst").is_file() for n in names)

    log = read_log(tmp_path)
    assert [s.number for s in log.segments] == [0, 1]
    gap = log.segments[1].start_t_ns - log.segments[0].end_t_ns
    assert 0 < gap <= 10_000_000, "the second segment picks up 10 ms after the first ends"
    wheels = decode(log.can, SUBARU, "Wheel_Speeds", ["COUNTER"])
    assert (np.diff(wheels.raw["COUNTER"]) % 16 == 1).all(), "counters run on across the boundary"
    assert np.diff(wheels.t_ns.astype(np.int64)).max() == 20_000_000

    truth = json.loads(route.truth_path.read_text())
    assert [s["number"] for s in truth["segments"]] == [0, 1]
    assert [p["t_s"] for p in truth["presses"]["resume"]] == [52.0, 59.9, 112.0]
    rises, _ = bit_edges(log.can, 0x146, 0, truth["bits"]["resume"]["g"])
    np.testing.assert_allclose(t_s(rises, log.first_t_ns), [52.0, 59.9, 112.0], atol=0.05)
    assert Scenario.model_validate_json(route.scenario_path.read_text()).duration_s == 120

    qlog = read_can(tmp_path / names[0] / "qlog.zst")
    assert 0 < len(qlog) < len(log.can) / 150, "the qlog keeps one CAN event in a hundred"


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_generates_what_its_name_promises(name):
    gen = generate(preset(name))
    truth = gen.truth()
    table = gen.can_table()
    assert len(table) >= 90_000, name
    addresses = set(table.address.tolist())
    subaru = set(load_dbc(SUBARU).messages)
    if name == "toyota":
        assert truth["car_fingerprint"] == "TOYOTA_COROLLA"
        assert not addresses & subaru, "no Subaru message anywhere in a Toyota log"
        speed = decode(table, "toyota_nodsu_pt_generated", "WHEEL_SPEEDS", ["WHEEL_SPEED_FL"])
        assert speed["WHEEL_SPEED_FL"].max() * MPH_PER_KPH == pytest.approx(55.8, abs=0.3)
        return
    assert 0x146 in addresses and 0x13A in addresses
    buttons = decode(table, SUBARU, "Cruise_Buttons", ["Set"])
    set_presses = int((np.diff(buttons["Set"].astype(int)) == 1).sum())
    assert set_presses == len(truth["presses"]["set"])
    if name == "no_presses":
        assert set_presses == 0 and truth["engaged_intervals"] == [] and truth["marker_windows"] == []
    elif name == "never_in_band":
        assert truth["target_windows"] == [] and truth["engaged_intervals"]
    elif name == "unclosed_marker":
        assert truth["marker_windows"][-1]["partial"] and truth["marker_windows"][-1]["end_s"] is None
        assert not any(w["partial"] for w in truth["marker_windows"][:-1])
    elif name == "brake_disengage":
        (interval,) = truth["engaged_intervals"]
        assert interval["end_s"] == truth["presses"]["brake"][0]["t_s"]
    elif name == "kph_only":
        units = decode(table, SUBARU, "Dashlights", ["UNITS"])["UNITS"]
        assert (units == 0).all()
        first_set = truth["set_speed_changes"][0]["set_speed"]
        assert first_set == int(np.floor(truth["presses"]["set"][0]["speed_mph"] * 1.609344 + 0.5))
        shown = decode(table, SUBARU, "ES_DashStatus", ["Cruise_Set_Speed"], bus=2)["Cruise_Set_Speed"]
        assert first_set in set(shown.astype(int))
    else:
        assert name == "demo"
        assert len(truth["target_windows"]) == 2 and truth["presses"]["set"][0]["in_target"]


def test_the_cruise_rules_of_a_hand_written_scenario():
    scenario = Scenario(
        duration_s=30,
        speed_profile=[(0, 0), (5, 40), (30, 40)],
        main_presses=[Press(t_s=1), Press(t_s=25)],
        set_presses=[
            Press(t_s=2),
            Press(t_s=8),
            Press(t_s=12),
        ],  # 16 mph: too slow; engages at 40; lowers to 39
        brake_presses=[Press(t_s=15)],
        resume_presses=[Press(t_s=18), Press(t_s=20)],  # back at 39, then raises to 40
        left_blinker=[Span(start_s=6, end_s=7)],
    )
    truth = generate(scenario).truth()
    assert [(i["start_s"], i["end_s"]) for i in truth["engaged_intervals"]] == [(8.0, 15.0), (18.0, 25.0)]
    assert [(c["t_s"], c["set_speed"]) for c in truth["set_speed_changes"]] == [
        (8.0, 40),
        (12.0, 39),
        (20.0, 40),
    ]
    assert [(m["t_s"], m["on"]) for m in truth["main"]] == [(1.0, True), (25.0, False)]
    assert truth["marker_windows"] == [], "a left blinker never closed within the timeout is not a window"
    assert Scenario.model_validate_json(scenario.model_dump_json()) == scenario


def test_the_command_line_writes_a_route_and_says_where(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "jupyter_cts.synth",
            "--out",
            str(tmp_path),
            "--segments",
            "2",
            "--seconds",
            "15",
            "--compression",
            "none",
            "--scenario",
            "brake_disengage",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    rlogs = sorted(tmp_path.glob("*--*/rlog"))
    assert len(rlogs) == 2
    for rlog in rlogs:
        assert str(rlog) in done.stdout
        assert rlog.read_bytes()[:4] not in (b"\x28\xb5\x2f\xfd", b"BZh9"), (
            "--compression none writes raw events"
        )
    assert "truth.json" in done.stdout and (tmp_path / "truth.json").is_file()
    assert read_log(tmp_path).segments[1].n_events > 0

    bad = subprocess.run(
        [sys.executable, "-m", "jupyter_cts.synth", "--out", str(tmp_path / "x"), "--scenario", "nope"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 1 and "unknown scenario 'nope'" in bad.stderr and "demo" in bad.stderr
    usage = subprocess.run(
        [sys.executable, "-m", "jupyter_cts.synth", "--segments", "2"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert usage.returncode == 1 and "--out" in usage.stderr, "a usage error exits 1, like every cts command"


@pytest.mark.parametrize("duration_s", [5.0, 20.0, 90.0])
@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_fit_drives_shorter_or_longer_than_their_minute(name, duration_s):
    truth = generate(preset(name, duration_s)).truth()
    for kind, presses in truth["presses"].items():
        assert all(p["t_s"] < duration_s for p in presses), kind
    for window in truth["marker_windows"]:
        assert window["start_s"] < duration_s
        assert window["partial"] or window["end_s"] <= duration_s
