"""A pytest plugin that runs the unit tests against one mutant: ``-p tests.mutation.plugin``.

The mutant named by ``FMTUTOR_MUTANT`` is applied in ``pytest_configure``, before any test module
imports fmtutor's names. A test kills it when it *fails a check*: an AssertionError (``assert``,
``pytest.raises(match=...)``), ``pytest.fail`` or a doctest whose output differs. Any other exception
is a crash, which kills nothing, and so is an AssertionError raised inside fmtutor itself (or by the mutant's code). The first kill ends the session; the outcome is written as JSON to
``FMTUTOR_MUTANT_REPORT``: {"mutant", "status" (killed | crashed | survived), "test", "message"}.
"""

from __future__ import annotations

import json
import os

import pytest

_STATE: dict = {"mutant": None, "kill": None, "crash": None, "ran": 0}


def _is_check_failure(excinfo) -> bool:
    """A failed check of the test itself: not an exception, nor an assert raised inside fmtutor."""
    import doctest
    from pathlib import Path

    # fmtutor, or the mutant's own code standing in for part of it
    inside = (Path(__file__).resolve().parents[2] / "fmtutor", Path(__file__).resolve().parent)
    innermost = Path(str(excinfo.traceback[-1].path)).resolve() if excinfo.traceback else None
    if innermost is not None and any(innermost.is_relative_to(p) for p in inside):
        return False

    from _pytest.outcomes import Failed

    failures = (AssertionError, Failed, doctest.DocTestFailure)
    try:
        from _pytest.doctest import MultipleDoctestFailures

        failures += (MultipleDoctestFailures,)
    except ImportError:  # pragma: no cover - older pytest
        pass
    return excinfo.errisinstance(failures)


def pytest_configure(config: pytest.Config) -> None:
    name = os.environ.get("FMTUTOR_MUTANT")
    if not name:
        return
    from tests.mutation.mutants import apply

    apply(name)
    _STATE["mutant"] = name


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    if _STATE["mutant"] is None or call.when != "call":
        return
    _STATE["ran"] += 1
    if report.failed and call.excinfo is not None:
        line = call.excinfo.exconly().splitlines()[0][:300] if call.excinfo.exconly() else ""
        if _is_check_failure(call.excinfo):
            if _STATE["kill"] is None:
                _STATE["kill"] = {"test": item.nodeid, "message": line}
            item.session.shouldstop = f"mutant {_STATE['mutant']} killed by {item.nodeid}"
        elif _STATE["crash"] is None:
            _STATE["crash"] = {"test": item.nodeid, "message": line}


def pytest_unconfigure(config: pytest.Config) -> None:
    path = os.environ.get("FMTUTOR_MUTANT_REPORT")
    if _STATE["mutant"] is None or not path:
        return
    hit = _STATE["kill"] or _STATE["crash"] or {"test": "", "message": ""}
    status = "killed" if _STATE["kill"] else "crashed" if _STATE["crash"] else "survived"
    with open(path, "w") as f:
        json.dump({"mutant": _STATE["mutant"], "status": status, "ran": _STATE["ran"], **hit}, f)
