"""What cruise-control-analyzer leaves in its run folder, and that each file is what people expect.

Golden lists pin every CSV header and the keys of result.json: renaming a column is a breaking change
for everyone's notebooks and spreadsheets, so it must show up here first.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

from jupyter_cts.synth import preset, write_route, write_segment
from jupyter_cts.tools.base import DirectoryContext
from jupyter_cts.tools.cruise_control import CruiseControlAnalyzer, CruiseControlParams

GOLDEN_HEADERS = {
    "timeline.csv": "t_s,log_mono_time,event,value,speed_mph,detail",
    "candidates.csv": (
        "rank,address_hex,bus,g,lsb_label,msb_label,signal,score,score_marker,score_engaged,rank_marker,"
        "rank_engaged,toggles,rises,falls,flips_in_windows,windows_hit,flips_engaged,engaged_edges_hit,edge_lag_s"
    ),
    "edges.csv": "t_s,log_mono_time,address_hex,bus,g,lsb_label,msb_label,signal,role,edge,speed_mph",
    "marker_windows.csv": (
        "index,start_s,end_s,window_start_s,window_end_s,duration_s,partial,start_log_mono_time,"
        "end_log_mono_time,top_bits"
    ),
    "engaged_intervals.csv": (
        "start_s,end_s,duration_s,open,start_log_mono_time,end_log_mono_time,speed_mph_at_start,set_speed_at_start"
    ),
}
GOLDEN_RESULT_KEYS = {
    "": [
        "input",
        "speed",
        "target_windows",
        "buttons",
        "cruise",
        "marker_windows",
        "candidates",
        "candidates_total",
        "sources",
        "warnings",
        "metadata",
    ],
    "input": [
        "files",
        "segments",
        "duration_s",
        "events",
        "can_frames",
        "car_fingerprint",
        "brand",
        "dbc",
        "dbc_reason",
        "first_log_mono_time",
    ],
    "speed": ["signal", "address", "bus", "samples", "min_mph", "mean_mph", "max_mph", "band_mph"],
    "buttons": ["set_presses", "resume_presses", "main_presses", "main_on", "main_off"],
    "cruise": [
        "engaged_intervals",
        "set_speed_changes",
        "set_speed_unit",
        "engaged_source",
        "set_speed_source",
    ],
    "metadata": [
        "tool",
        "tool_version",
        "run_id",
        "params",
        "input_sha256",
        "input_files",
        "generated_at",
        "dbc",
    ],
    "press": ["t_s", "log_mono_time", "speed_mph", "in_target"],
    "target_window": ["start_s", "end_s", "duration_s", "start_log_mono_time", "end_log_mono_time"],
    "marker_window": [
        "index",
        "start_s",
        "end_s",
        "window_start_s",
        "window_end_s",
        "duration_s",
        "partial",
        "start_log_mono_time",
        "end_log_mono_time",
        "top_bits",
    ],
    "candidate": [
        "rank",
        "address",
        "address_hex",
        "bus",
        "g",
        "lsb_label",
        "msb_label",
        "signal",
        "toggles",
        "rises",
        "falls",
        "flips_in_windows",
        "windows_hit",
        "flips_engaged",
        "engaged_edges_hit",
        "score_marker",
        "score_engaged",
        "score",
        "rank_marker",
        "rank_engaged",
        "edge_lag_s",
    ],
    "segment": [
        "index",
        "number",
        "path",
        "start_s",
        "end_s",
        "duration_s",
        "events",
        "can_frames",
        "damaged",
        "sha256",
    ],
}
ALWAYS = {"result.json", "report.html", "speed_timeline.png"}


def run(path: Path, out: Path, run_id: str = "run-1", **params: Any) -> dict[str, Any]:
    return CruiseControlAnalyzer().run(
        [path], CruiseControlParams(**params), DirectoryContext(out, run_id=run_id)
    )


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, Any]]:
    root = tmp_path_factory.mktemp("artifacts")
    log = root / "rlog.zst"
    write_segment(log, preset("demo"))
    out = root / "out"
    return log, out, run(log, out, run_id="golden-run")


def rows(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def test_the_run_folder_holds_every_artifact_the_spec_lists(demo: tuple[Path, Path, dict]) -> None:
    _, out, _ = demo
    stems = ["timeline", "candidates", "edges", "marker_windows", "engaged_intervals"]
    expected = (
        ALWAYS
        | {f"{s}.csv" for s in stems}
        | {f"{s}.csv.meta.json" for s in stems}
        | {f"{s}.json" for s in stems}
    )
    assert {p.name for p in out.iterdir()} == expected


@pytest.mark.parametrize("name", sorted(GOLDEN_HEADERS))
def test_csv_headers_are_the_golden_ones(demo: tuple[Path, Path, dict], name: str) -> None:
    _, out, _ = demo
    table = rows(out / name)
    assert ",".join(table[0]) == GOLDEN_HEADERS[name]
    assert len(table) > 1, f"{name} has no data rows on the demo drive"
    assert all(len(r) == len(table[0]) for r in table)


@pytest.mark.parametrize("name", sorted(GOLDEN_HEADERS))
def test_every_csv_has_a_sidecar_that_traces_it_to_its_run(demo: tuple[Path, Path, dict], name: str) -> None:
    log, out, _ = demo
    meta = json.loads((out / f"{name}.meta.json").read_text())
    assert meta["tool"] == "cruise-control-analyzer" and meta["tool_version"] == CruiseControlAnalyzer.version
    assert meta["run_id"] == "golden-run"
    assert meta["input_sha256"] == hashlib.sha256(log.read_bytes()).hexdigest()
    assert meta["params"] == CruiseControlParams().model_dump(mode="json")
    assert meta["columns"] == GOLDEN_HEADERS[name].split(",")
    assert meta["rows"] == len(rows(out / name)) - 1


def test_json_exports_hold_the_same_rows_with_their_metadata(demo: tuple[Path, Path, dict]) -> None:
    _, out, _ = demo
    for name in GOLDEN_HEADERS:
        payload = json.loads((out / name.replace(".csv", ".json")).read_text())
        assert payload["columns"] == GOLDEN_HEADERS[name].split(",")
        assert len(payload["rows"]) == len(rows(out / name)) - 1
        assert payload["metadata"]["run_id"] == "golden-run"


def test_result_json_is_the_returned_result_with_the_golden_keys(demo: tuple[Path, Path, dict]) -> None:
    _, out, result = demo
    saved = json.loads((out / "result.json").read_text())
    assert saved == json.loads(json.dumps(result))
    shapes = {
        "": saved,
        "input": saved["input"],
        "speed": saved["speed"],
        "buttons": saved["buttons"],
        "cruise": saved["cruise"],
        "metadata": saved["metadata"],
        "press": saved["buttons"]["set_presses"][0],
        "target_window": saved["target_windows"][0],
        "marker_window": saved["marker_windows"][0],
        "candidate": saved["candidates"][0],
        "segment": saved["input"]["segments"][0],
    }
    for where, obj in shapes.items():
        assert list(obj) == GOLDEN_RESULT_KEYS[where], f"keys of result.json {where or 'top level'}"


def test_edges_list_every_set_press_on_the_set_bit(demo: tuple[Path, Path, dict]) -> None:
    _, out, result = demo
    table = rows(out / "edges.csv")
    header = table[0]
    set_rises = [
        float(r[0])
        for r in table[1:]
        if r[header.index("role")] == "set" and r[header.index("edge")] == "rise"
    ]
    assert set_rises == [p["t_s"] for p in result["buttons"]["set_presses"]]
    assert {r[header.index("signal")] for r in table[1:] if r[header.index("role")] == "set"} == {
        "Cruise_Buttons.Set"
    }


def test_the_report_is_one_self_contained_page_with_the_summary_first(demo: tuple[Path, Path, dict]) -> None:
    _, out, result = demo
    html = (out / "report.html").read_text()
    assert html.startswith("<!DOCTYPE html>")
    assert "<script" not in html and not re.search(r'(src|href)="(https?:|//|/)', html)
    assert 'src="data:image/png;base64,' in html
    summary = html.index("Set presses</span>")  # the card at the top
    assert summary < html.index("<h2>Speed timeline</h2>") < html.index("<h2>Set presses</h2>")
    assert result["input"]["car_fingerprint"] in html
    # the summary names the best bit of each ranking before anything else
    head = html[: html.index("<h2>Speed timeline</h2>")]
    for rank in ("rank_marker", "rank_engaged"):
        best = next(c for c in result["candidates"] if c[rank] == 1)
        assert f"{best['address_hex']} {best['lsb_label']}" in head


def test_the_plot_draws_the_band_the_params_ask_for(tmp_path: Path, demo: tuple[Path, Path, dict]) -> None:
    log, _, _ = demo
    run(log, tmp_path, speed_min=50, speed_max=52, export_csv=False, export_json=False)
    png = tmp_path / "speed_timeline.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    from PIL import Image

    with Image.open(png) as image:
        assert image.size[0] >= 800
        assert "band 50-52 mph" in image.text["Description"]


def test_exports_can_be_switched_off(tmp_path: Path, demo: tuple[Path, Path, dict]) -> None:
    log, _, _ = demo
    run(log, tmp_path / "none", export_csv=False, export_json=False)
    assert {p.name for p in (tmp_path / "none").iterdir()} == ALWAYS
    run(log, tmp_path / "csv", export_json=False)
    jsons = {p.name for p in (tmp_path / "csv").glob("*.json")}
    assert jsons == {"result.json"} | {f"{name}.meta.json" for name in GOLDEN_HEADERS}


def test_values_from_the_log_are_escaped_in_the_report(tmp_path: Path) -> None:
    log = tmp_path / "rlog.zst"
    hostile = '<script>alert("x")</script>&<b>'
    write_segment(log, preset("demo").model_copy(update={"car_fingerprint": hostile}))
    result = run(log, tmp_path / "out", export_csv=False, export_json=False)
    html = (tmp_path / "out" / "report.html").read_text()
    assert "<script" not in html and hostile not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&lt;b&gt;" in html
    # an unknown car is decoded with the default DBC, and the result says so
    assert result["input"]["car_fingerprint"] == hostile
    assert any("not a Subaru this tool knows" in w for w in result["warnings"])


def test_a_route_timeline_marks_where_each_segment_starts(tmp_path: Path) -> None:
    write_route(tmp_path / "route", preset("demo", 120.0), segments=2)
    run(tmp_path / "route", tmp_path / "out", export_json=False)
    table = rows(tmp_path / "out" / "timeline.csv")
    starts = [float(r[0]) for r in table[1:] if r[2] == "segment_start"]
    assert starts == pytest.approx([0.0, 60.0], abs=0.01)
    meta = json.loads((tmp_path / "out" / "timeline.csv.meta.json").read_text())
    assert len(meta["input_files"]) == 2 and all(len(f["sha256"]) == 64 for f in meta["input_files"])


def test_table_exports_are_what_the_plain_encoders_write(tmp_path: Path) -> None:
    """The exports build their text a column at a time for speed; the bytes must not change."""
    import numpy as np

    from jupyter_cts.tools.exports import _cell, jsonable, write_table

    columns = ["t_s", "n", "label", "flag", "nested", "missing", "odd {key}"]
    table = [
        {"t_s": 0.1, "n": 3, "label": "plain", "flag": True, "nested": [], "odd {key}": 1},
        {"t_s": float("nan"), "n": None, "label": 'é "q", {x}\n', "flag": False, "nested": {"a": [1, 2]}},
        {"t_s": np.float64(2.5), "n": np.int64(7), "label": "", "flag": None, "nested": [{"b": None}]},
        {"t_s": float("inf"), "n": -1, "label": "a,b", "flag": True, "nested": (1, "x"), "extra": 9},
    ]
    # columns of plain floats take a faster path, unless one holds NaN or infinity (or sums past one)
    floats = [
        {"t_s": 1e308, "n": 0.5, "label": 1.0, "flag": -0.0, "nested": 1.0, "odd {key}": 2.0},
        {"t_s": 1e308, "n": 1, "label": float("nan"), "flag": float("-inf"), "nested": None},
    ]
    meta = {"run_id": "r", "params": {"x": 1.5, "y": None}}
    for some in (table, table[:1], [], floats, floats[:1]):
        out = tmp_path / f"{len(some)}-{some is floats or some == floats[:1]}"
        write_table(DirectoryContext(out), "t", columns, some, meta, as_csv=True, as_json=True)
        payload = {
            "metadata": meta,
            "columns": columns,
            "rows": [{c: r.get(c) for c in columns} for r in some],
        }
        expected_json = json.dumps(jsonable(payload), indent=2, allow_nan=False) + "\n"
        assert (out / "t.json").read_text(encoding="utf-8") == expected_json
        assert rows(out / "t.csv") == [columns] + [[str(_cell(r.get(c))) for c in columns] for r in some]
        assert json.loads((out / "t.csv.meta.json").read_text())["rows"] == len(some)


def test_a_prepared_figure_gives_the_same_png_as_one_drawn_from_scratch(
    demo: tuple[Path, Path, dict],
) -> None:
    """The helper prepares the figure while the run reads its input; the pixels must not change."""
    import io

    from jupyter_cts.tools.cruise_control.plot import prepare_figure, render_speed_timeline

    log, _, _ = demo
    plan, joined = CruiseControlAnalyzer()._joined([log], CruiseControlParams(), None, None)
    plot = joined.speed_plot.decimated()

    def png(params: CruiseControlParams, prepared: Any = None) -> bytes:
        out = io.BytesIO()
        render_speed_timeline(plot, params, out, prepared)
        return out.getvalue()

    usual, narrow = CruiseControlParams(), CruiseControlParams(speed_min=30, speed_max=35)
    assert png(usual, prepare_figure(usual)) == png(usual)
    assert png(narrow, prepare_figure(narrow)) == png(narrow) != png(usual)
    assert png(narrow, prepare_figure(usual)) == png(narrow)  # prepared for another band: not used


def test_the_plot_keeps_every_peak_of_a_long_drive() -> None:
    """A long route's speed line is thinned for drawing, by the extremes of each run of samples."""
    import numpy as np

    from jupyter_cts.tools.cruise_control.plot import decimate

    t = np.arange(90_000) / 50.0
    v = np.full(t.size, 50.0, np.float32)
    v[[12_345, 67_891]] = [80.0, 5.0]  # one-sample spikes a plain stride would drop
    dt, dv = decimate(t, v, 2400)
    assert dt.size <= 2 * 2400 + 2
    assert np.all(np.diff(dt) > 0) and dt[0] == t[0] and dt[-1] == t[-1]
    assert dv.max() == 80.0 and dv.min() == 5.0
    assert dt[dv.argmax()] == t[12_345] and dt[dv.argmin()] == t[67_891]
    short_t, short_v = decimate(t[:3000], v[:3000], 2400)
    assert short_t.size == 3000  # a one-minute segment is drawn sample by sample
