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


@pytest.fixture(scope="session")
def jupyter_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start ``jupyter lab`` on 127.0.0.1 and a free port, in a temporary root holding a copy of notebooks/.

    Settings and workspaces live in temporary folders too. Yields the base URL; stops the server afterwards.
    """
    base = tmp_path_factory.mktemp("lab")
    root, settings, workspaces = base / "root", base / "settings", base / "workspaces"
    shutil.copytree(
        NOTEBOOKS, root / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints")
    )
    for rel, value in LAB_SETTINGS.items():
        (settings / rel).parent.mkdir(parents=True, exist_ok=True)
        (settings / rel).write_text(json.dumps(value))
    workspaces.mkdir()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "JUPYTERLAB_SETTINGS_DIR": str(settings),
        "JUPYTERLAB_WORKSPACES_DIR": str(workspaces),
        # kernels inherit this: WORKERS kernels share the cores instead of fighting over them
        "OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 1) // WORKERS)),
        "PYTHONUNBUFFERED": "1",
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
    log = open(ARTIFACTS / "jupyterlab.log", "w")
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                pytest.fail(
                    f"jupyter lab exited with {proc.returncode}; see {ARTIFACTS / 'jupyterlab.log'}"
                )
            try:
                with urllib.request.urlopen(f"{url}/api/status", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(
                        f"jupyter lab did not answer within 90 s; see {ARTIFACTS / 'jupyterlab.log'}"
                    )
                time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
