"""One form field: a control chosen by the schema rule, its label, help and the place for its error.

Every control carries the CSS class ``cts-field-<name>`` so a person's browser (and the browser
test) can find it without depending on the widget tree.
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as w

from jupyter_cts.widgets.schema_form import FieldKind, FieldSpec, check_value, parse_text, slider_step

EMPTY_LABEL = "(not set)"
LABEL_WIDTH = "230px"


class FieldValueError(ValueError):
    """A field holds a value the schema does not accept; ``field`` names it for the form."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


def _choice_label(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _dropdown(spec: FieldSpec, choices: tuple[Any, ...]) -> w.Dropdown:
    options: list[tuple[str, Any]] = [(_choice_label(c), c) for c in choices]
    if spec.nullable:
        options.insert(0, (EMPTY_LABEL, None))
    default = spec.default if spec.has_default else None
    value = default if any(default == v and type(default) is type(v) for _, v in options) else options[0][1]
    return w.Dropdown(options=options, value=value)


def _slider(spec: FieldSpec) -> w.FloatSlider | w.IntSlider:
    """Exclusive bounds move in by one step, so the slider cannot reach a value the server refuses."""
    step = slider_step(spec)
    lo = spec.minimum if spec.minimum is not None else float(spec.exclusive_minimum or 0) + step
    hi = spec.maximum if spec.maximum is not None else float(spec.exclusive_maximum or 0) - step
    numeric = isinstance(spec.default, int | float) and not isinstance(spec.default, bool)
    default = spec.default if numeric else lo
    value = min(max(default, lo), hi)
    if spec.type == "integer":
        return w.IntSlider(
            min=int(lo), max=int(hi), step=int(step), value=int(value), continuous_update=False
        )
    decimals = max(0, -int(f"{step:e}".split("e")[1]))
    return w.FloatSlider(
        min=lo, max=hi, step=step, value=float(value), continuous_update=False, readout_format=f".{decimals}f"
    )


def _text_value(spec: FieldSpec) -> str:
    default = spec.default if spec.has_default else None
    if default is None:
        return ""
    if isinstance(default, list):
        return ", ".join(str(v) for v in default)
    return str(default)


def _placeholder(spec: FieldSpec) -> str:
    if spec.kind is FieldKind.ARRAY:
        return "values separated by commas" + (" (optional)" if spec.nullable else "")
    return "optional: leave empty for the default" if spec.nullable else ""


class FieldWidget:
    """A parameter on the form. ``read()`` returns the value to send or raises :class:`FieldValueError`."""

    def __init__(self, spec: FieldSpec) -> None:
        self.spec = spec
        self.enabled: w.Checkbox | None = None  # only for an optional slider: unchecked means empty
        self.control = self._make_control()
        self.control.add_class(f"cts-field-{spec.name}")
        if spec.description:
            self.control.tooltip = spec.description
        self.label = w.HTML(f"<b>{html.escape(spec.label)}</b>", layout=w.Layout(width=LABEL_WIDTH))
        self.label.add_class("cts-label")
        self.help = w.HTML(
            f"<div style='color:#666;font-size:85%;line-height:1.3'>{html.escape(spec.description)}</div>"
            if spec.description
            else "",
            layout=w.Layout(margin="0 0 0 " + LABEL_WIDTH),
        )
        self.error = w.HTML("")
        self.error.add_class(f"cts-error-{spec.name}")
        inputs = [self.enabled, self.control] if self.enabled is not None else [self.control]
        self.box = w.VBox([w.HBox([self.label, *inputs, self.error]), self.help])
        self.box.add_class("cts-field")

    def _make_control(self) -> w.DOMWidget:
        spec = self.spec
        if spec.kind is FieldKind.ENUM:
            return _dropdown(spec, spec.choices)
        if spec.kind is FieldKind.BOOL:
            if spec.nullable:
                return _dropdown(spec, (True, False))
            return w.Checkbox(value=bool(spec.default) if spec.has_default else False, indent=False)
        if spec.kind is FieldKind.SLIDER:
            slider = _slider(spec)
            if spec.nullable:
                has_value = spec.has_default and spec.default is not None
                self.enabled = w.Checkbox(
                    value=has_value,
                    indent=False,
                    layout=w.Layout(width="auto"),
                    tooltip="Untick to leave this field empty",
                )
                slider.disabled = not has_value
                self.enabled.observe(lambda ch: setattr(slider, "disabled", not ch["new"]), names="value")
            return slider
        if spec.kind is FieldKind.NUMBER and not spec.nullable:
            default = spec.default if isinstance(spec.default, int | float) else (spec.lower or 0)
            if spec.type == "integer":
                return w.IntText(value=int(default))
            return w.FloatText(value=float(default))
        return w.Text(value=_text_value(spec), placeholder=_placeholder(spec))

    # -- values ------------------------------------------------------------------------------------

    def raw(self) -> Any:
        """The control's value as the type to send (``None`` when left empty); may raise ValueError."""
        if self.enabled is not None and not self.enabled.value:
            return None
        value = self.control.value
        if isinstance(self.control, w.Text):
            if self.spec.kind is FieldKind.STRING and not self.spec.nullable and not self.spec.required:
                return value
            return parse_text(self.spec, value)
        return value

    def read(self) -> Any:
        """The checked value; shows the problem next to the field and raises when there is one."""
        try:
            value = self.raw()
        except ValueError as exc:
            self.show_error(str(exc))
            raise FieldValueError(self.spec.name, str(exc)) from None
        message = check_value(self.spec, value)
        if message:
            self.show_error(message)
            raise FieldValueError(self.spec.name, message)
        self.clear_error()
        return value

    def set_value(self, value: Any) -> None:
        """Set the field as a person would (used by code and tests); ``None`` empties it."""
        if self.enabled is not None:
            self.enabled.value = value is not None
            if value is None:
                return
        if isinstance(self.control, w.Text):
            if isinstance(value, list):
                self.control.value = ", ".join(str(v) for v in value)
            else:
                self.control.value = "" if value is None else str(value)
        else:
            self.control.value = value

    # -- errors ------------------------------------------------------------------------------------

    @property
    def error_message(self) -> str:
        return getattr(self, "_message", "")

    def show_error(self, message: str) -> None:
        self._message = message
        self.error.value = f"<span style='color:#c62828'>&#9888; {html.escape(message)}</span>"

    def clear_error(self) -> None:
        self._message = ""
        self.error.value = ""
