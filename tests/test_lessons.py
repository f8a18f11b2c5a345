"""Every lesson has the shape the style guide promises, and every link resolves."""

import re
from pathlib import Path
from urllib.parse import unquote

import nbformat
import pytest

from tools.course import ROOT, all_solutions, course_config, github_path, tags

LESSONS = all_solutions()
# a markdown link or image `[text](target "title")`, or an HTML `<img src="target">`
LINK = re.compile(
    r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)|<img[^>]*\ssrc=\"([^\"]+)\"")


def markdown(nb) -> list[str]:
    return [c.source for c in nb.cells if c.cell_type == "markdown"]


def links(text: str) -> list[str]:
    # code (fenced or inline) shows link syntax as text; it is not a link
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    text = re.sub(r"`[^`\n]*`", "", text)
    return [m.group(1) or m.group(2) for m in LINK.finditer(text)]


def local_target(link: str, folder: Path) -> Path | None:
    """The file a link points to in this repository, or None for an outside link."""
    if link.startswith(("data:", "mailto:")) or link.startswith("#"):
        return None
    if link.startswith(("http://", "https://")):
        repo = github_path(course_config())
        for prefix in (f"https://colab.research.google.com/github/{repo}/blob/",
                       f"https://github.com/{repo}/blob/"):
            if link.startswith(prefix):
                return ROOT / link[len(prefix):].split("/", 1)[1]
        return None
    return (folder / unquote(link.split("#")[0])).resolve()


def documents():
    yield ROOT / "README.md", ROOT / "README.md"
    yield ROOT / "AUTHORING.md", ROOT / "AUTHORING.md"
    for folder in ("solutions", "notebooks"):
        yield from ((p, p) for p in sorted((ROOT / folder).glob("*.ipynb")))


@pytest.mark.parametrize("path", [p for p, _ in documents()],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_every_link_and_image_resolves(path):
    if path.suffix == ".ipynb":
        texts = markdown(nbformat.read(path, as_version=4))
    else:
        texts = [path.read_text()]
    broken = []
    for text in texts:
        for link in links(text):
            target = local_target(link, path.parent)
            if target is not None and not target.exists():
                broken.append(link)
    assert not broken, f"{path.name}: links to files that do not exist: {broken}"


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_lesson_has_the_house_shape(path):
    nb = nbformat.read(path, as_version=4)
    number = int(path.name[:2])
    title = nb.cells[0].source
    assert re.match(rf"# {number:02d} - \S", title), "title line '# NN - Title'"
    assert "In this notebook you will" in title
    text = "\n".join(markdown(nb))
    assert re.search(r"^## Recap", text, re.M), "a '## Recap' section"
    assert re.search(r"^## Exercises", text, re.M), "a '## Exercises' section"
    if path != LESSONS[-1]:
        following = LESSONS[LESSONS.index(path) + 1].name
        assert f"]({following})" in text, f"a link to the next lesson, {following}"
    instructor = [c for c in nb.cells if "instructor" in tags(c)]
    assert len(instructor) >= 3, "at least three lecturer's notes"
    assert all(c.cell_type == "markdown" for c in instructor)
    if path != LESSONS[-1]:
        following = nbformat.read(LESSONS[LESSONS.index(path) + 1], as_version=4)
        if any("carried-in" in tags(c) for c in following.cells):
            assert any("carry-over" in tags(c) for c in nb.cells), "a carry-over cell"


@pytest.mark.parametrize("path", LESSONS, ids=lambda p: p.stem)
def test_no_output_hidden_with_a_semicolon(path):
    # the test runner shows what `;` hides, so hidden output would differ
    for index, cell in enumerate(nbformat.read(path, as_version=4).cells):
        if cell.cell_type == "code" and cell.source.strip():
            last = cell.source.rstrip().split("\n")[-1]
            assert not last.rstrip().endswith(";"), f"cell {index + 1} ends with ';'"


def test_every_question_in_the_readme_is_answered_where_it_says():
    readme = (ROOT / "README.md").read_text()
    faq = readme.split("## Questions learners keep asking", 1)[1].split("\n## ", 1)[0]
    rows = [r for r in faq.split("\n") if r.startswith("| ") and "](" in r]
    assert len(rows) >= 6
    for row in rows:
        question = row.split("|")[1]
        term = re.search(r"`([^`]+)`", question) or re.search(r"(\w{6,})", question)
        target = ROOT / re.search(r"\]\(([^)]+)\)", row).group(1)
        headings = [t for t in markdown(nbformat.read(target, as_version=4))
                    if t.startswith("### Question:")]
        assert any(term.group(1) in h.split("\n")[0] for h in headings), (
            f"{target.name} has no '### Question:' heading about {term.group(1)}")


def test_every_classic_mistake_in_the_readme_is_shown_where_it_says():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Classic mistakes, shown on purpose", 1)[1]
    section = section.split("\n## ", 1)[0]
    items = re.findall(r"^(\d)\. (.*?)(?=^\d\. |\Z)", section, re.M | re.S)
    assert [int(number) for number, _ in items] == list(range(1, 7))
    for number, text in items:
        target = ROOT / re.search(r"\]\(([^)]+)\)", text).group(1)
        headings = [line for cell in markdown(nbformat.read(target, as_version=4))
                    for line in cell.split("\n") if line.startswith("#")]
        assert any(f"Classic mistake {number}:" in h for h in headings), (
            f"{target.name} has no heading 'Classic mistake {number}: ...'")
