"""When cruise-control-analyzer cannot do its job, it says what is wrong and what to do, never a traceback.

Foreign and too-thin logs end in a ``ToolError`` naming what is missing and the car the log claims
to be; damage either fails with a ``LogFormatError`` naming the file (salvage off) or keeps what came
before it and says so (salvage on, the default); odd situations (a bus switch) become warnings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pydantic
import pytest

from jupyter_cts.errors import InputError, LogFormatError, ToolError
from jupyter_cts.synth import generate, preset, write_route, write_segment
from jupyter_cts.synth.writer import write_file
from jupyter_cts.tools.base import DirectoryContext
from jupyter_cts.tools.cruise_control import CruiseControlAnalyzer, CruiseControlParams


def analyse(path: Path | list[Path], out: Path, **params: Any) -> dict[str, Any]:
    paths = path if isinstance(path, list) else [path]
    params = {"export_csv": False, "export_json": False, **params}
    return CruiseControlAnalyzer().run(paths, CruiseControlParams(**params), DirectoryContext(out))


def test_a_toyota_log_is_refused_naming_the_missing_messages_and_the_car(tmp_path: Path) -> None:
    log = tmp_path / "rlog.zst"
    write_segment(log, preset("toyota"))
    with pytest.raises(ToolError) as err:
        analyse(log, tmp_path / "out")
    message = str(err.value)
    assert "Wheel_Speeds (0x13a)" in message and "TOYOTA_COROLLA" in message
    assert "Subaru" in message and str(log) in message
    assert "Traceback" not in message


def test_a_qlog_with_almost_no_can_is_refused_and_the_rlog_suggested(tmp_path: Path) -> None:
    rlog, qlog = tmp_path / "rlog.zst", tmp_path / "qlog.zst"
    write_segment(rlog, preset("demo"), qlog_path=qlog)
    with pytest.raises(ToolError) as err:
        analyse(qlog, tmp_path / "out")
    message = str(err.value)
    assert "Cruise_Buttons (0x146)" in message and "SUBARU_IMPREZA" in message
    assert "qlog" in message and "rlog" in message


def test_a_truncated_last_segment_keeps_the_analysis_of_the_others(tmp_path: Path) -> None:
    route = write_route(tmp_path / "route", preset("demo", 120.0), segments=2)
    last = route.segments[1].path
    last.write_bytes(last.read_bytes()[: last.stat().st_size // 2])

    result = analyse(tmp_path / "route", tmp_path / "out")
    first, second = result["input"]["segments"]
    assert not first["damaged"] and second["damaged"]
    assert any(str(last) in w and "damage" in w for w in result["warnings"])
    # the first minute is analysed in full: both of its Set presses are there
    assert len([p for p in result["buttons"]["set_presses"] if p["t_s"] < 60]) == 2
    # and the salvaged part of the second minute still counts
    assert 60 < second["end_s"] < 120


def test_with_salvage_off_damage_fails_the_run_naming_the_file(tmp_path: Path) -> None:
    log = tmp_path / "rlog.zst"
    write_segment(log, preset("demo"))
    log.write_bytes(log.read_bytes()[:-5000])
    with pytest.raises(LogFormatError) as err:
        analyse(log, tmp_path / "out", salvage=False)
    assert err.value.path == str(log) and err.value.offset > 0


def test_a_file_that_is_not_a_log_at_all_is_refused(tmp_path: Path) -> None:
    junk = tmp_path / "rlog"
    junk.write_bytes(bytes(range(256)) * 64)
    with pytest.raises(ToolError, match="no readable openpilot events"):
        analyse(junk, tmp_path / "out")
    with pytest.raises(LogFormatError):
        analyse(junk, tmp_path / "out2", salvage=False)


def test_a_folder_without_logs_is_an_input_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError):
        analyse(tmp_path / "empty", tmp_path / "out")


def test_a_message_that_moves_to_another_bus_is_reported_and_never_merged(tmp_path: Path) -> None:
    gen = generate(preset("demo"))
    moved = (gen.frames.address == 0x13A) & (gen.frames.tick >= 4000) & (gen.frames.bus == 0)
    gen.frames.bus[moved] = 1
    log = tmp_path / "rlog.zst"
    write_file(log, gen, 0, gen.drive.n)

    result = analyse(log, tmp_path / "out")
    assert any("Wheel_Speeds (0x13a) moved from one bus to another" in w for w in result["warnings"])
    assert result["speed"]["bus"] == 0
    kept = int(((gen.frames.address == 0x13A) & (gen.frames.bus == 0)).sum())
    assert result["speed"]["samples"] == kept


def test_params_that_contradict_each_other_are_refused_by_name() -> None:
    with pytest.raises(pydantic.ValidationError) as err:
        CruiseControlParams(speed_min=60, speed_max=50)
    assert "speed_min (60.0 mph) is above speed_max (50.0 mph)" in str(err.value)
    with pytest.raises(pydantic.ValidationError) as err:
        CruiseControlParams(engaged_bit="0x241:B9b9")
    assert err.value.errors()[0]["loc"] == ("engaged_bit",)
    with pytest.raises(pydantic.ValidationError, match="give the bus once"):
        CruiseControlParams(engaged_bit="0x241@1:b55", engaged_bus=0)
    with pytest.raises(pydantic.ValidationError):
        CruiseControlParams(speed_max=500)
    with pytest.raises(pydantic.ValidationError):
        CruiseControlParams(no_such_param=1)


def test_strings_from_a_command_line_are_coerced() -> None:
    params = CruiseControlParams.model_validate(
        {"speed_min": "50", "export_csv": "false", "engaged_bus": "2"}
    )
    assert params.speed_min == 50.0 and params.export_csv is False and params.engaged_bus == 2


def test_an_unknown_dbc_name_is_refused_with_close_matches(tmp_path: Path) -> None:
    log = tmp_path / "rlog.zst"
    write_segment(log, preset("demo"))
    with pytest.raises(ToolError) as err:
        analyse(log, tmp_path / "out", dbc="subaru_global_2071")
    assert "dbc parameter" in str(err.value) and "subaru_global_2017" in str(err.value)


def test_an_engaged_bit_that_never_occurs_is_a_warning_not_a_guess(tmp_path: Path) -> None:
    log = tmp_path / "rlog.zst"
    write_segment(log, preset("demo"))
    result = analyse(log, tmp_path / "out", engaged_bit="0x7ff:b3")
    assert result["cruise"]["engaged_intervals"] == []
    assert any("0x7ff" in w and "no" in w for w in result["warnings"])
