"""Item 5a: what it costs to start: ``import fmtutor``, ``import fmtutor.course`` and a chapter's first cell.

Every measurement is a fresh Python process (``sys.executable``), so nothing is imported yet; the
operating system's file cache is warm (one untimed run of each comes first), as on a student's second
start of the day. Inside the process the statement alone is timed (wall and CPU); the process's own
wall time, interpreter start included, is recorded beside it. The rows run interleaved, one repetition
of each in turn, so a change in the machine's load spreads over all of them.

The chapter's first code cell (its imports and ``setup()``) runs in an IPython shell, as in a kernel, so
``setup()``'s ``%matplotlib inline`` loads the inline backend as it does in JupyterLab.
"""

__all__ = ["CELL_BREAK", "CHAPTER", "ROWS", "first_cell", "run_imports"]

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .common import stats

ROOT = Path(__file__).resolve().parent.parent
#: The chapter whose first cell is timed (imports + setup()).
CHAPTER = "06_midpoint_sampling.ipynb"
#: Libraries the math floor must not load (ruff's banned-api keeps them out of fmtutor/ outside course/).
HEAVY = ("matplotlib", "ipywidgets", "IPython", "fmtutor.course")

_MARK = "@@IMPORTS@@"
#: Joins the timed cells (a comment line, so the joined source still runs).
CELL_BREAK = "\n# --- next cell ---\n"
_PLAIN = """
import json, sys, time
t0, c0 = time.perf_counter(), time.process_time()
{stmt}
wall, cpu = time.perf_counter() - t0, time.process_time() - c0
print({mark!r} + json.dumps({{"s": wall, "cpu_s": cpu, "loaded": [m for m in {heavy!r} if m in sys.modules]}}))
"""
_CELL = """
import json, sys, time
from IPython.core.interactiveshell import InteractiveShell
class Shell(InteractiveShell):  # a kernel's shell without its event loop: `%matplotlib inline` needs no GUI
    def enable_gui(self, gui=None):
        pass
shell = Shell.instance()
src = open(sys.argv[1], encoding="utf-8").read()
t0, c0 = time.perf_counter(), time.process_time()
result = shell.run_cell(src, silent=True)
wall, cpu = time.perf_counter() - t0, time.process_time() - c0
result.raise_error()
print({mark!r} + json.dumps({{"s": wall, "cpu_s": cpu, "loaded": [m for m in {heavy!r} if m in sys.modules]}}))
"""

#: (key, label, kind, statement); kind 'plain' runs the statement in ``python -c``, 'cell' runs a file's code
#: in an IPython shell.
ROWS: list[tuple[str, str, str, str]] = [
    (
        "torch",
        "`import torch` (for scale: the floor's largest dependency)",
        "plain",
        "import torch",
    ),
    ("fmtutor", "`import fmtutor`", "plain", "import fmtutor"),
    ("course", "`import fmtutor.course`", "plain", "import fmtutor.course"),
    (
        "first_cell",
        "first cells of {chapter} (launch cell, imports + `setup()`, in IPython)",
        "cell",
        "",
    ),
]


def first_cell(notebook: Path) -> str:
    """What a student runs before the chapter's first idea: its code cells up to ``setup()``.

    That is the launch cell (which installs fmtutor only where it is missing, e.g. on Colab) and the
    cell of imports that ends in ``setup()``, joined in order.
    """
    import nbformat

    nb = nbformat.read(notebook, as_version=4)
    parts = []
    for cell in nb.cells:
        if cell.cell_type == "code":
            parts.append(cell.source)
            if "setup()" in cell.source:
                return CELL_BREAK.join(parts)
    raise ValueError(f"notebook: {notebook} has no code cell that calls setup()")


def _once(kind: str, stmt: str, cell_file: "Path | None") -> dict[str, Any]:
    if kind == "plain":
        cmd = [sys.executable, "-c", _PLAIN.format(stmt=stmt, mark=_MARK, heavy=HEAVY)]
    else:
        cmd = [sys.executable, "-c", _CELL.format(mark=_MARK, heavy=HEAVY), str(cell_file)]
    start = time.perf_counter()
    out = subprocess.run(
        cmd, cwd=ROOT / "notebooks", capture_output=True, text=True, env=_env(), timeout=300
    )
    process_s = time.perf_counter() - start
    lines = [ln for ln in out.stdout.splitlines() if ln.startswith(_MARK)]
    if out.returncode != 0 or not lines:
        raise RuntimeError(
            f"{stmt or cell_file} failed (exit {out.returncode}):\n{out.stdout[-1500:]}\n{out.stderr[-3000:]}"
        )
    return {**json.loads(lines[-1][len(_MARK) :]), "process_s": process_s}


def _env() -> dict[str, str]:
    import os

    env = dict(os.environ)
    env.pop("MPLBACKEND", None)  # as in a student's kernel: setup() picks the inline backend
    return env


def run_imports(repeats: int = 7, chapter: str = CHAPTER, log: Any = print) -> dict[str, Any]:
    """Median (min-max) of ``repeats`` fresh-process runs of each row, interleaved; see the module docstring."""
    import tempfile

    notebook = ROOT / "notebooks" / chapter
    with tempfile.TemporaryDirectory() as tmp:
        cell_file = Path(tmp) / "first_cell.py"
        cell_file.write_text(first_cell(notebook), encoding="utf-8")
        runs: dict[str, list[dict[str, Any]]] = {key: [] for key, *_ in ROWS}
        for key, _, kind, stmt in ROWS:  # warm the file cache; not timed
            _once(kind, stmt, cell_file)
        for r in range(repeats):
            for key, _, kind, stmt in ROWS if r % 2 == 0 else ROWS[::-1]:
                runs[key].append(_once(kind, stmt, cell_file))
        source = cell_file.read_text(encoding="utf-8")
    rows = []
    for key, label, kind, stmt in ROWS:
        rs = runs[key]
        row = {
            "key": key,
            "label": label.format(chapter=f"`{chapter}`"),
            "s": stats(r["s"] for r in rs),
            "cpu_s": stats(r["cpu_s"] for r in rs),
            "process_s": stats(r["process_s"] for r in rs),
            "loaded": sorted({m for r in rs for m in r["loaded"]}),
        }
        rows.append(row)
        log(
            f"  {row['label']}: {row['s']['median']:.2f} s ({row['s']['min']:.2f}–{row['s']['max']:.2f}),"
            f" process {row['process_s']['median']:.2f} s; loads {', '.join(row['loaded']) or 'none of ' + ', '.join(HEAVY)}"
        )
    floor = next(r for r in rows if r["key"] == "fmtutor")
    return {
        "rows": rows,
        "repeats": repeats,
        "chapter": chapter,
        "first_cell": source,
        "python": sys.executable,
        "floor_loads_no_course_library": not floor["loaded"],
    }
