"""report.html: one self-contained page a person can read, share and archive.

Summary first (what car, how long, what was found, what went wrong), then the speed plot inlined as
base64, then the tables. No scripts, no external files; every value from the log or the params goes
through ``html.escape`` (a DBC name or a file path can hold anything).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from html import escape
from pathlib import Path
from typing import Any

CANDIDATE_ROWS = 25
TOP_ROWS = 10

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:1.5em;margin-bottom:0}h2{font-size:1.15em;margin-top:1.8em;border-bottom:1px solid #ddd}
.sub{color:#666;margin-top:4px}.cards{display:flex;flex-wrap:wrap;gap:12px;margin:16px 0}
.card{border:1px solid #ddd;border-radius:6px;padding:10px 14px;min-width:150px}
.card b{display:block;font-size:1.6em}.card span{color:#666;font-size:.85em}
.warn{background:#fff6e0;border:1px solid #f0c36d;border-radius:6px;padding:8px 14px}
.ok{background:#eef8ee;border:1px solid #9c9;border-radius:6px;padding:8px 14px}
table{border-collapse:collapse;font-size:.85em;margin:8px 0}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:left}
th{background:#f4f4f4}td.n{text-align:right;font-variant-numeric:tabular-nums}img{max-width:100%}
code{background:#f4f4f4;padding:0 3px}
"""


def _e(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return escape(f"{value:.3f}".rstrip("0").rstrip(".") if abs(value) < 1e6 else f"{value:.6g}")
    if isinstance(value, bool):
        return "yes" if value else "no"
    return escape(str(value))


def _table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]], empty: str) -> str:
    if not rows:
        return f"<p class=sub>{escape(empty)}</p>"
    head = "".join(f"<th>{escape(title)}</th>" for _, title in columns)
    body = []
    for r in rows:
        cells = []
        for key, _ in columns:
            v = r.get(key)
            cls = ' class="n"' if isinstance(v, int | float) and not isinstance(v, bool) else ""
            cells.append(f"<td{cls}>{_e(v)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _card(value: Any, label: str) -> str:
    return f"<div class=card><b>{_e(value)}</b><span>{escape(label)}</span></div>"


def _top_bits(w: dict[str, Any]) -> str:
    return ", ".join(
        f"{b['address_hex']}@{b['bus']} {b['lsb_label']} ({b['flips']})" for b in w.get("top_bits", [])
    )


def render_report(
    result: dict[str, Any], png: Path | None, path: Path, *, candidates: list[dict[str, Any]] | None = None
) -> Path:
    """Write report.html for a cruise-control-analyzer result (``candidates``: the full list, if at hand)."""
    inp, speed, buttons, cruise = result["input"], result["speed"], result["buttons"], result["cruise"]
    meta = result.get("metadata", {})
    sets, resumes = buttons["set_presses"], buttons["resume_presses"]
    parts: list[str] = []
    add: Callable[[str], None] = parts.append

    add(f"<h1>Cruise control analysis: {_e(inp.get('car_fingerprint') or 'unknown car')}</h1>")
    add(
        f"<p class=sub>{_e(len(inp['segments']))} segment(s), {_e(inp['duration_s'])} s, "
        f"{_e(inp['events'])} events; "
        f"DBC <code>{_e(inp['dbc'])}</code> ({_e(inp['dbc_reason'])}); "
        f"run <code>{_e(meta.get('run_id'))}</code>, "
        f"{_e(meta.get('tool'))} {_e(meta.get('tool_version'))}</p>"
    )
    in_target = sum(1 for p in sets if p["in_target"])
    add("<div class=cards>")
    add(_card(f"{len(sets)} ({in_target} in band)", "Set presses"))
    add(_card(len(resumes), "Resume presses"))
    add(_card(len(cruise["engaged_intervals"]), "engaged intervals"))
    add(
        _card(
            len(result["target_windows"]),
            f"target windows {speed['band_mph'][0]:g}-{speed['band_mph'][1]:g} mph",
        )
    )
    add(_card(len(result["marker_windows"]), "marker windows"))
    if speed["min_mph"] is not None:
        add(_card(f"{speed['min_mph']:.1f}-{speed['max_mph']:.1f}", "speed range (mph)"))
    every = candidates if candidates is not None else result["candidates"]
    bests = (
        ("rank_marker", "score_marker", "marker window"),
        ("rank_engaged", "score_engaged", "cruise engaged"),
    )
    for rank, score, what in bests:
        best = next((c for c in every if c[rank] == 1 and c[score] > 0), None)
        if best is not None:
            label = f"{best['address_hex']} {best['lsb_label']}"
            add(
                _card(
                    label,
                    f"best {what} bit ({best['msb_label']}, bus {best['bus']}, score {best[score]:.2f})",
                )
            )
    add("</div>")
    if result["warnings"]:
        items = "".join(f"<li>{_e(w)}</li>" for w in result["warnings"])
        add(f"<div class=warn><b>Warnings ({len(result['warnings'])})</b><ul>{items}</ul></div>")
    else:
        add("<div class=ok>No warnings: every signal the analysis needs was found.</div>")

    if png is not None and png.exists():
        data = base64.b64encode(png.read_bytes()).decode("ascii")
        add("<h2>Speed timeline</h2>")
        add(
            '<img alt="speed over time with the target band, presses and engaged spans" '
            f'src="data:image/png;base64,{data}">'
        )

    press_cols = [
        ("t_s", "t (s)"),
        ("speed_mph", "speed (mph)"),
        ("in_target", "in band"),
        ("log_mono_time", "logMonoTime"),
    ]
    add("<h2>Set presses</h2>" + _table(sets, press_cols, "No Set presses."))
    add("<h2>Resume presses</h2>" + _table(resumes, press_cols, "No Resume presses."))
    add(f"<h2>Engaged intervals</h2><p class=sub>source: {_e(cruise['engaged_source'])}</p>")
    add(
        _table(
            cruise["engaged_intervals"],
            [
                ("start_s", "start (s)"),
                ("end_s", "end (s)"),
                ("duration_s", "duration (s)"),
                ("open", "still engaged at end"),
                ("speed_mph_at_start", "speed at start (mph)"),
                ("set_speed_at_start", "set speed"),
            ],
            "Cruise was never engaged.",
        )
    )
    add(f"<h2>Set speed changes</h2><p class=sub>unit: {_e(cruise['set_speed_unit'])}</p>")
    add(
        _table(
            cruise["set_speed_changes"],
            [
                ("t_s", "t (s)"),
                ("from", "from"),
                ("to", "to"),
                ("unit", "unit"),
                ("to_mph", "to (mph)"),
                ("engaged", "engaged"),
            ],
            "The set speed never changed.",
        )
    )
    add("<h2>Target windows</h2>")
    add(
        _table(
            result["target_windows"],
            [("start_s", "start (s)"), ("end_s", "end (s)"), ("duration_s", "duration (s)")],
            "The speed never entered the band.",
        )
    )
    add("<h2>Marker windows</h2>")
    mw = [{**w, "top": _top_bits(w)} for w in result["marker_windows"]]
    add(
        _table(
            mw,
            [
                ("index", "#"),
                ("start_s", "left blinker (s)"),
                ("end_s", "right blinker (s)"),
                ("window_start_s", "from (s)"),
                ("window_end_s", "to (s)"),
                ("partial", "partial"),
                ("top", "bits that changed most (flips)"),
            ],
            "No marker windows.",
        )
    )
    bit_cols = [
        ("address_hex", "address"),
        ("bus", "bus"),
        ("g", "g"),
        ("lsb_label", "LSB"),
        ("msb_label", "MSB"),
        ("signal", "DBC signal"),
    ]
    by_marker = sorted((c for c in every if c["score_marker"] > 0), key=lambda c: c["rank_marker"])[:TOP_ROWS]
    add("<h2>Bits that change in the marker windows</h2>")
    add(
        "<p class=sub>flipping in every window and rarely elsewhere scores 1; "
        "the blinker lamps themselves are left out</p>"
    )
    add(
        _table(
            by_marker,
            [
                ("rank_marker", "#"),
                *bit_cols,
                ("score_marker", "score"),
                ("windows_hit", "windows hit"),
                ("flips_in_windows", "flips inside"),
                ("toggles", "flips in all"),
            ],
            "No marker windows, or no bit changed in them.",
        )
    )
    by_engaged = sorted((c for c in every if c["score_engaged"] > 0), key=lambda c: c["rank_engaged"])[
        :TOP_ROWS
    ]
    add("<h2>Bits that follow cruise engagement</h2>")
    add(
        "<p class=sub>flipping at every engage/disengage edge (within engaged_margin) "
        "and rarely elsewhere scores 1</p>"
    )
    add(
        _table(
            by_engaged,
            [
                ("rank_engaged", "#"),
                *bit_cols,
                ("score_engaged", "score"),
                ("engaged_edges_hit", "edges hit"),
                ("edge_lag_s", "mean lag (s)"),
                ("toggles", "flips in all"),
            ],
            "Cruise never engaged, or no bit changed at its edges.",
        )
    )
    add(
        f"<h2>All candidate bits</h2><p class=sub>best {CANDIDATE_ROWS} of "
        f"{_e(result['candidates_total'])} by score; "
        "every one in candidates.csv</p>"
    )
    add(
        _table(
            every[:CANDIDATE_ROWS],
            [
                ("rank", "#"),
                *bit_cols,
                ("score", "score"),
                ("score_marker", "marker"),
                ("score_engaged", "engaged"),
                ("toggles", "flips"),
                ("flips_in_windows", "in windows"),
                ("engaged_edges_hit", "engaged edges hit"),
            ],
            "No bit changed.",
        )
    )
    add("<h2>Input</h2>")
    add(
        _table(
            inp["segments"],
            [
                ("number", "segment"),
                ("path", "file"),
                ("start_s", "start (s)"),
                ("duration_s", "duration (s)"),
                ("events", "events"),
                ("can_frames", "CAN frames"),
                ("damaged", "damaged"),
                ("sha256", "sha256"),
            ],
            "No segments.",
        )
    )
    src_rows = [{"role": k, "source": v} for k, v in result.get("sources", {}).items()]
    add(
        "<h2>Signals used</h2>"
        + _table(src_rows, [("role", "role"), ("source", "message.signal (address, bus)")], "None.")
    )
    param_rows = [{"name": k, "value": v} for k, v in meta.get("params", {}).items()]
    add("<h2>Parameters</h2>" + _table(param_rows, [("name", "name"), ("value", "value")], "Defaults."))
    add(f"<p class=sub>input sha256 <code>{_e(meta.get('input_sha256'))}</code></p>")

    title = f"Cruise control analysis - {inp.get('car_fingerprint') or 'unknown car'}"
    html = (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{_CSS}</style></head><body>{''.join(parts)}</body></html>\n"
    )
    path.write_text(html, encoding="utf-8")
    return path
