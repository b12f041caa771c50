"""A tool's result as things a notebook shows: a short summary and pandas tables.

Results are JSON objects whose lists of records are the tables (``candidates``,
``buttons.set_presses``, ``cruise.engaged_intervals`` ...) and whose scalars are the summary. That
rule holds for every tool, so the run view needs no per-tool code; the worked notebook uses the
same functions on a result fetched with the client.
"""

from __future__ import annotations

import html
from typing import Any

import pandas as pd

MAX_DEPTH = 3
SUMMARY_ROWS = 40


def _is_records(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def result_tables(result: dict[str, Any], *, max_depth: int = MAX_DEPTH) -> dict[str, pd.DataFrame]:
    """Every list of records in the result as a DataFrame, named by its dotted path."""
    tables: dict[str, pd.DataFrame] = {}

    def walk(node: dict[str, Any], prefix: str, depth: int) -> None:
        for key, value in node.items():
            name = f"{prefix}{key}"
            if _is_records(value):
                tables[name] = pd.json_normalize(value, max_level=1)
            elif isinstance(value, dict) and depth < max_depth:
                walk(value, f"{name}.", depth + 1)

    walk(result, "", 1)
    return tables


def result_summary(result: dict[str, Any], *, max_depth: int = MAX_DEPTH) -> dict[str, Any]:
    """The scalar facts of a result (``speed.max_mph``, ``input.duration_s`` ...), flattened.

    Lists of scalars are kept when short; record lists are left to :func:`result_tables` and
    counted here, so the summary says how many rows each table has.
    """
    summary: dict[str, Any] = {}

    def walk(node: dict[str, Any], prefix: str, depth: int) -> None:
        for key, value in node.items():
            name = f"{prefix}{key}"
            if isinstance(value, dict):
                if depth < max_depth:
                    walk(value, f"{name}.", depth + 1)
            elif isinstance(value, list):
                if _is_records(value) or not value:
                    summary[f"{name} (rows)"] = len(value)
                elif len(value) <= 8 and all(not isinstance(v, dict | list) for v in value):
                    summary[name] = ", ".join(str(v) for v in value)
                else:
                    summary[f"{name} (items)"] = len(value)
            else:
                summary[name] = value

    walk(result, "", 1)
    return summary


def summary_html(summary: dict[str, Any], *, max_rows: int = SUMMARY_ROWS) -> str:
    """A compact two-column table; every value escaped (results may echo user input)."""
    rows = list(summary.items())
    shown = rows[:max_rows]
    body = "".join(
        f"<tr><td style='text-align:left;padding:1px 12px 1px 0'>{html.escape(str(k))}</td>"
        f"<td style='text-align:left;padding:1px 0'>{html.escape(_fmt(v))}</td></tr>"
        for k, v in shown
    )
    hidden = len(rows) - len(shown)
    more = f"<p><small>{hidden} more in the result</small></p>" if hidden else ""
    style = "line-height:1.25;border-collapse:collapse"
    return f"<table class='cts-summary' style='{style}'>{body}</table>{more}"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def table_html(frame: pd.DataFrame, *, max_rows: int = 30) -> str:
    """A DataFrame as escaped HTML, cut to ``max_rows`` rows (the full frame is on ``RunView.tables``)."""
    text = frame.to_html(max_rows=max_rows, index=False, escape=True, border=0, classes="cts-table")
    return f"<div style='max-height:24em;overflow:auto'>{text}</div>"
