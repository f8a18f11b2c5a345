"""The build tool: generated files are current, stubs and badges are right, and
mistakes in a solution notebook are reported with the notebook and the cell."""

import shutil
import subprocess
import sys

import nbformat
import pytest

from tools.build import (
    ROOT,
    BuildError,
    all_solutions,
    badge_markdown,
    course_config,
    exercises,
    replace_regions,
    stub_code,
    tags,
)

BUILD = [sys.executable, str(ROOT / "tools" / "build.py")]


def run_check(root):
    return subprocess.run([sys.executable, str(root / "tools" / "build.py"), "--check"],
                          capture_output=True, text=True, cwd=root, timeout=120)


@pytest.fixture
def repo_copy(tmp_path):
    """The parts of the repository that the build tool reads, in a scratch folder."""
    for name in ("solutions", "notebooks", "tools", "media"):
        shutil.copytree(ROOT / name, tmp_path / name,
                        ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    return tmp_path


def test_generated_files_are_current():
    result = subprocess.run(BUILD + ["--check"], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_names_a_solution_edited_without_rebuilding(repo_copy):
    path = repo_copy / "solutions" / all_solutions()[0].name
    nb = nbformat.read(path, as_version=4)
    code = next(c for c in nb.cells if c.cell_type == "code" and not tags(c))
    code.source += "\nprint('an edit that was never executed')"
    nbformat.write(nb, path)
    result = run_check(repo_copy)
    assert result.returncode == 1
    assert f"solutions/{path.name}" in result.stdout


def test_a_fork_changes_every_badge_with_one_line(repo_copy):
    pyproject = repo_copy / "pyproject.toml"
    text = pyproject.read_text()
    old = course_config()["repository"]
    pyproject.write_text(text.replace(f'repository = "{old}"',
                                      'repository = "https://github.com/someone/fork"'))
    result = run_check(repo_copy)
    assert result.returncode == 1
    for path in all_solutions():
        assert f"notebooks/{path.name}" in result.stdout


def test_every_badge_points_at_the_configured_address_and_its_own_file():
    config = course_config()
    for folder in ("solutions", "notebooks"):
        for path in sorted((ROOT / folder).glob("*.ipynb")):
            title = nbformat.read(path, as_version=4).cells[0].source
            assert badge_markdown(config, f"{folder}/{path.name}") in title, path


def test_student_notebooks_hold_no_solutions_notes_or_outputs():
    for path in all_solutions():
        student = nbformat.read(ROOT / "notebooks" / path.name, as_version=4)
        for cell in student.cells:
            assert "instructor" not in tags(cell), path.name
            assert "### BEGIN SOLUTION" not in cell.source, path.name
            assert "wrong_answers" not in cell.metadata.get("course", {}), path.name
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None


def test_solutions_are_executed_in_order():
    for path in all_solutions():
        nb = nbformat.read(path, as_version=4)
        counts = [c.execution_count for c in nb.cells if c.cell_type == "code"]
        assert counts == list(range(1, len(counts) + 1)), path.name


def notebook_with(source, metadata=None):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# 99 - Test"),
                nbformat.v4.new_code_cell(source, metadata=metadata or {})]
    return nb


def test_stub_keeps_the_region_indentation():
    source = ("class Grown(Value):\n    def __sub__(self, other):\n"
              "        ### BEGIN SOLUTION\n        return self + (-other)\n"
              "        ### END SOLUTION\n")
    stub = stub_code({"id": "1.1", "task": "return self - other"})
    assert replace_regions(source, stub, "test") == (
        "class Grown(Value):\n    def __sub__(self, other):\n"
        '        raise NotImplementedError("Exercise 1.1: return self - other")\n')


@pytest.mark.parametrize("source, complaint", [
    ("def f():\n    ### BEGIN SOLUTION\n    return 1\n", "never closed"),
    ("def f():\n    ### BEGIN SOLUTION\n    ### BEGIN SOLUTION\n"
     "    ### END SOLUTION\n    ### END SOLUTION\n", "cannot nest"),
    ("def f():\n    return 1\n    ### END SOLUTION\n", "without a"),
])
def test_malformed_markers_name_the_notebook_and_cell(source, complaint):
    meta = {"course": {"exercise": "9.1", "task": "t"}}
    with pytest.raises(BuildError, match=complaint) as error:
        exercises(notebook_with(source, meta), "99_test.ipynb")
    assert "99_test.ipynb, cell 2" in str(error.value)


def test_an_exercise_without_a_check_is_refused():
    source = "def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION\n"
    meta = {"course": {"exercise": "9.1", "task": "return 1"}}
    with pytest.raises(BuildError, match="no check cell"):
        exercises(notebook_with(source, meta), "99_test.ipynb")
