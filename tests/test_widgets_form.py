"""The notebook form: every tool gets a form generated from its JSON Schema, and the form talks to
a real server.

The first half builds forms from hand-made pydantic models (one rule of the generator each), the
way a tool author would declare parameters; the second half runs the registered tools through a
real jupyter-cts server: set values, press Run, watch the run complete, and see the server's
per-field errors land next to the fields.
"""

from __future__ import annotations

import html
from enum import StrEnum
from typing import Any, Literal

import ipywidgets as w
import pytest
from pydantic import BaseModel, Field

from jupyter_cts.engine.models import ToolInfo
from jupyter_cts.widgets import FormError, ToolForm
from jupyter_cts.widgets.form import field_for_loc
from jupyter_cts.widgets.schema_form import FieldKind, form_specs


class Marker(StrEnum):
    BLINKERS = "blinkers"
    NONE = "none"


class HandMade(BaseModel):
    """Parameters shaped like a real tool's, one of each kind the form generator knows."""

    speed_min: float = Field(55.0, ge=0, le=150, title="Minimum speed", description="Lower edge of the band.",
                             json_schema_extra={"unit": "mph"})
    marker_type: Marker = Marker.BLINKERS
    mode: Literal["fast", "exact"] = "exact"
    export_csv: bool = True
    marker_timeout: float = Field(15.0, gt=0, description="How long a window may stay open.",
                                  json_schema_extra={"unit": "s"})
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
    info = ToolInfo(id="hand-made", name="Hand made", description="A <b>test</b> tool & friends.",
                    category="test", version="0.0.1", input=input_kind,  # type: ignore[arg-type]
                    params_schema=model.model_json_schema())
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
        "speed_min": 55.0, "marker_type": "blinkers", "mode": "exact", "export_csv": True,
        "marker_timeout": 15.0, "repeats": 3, "label": "drive", "owner": "me",
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
