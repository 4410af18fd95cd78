"""Suite-wide fixtures: the whole test run is offline (loopback only), in this process and in notebook kernels.

* ``pytest_configure`` installs the socket guard of ``tests/_offline.py`` as early as possible (before
  nbval starts any kernel) and points ``IPYTHONDIR`` at a throwaway profile whose startup file installs
  the same guard in every IPython kernel the tests start (nbval, nbclient, JupyterLab in tests/ui).
* ``offline`` (autouse, session) checks the guard is still in place for every test.
* ``one_torch_thread`` (opt-in, per module) and the digits fixtures ``digit_split``, ``digit_classifier``
  and ``digit_run`` (session: trained once, shared by test_images, test_digits and course/test_ch11).

Loopback stays open: ZeroMQ between pytest and the kernels, and JupyterLab on 127.0.0.1 for the UI tests.
The guard covers runs that collect ``tests/`` (the default ``pytest`` and ``python tools/course.py test``).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

_HERE = Path(__file__).resolve().parent


def _load_helper(name: str, file: str):
    """Import a helper module of tests/ by its path (tests/ is not a package), once, under ``name``."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, _HERE / file)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


guard = _load_helper("fmtutor_tests_offline", "_offline.py")
# tests/_chapters.py (executing chapters, their checked outputs, the snapshot): test_determinism imports it
_load_helper("fmtutor_tests_chapters", "_chapters.py")
_load_helper("fmtutor_tests_live", "_live.py")
_IPYTHONDIR: tempfile.TemporaryDirectory | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _IPYTHONDIR
    guard.install()
    if os.environ.get("FMTUTOR_KEEP_IPYTHONDIR") != "1" and _IPYTHONDIR is None:
        _IPYTHONDIR = tempfile.TemporaryDirectory(prefix="fmtutor-ipython-")
        os.environ["IPYTHONDIR"] = str(guard.kernel_startup_dir(Path(_IPYTHONDIR.name)))
    os.environ.setdefault("MPLBACKEND", "Agg")


def pytest_unconfigure(config: pytest.Config) -> None:
    global _IPYTHONDIR
    guard.uninstall()
    if _IPYTHONDIR is not None:
        _IPYTHONDIR.cleanup()
        _IPYTHONDIR = None


@pytest.fixture(scope="session", autouse=True)
def offline() -> Iterator[None]:
    """Every test runs with non-loopback connections blocked (installed in pytest_configure)."""
    guard.install()
    assert socket.socket.connect is not guard._ORIGINAL["connect"]
    yield


# --- browsers (tests/ui and the ui-marked checks of tests/test_publish.py share one Chromium) -----------------
CHROMIUM = os.environ.get("FMTUTOR_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
# no background traffic (updates, sync, first-run pages): the machine is offline and the checks count requests
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict) -> dict:
    """pytest-playwright's launch arguments, pointed at Debian's Chromium (never a downloaded browser).

    One session-wide browser serves every ui test: a second Playwright started beside pytest-playwright's
    would fail ("Sync API inside the asyncio loop").
    """
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"no Chromium at {CHROMIUM}: apt-get install -y chromium (or set FMTUTOR_CHROMIUM)"
        )
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_ARGS}


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """Tiny 2-D tensors: one torch thread is much faster than two waiting for each other on a busy machine.

    Modules ask for it with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``.
    """
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


# --- the digits (tests/test_images.py, tests/test_digits.py, tests/course/test_ch11.py share one of each) ---
@pytest.fixture(scope="session")
def digit_split():
    """The 1,797 bundled digits split into training and held-out sets (fmtutor.images.split_digits)."""
    import fmtutor as fm

    return fm.images.split_digits()


@pytest.fixture(scope="session")
def digit_classifier(digit_split):
    """The digit classifier behind the samplers' score, fitted on the training split."""
    import fmtutor as fm

    return fm.images.fit_digit_classifier(digit_split)


@pytest.fixture(scope="session")
def digit_run(digit_split):
    """A small digits model trained 150 steps, with snapshots at steps 0, 50 and 150 (about 2 s)."""
    import torch

    import fmtutor as fm

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = fm.digits.digit_model(0, hidden=64, depth=2)
        return fm.digits.train_digits(
            digit_split.x_train,
            digit_split.y_train,
            steps=150,
            snapshot_steps=(0, 50, 150),
            progress=False,
            model=model,
        )
    finally:
        torch.set_num_threads(n)
