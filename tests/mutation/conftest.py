"""The ``mutation`` marker: registered here, and deselected unless ``-m`` asks for it.

``pytest -m mutation tests/mutation -s`` runs the whole catalogue (minutes); a plain ``pytest`` run only
runs the harness's fast checks (tests/mutation/test_harness.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:  # ``import tests.mutation`` from a plain ``pytest`` run too
    sys.path.insert(0, _ROOT)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "mutation: runs the mutant catalogue against the chapters (pytest -m mutation)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "mutation" in (config.option.markexpr or ""):
        return
    skip = pytest.mark.skip(reason="the mutation run: pytest -m mutation tests/mutation -s")
    for item in items:
        if item.get_closest_marker("mutation") is not None:
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    """The kill matrix in pytest's report too (without -s), when the mutation run ran."""
    runner = sys.modules.get("tests.mutation.runner")
    text = getattr(runner, "LAST_MATRIX", None)
    if text:
        terminalreporter.section("mutation: kill matrix")
        terminalreporter.write_line(text)
