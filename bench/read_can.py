"""How fast read_can is, beside openpilot's LogReader and beside zstd decompression alone (the floor),
and how flat iter_segments keeps memory over a 10-segment route.

    .venv/bin/python bench/read_can.py [--repeat N]

Targets: >= 10x faster than LogReader; within 3x of the floor; reading a 10-segment route one
segment at a time peaks within 1.3x of reading one segment. Timings are the best of N runs,
interleaved so that a busy machine slows every contender alike.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import zstandard

from jupyter_cts.logs import LogWriter, read_can

MIN_FRAMES = 90_000


def make_segment(path: Path) -> str:
    """A 60 s segment: the synthetic Subaru drive when available, else a plain LogWriter loop."""
    try:
        from jupyter_cts.synth import preset, write_segment
    except ImportError:
        write_segment = None
    if write_segment is not None:
        write_segment(path, preset("demo"))
        return "jupyter_cts.synth demo preset"
    import random

    rng = random.Random(0)
    addresses = [0x40, 0x13A, 0x13C, 0x144, 0x146, 0x240, 0x241, 0x321, 0x390, 0x3A0, 0x200, 0x118]
    with LogWriter(path) as w:
        w.init_data(0, dongle_id="bench", version="bench")
        w.car_params(0, car_fingerprint="SUBARU_OUTBACK", brand="subaru")
        for k in range(6000):
            t = 10_000_000 * (k + 1)
            w.can(t, [(a, rng.randbytes(8), k % 3) for a in addresses + addresses[:4]])
            w.car_state(t + 1, v_ego=k / 300)
            if k % 50 == 0:
                w.event(t + 2, "deviceState", cpuTempC=[40.0])
    return "LogWriter loop"


def logreader_rows(path: Path) -> int:
    """What a user writes today with openpilot's LogReader: every frame's time, bus, address, data."""
    from openpilot_logging.logreader import LogReader

    t, bus, address, data = [], [], [], []
    for msg in LogReader(str(path)):
        if msg.which() == "can":
            mono = msg.logMonoTime
            for c in msg.can:
                t.append(mono)
                bus.append(c.src)
                address.append(c.address)
                data.append(c.dat)
    return len(t)


def floor(path: Path) -> int:
    return len(zstandard.ZstdDecompressor().decompress(path.read_bytes()))


def best_of(jobs: dict[str, Callable[[], object]], repeat: dict[str, int]) -> dict[str, float]:
    best = {name: float("inf") for name in jobs}
    for round_ in range(max(repeat.values())):
        for name, job in jobs.items():
            if round_ < repeat[name]:
                t0 = time.perf_counter()
                job()
                best[name] = min(best[name], time.perf_counter() - t0)
    return best


MEMORY_PROBE = """
import json, sys, tracemalloc
from jupyter_cts.logs import iter_segments, read_log
mode, path = sys.argv[1], sys.argv[2]
read_log(path) if mode == "one" else None  # warm imports and caches outside the measurement
tracemalloc.start()
frames = 0
if mode == "one":
    log = read_log(path)
    frames = len(log.can)
    del log
else:
    for part in iter_segments(path):
        frames += len(part.can)
        del part
peak = tracemalloc.get_traced_memory()[1]
import resource
rss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"peak": peak, "frames": frames, "maxrss_kb": rss_kb}))
"""


def memory(mode: str, path: Path) -> dict[str, int]:
    out = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, mode, str(path)], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=40, help="runs per contender (LogReader: a tenth)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        seg = Path(tmp) / "route" / "bench--0" / "rlog.zst"
        seg.parent.mkdir(parents=True)
        t0 = time.perf_counter()
        source = make_segment(seg)
        table = read_can(seg)
        raw_bytes = floor(seg)
        print(
            f"segment: {source}, {len(table):,} CAN frames, {raw_bytes / 1e6:.1f} MB raw, "
            f"{seg.stat().st_size / 1e6:.2f} MB zst (made in {time.perf_counter() - t0:.1f} s)"
        )
        if len(table) < MIN_FRAMES:
            print(f"FAIL: the segment holds fewer than {MIN_FRAMES:,} frames")
            return 1
        if logreader_rows(seg) != len(table):
            print("FAIL: LogReader and read_can disagree on the number of frames")
            return 1

        best = best_of(
            {
                "floor": lambda: floor(seg),
                "read_can": lambda: read_can(seg),
                "LogReader": lambda: logreader_rows(seg),
            },
            {"floor": args.repeat, "read_can": args.repeat, "LogReader": max(2, args.repeat // 10)},
        )
        speedup = best["LogReader"] / best["read_can"]
        over_floor = best["read_can"] / best["floor"]
        print(f"zstd decompression alone (floor): {best['floor'] * 1e3:8.1f} ms")
        print(
            f"read_can:                         {best['read_can'] * 1e3:8.1f} ms   "
            f"{over_floor:.2f}x the floor (target <= 3x)"
        )
        print(
            f"openpilot LogReader:              {best['LogReader'] * 1e3:8.1f} ms   "
            f"read_can is {speedup:.1f}x faster (target >= 10x)"
        )

        route = seg.parent.parent
        for n in range(1, 10):
            shutil.copytree(seg.parent, route / f"bench--{n}")
        one, all_ten = memory("one", seg), memory("route", route)
        ratio = all_ten["peak"] / one["peak"]
        print(
            f"peak traced memory, one segment:           {one['peak'] / 1e6:7.1f} MB "
            f"(max RSS {one['maxrss_kb'] / 1e3:.0f} MB)"
        )
        print(
            f"peak traced memory, 10 via iter_segments:  {all_ten['peak'] / 1e6:7.1f} MB "
            f"(max RSS {all_ten['maxrss_kb'] / 1e3:.0f} MB), {ratio:.2f}x one segment (target <= 1.3x)"
        )
        if all_ten["frames"] != 10 * one["frames"]:
            print("FAIL: iter_segments did not read all ten segments")
            return 1
    ok = speedup >= 10 and over_floor <= 3 and ratio <= 1.3
    print("targets met" if ok else "targets NOT met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
