"""The course as data: where its files are, what a lesson holds, how to run one.

Nothing here writes a file. The build tool (`tools/build.py`, the writer), the
tests, the grader and the benchmark all read the course through this module, so
that each rule about a lesson (what a marker is, where an exercise's check is,
what a carried-in cell holds) has one home.

Authoring conventions: AUTHORING.md.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "solutions"
NOTEBOOKS = ROOT / "notebooks"
MEDIA = ROOT / "media"
PACKAGE = ROOT / "backprop"
README = ROOT / "README.md"

# wall-clock seconds a cell may run before the kernel client gives up; the tests
# hold lessons to much tighter limits of CPU time (tests/test_exercises.py)
CELL_TIMEOUT = 120

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
# a line that an author meant as a marker: any case, any number of `#`, extra
# words; only BEGIN and END exactly count, anything else is an error, because a
# marker the build does not see would copy a solution into notebooks/
MARKER_LIKE = re.compile(r"^\s*#+\s*(begin|end)\s+solution\b", re.IGNORECASE)

# tags the course gives meaning to
SETUP, CARRY_OVER, CARRIED_IN, INSTRUCTOR = (
    "setup", "carry-over", "carried-in", "instructor")
INSTRUCTOR_OPENING = "**Lecturer's notes.**"
# a Python name for a generated module of the package
MODULE_NAME = re.compile(r"[a-z_][a-z0-9_]*")


class CourseError(Exception):
    """A lesson that breaks the course's conventions; says which file and where."""


# ----------------------------------------------------------------------------
# configuration and addresses


def course_config() -> dict:
    """`[tool.course]` of pyproject.toml: the repository address and branch."""
    with open(ROOT / "pyproject.toml", "rb") as file:
        config = tomllib.load(file)["tool"]["course"]
    config["repository"] = config["repository"].rstrip("/")
    return config


def github_path(config: dict) -> str:
    """`owner/name` of the repository, from its https address."""
    match = re.fullmatch(r"https://github\.com/([^/]+/[^/]+?)(\.git)?",
                         config["repository"])
    if not match:
        raise CourseError(
            f"[tool.course] repository must be https://github.com/OWNER/NAME, "
            f"got {config['repository']!r}")
    return match.group(1)


def colab_url(config: dict, relative_path: str) -> str:
    """The address that opens a notebook of the repository in Colab."""
    return (f"https://colab.research.google.com/github/{github_path(config)}/blob/"
            f"{config['branch']}/{relative_path}")


BADGE_PREFIX = "[![Open In Colab]"
COLAB_BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"


def badge_markdown(config: dict, relative_path: str) -> str:
    return f"{BADGE_PREFIX}({COLAB_BADGE_IMAGE})]({colab_url(config, relative_path)})"


def install_target(config: dict) -> str:
    """What Colab's setup cell gives to pip to install the course's helpers."""
    return f"git+{config['repository']}@{config['branch']}"


# ----------------------------------------------------------------------------
# notebooks and cells


def read(path: Path):
    """A notebook, or a CourseError naming the file when it cannot be one."""
    try:
        nb = nbformat.read(path, as_version=4)
    except (OSError, ValueError, KeyError, TypeError, AttributeError,
            nbformat.reader.NotJSONError) as error:
        raise CourseError(f"{path.name}: not a readable notebook "
                          f"({type(error).__name__}: {error})") from None
    for index, cell in enumerate(nb.cells):
        metadata = cell.get("metadata", {})
        if not isinstance(metadata.get("course", {}), dict):
            raise CourseError(f"{path.name}, cell {index + 1}: metadata 'course' must "
                              f"be an object, got {metadata['course']!r}")
        if not isinstance(metadata.get("tags", []), list):
            raise CourseError(f"{path.name}, cell {index + 1}: metadata 'tags' must "
                              f"be a list")
    return nb


def tags(cell) -> list:
    return cell.get("metadata", {}).get("tags", [])


def course_meta(cell) -> dict:
    return cell.get("metadata", {}).get("course", {})


def lesson_number(path: Path) -> int:
    match = re.match(r"(\d\d)_", path.name)
    if not match:
        raise CourseError(f"{path.name}: lesson files are named NN_slug.ipynb")
    return int(match.group(1))


def all_solutions() -> list[Path]:
    return sorted(SOLUTIONS.glob("[0-9][0-9]_*.ipynb"))


def lesson_path(number: int) -> Path | None:
    """The solution notebook of lesson `number`, if there is one."""
    found = sorted(SOLUTIONS.glob(f"{number:02d}_*.ipynb"))
    return found[0] if found else None


# the first line of a carried-in cell: Colab shows it in place of the hidden code
CARRIED_TITLE = "# @title "


def code_of(cell) -> str:
    """A cell's code without the title line the build puts on carried-in cells."""
    source = cell.source
    if source.startswith(CARRIED_TITLE):
        source = source.split("\n", 1)[1] if "\n" in source else ""
    return source


def carry_over_sources(nb) -> list[str]:
    """The code a lesson hands on to the next one: its `carry-over` cells."""
    return [code_of(cell) for cell in nb.cells if CARRY_OVER in tags(cell)]


def lesson_namespace(number: int) -> dict:
    """The names lesson `number`'s carry-over code defines, run in a fresh namespace.

    For tests of an early stage of `Value` that no module of `backprop` holds (the
    engine as lesson 04 leaves it); the finished engines are imported from `backprop`.
    """
    path = lesson_path(number)
    if path is None:
        raise CourseError(f"there is no lesson {number:02d}")
    namespace: dict = {}
    for source in carry_over_sources(read(path)):
        exec(compile(source, f"{path.name} carry-over", "exec"), namespace)
    return namespace


def exported_sources(nb, name: str) -> dict[str, list[str]]:
    """`module -> sources` of the cells a lesson exports to the `backprop` package."""
    modules: dict[str, list[str]] = {}
    for index, cell in enumerate(nb.cells):
        module = course_meta(cell).get("export")
        if module is None:
            continue
        if cell.cell_type != "code" or not isinstance(module, str) \
                or not MODULE_NAME.fullmatch(module):
            raise CourseError(f"{name}, cell {index + 1}: 'export' must name a module "
                              f"(lowercase letters, digits, _) on a code cell")
        modules.setdefault(module, []).append(code_of(cell))
    return modules


# ----------------------------------------------------------------------------
# solution regions


def solution_regions(source: str, where: str) -> list[tuple[int, int, str]]:
    """`(begin_line, end_line, indent)` of each solution region in a cell."""
    regions, begin, indent = [], None, ""
    for number, line in enumerate(source.split("\n")):
        stripped = line.strip()
        if stripped == BEGIN:
            if begin is not None:
                raise CourseError(f"{where}: '{BEGIN}' inside another solution "
                                  f"region (line {number + 1}); regions cannot nest")
            begin = number
            indent = line[: len(line) - len(line.lstrip())]
        elif stripped == END:
            if begin is None:
                raise CourseError(f"{where}: '{END}' without a '{BEGIN}' "
                                  f"(line {number + 1})")
            regions.append((begin, number, indent))
            begin = None
        elif MARKER_LIKE.match(line):
            raise CourseError(f"{where}: line {number + 1} looks like a solution "
                              f"marker but is not one: {stripped!r}; write exactly "
                              f"'{BEGIN}' or '{END}'")
    if begin is not None:
        raise CourseError(f"{where}: '{BEGIN}' on line {begin + 1} is never closed "
                          f"by '{END}'")
    return regions


def replace_regions(source: str, replacement: str, where: str) -> str:
    """Put `replacement` (unindented code) in place of every solution region."""
    lines = source.split("\n")
    for begin, end, indent in reversed(solution_regions(source, where)):
        new = [indent + line if line else line for line in replacement.split("\n")]
        lines[begin : end + 1] = new
    return "\n".join(lines)


def region_code(source: str, where: str) -> str:
    """The code between the markers of a cell's single region, unindented."""
    regions = solution_regions(source, where)
    lines = source.split("\n")
    begin, end, indent = regions[0]
    return "\n".join(line[len(indent):] if line.startswith(indent) else line
                     for line in lines[begin + 1 : end])


# ----------------------------------------------------------------------------
# exercises


@dataclass
class Exercise:
    """One exercise of a lesson: its cell, its check cell and its stored variants.

    A variant is a dict with `why` and either `code` (the whole region, unindented)
    or `replace` and `with` (one exact piece of the solution region and what
    replaces it). Wrong answers must make the check fail, right answers pass.
    """

    id: str
    task: str
    cell: int
    check: int
    source: str
    where: str
    wrong_answers: list = field(default_factory=list)
    right_answers: list = field(default_factory=list)

    def stub(self) -> str:
        """The code that stands in the region in `notebooks/`."""
        return stub_code(self.id, self.task)

    def student_source(self) -> str:
        return replace_regions(self.source, self.stub(), self.where)

    def variant_source(self, variant: dict) -> str:
        """The exercise cell with `variant` in place of the solution."""
        if "code" in variant:
            return replace_regions(self.source, variant["code"], self.where)
        solution = region_code(self.source, self.where)
        old, new = variant["replace"], variant["with"]
        return replace_regions(self.source, solution.replace(old, new), self.where)

    def variants(self) -> list[tuple[str, str, bool]]:
        """`(description, cell source, should pass)` for every stored variant."""
        return ([("the stub", self.student_source(), False)]
                + [(f"the wrong answer '{v['why']}'", self.variant_source(v), False)
                   for v in self.wrong_answers]
                + [(f"the right answer '{v['why']}'", self.variant_source(v), True)
                   for v in self.right_answers])


def stub_code(exercise_id: str, task: str) -> str:
    message = f"Exercise {exercise_id}: {task}"
    return f"raise NotImplementedError({json.dumps(message)})"


def _checked_variants(meta: dict, key: str, solution: str, where: str) -> list:
    variants = meta.get(key, [])
    if not isinstance(variants, list):
        raise CourseError(f"{where}: '{key}' must be a list")
    for variant in variants:
        if not isinstance(variant, dict) or not isinstance(variant.get("why"), str):
            raise CourseError(f"{where}: each of '{key}' needs a 'why'")
        if "code" in variant:
            continue
        old, new = variant.get("replace"), variant.get("with")
        if not isinstance(old, str) or not isinstance(new, str) or not old:
            raise CourseError(f"{where}: {key} '{variant['why']}' needs 'code', or "
                              f"'replace' and 'with'")
        count = solution.count(old)
        if count != 1:
            found = "is not in" if count == 0 else f"appears {count} times in"
            raise CourseError(f"{where}: {key} '{variant['why']}': the text to "
                              f"replace {old!r} {found} the solution region")
    return variants


def exercises(nb, name: str) -> dict[str, Exercise]:
    """Every exercise of a notebook, validated; `id -> Exercise`."""
    found, checks = {}, {}
    for index, cell in enumerate(nb.cells):
        where = f"{name}, cell {index + 1}"
        meta = course_meta(cell)
        if cell.cell_type != "code":
            markers = [line for line in cell.source.split("\n")
                       if line.strip() in (BEGIN, END)]
            if markers and INSTRUCTOR not in tags(cell):
                raise CourseError(f"{where}: solution markers in a markdown cell")
            continue
        regions = solution_regions(cell.source, where)
        if "check" in meta:
            checks[meta["check"]] = index
        if not regions:
            if "exercise" in meta:
                raise CourseError(f"{where}: exercise {meta['exercise']} has no "
                                  f"'{BEGIN}' ... '{END}' region")
            continue
        if len(regions) > 1:
            raise CourseError(f"{where}: an exercise cell holds one solution region")
        if {CARRY_OVER, CARRIED_IN, SETUP} & set(tags(cell)):
            raise CourseError(f"{where}: a carried or setup cell cannot hold an "
                              f"exercise region")
        exercise, task = meta.get("exercise"), meta.get("task")
        if not isinstance(exercise, str) or not isinstance(task, str) or not task:
            raise CourseError(f"{where}: a cell with a solution region needs metadata "
                              f'"course": {{"exercise": "N.M", "task": ...}}')
        if exercise in found:
            raise CourseError(f"{where}: exercise {exercise} appears twice")
        solution = region_code(cell.source, where)
        found[exercise] = Exercise(
            id=exercise, task=task, cell=index, check=-1, source=cell.source,
            where=where,
            wrong_answers=_checked_variants(meta, "wrong_answers", solution, where),
            right_answers=_checked_variants(meta, "right_answers", solution, where))
    for exercise in found.values():
        if exercise.id not in checks:
            raise CourseError(f"{name}: exercise {exercise.id} has no check cell "
                              f'(metadata "course": {{"check": "{exercise.id}"}})')
        if checks[exercise.id] < exercise.cell:
            raise CourseError(f"{name}: the check of exercise {exercise.id} comes "
                              f"before the exercise")
        exercise.check = checks[exercise.id]
    for exercise_id in checks:
        if exercise_id not in found:
            raise CourseError(f"{name}: a check cell for exercise {exercise_id}, "
                              f"which does not exist")
    return found


# ----------------------------------------------------------------------------
# running a notebook


def kernel_client(nb, cwd: Path, kernel_name: str = "python3", **options):
    """The one way the course runs a notebook: a fresh kernel, in folder `cwd`.

    `options` go to nbclient's `NotebookClient` (`allow_errors`, `timeout`, ...).
    """
    from nbclient import NotebookClient

    options.setdefault("timeout", CELL_TIMEOUT)
    return NotebookClient(nb, kernel_name=kernel_name, record_timing=False,
                          resources={"metadata": {"path": str(cwd)}}, **options)
