"""Fixtures for the UI tests: a throwaway JupyterLab server and Debian's Chromium (never a downloaded browser).

Run them on their own with ``pytest -m ui tests/ui`` (they are deselected by default). Needs
``apt-get install chromium`` and the ``course`` and ``ui`` extras (``pip install -e .[course,ui]``). Environment knobs:
``FMTUTOR_CHROMIUM`` (browser executable, default /usr/bin/chromium), ``FMTUTOR_UI_WORKERS`` (chapters run at
the same time, default 2), ``FMTUTOR_UI_ONLY`` (only chapters whose file name contains this text), ``FMTUTOR_NOTEBOOKS`` (another
folder of chapters, default notebooks/).
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = Path(os.environ.get("FMTUTOR_NOTEBOOKS", ROOT / "notebooks"))
ARTIFACTS = ROOT / "test-artifacts" / "ui"
CHROMIUM = os.environ.get("FMTUTOR_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
WORKERS = max(1, int(os.environ.get("FMTUTOR_UI_WORKERS", "2")))

# JupyterLab settings that keep toasts (news, update checks) from covering the widgets.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
    # every cell stays rendered (JupyterLab 4 virtualises long notebooks): all outputs can be checked
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_lab(
    base: Path, notebooks: Path, log_path: Path, env: "dict[str, str] | None" = None
) -> "tuple[subprocess.Popen, str]":
    """Start ``jupyter lab`` on 127.0.0.1 and a free port, in ``base/root`` holding a copy of ``notebooks``.

    Settings (``LAB_SETTINGS``) and workspaces live in ``base`` too; the server's output goes to
    ``log_path``; ``env`` is added to this process's environment. Also used by ``bench/e2e.py``.

    Returns:
        (process, base URL) once the server answers.

    Raises:
        RuntimeError: the server exited or did not answer within 90 s (the process is stopped).
    """
    root, settings, workspaces = base / "root", base / "settings", base / "workspaces"
    shutil.copytree(
        notebooks, root / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints")
    )
    for rel, value in LAB_SETTINGS.items():
        (settings / rel).parent.mkdir(parents=True, exist_ok=True)
        (settings / rel).write_text(json.dumps(value))
    workspaces.mkdir()
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    full_env = {
        **os.environ,
        "JUPYTERLAB_SETTINGS_DIR": str(settings),
        "JUPYTERLAB_WORKSPACES_DIR": str(workspaces),
        "PYTHONUNBUFFERED": "1",
        **(env or {}),
    }
    cmd = [
        sys.executable,
        "-m",
        "jupyter",
        "lab",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--ServerApp.port_retries=0",
        "--allow-root",
        "--IdentityProvider.token=",
        "--ServerApp.password=",
        "--ServerApp.disable_check_xsrf=True",
        "--LabApp.expose_app_in_browser=True",
        f"--ServerApp.root_dir={root}",
        f"--LabApp.workspaces_dir={workspaces}",
        "--LabApp.news_url=None",
    ]
    with open(log_path, "w") as log:  # the server keeps its own handle
        proc = subprocess.Popen(cmd, cwd=root, env=full_env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 90
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with {proc.returncode}; see {log_path}")
        try:
            with urllib.request.urlopen(f"{url}/api/status", timeout=2):
                return proc, url
        except OSError:
            if time.monotonic() > deadline:
                stop_lab(proc)
                raise RuntimeError(f"jupyter lab did not answer within 90 s; see {log_path}")
            time.sleep(0.5)


def stop_lab(proc: subprocess.Popen) -> None:
    """Stop a server started by ``start_lab`` (terminate, then kill after 20 s)."""
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="session")
def jupyter_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start ``jupyter lab`` on 127.0.0.1 and a free port, in a temporary root holding a copy of notebooks/.

    Settings and workspaces live in temporary folders too. Yields the base URL; stops the server afterwards.
    """
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    # kernels inherit this: WORKERS kernels share the cores instead of fighting over them
    threads = {"OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 1) // WORKERS))}
    try:
        proc, url = start_lab(
            tmp_path_factory.mktemp("lab"), NOTEBOOKS, ARTIFACTS / "jupyterlab.log", threads
        )
    except RuntimeError as e:
        pytest.fail(str(e))
    try:
        yield url
    finally:
        stop_lab(proc)
