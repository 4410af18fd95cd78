"""tools/editions.py: the student edition has no answers left and still runs; the instructor edition is whole.

Also: every exercise of chapters 0-11 has a worked solution in notebooks/solutions/ (each coded exercise's
answer between the markers, checked by the chapter's check; each open one with a cell tagged ``solution``),
and each chapter links to its solutions at the end of its Exercises cell, and nowhere else.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
SOLUTIONS = NOTEBOOKS / "solutions"
spec = importlib.util.spec_from_file_location("editions", ROOT / "tools" / "editions.py")
editions = importlib.util.module_from_spec(spec)
sys.modules["editions"] = editions
spec.loader.exec_module(editions)

CHAPTERS = sorted(p for p in NOTEBOOKS.glob("[01][0-9]_*.ipynb") if int(p.name[:2]) <= 11)
EXERCISE = re.compile(r"(?:\*\*Exercise (\d+)|### Exercise (\d+))")


def _read(path):
    return json.loads(path.read_text(encoding="utf-8"))


def _src(cell):
    return "".join(cell["source"])


def _solutions_of(chapter):
    return SOLUTIONS / f"{chapter.stem}_solutions.ipynb"


def _answers(nb):
    """The code between the markers, per block."""
    blocks = []
    for cell in nb["cells"]:
        blocks += re.findall(r"### BEGIN SOLUTION\n(.*?)[ \t]*### END SOLUTION", _src(cell), re.S)
    return blocks


@pytest.fixture(scope="module")
def student_build(tmp_path_factory):
    out = tmp_path_factory.mktemp("student")
    return editions.build("student", out)


@pytest.fixture(scope="module")
def instructor_build(tmp_path_factory):
    out = tmp_path_factory.mktemp("instructor")
    return editions.build("instructor", out)


def test_every_chapter_has_solutions_for_every_exercise():
    checks = {}
    for k in range(12):
        module = importlib.import_module(f"fmtutor.course.ch{k:02d}")
        checks[k] = [n for n in module.__all__ if n.startswith("check_")]
    assert sum(len(v) for v in checks.values()) >= 18
    for chapter in CHAPTERS:
        sol = _read(_solutions_of(chapter))
        text = "\n".join(_src(c) for c in sol["cells"])
        for name in checks[int(chapter.name[:2])]:  # every coded exercise: answered and checked
            assert f"ch{chapter.name[:2]}.{name}(" in text, (chapter.name, name)
        wanted = {
            a or b
            for c in _read(chapter)["cells"]
            if c["cell_type"] == "markdown"
            for a, b in EXERCISE.findall(_src(c))
        }
        cells = sol["cells"]
        for number in sorted(wanted, key=int):
            at = next(
                (
                    i
                    for i, c in enumerate(cells)
                    if not editions.is_solution(c)
                    and re.search(rf"(\*\*|### )Exercise {number}\b", _src(c))
                ),
                None,
            )
            assert at is not None, f"{chapter.name}: exercise {number} is not in the solutions"
            nxt = next(  # the next statement: a markdown cell that is not a worked answer
                (
                    i
                    for i, c in enumerate(cells[at + 1 :], at + 1)
                    if c["cell_type"] == "markdown" and not editions.is_solution(c)
                ),
                len(cells),
            )
            answered = any(editions.is_solution(c) for c in cells[at + 1 : nxt])
            coded = any("### BEGIN SOLUTION" in _src(c) for c in cells[at + 1 : nxt])
            assert answered or coded, f"{chapter.name}: exercise {number} has no worked answer"
    assert len(CHAPTERS) == 12


def test_each_chapter_links_to_its_solutions_only_at_the_end_of_its_exercises_cell():
    for chapter in CHAPTERS:
        cells = _read(chapter)["cells"]
        hits = [i for i, c in enumerate(cells) if "solutions/" in _src(c)]
        ex = [
            i
            for i, c in enumerate(cells)
            if c["cell_type"] == "markdown" and _src(c).lstrip().startswith("## Exercises")
        ]
        assert len(ex) == 1 and hits == ex, (chapter.name, hits, ex)
        last = _src(cells[ex[0]]).rstrip().splitlines()[-1]
        target = re.search(r"\]\((solutions/[^)]+)\)", last)
        assert target and (NOTEBOOKS / target.group(1)).exists(), (chapter.name, last)


def test_the_student_edition_has_no_solution_left(student_build):
    assert len(student_build) >= 12
    for path in student_build:
        nb = _read(path)
        original = _read(SOLUTIONS / path.name)
        text = json.dumps(nb)
        code_text = "\n".join(_src(c) for c in nb["cells"] if c["cell_type"] == "code")
        assert "BEGIN SOLUTION" not in code_text and "END SOLUTION" not in code_text, path.name
        assert not any(editions.is_solution(c) for c in nb["cells"]), path.name
        assert "*Solution.*" not in text, path.name
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                assert cell["outputs"] == [] and cell["execution_count"] is None
        for block in _answers(original):  # no line of an answer survives (comments excepted)
            for line in block.splitlines():
                code = line.strip()
                if len(code) > 12 and not code.startswith("#"):
                    assert code not in code_text, (path.name, code)
        stubs = sum(
            _src(c).count("raise NotImplementedError")
            for c in nb["cells"]
            if c["cell_type"] == "code"
        )
        assert stubs == len(_answers(original)), path.name


def test_stub_and_unmark_round_trip():
    """Putting the answer back into each stub gives the unmarked answer cell again."""
    for path in editions.solution_files():
        for cell in _read(path)["cells"]:
            src = _src(cell)
            if cell["cell_type"] != "code" or "### BEGIN SOLUTION" not in src:
                continue
            blocks = iter(
                re.findall(r"### BEGIN SOLUTION\n(.*?)[ \t]*### END SOLUTION\n", src, re.S)
            )
            stub = editions.stub(src)
            restored = re.sub(
                r"^[ \t]*raise NotImplementedError\n", lambda m: next(blocks), stub, flags=re.M
            )
            assert restored == editions.unmark(src), path.name
    with pytest.raises(ValueError, match="unbalanced"):
        editions.stub("def f():\n    ### BEGIN SOLUTION\n    return 1\n")


def test_the_instructor_edition_is_each_chapter_with_its_solutions_inserted(instructor_build):
    assert len(instructor_build) >= 12
    for path in instructor_build:
        nb, chapter = _read(path), _read(NOTEBOOKS / path.name)
        sol = _read(_solutions_of(NOTEBOOKS / path.name))
        at = next(
            i
            for i, c in enumerate(chapter["cells"])
            if c["cell_type"] == "markdown" and _src(c).lstrip().startswith("## Exercises")
        )
        n = len(sol["cells"])
        assert [_src(c) for c in nb["cells"][: at + 1]] == [
            _src(c) for c in chapter["cells"][: at + 1]
        ]
        assert [_src(c) for c in nb["cells"][at + 1 + n :]] == [
            _src(c) for c in chapter["cells"][at + 1 :]
        ]
        inserted = "\n".join(_src(c) for c in nb["cells"][at + 1 : at + 1 + n])
        code = [_src(c) for c in nb["cells"] if c["cell_type"] == "code"]
        assert not any("### BEGIN SOLUTION" in c or "### END SOLUTION" in c for c in code)
        for block in _answers(sol):
            assert block.strip() in inserted
        ids = [c["id"] for c in nb["cells"]]
        assert len(ids) == len(set(ids)), path.name
        assert all(c.get("outputs", []) == [] for c in nb["cells"])


def test_the_cli_refuses_to_overwrite_the_notebooks(tmp_path, capsys):
    with pytest.raises(SystemExit):
        editions.main(["student", str(NOTEBOOKS)])
    assert editions.main(["student", str(tmp_path / "s")]) == 0
    assert len(list((tmp_path / "s").glob("*.ipynb"))) >= 12


def test_a_stripped_sheet_runs_and_its_checks_say_not_done_yet(student_build, tmp_path):
    """The student edition of chapter 4 executes top to bottom (nbclient): the checks say "not done yet"."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    path = next(p for p in student_build if p.name.startswith("04_"))
    nb = nbformat.read(path, as_version=4)
    os.environ.setdefault("FMTUTOR_CACHE", str(tmp_path / "cache"))
    nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    out = "\n".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "not done yet" in out and "continuing with the reference" in out, out
    assert not any(
        o.output_type == "error" for c in nb.cells if c.cell_type == "code" for o in c.outputs
    )
