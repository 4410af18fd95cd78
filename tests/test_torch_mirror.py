"""The setup's CPU torch where PyTorch's index is out of reach (mainland China): a mirror of its wheels.

Two package indexes are served on 127.0.0.1, neither through this machine's pip configuration: a "PyPI
mirror" that holds only PyPI-style torch (the CUDA build, which drags in an nvidia package) plus torch's
dependency, and a "mirror of PyTorch's CPU wheels" that holds only ``torch-…+cpu``. The wheels are small
stand-ins that say which build they are. ``install_torch`` must install the CPU build from the second and
its dependency from the first, never the CUDA build; without a mirror named, it must stop with a message
that says how to name one.
"""

from __future__ import annotations

import functools
import http.server
import os
import subprocess
import sys
import threading
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import course_setup  # noqa: E402

pytestmark = pytest.mark.slow


def wheel(folder: Path, name: str, version: str, body: str, requires: tuple[str, ...] = ()) -> None:
    """A pure-Python wheel ``name-version`` whose package's ``__init__`` is ``body``."""
    dist = f"{name.replace('-', '_')}-{version}"
    path = folder / name / f"{dist}-py3-none-any.whl"
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n" + "".join(
        f"Requires-Dist: {r}\n" for r in requires
    )
    package = name.replace("-", "_")
    files = {
        f"{package}/__init__.py": body,
        f"{dist}.dist-info/METADATA": meta,
        f"{dist}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(f"{f},,\n" for f in files) + f"{dist}.dist-info/RECORD,,\n"
    with zipfile.ZipFile(path, "w") as z:
        for f, text in files.items():
            z.writestr(f, text)
        z.writestr(f"{dist}.dist-info/RECORD", record)


def serve(folder: Path) -> str:
    """Serve ``folder`` over HTTP on 127.0.0.1 (a simple index: one folder per project); its URL."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *a: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture(scope="module")
def indexes(tmp_path_factory):
    base = tmp_path_factory.mktemp("indexes")
    pypi, cpu = base / "pypi" / "simple", base / "cpu" / "simple"
    wheel(
        pypi,
        "torch",
        "2.99.0",
        "BUILD = 'cuda'\n",
        ("nvidia-stand-in", "torch-dependency-stand-in"),
    )
    wheel(pypi, "nvidia-stand-in", "1.0", "")
    wheel(pypi, "torch-dependency-stand-in", "1.0", "")
    wheel(cpu, "torch", "2.99.0+cpu", "BUILD = 'cpu'\n", ("torch-dependency-stand-in",))
    return {
        "pypi": serve(pypi.parent) + "/simple",
        "cpu": serve(cpu.parent) + "/simple",
        "cpu_links": serve(cpu / "torch"),
    }


@pytest.fixture
def fresh_venv(tmp_path, monkeypatch, indexes):
    """A venv with pip and no torch, the module pointed at it, pip configured only by the test."""
    where = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(where)
    py = where / "bin" / "python"
    monkeypatch.setattr(course_setup, "PY", py)
    for var in list(os.environ):
        if var.startswith(("PIP_", "FMTUTOR_TORCH")):
            monkeypatch.delenv(var)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)  # not this machine's pip configuration
    monkeypatch.setenv("PIP_INDEX_URL", indexes["pypi"])  # the student's PyPI mirror
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_TIMEOUT", "5")
    return py


def installed(py: Path) -> dict[str, str]:
    out = subprocess.run(
        [str(py), "-m", "pip", "list", "--format=freeze"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return dict(line.split("==") for line in out.split() if "==" in line)


def build(py: Path) -> str:
    return subprocess.run(
        [str(py), "-c", "import torch; print(torch.BUILD)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()


@pytest.mark.parametrize("variable", ["FMTUTOR_TORCH_INDEX", "FMTUTOR_TORCH_LINKS"])
def test_a_mirror_of_the_cpu_wheels_gives_the_cpu_build_and_the_pypi_mirror_its_dependencies(
    fresh_venv, indexes, monkeypatch, variable
):
    monkeypatch.setattr(course_setup, "CPU_INDEX", "http://127.0.0.1:9/unreachable")
    monkeypatch.setenv(variable, indexes["cpu" if variable.endswith("INDEX") else "cpu_links"])
    course_setup.install_torch()
    have = installed(fresh_venv)
    assert have.get("torch") == "2.99.0+cpu" and build(fresh_venv) == "cpu"
    assert "torch-dependency-stand-in" in have  # from the PyPI mirror
    assert "nvidia-stand-in" not in have  # the CUDA build never came near


def test_without_a_mirror_the_setup_stops_and_says_how_to_name_one(fresh_venv, monkeypatch):
    monkeypatch.setattr(course_setup, "CPU_INDEX", "http://127.0.0.1:9/unreachable")
    with pytest.raises(SystemExit) as stop:
        course_setup.install_torch()
    assert "FMTUTOR_TORCH_INDEX" in str(stop.value) and "FMTUTOR_TORCH_LINKS" in str(stop.value)
    assert "torch" not in installed(fresh_venv)  # no CUDA build from the PyPI mirror
