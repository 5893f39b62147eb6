"""`mer lab` in a real browser: JupyterLab on a run folder, driven in Debian's Chromium.

A `mer run` of notebook 00 on the committed sample makes a run folder; `mer lab --from OUT`
starts JupyterLab on it (free local port, a token, no browser, Jupyter's config, data,
runtime, settings and workspace folders in a temporary folder); Playwright (from PyPI, driving
the system Chromium: no `playwright install`) opens `OUT/lab/00_data.ipynb`, chooses
Run > Run All Cells and waits until every code cell has run and the kernel is idle. Then it
checks what a reader sees: no error or stderr box, the clip count and the speaker x class
table with the numbers of the run's `labels.csv`, both figures drawn, the artifacts written
into OUT (the copy's `out_dir = ".."`), and a progress bar drawn as a widget (a cell added at
the end). The server and its kernels are stopped at the end, and checked to be gone.

`MER_PROGRESS` is removed from the server's environment: CI exports `plain` for nbval and the
notebook run, but a person's JupyterLab has none, and the widget check is about that.
`MER_LAB_SCREENSHOTS=DIR` keeps the screenshots (`lab-run-all.png`: the executed notebook at its
table and first figure; `lab-widget.png`: the widget bar).

Skipped (with the reason) only where no Chromium is installed; scripts/test.sh installs
Debian's `chromium` before pytest where apt-get can.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pandas as pd
import pytest

from mer_helpers.chain.runner import REPO_ROOT
from synthetic import load_script

pytestmark = pytest.mark.slow
MER = [sys.executable, "-m", "mer_helpers"]
NOTEBOOK = "00_data.ipynb"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
#: JupyterLab settings for the test: no news or update checks (no network), every cell in the
#: page (no windowing), so the whole notebook can be read from the DOM, and no autosave
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},  # OUT/lab stays as written
}
#: one line typed into a new last cell: the mode a kernel of JupyterLab chooses, and one bar
WIDGET_CELL = ("from mer_helpers.core.progress import progress, progress_mode; print('mode', progress_mode()); "
               "_ = [i for i in progress(range(5), desc='lab bar', unit='step', leave=True)]")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    """A `mer run` folder with notebook 00 executed on the sample (no Dask: one small stage)."""
    out = tmp_path_factory.mktemp("lab-run") / "run"
    proc = subprocess.run([*MER, "run", "--dataset", "sample", "--notebooks", "00", "--scheduler", "none",
                           "--out", str(out)], capture_output=True, text=True, cwd=REPO_ROOT, timeout=900)
    assert proc.returncode == 0, f"mer run failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    return out


def _wait_for_server(proc, url: str, log: Path, timeout: float = 180.0) -> None:
    t_end = time.monotonic() + timeout
    while time.monotonic() < t_end:
        if proc.poll() is not None:
            raise AssertionError(f"mer lab exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"JupyterLab did not answer {url} within {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def _stop(proc, base: str, token: str) -> list:
    """Shut the kernels down through the server's API, stop the server (SIGTERM to its process
    group, SIGKILL after 30 s) and return the processes it had started that are still alive."""
    import psutil

    try:
        children = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        children = []
    try:
        with urllib.request.urlopen(f"{base}/api/kernels?token={token}", timeout=10) as r:
            kernels = json.load(r)
        for k in kernels:
            req = urllib.request.Request(f"{base}/api/kernels/{k['id']}?token={token}", method="DELETE")
            urllib.request.urlopen(req, timeout=30).close()
    except OSError:
        pass
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    gone, alive = psutil.wait_procs(children, timeout=15)
    for p in alive:
        p.kill()
    return alive


def _wait_until_run(page, n_code: int, timeout_s: float) -> None:
    """Every code cell shows an execution count and the kernel is idle."""
    page.wait_for_function(
        """(n) => {
            const prompts = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputArea-prompt')];
            const done = prompts.filter(p => /\\[\\d+\\]/.test(p.textContent)).length;
            const busy = document.querySelector('.jp-Notebook-ExecutionIndicator[data-status="busy"]');
            return prompts.length === n && done === n && !busy;
        }""", arg=n_code, timeout=timeout_s * 1000, polling=500)


def test_notebook_runs_in_jupyterlab(run_folder, tmp_path):
    chromium = load_script("check_book").find_chromium()  # the page check's Chromium
    if chromium is None:
        pytest.skip("no Chromium on this machine (apt-get install chromium; scripts/test.sh does where it can)")
    from playwright.sync_api import sync_playwright

    t0 = time.perf_counter()
    labels_before = (run_folder / "artifacts" / "labels.csv").read_bytes()
    expected = pd.read_csv(run_folder / "artifacts" / "labels.csv")
    jup = tmp_path / "jupyter"
    settings = jup / "settings"
    for name, values in LAB_SETTINGS.items():
        path = settings / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    port, token = _free_port(), secrets.token_hex(16)
    env = {k: v for k, v in os.environ.items() if k != "MER_PROGRESS"}
    env.update(JUPYTER_TOKEN=token, JUPYTER_CONFIG_DIR=str(jup / "config"), JUPYTER_DATA_DIR=str(jup / "data"),
               JUPYTER_RUNTIME_DIR=str(jup / "runtime"), JUPYTERLAB_SETTINGS_DIR=str(settings),
               JUPYTERLAB_WORKSPACES_DIR=str(jup / "workspaces"), TF_CPP_MIN_LOG_LEVEL="2")
    log = tmp_path / "lab.log"
    t_mark = time.time()
    with open(log, "w") as logf:
        proc = subprocess.Popen([*MER, "lab", "--from", str(run_folder), "--port", str(port), "--no-browser",
                                 "--", "--ServerApp.port_retries=0", "--ServerApp.ip=127.0.0.1"],
                                stdout=logf, stderr=subprocess.STDOUT, env=env, cwd=REPO_ROOT,
                                start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    shot = tmp_path / "lab-run-all.png"
    left = []
    try:
        _wait_for_server(proc, f"{base}/api/status?token={token}", log)
        t_server = time.perf_counter()
        lab_nb = run_folder / "lab" / NOTEBOOK
        cells = json.loads(lab_nb.read_text())["cells"]
        n_code = sum(c["cell_type"] == "code" for c in cells)
        assert any("injected-parameters" in c["metadata"].get("tags", []) for c in cells)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(f"{base}/lab/tree/lab/{NOTEBOOK}?token={token}")
                # the kernel has started (the execution indicator says idle already before)
                page.wait_for_function(
                    """() => [...document.querySelectorAll('.jp-StatusBar-TextItem')]
                               .some(e => /^Python 3.*\\| Idle$/.test(e.textContent.trim()))""",
                    timeout=180_000, polling=500)
                page.locator('.lm-MenuBar-itemLabel', has_text=re.compile(r"^Run$")).click()
                page.locator('.lm-Menu-itemLabel', has_text=re.compile(r"^Run All Cells$")).click()
                try:
                    _wait_until_run(page, n_code, timeout_s=600)
                finally:
                    page.screenshot(path=str(shot))
                t_run = time.perf_counter()

                # what the reader sees: no error box, no stderr, the numbers of the run's labels.csv
                stderr = page.locator('.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')
                assert stderr.count() == 0, "stderr/error output:\n" + "\n---\n".join(stderr.all_inner_texts())[:3000]
                outputs = "\n".join(page.locator(".jp-Notebook .jp-OutputArea").all_inner_texts())
                assert not re.search(r"Traceback|Error\b|Exception", outputs), outputs[-3000:]
                assert f"{len(expected)} usable clips, 0 skipped" in outputs
                # the speaker x class table: its "total" row holds the clips per class of labels.csv
                tables = page.locator(".jp-OutputArea-output table").evaluate_all(
                    "ts => ts.map(t => [...t.rows].map(r => [...r.cells].map(c => c.textContent.trim())))")
                counts = [t for t in tables if any(r and r[0] == "total" for r in t)]
                assert len(counts) == 1, tables
                header = next(r for r in counts[0] if "total" in r[1:])
                total = dict(zip(header[1:], next(r for r in counts[0] if r[0] == "total")[1:]))
                want = expected["label"].value_counts()
                assert {c: int(v) for c, v in total.items()} == {**{c: int(want[c]) for c in want.index},
                                                                  "total": len(expected)}
                images = page.locator(".jp-OutputArea-output img")
                widths = [images.nth(i).evaluate("im => im.naturalWidth") for i in range(images.count())]
                assert len(widths) >= 2 and min(widths) > 100, widths  # class counts, example frames

                # the copy wrote into the run folder (out_dir = ".."): the same labels.csv again
                written = run_folder / "artifacts" / "labels.csv"
                assert written.stat().st_mtime >= t_mark and written.read_bytes() == labels_before

                # progress bars are widgets in JupyterLab
                page.locator(".jp-Notebook .jp-Cell").last.click()
                page.keyboard.press("Escape")
                page.keyboard.press("b")
                page.keyboard.press("Enter")
                page.keyboard.type(WIDGET_CELL)
                page.keyboard.press("Control+Enter")  # run it, add no cell
                _wait_until_run(page, n_code + 1, timeout_s=120)
                page.wait_for_selector(".jp-OutputArea-output .widget-hprogress", timeout=30_000)  # ipywidgets 8
                last = page.locator(".jp-Notebook .jp-CodeCell").nth(n_code).locator(".jp-OutputArea")
                out_text = last.inner_text().replace("\u2007", " ")  # tqdm pads with figure spaces
                assert "mode widget" in out_text and "lab bar" in out_text and "5/5" in out_text, out_text
                assert "HBox(children=" not in out_text and "FloatProgress(" not in out_text
                page.screenshot(path=str(tmp_path / "lab-widget.png"))
                images.first.scroll_into_view_if_needed()  # the speaker x class table and the class counts
                page.screenshot(path=str(shot))
            finally:
                browser.close()
    finally:
        left = _stop(proc, base, token)
        if os.environ.get("MER_LAB_SCREENSHOTS"):
            keep = Path(os.environ["MER_LAB_SCREENSHOTS"])
            keep.mkdir(parents=True, exist_ok=True)
            for png in tmp_path.glob("lab-*.png"):
                shutil.copy(png, keep / png.name)
    assert proc.returncode is not None and not left, f"processes left running: {left}"
    print(f"\n[lab browser] server up {t_server - t0:.1f} s, run all {t_run - t_server:.1f} s, "
          f"total {time.perf_counter() - t0:.1f} s")
