"""The worked notebooks, executed top to bottom by a real kernel against a real server.

What a new user does: open the notebook in a folder the server serves, Run All. The kernel finds
the server the way it would in a deployment where ``CTS_URL``/``CTS_TOKEN`` are set (nbclient
starts the kernel with them); the notebooks generate their own demo drive. A cell that raises fails
the test with the cell's traceback.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import nbformat
import pytest
from lite_harness import host_env, running_lite
from nbclient import NotebookClient

from jupyter_cts.server.lite import LiteProcess

pytestmark = pytest.mark.slow

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
CELL_TIMEOUT_S = 300
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiteProcess]:
    """A real ``cts-lite`` whose root folder is where the notebooks are opened."""
    with running_lite(tmp_path_factory.mktemp("notebooks")) as lite:
        yield lite


def execute(name: str, server: Any) -> nbformat.NotebookNode:
    """Copy the notebook into the server's root and run every cell in a fresh kernel there."""
    folder = Path(server.root_dir) / Path(name).stem
    folder.mkdir(exist_ok=True)
    path = folder / name
    shutil.copy(NOTEBOOKS / name, path)
    notebook = nbformat.read(path, as_version=4)
    env = host_env()
    env.pop("MPLBACKEND", None)  # the kernel's inline backend, as in JupyterLab
    env.update(CTS_URL=server.url, CTS_TOKEN=server.token)
    client = NotebookClient(
        notebook, kernel_name="python3", timeout=CELL_TIMEOUT_S, resources={"metadata": {"path": str(folder)}}
    )
    client.execute(env=env)
    nbformat.write(notebook, path)  # kept next to the server's files for a look after a failure
    return notebook


def outputs(notebook: nbformat.NotebookNode) -> list[tuple[str, dict]]:
    """(source, output) for every output of every code cell."""
    return [(cell.source, out) for cell in notebook.cells if cell.cell_type == "code" for out in cell.outputs]


def runs_named(server: Any, name: str) -> list[dict]:
    runs = httpx.get(f"{server.url}v1/runs", headers=server.headers, timeout=10).json()["runs"]
    return [r for r in runs if r.get("name") == name]


def test_the_kernel_is_this_environments_python():
    """nbclient's ``python3`` must be the venv's ipykernel, or the notebooks would not find jupyter_cts."""
    from jupyter_client.kernelspec import KernelSpecManager

    spec = KernelSpecManager().get_kernel_spec("python3")
    # jupyter_client runs a spec's bare "python" with sys.executable
    assert spec.argv[0] == "python" or Path(spec.argv[0]).resolve() == Path(sys.executable).resolve()


def test_the_worked_cruise_control_notebook_runs_top_to_bottom(server):
    notebook = execute("cruise_control.ipynb", server)
    shown = outputs(notebook)

    widgets = [src for src, out in shown if WIDGET_VIEW in out.get("data", {})]
    assert any("ToolForm(" in src for src in widgets), "the form is displayed as a widget"
    assert any("RunView(" in src for src in widgets), "the run view is displayed as a widget"
    assert any("ToolBrowser(" in src for src in widgets)

    text = "\n".join(out.get("text", "") for _, out in shown)
    assert "completed" in text
    frames = "\n".join(out.get("data", {}).get("text/html", "") for _, out in shown)
    assert "lsb_label" in frames and "Cruise_Buttons.Set" in frames, "the candidate bits table is shown"
    assert "start_s" in frames, "target windows / presses tables are shown"
    assert any("image/png" in out.get("data", {}) for src, out in shown if "axvspan" in src), "the speed plot"

    done = runs_named(server, "worked notebook")
    assert len(done) == 1 and done[0]["status"] == "completed"
    assert (Path(server.root_dir) / "cruise_control" / "demo_drive" / "rlog.zst").exists()


def test_the_rest_api_notebook_runs_top_to_bottom(server):
    notebook = execute("rest_api.ipynb", server)
    text = "\n".join(out.get("text", "") for _, out in outputs(notebook))
    assert "POST /v1/runs -> 202 Accepted" in text.replace(server.url.split("/", 3)[-1], "")
    assert "end of stream" in text
    assert "-> 422" in text and "-> 404" in text and "-> 409" in text
    assert "completed ['can.csv'" in text, "the uploaded log was converted to CSV"
    assert server.token not in text, "the token never ends up in a notebook"
    done = runs_named(server, "from plain HTTP")
    assert len(done) == 1 and done[0]["status"] == "completed"
