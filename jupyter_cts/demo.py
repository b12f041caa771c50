"""``make demo``: a generated Subaru drive analysed end to end through a real jupyter-cts server.

1. writes a one-minute drive (real cereal events, frames packed from opendbc's Subaru DBC) with
   ``jupyter_cts.synth`` under ``demo-output/drives``;
2. starts ``cts-lite`` on a free 127.0.0.1 port;
3. starts cruise-control-analyzer through the REST API and follows its log live (Server-Sent Events);
4. prints the summary (target windows, presses, engaged intervals, top candidate bits) and where
   the report is, then stops the server.

    python -m jupyter_cts.demo [--out demo-output] [--keep-running]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from jupyter_cts.client import CTSClient
from jupyter_cts.server.lite import LiteProcess, launch
from jupyter_cts.synth import preset, write_segment

TOOL = "cruise-control-analyzer"
PARAMS = {"speed_min": 55.0, "speed_max": 56.0, "marker_type": "blinkers"}


def generate(out: Path) -> str:
    """The demo drive under ``out/drives``; returns its path relative to the server's root."""
    segment = out / "drives" / "demo-route--0"
    written = write_segment(segment / "rlog.zst", preset("demo"), truth_path=out / "drives" / "truth.json")
    print(
        f"generated {written.path.relative_to(out)}: {written.n_events} events, {written.n_frames} CAN frames"
    )
    return str(segment.relative_to(out))


def start_server(out: Path) -> LiteProcess:
    args = ["--CTSApp.max_concurrent_runs=2", "--CTSApp.kernel_env=False"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.append("--allow-root")  # containers and CI run as root
    server = launch(out, data_dir=out / "cts-data", args=args, log_path=out / "cts-lite.log")
    print(f"cts-lite is serving at {server.url} (log: {out / 'cts-lite.log'})")
    return server


def analyse(server: LiteProcess, path: str, out: Path) -> tuple[dict[str, Any], Path]:
    """Run the analyzer over REST, echo its log as it streams, return the result and the report."""
    with CTSClient(server.url, server.token) as cts:
        run = cts.start_run(TOOL, PARAMS, input_path=path, name="make demo")
        print(f"POST /v1/runs -> run {run.run_id} ({run.status})")
        final = run
        for event in cts.follow_logs(run.run_id):
            if event.kind == "log" and event.record is not None:
                print(f"  [{event.record.source}] {event.record.message}")
            elif event.kind == "end" and event.run is not None:
                final = event.run
        if final.status != "completed":
            raise SystemExit(f"the run ended {final.status}: {final.error}")
        result = cts.result(run.run_id)
        report = cts.download_artifact(run.run_id, "report.html", out / "report" / run.run_id)
        cts.download_artifact(run.run_id, "speed_timeline.png", report.parent)
    return result, report


def summary(result: dict[str, Any]) -> str:
    speed = result["speed"]
    lines = [f"speed: {speed['signal']}, {speed['min_mph']:.1f}-{speed['max_mph']:.1f} mph"]
    band = speed.get("band_mph", [PARAMS["speed_min"], PARAMS["speed_max"]])
    lines.append(f"target windows ({band[0]:g}-{band[1]:g} mph):")
    lines += [
        f"  {w['start_s']:7.2f} s -> {w['end_s']:7.2f} s  ({w['duration_s']:.2f} s)"
        for w in result["target_windows"]
    ]
    for kind in ("set_presses", "resume_presses"):
        presses = result["buttons"][kind]
        shown = ", ".join(
            f"{p['t_s']:.2f} s @ {p['speed_mph']:.1f} mph{' (in band)' if p['in_target'] else ''}"
            for p in presses
        )
        lines.append(f"{kind.replace('_', ' ')}: {shown or 'none'}")
    lines.append("engaged intervals:")
    lines += [
        f"  {i['start_s']:7.2f} s -> {i['end_s']:7.2f} s{' (engaged to the end)' if i.get('open') else ''}"
        for i in result["cruise"]["engaged_intervals"]
    ]
    lines.append("top candidate bits (address bus  LSB label  MSB label   score  signal):")
    lines += [
        f"  {c['address_hex']:>6} {c['bus']:>3}  {c['lsb_label']:<9}  {c['msb_label']:<10} "
        f"{c['score']:6.2f}  {c.get('signal') or '?'}"
        for c in result["candidates"][:5]
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m jupyter_cts.demo", description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--out", default="demo-output", help="folder for the drive, the server's data and the report"
    )
    args = ap.parse_args(argv)
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)

    path = generate(out)
    server = start_server(out)
    try:
        result, report = analyse(server, path, out)
    finally:
        code = server.stop()
        print(f"cts-lite stopped (exit code {code})")
    print()
    print(summary(result))
    print()
    print(f"report: {report}")
    print(f"        (open it in a browser; the speed plot is beside it; all run files: {out / 'cts-data'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
