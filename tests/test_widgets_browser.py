"""The worked notebook in a real browser: JupyterLab with the extension, driven by Playwright.

A person opens ``notebooks/cruise_control.ipynb`` in JupyterLab, runs it top to bottom, changes a
field of the rendered form, presses Run and watches the run complete. This test does exactly that
with Debian's Chromium (installed by ``.ci/run``; Playwright never downloads a browser here), then
checks on the server that the run used the value typed into the browser, and saves screenshots in
``test-artifacts/``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin

import httpx
import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(600)]

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "notebooks" / "cruise_control.ipynb"
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = shutil.which("chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-dev-shm-usage",  # containers often give /dev/shm only 64 MB
]
LAB_START_S = 120
NOTEBOOK_S = 300  # Run All: make the demo drive, analyse it twice (form and code), plot
RUN_S = 240

if CHROMIUM is None:
    pytest.skip(
        "chromium is not installed (CI installs it with `apt-get install -y chromium` in .ci/run; "
        "run `python scripts/ensure_programs.py chromium` as root to install it here)",
        allow_module_level=True,
    )


@dataclass
class Lab:
    url: str
    token: str
    root: Path
    proc: subprocess.Popen[bytes]
    log: Path

    def api(self, path: str) -> httpx.Response:
        return httpx.get(f"{self.url}{path}", headers={"Authorization": f"token {self.token}"}, timeout=10)


def _clean_env(tmp: Path) -> dict[str, str]:
    """Jupyter's folders in a temp dir, and no CTS_URL: the kernel must find this server by discovery."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CTS_", "JUPYTER_CTS_", "JUPYTERHUB_"))}
    for name in ("runtime", "config", "data"):
        (tmp / name).mkdir(parents=True, exist_ok=True)
    env.update(
        JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
        JUPYTER_CONFIG_DIR=str(tmp / "config"),
        JUPYTER_DATA_DIR=str(tmp / "data"),
        JUPYTER_PLATFORM_DIRS="1",
        PYTHONUNBUFFERED="1",
    )
    return env


def _quiet_lab_settings(settings: Path) -> None:
    """No "get Jupyter news?" toast over the screenshots, and no update checks (no network here)."""
    target = settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))


def _server_url(runtime: Path, pid: int, proc: subprocess.Popen[bytes], log: Path) -> str:
    """Read the URL from the server's own runtime file: the port was chosen by the server (port 0)."""
    info = runtime / f"jpserver-{pid}.json"
    deadline = time.monotonic() + LAB_START_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"JupyterLab exited with {proc.returncode}; see {log}")
        if info.exists():
            try:
                return json.loads(info.read_text())["url"]
            except (ValueError, KeyError):
                pass
        time.sleep(0.3)
    raise RuntimeError(f"JupyterLab did not write {info} within {LAB_START_S} s; see {log}")


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """JupyterLab with the jupyter_cts extension enabled by the package's jupyter-config, as users run it."""
    tmp = tmp_path_factory.mktemp("lab")
    root = tmp / "work"
    root.mkdir()
    shutil.copy(NOTEBOOK, root / NOTEBOOK.name)
    _quiet_lab_settings(tmp / "settings")
    token = "browser-test-token"
    ARTIFACTS.mkdir(exist_ok=True)
    log = ARTIFACTS / "browser_jupyterlab.log"
    cmd = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ip=127.0.0.1",
        "--ServerApp.port=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        f"--CTSApp.data_dir={tmp / 'cts-data'}",
        "--CTSApp.max_concurrent_runs=2",
        f"--LabApp.user_settings_dir={tmp / 'settings'}",
        f"--LabApp.workspaces_dir={tmp / 'workspaces'}",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # CI containers run as root
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            cmd, cwd=root, env=_clean_env(tmp), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        url = _server_url(tmp / "runtime", proc.pid, proc, log)
        server = Lab(url, token, root, proc, log)
        health = server.api("v1/health")
        assert health.status_code == 200, f"the extension is not loaded in JupyterLab: {health.text[:300]}"
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _run_all_cells(page) -> None:  # type: ignore[no-untyped-def]
    """Run → Run All Cells, once the kernel is connected; checked by the first cell starting to run."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import expect

    expect(page.get_by_text("Python 3 (ipykernel) | Idle")).to_be_visible(timeout=LAB_START_S * 1000)
    first_prompt = page.locator(".jp-CodeCell .jp-InputPrompt").first
    for attempt in range(3):
        page.locator(".jp-Notebook").first.click()
        page.locator(".lm-MenuBar-item", has_text="Run").first.click()
        page.locator(".lm-Menu-item", has_text="Run All Cells").first.click()
        try:
            expect(first_prompt).not_to_have_text("[ ]:", timeout=20_000)
            return
        except (AssertionError, PlaywrightTimeout):
            page.screenshot(path=str(ARTIFACTS / f"browser_run_all_attempt{attempt}.png"))
    raise AssertionError("Run All Cells did not start the notebook; see test-artifacts/browser_run_all_*.png")


def test_worked_notebook_form_runs_an_analysis_in_chromium(lab: Lab) -> None:
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1100})
            page.goto(f"{lab.url}lab/tree/{NOTEBOOK.name}?token={lab.token}", timeout=LAB_START_S * 1000)
            page.wait_for_selector(".jp-Notebook", timeout=LAB_START_S * 1000)
            page.wait_for_selector(
                ".jp-Notebook-ExecutionIndicator[data-status='idle']",
                state="attached",
                timeout=LAB_START_S * 1000,
            )
            _run_all_cells(page)

            # The form renders from the tool's schema: fill in two fields like a person would.
            form = page.locator(".cts-tool-form").first
            try:
                expect(form).to_be_visible(timeout=NOTEBOOK_S * 1000)
            except AssertionError:
                page.screenshot(path=str(ARTIFACTS / "browser_no_form.png"))
                raise
            picker = form.locator(".cts-input")
            picker.scroll_into_view_if_needed()
            picker.get_by_role("button", name="Browse…").click()  # the server's root folder, as a list
            expect(picker.locator(".cts-input-listing")).to_contain_text("demo_drive/", timeout=30_000)
            page.screenshot(path=str(ARTIFACTS / "browser_form.png"))
            form.locator(".cts-field-marker_type select").select_option("none")
            speed = form.locator(".cts-field-speed_min .widget-readout")
            speed.click()
            speed.fill("50")
            speed.press("Enter")
            form.locator(".cts-run-name input").fill("from the browser")
            form.locator(".cts-run-name input").press("Tab")
            page.screenshot(path=str(ARTIFACTS / "browser_form_filled.png"))

            form.locator("button.cts-run-button").click()
            status = form.locator(".cts-run-view .cts-run-status")
            expect(status).to_contain_text("completed", timeout=RUN_S * 1000)
            expect(form.locator("button.cts-run-button")).to_be_enabled()
            status.scroll_into_view_if_needed()
            page.screenshot(path=str(ARTIFACTS / "browser_run_completed.png"))
            plot = form.locator(".cts-run-view .cts-run-results img").first
            expect(plot).to_be_visible(timeout=30_000)
            plot.scroll_into_view_if_needed()
            page.screenshot(path=str(ARTIFACTS / "browser_run_results.png"))

            # The artifact links work from the page itself: the browser's Jupyter login authenticates them.
            href = form.locator(".cts-artifacts a", has_text="report.html").first.get_attribute("href")
            assert href is not None and "token" not in href, "no token is written into the notebook"
            report = page.request.get(urljoin(lab.url, href))
            assert report.ok and report.headers["content-type"].startswith("text/html"), report.status

            # Wait for the rest of the notebook (the run from code, the plot) and check no cell failed.
            page.wait_for_selector(
                ".jp-Notebook-ExecutionIndicator[data-status='idle']",
                state="attached",
                timeout=NOTEBOOK_S * 1000,
            )
            errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.error']")
            assert errors.count() == 0, errors.first.inner_text()
        finally:
            browser.close()

    runs = lab.api("v1/runs").json()["runs"]
    mine = [r for r in runs if r.get("name") == "from the browser"]
    assert len(mine) == 1, f"expected one run named 'from the browser', got {[r.get('name') for r in runs]}"
    assert mine[0]["status"] == "completed"
    assert mine[0]["params"]["marker_type"] == "none"
    assert mine[0]["params"]["speed_min"] == 50
