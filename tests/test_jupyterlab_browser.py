"""JupyterLab as a user meets it: a real server lists the notebooks, and headless Chromium opens and
runs the quickstart through the JupyterLab UI. The server is rooted in a temporary copy of the
notebooks (its autosave never writes into the repository), and every wait polls an observable state
(server status, the kernel's state in the sessions API, the cells' execution prompts) with a deadline.

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


NEWS_OFF = '{"fetchNews": "false", "checkForUpdates": false}'


@pytest.fixture
def lab_root(tmp_path) -> Path:
    """A temporary copy of ``notebooks/``: the server and its autosave never touch the repository."""
    root = tmp_path / "lab"
    shutil.copytree(REPO / "notebooks", root / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    return root


@pytest.fixture
def jupyter_server(tmp_path, lab_root):
    """JupyterLab on loopback with a token, a private runtime dir and the news popup off, rooted in a
    temporary copy of the notebooks."""
    port, token = free_port(), secrets.token_hex(16)
    settings = tmp_path / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(NEWS_OFF)
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg"),
           "JUPYTER_DATA_DIR": str(tmp_path / "data"), "TQDM_DISABLE": "1"}
    # kernelspecs from the environment ltlib is installed in, not from a user folder
    env["JUPYTER_PATH"] = str(Path(sys.prefix) / "share" / "jupyter")
    log_path = tmp_path / "jupyter.log"
    log = open(log_path, "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={lab_root}", "--ServerApp.open_browser=False",
         "--allow-root", "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
         f"--LabApp.user_settings_dir={tmp_path / 'settings'}"],
        cwd=lab_root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: server.poll() is not None or _answers(f"{url}/api/status?token={token}"), 120,
                   lambda: f"JupyterLab did not start: {log_path.read_text()[-2000:]}")
        if server.poll() is not None:
            raise RuntimeError(f"JupyterLab exited: {log_path.read_text()[-2000:]}")
        yield url, token, log_path
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait()
        log.close()


def _answers(address: str) -> bool:
    try:
        urllib.request.urlopen(address, timeout=2)
        return True
    except OSError:
        return False


def wait_until(condition, seconds: float, explain, interval: float = 0.25):
    """Poll ``condition()`` until it is truthy (returns it) or ``seconds`` pass (raises with ``explain()``)."""
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(explain())
        time.sleep(interval)


def kernel_state(url: str, token: str, notebook: str) -> str | None:
    """The execution state of ``notebook``'s kernel from the server's sessions API (None: no kernel yet)."""
    import json

    sessions = json.load(urllib.request.urlopen(f"{url}/api/sessions?token={token}", timeout=10))
    states = [s["kernel"]["execution_state"] for s in sessions if s.get("path", "").endswith(notebook) and s.get("kernel")]
    return states[0] if states else None


def test_server_lists_the_notebooks(jupyter_server):
    import json

    url, token, _ = jupyter_server
    listing = json.load(urllib.request.urlopen(f"{url}/api/contents/notebooks?token={token}", timeout=10))
    names = {item["name"] for item in listing["content"]}
    assert "00_quickstart.ipynb" in names and "01_class_similarity.ipynb" in names


#: per code cell, the prompt text ("[ ]:", "[*]:", "[3]:") and whether an output is an exception: a traceback,
#: or a line that starts with an exception's name ("ValueError: ...", "SyntaxError: ..."); other stderr text
#: (warnings, "[nltk_data] Error loading wordnet: ..." before the offline route) is not an error. Read as textContent:
#: JupyterLab skips rendering the cells scrolled out of view, and their innerText is empty
CELL_STATE_JS = r"""() => Array.from(document.querySelectorAll('.jp-NotebookPanel .jp-CodeCell')).map(cell => ({
    prompt: (cell.querySelector('.jp-InputPrompt') || {}).textContent || '',
    error: Array.from(cell.querySelectorAll('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"], '
                                            + '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.error"]'))
           .some(out => /Traceback \(most recent call last\)|^\s*\w*(Error|Exception)\b[^\n]*:/m.test(out.textContent))}))"""


class Lab:
    """One notebook open in JupyterLab in headless Chromium; every wait polls an observable state."""

    def __init__(self, page, url: str, token: str, log_path: Path, notebook: str):
        self.page, self.url, self.token, self.log_path, self.notebook = page, url, token, log_path, notebook
        self.shots = REPO / "build" / "browser"
        self.shots.mkdir(parents=True, exist_ok=True)

    def explain(self, what: str):
        """A message for a failed wait: a screenshot's path, the kernel state, the notebook's text, the server log."""
        def message():
            shot = self.shots / f"{Path(self.notebook).stem}-failure.png"
            try:
                self.page.screenshot(path=str(shot), full_page=True)
                text = self.page.inner_text(".jp-NotebookPanel", timeout=5_000)
            except Exception as error:  # the page itself may be what failed
                text = f"(no notebook text: {error})"
            return (f"{what}; screenshot {shot}; kernel state {kernel_state(self.url, self.token, self.notebook)!r}\n"
                    f"--- notebook text ---\n{text[-4000:]}\n--- server log ---\n{self.log_path.read_text()[-2000:]}")
        return message

    def cells(self):
        return self.page.evaluate(CELL_STATE_JS)

    def _run_all(self):
        self.page.get_by_role("menuitem", name="Run", exact=True).click()
        self.page.get_by_text("Run All Cells", exact=True).click()

    def open_and_run_all(self, seconds: float = 600) -> None:
        page = self.page
        page.goto(f"{self.url}/lab/tree/{self.notebook}?token={self.token}", timeout=120_000)
        page.wait_for_selector(".jp-NotebookPanel .jp-CodeCell", timeout=120_000)
        # the kernel is connected and idle, seen from the server and from the page
        wait_until(lambda: kernel_state(self.url, self.token, self.notebook) == "idle", 180,
                   self.explain("the kernel never became idle"))
        page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']", timeout=120_000)
        code_cells = len(self.cells())
        self._run_all()
        started = lambda: any(c["prompt"].strip() not in ("", "[ ]:") for c in self.cells())  # noqa: E731
        try:
            wait_until(started, 30, lambda: "no cell started")
        except AssertionError:  # the run request was lost: ask once more
            self._run_all()
            wait_until(started, 60, self.explain("no cell started after asking twice to run all cells"))
        finished = lambda: (any(c["error"] for c in self.cells())  # noqa: E731
                            or all(c["prompt"].strip()[1:-2].isdigit() for c in self.cells()))
        wait_until(finished, seconds, self.explain(f"the cells did not all finish within {seconds} s"))
        state = self.cells()
        assert not any(c["error"] for c in state), self.explain("a cell raised an error")()
        assert len(state) == code_cells


def browse(tmp_path, server, notebook: str):
    """(playwright, browser context, Lab) for ``notebook``; the caller closes them."""
    playwright_api = pytest.importorskip("playwright.sync_api")
    url, token, log_path = server
    driver = playwright_api.sync_playwright().start()
    # a fresh --user-data-dir for every run (Playwright passes it for a persistent context)
    browser = driver.chromium.launch_persistent_context(str(tmp_path / "chromium-profile"), executable_path=CHROMIUM,
                                                        headless=True, args=CHROMIUM_FLAGS,
                                                        viewport={"width": 1400, "height": 1000})
    return driver, browser, Lab(browser.new_page(), url, token, log_path, notebook)


@needs_chromium
def test_quickstart_runs_in_jupyterlab_in_chromium(quick_ce_result, jupyter_server, tmp_path):  # the run cached first
    driver, browser, lab = browse(tmp_path, jupyter_server, "notebooks/00_quickstart.ipynb")
    try:
        lab.open_and_run_all()
        image = lab.page.wait_for_selector(".jp-OutputArea-output img", timeout=30_000)
        assert image.bounding_box()["width"] > 200, lab.explain("the figure is not an image of useful size")()
        lab.page.screenshot(path=str(lab.shots / "00_quickstart.png"), full_page=True)
        text = lab.page.inner_text(".jp-NotebookPanel")
        assert "final top1" in text and "best top1" in text and "CIFAR-10" in text, lab.explain("no accuracy table")()
        assert "Traceback" not in text
    finally:
        browser.close()
        driver.stop()


@pytest.fixture
def confusion_runs(real_cifar10):
    """Notebook 02's quick runs, cached before the browser opens it (training is not what this test is about)."""
    import ltlib
    from ltlib import runsets

    return ltlib.get_runs(runsets.confusion("quick"), progress=False)


@needs_chromium
def test_moving_a_control_redraws_the_figure_from_cached_runs(confusion_runs, jupyter_server, tmp_path):
    driver, browser, lab = browse(tmp_path, jupyter_server, "notebooks/02_confusion_tail_vs_similar_heads.ipynb")
    try:
        lab.open_and_run_all()
        page = lab.page
        select = page.wait_for_selector(".widget-dropdown select", timeout=60_000)
        figure = lambda: page.evaluate(  # noqa: E731
            "() => { const image = document.querySelector('.widget-output img'); return image ? image.src : null; }")
        wait_until(lambda: figure(), 60, lab.explain("the explorer drew no figure"))
        before, chosen = figure(), select.evaluate("s => s.value")
        other = next(o for o in select.evaluate("s => Array.from(s.options).map(o => o.value)") if o != chosen)
        select.select_option(other)
        wait_until(lambda: figure() not in (None, before), 120, lab.explain(f"choosing {other!r} redrew nothing"))
        page.screenshot(path=str(lab.shots / "02_explorer.png"), full_page=True)
    finally:
        browser.close()
        driver.stop()


@needs_chromium
def test_a_failing_cell_is_reported_as_an_error(jupyter_server, lab_root, tmp_path):
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    cells = [new_code_cell("import sys\nprint('[nltk_data] Error loading wordnet: offline', file=sys.stderr)"),
             new_code_cell("raise ValueError('planted')")]
    nbformat.write(new_notebook(cells=cells, metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                                       "language": "python"}}),
                   lab_root / "notebooks" / "zz_planted_failure.ipynb")
    driver, browser, lab = browse(tmp_path, jupyter_server, "notebooks/zz_planted_failure.ipynb")
    try:
        with pytest.raises(AssertionError, match="a cell raised an error"):
            lab.open_and_run_all(seconds=120)
        assert [cell["error"] for cell in lab.cells()] == [False, True]  # stderr text alone is no error
    finally:
        browser.close()
        driver.stop()
