"""How fast cruise-control-analyzer's analysis is, beside the straightforward LogReader baseline.

    .venv/bin/python bench/cruise_control.py [--repeat N] [--segments 60] [--keep DIR]

1. A generated 60 s demo segment (>= 90k CAN frames): the whole analysis (read, decode, analyze:
   speed, presses, engaged spans, marker windows, bit candidates; no plot, no HTML) beside
   bench/baseline_logreader.py doing the same with openpilot-logging's LogReader and per-frame Python.
   Target: at least 8x faster. CPU seconds, best of N, the two interleaved so load hits both alike.
2. A 60-segment generated route analysed segment by segment: CPU per segment. Target: < 0.2 s.
   Also the size of one pickled per-segment partial (what a process pool or Dask ships back).
"""

from __future__ import annotations

import argparse
import pickle
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from baseline_logreader import analyse as baseline_analyse  # noqa: E402

from jupyter_cts.logs import read_can  # noqa: E402
from jupyter_cts.synth import preset, write_route, write_segment  # noqa: E402
from jupyter_cts.tools.cruise_control import CruiseControlAnalyzer, CruiseControlParams  # noqa: E402

TARGET_RATIO = 8.0
TARGET_CPU_PER_SEGMENT = 0.2


def cpu(fn: Callable[[], object]) -> float:
    start = time.process_time()
    fn()
    return time.process_time() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--segments", type=int, default=60, help="route length for part 2 (0: skip it)")
    ap.add_argument("--keep", type=Path, help="generate into (or reuse) this folder instead of a temp one")
    args = ap.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-cc-"))
    root.mkdir(parents=True, exist_ok=True)
    tool = CruiseControlAnalyzer()
    params = CruiseControlParams()
    try:
        seg = root / "segment" / "rlog.zst"
        if not seg.exists():
            write_segment(seg, preset("demo"))
        frames = len(read_can(seg))
        ours_fn = lambda: tool.analyse([seg], params)  # noqa: E731
        base_fn = lambda: baseline_analyse(str(seg))  # noqa: E731
        ours_fn(), base_fn()  # warm imports and caches
        ours, base = [], []
        for _ in range(args.repeat):
            ours.append(cpu(ours_fn))
            base.append(cpu(base_fn))
        print(f"60 s segment, {frames} CAN frames ({seg.stat().st_size / 1e6:.1f} MB zst)")
        print(f"  cruise-control-analyzer analysis : {min(ours) * 1000:7.1f} ms CPU (best of {args.repeat})")
        print(f"  LogReader + per-frame baseline   : {min(base) * 1000:7.1f} ms CPU")
        ratio = min(base) / min(ours)
        print(
            f"  ratio                            : {ratio:7.1f}x  (target >= {TARGET_RATIO:g}x) "
            f"{'OK' if ratio >= TARGET_RATIO else 'MISSED'}"
        )
        signals_only = min(cpu(lambda: baseline_analyse(str(seg), bits=False)) for _ in range(args.repeat))
        print(
            f"  (for reference: the baseline without its bit-flip counting takes "
            f"{signals_only * 1000:.1f} ms, "
            f"{signals_only / min(ours):.1f}x ours, which still counts every bit)"
        )

        if args.segments < 2:
            return 0
        route = root / "route"
        if not route.exists():
            t = time.time()
            write_route(route, preset("demo", 60.0 * args.segments), segments=args.segments)
            print(f"\n(generated a {args.segments}-segment route in {time.time() - t:.0f} s)")
        plan = tool.plan([route], params)
        partial = CruiseControlAnalyzer.analyze_segment(plan.tasks[1], params, plan.shared)
        size = len(pickle.dumps(partial))
        start_cpu, start_wall = time.process_time(), time.time()
        _, analysis = tool.analyse([route], params)
        total_cpu, wall = time.process_time() - start_cpu, time.time() - start_wall
        n = len(plan.tasks)
        per = total_cpu / n
        print(
            f"{n}-segment route ({analysis.result['input']['duration_s'] / 60:.0f} min, "
            f"{sum(analysis.result['input']['can_frames'].values())} CAN frames)"
        )
        print(f"  whole analysis                   : {total_cpu:7.2f} s CPU, {wall:.2f} s wall")
        print(
            f"  per segment                      : {per * 1000:7.1f} ms CPU  (target < "
            f"{TARGET_CPU_PER_SEGMENT * 1000:.0f} ms) {'OK' if per < TARGET_CPU_PER_SEGMENT else 'MISSED'}"
        )
        print(f"  one pickled segment partial      : {size / 1e3:7.0f} kB")
        print(
            f"  found: {len(analysis.result['buttons']['set_presses'])} Set presses, "
            f"{len(analysis.result['cruise']['engaged_intervals'])} engaged intervals, "
            f"{len(analysis.result['marker_windows'])} marker windows"
        )
        return 0
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
