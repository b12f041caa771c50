"""The notebook form: every tool gets a form generated from its JSON Schema, and the form talks to
a real server.

The first half builds forms from hand-made pydantic models (one rule of the generator each), the
way a tool author would declare parameters; the second half runs the registered tools through a
real jupyter-cts server: set values, press Run, watch the run complete, and see the server's
per-field errors land next to the fields.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import ipywidgets as w
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lite_harness import TEST_PLUGINS, running_lite
from pydantic import BaseModel, Field

from jupyter_cts.engine.models import ToolInfo
from jupyter_cts.server.lite import LiteProcess
from jupyter_cts.widgets import FormError, ToolForm
from jupyter_cts.widgets.form import field_for_loc
from jupyter_cts.widgets.schema_form import FieldKind, check_value, form_specs


class Marker(StrEnum):
    BLINKERS = "blinkers"
    NONE = "none"


class HandMade(BaseModel):
    """Parameters shaped like a real tool's, one of each kind the form generator knows."""

    speed_min: float = Field(
        55.0,
        ge=0,
        le=150,
        title="Minimum speed",
        description="Lower edge of the band.",
        json_schema_extra={"unit": "mph"},
    )
    marker_type: Marker = Marker.BLINKERS
    mode: Literal["fast", "exact"] = "exact"
    export_csv: bool = True
    marker_timeout: float = Field(
        15.0, gt=0, description="How long a window may stay open.", json_schema_extra={"unit": "s"}
    )
    repeats: int = Field(3, ge=1)
    engaged_bit: str | None = Field(None, pattern=r"^0x[0-9A-Fa-f]+:", description="e.g. 0x241:b55")
    engaged_bus: int | None = Field(None, ge=0, le=255)
    margin: float | None = Field(None, ge=0, lt=10)
    dbc: Marker | None = None
    addresses: list[int] | None = None
    label: str = "drive"
    owner: str


def offline_form(model: type[BaseModel] = HandMade, input_kind: str = "log", **kwargs: Any) -> ToolForm:
    """A form from a schema alone, as a tool author previews it before any server runs it."""
    info = ToolInfo(
        id="hand-made",
        name="Hand made",
        description="A <b>test</b> tool & friends.",
        category="test",
        version="0.0.1",
        input=input_kind,  # type: ignore[arg-type]
        params_schema=model.model_json_schema(),
    )
    return ToolForm(info, **kwargs)


# --- the generator's rules, on a hand-made schema --------------------------------------------------


def test_each_schema_rule_gets_its_control():
    form = offline_form()
    controls = {name: field.control for name, field in form.fields.items()}
    assert isinstance(controls["marker_type"], w.Dropdown)  # enum through $defs/$ref
    assert list(controls["marker_type"].options) == [("blinkers", "blinkers"), ("none", "none")]
    assert isinstance(controls["mode"], w.Dropdown)  # Literal -> inline enum
    assert isinstance(controls["export_csv"], w.Checkbox)
    assert isinstance(controls["speed_min"], w.FloatSlider)  # both bounds
    assert (controls["speed_min"].min, controls["speed_min"].max) == (0, 150)
    assert isinstance(controls["marker_timeout"], w.FloatText)  # one bound only: a number box
    assert isinstance(controls["repeats"], w.IntText)
    assert isinstance(controls["engaged_bus"], w.IntSlider)  # optional, both bounds
    assert isinstance(controls["engaged_bit"], w.Text)
    assert isinstance(controls["label"], w.Text)
    assert form.input is not None, "a tool that reads a log gets an input picker"


def test_defaults_fill_the_form_and_empty_optionals_are_left_out():
    form = offline_form(values={"owner": "me"})
    assert form.values() == {
        "speed_min": 55.0,
        "marker_type": "blinkers",
        "mode": "exact",
        "export_csv": True,
        "marker_timeout": 15.0,
        "repeats": 3,
        "label": "drive",
        "owner": "me",
    }


def test_titles_units_and_descriptions_are_shown():
    form = offline_form()
    speed = form.fields["speed_min"]
    assert "Minimum speed (mph)" in speed.label.value
    assert "Lower edge of the band." in speed.help.value
    assert speed.control.tooltip == "Lower edge of the band."
    assert "Marker Timeout (s)" in form.fields["marker_timeout"].label.value
    assert "Marker Type" in form.fields["marker_type"].label.value, "a $ref field is titled by its name"
    header = form.children[0].value
    assert "A &lt;b&gt;test&lt;/b&gt; tool &amp; friends." in header, "text from the schema is escaped"


def test_optional_fields_can_be_set_and_emptied_again():
    form = offline_form(values={"owner": "me"})
    form.set(engaged_bit="0x241:b55", engaged_bus=1, margin=0.5, dbc="none", addresses="0x241, 0x321, 2")
    values = form.values()
    assert values["engaged_bit"] == "0x241:b55"
    assert values["engaged_bus"] == 1
    assert values["margin"] == 0.5
    assert values["dbc"] == "none"
    assert values["addresses"] == [0x241, 0x321, 2], "integers accept hex, as CAN addresses are written"
    form.set(engaged_bit=None, engaged_bus=None, margin=None, dbc=None, addresses=None)
    assert not {"engaged_bit", "engaged_bus", "margin", "dbc", "addresses"} & set(form.values())


def test_optional_slider_is_off_until_ticked():
    form = offline_form()
    bus = form.fields["engaged_bus"]
    assert bus.enabled is not None and not bus.enabled.value and bus.control.disabled
    bus.enabled.value = True
    assert not bus.control.disabled
    assert bus.read() == 0


@pytest.mark.parametrize(
    ("field", "bad", "message", "good"),
    [
        ("marker_timeout", 0, "greater than 0", 2.5),
        ("repeats", 0, "greater than or equal to 1", 1),
        ("engaged_bit", "241:b55", "pattern", "0x241:b55"),
        ("addresses", "0x241, twelve", "'twelve' is not a whole number", "0x241, 12"),
        ("owner", "", "required", "me"),
    ],
)
def test_client_side_checks_show_next_to_the_field(field, bad, message, good):
    form = offline_form(values={"owner": "me"})
    form.set(**{field: bad})
    with pytest.raises(FormError) as caught:
        form.values()
    assert set(caught.value.errors) == {field}
    assert message in form.fields[field].error_message
    assert html.escape(message) in form.fields[field].error.value, "the message is visible next to the field"
    form.set(**{field: good})
    form.values()
    assert form.fields[field].error_message == "", "fixing the value clears the message"


def test_run_with_bad_values_says_so_without_a_server():
    form = offline_form(values={"owner": "me", "input": "seg/rlog.zst"})
    form.set(marker_timeout=-1)
    assert form.run() is None, "nothing is sent while a field is invalid"
    assert "marker_timeout" in form.errors
    assert "marked in red" in form.message.value
    assert not form.run_button.disabled


def test_the_input_must_be_chosen():
    form = offline_form(values={"owner": "me"})
    assert form.run() is None
    assert "Choose the log" in form.errors["input"]


def test_a_tool_without_input_has_no_picker():
    assert offline_form(input_kind="none").input is None


def test_setting_an_unknown_field_names_the_known_ones():
    with pytest.raises(KeyError, match="speed_min"):
        offline_form(values={"speed_mni": 3})


def test_schema_rules_cover_pydantic_shapes():
    """The pure mapping, on the shapes pydantic emits for optional enums and nullable numbers."""
    specs = {s.name: s for s in form_specs(HandMade.model_json_schema())}
    assert specs["dbc"].kind is FieldKind.ENUM and specs["dbc"].nullable
    assert specs["margin"].kind is FieldKind.SLIDER and specs["margin"].exclusive_maximum == 10
    assert specs["owner"].required and not specs["label"].required
    assert specs["addresses"].kind is FieldKind.ARRAY and specs["addresses"].item_type == "integer"


@pytest.mark.parametrize(
    ("loc", "field"),
    [
        (["params", "speed_min"], "speed_min"),
        (["body", "params", "marker_type"], "marker_type"),
        (["speed_min"], "speed_min"),
        (["input", "value"], "input"),
        (["params"], None),
        ([], None),
    ],
)
def test_server_error_locations_map_to_fields(loc, field):
    assert field_for_loc(loc, ["speed_min", "marker_type"]) == field


# --- the same forms against a real server ----------------------------------------------------------

BUILTIN_TOOLS = ["cruise-control-analyzer", "rlog-to-csv", "can-bitwatch"]
RUN_TIMEOUT_S = 180


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiteProcess]:
    """A real ``cts-lite`` (built-in tools plus the test plugins) with a demo drive in its root folder."""
    with running_lite(tmp_path_factory.mktemp("widgets-form"), plugins=TEST_PLUGINS, drives=["demo"]) as lite:
        yield lite


@pytest.fixture(scope="module")
def client(server: Any) -> Iterator[Any]:
    from jupyter_cts.client import CTSClient

    with CTSClient(server.url, server.token) as cts:
        yield cts


def test_every_registered_tool_gets_a_form(client):
    tools = client.capabilities().tools
    assert set(BUILTIN_TOOLS) <= {t.id for t in tools}
    for tool in tools:
        form = ToolForm(tool.id, client)
        assert set(form.fields) == set(tool.params_schema.get("properties", {})), tool.id
        assert (form.input is None) == (tool.input == "none"), tool.id
        form.values()  # the defaults pass the client-side checks


@pytest.mark.parametrize("tool_id", BUILTIN_TOOLS)
def test_each_builtin_tool_runs_from_its_form_with_the_defaults(client, tool_id):
    form = ToolForm(tool_id, client, input_path="demo/rlog.zst")
    form.run_button.click()
    assert form.view is not None, form.message.value
    run = form.view.wait(RUN_TIMEOUT_S)
    assert run is not None and run.status == "completed", run and run.error
    assert form.view.result is not None


def test_the_run_uses_what_was_set_and_run_is_disabled_meanwhile(client):
    form = ToolForm("cruise-control-analyzer", client, input_path="demo/rlog.zst")
    form.set(speed_min=50, speed_max=60, marker_type="none", engaged_bit="0x241:MSB B6b0")
    form.run_name.value = "form story"
    form.run_button.click()
    view = form.view
    assert view is not None, form.message.value
    if not view.final:
        assert form.run_button.disabled and not form.cancel_button.disabled
        assert form.run() is None and "still active" in form.message.value
    view.wait(RUN_TIMEOUT_S)
    assert view.run is not None and view.run.status == "completed", view.run and view.run.error
    assert not form.run_button.disabled and form.cancel_button.disabled
    sent = client.get_run(view.run_id)
    assert sent.name == "form story"
    assert (sent.params["speed_min"], sent.params["speed_max"]) == (50, 60)
    assert sent.params["marker_type"] == "none"
    assert sent.params["engaged_bit"] == "0x241:MSB B6b0"


def test_server_errors_show_next_to_their_fields(client):
    form = ToolForm("cruise-control-analyzer", client, input_path="no/such/rlog.zst")
    form.set(engaged_bit="garbage")
    assert form.run() is None
    assert "garbage" in form.errors["engaged_bit"], "the server's message, next to the field it is about"
    assert not form.errors["engaged_bit"].startswith("Value error"), "pydantic's prefix is dropped"
    assert "no/such/rlog.zst" in form.errors["input"]
    assert "marked in red" in form.message.value
    assert not form.run_button.disabled, "a refused run leaves the form ready for another try"


def test_a_rule_across_fields_is_shown_under_the_buttons(client):
    form = ToolForm("cruise-control-analyzer", client, input_path="demo/rlog.zst")
    form.set(speed_min=60, speed_max=56)
    assert form.run() is None
    assert form.errors == {}
    message = html.unescape(form.message.value)
    assert "speed_min" in message and "speed_max" in message


def test_a_field_validator_error_lands_on_its_field(client):
    form = ToolForm("test-echo", client)
    form.set(speed_min=10, speed_max=5)
    assert form.run() is None
    assert "must be at least speed_min" in form.errors["speed_max"]


def test_an_input_outside_the_root_folder_is_refused_at_the_input(client):
    form = ToolForm("cruise-control-analyzer", client, input_path="/etc/passwd")
    assert form.run() is None
    assert "/etc/passwd" in form.errors["input"]


def test_the_file_picker_browses_the_servers_root_folder(client):
    form = ToolForm("cruise-control-analyzer", client)
    picker = form.input
    assert picker is not None
    picker.browse_button.click()
    labels = [label for label, _ in picker.listing.options]
    assert any(label.endswith("demo/") for label in labels), labels
    picker.listing.value = ("dir", "demo")  # choosing a folder opens it and selects it
    assert picker.path.value == "demo" and picker.folder == "demo"
    picker.listing.value = next(v for label, v in picker.listing.options if label.endswith("rlog.zst"))
    assert picker.path.value == "demo/rlog.zst"


def test_a_log_can_be_uploaded_instead(client, server):
    form = ToolForm("cruise-control-analyzer", client)
    assert form.input is not None
    form.input.mode.value = "upload"
    data = (Path(server.root_dir) / "demo" / "rlog.zst").read_bytes()
    # What the browser's file dialog hands the kernel.
    form.input.upload.value = (
        {
            "name": "rlog.zst",
            "type": "application/zstd",
            "size": len(data),
            "content": memoryview(data),
            "last_modified": datetime.now(UTC),
        },
    )
    form.run_button.click()
    assert form.view is not None, form.message.value
    run = form.view.wait(RUN_TIMEOUT_S)
    assert run is not None and run.status == "completed", run and run.error
    assert run.input is not None and run.input.type == "upload"


def test_cancel_stops_the_forms_run_and_frees_the_run_button(client):
    form = ToolForm("test-misbehave", client, values={"mode": "sleep", "seconds": 60})
    form.run_button.click()
    assert form.view is not None and form.run_button.disabled
    form.cancel_button.click()
    run = form.view.wait(RUN_TIMEOUT_S)
    assert run is not None and run.status == "canceled"
    assert not form.run_button.disabled and form.cancel_button.disabled


def test_the_tool_browser_opens_forms_and_recent_runs(client):
    from jupyter_cts.widgets import RunView, ToolBrowser

    finished = client.start_run("test-steps", {"steps": 1, "delay_s": 0}, name="for the browser")
    client.wait(finished.run_id, timeout=RUN_TIMEOUT_S)
    browser = ToolBrowser(client)
    for tool in client.capabilities().tools:
        assert html.escape(tool.description) in browser.descriptions.value
    browser.tool_list.value = "cruise-control-analyzer"  # what clicking the tool's name does
    (form,) = browser.form_box.children
    assert isinstance(form, ToolForm) and form.tool.id == "cruise-control-analyzer"
    assert finished.run_id in browser.runs_table.value and "completed" in browser.runs_table.value
    browser.run_list.value = finished.run_id
    (view,) = browser.view_box.children
    assert isinstance(view, RunView) and view.final and view.run is not None
    assert view.run.name == "for the browser"
    browser.close()


# --- the client-side checks agree with pydantic, which the server uses ---------------------------


class Bounded(BaseModel):
    ratio: float = Field(0.5, ge=0, lt=1)
    count: int = Field(3, gt=0, le=12)
    speed: float = Field(55.0, ge=-10.5, le=200)
    code: str = Field("0x1", pattern=r"^0x[0-9a-f]+$", max_length=6)


BOUNDED = {s.name: s for s in form_specs(Bounded.model_json_schema())}


def pydantic_accepts(name: str, value: Any) -> bool:
    from pydantic import ValidationError

    try:
        Bounded.model_validate({name: value})
    except ValidationError:
        return False
    return True


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from(["ratio", "count", "speed"]).flatmap(
        lambda name: st.tuples(
            st.just(name),
            st.integers(-20, 20) if name == "count" else st.floats(-20, 250, allow_nan=False),
        )
    )
)
def test_number_checks_agree_with_the_server(case):
    name, value = case
    assert (check_value(BOUNDED[name], value) is None) == pydantic_accepts(name, value)


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet="0x123abcfgX ", max_size=9))
def test_string_checks_agree_with_the_server(text):
    assert (check_value(BOUNDED["code"], text) is None) == pydantic_accepts("code", text)


def test_the_widgets_stand_on_the_client_alone():
    """A notebook can drive a server elsewhere: importing the widgets loads no log reader, DBC or engine."""
    import subprocess
    import sys

    code = "import sys, jupyter_cts.widgets, jupyter_cts.client\nprint(' '.join(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    lower = (
        "jupyter_cts.logs",
        "jupyter_cts.can",
        "jupyter_cts.tools",
        "jupyter_cts.engine.engine",
        "jupyter_cts.server",
        "capnp",
        "opendbc",
    )
    below = [m for m in done.stdout.split() if m.startswith(lower)]
    assert below == [], f"the widgets pulled in lower layers: {below}"
