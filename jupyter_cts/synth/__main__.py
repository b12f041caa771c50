"""``python -m jupyter_cts.synth --out DIR``: write a generated drive (a route of one or more segments).

Prints what it wrote, so a person can paste the paths into ``cts run``. ``cts synth`` wraps this.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import NoReturn

from jupyter_cts.errors import CTSError
from jupyter_cts.synth.presets import PRESETS, preset
from jupyter_cts.synth.scenario import Scenario
from jupyter_cts.synth.writer import DEFAULT_ROUTE, write_route


class UsageError(Exception):
    """Bad command line; ``main`` turns it into exit code 1 (the project's "usage" code)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.format_usage()}{self.prog}: error: {message}")


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="python -m jupyter_cts.synth",
        description="Generate a Subaru drive (rlog per one-minute segment) with its ground truth.",
    )
    p.add_argument("--out", required=True, type=Path, help="folder to write the route into")
    p.add_argument(
        "--scenario", default="demo", help=f"a preset ({', '.join(PRESETS)}) or a scenario .json file"
    )
    p.add_argument("--segments", type=int, default=1, help="number of segments (default 1)")
    p.add_argument("--seconds", type=float, default=60.0, help="seconds per segment (default 60)")
    p.add_argument("--compression", choices=("zst", "bz2", "none"), default="zst")
    p.add_argument(
        "--seed", type=int, default=None, help="random seed (default: the scenario's, 0 for presets)"
    )
    p.add_argument("--qlog", action="store_true", help="also write a decimated qlog per segment")
    p.add_argument("--route-name", default=DEFAULT_ROUTE, help="route name; folders are <route>--N")
    return p


def load_scenario(name_or_path: str, duration_s: float, seed: int | None) -> Scenario:
    """A preset by name, or a Scenario JSON file (its own duration is replaced by the route's)."""
    path = Path(name_or_path)
    if name_or_path.endswith(".json") or path.is_file():
        sc = Scenario.model_validate_json(path.read_text())
        return sc.model_copy(update={"duration_s": duration_s, **({} if seed is None else {"seed": seed})})
    return preset(name_or_path, duration_s=duration_s, seed=seed or 0)


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except UsageError as err:
        print(err, file=sys.stderr)
        return 1
    if args.segments < 1 or args.seconds <= 0:
        print("error: --segments must be >= 1 and --seconds > 0", file=sys.stderr)
        return 1
    try:
        scenario = load_scenario(args.scenario, args.segments * args.seconds, args.seed)
        route = write_route(
            args.out,
            scenario,
            segments=args.segments,
            route_name=args.route_name,
            segment_s=args.seconds,
            compression=None if args.compression == "none" else args.compression,
            qlog=args.qlog,
        )
    except (CTSError, OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(
        f"scenario {scenario.name} ({scenario.car_fingerprint}, seed {scenario.seed}),"
        f" route {route.route_name}"
    )
    for seg in route.segments:
        print(
            f"  {seg.path}  {seg.end_s - seg.start_s:.0f} s, {seg.n_events} events, {seg.n_frames} CAN frames"
        )
        if seg.qlog_path is not None:
            print(f"  {seg.qlog_path}  (qlog)")
    print(f"truth:    {route.truth_path}")
    print(f"scenario: {route.scenario_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
