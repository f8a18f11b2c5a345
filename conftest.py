"""How the test suite runs the notebooks with nbval.

- Solutions (`solutions/`) run in strict mode: their stored text outputs must match a
  fresh run. Pictures (SVG graphs, PNG plots) are not compared: their bytes depend
  on the Graphviz and Matplotlib builds, not on the lesson.
- Student notebooks (`notebooks/`) have no stored outputs, and every cell must run
  without an error, the check cells too: a check that fails on a stub shows its
  failure without raising (course_checks), so "Run All" reaches the last cell.
  tests/test_exercises.py proves that each check does show a failure there.
- Under pytest-xdist, run with `--dist loadscope`: it keeps every cell of a notebook
  on the same worker, in order, as they share one kernel.
"""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PICTURES = ("image/svg+xml", "image/png", "image/jpeg")


def is_nbval_cell(item) -> bool:
    return type(item).__name__ == "IPyNbCell"


def pytest_itemcollected(item):
    # runs as each item is collected, before any hook reorders or groups items
    if not is_nbval_cell(item):
        return
    notebook = item.parent
    if not set(PICTURES) <= set(notebook.skip_compare):
        notebook.skip_compare = tuple(notebook.skip_compare) + PICTURES
    path = Path(str(item.fspath))
    if path.parent.name == "notebooks":
        item.options["check"] = False

