"""The course's two editions of the worked solutions (a tool, not part of the package).

    python tools/editions.py student OUT      # the exercise sheets: notebooks/solutions/* without answers
    python tools/editions.py instructor OUT   # each chapter with its worked solutions after its Exercises

Conventions (nbgrader's): in a solutions notebook, the answer to a coded exercise sits between the lines
``### BEGIN SOLUTION`` and ``### END SOLUTION``; a cell tagged ``solution`` (a worked answer's text or
code) exists only in the instructor's edition.

* student: every notebooks/solutions/*.ipynb with the code between the markers replaced by
  ``raise NotImplementedError`` (at the markers' indentation; the stub's comments above them stay), the
  cells tagged ``solution`` removed, outputs and execution counts stripped. The chapters' checks then say
  "not done yet" and the sheet runs top to bottom.
* instructor: every chapter notebooks/NN_*.ipynb that has a solutions notebook, with that notebook's cells
  (all of them, markers removed) inserted after the chapter's "## Exercises" cell, outputs stripped.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
SOLUTIONS = NOTEBOOKS / "solutions"
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
TAG = "solution"
_MARKED = re.compile(
    rf"^(?P<indent>[ \t]*){re.escape(BEGIN)}[^\n]*\n.*?^[ \t]*{re.escape(END)}[^\n]*(\n|$)",
    re.S | re.M,
)


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _set_source(cell: dict, text: str) -> None:
    cell["source"] = text.splitlines(keepends=True)


def _stripped(cell: dict) -> dict:
    cell = copy.deepcopy(cell)
    if cell["cell_type"] == "code":
        cell["outputs"], cell["execution_count"] = [], None
    cell.get("metadata", {}).pop("execution", None)
    return cell


def stub(text: str) -> str:
    """The code with each BEGIN ... END SOLUTION block replaced by ``raise NotImplementedError``."""
    out = _MARKED.sub(lambda m: f"{m['indent']}raise NotImplementedError\n", text)
    if BEGIN in out or END in out:
        raise ValueError(f"unbalanced {BEGIN!r} / {END!r} markers in:\n{text}")
    return out


def unmark(text: str) -> str:
    """The code with the marker lines removed (the answer kept)."""
    return "".join(
        line for line in text.splitlines(keepends=True) if not line.strip().startswith((BEGIN, END))
    )


def is_solution(cell: dict) -> bool:
    return TAG in cell.get("metadata", {}).get("tags", [])


def student(nb: dict) -> dict:
    """The exercise sheet of a solutions notebook: stubs for the coded answers, no worked answers."""
    nb = copy.deepcopy(nb)
    cells = []
    for cell in nb["cells"]:
        if is_solution(cell):
            continue
        cell = _stripped(cell)
        if cell["cell_type"] == "code":
            _set_source(cell, stub(_source(cell)))
        cells.append(cell)
    nb["cells"] = cells
    return nb


def instructor(chapter: dict, solutions: dict, tag: str) -> dict:
    """The chapter with the solutions notebook's cells (markers removed) after its Exercises cell."""
    nb = copy.deepcopy(chapter)
    at = next(
        (
            i
            for i, c in enumerate(nb["cells"])
            if c["cell_type"] == "markdown" and _source(c).lstrip().startswith("## Exercises")
        ),
        None,
    )
    if at is None:
        raise ValueError("the chapter has no '## Exercises' markdown cell")
    added = []
    for k, cell in enumerate(solutions["cells"]):
        cell = _stripped(cell)
        if cell["cell_type"] == "code":
            _set_source(cell, unmark(_source(cell)))
        cell["id"] = f"{tag}-{k:02d}"
        added.append(cell)
    before, after = nb["cells"][: at + 1], nb["cells"][at + 1 :]
    nb["cells"] = [_stripped(c) for c in before] + added + [_stripped(c) for c in after]
    return nb


def _read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _write(nb: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def solution_files(folder: Path = SOLUTIONS) -> list[Path]:
    return sorted(p for p in folder.glob("*_solutions.ipynb") if not p.name.startswith("."))


def build(edition: str, out: Path, notebooks: Path = NOTEBOOKS) -> list[Path]:
    """Write the edition's notebooks into ``out``; returns their paths."""
    written = []
    for sol in solution_files(notebooks / "solutions"):
        if edition == "student":
            path = out / sol.name
            _write(student(_read(sol)), path)
        elif edition == "instructor":
            chapter = notebooks / sol.name.replace("_solutions.ipynb", ".ipynb")
            if not chapter.exists():
                continue
            path = out / chapter.name
            _write(instructor(_read(chapter), _read(sol), f"sol-{chapter.stem[:2]}"), path)
        else:
            raise ValueError(f"edition: expected 'student' or 'instructor', got {edition!r}")
        written.append(path)
    return written


def main(argv: "list[str] | None" = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("edition", choices=["student", "instructor"])
    parser.add_argument("out", type=Path, help="folder to write the notebooks into")
    args = parser.parse_args(argv)
    if args.out.resolve() in (NOTEBOOKS.resolve(), SOLUTIONS.resolve()):
        parser.error("OUT must not be notebooks/ or notebooks/solutions/ (it would overwrite them)")
    for path in build(args.edition, args.out):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
