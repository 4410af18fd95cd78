"""The two floors stay apart: what ``import fmtutor`` loads, what the math modules import, module size and shape.

* ``import fmtutor`` (in a fresh process) loads no matplotlib, ipywidgets or IPython;
* no module of the math floor (fmtutor/ outside fmtutor/course/) imports matplotlib, ipywidgets, IPython
  or fmtutor.course, at the top or inside a function, and no relative import leaves the package;
* no module is longer than 350 lines; fmtutor's own modules import each other without a cycle (the graph
  has module-level and function-level imports);
* every module has a docstring whose first line fits in 100 characters and an ``__all__`` of names it
  defines; publishing lives in tools/publish.py, not in the package.

Each check is a function of a source tree (``_banned_imports(root)``, ...), so
``test_each_check_catches_what_it_guards`` can break a copy of the package in one way per check and see
the check report it.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("matplotlib", "matplotlib.pyplot", "ipywidgets", "IPython")
BANNED = ("matplotlib", "ipywidgets", "IPython", "fmtutor.course")
MAX_LINES = 350
MAX_DOC_LINE = 100


# ------------------------------------------------------------------------------------------ reading the tree


def _modules(root: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file of root/fmtutor (packages by their __init__)."""
    out = {}
    for path in sorted((root / "fmtutor").rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _is_course(name: str) -> bool:
    return name == "fmtutor.course" or name.startswith("fmtutor.course.")


def _imports(name: str, path: Path) -> list[tuple[str, list[str], int, bool]]:
    """Every import in the file, anywhere in it: (absolute module, imported names, line, leaves the package).

    Relative imports are resolved against the module's package; ``importlib.import_module("x")`` and
    ``__import__("x")`` with a literal name count as imports of x.
    """
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(alias.name, [], node.lineno, False) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [alias.name for alias in node.names]
            if node.level == 0:
                out.append((node.module or "", names, node.lineno, False))
                continue
            parts = package.split(".")
            keep = len(parts) - (node.level - 1)
            base = ".".join(parts[: max(keep, 0)])
            module = ".".join(p for p in (base, node.module) if p)
            out.append((module, names, node.lineno, keep < 1))
        elif isinstance(node, ast.Call):
            fn = getattr(node.func, "attr", getattr(node.func, "id", ""))
            if fn in ("import_module", "__import__") and node.args:
                arg = node.args[0]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    out.append((arg.value, [], node.lineno, False))
    return out


def _targets(module: str, names: list[str]) -> list[str]:
    """The modules an import statement may load: the module, and module.name for each imported name."""
    return [module] + [f"{module}.{n}" for n in names if n != "*"]


# ------------------------------------------------------------------------------------------ the checks


def _banned_imports(root: Path) -> list[str]:
    """Imports of plotting, widgets, IPython or the course layer in the math floor; relative imports leaving it."""
    found = []
    for name, path in _modules(root).items():
        if _is_course(name):
            continue
        rel = path.relative_to(root)
        for module, names, line, escapes in _imports(name, path):
            if escapes:
                found.append(f"{rel}:{line}: a relative import above the package")
            hits = {
                b
                for t in _targets(module, names)
                for b in BANNED
                if t == b or t.startswith(b + ".")
            }
            found += [f"{rel}:{line}: imports {b}" for b in sorted(hits)]
    return found


def _long_modules(root: Path) -> list[str]:
    """Modules over MAX_LINES lines, longest first."""
    sizes = {
        str(p.relative_to(root)): len(p.read_text().splitlines()) for p in _modules(root).values()
    }
    return [
        f"{f}: {n} lines" for f, n in sorted(sizes.items(), key=lambda kv: -kv[1]) if n > MAX_LINES
    ]


def _graph(root: Path) -> dict[str, set[str]]:
    """fmtutor's own import graph: module -> the fmtutor modules it imports (at the top or in a function)."""
    mods = _modules(root)
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for name, path in mods.items():
        for module, names, _, _ in _imports(name, path):
            for target in _targets(module, names)[1:] or [module]:
                # `from pkg import sub` loads pkg.sub; `from mod import function` loads mod
                hit = target if target in mods else (module if module in mods else None)
                if hit is not None and hit != name:
                    graph[name].add(hit)
    return graph


def _cycles(root: Path) -> list[list[str]]:
    """The import cycles among fmtutor's modules: each strongly connected component of 2+ modules."""
    graph = _graph(root)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's algorithm
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _defined(tree: ast.Module) -> set[str]:
    """Names bound at module level (functions, classes, assignments, imports), through if/try/with blocks."""
    names: set[str] = set()

    def bind(target: ast.AST) -> None:
        if isinstance(target, ast.Name):
            names.add(target.id)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for t in target.elts:
                bind(t)

    def walk(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Assign):
                for t in node.targets:
                    bind(t)
            elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
                bind(node.target)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                for alias in node.names:
                    names.add(alias.asname or alias.name.split(".")[0])
            for block in ("body", "orelse", "finalbody"):
                if isinstance(node, (ast.If, ast.Try, ast.With)) and hasattr(node, block):
                    walk(getattr(node, block))
            if isinstance(node, ast.Try):
                for handler in node.handlers:
                    walk(handler.body)

    walk(tree.body)
    return names


def _all_of(tree: ast.Module) -> "list[str] | None":
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
        if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
            value = node.value
            if isinstance(value, (ast.List, ast.Tuple)) and all(
                isinstance(e, ast.Constant) and isinstance(e.value, str) for e in value.elts
            ):
                return [e.value for e in value.elts]
            return ["<not a literal list of names>"]
    return None


def _shape_problems(root: Path) -> list[str]:
    """Modules without a docstring, with a first docstring line over 100 characters, or a wrong __all__."""
    found = []
    for name, path in _modules(root).items():
        rel = path.relative_to(root)
        tree = ast.parse(path.read_text(), str(path))
        doc = ast.get_docstring(tree)
        if not doc:
            found.append(f"{rel}: no module docstring")
        elif len(doc.splitlines()[0]) > MAX_DOC_LINE:
            found.append(
                f"{rel}: the docstring's first line has {len(doc.splitlines()[0])} characters"
            )
        names = _all_of(tree)
        if names is None:
            found.append(f"{rel}: no __all__")
            continue
        defined = _defined(tree)
        submodules = {m.rpartition(".")[2] for m in _modules(root) if m.rpartition(".")[0] == name}
        missing = [n for n in names if n not in defined and n not in submodules]
        if missing:
            found.append(f"{rel}: __all__ names what the module does not define: {missing}")
    return found


def _publish_problems(root: Path) -> list[str]:
    found = []
    if not (root / "tools" / "publish.py").is_file():
        found.append("tools/publish.py is missing")
    if (root / "fmtutor" / "publish.py").exists():
        found.append("fmtutor/publish.py exists: publishing is a tool, not part of the package")
    return found


def _heavy_after_import(root: Path) -> tuple[list[str], str]:
    """(heavy modules in sys.modules, fmtutor's file) after ``import fmtutor`` in a fresh process at root."""
    code = (
        "import json, sys\nimport fmtutor\n"
        f"print(json.dumps([sorted(m for m in {HEAVY!r} if m in sys.modules), fmtutor.__file__]))"
    )
    env = {**os.environ, "PYTHONPATH": str(root)}
    env.pop("MPLBACKEND", None)
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    heavy, file = json.loads(out.stdout.strip().splitlines()[-1])
    return heavy, file


# ------------------------------------------------------------------------------------------ the package


def test_import_fmtutor_loads_no_plotting_widgets_or_ipython():
    heavy, file = _heavy_after_import(ROOT)
    assert Path(file).resolve() == ROOT / "fmtutor" / "__init__.py"
    assert not heavy, f"import fmtutor loaded {heavy}: the math floor must not need them"


def test_the_math_floor_imports_no_plotting_widgets_ipython_or_course():
    found = _banned_imports(ROOT)
    assert not found, "\n".join(found)


def test_no_module_is_longer_than_350_lines():
    sizes = sorted(
        (
            (len(p.read_text().splitlines()), str(p.relative_to(ROOT)))
            for p in _modules(ROOT).values()
        ),
        reverse=True,
    )
    print(f"longest module: {sizes[0][1]} ({sizes[0][0]} lines)")
    long = _long_modules(ROOT)
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_fmtutor_modules_import_each_other_without_cycles():
    graph = _graph(ROOT)
    assert "fmtutor.paths" in graph["fmtutor.training"]  # the graph sees the imports it should
    assert "fmtutor.course.figures" in graph["fmtutor.course.widgets"]
    cycles = _cycles(ROOT)
    assert not cycles, f"import cycles: {cycles}"


def test_every_module_has_a_short_docstring_line_and_a_true_all():
    found = _shape_problems(ROOT)
    assert not found, "\n".join(found)


def test_every_name_in_all_exists_on_the_imported_module():
    import importlib

    for name in _modules(ROOT):
        module = importlib.import_module(name)
        missing = [n for n in getattr(module, "__all__", []) if not hasattr(module, n)]
        assert not missing, f"{name}.__all__ names {missing}, which it does not have"


def test_publishing_is_a_tool_outside_the_package():
    found = _publish_problems(ROOT)
    assert not found, "\n".join(found)


# ------------------------------------------------------------------------------------------ the checks can fail


@pytest.fixture()
def copy(tmp_path: Path) -> Path:
    """A copy of the package (and an empty tools/publish.py) that a test may break."""
    shutil.copytree(
        ROOT / "fmtutor", tmp_path / "fmtutor", ignore=shutil.ignore_patterns("__pycache__")
    )
    (tmp_path / "tools").mkdir()
    (tmp_path / "tools" / "publish.py").write_text('"""Publishing."""\n')
    return tmp_path


def _append(root: Path, module: str, text: str) -> None:
    path = root / "fmtutor" / module
    path.write_text(path.read_text() + text)


def _add(root: Path, module: str, text: str) -> None:
    (root / "fmtutor" / module).write_text(text)


BREAKAGES: dict[str, tuple[Callable[[Path], None], Callable[[Path], list], str]] = {
    # name: (how to break a copy, the check, a text its report must contain)
    "plotting at the top of a math module": (
        lambda r: _append(r, "metrics.py", "\nimport matplotlib\n"),
        _banned_imports,
        "fmtutor/metrics.py",
    ),
    "plotting inside a function": (
        lambda r: _append(
            r, "solvers.py", "\n\ndef _show():\n    import matplotlib.pyplot as plt\n"
        ),
        _banned_imports,
        "imports matplotlib",
    ),
    "widgets imported from a package": (
        lambda r: _append(r, "data.py", "\n\ndef _w():\n    from ipywidgets import IntSlider\n"),
        _banned_imports,
        "imports ipywidgets",
    ),
    "IPython by importlib": (
        lambda r: _append(
            r,
            "io.py",
            "\n\ndef _d():\n    import importlib\n    importlib.import_module('IPython.display')\n",
        ),
        _banned_imports,
        "imports IPython",
    ),
    "the course layer, relatively": (
        lambda r: _append(r, "training.py", "\n\ndef _c():\n    from .course import cache\n"),
        _banned_imports,
        "imports fmtutor.course",
    ),
    "the course layer, from the root": (
        lambda r: _append(r, "training.py", "\n\ndef _c():\n    from fmtutor import course\n"),
        _banned_imports,
        "imports fmtutor.course",
    ),
    "a relative import above the package": (
        lambda r: _append(r, "paths.py", "\n\ndef _up():\n    from .. import something\n"),
        _banned_imports,
        "a relative import above the package",
    ),
    "a module over 350 lines": (
        lambda r: _append(r, "sde.py", "#\n" * 400),
        _long_modules,
        "fmtutor/sde.py",
    ),
    "a cycle through a function-level import": (
        lambda r: _append(
            r, "paths.py", "\n\ndef _t():\n    from fmtutor.training import cfm_loss\n"
        ),
        _cycles,
        "fmtutor.paths",
    ),
    "a cycle through the package root": (
        lambda r: _append(
            r, "metrics.py", "\n\ndef _r():\n    from fmtutor import default_device\n"
        ),
        _cycles,
        "fmtutor.metrics",
    ),
    "a module without a docstring": (
        lambda r: _add(r, "extra.py", '__all__ = ["f"]\n\n\ndef f():\n    pass\n'),
        _shape_problems,
        "fmtutor/extra.py: no module docstring",
    ),
    "a docstring line over 100 characters": (
        lambda r: _add(r, "extra.py", f'"""{"x" * 101}"""\n\n__all__ = []\n'),
        _shape_problems,
        "first line has 101 characters",
    ),
    "a module without __all__": (
        lambda r: _add(r, "course/extra.py", '"""Extra."""\n\n\ndef f():\n    pass\n'),
        _shape_problems,
        "fmtutor/course/extra.py: no __all__",
    ),
    "__all__ naming what is not there": (
        lambda r: _add(
            r, "extra.py", '"""Extra."""\n\n__all__ = ["f", "g"]\n\n\ndef f():\n    pass\n'
        ),
        _shape_problems,
        "['g']",
    ),
    "publish back in the package": (
        lambda r: _add(r, "publish.py", '"""Publish."""\n\n__all__ = []\n'),
        _publish_problems,
        "fmtutor/publish.py exists",
    ),
    "no tools/publish.py": (
        lambda r: (r / "tools" / "publish.py").unlink(),
        _publish_problems,
        "tools/publish.py is missing",
    ),
}


@pytest.mark.parametrize("name", list(BREAKAGES))
def test_each_check_catches_what_it_guards(name, copy):
    breaking, check, words = BREAKAGES[name]
    before = check(copy)
    breaking(copy)
    after = check(copy)
    new = [str(p) for p in after if p not in before]
    assert new and any(words in p for p in new), f"{check.__name__} missed {name}: {new}"


def test_the_fresh_process_check_catches_an_import_of_pyplot(copy):
    _append(copy, "metrics.py", "\nimport matplotlib.pyplot\n")
    heavy, file = _heavy_after_import(copy)
    assert Path(file).resolve() == (copy / "fmtutor" / "__init__.py").resolve()
    assert "matplotlib" in heavy and "matplotlib.pyplot" in heavy
