"""Issue 13's mutation test: every deliberate mistake of the catalogue fails a chapter's own check
and a unit test; the harness itself can say "survived" and "crashed".

Run: ``.venv/bin/python -m pytest -m mutation tests/mutation -q -s`` (-s shows each run as it ends;
the kill matrix is printed in pytest's summary and written to test-artifacts/mutation/matrix.txt).
``FMTUTOR_MUTATION_JOBS`` sets the workers (2); ``FMTUTOR_MUTATION_ONLY=a,b`` runs only those mutants
(the others are skipped), e.g. while writing a new one.
"""

from __future__ import annotations

import os
import time

import pytest

from tests.mutation import runner
from tests.mutation.mutants import CATALOGUE, CONTROLS

pytestmark = pytest.mark.mutation


@pytest.fixture(scope="module")
def results() -> dict[str, runner.MutantResult]:
    start, cpu = time.perf_counter(), runner.cpu_seconds()
    print(f"\nrunning {len(CATALOGUE)} mutants and {len(CONTROLS)} controls")
    only = [n for n in os.environ.get("FMTUTOR_MUTATION_ONLY", "").split(",") if n] or None
    res = runner.run(only, jobs=int(os.environ.get("FMTUTOR_MUTATION_JOBS", "2")))
    text = runner.matrix(res, time.perf_counter() - start, runner.cpu_seconds() - cpu)
    runner.LAST_MATRIX = text  # printed in pytest's terminal summary (conftest.py)
    print(f"written to {runner.write_artifacts(res, text)}")
    return res


@pytest.mark.parametrize("name", list(CATALOGUE))
def test_mutant_is_killed_by_a_chapter_and_by_the_unit_tests(results, name):
    if name not in results:
        pytest.skip("not in FMTUTOR_MUTATION_ONLY")
    r = results[name]
    seen = {c: f"{o.status} {o.where} {o.message}".strip() for c, o in r.chapters.items()}
    assert r.chapter_kill is not None, (
        f"{name} ({r.mutant.description}) survived every chapter check: {seen}"
    )
    assert r.unit is not None and r.unit.status == "killed", (
        f"{name} ({r.mutant.description}) was not killed by {r.mutant.unit_tests}: "
        f"{r.unit.status if r.unit else 'not run'} {r.unit.message if r.unit else ''}"
    )


@pytest.mark.parametrize("name", list(CONTROLS))
def test_the_harness_classifies_its_controls(results, name):
    if name not in results:
        pytest.skip("not in FMTUTOR_MUTATION_ONLY")
    r = results[name]
    got = {
        **{c: o.status for c, o in r.chapters.items()},
        "unit": r.unit.status if r.unit else None,
    }
    assert set(got.values()) == {r.mutant.expect}, f"{name}: expected {r.mutant.expect}, got {got}"
