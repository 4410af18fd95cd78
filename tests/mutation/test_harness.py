"""The mutation harness itself, without kernels (fast, part of the default run): the patcher reaches
every binding and undoes itself, the catalogue is complete, and a chapter failure is classified as a
kill only when the chapter's own assert fails."""

from __future__ import annotations

import types

import nbformat
import pytest
import torch

import fmtutor as fm
from tests.mutation import mutants, runner
from tests.mutation.patching import Patcher, fmtutor_modules


def _bindings() -> dict[tuple[str, str], object]:
    """Every attribute of every fmtutor module and class, and every function's defaults."""
    out: dict[tuple[str, str], object] = {}
    for mod in fmtutor_modules(import_all=True):
        for name, value in vars(mod).items():
            out[mod.__name__, name] = value
            if isinstance(value, dict):
                out[mod.__name__, name + "{}"] = tuple(value.items())
            if isinstance(value, types.FunctionType):
                out[mod.__name__, name + "()"] = (value.__defaults__, value.__kwdefaults__)
            if isinstance(value, type) and value.__module__ == mod.__name__:
                for k, v in vars(value).items():
                    out[mod.__name__, f"{name}.{k}"] = v
    return out


def test_every_mutant_changes_the_package_and_undo_restores_it_exactly():
    before = _bindings()
    for name, m in mutants.ALL.items():
        p = mutants.apply(name)
        during = _bindings()
        changed = [
            k for k in before if during.get(k) is not before[k] and during.get(k) != before[k]
        ]
        if name == "control_noop":
            assert not changed
        else:
            assert changed or name.startswith("undertrained"), f"{name} patched nothing"
        p.undo()
        after = _bindings()
        assert all(after[k] is before[k] or after[k] == before[k] for k in before), name
    assert fm.recipes.DEFAULT_2D["train"]["steps"] == 3000


def test_function_patches_reach_from_imports_registries_and_defaults():
    p = mutants.apply("w2_no_sqrt")
    try:
        a, b = torch.zeros(3, 2), torch.ones(3, 2)
        assert abs(fm.metrics.wasserstein2(a, b) - 2.0) < 1e-9  # W2^2 = 2
        assert fm.guidance.wasserstein2 is fm.metrics.wasserstein2  # `from .metrics import ...`
        assert fm.metrics.noise_floor.__defaults__[1] is fm.metrics.wasserstein2  # a default
    finally:
        p.undo()
    assert abs(fm.metrics.wasserstein2(a, b) - 2**0.5) < 1e-9
    p = mutants.apply("moons_noise_doubled")
    try:
        assert fm.data.SAMPLERS["moons"] is fm.data.two_moons  # a registry
        assert fm.data.two_moons.__name__ == "two_moons"
    finally:
        p.undo()
    assert fm.data.SAMPLERS["moons"].__defaults__[0] == 0.05


def test_a_module_imported_after_the_patch_binds_the_mutant(tmp_path):
    """fmtutor.course is not imported before a chapter's first cell applies the mutant."""
    import subprocess
    import sys

    code = (
        "import fmtutor, sys; from tests.mutation import mutants; mutants.apply('w2_no_sqrt');"
        "assert 'fmtutor.course.ch06' not in sys.modules;"
        "from fmtutor.course import ch06; import torch;"
        "print(ch06.wasserstein2 is fmtutor.metrics.wasserstein2,"
        " ch06.wasserstein2(torch.zeros(3, 2), torch.ones(3, 2)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=runner.ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["True", "2.0000000000000004"]


def test_patcher_refuses_what_it_cannot_find():
    p = Patcher()
    with pytest.raises(AttributeError, match="no attribute"):
        p.attr(fm.solvers.Midpoint, "integrate", None)  # inherited: patch the base class instead
    with pytest.raises(LookupError, match="bound nowhere"):
        p.function(types.SimpleNamespace(__name__="elsewhere", f=len), "f", abs)
    p.undo()


def test_the_catalogue_covers_the_issue():
    cat = mutants.CATALOGUE
    assert len(cat) >= 25
    for m in mutants.ALL.values():
        assert m.chapters and m.unit_tests, m.name
        assert all(c in mutants.CHAPTERS and runner.notebook(c).exists() for c in m.chapters)
        assert all((runner.ROOT / f).exists() for f in m.unit_tests), m.name
    # one mutant per loose check of the issue, mapped to that chapter alone
    for name, chapter in {
        "field_10pct_fast": "00",
        "field_10pct_slow": "03",
        "undertrained_100": "05",
        "undertrained_300": "05",
        "mc_draws_repeat": "04",
    }.items():
        assert cat[name].chapters == (chapter,), name
    assert {c.expect for c in mutants.CONTROLS.values()} == {"survived", "crashed"}


def _failed_notebook(source: str, ename: str, frames: list[str], cell: int = 1):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("# injected"), nbformat.v4.new_code_cell("x = 1")]
    nb.cells.append(nbformat.v4.new_code_cell(source))
    err = nbformat.v4.new_output(
        "error",
        ename=ename,
        evalue="boom",
        traceback=["\x1b[0;31m---\x1b[0m", *frames, f"{ename}: boom"],
    )
    nb.cells[cell + 1 if cell else 0].outputs = [err]
    return nb


@pytest.mark.parametrize(
    "source,ename,frames,cell,status",
    [
        ("assert x == 2", "AssertionError", ["Cell \x1b[0;32mIn[3], line 1\x1b[0m"], 1, "killed"),
        (
            "f(x)",
            "AssertionError",
            ["Cell In[3], line 1", "File /work/fmtutor/a.py:3, in f"],
            1,
            "crashed",
        ),
        (
            "assert f(x)",
            "AssertionError",
            ["Cell In[3], line 1", "File /x/fmtutor/a.py:3"],
            1,
            "crashed",
        ),
        ("assert x == 2", "ValueError", ["Cell In[3], line 1"], 1, "crashed"),
        ("assert x == 2", "AssertionError", ["Cell In[1], line 1"], 0, "crashed"),
    ],
)
def test_only_a_failing_assert_of_the_chapter_is_a_kill(source, ename, frames, cell, status):
    from nbclient.exceptions import CellExecutionError

    nb = _failed_notebook(source, ename, frames, cell)
    out = runner._classify(nb, CellExecutionError("traceback", ename, "boom"))
    assert out.status == status
    assert out.where == ("cell 1" if cell else "cell -1")


def test_a_kernel_that_dies_before_the_first_cell_is_started_again(monkeypatch):
    import nbclient

    calls = []

    def execute(self, **kwargs):
        calls.append(kwargs)
        if len(calls) == 1:
            raise RuntimeError("Kernel died before replying to kernel_info")
        for cell in self.nb.cells:
            cell["execution_count"] = 1
        return self.nb

    monkeypatch.setattr(nbclient.NotebookClient, "execute", execute)
    out = runner.run_chapter("control_noop", "01")
    assert out.status == "survived" and "kernel started 2 times" in out.message
    assert calls[-1]["env"]["FMTUTOR_CACHE"].endswith("cache")  # an empty folder of its own
