"""The chapters' launch cell: in place and current, silent where fmtutor imports, an install where it does not.

The install is tried for real in a fresh venv without fmtutor: ``FMTUTOR_SOURCE`` points the cell at a wheel
built from the work tree (standing in for the repository's address), and the dependencies are lent from
this environment by a folder of links (everything but fmtutor itself), with ``PIP_NO_INDEX=1`` so nothing
is fetched. The cell must install fmtutor into the venv, leave torch where it was, and say so.
"""

import importlib.util
import json
import os
import re
import site
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


LAUNCH = _load("add_launch_cell", ROOT / "tools" / "add_launch_cell.py")
CHAPTERS = LAUNCH.chapters()


def test_repository_url_is_kept_once_and_used_by_the_cell():
    url = LAUNCH.repository_url()
    assert url.startswith("https://") and url.count("/") >= 4, url
    src = LAUNCH.cell_source()
    assert f'"git+{url}"' in src and src.count("https://") == 1
    assert "torch" not in [LAUNCH._name(r) for r in LAUNCH.dependencies()]
    assert '"--no-deps", _src' in src


@pytest.mark.parametrize("nb", CHAPTERS, ids=lambda p: p.name)
def test_chapter_starts_with_the_current_launch_cell(nb):
    cells = json.loads(nb.read_text(encoding="utf-8"))["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    assert code[0].get("id") == LAUNCH.CELL_ID, (
        f"{nb.name}: the launch cell is not the first code cell"
    )
    assert sum(c.get("id") == LAUNCH.CELL_ID for c in cells) == 1
    cell = code[0]
    assert "".join(cell["source"]) == LAUNCH.cell_source(), (
        f"{nb.name}: stale; run tools/add_launch_cell.py"
    )
    assert "remove_cell" in cell["metadata"]["tags"]
    assert cell["metadata"]["slideshow"]["slide_type"] == "skip"
    assert "setup(" in "".join(code[1]["source"]), (
        f"{nb.name}: imports and setup() should follow it"
    )


def _run_cell(python: str, env: dict, cwd: Path, prelude: str = "") -> subprocess.CompletedProcess:
    code = prelude + LAUNCH.cell_source()
    return subprocess.run(
        [python, "-I", "-c", code], capture_output=True, text=True, env=env, cwd=cwd, timeout=600
    )


def test_cell_does_nothing_where_fmtutor_imports(tmp_path):
    """Here fmtutor is installed: the cell runs no command and prints nothing."""
    prelude = "import subprocess\ndef _no(*a, **k): raise SystemExit('ran ' + repr(a))\nsubprocess.run = _no\n"
    env = {k: v for k, v in os.environ.items() if k != "FMTUTOR_SOURCE"}
    res = subprocess.run(
        [sys.executable, "-c", prelude + LAUNCH.cell_source()],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    assert res.stdout == "" and res.stderr == ""


def _lent_site(dest: Path) -> Path:
    """A folder of links to this environment's packages, fmtutor and its editable hooks left out."""
    dest.mkdir()
    for sp in site.getsitepackages():
        for entry in Path(sp).iterdir():
            low = entry.name.lower()
            if low.startswith(("fmtutor", "__editable__", "_fmtutor")) or low.endswith(".pth"):
                continue
            if not (dest / entry.name).exists():
                (dest / entry.name).symlink_to(entry)
    return dest


@pytest.mark.slow
def test_cell_installs_fmtutor_into_a_fresh_venv_and_leaves_torch(tmp_path):
    wheel_test = _load("_wheel_helpers", ROOT / "tests" / "test_wheel.py")
    # The stand-in asks for a torch that cannot be had (as Colab's torch may sit below the bound): a cell
    # that let pip resolve fmtutor's dependencies would fail here instead of leaving torch alone.
    wheel = wheel_test._build(tmp_path, lambda t: re.sub(r'"torch>=[^"]*"', '"torch>=99"', t))
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    py = str(env_dir / "bin" / "python")
    purelib = Path(
        subprocess.run(
            [py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    lent = _lent_site(tmp_path / "lent")
    (purelib / "_lent.pth").write_text(f"{lent}\n")
    torch_before = subprocess.run(
        [py, "-I", "-c", "import torch; print(torch.__file__, torch.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update(FMTUTOR_SOURCE=str(wheel), PIP_NO_INDEX="1")
    work = tmp_path / "work"
    work.mkdir()
    probe = "import importlib.util; print(importlib.util.find_spec('fmtutor'))"
    absent = subprocess.run([py, "-I", "-c", probe], capture_output=True, text=True, cwd=work)
    assert absent.stdout.strip() == "None", absent.stdout  # the venv starts without fmtutor

    res = _run_cell(py, env, work)
    assert res.returncode == 0, res.stdout + res.stderr
    assert f"Installed the course package fmtutor from {wheel}" in res.stdout
    assert "torch is missing" not in res.stdout

    after = subprocess.run(
        [py, "-I", "-c", "import fmtutor, fmtutor.course.ch05; print(fmtutor.__file__)"],
        capture_output=True,
        text=True,
        cwd=work,
    )
    assert after.returncode == 0, after.stderr
    assert Path(after.stdout.strip()).is_relative_to(purelib)
    assert not list(purelib.glob("torch*")), "the cell installed torch"
    torch_after = subprocess.run(
        [py, "-I", "-c", "import torch; print(torch.__file__, torch.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert torch_after == torch_before

    again = _run_cell(py, env, work)  # now fmtutor imports: silent
    assert again.returncode == 0 and again.stdout == "", again.stdout + again.stderr


def test_badges_come_from_the_one_address():
    badges = _load("badges", ROOT / "tools" / "badges.py")
    url = LAUNCH.repository_url()
    repo = badges.owner_repo(url)
    table = badges.table()
    rows = [r for r in table.splitlines() if r.startswith("| ") and "Colab" in r]
    assert len(rows) == len(CHAPTERS)
    for nb, row in zip(CHAPTERS, rows):
        rel = nb.relative_to(ROOT).as_posix()
        assert f"colab.research.google.com/github/{repo}/blob/main/{rel})" in row
        assert f"src=https://github.com/{repo}/blob/main/{rel})" in row
        assert f"mybinder.org/v2/gh/{repo}/HEAD?labpath={rel.replace('/', '%2F')})" in row
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    if badges.START in readme:  # once the table is in the README, it must be current
        assert badges.main(["--check", str(ROOT / "README.md")]) == 0
    with pytest.raises(ValueError, match="Repository"):
        badges.owner_repo("https://gitlab.com/a/b")
