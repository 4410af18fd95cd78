"""The suite runs offline: outside connections fail (here and in kernels); loopback works; fmtutor has no network code."""

import ast
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
guard = sys.modules["fmtutor_tests_offline"]  # loaded by conftest.py

NETWORK_MODULES = {
    "socket",
    "urllib",
    "urllib3",
    "requests",
    "http",
    "httpx",
    "aiohttp",
    "ftplib",
    "smtplib",
    "ssl",
    "websocket",
    "websockets",
    "huggingface_hub",
    "torchvision",
    "subprocess",
    "webbrowser",
}


@pytest.mark.parametrize(
    "address",
    [("93.184.216.34", 80), ("8.8.8.8", 53), ("example.com", 443), ("2001:4860:4860::8888", 53)],
)
def test_outside_connections_are_refused(address):
    family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        with pytest.raises(guard.NetworkBlockedError, match="network access is blocked"):
            s.connect(address)
        with pytest.raises(guard.NetworkBlockedError):
            s.connect_ex(address)
    with pytest.raises(guard.NetworkBlockedError):
        socket.create_connection(address, timeout=0.5)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
        with pytest.raises(guard.NetworkBlockedError):
            u.sendto(b"x", ("8.8.8.8", 53))


def test_urllib_download_is_refused_and_not_an_oserror():
    import urllib.request

    with pytest.raises(guard.NetworkBlockedError):
        urllib.request.urlopen("http://example.com/weights.pt", timeout=0.5)
    assert not issubclass(guard.NetworkBlockedError, OSError), (
        "a fallback `except OSError` must not hide a download"
    )


def test_loopback_and_unix_sockets_still_work(tmp_path):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    got = []

    def serve():
        conn, _ = server.accept()
        got.append(conn.recv(5))
        conn.close()

    th = threading.Thread(target=serve)
    th.start()
    with socket.create_connection(server.getsockname(), timeout=5) as c:
        c.sendall(b"hello")
    th.join(5)
    server.close()
    assert got == [b"hello"]
    assert (
        guard.is_local(("localhost", 80))
        and guard.is_local(("::1", 80, 0, 0))
        and guard.is_local(("::ffff:127.0.0.1", 1))
    )
    assert guard.is_local(str(tmp_path / "sock"), socket.AF_UNIX)
    assert not guard.is_local(("10.0.0.1", 80)) and not guard.is_local(("pypi.org", 443))


def test_kernels_started_by_the_tests_are_offline_too():
    """IPYTHONDIR points at a profile whose startup file installs the guard: an IPython process is blocked."""
    assert "IPYTHONDIR" in os.environ, "conftest.py should have set IPYTHONDIR"
    code = (
        "import socket, os\n"
        "try:\n    socket.create_connection(('93.184.216.34', 80), timeout=0.5)\nexcept RuntimeError as e:\n"
        "    print('BLOCKED', os.environ.get('FMTUTOR_OFFLINE'), type(e).__name__)\n"
    )
    out = subprocess.run(
        [sys.executable, "-m", "IPython", "--no-banner", "--colors=NoColor", "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ,
    )
    assert "BLOCKED 1 NetworkBlockedError" in out.stdout, out.stdout + out.stderr


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
        elif isinstance(node, ast.Call) and getattr(
            node.func, "attr", getattr(node.func, "id", "")
        ) in ("import_module", "__import__"):
            names |= {
                a.value.split(".")[0]
                for a in node.args
                if isinstance(a, ast.Constant) and isinstance(a.value, str)
            }
    return names


@pytest.mark.parametrize(
    "path",
    sorted((ROOT / "fmtutor").rglob("*.py")),
    ids=lambda p: str(p.relative_to(ROOT / "fmtutor")),
)
def test_fmtutor_modules_have_no_network_code(path):
    """Both floors; the build tool that runs npm (tools/publish.py) lives outside the package."""
    name = path.relative_to(ROOT)
    bad = _imported_modules(path) & NETWORK_MODULES
    assert not bad, f"{name} imports {sorted(bad)}: chapters must run offline"
    text = path.read_text()
    for word in (
        "download=True",
        "urlretrieve",
        "fetch_openml",
        "load_state_dict_from_url",
        "hub.load",
    ):
        assert word not in text, f"{name} mentions {word!r}: nothing may download at run time"
