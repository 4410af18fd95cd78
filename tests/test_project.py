"""Project hygiene: notebooks stripped and sliced, environment.yml in step with pyproject.toml, CI runs the README."""

import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CONDA_NAMES = {"torch": "pytorch-cpu"}


def _toml():
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _name(req: str) -> str:
    return re.split(r"[<>=!~;\[ ]", req, maxsplit=1)[0].strip().lower()


def test_there_are_chapters():
    assert len(NOTEBOOKS) >= 1


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_is_committed_without_outputs(nb):
    cells = json.loads(nb.read_text())["cells"]
    dirty = [
        i
        for i, c in enumerate(cells)
        if c["cell_type"] == "code" and (c.get("outputs") or c.get("execution_count"))
    ]
    assert not dirty, (
        f"{nb.name}: cells {dirty} carry outputs or execution counts; strip them before committing"
    )


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_has_slides_kernel_and_structure(nb):
    book = json.loads(nb.read_text())
    assert book["metadata"]["kernelspec"]["name"] == "python3"
    kinds = [c["metadata"].get("slideshow", {}).get("slide_type") for c in book["cells"]]
    assert None not in kinds, (
        f"{nb.name}: cells {[i for i, k in enumerate(kinds) if k is None]} have no slide_type"
    )
    assert kinds.count("slide") + kinds.count("subslide") >= 4, f"{nb.name}: too few slides"
    text = "\n".join("".join(c["source"]) for c in book["cells"] if c["cell_type"] == "markdown")
    for heading in ("What you will learn", "Summary", "Exercises"):
        assert heading.lower() in text.lower(), f"{nb.name}: no '{heading}' section"


def test_environment_yml_names_the_same_packages_as_pyproject():
    proj = _toml()["project"]
    reqs = list(proj["dependencies"])
    for extra, pkgs in proj["optional-dependencies"].items():
        if extra not in (
            "ui",
            "present",
        ):  # browser tests (apt Chromium) and live decks: not in the conda env
            reqs += pkgs
    want = {CONDA_NAMES.get(_name(r), _name(r)) for r in reqs if ";" not in r}
    env = (ROOT / "environment.yml").read_text()
    deps = env.split("dependencies:", 1)[1]
    got = {_name(m) for m in re.findall(r"^\s+-\s+([A-Za-z][\w.-]*[^\n]*)$", deps, re.M)} - {
        "python",
        "pip",
        "pip:",
    }
    assert got == want, (
        f"only in environment.yml: {sorted(got - want)}; only in pyproject.toml: {sorted(want - got)}"
    )


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    cmd = "python3 tools/course.py test"
    assert f"\n{cmd}\n" in readme and f"\n{cmd}\n" in ci
