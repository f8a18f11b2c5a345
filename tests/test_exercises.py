"""Every exercise's check catches the stub and each typical wrong answer.

For each solution notebook, one kernel runs the notebook top to bottom. At each
exercise cell it first tries the stub (what `notebooks/` holds) and then every wrong
answer stored in the cell's metadata: each one replaces the solution region, the
cells up to the check run, and the check must fail with a message that names the
exercise. Then the real solution runs and the check must pass.
The same run measures the lesson's own execution time against its limits, as the
CPU time of its kernel: wall-clock time would also count the waits of a machine busy
with other tests, and the limits are about the lesson's own work.
"""

import copy

import nbformat
import psutil
from nbclient import NotebookClient

from tools.build import (
    SOLUTIONS,
    all_solutions,
    check_cell_index,
    exercises,
    lesson_number,
    replace_regions,
    stub_code,
    tags,
)

# CPU seconds for a whole solution notebook on a 2-core machine (training lessons: 60),
# and for any one cell (a training cell a lecturer waits for in class)
TIME_LIMIT = {8: 60, 9: 60}
DEFAULT_TIME_LIMIT = 30
CELL_TIME_LIMIT = 15
MIN_WRONG_ANSWERS = 2


def error_text(cell) -> str | None:
    for output in cell.get("outputs", []):
        if output.output_type == "error":
            return f"{output.ename}: {output.evalue}"
    return None


def stdout_text(cell) -> str:
    return "".join(o.get("text", "") for o in cell.get("outputs", [])
                   if o.output_type == "stream")


class LessonRunner:
    """Runs the cells of one notebook, one at a time, in one kernel."""

    def __init__(self, nb):
        # nbclient writes each executed cell back into the notebook it was given,
        # so the runner keeps its own pristine copy of the cells
        self.cells = copy.deepcopy(nb.cells)
        self.client = NotebookClient(
            copy.deepcopy(nb), timeout=120, kernel_name="python3", allow_errors=True,
            record_timing=False, resources={"metadata": {"path": str(SOLUTIONS)}},
        )

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


def try_variant(runner, nb, first, check, exercise, why, source) -> list[str]:
    """Run cells `first..check` with `source` in the exercise cell; list problems."""
    problems = []
    for index in range(first, check + 1):
        cell = runner.run(index, source if index == first else None)
        error = error_text(cell)
        if index == check:
            if error is None:
                problems.append(f"Exercise {exercise}: the check passed {why}")
            elif f"Exercise {exercise}" not in error:
                problems.append(f"Exercise {exercise}: with {why}, the check failed "
                                f"without naming the exercise: {error}")
        elif error and "raises-exception" not in tags(nb.cells[index]):
            problems.append(f"Exercise {exercise}: with {why}, cell {index + 1} "
                            f"raised before the check: {error}")
    return problems


def check_lesson(path):
    nb = nbformat.read(path, as_version=4)
    by_cell = {index: meta for index, meta in exercises(nb, path.name).values()}
    assert len(by_cell) >= 2, f"{path.name}: a lesson needs at least two exercises"
    runner = LessonRunner(nb)
    problems, lesson_seconds = [], 0.0
    with runner.client.setup_kernel():
        index = 0
        while index < len(nb.cells):
            if nb.cells[index].cell_type != "code":
                index += 1
                continue
            meta = by_cell.get(index)
            if meta:
                exercise = meta["id"]
                check = check_cell_index(nb, exercise)
                wrong = meta.get("wrong_answers", [])
                if len(wrong) < MIN_WRONG_ANSWERS:
                    problems.append(f"Exercise {exercise}: {len(wrong)} wrong answers "
                                    f"stored, at least {MIN_WRONG_ANSWERS} needed")
                variants = [("the stub", stub_code(meta))] + [
                    (f"the wrong answer '{w['why']}'", w["code"]) for w in wrong]
                where = f"{path.name}, cell {index + 1}"
                for why, code in variants:
                    source = replace_regions(nb.cells[index].source, code, where)
                    problems += try_variant(runner, nb, index, check, exercise, why,
                                            source)
            start = runner.cpu_seconds()
            cell = runner.run(index)
            seconds = runner.cpu_seconds() - start
            lesson_seconds += seconds
            if seconds > CELL_TIME_LIMIT:
                problems.append(f"cell {index + 1} took {seconds:.1f} s of CPU time, "
                                f"over the {CELL_TIME_LIMIT} s a cell may take")
            error = error_text(cell)
            if error and "raises-exception" not in tags(nb.cells[index]):
                problems.append(f"cell {index + 1} raised in the solution: {error}")
            check_of = nb.cells[index].metadata.get("course", {}).get("check")
            if check_of and f"Exercise {check_of} passed" not in stdout_text(cell):
                problems.append(f"Exercise {check_of}: the check does not print "
                                f"'Exercise {check_of} passed' on the solution")
            index += 1
    limit = TIME_LIMIT.get(lesson_number(path), DEFAULT_TIME_LIMIT)
    if lesson_seconds > limit:
        problems.append(f"the solution took {lesson_seconds:.1f} s of CPU time, "
                        f"over its {limit} s limit")
    assert not problems, f"{path.name}:\n" + "\n".join(problems)


def lesson_test_class(path):
    def test_checks_catch_stub_and_wrong_answers(self):
        check_lesson(path)

    name = f"Test_{path.stem}"
    return name, type(name, (), {
        "test_checks_catch_stub_and_wrong_answers":
            test_checks_catch_stub_and_wrong_answers})


# one test class per lesson, so that `pytest -n auto --dist loadscope` spreads the
# lessons over the workers (it keeps each class, and each notebook, on one worker)
for _path in all_solutions():
    _name, _class = lesson_test_class(_path)
    globals()[_name] = _class
