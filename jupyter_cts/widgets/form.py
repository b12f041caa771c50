"""``ToolForm(tool_id)``: a tool's parameters as a form, generated from its JSON Schema.

No tool has form code of its own: the schema the server publishes (``params_schema`` in the
capabilities) is turned into fields by :mod:`~jupyter_cts.widgets.schema_form`. Values are checked
on this side as far as the schema says; everything else (``speed_min <= speed_max``, a missing
file) comes back from the server as a 422 naming each field, and is shown next to that field.
After Run the form shows a :class:`~jupyter_cts.widgets.run_view.RunView` of the new run; Run stays
disabled until that run is final.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from jupyter_cts.engine.models import ToolInfo
from jupyter_cts.widgets.connection import Entry, connect, list_server_dir
from jupyter_cts.widgets.fields import FieldValueError, FieldWidget
from jupyter_cts.widgets.input_picker import INPUT_FIELD, InputPicker
from jupyter_cts.widgets.run_view import RunView
from jupyter_cts.widgets.schema_form import form_specs

if TYPE_CHECKING:
    from jupyter_cts.client import CTSClient


class FormError(ValueError):
    """The form holds values the schema refuses; ``errors`` maps each field to its message."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        lines = "; ".join(f"{k}: {v}" for k, v in errors.items())
        super().__init__(f"fix these fields before running: {lines}")


def field_for_loc(loc: Sequence[str | int] | None, names: Sequence[str]) -> str | None:
    """Which form field a server error is about: ``["params", "speed_min"]`` -> ``speed_min``.

    Accepts FastAPI-style ``["body", ...]`` too; ``input`` (and anything under it) is the input
    picker; a model-level error (``["params"]``) belongs to no single field and returns ``None``.
    """
    parts = [str(p) for p in (loc or [])]
    if parts and parts[0] == "body":
        parts = parts[1:]
    if parts and parts[0] == INPUT_FIELD:
        return INPUT_FIELD
    if parts and parts[0] == "params":
        parts = parts[1:]
    if parts and parts[0] in names:
        return parts[0]
    return None


def readable_message(msg: str) -> str:
    """Pydantic prefixes a validator's own sentence with its error kind; a person needs only the sentence."""
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            return msg[len(prefix) :]
    return msg


class ToolForm(w.VBox):
    """The form of one tool. ``ToolForm("cruise-control-analyzer")`` finds the server by itself.

    ``tool`` may also be a :class:`ToolInfo` (or its dict), e.g. to build a form offline; the
    client is then only needed when Run is pressed. ``input_path`` pre-fills the input, ``values``
    the parameters.
    """

    def __init__(
        self,
        tool: str | ToolInfo | dict[str, Any],
        client: CTSClient | None = None,
        *,
        input_path: str | None = None,
        values: dict[str, Any] | None = None,
        interval: float = 0.5,
    ) -> None:
        if isinstance(tool, str):
            client = connect(client)
            tool = client.tool(tool)
        self.tool = tool if isinstance(tool, ToolInfo) else ToolInfo.model_validate(tool)
        self.client = client
        self.interval = interval
        self.view: RunView | None = None
        self.fields = {spec.name: FieldWidget(spec) for spec in form_specs(self.tool.params_schema)}
        self.input: InputPicker | None = None
        if self.tool.input != "none":
            lister = self._list_server_dir if client is not None else None
            self.input = InputPicker(self.tool.input, lister, path=input_path or "")
        self._build()
        if values:
            self.set(**values)

    def _list_server_dir(self, folder: str) -> list[Entry]:
        """The input picker's view of the server's root folder (through Jupyter's contents API)."""
        self.client = connect(self.client)
        return list_server_dir(self.client, folder)

    def _build(self) -> None:
        t = self.tool
        header = w.HTML(
            f"<h3 style='margin:4px 0'>{html.escape(t.name)} <small style='color:#666'>"
            f"{html.escape(t.id)} {html.escape(t.version)}</small></h3>"
            f"<p style='line-height:1.4;margin:4px 0 8px 0'>{html.escape(t.description)}</p>"
        )
        self.run_name = w.Text(
            placeholder="optional: a name to find this run by", layout=w.Layout(width="420px")
        )
        self.run_name.add_class("cts-run-name")
        name_row = w.HBox([w.HTML("<b>Run name</b>", layout=w.Layout(width="230px")), self.run_name])
        self.run_button = w.Button(
            description="Run", icon="play", button_style="primary", tooltip=f"Start {t.name} on the server"
        )
        self.run_button.add_class("cts-run-button")
        self.run_button.on_click(lambda _: self.run())
        self.cancel_button = w.Button(
            description="Cancel", icon="stop", disabled=True, tooltip="Cancel the active run of this form"
        )
        self.cancel_button.add_class("cts-cancel-button")
        self.cancel_button.on_click(lambda _: self.cancel())
        self.message = w.HTML("")
        self.message.add_class("cts-form-message")
        self.view_box = w.VBox([])
        rows: list[w.Widget] = [header]
        if self.input is not None:
            rows.append(self.input)
        rows.extend(f.box for f in self.fields.values())
        rows += [name_row, w.HBox([self.run_button, self.cancel_button]), self.message, self.view_box]
        super().__init__(children=rows)
        self.add_class("cts-tool-form")
        self.add_class(f"cts-form-{t.id}")

    # -- values ------------------------------------------------------------------------------------

    def set(self, **values: Any) -> None:
        """Set fields by name, as a person would; ``input=`` sets the input path."""
        for name, value in values.items():
            if name == INPUT_FIELD and self.input is not None:
                self.input.path.value = str(value)
            elif name in self.fields:
                self.fields[name].set_value(value)
            else:
                raise KeyError(f"{self.tool.id} has no parameter {name!r}; it has {', '.join(self.fields)}")

    def values(self) -> dict[str, Any]:
        """The parameters to send (empty optional fields left out); raises :class:`FormError`."""
        params: dict[str, Any] = {}
        errors: dict[str, str] = {}
        for name, field in self.fields.items():
            try:
                value = field.read()
            except FieldValueError as exc:
                errors[name] = exc.message
                continue
            if value is not None:
                params[name] = value
        if errors:
            raise FormError(errors)
        return params

    @property
    def errors(self) -> dict[str, str]:
        """What each field (and ``input``) currently shows as its error."""
        shown = {name: f.error_message for name, f in self.fields.items() if f.error_message}
        if self.input is not None and self.input.error_message:
            shown[INPUT_FIELD] = self.input.error_message
        return shown

    def clear_errors(self) -> None:
        for f in self.fields.values():
            f.clear_error()
        if self.input is not None:
            self.input.clear_error()
        self.message.value = ""

    def show_server_errors(self, errors: list[dict[str, Any]], message: str = "") -> None:
        """Put each error of a 422 next to its field; errors about no single field go under the buttons."""
        unplaced: list[str] = []
        for err in errors:
            target = field_for_loc(err.get("loc"), list(self.fields))
            msg = readable_message(str(err.get("msg", "invalid value")))
            if target == INPUT_FIELD and self.input is not None:
                self.input.show_error(msg)
            elif target is not None and target in self.fields:
                self.fields[target].show_error(msg)
            else:
                unplaced.append(msg)
        if not errors:
            self._say(message or "The server refused these values.")
        elif unplaced:
            self._say("The server refused these values:", unplaced)
        else:
            self._say("The server refused these values: see the fields marked in red.")

    def _say(self, headline: str, details: Sequence[str] = (), *, color: str = "#c62828") -> None:
        items = "".join(f"<li>{html.escape(d)}</li>" for d in details)
        self.message.value = (
            f"<div style='color:{color}'>{html.escape(headline)}{f'<ul>{items}</ul>' if items else ''}</div>"
        )

    # -- actions -----------------------------------------------------------------------------------

    @property
    def active(self) -> bool:
        """A run started by this form is not final yet."""
        return self.view is not None and not self.view.final

    def run(self) -> RunView | None:
        """What Run does: check, send, and show the new run. ``None`` when the form shows errors."""
        if self.active:
            self._say("A run of this form is still active: wait for it or cancel it first.")
            return None
        self.clear_errors()
        try:
            params = self.values()
            if self.input is not None:
                self.input.check()
        except (FormError, FieldValueError):
            self._say("Some values need fixing (marked in red).")
            return None
        self.run_button.disabled = True
        try:
            return self._start(params)
        except Exception:
            self.run_button.disabled = False
            raise

    def _start(self, params: dict[str, Any]) -> RunView | None:
        from jupyter_cts.client import CTSClientError, CTSValidationError

        try:
            self.client = connect(self.client)
            inputs = self.input.read(self.client) if self.input is not None else {}
            name = self.run_name.value.strip() or None
            run = self.client.start_run(self.tool.id, params, name=name, **inputs)
        except CTSValidationError as exc:
            self.show_server_errors(exc.errors, exc.message)
            self.run_button.disabled = False
            return None
        except FieldValueError:
            self._say("Some values need fixing (marked in red).")
            self.run_button.disabled = False
            return None
        except CTSClientError as exc:
            if self.input is not None and getattr(exc, "status", None) == 403:
                self.input.show_error(str(exc))
            self._say(f"The run was not started: {exc}")
            self.run_button.disabled = False
            return None
        if self.view is not None:
            self.view.close()
        self.view = RunView(run.run_id, self.client, interval=self.interval)
        self.view.on_final(self._finished)
        self.view_box.children = [self.view]
        self.cancel_button.disabled = False
        self._say(f"Started run {run.run_id}.", color="#2e7d32")
        return self.view

    def _finished(self, view: RunView) -> None:
        if view is self.view:
            self.run_button.disabled = False
            self.cancel_button.disabled = True

    def cancel(self) -> None:
        """Cancel the active run (Cancel button)."""
        if self.view is None or not self.active:
            return
        from jupyter_cts.client import CTSClientError

        try:
            self.view.cancel()
        except CTSClientError as exc:  # e.g. 409: it finished in the meantime
            self._say(f"Could not cancel: {exc}")
        self.cancel_button.disabled = True

    def close(self) -> None:
        if self.view is not None:
            self.view.close()
        super().close()
