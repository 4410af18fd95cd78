"""Tag the chapters for the projector deck: what a lecturer shows of each code cell (rerunnable).

    flock /tmp/nb.lock python tools/slide_tags.py [--dry-run] [notebooks/NN_*.ipynb ...]

Rules (tools/publish.py's for_projector applies the tags; the student notebook keeps every cell whole):
- a check cell (mostly ``assert`` and ``print``), an exercise's checking cell and a cell that only shows a
  figure or a widget get ``remove_input``: the deck shows their output, not their code;
- a figure cell marked ``skip`` is shown (its figure, not its code);
- code that defines something (``def``, ``class``), trains (``backward``) or is an exercise stub stays visible.
A cell tagged ``show_input`` is left alone (a person decided). The script only adds ``remove_input`` (never
removes one an author set) and un-skips figure cells; every other field, cell id and order is kept.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIGURE = re.compile(
    r"\bplt\.|\.subplots\(|\bfig\b|\bimshow\(|\bplot_\w*\(|\bshow_\w*\(|\.widget\b|display\("
)
KEEP = re.compile(r"^\s*(def|class|async def)\s|\.backward\(|raise NotImplementedError", re.M)


def _statements(source: str) -> list[str]:
    """Top-level logical lines: not comments, not continuation lines (indented or inside brackets)."""
    out, depth = [], 0
    for line in source.splitlines():
        s = line.split("#", 1)[0].rstrip()
        if not s.strip():
            continue
        if depth == 0 and not line[:1].isspace():
            out.append(s.strip())
        depth = max(0, depth + sum(s.count(c) for c in "([{") - sum(s.count(c) for c in ")]}"))
    return out


def decide(source: str, skip: bool) -> "tuple[bool, bool]":
    """(hide the code, show a skipped cell) for one code cell's source."""
    code = [ln for ln in source.splitlines() if not ln.lstrip().startswith(("import ", "from "))]
    body = "\n".join(code)
    figure = bool(FIGURE.search(body))
    if skip:
        return (True, True) if figure and not KEEP.search(body) else (False, False)
    if KEEP.search(body):
        return False, False
    stmts = _statements(body)
    checks = [
        s for s in stmts if s.startswith(("assert", "print(")) or re.match(r"\w+ = \w+\.check_", s)
    ]
    exercise = "use_or_reference(" in body or re.search(r"\bcheck_\w+\(", body)
    if exercise or (stmts and len(checks) >= 0.5 * len(stmts)):
        return True, False
    if figure and len(stmts) <= 12 and not re.search(r"^\s*for\s", body, re.M):
        return True, False
    return False, False


def tag_notebook(path: Path, dry_run: bool = False) -> list[str]:
    """Apply the rules to one notebook (written back in place unless dry_run); returns what changed."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    changes = []
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        md = cell.setdefault("metadata", {})
        tags = md.get("tags", [])
        if "show_input" in tags:
            continue
        source = "".join(cell["source"])
        skip = md.get("slideshow", {}).get("slide_type") == "skip"
        hide, unskip = decide(source, skip)
        if skip and not unskip:
            continue
        first = source.strip().splitlines()[0][:60] if source.strip() else ""
        if unskip:
            md["slideshow"] = {**md.get("slideshow", {}), "slide_type": "-"}
            changes.append(f"cell {i}: skip -> shown: {first}")
        if hide and "remove_input" not in tags:
            md["tags"] = [*tags, "remove_input"]
            changes.append(f"cell {i}: remove_input: {first}")
    if changes and not dry_run:
        path.write_text(
            json.dumps(nb, indent=1, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8"
        )
    return changes


def main(argv: "list[str]") -> int:
    dry = "--dry-run" in argv
    paths = [Path(a) for a in argv if not a.startswith("--")] or sorted(
        (ROOT / "notebooks").glob("*.ipynb")
    )
    for p in paths:
        for change in tag_notebook(p, dry):
            print(f"{p.name}: {change}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
