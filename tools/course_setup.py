"""What ``tools/course.py`` runs once it has checked the Python version: the venv, torch, the course.

    python3 tools/course.py lab     # install what the course needs, open JupyterLab on notebooks/
    python3 tools/course.py test    # install what the tests need, run unit tests + every notebook (nbval)

Needs only Python >= 3.10. PyTorch is installed as a CPU build (a plain ``pip install torch`` on Linux
pulls a multi-GB CUDA build): from PyTorch's CPU wheel index on Linux, from PyPI on macOS/Windows
(whose wheels are CPU/MPS builds). If that index cannot be reached, a ``+cpu`` build that pip can find
through its configured indexes is used; failing that, the script stops with a message rather than
downloading CUDA. Where PyTorch's index is slow or out of reach, name a mirror of its CPU wheels:
``FMTUTOR_TORCH_INDEX`` (a simple index) or ``FMTUTOR_TORCH_LINKS`` (a page listing the wheels); torch
then comes from the mirror and its dependencies from pip's own indexes (e.g. a PyPI mirror). Set
FMTUTOR_TORCH (e.g. ``FMTUTOR_TORCH="torch==2.5.1"``) to choose it yourself, e.g. a CUDA build when you
do have a GPU.
"""

import os
import platform
import shutil
import subprocess
import sys
import venv
from pathlib import Path

USAGE = """usage: python3 tools/course.py lab    (install what the course needs, open JupyterLab;
                                        add zh for the Chinese edition)
       python3 tools/course.py test   (install what the tests need, run every test)"""
ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
CPU_INDEX = "https://download.pytorch.org/whl/cpu"
TORCH_INDEX_ENV, TORCH_LINKS_ENV = "FMTUTOR_TORCH_INDEX", "FMTUTOR_TORCH_LINKS"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / ("python.exe" if os.name == "nt" else "python")


def run(*args: str, env: "dict[str, str] | None" = None, check: bool = True) -> int:
    """Run a command, echoing it; return its exit code."""
    print("+", " ".join(args), flush=True)
    return subprocess.run(args, cwd=ROOT, env=env, check=check).returncode


def pip(*args: str, env: "dict[str, str] | None" = None, check: bool = True) -> int:
    return run(str(PY), "-m", "pip", "--disable-pip-version-check", *args, env=env, check=check)


def has_torch() -> bool:
    return subprocess.run([str(PY), "-c", "import torch"], capture_output=True).returncode == 0


def local_cpu_versions() -> list[str]:
    """Versions of torch that pip's configured indexes list, newest first (candidates for a +cpu build)."""
    out = subprocess.run(
        [str(PY), "-m", "pip", "index", "versions", "torch"], capture_output=True, text=True
    ).stdout
    for line in out.splitlines():
        if line.strip().startswith("Available versions:"):
            return [v.strip() for v in line.split(":", 1)[1].split(",") if v.strip()]
    return []


def install_torch() -> None:
    """Install a CPU build of torch into the venv (see the module docstring for the order tried)."""
    if has_torch():
        return
    spec = os.environ.get("FMTUTOR_TORCH")
    if spec:
        pip("install", spec)
        return
    if platform.system() != "Linux":
        pip("install", "torch>=2.2")
        return
    # PyTorch's CPU index alone: no pip config or PIP_* variable may add an index with CUDA builds.
    index_vars = (
        "PIP_INDEX_URL",
        "PIP_EXTRA_INDEX_URL",
        "PIP_FIND_LINKS",
        "PIP_NO_INDEX",
        "PIP_CONSTRAINT",
    )
    clean = {k: v for k, v in os.environ.items() if k not in index_vars}
    clean["PIP_CONFIG_FILE"] = os.devnull
    mirror = os.environ.get(TORCH_INDEX_ENV) or os.environ.get(TORCH_LINKS_ENV)
    if mirror:
        install_torch_from_mirror(clean)
        return
    if (
        pip(
            "install",
            "--index-url",
            CPU_INDEX,
            "--timeout",
            "20",
            "--retries",
            "1",
            "torch>=2.2",
            env=clean,
            check=False,
        )
        == 0
    ):
        return
    print(
        "PyTorch's CPU index is out of reach; looking for a +cpu build through pip's own indexes.",
        flush=True,
    )
    for version in local_cpu_versions()[:12]:
        spec = (
            f"torch=={version}"
            if version.endswith("+cpu")
            else f"torch=={version.split('+')[0]}+cpu"
        )
        if pip("install", "--no-deps", spec, check=False) == 0:
            pip("install", spec)  # now its dependencies
            return
    sys.exit(
        "No CPU build of torch could be found (PyTorch's CPU index is out of reach, and pip's own "
        "indexes hold no +cpu build). Point the setup at a mirror of PyTorch's CPU wheels: "
        f"{TORCH_INDEX_ENV}=<a simple index, like {CPU_INDEX}> or {TORCH_LINKS_ENV}=<a page "
        "listing the wheels>; or install torch yourself into .venv (or set FMTUTOR_TORCH to a pip "
        "requirement) and run this command again."
    )


def install_torch_from_mirror(clean: "dict[str, str]") -> None:
    """Torch alone from a mirror of PyTorch's CPU wheels, then its dependencies through pip's indexes.

    For places where PyTorch's own index is slow or out of reach (mainland China, for one) and the
    configured PyPI mirror carries only PyPI's torch, which on Linux is the CUDA build. The mirror is
    either a simple index (``FMTUTOR_TORCH_INDEX``) or a page listing wheels (``FMTUTOR_TORCH_LINKS``).
    """
    index, links = os.environ.get(TORCH_INDEX_ENV), os.environ.get(TORCH_LINKS_ENV)
    where = ["--index-url", index] if index else ["--no-index", "--find-links", links]
    if pip("install", "--no-deps", *where, "torch>=2.2", env=clean, check=False) != 0:
        sys.exit(
            f"No torch could be installed from {index or links} (set by "
            f"{TORCH_INDEX_ENV if index else TORCH_LINKS_ENV}): is it a mirror of PyTorch's CPU wheels?"
        )
    version = subprocess.run(
        [str(PY), "-c", "import importlib.metadata as m; print(m.version('torch'))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    pip("install", f"torch=={version}")  # torch is there: pip's own indexes bring its dependencies


def venv_problem(venv_dir: Path = VENV) -> "str | None":
    """Why an existing venv cannot be used (no python, or a python without pip), or None if it can."""
    bin_dir = venv_dir / ("Scripts" if os.name == "nt" else "bin")
    py = bin_dir / ("python.exe" if os.name == "nt" else "python")
    if not py.exists():
        return f"{py} is missing"
    try:
        probe = subprocess.run(
            [str(py), "-m", "pip", "--version"], capture_output=True, timeout=120
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"{py} does not run ({e})"
    if probe.returncode != 0:
        return f"{py} has no working pip (an interrupted first run?)"
    return None


def ensure_venv(venv_dir: Path = VENV) -> None:
    """Create the venv, or rebuild it when an earlier run left it broken (e.g. Ctrl-C during creation)."""
    if venv_dir.exists():
        problem = venv_problem(venv_dir)
        if problem is None:
            return
        print(f"{venv_dir} is broken: {problem}. Removing it and creating it again.", flush=True)
        shutil.rmtree(venv_dir)
    print(f"creating {venv_dir}", flush=True)
    venv.EnvBuilder(with_pip=True).create(venv_dir)
    problem = venv_problem(venv_dir)
    if problem is not None:
        sys.exit(
            f"Could not create a working {venv_dir}: {problem}. Remove the folder "
            f"({venv_dir}) and run this command again, or create it yourself with "
            f"'{sys.executable} -m venv {venv_dir}'."
        )


def setup(extra: str) -> None:
    """Create .venv (once; rebuilt if broken), install CPU torch, then the package with the given extra."""
    ensure_venv()
    install_torch()
    pip("install", "-e", f".[{extra}]")


def main() -> None:
    """``lab`` or ``test`` (tools/course.py has checked the Python version)."""
    what = sys.argv[1] if len(sys.argv) > 1 else ""
    if what == "lab":
        setup("course")
        rest = sys.argv[2:]
        first = ROOT / "notebooks" / "00_generative_models.ipynb"
        if rest[:1] == ["zh"]:  # the Chinese edition: python3 tools/course.py lab zh
            first, rest = ROOT / "notebooks" / "zh" / first.name, rest[1:]
        os.execv(str(BIN / "jupyter"), [str(BIN / "jupyter"), "lab", str(first), *rest])
    elif what == "test":
        setup("test")
        sys.exit(run(str(PY), "-m", "pytest", *sys.argv[2:], check=False))
    else:
        sys.exit(USAGE)
