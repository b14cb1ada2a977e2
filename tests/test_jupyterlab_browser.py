"""JupyterLab as a user meets it: a real server lists the notebooks, and headless Chromium opens and
runs the quickstart through the JupyterLab UI.

The browser test needs Debian's ``chromium`` (``.ci/run`` installs it) and the ``playwright`` Python
package; it is skipped when either is missing. Everything started here is stopped at the end, also
on failure.
"""
from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--disable-quic"]

pytestmark = pytest.mark.browser
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def jupyter_server(tmp_path, quick_ce_result):
    """JupyterLab on loopback with a token and a private runtime dir; the quick CE run is cached."""
    port, token = free_port(), secrets.token_hex(16)
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg"),
           "JUPYTER_DATA_DIR": str(tmp_path / "data"), "TQDM_DISABLE": "1"}
    # kernelspecs from the environment ltlib is installed in, not from a user folder
    env["JUPYTER_PATH"] = str(Path(sys.prefix) / "share" / "jupyter")
    log = open(tmp_path / "jupyter.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={REPO}", "--ServerApp.open_browser=False",
         "--allow-root", "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.time() > deadline:
                    raise RuntimeError(f"JupyterLab did not start: {(tmp_path / 'jupyter.log').read_text()[-2000:]}")
                time.sleep(0.5)
        yield url, token
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
        log.close()


def test_server_lists_the_notebooks(jupyter_server):
    import json

    url, token = jupyter_server
    listing = json.load(urllib.request.urlopen(f"{url}/api/contents/notebooks?token={token}", timeout=10))
    names = {item["name"] for item in listing["content"]}
    assert "00_quickstart.ipynb" in names and "01_class_similarity.ipynb" in names


@needs_chromium
def test_quickstart_runs_in_jupyterlab_in_chromium(jupyter_server, tmp_path):
    playwright_api = pytest.importorskip("playwright.sync_api")
    url, token = jupyter_server
    shots = REPO / "build" / "browser"
    shots.mkdir(parents=True, exist_ok=True)
    with playwright_api.sync_playwright() as driver:
        # a fresh --user-data-dir for every run (Playwright passes it for a persistent context)
        browser = driver.chromium.launch_persistent_context(str(tmp_path / "chromium-profile"), executable_path=CHROMIUM,
                                                            headless=True, args=CHROMIUM_FLAGS,
                                                            viewport={"width": 1400, "height": 1000})
        try:
            page = browser.new_page()
            page.goto(f"{url}/lab/tree/notebooks/00_quickstart.ipynb?token={token}", timeout=120_000)
            page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=120_000)
            page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000)
            page.get_by_role("menuitem", name="Run", exact=True).click()
            page.get_by_text("Run All Cells", exact=True).click()
            image = page.wait_for_selector(".jp-OutputArea-output img", timeout=600_000)
            page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=600_000)
            page.screenshot(path=str(shots / "00_quickstart.png"), full_page=True)
            assert image.bounding_box()["width"] > 200  # the figure rendered as an image
            text = page.inner_text(".jp-NotebookPanel")
            assert "final top1" in text and "best top1" in text and "CIFAR-10" in text  # the accuracy table
            assert page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").count() == 0
            assert "Traceback" not in text
        finally:
            browser.close()
