"""Put the launch cell in every chapter, just before its imports-and-setup cell (rerunnable).

    flock /tmp/nb.lock .venv/bin/python tools/add_launch_cell.py          # insert or refresh
    .venv/bin/python tools/add_launch_cell.py --check                      # exit 1 if one is missing/stale

The launch cell does nothing where ``fmtutor`` imports (a local install, Binder). Elsewhere (Colab,
Kaggle) it pip-installs the course package into the running kernel from the repository address in
``[project.urls]`` of pyproject.toml (the one place it is kept; ``FMTUTOR_SOURCE`` overrides it, e.g. with
a local wheel), with ``--no-deps``, then the dependencies other than torch, so a present torch is never
upgraded or replaced, and says what it did. It is tagged ``remove_cell`` (publish drops it from decks and
pages) and is a ``skip`` slide. Each notebook is read from disk, changed and written back at once
(indent 1, trailing newline, cell ids kept): run it under the notebook lock.
"""

import argparse
import json
import re
import sys
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
CELL_ID = "launch"
TAGS = ["remove_cell"]
# Not installed by the cell: torch (never touched), and what a running kernel already has or never needs.
SKIP = {"torch", "jupyterlab", "ipykernel"}


def chapters(root: Path = ROOT) -> list[Path]:
    """The chapter notebooks: notebooks/NN_*.ipynb and the same in one level of language folders."""
    nb = root / "notebooks"
    found = sorted(nb.glob("[0-9][0-9]_*.ipynb")) + sorted(nb.glob("*/[0-9][0-9]_*.ipynb"))
    return [p for p in found if p.parent.name != "solutions"]


def project(root: Path = ROOT) -> dict:
    return tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def repository_url(root: Path = ROOT) -> str:
    """The repository's address: ``[project.urls] Repository`` of pyproject.toml."""
    return project(root)["urls"]["Repository"]


def _name(req: str) -> str:
    return re.split(r"[\s<>=!~;\[]", req, maxsplit=1)[0].lower()


def dependencies(root: Path = ROOT) -> list[str]:
    """The requirements the cell installs: the package's and the course's, without torch and Jupyter."""
    p = project(root)
    reqs = [*p["dependencies"], *p["optional-dependencies"]["course"]]
    return [r for r in reqs if _name(r) not in SKIP]


def cell_source(root: Path = ROOT) -> str:
    """The launch cell's code (ruff-clean: sorted imports, lines within 100 characters)."""
    quoted = [f'"{d}"' for d in dependencies(root)]
    lines, line = [], "       "
    for q in quoted:
        if len(line) + len(q) + 2 > 96:
            lines.append(line.rstrip())
            line = "       "
        line += f" {q},"
    deps = "\n".join([*lines, line.rstrip()])
    return f"""\
# Launch cell: where fmtutor is missing (Colab, Kaggle), install it into this kernel; torch stays.
import importlib
import importlib.util
import os
import subprocess
import sys

if importlib.util.find_spec("fmtutor") is None:
    _src = os.environ.get("FMTUTOR_SOURCE", "git+{repository_url(root)}")
    _pip = [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*_pip, "--no-deps", _src], check=True)
    _deps = [
{deps}
    ]
    subprocess.run([*_pip, *_deps], check=True)
    importlib.invalidate_caches()
    print(f"Installed the course package fmtutor from {{_src}}; torch was left as it was.")
    if importlib.util.find_spec("torch") is None:
        print("torch is missing: install a PyTorch build for this machine, then rerun this cell.")"""


def make_cell(root: Path = ROOT) -> dict:
    return {
        "cell_type": "code",
        "execution_count": None,
        "id": CELL_ID,
        "metadata": {"slideshow": {"slide_type": "skip"}, "tags": list(TAGS)},
        "outputs": [],
        "source": cell_source(root).splitlines(keepends=True),
    }


def place(nb: dict, cell: dict) -> bool:
    """Put ``cell`` right before the first other code cell (the imports and setup); True if changed."""
    cells = nb["cells"]
    old = [i for i, c in enumerate(cells) if c.get("id") == CELL_ID]
    rest = [c for c in cells if c.get("id") != CELL_ID]
    first_code = next((i for i, c in enumerate(rest) if c["cell_type"] == "code"), len(rest))
    new = rest[:first_code] + [cell] + rest[first_code:]
    if len(old) == 1 and cells == new:
        return False
    nb["cells"] = new
    return True


def process(path: Path, check: bool, root: Path = ROOT) -> bool:
    """Insert or refresh the launch cell of one chapter (or, with check, only tell); True if it changed."""
    text = path.read_text(encoding="utf-8")
    nb = json.loads(text)
    changed = place(nb, make_cell(root))
    if changed and not check:
        path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return changed


def main(argv: "list[str] | None" = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--check", action="store_true", help="change nothing; exit 1 if a cell is stale"
    )
    ap.add_argument("notebooks", nargs="*", type=Path, help="default: every chapter")
    args = ap.parse_args(argv)
    paths = args.notebooks or chapters()
    stale = [p for p in paths if process(p, args.check)]
    verb = "stale or missing in" if args.check else "inserted or refreshed in"
    print(
        f"launch cell {verb} {len(stale)} of {len(paths)} chapters"
        + "".join(f"\n  {p}" for p in stale)
    )
    return 1 if (args.check and stale) else 0


if __name__ == "__main__":
    sys.exit(main())
