"""A fork server for the unit runs: pytest, torch, scipy and fmtutor are imported once, each run forks.

Importing them costs about 2.8 s of CPU, most of a small unit run; a mutation run makes one unit run
per mutant. The server reads one JSON request a line on stdin ({"args", "env", "cwd", "log",
"timeout"}), forks, and the child applies the request's environment (FMTUTOR_MUTANT: the plugin
applies the mutant in ``pytest_configure``, before any test module is imported) and runs
``pytest.main(args)`` with its output in ``log``. The parent answers one JSON line, {"code": exit
status} (124 when the child ran past ``timeout`` and was killed). The parent never runs torch code,
so no thread pool is forked half-initialised. POSIX only; runner.py falls back to one process a run.

Start: ``python -m tests.mutation.unitserver``.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time


def _child(req: dict) -> int:
    import pytest

    os.environ.update(req["env"])
    os.chdir(req["cwd"])
    fd = os.open(req["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    sys.stdin = open(os.devnull)
    return int(pytest.main(req["args"]))


def _wait(pid: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return 124
        time.sleep(0.05)


def serve() -> None:
    """Import the expensive modules once, then fork one pytest run per request line."""
    import numpy  # noqa: F401
    import pytest  # noqa: F401
    import scipy.integrate  # noqa: F401
    import scipy.optimize  # noqa: F401
    import torch  # noqa: F401

    import fmtutor  # noqa: F401

    try:
        import hypothesis  # noqa: F401
    except ImportError:  # pragma: no cover - the test extra brings it
        pass
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            code = 70
            try:
                code = _child(req)
            except BaseException:  # noqa: BLE001 - reported in the run's log, then exit 70
                import traceback

                traceback.print_exc()
            finally:
                os._exit(code)
        print(json.dumps({"code": _wait(pid, float(req.get("timeout", 400)))}), flush=True)


if __name__ == "__main__":
    serve()
