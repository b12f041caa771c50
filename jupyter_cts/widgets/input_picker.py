"""The form's input: a path on the server (typed, or picked from its root folder) or an upload.

Paths are the server's: relative to its root folder (where JupyterLab's file browser starts) or
absolute inside it. Picking a folder in the browser both opens it and selects it, because a segment
folder or a route folder is a valid input on its own. An upload sends a file from the person's
computer to ``POST /v1/uploads`` first; the run then refers to the upload's id.
"""

from __future__ import annotations

import html
import tempfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from jupyter_cts.widgets.connection import Entry
from jupyter_cts.widgets.fields import LABEL_WIDTH, FieldValueError

if TYPE_CHECKING:
    from jupyter_cts.client import CTSClient

ListDir = Callable[[str], list[Entry]]
INPUT_FIELD = "input"
DESCRIPTIONS = {
    "log": "An openpilot log: an rlog/qlog file (.zst, .bz2 or plain), a segment folder or a route folder.",
    "csv": "A CSV file (e.g. can.csv written by rlog-to-csv), or a log.",
}


class InputPicker(w.VBox):
    """Where the run's data comes from; :meth:`read` returns the ``start_run`` keyword arguments."""

    def __init__(self, input_kind: str, list_dir: ListDir | None = None, path: str = "") -> None:
        self.input_kind = input_kind
        self._list_dir = list_dir
        self.folder = ""
        self.error_message = ""
        self.mode = w.ToggleButtons(
            options=[("Path on the server", "path"), ("Upload a file", "upload")],
            value="path",
            style={"button_width": "150px"},
        )
        self.path = w.Text(
            value=path,
            placeholder="path relative to the server's root folder",
            layout=w.Layout(width="420px"),
        )
        self.path.add_class("cts-input-path")
        self.browse_button = w.Button(
            description="Browse…",
            icon="folder-open",
            tooltip="Pick a file or folder under the server's root folder",
            disabled=list_dir is None,
        )
        self.browse_button.on_click(lambda _: self.toggle_browser())
        self.location = w.HTML("")
        self.listing = w.Select(options=[], rows=8, layout=w.Layout(width="420px"))
        self.listing.add_class("cts-input-listing")
        self.listing.observe(self._on_pick, names="value")
        self.browser = w.VBox([self.location, self.listing], layout=w.Layout(display="none"))
        self.upload = w.FileUpload(multiple=False, description="Choose file")
        self.upload_box = w.HBox([self.upload], layout=w.Layout(display="none"))
        self.error = w.HTML("")
        self.error.add_class("cts-error-input")
        self.mode.observe(self._on_mode, names="value")
        label = w.HTML("<b>Input</b>", layout=w.Layout(width=LABEL_WIDTH))
        help_text = w.HTML(
            f"<div style='color:#666;font-size:85%;line-height:1.3'>"
            f"{html.escape(DESCRIPTIONS.get(input_kind, ''))}</div>",
            layout=w.Layout(margin="0 0 0 " + LABEL_WIDTH),
        )
        self.path_box = w.HBox([self.path, self.browse_button])
        body = w.VBox([self.mode, self.path_box, self.browser, self.upload_box])
        super().__init__(children=[w.HBox([label, body, self.error]), help_text])
        self.add_class("cts-input")

    # -- browsing ----------------------------------------------------------------------------------

    def toggle_browser(self) -> None:
        if self.browser.layout.display == "none":
            self.open_folder(self.folder)
            self.browser.layout.display = ""
        else:
            self.browser.layout.display = "none"

    def open_folder(self, folder: str) -> None:
        """List ``folder`` (relative to the server's root; ``""`` is the root itself)."""
        if self._list_dir is None:
            return
        folder = "" if folder in (".", "/") else folder.strip("/")
        try:
            entries = self._list_dir(folder)
        except (OSError, ValueError) as exc:
            self.show_error(f"cannot list {folder or 'the root folder'}: {exc}")
            return
        except Exception as exc:  # noqa: BLE001 - an HTTP problem must not break the form
            self.show_error(f"cannot list {folder or 'the root folder'} on the server: {exc}")
            return
        self.folder = folder
        options: list[tuple[str, Any]] = []
        if folder:
            parent = str(PurePosixPath(folder).parent)
            options.append(("../", ("dir", "" if parent == "." else parent)))
        for e in entries:
            options.append((f"{e.name}/" if e.is_dir else e.name, ("dir" if e.is_dir else "file", e.path)))
        self.location.value = f"<small>Server folder: <code>/{html.escape(folder)}</code></small>"
        self.listing.unobserve(self._on_pick, names="value")
        self.listing.options = options
        self.listing.value = None
        self.listing.observe(self._on_pick, names="value")

    def _on_pick(self, change: dict[str, Any]) -> None:
        picked = change["new"]
        if not picked:
            return
        kind, path = picked
        self.path.value = path
        if kind == "dir":
            self.open_folder(path)

    def _on_mode(self, change: dict[str, Any]) -> None:
        upload = change["new"] == "upload"
        self.path_box.layout.display = "none" if upload else ""
        self.browser.layout.display = "none"
        self.upload_box.layout.display = "" if upload else "none"

    # -- value -------------------------------------------------------------------------------------

    def check(self) -> None:
        """The client-side check: something must be chosen. Raises FieldValueError and shows it."""
        if self.mode.value == "path" and not self.path.value.strip():
            self._fail("Choose the log to analyse: type a path on the server or use Browse….")
        if self.mode.value == "upload" and not self.upload.value:
            self._fail("Choose a file to upload, or switch to a path on the server.")
        self.clear_error()

    def read(self, client: CTSClient) -> dict[str, Any]:
        """``{"input_path": ...}`` or, after uploading the chosen file, ``{"upload_id": ...}``."""
        self.check()
        if self.mode.value == "path":
            return {"input_path": self.path.value.strip()}
        item = self.upload.value[0]
        with tempfile.TemporaryDirectory(prefix="cts-upload-") as tmp:
            name = Path(str(item["name"])).name or "upload"
            local = Path(tmp) / name
            local.write_bytes(bytes(item["content"]))
            upload = client.upload(local)
        return {"upload_id": upload.upload_id}

    def _fail(self, message: str) -> None:
        self.show_error(message)
        raise FieldValueError(INPUT_FIELD, message)

    def show_error(self, message: str) -> None:
        self.error_message = message
        self.error.value = f"<span style='color:#c62828'>&#9888; {html.escape(message)}</span>"

    def clear_error(self) -> None:
        self.error_message = ""
        self.error.value = ""
