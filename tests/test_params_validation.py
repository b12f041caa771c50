"""What a run request must satisfy before it is queued, and how each problem is named.

Parameters: strings from a command line are coerced (``speed_min=50``, ``export_csv=false``,
``buses=0,1``), unknown keys are refused, cross-field rules hold, defaults are filled in.
Inputs: the path exists, is what the tool reads, and lies inside the allowed folders once symlinks
are resolved. Each problem carries a ``loc`` naming its field, like ``["params", "speed_min"]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

PLUGINS = str(Path(__file__).parent / "plugins")
if PLUGINS not in sys.path:
    sys.path.insert(0, PLUGINS)  # the test tools and their entry points (tests/plugins/README.md)
from cts_test_tools import testing  # noqa: E402

from jupyter_cts.engine.models import RunInput, RunRequest, RunStatus  # noqa: E402
from jupyter_cts.errors import InputNotAllowedError, UnknownToolError, ValidationError  # noqa: E402
from jupyter_cts.logs import LogWriter  # noqa: E402

make_engine = testing.make_engine  # fixture
run_request = testing.run_request


def write_segment(folder: Path) -> Path:
    """A real (tiny) rlog, written with the project's own writer."""
    path = folder / "rlog.zst"
    with LogWriter(path) as writer:
        writer.can(1_000_000_000, [(0x140, bytes(8), 0)])
    return path


def invalid(engine, request: RunRequest) -> dict[tuple, dict]:
    with pytest.raises(ValidationError) as caught:
        engine.start_run(request)
    return {tuple(e["loc"]): e for e in caught.value.errors}


# -- parameters --------------------------------------------------------------------------------------


def test_command_line_strings_are_coerced_and_defaults_filled_in(make_engine) -> None:
    engine = make_engine(start=False)

    run = engine.start_run(
        run_request(
            "test-echo", {"speed_min": "50", "speed_max": "60.5", "export_csv": "false", "buses": "0,1"}
        )
    )

    assert run.params == {
        "speed_min": 50.0,
        "speed_max": 60.5,
        "export_csv": False,
        "buses": [0, 1],
        "label": "",
    }
    assert engine.get_run_status(run.run_id).params == run.params  # what is stored is what was validated
    assert engine.start_run(run_request("test-echo", {"buses": "[0, 2]"})).params["buses"] == [0, 2]


def test_every_bad_parameter_is_named(make_engine) -> None:
    engine = make_engine(start=False)

    errors = invalid(
        engine, run_request("test-echo", {"speed_min": "fast", "export_csv": "maybe", "colour": "red"})
    )

    assert {loc: e["type"] for loc, e in errors.items()} == {
        ("params", "speed_min"): "float_parsing",
        ("params", "export_csv"): "bool_parsing",
        ("params", "colour"): "extra_forbidden",
    }
    assert (
        errors[("params", "speed_min")]["msg"]
        == "Input should be a valid number, unable to parse string as a number"
    )
    assert engine.list_runs().total == 0, "nothing is queued for an invalid request"


def test_a_cross_field_rule_names_the_field_that_breaks_it(make_engine) -> None:
    engine = make_engine(start=False)

    errors = invalid(engine, run_request("test-echo", {"speed_min": 60, "speed_max": "50"}))

    assert list(errors) == [("params", "speed_max")]
    assert "speed_max (50.0) must be at least speed_min (60.0)" in errors[("params", "speed_max")]["msg"]


def test_the_message_of_the_error_lists_each_field(make_engine) -> None:
    engine = make_engine(start=False)

    with pytest.raises(
        ValidationError, match=r"params\.steps: .*greater than or equal to 0.*timeout_s: .*at most"
    ):
        engine.start_run(run_request("test-steps", {"steps": -1}, timeout_s=10 * 3600))


def test_an_unknown_tool_is_refused(make_engine) -> None:
    engine = make_engine(start=False)

    with pytest.raises(UnknownToolError, match="no tool with id 'cruise-control-analyser'"):
        engine.start_run(run_request("cruise-control-analyser"))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    low=st.floats(min_value=-200, max_value=200, allow_nan=False),
    width=st.floats(min_value=0, max_value=100, allow_nan=False),
)
def test_any_ordered_pair_of_speeds_given_as_strings_is_accepted_as_numbers(make_engine, low, width) -> None:
    engine = make_engine(start=False, max_queued_runs=10_000)
    high = low + width

    run = engine.start_run(run_request("test-echo", {"speed_min": repr(low), "speed_max": repr(high)}))

    assert (run.params["speed_min"], run.params["speed_max"]) == (low, high)


# -- inputs ------------------------------------------------------------------------------------------


def test_a_route_folder_relative_to_the_root_is_accepted_and_resolved(make_engine, tmp_path: Path) -> None:
    engine = make_engine()
    route = tmp_path / "root" / "drives" / "route1"
    for n in (0, 1):
        (route / f"2024-05-01--10-00-00--{n}").mkdir(parents=True)
        write_segment(route / f"2024-05-01--10-00-00--{n}")

    run = engine.execute_tool(run_request("test-read-input", path="drives/route1"), timeout=30)

    assert run.status == RunStatus.COMPLETED, run.error
    assert engine.get_result(run.run_id)["inputs"] == [str(route)]
    assert run.input == RunInput(type="path", value="drives/route1")


def test_a_log_tool_needs_an_input_and_an_input_less_tool_takes_none(make_engine) -> None:
    engine = make_engine(start=False)

    assert invalid(engine, run_request("test-read-input"))[("input",)]["type"] == "missing"
    assert invalid(engine, run_request("test-echo", path="x"))[("input",)]["type"] == "input_not_accepted"


def test_a_missing_path_is_named_with_where_it_was_looked_for(make_engine, tmp_path: Path) -> None:
    engine = make_engine(start=False)
    write_segment(tmp_path / "root")

    single = invalid(engine, run_request("test-read-input", path="nope/rlog.zst"))
    listed = invalid(engine, run_request("test-read-input", path=["rlog.zst", "gone.zst"]))

    assert (
        single[("input", "value")]["msg"]
        == f"nope/rlog.zst: no such file or folder (looked for {tmp_path}/root/nope/rlog.zst)"
    )
    assert list(listed) == [("input", "value", 1)]


def test_a_folder_without_logs_is_not_a_log_input(make_engine, tmp_path: Path) -> None:
    engine = make_engine(start=False)
    (tmp_path / "root" / "notes").mkdir()
    (tmp_path / "root" / "notes" / "readme.txt").write_text("no logs here")

    errors = invalid(engine, run_request("test-read-input", path="notes"))

    assert "no openpilot log here" in errors[("input", "value")]["msg"]


@pytest.mark.parametrize("compression", ["zst", "bz2", None])
def test_a_log_file_is_recognised_by_its_content_not_its_name(
    make_engine, tmp_path: Path, compression
) -> None:
    engine = make_engine(start=False)
    with LogWriter(tmp_path / "root" / "drive.bin", compression=compression) as writer:
        writer.can(1_000_000_000, [(0x140, bytes(8), 0)])

    assert engine.start_run(run_request("test-read-input", path="drive.bin")).status == RunStatus.QUEUED


def test_a_file_that_is_not_a_log_is_refused_naming_it(make_engine, tmp_path: Path) -> None:
    engine = make_engine(start=False)
    (tmp_path / "root" / "rlog.zst").write_text("cruise set button is probably 0x321\n" * 20)
    (tmp_path / "root" / "qlog").write_bytes(b"")

    text = invalid(engine, run_request("test-read-input", path="rlog.zst"))[("input", "value")]
    empty = invalid(engine, run_request("test-read-input", path="qlog"))[("input", "value")]

    assert text["type"] == "not_a_log"
    assert text["msg"].startswith(f"{tmp_path}/root/rlog.zst: not an openpilot log")
    assert (
        empty["msg"]
        == f"{tmp_path}/root/qlog: the file is empty; pass an rlog or qlog file that holds events"
    )


def test_a_csv_tool_takes_a_file(make_engine, tmp_path: Path) -> None:
    engine = make_engine()
    (tmp_path / "root" / "can.csv").write_text("t_s,bus\n0.0,0\n")

    run = engine.execute_tool(run_request("test-read-csv", path="can.csv"), timeout=30)

    assert run.status == RunStatus.COMPLETED
    assert engine.get_result(run.run_id)["bytes"] == len("t_s,bus\n0.0,0\n")


def test_paths_outside_the_allowed_folders_are_refused_even_through_symlinks(
    make_engine, tmp_path: Path
) -> None:
    engine = make_engine(start=False)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    write_segment(outside)
    (tmp_path / "root" / "shortcut").symlink_to(outside)
    route = tmp_path / "root" / "route"
    route.mkdir()
    (route / "2024-05-01--10-00-00--0").symlink_to(outside)

    for path in [
        str(outside / "rlog.zst"),
        "../elsewhere/rlog.zst",
        "shortcut/rlog.zst",
        "shortcut",
        "route",
    ]:
        with pytest.raises(
            InputNotAllowedError, match=f"outside the folders runs may read \\({tmp_path}/root\\)"
        ):
            engine.start_run(run_request("test-read-input", path=path))
    assert engine.list_runs().total == 0


def test_allowed_input_dirs_widen_what_runs_may_read(make_engine, tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    write_segment(shared)
    engine = make_engine(start=False, allowed_input_dirs=[shared])

    run = engine.start_run(run_request("test-read-input", path=str(shared / "rlog.zst")))

    assert run.status == RunStatus.QUEUED


def test_an_unknown_upload_and_a_timeout_above_the_maximum_are_named(make_engine) -> None:
    engine = make_engine(start=False, max_timeout_s=60)

    errors = invalid(
        engine,
        RunRequest(
            tool_id="test-read-input", input=RunInput(type="upload", value="0000000000abc"), timeout_s=61
        ),
    )

    assert set(errors) == {("input", "value"), ("timeout_s",)}
    assert "no finished upload with id '0000000000abc'" in errors[("input", "value")]["msg"]
    assert errors[("timeout_s",)]["msg"] == "Input should be at most 60 s (the server's max_timeout_s)"
