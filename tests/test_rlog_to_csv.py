"""rlog-to-csv: a log's CAN frames as one CSV row each, labelled around a window, streamed.

A user points it at a segment or a route and opens can.csv in pandas or a spreadsheet: every frame,
in log order, with the route's clock (t_s), the raw logMonoTime, its bus, address and payload.
"""

from __future__ import annotations

import csv
import hashlib
import json
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pydantic
import pytest

from jupyter_cts.logs import read_can, read_log, resolve_segments
from jupyter_cts.synth import preset, write_route
from jupyter_cts.tools.base import DirectoryContext
from jupyter_cts.tools.rlog_to_csv import RlogToCsv, RlogToCsvParams

HEADER = "t_s,log_mono_time,bus,address,data_hex,segment"


def export(path: Path, out: Path, **params: Any) -> dict[str, Any]:
    return RlogToCsv().run([path], RlogToCsvParams(**params), DirectoryContext(out, run_id="csv-run"))


def load(out: Path) -> pd.DataFrame:
    return pd.read_csv(out / "can.csv", dtype={"address": str, "data_hex": str}, keep_default_na=False)


@pytest.fixture(scope="module")
def route(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("rlog_to_csv")
    write_route(root / "route", preset("demo", 120.0), segments=2)
    return root / "route"


def test_every_frame_of_a_route_is_one_row_in_log_order(route: Path, tmp_path: Path) -> None:
    result = export(route, tmp_path)
    frames = read_can(route)
    df = load(tmp_path)
    assert result["rows"] == len(df) == len(frames)
    assert result["rows_by_segment"] == {"all": len(frames)}
    assert (df["log_mono_time"].to_numpy(np.uint64) == frames.t_ns).all()
    assert (df["bus"].to_numpy() == frames.bus).all()
    assert [int(a, 16) for a in df["address"]] == frames.address.tolist()
    payloads = [bytes(row[:n]).hex() for row, n in zip(frames.data, frames.dlc, strict=True)]
    assert df["data_hex"].tolist() == payloads
    # one clock for the whole route: seconds since its first event, continuing across segments
    first = read_log(resolve_segments(route)[0].path).first_t_ns
    assert df["t_s"].to_numpy() == pytest.approx((frames.t_ns.astype(np.int64) - first) / 1e9, abs=1e-6)
    assert df["t_s"].is_monotonic_increasing and df["t_s"].iloc[-1] > 119


def test_a_window_labels_each_row_pre_window_or_post(route: Path, tmp_path: Path) -> None:
    result = export(route, tmp_path, window_start=10, window_dur=5)
    df = load(tmp_path)
    expected = np.where(df["t_s"] < 10, "pre", np.where(df["t_s"] < 15, "window", "post"))
    assert (df["segment"].to_numpy() == expected).all()
    assert result["rows_by_segment"] == df["segment"].value_counts().to_dict()
    assert result["window"] == {"start_s": 10.0, "end_s": 15.0}


def test_a_window_without_a_length_runs_to_the_end(route: Path, tmp_path: Path) -> None:
    result = export(route, tmp_path, window_start=100)
    assert set(result["rows_by_segment"]) == {"pre", "window"}


def test_buses_and_addresses_filter_the_rows(route: Path, tmp_path: Path) -> None:
    export(route, tmp_path, buses="0", addresses="0x146, 0x13a")
    df = load(tmp_path)
    frames = read_can(route)
    keep = (frames.bus == 0) & np.isin(frames.address, [0x146, 0x13A])
    assert len(df) == int(keep.sum()) > 0
    assert set(df["address"]) == {"0x146", "0x13A"} and set(df["bus"]) == {0}


GOLDEN_RESULT_KEYS = ["rows", "rows_by_segment", "window", "input", "columns", "warnings", "metadata"]


def test_the_csv_has_a_plain_header_and_a_sidecar_naming_its_run(route: Path, tmp_path: Path) -> None:
    result = export(route, tmp_path, window_start=3, window_dur=1)
    assert list(result) == GOLDEN_RESULT_KEYS and result["columns"] == HEADER.split(",")
    with open(tmp_path / "can.csv", newline="") as f:
        assert ",".join(next(csv.reader(f))) == HEADER
    meta = json.loads((tmp_path / "can.csv.meta.json").read_text())
    files = [s.path for s in resolve_segments(route)]
    assert [f["sha256"] for f in meta["input_files"]] == [
        hashlib.sha256(p.read_bytes()).hexdigest() for p in files
    ]
    assert meta["run_id"] == "csv-run" and meta["tool"] == "rlog-to-csv"
    assert meta["params"]["window_start"] == 3 and meta["columns"] == HEADER.split(",")


def test_bad_filters_are_refused_by_name() -> None:
    with pytest.raises(pydantic.ValidationError, match="0x13a or 314"):
        RlogToCsvParams(addresses="0x13a, banana")
    with pytest.raises(pydantic.ValidationError, match="bus 300"):
        RlogToCsvParams(buses=[300])
    with pytest.raises(pydantic.ValidationError):
        RlogToCsvParams(window_dur=0)


def peak_memory(route: Path, out: Path) -> int:
    tracemalloc.start()
    try:
        export(route, out)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_the_length_of_the_route(tmp_path: Path) -> None:
    # short segments keep this quick under tracemalloc; the route is four times longer, not the segments
    short = write_route(tmp_path / "short", preset("no_presses", 10.0), segments=1, segment_s=10.0).out_dir
    long = write_route(tmp_path / "long", preset("no_presses", 40.0), segments=4, segment_s=10.0).out_dir
    one, four = peak_memory(short, tmp_path / "o1"), peak_memory(long, tmp_path / "o4")
    assert (tmp_path / "o4" / "can.csv").stat().st_size > 3.5 * (tmp_path / "o1" / "can.csv").stat().st_size
    assert four < 1.3 * one, f"peak {four / 1e6:.1f} MB for 4 segments vs {one / 1e6:.1f} MB for 1"
