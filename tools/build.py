"""Build the course: execute the solutions and write the student notebooks from them.

    python tools/build.py                 build every lesson
    python tools/build.py solutions/03_one_neuron.ipynb
    python tools/build.py --check         are solutions/ and notebooks/ current? (no
                                          execution; exit 1 naming the stale files)

A build, for each solution notebook:
1. writes the generated cells: the Colab badge in the title cell, the setup cell, and
   the `carried-in` cells (copied from the previous lesson's `carry-over` cells);
2. executes it top to bottom in a fresh kernel and stores the outputs, so every
   output a reader sees is what the code really gives;
3. writes `notebooks/` from it: solution regions become stubs, `instructor` cells
   are dropped, outputs are cleared.

Authoring conventions: AUTHORING.md.
"""

from __future__ import annotations

import argparse
import base64
import copy
import hashlib
import json
import re
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import nbformat

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "solutions"
README = ROOT / "README.md"
LESSONS_START = "<!-- lessons table: written by tools/build.py -->"
LESSONS_END = "<!-- end of lessons table -->"
NOTEBOOKS = ROOT / "notebooks"

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
BADGE_PREFIX = "[![Open In Colab]"
COLAB_BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"

# an image of media/ as the author links it, and as the build embeds it: the title
# keeps the file's path, so that a rebuild can refresh the picture
MEDIA_LINK = re.compile(r"\]\(\.\./(media/[^)\s]+)\)")
EMBEDDED_MEDIA = re.compile(r'\]\(data:[^;]+;base64,[A-Za-z0-9+/=]+ "(media/[^"]+)"\)')
MEDIA_TYPES = {".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg"}

# metadata a notebook may keep; anything else (Colab ids, widget state, kernel
# paths, timings) is editor noise and is dropped
NOTEBOOK_METADATA_KEYS = ("kernelspec", "language_info", "course")
CELL_METADATA_KEYS = ("tags", "course")


class BuildError(Exception):
    """A notebook that the build tool cannot process; says which and where."""


# ----------------------------------------------------------------------------
# configuration


def course_config() -> dict:
    """`[tool.course]` of pyproject.toml: the repository address and branch."""
    with open(ROOT / "pyproject.toml", "rb") as file:
        config = tomllib.load(file)["tool"]["course"]
    config["repository"] = config["repository"].rstrip("/")
    return config


def github_path(config: dict) -> str:
    """`owner/name` of the repository, from its https address."""
    address = config["repository"]
    match = re.fullmatch(r"https://github\.com/([^/]+/[^/]+?)(\.git)?", address)
    if not match:
        raise BuildError(
            f"[tool.course] repository must be https://github.com/OWNER/NAME, "
            f"got {config['repository']!r}"
        )
    return match.group(1)


def colab_url(config: dict, relative_path: str) -> str:
    """The address that opens a notebook of the repository in Colab."""
    return (
        f"https://colab.research.google.com/github/{github_path(config)}/blob/"
        f"{config['branch']}/{relative_path}"
    )


def badge_markdown(config: dict, relative_path: str) -> str:
    return f"{BADGE_PREFIX}({COLAB_BADGE_IMAGE})]({colab_url(config, relative_path)})"


def install_target(config: dict) -> str:
    """What Colab's setup cell gives to pip to install the course's helpers."""
    return f"git+{config['repository']}@{config['branch']}"


def setup_source(config: dict) -> str:
    return "\n".join([
        "# in Google Colab, and only there, install the course's helpers first",
        "import sys",
        "",
        'if "google.colab" in sys.modules:',
        f'    %pip install --quiet "{install_target(config)}"',
        "",
        "from course_checks import checking",
        "from graph import draw_dot",
    ])


# ----------------------------------------------------------------------------
# reading a notebook's structure


def tags(cell) -> list:
    return cell.get("metadata", {}).get("tags", [])


def course_meta(cell) -> dict:
    return cell.get("metadata", {}).get("course", {})


def carry_over_sources(nb) -> list[str]:
    """The code a lesson hands on to the next one: its `carry-over` cells."""
    return [cell.source for cell in nb.cells if "carry-over" in tags(cell)]


def run_carry_over(name: str) -> dict:
    """Run the carry-over cells of solution `name`; return the names they define.

    This is the code a learner keeps from that lesson, so tools and tests that need
    the course's engine take it from here rather than from a copy.
    """
    namespace = {}
    for source in carry_over_sources(read(SOLUTIONS / name)):
        exec(compile(source, f"{name} carry-over", "exec"), namespace)
    return namespace


def lesson_number(path: Path) -> int:
    match = re.match(r"(\d\d)_", path.name)
    if not match:
        raise BuildError(f"{path.name}: lesson files are named NN_slug.ipynb")
    return int(match.group(1))


def solution_regions(source: str, where: str) -> list[tuple[int, int, str]]:
    """`(begin_line, end_line, indent)` of each solution region in a cell."""
    regions, begin = [], None
    for number, line in enumerate(source.split("\n")):
        stripped = line.strip()
        if stripped.startswith(BEGIN):
            if begin is not None:
                raise BuildError(f"{where}: '{BEGIN}' inside another solution region "
                                 f"(line {number + 1}); regions cannot nest")
            begin = number
            indent = line[: len(line) - len(line.lstrip())]
        elif stripped.startswith(END):
            if begin is None:
                raise BuildError(f"{where}: '{END}' without a '{BEGIN}' "
                                 f"(line {number + 1})")
            regions.append((begin, number, indent))
            begin = None
    if begin is not None:
        raise BuildError(f"{where}: '{BEGIN}' on line {begin + 1} is never closed "
                         f"by '{END}'")
    return regions


def replace_regions(source: str, replacement: str, where: str) -> str:
    """Put `replacement` (unindented code) in place of every solution region."""
    lines = source.split("\n")
    for begin, end, indent in reversed(solution_regions(source, where)):
        new = [indent + line if line else line for line in replacement.split("\n")]
        lines[begin : end + 1] = new
    return "\n".join(lines)


def stub_code(exercise: dict) -> str:
    message = f"Exercise {exercise['id']}: {exercise['task']}"
    return f"raise NotImplementedError({json.dumps(message)})"


def exercises(nb, name: str) -> dict:
    """Validate the exercise cells of a notebook; map id -> (cell index, metadata)."""
    found, checks = {}, {}
    for index, cell in enumerate(nb.cells):
        where = f"{name}, cell {index + 1}"
        if cell.cell_type != "code":
            if "instructor" not in tags(cell) and solution_regions(cell.source, where):
                raise BuildError(f"{where}: solution markers in a markdown cell")
            continue
        regions = solution_regions(cell.source, where)
        meta = course_meta(cell)
        if regions:
            if {"carry-over", "carried-in", "setup"} & set(tags(cell)):
                raise BuildError(f"{where}: a carried or setup cell cannot hold an "
                                 f"exercise region")
            exercise = meta.get("exercise")
            if not exercise or not meta.get("task"):
                raise BuildError(f"{where}: a cell with a solution region needs "
                                 f'metadata "course": '
                                 f'{{"exercise": "N.M", "task": ...}}')
            if exercise in found:
                raise BuildError(f"{where}: exercise {exercise} appears twice")
            found[exercise] = (index, {"id": exercise, **meta})
        elif "exercise" in meta:
            raise BuildError(f"{where}: exercise {meta['exercise']} has no "
                             f"'{BEGIN}' ... '{END}' region")
        if "check" in meta:
            checks[meta["check"]] = index
    for exercise, (index, _) in found.items():
        if exercise not in checks:
            raise BuildError(f"{name}: exercise {exercise} has no check cell "
                             f'(metadata "course": {{"check": "{exercise}"}})')
        if checks[exercise] < index:
            raise BuildError(f"{name}: the check of exercise {exercise} comes before "
                             f"the exercise")
    for exercise in checks:
        if exercise not in found:
            raise BuildError(f"{name}: a check cell for exercise {exercise}, which "
                             f"does not exist")
    return found


def check_cell_index(nb, exercise: str) -> int:
    for index, cell in enumerate(nb.cells):
        if course_meta(cell).get("check") == exercise:
            return index
    raise BuildError(f"no check cell for exercise {exercise}")


# ----------------------------------------------------------------------------
# the generated cells of a solution


def read(path: Path):
    return nbformat.read(path, as_version=4)


def serialise(nb) -> str:
    return nbformat.writes(nb) + "\n"


def sync_generated_cells(nb, path: Path, carried_sources, config: dict):
    """Write the badge, the setup cell and the carried-in cells into `nb`.

    `carried_sources` holds the previous lesson's carry-over cells (None if there
    is no previous lesson).
    """
    name = path.name
    if not nb.cells or nb.cells[0].cell_type != "markdown":
        raise BuildError(f"{name}: the first cell must be the markdown title cell")
    nb.cells[0].source = with_badge(
        nb.cells[0].source, badge_markdown(config, f"solutions/{name}"), name)

    setup = [c for c in nb.cells if c.cell_type == "code" and "setup" in tags(c)]
    first_code = next((c for c in nb.cells if c.cell_type == "code"), None)
    if len(setup) != 1 or setup[0] is not first_code:
        raise BuildError(f"{name}: the first code cell, and only it, must be tagged "
                         f"'setup'")
    setup[0].source = setup_source(config)

    carried = [c for c in nb.cells if "carried-in" in tags(c)]
    if carried:
        if carried_sources is None:
            raise BuildError(f"{name}: has carried-in cells but no earlier lesson")
        if len(carried_sources) != len(carried):
            raise BuildError(
                f"{name}: {len(carried)} carried-in cell(s), but the previous lesson "
                f"has {len(carried_sources)} carry-over cell(s); they must match one "
                f"to one")
        for cell, source in zip(carried, carried_sources):
            cell.source = source
    return nb


def with_badge(source: str, badge: str, name: str) -> str:
    """The title cell with `badge` on its own paragraph right under the title."""
    lines = [line for line in source.split("\n") if not line.startswith(BADGE_PREFIX)]
    title = next((i for i, line in enumerate(lines) if line.startswith("# ")), None)
    if title is None:
        raise BuildError(f"{name}: the first cell needs a '# ' title line")
    rest = lines[title + 1 :]
    while rest and not rest[0].strip():
        rest.pop(0)
    return "\n".join(lines[: title + 1] + ["", badge] + ([""] + rest if rest else []))


def embed_media(nb, name: str):
    """Put the images of `media/` into the markdown as data URIs.

    Colab opens a notebook alone, without the repository's folders, so a relative
    link shows nothing there; a data URI shows in Colab, JupyterLab and on GitHub.
    """
    def data_link(match, index):
        path = ROOT / match.group(1)
        if not path.exists() or path.suffix not in MEDIA_TYPES:
            raise BuildError(f"{name}, cell {index + 1}: no such image "
                             f"{match.group(1)}")
        data = base64.b64encode(path.read_bytes()).decode()
        return f'](data:{MEDIA_TYPES[path.suffix]};base64,{data} "{match.group(1)}")'

    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown" and "](" in cell.source:
            for pattern in (MEDIA_LINK, EMBEDDED_MEDIA):
                cell.source = pattern.sub(lambda m, i=index: data_link(m, i),
                                          cell.source)
    return nb


def clean_metadata(nb):
    """Keep only the metadata the course uses; drop editor noise."""
    nb.metadata = {k: v for k, v in nb.metadata.items() if k in NOTEBOOK_METADATA_KEYS}
    language = nb.metadata.get("language_info", {})
    nb.metadata["language_info"] = {"name": language.get("name", "python")}
    nb.metadata["kernelspec"] = {
        "display_name": "Python 3", "language": "python", "name": "python3"}
    for index, cell in enumerate(nb.cells):
        cell.metadata = {k: v for k, v in cell.metadata.items()
                         if k in CELL_METADATA_KEYS and v}
        if not cell.get("id"):
            cell.id = f"cell-{index:03d}"
    return nb


def source_digest(nb) -> str:
    """A digest of what the outputs depend on: every cell's type, tags and source."""
    payload = [(c.cell_type, tags(c), course_meta(c).get("exercise"), c.source)
               for c in nb.cells]
    return hashlib.sha256(json.dumps(payload).encode()).hexdigest()[:16]


def prepared_solutions(config: dict) -> tuple[dict, dict]:
    """Every solution as the build would execute it, generated cells filled in.

    Lessons are prepared in order, so that each lesson's carried-in cells come from
    the previous lesson as prepared (a change in lesson 06 reaches lesson 08 too).
    Returns `(prepared, errors)`: path -> notebook, and path -> what is wrong with
    the lessons that could not be prepared.
    """
    prepared, errors = {}, {}
    carried, previous_number = None, None
    for path in all_solutions():
        nb = read(path)
        number = lesson_number(path)
        # lesson N starts where lesson N-1 ends; with N-1 absent (a course being
        # written) the carried-in cells are left as they are
        has_previous = previous_number == number - 1
        try:
            if not has_previous and any("carried-in" in tags(c) for c in nb.cells):
                raise BuildError(f"{path.name}: has carried-in cells, but lesson "
                                 f"{number - 1:02d} does not exist")
            sync_generated_cells(nb, path, carried, config)
            embed_media(nb, path.name)
            exercises(nb, path.name)
            clean_metadata(nb)
            prepared[path] = nb
        except BuildError as error:
            errors[path] = str(error)
        carried = carry_over_sources(nb)
        previous_number = number
    return prepared, errors


# ----------------------------------------------------------------------------
# the student notebook


def student_notebook(solution, name: str, config: dict):
    """The student version of a solution notebook."""
    nb = copy.deepcopy(solution)
    nb.metadata.pop("course", None)
    found = exercises(nb, name)
    cells = []
    for index, cell in enumerate(nb.cells):
        if "instructor" in tags(cell):
            continue
        if index == 0:
            cell.source = with_badge(
                cell.source, badge_markdown(config, f"notebooks/{name}"), name)
        meta = cell.metadata.get("course")
        if meta and "exercise" in meta:
            exercise = found[meta["exercise"]][1]
            cell.source = replace_regions(cell.source, stub_code(exercise),
                                          f"{name}, cell {index + 1}")
            # the wrong answers are the tests' business, not the student's
            cell.metadata["course"] = {k: v for k, v in meta.items()
                                       if k != "wrong_answers"}
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cells.append(cell)
    nb.cells = cells
    return nb


# ----------------------------------------------------------------------------
# the README's lessons table


def lesson_title(nb) -> str:
    """The title of a lesson, without its `# NN - ` prefix."""
    line = nb.cells[0].source.split("\n")[0]
    return re.sub(r"^#\s*\d\d\s*[-:.]\s*", "", line).strip()


def lessons_table(prepared: dict, config: dict) -> str:
    rows = ["| # | Lesson | Student notebook | With solutions |",
            "| --- | --- | --- | --- |"]
    for path, nb in prepared.items():
        student, solution = f"notebooks/{path.name}", f"solutions/{path.name}"
        rows.append(
            f"| {path.name[:2]} | {lesson_title(nb)} "
            f"| [open]({student}) {badge_markdown(config, student)} "
            f"| [open]({solution}) {badge_markdown(config, solution)} |")
    return "\n".join(rows)


def readme_with_table(text: str, table: str) -> str:
    if LESSONS_START not in text or LESSONS_END not in text:
        raise BuildError(f"README.md needs the lines {LESSONS_START!r} and "
                         f"{LESSONS_END!r} around the lessons table")
    before, rest = text.split(LESSONS_START, 1)
    after = rest.split(LESSONS_END, 1)[1]
    return f"{before}{LESSONS_START}\n{table}\n{LESSONS_END}{after}"


# ----------------------------------------------------------------------------
# executing


def execute(nb, cwd: Path, timeout: int = 120):
    """Run `nb` top to bottom in a fresh kernel; return it with its outputs."""
    from nbclient import NotebookClient

    client = NotebookClient(
        nb, timeout=timeout, kernel_name="python3", record_timing=False,
        resources={"metadata": {"path": str(cwd)}},
    )
    client.execute()
    return nb


def merge_streams(nb):
    """Join neighbouring outputs of the same stream.

    The kernel may deliver one `print` as one message or as several, depending on
    timing; merged, the stored outputs are the same on every build.
    """
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        merged = []
        for output in cell.outputs:
            previous = merged[-1] if merged else None
            if (output.output_type == "stream" and previous is not None
                    and previous.output_type == "stream"
                    and previous.name == output.name):
                previous.text += output.text
            else:
                merged.append(output)
        cell.outputs = merged
    return nb


def build_one(path_text: str) -> str:
    """Execute one (already prepared) solution and write it and its student version."""
    path = Path(path_text)
    nb = read(path)
    nb.metadata["course"] = {"source_digest": source_digest(nb)}
    execute(nb, SOLUTIONS)
    merge_streams(nb)
    clean_metadata(nb)
    path.write_text(serialise(nb))
    student = student_notebook(nb, path.name, course_config())
    (NOTEBOOKS / path.name).write_text(serialise(student))
    return path.name


def all_solutions() -> list[Path]:
    return sorted(SOLUTIONS.glob("[0-9][0-9]_*.ipynb"))


# ----------------------------------------------------------------------------
# checking that everything is current


def stale_files() -> list[str]:
    """What `--check` reports: every generated file that a build would change."""
    config = course_config()
    prepared, errors = prepared_solutions(config)
    problems = [f"{path.relative_to(ROOT)}: {error}" for path, error in errors.items()]
    for path, nb in prepared.items():
        current = read(path)
        name = path.relative_to(ROOT)
        stored = current.metadata.get("course", {}).get("source_digest")
        if stored != source_digest(nb):
            problems.append(f"{name}: edited since its last build "
                            f"(outputs may be stale)")
        nb.metadata["course"] = current.metadata.get("course", {})
        for cell, old in zip(nb.cells, current.cells):
            if cell.cell_type == "code" and old.cell_type == "code":
                cell.outputs, cell.execution_count = old.outputs, old.execution_count
        if serialise(nb) != serialise(current):
            problems.append(f"{name}: generated cells (badge, setup, carried-in) or "
                            f"metadata out of date")
        student_path = NOTEBOOKS / path.name
        expected = serialise(student_notebook(nb, path.name, config))
        if not student_path.exists():
            problems.append(f"{student_path.relative_to(ROOT)}: missing")
        elif student_path.read_text() != expected:
            problems.append(f"{student_path.relative_to(ROOT)}: not what build.py "
                            f"writes from {name}")
    if README.exists():
        try:
            table = lessons_table(prepared, config)
            if README.read_text() != readme_with_table(README.read_text(), table):
                problems.append("README.md: the lessons table is out of date")
        except BuildError as error:
            problems.append(str(error))
    for extra in sorted(NOTEBOOKS.glob("*.ipynb")):
        if not (SOLUTIONS / extra.name).exists():
            problems.append(f"{extra.relative_to(ROOT)}: has no solution")
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="*", type=Path,
                        help="solution notebooks to build (default: all)")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 if solutions/ or notebooks/ are not current")
    parser.add_argument("--jobs", type=int, default=2,
                        help="notebooks executed at once (default 2)")
    args = parser.parse_args(argv)

    if args.check:
        problems = stale_files()
        for problem in problems:
            print(problem)
        if problems:
            print("run `python tools/build.py` to rebuild", file=sys.stderr)
            return 1
        print(f"all {len(all_solutions())} lessons are current")
        return 0

    paths = [p.resolve() for p in args.paths] or all_solutions()
    for path in paths:
        if path.parent != SOLUTIONS:
            print(f"{path}: build only notebooks in {SOLUTIONS}", file=sys.stderr)
            return 2
    NOTEBOOKS.mkdir(exist_ok=True)
    prepared, errors = prepared_solutions(course_config())
    for path in paths:
        if path in errors:
            print(f"build error: {errors[path]}", file=sys.stderr)
            return 1
        if path not in prepared:
            print(f"{path}: no such solution notebook", file=sys.stderr)
            return 2
        # keep the stored digest until execution replaces it
        prepared[path].metadata["course"] = read(path).metadata.get("course", {})
        path.write_text(serialise(prepared[path]))
    if README.exists():
        README.write_text(readme_with_table(
            README.read_text(), lessons_table(prepared, course_config())))
    failed = 0
    with ProcessPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        futures = {pool.submit(build_one, str(p)): p for p in paths}
        for future, path in futures.items():
            try:
                print(f"built {future.result()}")
            except Exception as error:  # report every notebook, then fail
                failed += 1
                print(f"FAILED {path.name}: {type(error).__name__}: {error}",
                      file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
