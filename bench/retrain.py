"""Issue 12: change one line of chapter 5's visible training loop and retrain, as a student would.

The chapter's own cells are taken from ``notebooks/05_training.ipynb`` (found by what they hold, not
by their position): the training loop and every code cell above it (imports and ``setup()``, the
``VelocityNet`` class, the ``train_step`` function, ...). They run in a fresh kernel (nbclient, as
bench/chapters.py does); then the loop cell runs again with one line edited (the learning rate,
``lr=1e-2`` -> ``lr=3e-3``), as a student who changes it and presses Shift+Enter. Each run of the
loop cell is timed in the kernel: wall and the kernel's CPU seconds, from the cell's first line to its
last (the live loss curve included). The kernel's start and the first cells are not counted: they
ran before the student's edit.
"""

__all__ = ["EDIT", "run_retrain", "retrain_notebook"]

import json
import time
from pathlib import Path
from typing import Any

from .common import stats

ROOT = Path(__file__).resolve().parent.parent
CHAPTER = ROOT / "notebooks" / "05_training.ipynb"
#: The one line changed in the loop cell: (old text, new text).
EDIT = ("lr=1e-2", "lr=3e-3")

_MARK = "@@RETRAIN@@"
_BEFORE = "import time as _t\n_w0, _c0 = _t.perf_counter(), _t.process_time()"
_AFTER = (
    "import json as _json\n"
    "print({mark!r} + _json.dumps({{'label': {label!r}, 'wall_s': _t.perf_counter() - _w0,"
    " 'cpu_s': _t.process_time() - _c0, 'lr': opt.defaults['lr'], 'steps': steps,"
    " 'final_loss': float(np.mean(curve.losses[-300:]))}}))"
)


def _source(cell: Any) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def retrain_notebook(path: Path = CHAPTER, repeats: int = 1) -> Any:
    """The notebook that is run: the chapter's cells above its loop, the loop, the edited loop.

    Raises:
        ValueError: when a needed cell (or the line to edit) is not found in ``path``.
    """
    import nbformat

    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]

    def find(what: str, *needles: str) -> str:
        for c in code:
            if all(n in _source(c) for n in needles):
                return _source(c)
        raise ValueError(f"{path.name}: no code cell holds {what} ({' and '.join(needles)})")

    loop = find("the training loop", "for step in range(steps):", "train_step(", "LossCurve(")
    # every code cell above the loop, as they stand when the student edits it
    before = [_source(c) for c in code[: [_source(c) for c in code].index(loop)]]
    if not any("setup(" in src for src in before):
        raise ValueError(f"{path.name}: no code cell above the loop calls setup()")
    if loop.count(EDIT[0]) != 1:
        raise ValueError(f"{path.name}: the loop cell does not hold {EDIT[0]!r} exactly once")
    edited = loop.replace(EDIT[0], EDIT[1])
    cells = list(before)
    for _ in range(repeats):
        for label, src in (("as in the chapter", loop), (f"{EDIT[0]} -> {EDIT[1]}", edited)):
            cells += [
                _BEFORE,
                src,
                _AFTER.format(mark=_MARK, label=label),
            ]
    out = nbformat.v4.new_notebook()
    out.metadata = nb.metadata
    out.cells = [nbformat.v4.new_code_cell(s) for s in cells]
    return out


def run_retrain(repeats: int = 1, log: Any = print, timeout: int = 600) -> dict[str, Any]:
    """Run the chapter's loop and the edited loop ``repeats`` times each in one fresh kernel.

    Returns:
        rows (label, wall_s, cpu_s, lr, steps, final_loss per run), the edit, and per label the
        stats of wall and CPU seconds; ``error`` when the kernel failed.
    """
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = retrain_notebook(CHAPTER, repeats)
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(CHAPTER.parent)}},
    )
    error, start = None, time.time()
    try:
        client.execute()
    except CellExecutionError as e:
        error = str(e).strip().splitlines()[-1][:300] if str(e).strip() else type(e).__name__
    except Exception as e:  # kernel died, timeout, ...
        error = f"{type(e).__name__}: {str(e)[:300]}"
    rows = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            text = out.get("text", "")
            if _MARK in text:
                rows.append(json.loads(text.split(_MARK, 1)[1].splitlines()[0]))
    for r in rows:
        log(
            f"  {r['label']}: {r['steps']} steps at lr {r['lr']:g} in {r['wall_s']:.1f} s wall,"
            f" {r['cpu_s']:.1f} s kernel CPU; mean loss of the last 300 steps {r['final_loss']:.3f}"
        )
    if error:
        log(f"  ERROR {error}")
    edited = [r for r in rows if r["label"] != "as in the chapter"]
    return {
        "chapter": CHAPTER.name,
        "edit": list(EDIT),
        "repeats": repeats,
        "rows": rows,
        "error": error,
        "total_s": time.time() - start,
        "edited_wall": stats(r["wall_s"] for r in edited) if edited else None,
        "edited_cpu": stats(r["cpu_s"] for r in edited) if edited else None,
        "met": bool(edited) and not error and max(r["wall_s"] for r in edited) <= 15.0,
    }
