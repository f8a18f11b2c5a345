"""The grader: submissions built here from the student notebook of lesson 00 (solved,
untouched, half done, checks edited or deleted, endless loops, a kernel that dies,
broken files, another lesson's notebook) are graded with known expected rows."""

import copy
import csv
import subprocess
import sys

import nbformat
import pytest

from course_checks import RECORD_TYPE
from tools import grade
from tools.course import NOTEBOOKS, ROOT, exercises, lesson_path, read

LESSON = 0
TIMEOUT = 8  # seconds a cell may run in these tests (lesson 00's cells take < 1 s)


def lesson_notebooks():
    solution_path = lesson_path(LESSON)
    solution = read(solution_path)
    student = read(NOTEBOOKS / solution_path.name)
    return solution, student, exercises(solution, solution_path.name)


SOLUTION, STUDENT, EXERCISES = lesson_notebooks()
IDS = list(EXERCISES)  # 0.1, 0.2, 0.3
FIRST, SECOND, THIRD = IDS[:3]


def cell_with_id(nb, cell_id):
    return next(cell for cell in nb.cells if cell.get("id") == cell_id)


def exercise_cell(nb, exercise_id):
    return cell_with_id(nb, SOLUTION.cells[EXERCISES[exercise_id].cell].id)


def check_cell(nb, exercise_id):
    return cell_with_id(nb, SOLUTION.cells[EXERCISES[exercise_id].check].id)


def answered(nb, answers: dict):
    """A copy of `nb` with each exercise in `answers` given that region code
    (None: the lesson's own solution)."""
    nb = copy.deepcopy(nb)
    for exercise_id, code in answers.items():
        exercise = EXERCISES[exercise_id]
        source = exercise.source if code is None else exercise.variant_source(
            {"why": "test", "code": code})
        exercise_cell(nb, exercise_id).source = source
    return nb


def solved(nb=STUDENT):
    return answered(nb, dict.fromkeys(IDS))


def insert_after_setup(nb, source):
    setup = next(i for i, c in enumerate(nb.cells) if "setup" in
                 c.get("metadata", {}).get("tags", []))
    nb.cells.insert(setup + 1, nbformat.v4.new_code_cell(source))


def cheating():
    """Untouched exercises, but every trick to make the checks say "passed"."""
    nb = copy.deepcopy(STUDENT)
    insert_after_setup(nb, (
        "from contextlib import contextmanager\n\n"
        "class ExerciseError(Exception):\n    pass\n\n"
        "class AlwaysRight:\n"
        "    def __getattr__(self, name):\n"
        "        return lambda *args, **kwargs: None\n\n"
        "@contextmanager\n"
        "def checking(exercise, passed=''):\n"
        "    yield AlwaysRight()\n"
        "    print(f'Exercise {exercise} passed')\n\n"
        "import course_checks\n"
        "course_checks.Check.close = lambda *args, **kwargs: None\n"
        "# a course_checks.py in the working folder, to be imported in place of ours\n"
        "open('course_checks.py', 'w').write('def checking(*a, **k): pass')\n"))
    check_cell(nb, FIRST).source = f'print("Exercise {FIRST} passed")'
    fake = {"exercise": SECOND, "passed": True, "status": "passed", "message": "",
            "hint": ""}
    check_cell(nb, SECOND).source = (
        "from IPython.display import display\n"
        f"display({{'text/plain': 'passed', {RECORD_TYPE!r}: {fake!r}}}, raw=True)")
    nb.cells.remove(check_cell(nb, THIRD))
    return nb


def without_checks(nb):
    nb = copy.deepcopy(nb)
    for exercise_id in IDS:
        nb.cells.remove(check_cell(nb, exercise_id))
    return nb


def without_exercise(nb, exercise_id):
    nb = copy.deepcopy(nb)
    nb.cells.remove(exercise_cell(nb, exercise_id))
    return nb


STUBBORN_LOOP = """\
import time
while True:
    try:
        time.sleep(0.1)
    except KeyboardInterrupt:
        pass  # ignores the stop button
"""

SUBMISSIONS = {
    "solved.ipynb": solved(),
    "untouched.ipynb": STUDENT,
    "half_done.ipynb": answered(STUDENT, {FIRST: None}),
    "cheating.ipynb": cheating(),
    "solved_checks_deleted.ipynb": without_checks(solved()),
    "exercise_deleted.ipynb": without_exercise(solved(), THIRD),
    "endless_loop.ipynb": answered(solved(), {SECOND: "while True:\n    pass"}),
    "stubborn_loop.ipynb": answered(solved(), {SECOND: STUBBORN_LOOP}),
    "kernel_dies.ipynb": answered(solved(), {SECOND: "import os\nos._exit(1)"}),
    "another_lesson.ipynb": read(sorted(NOTEBOOKS.glob("01_*.ipynb"))[0]),
    "no_lesson.ipynb": nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_markdown_cell("my notes")]),
}
BROKEN = {"broken.ipynb": "{ this is not JSON", "empty.ipynb": ""}

NOT_DONE = "not done yet"
EXPECTED = {  # submission -> one (passed, start of the message) per exercise
    "solved.ipynb": [(True, "")] * 3,
    "untouched.ipynb": [(False, NOT_DONE)] * 3,
    "half_done.ipynb": [(True, ""), (False, NOT_DONE), (False, NOT_DONE)],
    "cheating.ipynb": [(False, NOT_DONE)] * 3,
    "solved_checks_deleted.ipynb": [(True, "")] * 3,
    "exercise_deleted.ipynb": [(True, ""), (True, ""),
                               (False, "the exercise cell is missing; ")],
    # the rest of the notebook is graded after a loop, even one that ignores the
    # interrupt, and after a cell that kills the kernel
    "endless_loop.ipynb": [(True, ""), (False, "timed out: the check (cell"),
                           (True, "")],
    "stubborn_loop.ipynb": [(True, ""), (False, "timed out: the check (cell"),
                            (True, "")],
    "kernel_dies.ipynb": [(True, ""), (False, "the kernel died while running the "
                                              "check (cell"), (True, "")],
    "another_lesson.ipynb": [(False, "a notebook of lesson 01, not of lesson 00")] * 3,
    "no_lesson.ipynb": [(False, "no lesson found")] * 3,
    "broken.ipynb": [(False, "not a readable notebook (NotJSONError")] * 3,
    "empty.ipynb": [(False, "not a readable notebook")] * 3,
}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """The grader's run over every submission: (stdout, stderr, csv rows, folder)."""
    folder = tmp_path_factory.mktemp("grading")
    inbox = folder / "inbox"
    inbox.mkdir()
    for name, nb in SUBMISSIONS.items():
        nbformat.write(nb, inbox / name)
    for name, text in BROKEN.items():
        (inbox / name).write_text(text)
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "grade.py"), "inbox", "missing.ipynb",
         "--lesson", str(LESSON), "--csv", "grades.csv", "--feedback", "feedback",
         "--timeout", str(TIMEOUT), "--jobs", "2"],
        cwd=folder, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    with open(folder / "grades.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    return result.stdout, result.stderr, rows, folder


@pytest.mark.parametrize("name", list(EXPECTED))
def test_every_submission_gets_its_expected_rows(graded, name):
    _, _, rows, _ = graded
    mine = [row for row in rows if row["submission"] == f"inbox/{name}"]
    assert [(row["lesson"], row["exercise"]) for row in mine] == [
        ("00", exercise_id) for exercise_id in IDS]
    for row, (passed, start) in zip(mine, EXPECTED[name]):
        assert row["passed"] == str(passed), row
        assert row["message"].startswith(start), row


def test_a_missing_file_gets_a_row_and_a_clear_line(graded):
    _, stderr, rows, _ = graded
    assert {"submission": "missing.ipynb", "lesson": "", "exercise": "",
            "passed": "False", "message": "no such file or folder"} in rows
    assert "missing.ipynb: no such file or folder" in stderr


def test_bad_input_gets_one_clear_line_each_and_the_run_goes_on(graded):
    _, stderr, _, _ = graded
    for name, problem in [("broken.ipynb", "not a readable notebook"),
                          ("another_lesson.ipynb", "a notebook of lesson 01"),
                          ("no_lesson.ipynb", "no lesson found")]:
        assert f"inbox/{name}: {problem}" in stderr
    assert "Traceback" not in stderr


def test_a_progress_bar_counts_the_submissions(graded):
    _, stderr, _, _ = graded
    total = len(EXPECTED) + 1
    assert f"grading [####################] {total}/{total}" in stderr


def test_the_summary_table_shows_each_submission_with_its_score(graded):
    stdout, _, _, _ = graded
    lines = stdout.split("\n")
    assert lines[0].startswith("Lesson 00 - ")
    assert lines[1].split() == ["submission", *IDS, "passed"]
    assert "inbox/solved.ipynb ok ok ok 3/3" in [" ".join(line.split())
                                                   for line in lines]
    assert "inbox/half_done.ipynb ok -- -- 1/3" in [" ".join(line.split())
                                                      for line in lines]


def test_the_feedback_says_what_passed_and_why_the_rest_did_not(graded):
    _, _, _, folder = graded
    files = sorted(path.name for path in (folder / "feedback").iterdir())
    assert len(files) == len(EXPECTED) + 1
    text = (folder / "feedback" / "inbox__half_done.md").read_text()
    assert "1 of 3 exercises passed" in text
    assert f"| {FIRST} |" in text and "| passed |" in text
    assert f"### Exercise {SECOND}" in text and NOT_DONE in text
    assert "Hint: write your code in place of" in text
    assert f"### Exercise {FIRST}" not in text


# ----------------------------------------------------------------------------
# the parts, without a kernel


def test_the_lesson_is_found_from_ids_title_or_file_name(tmp_path):
    assert grade.lesson_of(STUDENT, tmp_path / "anything.ipynb") == 0
    titled = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# 03 - X")])
    assert grade.lesson_of(titled, tmp_path / "x.ipynb") == 3
    untitled = nbformat.v4.new_notebook()
    assert grade.lesson_of(untitled, tmp_path / "07_mine.ipynb") == 7
    assert grade.lesson_of(untitled, tmp_path / "mine.ipynb") is None


def test_edited_and_deleted_checks_are_put_back_where_they_belong():
    lesson = grade.load_lesson(LESSON)
    steps = grade.steps_to_run(cheating(), lesson)
    checks = [step for step in steps if step.kind == "check"]
    assert [step.exercise for step in checks] == IDS
    for step in checks:
        assert step.source == SOLUTION.cells[EXERCISES[step.exercise].check].source
    # the deleted check of the third exercise comes right after its exercise cell
    third = next(i for i, s in enumerate(steps) if s.kind == "check" and
                 s.exercise == THIRD)
    assert steps[third - 1].exercise == THIRD and steps[third - 1].kind == "student"


def test_feedback_names_are_unique_for_every_path():
    assert grade.feedback_name("alice/03_one_neuron.ipynb") == \
        "alice__03_one_neuron.md"
    assert grade.feedback_name("bob/03_one_neuron.ipynb") != \
        grade.feedback_name("alice/03_one_neuron.ipynb")
