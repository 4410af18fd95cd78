"""The wheel: ``pip wheel .`` builds, and the course imports from it with the repository out of reach.

The package is built from a copy of its sources (so the build leaves nothing in the work tree), installed
with ``--no-deps`` into a fresh venv, and the dependencies are then lent to that venv by a ``.pth`` line
naming this environment's site-packages (after the install, so pip never sees them; the fresh venv's own
site-packages comes first on sys.path, and the editable install of the work tree is not activated by a
plain path line). ``python -I`` from an empty folder then imports fmtutor and a chapter's course module:
they must come from the venv, and every module of the source tree must be in the wheel.
"""

import email
import shutil
import site
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def _tomllib():
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib
    return tomllib


def _build(dest: Path, edit=None) -> Path:
    """``pip wheel <copy of the sources> --no-deps``, pyproject.toml passed through edit; the wheel file."""
    src = dest / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(ROOT / "fmtutor", src / "fmtutor", ignore=shutil.ignore_patterns("__pycache__"))
    if edit is not None:
        (src / "pyproject.toml").write_text(edit((src / "pyproject.toml").read_text()))
    try:
        import setuptools

        isolation = [] if int(setuptools.__version__.split(".")[0]) >= 64 else None
    except ImportError:
        isolation = None
    flags = (
        ["--no-build-isolation"] if isolation is not None else []
    )  # else setuptools from the registry
    out = dest / "dist"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "-q", "-w", str(out), *flags],
        check=True,
        cwd=dest,
    )
    (wheel,) = out.glob("fmtutor-*.whl")
    return wheel


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(wheel, python of a fresh venv holding it)."""
    tmp = tmp_path_factory.mktemp("wheel")
    wheel = _build(tmp)
    env = tmp / "venv"
    venv.EnvBuilder(with_pip=True).create(env)
    py = env / "bin" / "python"
    subprocess.run(
        [str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], check=True
    )
    purelib = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    ours = [p for p in site.getsitepackages() if Path(p).is_dir()]
    (Path(purelib) / "_lent_dependencies.pth").write_text("\n".join(ours) + "\n")
    return wheel, py


def test_wheel_holds_every_module_and_the_metadata(installed):
    wheel, _ = installed
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        (meta_name,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        meta = email.message_from_bytes(z.read(meta_name))
    sources = {p.relative_to(ROOT).as_posix() for p in (ROOT / "fmtutor").rglob("*.py")}
    sources = {s for s in sources if "__pycache__" not in s}
    assert sources and sources <= names, sorted(sources - names)
    assert not any(n.startswith(("tests/", "notebooks/", "tools/")) for n in names)
    project = _tomllib().loads((ROOT / "pyproject.toml").read_text())["project"]
    assert set(project["dependencies"]) <= set(meta.get_all("Requires-Dist") or [])
    version = {}
    exec((ROOT / "fmtutor" / "_version.py").read_text(), version)
    assert meta["Version"] == version["__version__"]


def test_fmtutor_and_a_chapter_import_from_the_wheel(installed, tmp_path):
    _, py = installed
    probe = (
        "import sys, fmtutor, fmtutor.course.ch05 as ch05, fmtutor.course.cache\n"
        "print(fmtutor.__file__); print(ch05.__file__); print(fmtutor.__version__)\n"
        "assert not any(p.rstrip('/').endswith('/main') for p in sys.path), sys.path\n"
        "import torch; x1 = torch.tensor([[1.0, 2.0]]); x0 = torch.zeros(1, 2)\n"
        "zero = lambda x, t: torch.zeros_like(x)\n"
        "loss = ch05.reference_cfm_loss(zero, x0, x1, torch.tensor([[0.3]]))\n"
        "print(float(loss))\n"
    )
    res = subprocess.run(
        [str(py), "-I", "-c", probe], capture_output=True, text=True, cwd=tmp_path, timeout=300
    )
    assert res.returncode == 0, res.stderr
    pkg, chapter, version, loss = res.stdout.split()
    venv_dir = py.parent.parent
    assert Path(pkg).is_relative_to(venv_dir) and Path(chapter).is_relative_to(venv_dir), (
        pkg,
        chapter,
    )
    assert not Path(pkg).is_relative_to(ROOT)
    assert float(loss) == 5.0  # a zero model misses the target x1 - x0 = (1, 2) by |(1, 2)|^2


def _lower_bounds() -> dict[str, str]:
    """name -> lower bound of every requirement of the package and its course extra."""
    import re

    project = _tomllib().loads((ROOT / "pyproject.toml").read_text())["project"]
    bounds = {}
    for req in [*project["dependencies"], *project["optional-dependencies"]["course"]]:
        m = re.match(r"([A-Za-z0-9_.-]+)\s*>=\s*([0-9][0-9.]*)", req)
        if m:
            bounds[m.group(1).lower()] = m.group(2)
    return bounds


def _pins(path: Path) -> dict[str, str]:
    lines = [ln.split("#")[0].strip() for ln in path.read_text().splitlines()]
    return {ln.split("==")[0].lower(): ln.split("==")[1] for ln in lines if "==" in ln}


@pytest.mark.parametrize("name", ["oldest", "colab"])
def test_matrix_constraints_sit_inside_the_declared_range(name):
    """oldest.txt pins each lower bound (torch, which can't be had older, aside); colab.txt is allowed."""

    def key(v):
        return tuple(int(p) for p in v.split("."))

    pins, bounds = _pins(ROOT / "constraints" / f"{name}.txt"), _lower_bounds()
    assert "torch" not in pins  # the machine's CPU build, never a download
    for pkg, low in bounds.items():
        if pkg == "jupyterlab" or pkg == "torch":
            continue
        if name == "oldest":
            assert pkg in pins, f"oldest.txt does not pin {pkg}"
            assert key(pins[pkg]) == key(low) + (0,) * (len(key(pins[pkg])) - len(key(low))), (
                pkg,
                low,
            )
        if pkg in pins:
            assert key(pins[pkg]) >= key(low), f"{name}.txt pins {pkg}=={pins[pkg]} below {low}"
