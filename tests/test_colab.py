"""The setup cell makes a lesson work when Google Colab opens it alone.

Colab cannot be reached from here, so the test builds a stand-in:
- a fresh virtual environment in which the course is *not* installed (it borrows
  Jupyter's kernel packages from this environment, nothing of the course);
- a `google.colab` module that the kernel imports as it starts, as Colab's does;
- a `dot` program on PATH, as Colab has Graphviz installed;
- an empty working folder, as a notebook opened from GitHub has no repository
  beside it.
The lesson's real setup cell runs there, with the repository's address replaced by
this checkout, and then `draw_dot` must draw.
"""

import json
import os
import shutil
import site
import subprocess
import sys
import textwrap

import nbformat
import pytest

from graph import find_dot
from tools.course import (
    ROOT,
    all_solutions,
    course_config,
    install_target,
    kernel_client,
    tags,
)

DRAW_SOMETHING = textwrap.dedent("""
    import graph

    class Leaf:
        def __init__(self, data, children=(), op=""):
            self.data, self._prev, self._op = data, children, op

    picture = draw_dot(Leaf(4.0, (Leaf(2.0), Leaf(2.0)), "+")).pipe(format="svg")
    print(graph.__file__)
    print(picture[:5].decode(), b"data 4.0000" in picture)

    # after the course, its engine is a package like any other
    import backprop
    from backprop import MLP, Value
    print(backprop.__file__, (Value(2.0) * 3).data, MLP.__name__)
""")


def setup_cell(lesson) -> str:
    nb = nbformat.read(lesson, as_version=4)
    return next(c.source for c in nb.cells if "setup" in tags(c))


def run_cells(sources, kernel_name, cwd, env):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    # the install inside the setup cell may take minutes on a slow mirror
    client = kernel_client(nb, cwd, kernel_name=kernel_name, timeout=300)
    saved = os.environ.copy()
    os.environ.update(env)
    try:
        client.execute()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return ["".join(o.get("text", "") for o in c.outputs) for c in nb.cells]


@pytest.fixture
def colab_like(tmp_path):
    """A kernel named `colab-like` with the stand-ins above; returns its env."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    venv_site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        capture_output=True, text=True, check=True).stdout.strip()
    # a bare path line: Jupyter's packages become importable, but this
    # environment's own .pth files (the course's editable install among them)
    # are not run, so `graph` is not importable until the setup cell installs it
    kernel_packages = [p for p in site.getsitepackages() if "site-packages" in p]
    with open(os.path.join(venv_site, "borrowed_kernel_packages.pth"), "w") as file:
        file.write("\n".join(kernel_packages) + "\n")

    fake = tmp_path / "fake_colab"
    (fake / "google" / "colab").mkdir(parents=True)
    (fake / "google" / "colab" / "__init__.py").write_text('"""Not Colab."""\n')
    startup = tmp_path / "ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (startup / "00-colab.py").write_text(
        f"import sys\nsys.path.append({str(fake)!r})\nimport google.colab\n")

    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "dot").symlink_to(find_dot())

    kernels = tmp_path / "jupyter" / "kernels" / "colab-like"
    kernels.mkdir(parents=True)
    (kernels / "kernel.json").write_text(json.dumps({
        "argv": [str(python), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Colab stand-in", "language": "python"}))
    env = {
        "JUPYTER_PATH": str(tmp_path / "jupyter"),
        "IPYTHONDIR": str(tmp_path / "ipython"),
        "PATH": f"{tools}{os.pathsep}{venv / 'bin'}{os.pathsep}/usr/bin:/bin",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    empty = tmp_path / "opened_from_github"
    empty.mkdir()
    return env, empty, venv


def test_setup_cell_installs_the_helpers_in_colab_and_draw_dot_works(colab_like):
    env, empty, venv = colab_like
    cell = setup_cell(all_solutions()[1])
    address = install_target(course_config())
    assert address in cell, "the setup cell installs from the configured address"
    # the repository as Colab would fetch it, but from this checkout
    source_copy = empty.parent / "repository"
    shutil.copytree(ROOT, source_copy, ignore=shutil.ignore_patterns(
        ".venv", ".git", "build", "*.egg-info", "__pycache__", "test-output"))
    cell = cell.replace(address, str(source_copy))

    before, setup_out, drawn = run_cells(
        ["import importlib.util\n"
         "print(importlib.util.find_spec('graph') is None)", cell, DRAW_SOMETHING],
        "colab-like", empty, env)
    assert before.strip() == "True", "the course must not be installed beforehand"
    installed, svg_check, engine = drawn.strip().split("\n")[-3:]
    assert installed.startswith(str(venv)), f"graph came from {installed}"
    assert svg_check == "<?xml True"
    engine_file, product, name = engine.split()
    assert engine_file.startswith(str(venv)) and (product, name) == ("6.0", "MLP")


def test_setup_cell_does_nothing_extra_outside_colab(tmp_path):
    cell = setup_cell(all_solutions()[1])
    outputs = run_cells([cell, "import sys\nprint('google.colab' in sys.modules)"],
                        "python3", tmp_path, {})
    assert outputs == ["", "False\n"], "no install, no output, outside Colab"
