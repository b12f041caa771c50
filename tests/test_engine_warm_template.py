"""The run template is warmed once: tool modules imported, then each tool's ``warm_up`` called, so
runs forked from it skip the first-use costs (a DBC to parse, matplotlib's first figure)."""

from __future__ import annotations

from pathlib import Path

import pytest

from jupyter_cts.can.dbc import _load_named, load_dbc
from jupyter_cts.engine.executors.zygote import _preload
from jupyter_cts.registry import ToolRegistry
from jupyter_cts.tools.cruise_control import CruiseControlAnalyzer
from jupyter_cts.tools.cruise_control.tool import DEFAULT_DBC

WARM_UP = "jupyter_cts.tools.cruise_control:CruiseControlAnalyzer.warm_up"


def test_warm_ups_come_after_every_import_and_only_for_tools_that_have_one() -> None:
    steps = ToolRegistry().preload_modules()
    assert steps[-1] == WARM_UP
    assert all(":" not in step for step in steps[:-1])  # the modules, imported first
    assert not any(step.startswith("jupyter_cts.tools.rlog_to_csv:") for step in steps)


def test_the_template_calls_warm_ups_and_reports_the_ones_that_fail() -> None:
    failed = _preload(["gc:collect", "json:loads", "no_such_module_here"])
    assert [f.split(":", 1)[0] for f in failed] == ["json", "no_such_module_here"]
    assert "json:loads: TypeError" in failed[0]  # called, and its error kept for the engine's log


def test_the_analyzer_warms_up_its_dbc_and_plot_in_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    _load_named.cache_clear()
    CruiseControlAnalyzer.warm_up()
    assert list(tmp_path.iterdir()) == []  # nothing written
    assert _load_named.cache_info().currsize == 1  # the default DBC, parsed for every run to come
    before = _load_named.cache_info().hits
    assert load_dbc(DEFAULT_DBC).name.startswith(DEFAULT_DBC)  # opendbc generates it
    assert _load_named.cache_info().hits == before + 1
