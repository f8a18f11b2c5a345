"""Every exercise's check passes the right answers and fails the wrong ones, and the
lessons survive what learners and lecturers do: Run All, and running a cell twice.

For each lesson (one test class, so that `pytest -n auto --dist loadscope` spreads
the lessons over the workers):

- `test_checks_pass_right_and_fail_wrong_answers`: one kernel runs the solution top
  to bottom. At each exercise cell it first tries every variant: the stub (what
  `notebooks/` holds), each stored wrong answer, each stored right answer, and the
  solution with its results turned into NumPy numbers. Each variant replaces the
  solution region, the cells up to the check run, and the outcome the check records
  (course_checks' JSON record) must be a failure naming the exercise for the stub
  and the wrong answers, a pass for the others. Then the real solution runs and its
  check must pass. The same run measures the lesson's execution time against its
  limits, as the CPU time of its kernel: wall-clock time would also count the waits
  of a machine busy with other tests, and the limits are about the lesson's own work.
- `test_every_solution_cell_runs_twice`: one kernel runs each code cell twice in a
  row, top to bottom, as a lecturer does: nothing may raise, no check may fail.
- `test_run_all_reaches_the_end`: "Run All" of the student notebook, in a fresh
  kernel, reaches the last cell: no cell raises, and each check shows its failure.
"""

import ast
import copy

import nbformat
import psutil
import pytest

from course_checks import RECORD_TYPE
from tools.course import (
    NOTEBOOKS,
    SOLUTIONS,
    all_solutions,
    exercises,
    kernel_client,
    lesson_number,
    read,
    region_code,
    replace_regions,
    tags,
)

# CPU seconds for a whole solution notebook on a 2-core machine (60 for the lessons
# that train or time training: the speed lesson and every lesson from training on),
# and for any one cell (a training cell a lecturer waits for in class)
TIME_LIMIT = {10: 60, 11: 60, 12: 60, 13: 60, 14: 60, 15: 60}
DEFAULT_TIME_LIMIT = 30
CELL_TIME_LIMIT = 15
MIN_WRONG_ANSWERS = 2
MIN_RIGHT_ANSWERS = 1

# defined in the kernel's builtins before a lesson runs: turns an exercise's results
# into NumPy numbers (floats into float64, ints into int64, inside lists, tuples and
# dicts too), so that a check that rejects a NumPy number is caught
AS_NUMPY = "__course_as_numpy__"
AS_NUMPY_SOURCE = f'''
import builtins as _builtins


def {AS_NUMPY}(value):
    import numpy as _np

    if isinstance(value, bool):
        return value
    if isinstance(value, float):
        return _np.float64(value)
    if isinstance(value, int):
        return _np.int64(value)
    if isinstance(value, (list, tuple)):
        return type(value)({AS_NUMPY}(item) for item in value)
    if isinstance(value, dict):
        return {{key: {AS_NUMPY}(item) for key, item in value.items()}}
    return value


_builtins.{AS_NUMPY} = {AS_NUMPY}
del _builtins, {AS_NUMPY}
'''


def error_text(cell) -> str | None:
    for output in cell.get("outputs", []):
        if output.output_type == "error":
            return f"{output.ename}: {output.evalue}"
    return None


def check_records(cell) -> list[dict]:
    """The outcomes course_checks recorded in a cell's outputs, in order."""
    return [output.data[RECORD_TYPE] for output in cell.get("outputs", [])
            if output.output_type == "display_data" and RECORD_TYPE in output.data]


def shown_text(record: dict, cell) -> str:
    """The text/plain the learner sees for `record`."""
    for output in cell.get("outputs", []):
        if output.get("data", {}).get(RECORD_TYPE) == record:
            return output.data.get("text/plain", "")
    return ""


def numpy_results_source(exercise) -> str | None:
    """The exercise cell with every `return` of its solution giving NumPy numbers.

    None when the solution region returns nothing (it sets attributes, say).
    """
    tree = ast.parse(region_code(exercise.source, exercise.where))
    returns = [node for node in ast.walk(tree)
               if isinstance(node, ast.Return) and node.value is not None]
    if not returns:
        return None
    for node in returns:
        node.value = ast.Call(ast.Name(AS_NUMPY, ast.Load()), [node.value], [])
    code = ast.unparse(ast.fix_missing_locations(tree))
    return replace_regions(exercise.source, code, exercise.where)


class LessonRunner:
    """Runs the cells of one notebook, one at a time, in one kernel."""

    def __init__(self, nb, cwd):
        # nbclient writes each executed cell back into the notebook it was given,
        # so the runner keeps its own pristine copy of the cells
        self.cells = copy.deepcopy(nb.cells)
        self.client = kernel_client(copy.deepcopy(nb), cwd, allow_errors=True)

    def cpu_seconds(self) -> float:
        """CPU time the kernel process has used so far (user and system)."""
        times = psutil.Process(self.client.km.provisioner.pid).cpu_times()
        return times.user + times.system

    def run(self, index, source=None):
        cell = copy.deepcopy(self.cells[index])
        if source is not None:
            cell.source = source
        cell.outputs = []
        return self.client.execute_cell(cell, index)

    def run_code(self, source):
        cell = nbformat.v4.new_code_cell(source)
        return self.client.execute_cell(cell, 0)


def outcome_problems(exercise, why, should_pass, check_cell) -> list[str]:
    """What is wrong with the outcome a check cell shows for one variant."""
    where = f"Exercise {exercise.id}: with {why}"
    error = error_text(check_cell)
    if error:
        return [f"{where}, the check cell raised (a check must show its failure, "
                f"not raise): {error}"]
    records = [r for r in check_records(check_cell) if r.get("exercise") == exercise.id]
    if not records:
        return [f"{where}, the check cell recorded no outcome for the exercise"]
    record = records[-1]
    if should_pass:
        if not record["passed"]:
            return [f"{where}, the check failed: {record['message']}"]
        return []
    if record["passed"]:
        return [f"{where}, the check passed"]
    problems = []
    if not shown_text(record, check_cell).startswith(f"Exercise {exercise.id}"):
        problems.append(f"{where}, the failure shown does not start with the "
                        f"exercise: {shown_text(record, check_cell)!r}")
    if why == "the stub" and record["status"] != "not done":
        problems.append(f"{where}, the check did not say the exercise is not done "
                        f"yet: {record['message']}")
    if record["message"].startswith("the check could not use"):
        problems.append(f"{where}, the check itself broke on the answer (check its "
                        f"type and shape first): {record['message']}")
    return problems


def try_variant(runner, nb, exercise, why, source, should_pass) -> list[str]:
    """Run cells from the exercise to its check with `source` in the exercise cell."""
    problems = []
    for index in range(exercise.cell, exercise.check):
        cell = runner.run(index, source if index == exercise.cell else None)
        error = error_text(cell)
        if error and "raises-exception" not in tags(nb.cells[index]):
            problems.append(f"Exercise {exercise.id}: with {why}, cell {index + 1} "
                            f"raised before the check: {error}")
    check_cell = runner.run(exercise.check)
    return problems + outcome_problems(exercise, why, should_pass, check_cell)


def variants_of(exercise) -> list[tuple[str, str, bool]]:
    """`(description, exercise cell source, should pass)` of every variant to try."""
    variants = exercise.variants()
    numpy_source = numpy_results_source(exercise)
    if numpy_source is not None:
        variants.append(("the solution's results as NumPy numbers", numpy_source, True))
    return variants


def variant_count_problems(exercise) -> list[str]:
    problems = []
    for kind, stored, least in [("wrong", exercise.wrong_answers, MIN_WRONG_ANSWERS),
                                ("right", exercise.right_answers, MIN_RIGHT_ANSWERS)]:
        if len(stored) < least:
            problems.append(f"Exercise {exercise.id}: {len(stored)} {kind} answers "
                            f"stored, at least {least} needed")
    return problems


def check_lesson(path):
    nb = read(path)
    by_cell = {ex.cell: ex for ex in exercises(nb, path.name).values()}
    assert len(by_cell) >= 2, f"{path.name}: a lesson needs at least two exercises"
    runner = LessonRunner(nb, SOLUTIONS)
    problems, lesson_seconds = [], 0.0
    with runner.client.setup_kernel():
        runner.run_code(AS_NUMPY_SOURCE)
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code":
                continue
            exercise = by_cell.get(index)
            if exercise:
                problems += variant_count_problems(exercise)
                for why, source, should_pass in variants_of(exercise):
                    problems += try_variant(runner, nb, exercise, why, source,
                                            should_pass)
            start = runner.cpu_seconds()
            ran = runner.run(index)
            seconds = runner.cpu_seconds() - start
            lesson_seconds += seconds
            if seconds > CELL_TIME_LIMIT:
                problems.append(f"cell {index + 1} took {seconds:.1f} s of CPU time, "
                                f"over the {CELL_TIME_LIMIT} s a cell may take")
            error = error_text(ran)
            if error and "raises-exception" not in tags(cell):
                problems.append(f"cell {index + 1} raised in the solution: {error}")
            checked = cell.metadata.get("course", {}).get("check")
            if checked:
                exercise = next(e for e in by_cell.values() if e.id == checked)
                problems += outcome_problems(exercise, "the solution", True, ran)
    limit = TIME_LIMIT.get(lesson_number(path), DEFAULT_TIME_LIMIT)
    if lesson_seconds > limit:
        problems.append(f"the solution took {lesson_seconds:.1f} s of CPU time, "
                        f"over its {limit} s limit")
    assert not problems, f"{path.name}:\n" + "\n".join(problems)


def check_runs_twice(path):
    nb = read(path)
    runner = LessonRunner(nb, SOLUTIONS)
    problems = []
    with runner.client.setup_kernel():
        for index, cell in enumerate(nb.cells):
            if cell.cell_type != "code" or "raises-exception" in tags(cell):
                continue
            for run in ("first", "second"):
                ran = runner.run(index)
                error = error_text(ran)
                if error:
                    problems.append(f"cell {index + 1} raised on its {run} run: "
                                    f"{error}")
                failed = [r for r in check_records(ran) if not r["passed"]]
                if failed:
                    problems.append(f"cell {index + 1}: exercise "
                                    f"{failed[0]['exercise']}'s check failed on its "
                                    f"{run} run: {failed[0]['message']}")
    assert not problems, f"{path.name}, each cell run twice:\n" + "\n".join(problems)


def check_run_all(path):
    """Run All of a student notebook, as JupyterLab and Colab do it."""
    nb = read(path)
    checks = {index: cell.metadata["course"]["check"]
              for index, cell in enumerate(nb.cells)
              if "check" in cell.get("metadata", {}).get("course", {})}
    client = kernel_client(nb, NOTEBOOKS, allow_errors=True)
    client.execute()
    code = [index for index, cell in enumerate(nb.cells) if cell.cell_type == "code"]
    raised = [(index, error_text(nb.cells[index])) for index in code
              if error_text(nb.cells[index])]
    problems = []
    if raised:
        first = raised[0][0]
        reached = code.index(first) + 1
        problems.append(f"Run All stops at cell {first + 1} ({reached} of "
                        f"{len(code)} code cells reached)")
        problems += [f"cell {index + 1} raised: {error}" for index, error in raised]
    for index, exercise_id in checks.items():
        records = [r for r in check_records(nb.cells[index])
                   if r.get("exercise") == exercise_id]
        if not records or records[-1]["passed"]:
            problems.append(f"Exercise {exercise_id}: the check cell (cell "
                            f"{index + 1}) shows no failure on the stub")
    assert not problems, f"{path.name}:\n" + "\n".join(problems)


def lesson_test_class(path):
    def test_checks_pass_right_and_fail_wrong_answers(self):
        check_lesson(path)

    def test_every_solution_cell_runs_twice(self):
        check_runs_twice(path)

    def test_run_all_reaches_the_end(self):
        student = NOTEBOOKS / path.name
        if not student.exists():
            pytest.fail(f"{student.name}: no student notebook; run tools/build.py")
        check_run_all(student)

    name = f"Test_{path.stem}"
    return name, type(name, (), {
        "test_checks_pass_right_and_fail_wrong_answers":
            test_checks_pass_right_and_fail_wrong_answers,
        "test_every_solution_cell_runs_twice": test_every_solution_cell_runs_twice,
        "test_run_all_reaches_the_end": test_run_all_reaches_the_end,
    })


for _path in all_solutions():
    _name, _class = lesson_test_class(_path)
    globals()[_name] = _class
