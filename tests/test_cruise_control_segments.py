"""The analyzer's map/combine split: segments analysed apart, in any order or process, join exactly.

An executor that fans a route out (a process pool, a Dask cluster) calls ``plan``, then
``analyze_segment`` per task wherever it likes, then ``combine``. That must give the same result as
the tool's own one-process ``run``, with partials that pickle and stay small. The flip counts behind
the bit candidates are checked against a brute-force count over the whole, unsplit log.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jupyter_cts.logs.table import CanTable
from jupyter_cts.synth import preset, write_route
from jupyter_cts.tools.base import DirectoryContext
from jupyter_cts.tools.cruise_control import CruiseControlAnalyzer, CruiseControlParams
from jupyter_cts.tools.cruise_control.flips import FlipCounter, make_key, summarize_flips
from jupyter_cts.tools.segmented import SegmentedTool

VOLATILE = {"generated_at"}


def comparable(result: dict[str, Any]) -> dict[str, Any]:
    return {**result, "metadata": {k: v for k, v in result["metadata"].items() if k not in VOLATILE}}


@pytest.fixture(scope="module")
def route(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("segments")
    write_route(root / "route", preset("demo", 180.0), segments=3)
    return root / "route"


def test_segments_analysed_apart_and_out_of_order_combine_to_the_same_result(
    route: Path, tmp_path: Path
) -> None:
    tool = CruiseControlAnalyzer()
    assert isinstance(tool, SegmentedTool)
    params = CruiseControlParams(export_csv=False, export_json=False)
    whole = tool.run([route], params, DirectoryContext(tmp_path / "whole", run_id="r"))

    plan = pickle.loads(pickle.dumps(tool.plan([route], params)))
    assert [t.number for t in plan.tasks] == [0, 1, 2]
    partials = {}
    for task in reversed(plan.tasks):  # as a pool would return them: any order, through pickle
        partial = CruiseControlAnalyzer.analyze_segment(task, params, plan.shared)
        blob = pickle.dumps(partial)
        assert len(blob) < 2_000_000, "a partial must stay far smaller than the segment it summarises"
        partials[task.index] = pickle.loads(blob)
    joined = tool.combine(
        list(partials.values()), plan, params, DirectoryContext(tmp_path / "fan", run_id="r")
    )
    assert comparable(joined) == comparable(whole)


# -- flip counts across segment boundaries -------------------------------------------------------

frames_per_segment = st.lists(st.integers(min_value=0, max_value=60), min_size=1, max_size=4)


def random_log(seed: int, sizes: list[int]) -> list[CanTable]:
    """Consecutive segments of frames on a few (address, bus) pairs with bits of every flip rate."""
    rng = np.random.default_rng(seed)
    out, t = [], 1_000
    for n in sizes:
        times = t + np.cumsum(rng.integers(1, 5_000_000, n))
        t = int(times[-1]) + 1 if n else t + 1
        data = np.zeros((n, 8), np.uint8)
        data[:, 0] = rng.integers(0, 256, n)  # flips all the time
        data[:, 3] = (rng.random(n) < 0.05).astype(np.uint8) << 2  # rare pulses
        data[:, 7] = rng.integers(0, 2, n) * 0x81
        out.append(
            CanTable(
                times.astype(np.uint64),
                rng.choice([0, 2], n).astype(np.uint8),
                rng.choice([0x146, 0x241], n).astype(np.uint32),
                np.full(n, 8, np.uint8),
                data,
            )
        )
    return out


def brute_force(tables: list[CanTable], a: int, b: int) -> dict[int, int]:
    """Flips with a < t <= b per key, over the whole log as one table."""
    whole = CanTable.concat(tables)
    counts: dict[int, int] = {}
    for address, bus in whole.pairs():
        frames = whole.where(address, bus)
        bits = np.unpackbits(frames.data, axis=1, bitorder="little")
        t = frames.t_ns[1:].astype(np.int64)
        inside = (t > a) & (t <= b)
        flips = (bits[1:] != bits[:-1])[inside].sum(axis=0)
        for g in range(64):
            counts[int(make_key(address, bus, g))] = int(flips[g])
    return counts


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    sizes=frames_per_segment,
    picks=st.lists(st.integers(0, 10_000), min_size=2, max_size=6),
)
def test_flip_counts_joined_from_segments_equal_counting_the_whole_log(
    seed: int, sizes: list[int], picks: list[int]
) -> None:
    tables = random_log(seed, sizes)
    every_t = np.concatenate([t.t_ns.astype(np.int64) for t in tables] + [np.array([0, 10**12])])
    # window edges fall on times the segments were told about (their own blinker/engaged edges)
    queries = np.sort(every_t[np.array(picks) % every_t.size])
    summaries = [
        summarize_flips(t, queries, head_ns=20_000_000, tail_ns=20_000_000, rare_max=3) for t in tables
    ]
    counter = FlipCounter(summaries)
    for a, b in zip(queries[:-1], queries[1:], strict=True):
        expected = brute_force(tables, int(a), int(b))
        got = dict(zip(counter.keys.tolist(), counter.between(int(a), int(b)).tolist(), strict=True))
        assert {k: v for k, v in got.items() if v} == {k: v for k, v in expected.items() if v}
    assert not counter.approximate
    totals = brute_force(tables, -1, 10**13)
    assert dict(zip(counter.keys.tolist(), counter.toggles.tolist(), strict=True)) == {
        k: totals[k] for k in counter.keys.tolist()
    }
    # the keys whose flip times were kept list exactly their flips, boundary flips included
    keys, times, _ = counter.rare_events()
    for k in np.unique(keys):
        assert int((keys == k).sum()) == totals[int(k)]


def test_the_first_file_is_read_once(route: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """plan reads it for the car fingerprint; segment 0's analysis reuses that instead of reading again."""
    import jupyter_cts.tools.cruise_control.segment as segment_module
    import jupyter_cts.tools.cruise_control.tool as tool_module

    reads: list[str] = []
    for module in (segment_module, tool_module):
        real = module.read_log

        def counted(path: Any, *, salvage: bool = False, _real: Any = real) -> Any:
            reads.append(Path(path).name if Path(path).is_file() else str(path))
            return _real(path, salvage=salvage)

        monkeypatch.setattr(module, "read_log", counted)
    params = CruiseControlParams(export_csv=False, export_json=False)
    CruiseControlAnalyzer().run([route], params, DirectoryContext(tmp_path / "out"))
    paths = [str(p) for p in sorted(route.glob("*/rlog.zst"))]
    assert len(reads) == len(paths) == 3
    assert tool_module.READ_AHEAD.take(paths[0], params.salvage) is None  # nothing left held


def test_rare_flip_times_survive_their_compact_form_whatever_the_gaps() -> None:
    from jupyter_cts.tools.cruise_control.flips import _time_steps

    t0 = 1_700_000_000_000_000_000
    for times in ([t0, t0 + 5, t0 + 1_000_000_000], [t0 + 3, t0 + 10 * 1_000_000_000]):  # gap > 2**32 ns
        t = np.array(times, np.int64)
        steps = _time_steps(t, t0)
        assert steps.dtype == (np.uint32 if np.diff(t).max() < 2**32 else np.int64)
        assert (t0 + np.cumsum(steps, dtype=np.int64) == t).all()
