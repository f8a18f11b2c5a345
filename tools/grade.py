"""Grade the notebooks students hand in.

    python tools/grade.py SUBMISSION.ipynb... [--csv grades.csv] [--feedback DIR]
                          [--lesson N] [--jobs 2] [--timeout 60]

A folder stands for the notebooks in it (and in its subfolders). For each submission
the grader finds its lesson (from the exercise IDs in its cells, else the number in
its title or file name; `--lesson` insists on one), puts back the lesson's own check
cells by exercise ID (an edited, emptied or deleted check counts for nothing), runs
the notebook in a fresh kernel from an empty working folder, each cell with a time
limit, and records for every exercise of the lesson whether it passed and the check's
message. Two submissions run at a time (`--jobs`).

Output: a summary table on the terminal, a CSV with one row per submission and
exercise (`--csv`), and a Markdown feedback file per submission (`--feedback`).

The grader runs the students' code: run it where that code can do no harm (a
container or a throw-away account; AUTHORING.md says how).
"""

from __future__ import annotations

import argparse
import csv
import re
import secrets
import subprocess
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):  # run as `python tools/grade.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from course_checks import RECORD_TYPE  # noqa: E402
from tools.course import (  # noqa: E402
    ROOT,
    CourseError,
    course_meta,
    exercises,
    kernel_client,
    lesson_path,
    read,
)

CHECKS_FILE = ROOT / "course_checks.py"
DEFAULT_TIMEOUT = 60  # wall-clock seconds a cell may run
PROBE_TIMEOUT = 10  # after an interrupt: how long the kernel has to answer again
MAX_RESTARTS = 3  # fresh runs of one submission after cells that stop the kernel
TIMED_OUT = "GraderTimeout"  # the error nbclient reports for a cell out of time

# run right before every restored check cell: a fresh copy of course_checks, loaded
# from the course's own file (not from a `course_checks.py` a student's code may have
# written), with a token in every record it makes; `checking` and `ExerciseError` are
# bound again, so that a student's redefinition of either changes nothing
PRELUDE = """\
import importlib.util as __grader_util
__grader_spec = __grader_util.spec_from_file_location("course_checks", {path!r})
__grader_module = __grader_util.module_from_spec(__grader_spec)
__grader_spec.loader.exec_module(__grader_module)
__grader_module._TOKEN = {token!r}
checking = __grader_module.checking
ExerciseError = __grader_module.ExerciseError
del __grader_util, __grader_spec, __grader_module
"""


class SubmissionError(Exception):
    """A submission that cannot be graded (unreadable, of no lesson, another lesson)."""


# ----------------------------------------------------------------------------
# the lesson a submission belongs to


@dataclass
class Lesson:
    number: int
    name: str
    title: str
    cells: list
    exercises: dict  # id -> tools.course.Exercise, in the lesson's order

    def check_cell(self, exercise_id: str):
        return self.cells[self.exercises[exercise_id].check]


def load_lesson(number: int) -> Lesson | None:
    path = lesson_path(number)
    if path is None:
        return None
    nb = read(path)
    title = re.sub(r"^#\s*", "", nb.cells[0].source.split("\n")[0]).strip()
    return Lesson(number, path.name, title, nb.cells, exercises(nb, path.name))


def lesson_of(nb, path: Path) -> int | None:
    """The lesson a notebook is a copy of: its exercise IDs, title or file name."""
    numbers = set()
    for cell in nb.cells:
        meta = course_meta(cell)
        for key in ("exercise", "check"):
            match = re.fullmatch(r"(\d+)\.\d+", str(meta.get(key, "")))
            if match:
                numbers.add(int(match.group(1)))
    if len(numbers) == 1:
        return numbers.pop()
    if nb.cells and nb.cells[0].cell_type == "markdown":
        match = re.match(r"#\s*(\d\d)\b", nb.cells[0].source)
        if match:
            return int(match.group(1))
    match = re.match(r"(\d\d)_", path.name)
    return int(match.group(1)) if match else None


# ----------------------------------------------------------------------------
# the cells to run


@dataclass
class Step:
    """One cell to run: the student's own, or the lesson's check of an exercise."""

    source: str
    kind: str  # "student" or "check"
    exercise: str | None = None  # the exercise a student cell answers, or checked
    cell_id: str | None = None
    position: int | None = None  # 1-based place in the submission, for messages
    claims: str | None = None  # the check a student cell's metadata says it is


def steps_to_run(nb, lesson: Lesson) -> list[Step]:
    """The submission's code cells, with the lesson's own check cells put back."""
    official_ids = {lesson.cells[ex.cell].get("id"): ex.id
                    for ex in lesson.exercises.values()}
    steps = []
    for position, cell in enumerate(nb.cells, start=1):
        if cell.cell_type != "code":
            continue
        meta = course_meta(cell) if isinstance(cell.get("metadata"), dict) else {}
        answers = meta.get("exercise") or official_ids.get(cell.get("id"))
        steps.append(Step(cell.source, "student", answers, cell.get("id"), position,
                          meta.get("check")))
    for exercise in lesson.exercises.values():
        official = lesson.check_cell(exercise.id)
        check = Step(official.source, "check", exercise.id, official.get("id"))
        claimed = next((i for i, s in enumerate(steps) if s.kind == "student" and (
            s.claims == exercise.id or s.cell_id == check.cell_id)),
            None)
        if claimed is not None:
            check.position = steps[claimed].position
            steps[claimed] = check
        else:  # deleted: after the exercise cell, else after its lesson neighbour
            steps.insert(_insertion_point(steps, lesson, exercise), check)
    return steps


def _insertion_point(steps, lesson, exercise) -> int:
    answer = [i for i, s in enumerate(steps)
              if s.kind == "student" and s.exercise == exercise.id]
    if answer:
        return answer[-1] + 1
    for index in range(exercise.check - 1, -1, -1):
        cell_id = lesson.cells[index].get("id")
        found = [i for i, s in enumerate(steps) if s.cell_id == cell_id]
        if found:
            return found[-1] + 1
    return len(steps)


# ----------------------------------------------------------------------------
# running a submission


@dataclass
class Outcome:
    passed: bool
    message: str
    hint: str = ""


def _error_of(cell) -> str | None:
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            return f"{output.get('ename')}: {output.get('evalue')}"
    return None


def _outcome_of(cell, exercise_id: str, token: str) -> Outcome:
    records = [output["data"][RECORD_TYPE] for output in cell.get("outputs", [])
               if output.get("output_type") == "display_data"
               and RECORD_TYPE in output.get("data", {})]
    mine = [r for r in records if isinstance(r, dict) and r.get("token") == token
            and r.get("exercise") == exercise_id]
    if mine:
        failed = [r for r in mine if not r.get("passed")]
        record = failed[0] if failed else mine[-1]
        return Outcome(not failed, str(record.get("message", "")),
                       str(record.get("hint", "")))
    error = _error_of(cell)
    if error:
        return Outcome(False, f"the check cell raised {error}")
    return Outcome(False, "the check recorded no outcome")


def run_steps(steps: list[Step], timeout: int, cwd: Path,
              skip: dict[int, Outcome]) -> tuple[dict[str, Outcome], tuple | None]:
    """Run `steps` in a fresh kernel in `cwd`, but not those in `skip`.

    Returns the outcome of each checked exercise, and `(step index, outcome)` of
    the step that stopped the kernel (None if none did): a kernel that died, or
    one that ignored the interrupt after a timeout.
    """
    import nbformat
    from nbclient.exceptions import DeadKernelError

    token = secrets.token_hex(16)
    prelude = PRELUDE.format(path=str(CHECKS_FILE), token=token)
    nb = nbformat.v4.new_notebook()
    timed_out = set()  # the cells that ran out of time

    def note_timeout(cell, cell_index, execute_reply):
        if (execute_reply or {}).get("content", {}).get("ename") == TIMED_OUT:
            timed_out.add(cell_index)

    # on a timeout nbclient interrupts the kernel and goes on with the next cell
    # (its own bookkeeping of the kernel's messages stays right, which a client
    # that catches CellTimeoutError itself cannot ensure)
    client = kernel_client(
        nb, cwd, allow_errors=True, timeout=timeout, shutdown_kernel="immediate",
        interrupt_on_timeout=True, on_cell_executed=note_timeout,
        error_on_timeout={"ename": TIMED_OUT, "evalue": "", "traceback": []})

    def run(source: str, seconds: int):
        """Run one cell; the cell, or None if it ran out of time."""
        cell = nbformat.v4.new_code_cell(source)
        nb.cells.append(cell)
        client.timeout = seconds
        client.execute_cell(cell, len(nb.cells) - 1)
        return None if len(nb.cells) - 1 in timed_out else cell

    outcomes: dict[str, Outcome] = {}
    late: dict[str, str] = {}  # exercise -> what went wrong in its own cell
    # the kernel's own stderr holds only jupyter's start-up warnings; what the
    # student's code prints reaches the cell outputs either way
    with client.setup_kernel(stderr=subprocess.DEVNULL):
        for number, step in enumerate(steps):
            where = f"cell {step.position}" if step.position else "the restored check"
            if step.kind == "check" and step.position:
                where = f"the check (cell {step.position})"
            if number in skip:
                if step.kind == "check":
                    outcomes[step.exercise] = skip[number]
                elif step.exercise:
                    late[step.exercise] = f"the exercise cell {skip[number].message}"
                continue
            try:
                if step.kind == "check":
                    run(prelude, timeout)
                cell = run(step.source, timeout)
                if cell is not None:
                    if step.kind == "check":
                        outcome = _outcome_of(cell, step.exercise, token)
                        if not outcome.passed and step.exercise in late:
                            outcome.message = (f"{late[step.exercise]}; "
                                               f"{outcome.message}")
                        outcomes[step.exercise] = outcome
                    continue
                outcome = Outcome(False, f"timed out: {where} ran longer than "
                                         f"{timeout} s (an endless loop?)",
                                  "look for a loop whose condition never changes")
                if run("pass", PROBE_TIMEOUT) is None:  # the interrupt was ignored
                    return outcomes, (number, outcome)
                if step.kind == "check":
                    outcomes[step.exercise] = outcome
                elif step.exercise:
                    late[step.exercise] = f"the exercise cell {outcome.message}"
            except DeadKernelError:
                return outcomes, (number, Outcome(
                    False, f"the kernel died while running {where} (out of memory, "
                           f"or code that ends Python?)"))
    return outcomes, None


# ----------------------------------------------------------------------------
# grading one submission


@dataclass
class Graded:
    submission: str
    lesson: Lesson | None
    outcomes: dict = field(default_factory=dict)  # exercise id -> Outcome
    problem: str | None = None  # why the submission could not be graded

    def rows(self) -> list[dict]:
        number = f"{self.lesson.number:02d}" if self.lesson else ""
        if self.lesson is None:
            return [{"submission": self.submission, "lesson": "", "exercise": "",
                     "passed": False, "message": self.problem}]
        return [{"submission": self.submission, "lesson": number, "exercise": ex,
                 "passed": outcome.passed, "message": outcome.message}
                for ex, outcome in self.outcomes.items()]


def _lesson_of_name(path: Path, wanted: int | None) -> Lesson | None:
    """The lesson to fill a bad submission's rows with, if it is known."""
    if wanted is not None:
        return load_lesson(wanted)
    match = re.match(r"(\d\d)_", path.name)
    return load_lesson(int(match.group(1))) if match else None


def _failed_everywhere(submission, lesson, problem) -> Graded:
    graded = Graded(submission, lesson, problem=problem)
    if lesson:
        graded.outcomes = {ex: Outcome(False, problem) for ex in lesson.exercises}
    return graded


def grade(path: Path, submission: str, wanted: int | None = None,
          timeout: int = DEFAULT_TIMEOUT) -> Graded:
    """Grade one submission; never raises for a bad one, says what is wrong."""
    try:
        try:
            nb = read(path)
            _ = [(cell.cell_type, cell.source) for cell in nb.cells]
        except CourseError as error:
            # the course's message starts with the file name, which the row has
            reason = " ".join(str(error).split(": ", 1)[-1].split())
            raise SubmissionError(reason[:150]) from None
        except Exception as error:  # JSON that is no notebook: a list, no cells
            raise SubmissionError(f"not a readable notebook ({type(error).__name__}: "
                                  f"{error})"[:150]) from None
        number = lesson_of(nb, path)
        if number is None:
            raise SubmissionError("no lesson found: it has no exercise cells and no "
                                  "lesson number in its title or file name")
        if wanted is not None and number != wanted:
            raise SubmissionError(f"a notebook of lesson {number:02d}, not of lesson "
                                  f"{wanted:02d}")
        lesson = load_lesson(number)
        if lesson is None:
            raise SubmissionError(f"lesson {number:02d} does not exist in the course")
    except SubmissionError as error:
        return _failed_everywhere(submission, _lesson_of_name(path, wanted),
                                  str(error))
    steps = steps_to_run(nb, lesson)
    skip: dict[int, Outcome] = {}
    # a cell that stops the kernel is left out of a fresh run, so that the rest
    # of the notebook is still graded
    while True:
        with tempfile.TemporaryDirectory(prefix="grade-") as folder:
            try:
                outcomes, stopper = run_steps(steps, timeout, Path(folder), skip)
            except Exception as error:  # the kernel would not start, say
                return _failed_everywhere(
                    submission, lesson, f"could not run: {type(error).__name__}: "
                                        f"{error}")
        if stopper is None or len(skip) >= MAX_RESTARTS:
            break
        skip[stopper[0]] = stopper[1]
    answered = {step.exercise for step in steps if step.kind == "student"}
    for exercise in lesson.exercises:
        outcome = outcomes.setdefault(exercise, Outcome(
            False, "not graded: the kernel stopped too often"))
        if exercise not in answered and not outcome.passed:
            outcome.message = f"the exercise cell is missing; {outcome.message}"
    return Graded(submission, lesson,
                  {exercise: outcomes[exercise] for exercise in lesson.exercises})


# ----------------------------------------------------------------------------
# reports


def feedback_markdown(graded: Graded) -> str:
    lines = [f"# Feedback: {graded.submission}", ""]
    if graded.lesson is None:
        problem = f"This notebook could not be graded: {graded.problem}."
        return "\n".join(lines + [problem, ""])
    lesson = graded.lesson
    passed = sum(outcome.passed for outcome in graded.outcomes.values())
    lines += [f"Lesson {lesson.title}: {passed} of {len(graded.outcomes)} exercises "
              f"passed.", ""]
    if graded.problem:
        lines += [f"This notebook could not be graded: {graded.problem}.", ""]
    lines += ["| Exercise | Task | Result |", "| --- | --- | --- |"]
    for ex, outcome in graded.outcomes.items():
        task = lesson.exercises[ex].task.replace("|", "\\|")
        lines.append(f"| {ex} | {task} | {'passed' if outcome.passed else 'not yet'} |")
    failures = [(ex, o) for ex, o in graded.outcomes.items() if not o.passed]
    if failures and not graded.problem:
        lines += ["", "## What to look at", ""]
        for ex, outcome in failures:
            lines += [f"### Exercise {ex}", "", outcome.message.replace("\n", "  \n"),
                      ""]
            if outcome.hint:
                lines += [f"Hint: {outcome.hint}", ""]
    return "\n".join(lines).rstrip() + "\n"


def summary_table(results: list[Graded]) -> str:
    """A plain-text table per lesson: a row per submission, a column per exercise."""
    blocks = []
    lessons = sorted({g.lesson.number for g in results if g.lesson})
    for number in lessons:
        group = [g for g in results if g.lesson and g.lesson.number == number]
        ids = list(group[0].lesson.exercises)
        rows = [["submission", *ids, "passed"]]
        for graded in group:
            marks = ["ok" if graded.outcomes[ex].passed else "--" for ex in ids]
            score = sum(graded.outcomes[ex].passed for ex in ids)
            rows.append([graded.submission, *marks, f"{score}/{len(ids)}"])
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        text = [f"Lesson {group[0].lesson.title}"]
        for row in rows:
            text.append("  ".join(cell.ljust(width)
                                  for cell, width in zip(row, widths)).rstrip())
        blocks.append("\n".join(text))
    ungraded = [g for g in results if g.problem]
    if ungraded:
        blocks.append("Not graded:\n" + "\n".join(
            f"  {g.submission}: {g.problem}" for g in ungraded))
    return "\n\n".join(blocks)


def write_csv(path: Path, results: list[Graded]):
    with open(path, "w", newline="") as file:
        writer = csv.DictWriter(file, ["submission", "lesson", "exercise", "passed",
                                       "message"])
        writer.writeheader()
        for graded in results:
            writer.writerows(graded.rows())


def feedback_name(submission: str) -> str:
    """A file name for a submission's feedback, unique for every path."""
    stem = submission[:-len(".ipynb")] if submission.endswith(".ipynb") else submission
    return re.sub(r"[^\w.-]+", "__", stem.strip("./")) + ".md"


class Progress:
    """A plain-text progress bar across submissions, on stderr."""

    def __init__(self, total: int, stream=sys.stderr):
        self.total, self.done, self.stream = total, 0, stream
        self.live = stream.isatty()

    def line(self, last: str) -> str:
        filled = round(20 * self.done / self.total) if self.total else 20
        return (f"grading [{'#' * filled}{'-' * (20 - filled)}] "
                f"{self.done}/{self.total}  {last}")

    def advance(self, last: str):
        self.done += 1
        if self.live:
            end = "\n" if self.done == self.total else ""
            print("\r\x1b[2K" + self.line(last), end=end, file=self.stream, flush=True)
        else:
            print(self.line(last), file=self.stream, flush=True)

    def say(self, text: str):
        """A line above the bar (a bad submission)."""
        prefix = "\r\x1b[2K" if self.live else ""
        print(prefix + text, file=self.stream, flush=True)


# ----------------------------------------------------------------------------
# the command


def submissions(paths: list[Path]) -> tuple[list[Path], list[str]]:
    """The notebooks to grade (folders expanded) and the paths that do not exist."""
    found, missing = [], []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.rglob("*.ipynb")
                            if ".ipynb_checkpoints" not in p.parts)
        elif path.exists():
            found.append(path)
        else:
            missing.append(str(path))
    return found, missing


def display_name(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _grade_job(path_text: str, name: str, wanted, timeout: int) -> Graded:
    try:
        return grade(Path(path_text), name, wanted, timeout)
    except Exception as error:  # a notebook no rule above foresaw: say so, go on
        return _failed_everywhere(name, _lesson_of_name(Path(path_text), wanted),
                                  f"could not be graded ({type(error).__name__}: "
                                  f"{error})")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="+", type=Path,
                        help="submitted notebooks, or folders of them")
    parser.add_argument("--csv", type=Path, help="write one row per submission and "
                        "exercise to this CSV file")
    parser.add_argument("--feedback", type=Path, help="write a Markdown feedback file "
                        "per submission into this folder")
    parser.add_argument("--lesson", type=int, help="grade every submission as this "
                        "lesson (others are reported as another lesson's)")
    parser.add_argument("--jobs", type=int, default=2,
                        help="submissions graded at once (default 2)")
    parser.add_argument("--timeout", type=int, default=DEFAULT_TIMEOUT,
                        help=f"seconds a cell may run (default {DEFAULT_TIMEOUT})")
    args = parser.parse_args(argv)
    if args.lesson is not None and lesson_path(args.lesson) is None:
        parser.error(f"--lesson {args.lesson}: the course has no lesson "
                     f"{args.lesson:02d}")

    paths, missing = submissions(args.paths)
    progress = Progress(len(paths) + len(missing))
    results: list[Graded] = []
    for name in missing:
        results.append(Graded(name, None, problem="no such file or folder"))
        progress.say(f"{name}: no such file or folder")
        progress.advance(name)
    if not paths and not missing:
        print("no notebooks found in " + ", ".join(map(str, args.paths)),
              file=sys.stderr)
        return 2
    names = {path: display_name(path) for path in paths}
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = {pool.submit(_grade_job, str(path), names[path], args.lesson,
                               args.timeout): path for path in paths}
        for future in as_completed(futures):
            graded = future.result()
            if graded.problem:
                progress.say(f"{graded.submission}: {graded.problem}")
            results.append(graded)
            progress.advance(graded.submission)
    order = {name: i for i, name in enumerate([*missing, *names.values()])}
    results.sort(key=lambda graded: order[graded.submission])

    print(summary_table(results))
    if args.csv:
        write_csv(args.csv, results)
        print(f"\nwrote {args.csv}")
    if args.feedback:
        args.feedback.mkdir(parents=True, exist_ok=True)
        for graded in results:
            (args.feedback / feedback_name(graded.submission)).write_text(
                feedback_markdown(graded))
        print(f"wrote {len(results)} feedback files to {args.feedback}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
