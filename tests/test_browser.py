"""End to end: a lesson opened in a real JupyterLab, in headless Chromium.

The test starts JupyterLab on 127.0.0.1 in a temporary copy of the lesson, opens it in
Debian's Chromium driven by Playwright, runs every cell from the Run menu as a learner
would, and checks what the learner sees: a computation graph drawn by `draw_dot`
(Graphviz SVG), a Matplotlib plot (PNG), and no error. A screenshot is saved to
test-output/jupyterlab.png.

In `notebooks/` the exercise checks fail on purpose until the learner solves them, and
JupyterLab stops a "Run All" at the first error; so there, and only there, an error
that names an exercise is expected: the test carries on from the next cell, like a
learner who skips the exercise. Any other error fails the test.

Needs: `apt-get install chromium` and `pip install playwright` (never
`playwright install`: it downloads a browser of its own). Without them the test is
skipped, unless the environment variable CI is set: then it fails.
"""

from __future__ import annotations

import base64
import importlib.util
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# the lesson to open: it plots tanh (Matplotlib) and draws a neuron (draw_dot);
# COURSE_BROWSER_NOTEBOOK (a path) opens another one, for trying a lesson out
LESSON = "notebooks/03_one_neuron.ipynb"

CHROMIUM = "/usr/bin/chromium"
# the flags this machine's closed network needs: no background connections at all
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
# seconds for the whole test, JupyterLab's start and shutdown included
TIME_LIMIT = 90
SCREENSHOT = ROOT / "test-output" / "jupyterlab.png"

# a failing exercise check in a student notebook: the stub's message, or the check's
EXERCISE_ERROR = re.compile(r"(NotImplementedError|ExerciseError): Exercise \d+\.\d+")

# what every cell shows, read from the page in one go
CELLS_JS = """
() => Array.from(document.querySelectorAll('.jp-Notebook .jp-Cell')).map(cell => {
  const prompt = cell.querySelector('.jp-InputArea-prompt');
  const images = Array.from(cell.querySelectorAll('.jp-OutputArea-output img'));
  const shown = el => {
    const box = el.getBoundingClientRect();
    return box.width > 0 && box.height > 0 && el.complete && el.naturalWidth > 0;
  };
  const errors = Array.from(cell.querySelectorAll(
    '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"],' +
    '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.error"]'
  )).map(out => ({mime: out.dataset.mimeType, text: out.innerText}));
  return {
    code: cell.classList.contains('jp-CodeCell'),
    prompt: prompt ? prompt.innerText.trim() : '',
    source: (cell.querySelector('.jp-InputArea-editor') || {innerText: ''}).innerText,
    svgs: images.filter(img => img.src.startsWith('data:image/svg+xml') && shown(img))
                .map(img => img.src),
    inlineSvgNodes: cell.querySelectorAll('.jp-OutputArea-output svg g.node').length,
    pngs: images.filter(img => img.src.startsWith('data:image/png') && shown(img))
                .length,
    errors: errors,
  };
})
"""


def _missing_tools() -> list[str]:
    missing = []
    if not Path(CHROMIUM).is_file():
        missing.append("Chromium at /usr/bin/chromium (apt-get install chromium)")
    if importlib.util.find_spec("playwright") is None:
        missing.append("the playwright package (pip install playwright)")
    return missing


def _lesson_path() -> Path:
    chosen = os.environ.get("COURSE_BROWSER_NOTEBOOK", LESSON)
    path = Path(chosen) if Path(chosen).is_absolute() else ROOT / chosen
    if not path.is_file():
        pytest.fail(f"the lesson {chosen} does not exist: build it with "
                    f"`python tools/build.py`", pytrace=False)
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Deadline:
    """The time left of the test's TIME_LIMIT, for every wait along the way."""

    def __init__(self, seconds: float):
        self.end = time.monotonic() + seconds

    def left(self, what: str) -> float:
        remaining = self.end - time.monotonic()
        if remaining <= 0:
            pytest.fail(f"over the test's {TIME_LIMIT} s while {what}", pytrace=False)
        return remaining


def _workspace(tmp_path: Path, lesson: Path) -> Path:
    """A throwaway copy of the lesson, its pictures, and JupyterLab's own folders."""
    root = tmp_path / "course"
    folder = root / lesson.parent.name
    folder.mkdir(parents=True)
    shutil.copy2(lesson, folder / lesson.name)
    if (ROOT / "media").is_dir():
        shutil.copytree(ROOT / "media", root / "media")
    # every cell stays in the page (no windowing), and nothing is saved behind our back
    settings = tmp_path / "settings"
    for plugin, values in {
        "notebook-extension/tracker": '{"windowingMode": "none"}',
        "docmanager-extension/plugin": '{"autosave": false}',
        # no "get notified about Jupyter news?" toast over the screenshot
        "apputils-extension/notification":
            '{"fetchNews": "false", "checkForUpdates": false}',
    }.items():
        target = settings / "@jupyterlab" / f"{plugin}.jupyterlab-settings"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(values)
    for name in ("runtime", "config", "data", "workspaces"):
        (tmp_path / name).mkdir()
    return root


def _start_jupyterlab(tmp_path: Path, root: Path, port: int, token: str):
    env = dict(os.environ)
    env.update({
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "JUPYTER_DATA_DIR": str(tmp_path / "data"),
        "JUPYTER_PLATFORM_DIRS": "1",
        # the kernel finds graph.py and course_checks.py even without `pip install -e .`
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT),
                                                    env.get("PYTHONPATH")])),
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
    })
    command = [
        sys.executable, "-m", "jupyterlab",
        "--no-browser", "--ip=127.0.0.1", f"--port={port}", "--port-retries=0",
        # CI runs as root
        "--allow-root",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        f"--LabApp.user_settings_dir={tmp_path / 'settings'}",
        f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",
        # no look-ups on the internet: news, update checks and extension search off
        "--LabApp.news_url=None",
        "--LabApp.extension_manager=readonly",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
    ]
    log = open(tmp_path / "jupyterlab.log", "wb")  # closed in _stop
    process = subprocess.Popen(command, cwd=root, env=env, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    process.log = log
    return process


def _wait_for_server(process, port: int, token: str, deadline: Deadline) -> None:
    url = f"http://127.0.0.1:{port}/api/status?token={token}"
    while True:
        if process.poll() is not None:
            pytest.fail("JupyterLab exited at start:\n" + _log_tail(process),
                        pytrace=False)
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        deadline.left("waiting for JupyterLab to start")
        time.sleep(0.3)


def _log_tail(process, lines: int = 40) -> str:
    process.log.flush()
    text = Path(process.log.name).read_text(errors="replace")
    return "\n".join(text.splitlines()[-lines:])


def _stop(process) -> None:
    """Shut JupyterLab down; on SIGTERM it shuts its kernels down first.

    JupyterLab runs in a process group of its own, so whatever it started there goes
    too; a kernel (in a group of its own) also exits by itself once its server is gone.
    """
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
    # anything of the server's group that outlived it
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.log.close()


def _run_menu(page, entry: str) -> None:
    """Click Run in the menu bar, then the entry labelled `entry`."""
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name=entry, exact=True).click()


def _kernel_state(page) -> str:
    """What the status bar says of the kernel: "Idle", "Busy", "Connecting", ..."""
    text = page.locator("#jp-main-statusbar .jp-StatusBar-TextItem",
                        has_text="|").first.inner_text()
    return text.rpartition("|")[2].strip()


def _run_and_wait(page, entry: str, deadline: Deadline) -> list[dict]:
    """Run the Run menu's `entry`; wait until its cells ran and the kernel is idle."""
    before = [cell["prompt"] for cell in page.evaluate(CELLS_JS)]
    _run_menu(page, entry)
    quiet = 0
    while quiet < 3:  # the same quiet state three polls in a row
        deadline.left(f"waiting for {entry!r} to finish")
        page.wait_for_timeout(300)
        cells = page.evaluate(CELLS_JS)
        prompts = [cell["prompt"] for cell in cells]
        started = prompts != before
        running = any("*" in prompt for prompt in prompts)
        idle = _kernel_state(page) == "Idle"
        quiet = quiet + 1 if started and idle and not running else 0
    return cells


def _error_text(error: dict) -> str:
    return error["text"] if "Traceback" in error["text"] or error["mime"].endswith(
        ".error") else ""


def _svg_is_graph(src: str) -> bool:
    header, _, data = src.partition(",")
    text = (base64.b64decode(data).decode(errors="replace") if ";base64" in header
            else urllib.parse.unquote(data))
    return 'class="node"' in text


def test_lesson_runs_and_shows_its_pictures_in_jupyterlab(tmp_path):
    missing = _missing_tools()
    if missing:
        reason = "the browser test needs " + " and ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(reason + " (CI is set, so it may not be skipped)",
                        pytrace=False)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    deadline = Deadline(TIME_LIMIT)
    lesson = _lesson_path()
    student_version = lesson.parent.name == "notebooks"
    root = _workspace(tmp_path, lesson)
    port, token = _free_port(), secrets.token_hex(16)
    process = _start_jupyterlab(tmp_path, root, port, token)
    try:
        _wait_for_server(process, port, token, deadline)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True,
                timeout=deadline.left("starting Chromium") * 1000,
            )
            try:
                context = browser.new_context(viewport={"width": 1400, "height": 1800})
                page = context.new_page()
                # one step of the page may take 30 s at most, and never past the end
                page.set_default_timeout(
                    min(30.0, deadline.left("opening the lesson")) * 1000)
                relative = f"{lesson.parent.name}/{lesson.name}"
                page.goto(f"http://127.0.0.1:{port}/lab/tree/{relative}?token={token}")
                page.locator(".jp-Notebook .jp-Cell").first.wait_for()
                # run nothing before the kernel is up: JupyterLab would ask for one
                while _kernel_state(page) != "Idle":
                    deadline.left("waiting for the kernel to start")
                    page.wait_for_timeout(250)

                cells = _run_and_wait(page, "Run All Cells", deadline)
                expected_errors = []
                while True:
                    failing = [i for i, cell in enumerate(cells)
                               if any(_error_text(e) for e in cell["errors"])
                               and i not in expected_errors]
                    if not failing:
                        break
                    first = failing[0]
                    texts = [_error_text(e) for e in cells[first]["errors"]]
                    if not (student_version
                            and all(EXERCISE_ERROR.search(t) for t in texts if t)):
                        break
                    # an unsolved exercise: carry on below it, like a learner would
                    expected_errors.append(first)
                    if first + 1 >= len(cells):
                        break
                    page.locator(".jp-Notebook .jp-Cell").nth(first + 1).locator(
                        ".jp-InputPrompt").first.click()
                    cells = _run_and_wait(page, "Run Selected Cell and All Below",
                                          deadline)

                graphs = [i for i, cell in enumerate(cells)
                          if cell["inlineSvgNodes"]
                          or any(_svg_is_graph(src) for src in cell["svgs"])]
                plots = [i for i, cell in enumerate(cells) if cell["pngs"]]
                errors = [
                    f"cell {i + 1}:\n{cell['source']}\n---\n{_error_text(error)}"
                    for i, cell in enumerate(cells) if i not in expected_errors
                    for error in cell["errors"] if _error_text(error)
                ]
                not_run = [i + 1 for i, cell in enumerate(cells)
                           if cell["code"] and cell["source"].strip()
                           and not re.fullmatch(r"\[\d+\]:", cell["prompt"])]

                # show the first graph on the screenshot
                if graphs:
                    page.locator(".jp-Notebook .jp-Cell").nth(graphs[0]).locator(
                        ".jp-OutputArea-output").first.scroll_into_view_if_needed()
                SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(SCREENSHOT), full_page=True)
            finally:
                browser.close()
    finally:
        _stop(process)

    problems = []
    if errors:
        problems.append("cells showed errors:\n\n" + "\n\n".join(errors))
    if not_run:
        problems.append(f"code cells that never ran: {not_run}")
    if not graphs:
        problems.append("no computation graph (a Graphviz SVG with nodes) was shown")
    if not plots:
        problems.append("no plot (a PNG image) was shown")
    if problems:
        pytest.fail(f"{lesson.relative_to(lesson.parent.parent)} in JupyterLab "
                    f"(screenshot: {SCREENSHOT.relative_to(ROOT)}):\n"
                    + "\n".join(problems), pytrace=False)
