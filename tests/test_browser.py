"""End to end: a lesson and the backprop stepper in real JupyterLab, headless Chromium.

Each test starts JupyterLab on 127.0.0.1 in a temporary folder, opens a notebook in
Debian's Chromium driven by Playwright, runs every cell from the Run menu as a learner
would, and checks what the learner sees.

- A student notebook (lesson 03): "Run All" reaches the last cell; the only sign of
  an unsolved exercise is its check's failure box (course_checks never raises), one
  per exercise; a computation graph drawn by `draw_dot` (Graphviz SVG) and a
  Matplotlib plot (PNG) are shown. Screenshot: test-output/jupyterlab.png.
- The stepper (`graph.step_backward`) of lesson 05 (its solution, up to the stepper
  cell), the course's widest: the buttons, the arrow keys and the slider change the
  frame shown, the pixels of the highlighted node move, the root keeps its colour,
  and the player fits a 1080p screen at 100 % zoom with its text at least 12 px
  high. Screenshots:
  test-output/stepper-*.png. The same HTML with scripts off shows its first and last
  frames and says how to make it clickable: test-output/stepper-static.png.

Needs: `apt-get install chromium` and `pip install playwright` (never
`playwright install`: it downloads a browser of its own). Without them the tests are
skipped, unless the environment variable CI is set: then they fail.
"""

from __future__ import annotations

import base64
import contextlib
import importlib.util
import io
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
import urllib.parse
import urllib.request
from pathlib import Path

import nbformat
import pytest

from graph import ROOT_FILL, RULE_RAN, step_backward
from tools.course import lesson_namespace, lesson_path, read

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
# seconds for a whole test, JupyterLab's start and shutdown included
TIME_LIMIT = 90
OUTPUT = ROOT / "test-output"
SCREENSHOT = OUTPUT / "jupyterlab.png"
# what a browser shows of a 1080p screen at 100 % zoom, below its tabs and address bar
PROJECTOR = {"width": 1920, "height": 960}
# a stepper frame readable from the back of a room on it: text at least 12 px high
# (the boxes' 12 pt font drawn at 0.75 of its size or more), shrunk to 0.65 at most
LEGIBLE_TEXT = 12
LEGIBLE_SCALE = 0.65

# the failure box of a check (course_checks), as its text reads on the page
CHECK_FAILURE = re.compile(r"Exercise (\d+\.\d+) (failed|is not done yet)")

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
  const pages = Array.from(cell.querySelectorAll(
    '.jp-OutputArea-output[data-mime-type="text/html"]')).map(out => out.innerText);
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
    pages: pages,
  };
})
"""


def _require_tools() -> None:
    missing = []
    if not Path(CHROMIUM).is_file():
        missing.append("Chromium at /usr/bin/chromium (apt-get install chromium)")
    if importlib.util.find_spec("playwright") is None:
        missing.append("the playwright package (pip install playwright)")
    if missing:
        reason = "the browser test needs " + " and ".join(missing)
        if os.environ.get("CI"):
            pytest.fail(reason + " (CI is set, so it may not be skipped)",
                        pytrace=False)
        pytest.skip(reason)


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


def _workspace(tmp_path: Path, notebook: Path) -> Path:
    """A throwaway copy of the notebook, the pictures, and JupyterLab's own folders."""
    root = tmp_path / "course"
    folder = root / notebook.parent.name
    folder.mkdir(parents=True)
    shutil.copy2(notebook, folder / notebook.name)
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


@contextlib.contextmanager
def _notebook_in_jupyterlab(tmp_path: Path, notebook: Path, deadline: Deadline,
                            viewport: dict):
    """JupyterLab with `notebook` open in Chromium and its kernel idle: the page."""
    from playwright.sync_api import sync_playwright

    root = _workspace(tmp_path, notebook)
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
                page = browser.new_context(viewport=viewport).new_page()
                # one step of the page may take 30 s at most, and never past the end
                page.set_default_timeout(
                    min(30.0, deadline.left("opening the notebook")) * 1000)
                relative = f"{notebook.parent.name}/{notebook.name}"
                page.goto(f"http://127.0.0.1:{port}/lab/tree/{relative}?token={token}")
                page.locator(".jp-Notebook .jp-Cell").first.wait_for()
                # run nothing before the kernel is up: JupyterLab would ask for one
                while _kernel_state(page) != "Idle":
                    deadline.left("waiting for the kernel to start")
                    page.wait_for_timeout(250)
                yield page
            finally:
                browser.close()
    finally:
        _stop(process)


def _run_menu(page, entry: str) -> None:
    """Click Run in the menu bar, then the entry labelled `entry`."""
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name=entry, exact=True).click()


def _kernel_state(page) -> str:
    """What the status bar says of the kernel: "Idle", "Busy", "Connecting", ..."""
    text = page.locator("#jp-main-statusbar .jp-StatusBar-TextItem",
                        has_text="|").first.inner_text()
    return text.rpartition("|")[2].strip()


def _run_all(page, deadline: Deadline) -> list[dict]:
    """Run All Cells; wait until they ran and the kernel is idle; what each shows."""
    before = [cell["prompt"] for cell in page.evaluate(CELLS_JS)]
    _run_menu(page, "Run All Cells")
    quiet = 0
    while quiet < 3:  # the same quiet state three polls in a row
        deadline.left("waiting for Run All to finish")
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


def _exercise_ids(notebook: Path) -> set[str]:
    ids = set()
    for cell in nbformat.read(notebook, as_version=4).cells:
        exercise = cell.get("metadata", {}).get("course", {}).get("exercise")
        if exercise:
            ids.add(str(exercise))
    return ids


def test_lesson_runs_to_the_end_and_shows_its_pictures_in_jupyterlab(tmp_path):
    _require_tools()
    deadline = Deadline(TIME_LIMIT)
    lesson = _lesson_path()
    student_version = lesson.parent.name == "notebooks"
    with _notebook_in_jupyterlab(tmp_path, lesson, deadline,
                                 {"width": 1400, "height": 1800}) as page:
        cells = _run_all(page, deadline)
        graphs = [i for i, cell in enumerate(cells)
                  if cell["inlineSvgNodes"]
                  or any(_svg_is_graph(src) for src in cell["svgs"])]
        # show the first graph on the screenshot
        if graphs:
            page.locator(".jp-Notebook .jp-Cell").nth(graphs[0]).locator(
                ".jp-OutputArea-output").first.scroll_into_view_if_needed()
        OUTPUT.mkdir(exist_ok=True)
        page.screenshot(path=str(SCREENSHOT), full_page=True)

    plots = [i for i, cell in enumerate(cells) if cell["pngs"]]
    errors = [f"cell {i + 1}:\n{cell['source']}\n---\n{_error_text(error)}"
              for i, cell in enumerate(cells)
              for error in cell["errors"] if _error_text(error)]
    not_run = [i + 1 for i, cell in enumerate(cells)
               if cell["code"] and cell["source"].strip()
               and not re.fullmatch(r"\[\d+\]:", cell["prompt"])]
    failed_checks = {match.group(1) for cell in cells for text in cell["pages"]
                     for match in [CHECK_FAILURE.search(text)] if match}
    expected_failures = _exercise_ids(lesson) if student_version else set()

    problems = []
    if errors:
        problems.append("cells showed errors:\n\n" + "\n\n".join(errors))
    if not_run:
        problems.append(f"code cells that never ran (Run All stopped early?): "
                        f"{not_run}")
    if failed_checks != expected_failures:
        problems.append(f"exercises whose check showed a failure box: "
                        f"{sorted(failed_checks)}, expected "
                        f"{sorted(expected_failures)}")
    if not graphs:
        problems.append("no computation graph (a Graphviz SVG with nodes) was shown")
    if not plots:
        problems.append("no plot (a PNG image) was shown")
    if problems:
        pytest.fail(f"{lesson.relative_to(lesson.parent.parent)} in JupyterLab "
                    f"(screenshot: {SCREENSHOT.relative_to(ROOT)}):\n"
                    + "\n".join(problems), pytrace=False)


# ----------------------------------------------------------------------------
# the stepper


def _stepper_notebook(folder: Path) -> Path:
    """Lesson 05 as lecturers teach it (solutions/), up to its stepper cell.

    Its network has 23 values, 17 columns from the inputs to the cost: the widest
    player of the course, shrunk the most to fit a screen.
    """
    lesson = read(lesson_path(5))
    calls = [index for index, cell in enumerate(lesson.cells)
             if cell.cell_type == "code" and "step_backward(" in cell.source]
    assert calls, "lesson 05 has no cell that calls step_backward"
    lesson.cells = lesson.cells[:calls[0] + 1]
    for cell in lesson.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    path = folder / "stepper.ipynb"
    nbformat.write(lesson, path)
    return path


PLAYER_JS = """
player => {
  const shown = Array.from(player.querySelectorAll('figure'))
    .filter(figure => figure.getBoundingClientRect().height > 0);
  const panel = player.closest('.jp-NotebookPanel-notebook') ||
    player.closest('.jp-Notebook');
  const box = player.getBoundingClientRect(), room = panel.getBoundingClientRect();
  // how big the frame is drawn: Graphviz measures in pt, so 1 pt of the
  // viewBox is 4/3 px at full size; a box's text is its font size that many times
  const svg = shown.length ? shown[0].querySelector('svg') : null;
  const text = svg ? svg.querySelector('g.node text') : null;
  const scale = svg ? svg.getBoundingClientRect().width /
    (svg.viewBox.baseVal.width * 4 / 3) : 0;
  return {
    step: Number(player.dataset.step),
    slider: Number(player.querySelector('.bp-slider').value),
    count: player.querySelectorAll('figure').length,
    shown: shown.map(figure => figure.querySelector('figcaption').innerText),
    notes: player.querySelectorAll('.bp-note').length,
    width: box.width, height: box.height,
    roomWidth: room.width, roomHeight: room.height,
    outputWidth: player.parentElement.getBoundingClientRect().width,
    scale: scale,
    textPixels: text ? Number(text.getAttribute('font-size')) *
      text.getScreenCTM().a : 0,
    fullWidth: svg && svg.dataset.fullSize ?
      Number(svg.dataset.fullSize.split(' ')[0]) : null,
  };
}
"""


def _centre(png: bytes, colour: str) -> tuple[float, float] | None:
    """Where the pixels of `colour` ("#RRGGBB") are, on average."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    target = tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))
    points = [(x, y) for x in range(image.width) for y in range(image.height)
              if sum(abs(a - b) for a, b in zip(image.getpixel((x, y)), target)) < 24]
    if not points:
        return None
    return (sum(x for x, _ in points) / len(points),
            sum(y for _, y in points) / len(points))


def test_stepper_clicks_through_in_jupyterlab(tmp_path):
    _require_tools()
    deadline = Deadline(TIME_LIMIT)
    notebook = _stepper_notebook(tmp_path)
    shots, states = {}, {}
    with _notebook_in_jupyterlab(tmp_path, notebook, deadline, PROJECTOR) as page:
        cells = _run_all(page, deadline)
        player = page.locator(".backward-steps")
        player.locator(".bp-controls").wait_for()  # the script has run
        player.scroll_into_view_if_needed()

        def look(name: str) -> None:
            states[name] = player.evaluate(PLAYER_JS)
            player.screenshot(path=str(OUTPUT / f"stepper-{name}.png"))
            # the frame alone: the buttons look different under the mouse
            shots[name] = player.locator("figure:visible").screenshot()

        OUTPUT.mkdir(exist_ok=True)
        look("1-start")
        player.locator(".bp-next").click()
        look("2-next")
        player.locator(".bp-next").click()
        player.locator(".bp-next").click()
        player.locator(".bp-previous").click()
        look("3-next-next-previous")
        player.locator("figure:visible").click()  # the frame: keys go to the player
        page.keyboard.press("ArrowRight")
        look("4-right-key")
        page.keyboard.press("ArrowLeft")
        page.keyboard.press("ArrowLeft")
        look("5-left-key-twice")
        slider = player.locator(".bp-slider")
        box = slider.bounding_box()
        page.mouse.click(box["x"] + box["width"] - 2, box["y"] + box["height"] / 2)
        look("6-slider-end")
        page.keyboard.press("ArrowRight")  # past the last step: stays there
        look("7-right-at-end")
        page.screenshot(path=str(OUTPUT / "stepper-jupyterlab.png"))
        # frames shrunk to fit: "full size" shows them unshrunk, and back
        picture = player.locator("figure:visible svg")
        widths = [picture.bounding_box()["width"]]
        if states["1-start"]["fullWidth"]:
            for _ in range(2):
                player.locator(".bp-zoom").click()
                widths.append(picture.bounding_box()["width"])
    # what the player showed at each step, and its size against the notebook's
    (OUTPUT / "stepper-states.json").write_text(json.dumps(states, indent=1))

    errors = [_error_text(error) for cell in cells for error in cell["errors"]
              if _error_text(error)]
    assert not errors, errors
    count = states["1-start"]["count"]
    assert count == 14, "lesson 05's network has 14 nodes made by an operation"
    expected = {"1-start": 1, "2-next": 2, "3-next-next-previous": 3,
                "4-right-key": 4, "5-left-key-twice": 2, "6-slider-end": count,
                "7-right-at-end": count}
    for name, step in expected.items():
        state = states[name]
        assert (state["step"], state["slider"]) == (step, step), name
        # exactly one frame is visible, and it is the one the controls say
        assert len(state["shown"]) == 1, (name, state["shown"])
        assert state["shown"][0].startswith(f"Step {step} of {count}:"), name
        assert state["notes"] == 0, "the note for pages without scripts stays"
        # the player fits the notebook's part of a 1080p screen ...
        assert state["width"] <= state["roomWidth"], name
        assert state["height"] <= state["roomHeight"], (name, state)
        # ... and its numbers can be read from the back of a room
        assert state["scale"] >= LEGIBLE_SCALE, (name, state)
        assert state["textPixels"] >= LEGIBLE_TEXT, (name, state)

    # the pixels: each step looks different, the same step the same, the orange
    # rule moves back through the graph, and the pink root stays where it is
    assert len({shots[name] for name in expected}) == len(set(expected.values()))
    assert shots["2-next"] == shots["5-left-key-twice"]
    assert shots["6-slider-end"] == shots["7-right-at-end"]
    orange = {name: _centre(shots[name], RULE_RAN) for name in expected}
    assert all(orange.values()), orange
    # left to right: the inputs are left of the cost
    assert orange["2-next"][0] < orange["1-start"][0]
    assert orange["6-slider-end"][0] < orange["3-next-next-previous"][0]
    pink = {name: _centre(shots[name], ROOT_FILL) for name in expected}
    assert len(set(pink.values())) == 1 and None not in pink.values(), pink
    assert pink["1-start"][0] > orange["6-slider-end"][0]
    if states["1-start"]["fullWidth"]:
        full = states["1-start"]["fullWidth"]
        assert abs(widths[1] - full) < 1 and widths[2] == widths[0], (widths, full)


def test_stepper_without_scripts_shows_first_and_last_frame(tmp_path):
    _require_tools()
    from playwright.sync_api import sync_playwright

    Value = lesson_namespace(4)["Value"]
    a, b = Value(0.5, label="a"), Value(0.4, label="b")
    c = a * b + a
    c.label = "c"
    steps = step_backward((c * c).tanh())
    page_html = f"<html><body>{steps._repr_html_()}</body></html>"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM,
                                             args=CHROMIUM_ARGS, headless=True)
        try:
            # as GitHub's viewer or an untrusted notebook: no scripts run
            page = browser.new_context(java_script_enabled=False,
                                       viewport=PROJECTOR).new_page()
            page.set_content(page_html)
            OUTPUT.mkdir(exist_ok=True)
            page.screenshot(path=str(OUTPUT / "stepper-static.png"), full_page=True)
            captions = page.locator("figcaption").all_inner_texts()
            note = page.locator(".bp-note").inner_text()
            controls = page.locator(".bp-controls").count()
        finally:
            browser.close()
    assert [caption.split(":")[0] for caption in captions] == [
        "Step 1 of 4", "Step 4 of 4"]
    assert "run this cell again to click through all of them" in note
    assert controls == 0
