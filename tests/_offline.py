"""Network guard for the test suite: every socket connection that is not local fails loudly.

``install()`` patches ``socket.socket.connect``, ``connect_ex``, ``sendto`` and ``socket.create_connection``
so that only loopback (127.0.0.0/8, ::1, ::ffff:127.x, the name 'localhost') and non-IP families
(AF_UNIX, netlink) get through; anything else raises ``NetworkBlockedError`` naming the address and is
recorded in ``BLOCKED``. ZeroMQ (the Jupyter kernel protocol) uses its own C sockets on 127.0.0.1 and is
not affected; JupyterLab's UI tests talk to 127.0.0.1 only.

The guard reaches the notebook kernels (separate processes) through IPython itself, without any
``sitecustomize``: ``kernel_startup_dir(root)`` writes an IPython profile whose startup file runs this
module's ``install()``; pointing the ``IPYTHONDIR`` environment variable at it makes every IPython
kernel started from the tests (nbval, nbclient, JupyterLab) offline too. The startup file also sets
``FMTUTOR_OFFLINE=1`` in the kernel so that a notebook can check it is guarded.

The error deliberately is *not* an ``OSError``: code that would quietly fall back on a failed
download (``except OSError``) cannot hide the attempt.
"""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path
from typing import Any

__all__ = [
    "NetworkBlockedError",
    "BLOCKED",
    "install",
    "uninstall",
    "is_local",
    "kernel_startup_dir",
]

LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}
BLOCKED: list[str] = []
_ORIGINAL: dict[str, Any] = {}


class NetworkBlockedError(RuntimeError):
    """Raised for a connection to anything but loopback while the tests run."""


def is_local(address: Any, family: int | None = None) -> bool:
    """Whether a socket address (a path, or a (host, port, ...) tuple) stays on this machine."""
    if family is not None and family not in (socket.AF_INET, socket.AF_INET6):
        return True  # AF_UNIX, AF_NETLINK, ...: never leave the machine
    if isinstance(address, (str, bytes)):
        return True  # an AF_UNIX path
    if not isinstance(address, tuple) or not address:
        return False
    host = address[0]
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    host = str(host).strip("[]").split("%", 1)[0].lower()
    if host in LOCAL_NAMES:
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False  # a host name other than localhost would need DNS: blocked
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def _refuse(address: Any) -> None:
    BLOCKED.append(repr(address))
    raise NetworkBlockedError(
        f"network access is blocked while testing fmtutor: refused a connection to {address!r} "
        "(only loopback is allowed; nothing may download at run time)"
    )


def install() -> None:
    """Patch the socket module (idempotent)."""
    if _ORIGINAL:
        return
    _ORIGINAL.update(
        connect=socket.socket.connect,
        connect_ex=socket.socket.connect_ex,
        sendto=socket.socket.sendto,
        create_connection=socket.create_connection,
    )

    def connect(self: socket.socket, address: Any) -> Any:
        if not is_local(address, self.family):
            _refuse(address)
        return _ORIGINAL["connect"](self, address)

    def connect_ex(self: socket.socket, address: Any) -> Any:
        if not is_local(address, self.family):
            _refuse(address)
        return _ORIGINAL["connect_ex"](self, address)

    def sendto(self: socket.socket, data: Any, *args: Any) -> Any:
        address = args[-1]
        if not is_local(address, self.family):
            _refuse(address)
        return _ORIGINAL["sendto"](self, data, *args)

    def create_connection(address: Any, *args: Any, **kwargs: Any) -> Any:
        if not is_local(address):
            _refuse(address)
        return _ORIGINAL["create_connection"](address, *args, **kwargs)

    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    socket.socket.sendto = sendto  # type: ignore[method-assign]
    socket.create_connection = create_connection  # type: ignore[assignment]


def uninstall() -> None:
    """Undo install()."""
    if not _ORIGINAL:
        return
    socket.socket.connect = _ORIGINAL["connect"]  # type: ignore[method-assign]
    socket.socket.connect_ex = _ORIGINAL["connect_ex"]  # type: ignore[method-assign]
    socket.socket.sendto = _ORIGINAL["sendto"]  # type: ignore[method-assign]
    socket.create_connection = _ORIGINAL["create_connection"]  # type: ignore[assignment]
    _ORIGINAL.clear()


STARTUP = """\
# Written by the fmtutor test suite (tests/_offline.py): makes this IPython kernel offline.
import os as _os, runpy as _runpy
_runpy.run_path({path!r})["install"]()
_os.environ["FMTUTOR_OFFLINE"] = "1"
del _os, _runpy
"""


def kernel_startup_dir(root: Path) -> Path:
    """Create an IPYTHONDIR under root whose default profile installs the guard at startup; return it."""
    startup = Path(root) / "profile_default" / "startup"
    startup.mkdir(parents=True, exist_ok=True)
    (startup / "00-fmtutor-offline.py").write_text(
        STARTUP.format(path=str(Path(__file__).resolve()))
    )
    return Path(root)
