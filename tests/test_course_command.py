"""The README's two commands under faults: an old Python gets a clear message, a broken .venv is rebuilt."""

import ast
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAUNCHER = ROOT / "tools" / "course.py"
sys.path.insert(0, str(ROOT / "tools"))
import course_setup  # noqa: E402


def test_the_launcher_parses_as_old_python_and_checks_the_version_first():
    src = LAUNCHER.read_text()
    tree = ast.parse(src, feature_version=(3, 4))  # the oldest grammar ast can check
    newer = [
        type(n).__name__
        for n in ast.walk(tree)
        if isinstance(n, (ast.JoinedStr, ast.AnnAssign, ast.NamedExpr, ast.Match))
        or (
            isinstance(n, ast.FunctionDef) and (n.returns or any(a.annotation for a in n.args.args))
        )
    ]
    assert not newer, f"tools/course.py must read on any Python 3; it uses {newer}"
    body = [
        n for n in tree.body if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))
    ]
    imports_before = []
    for node in body:
        if isinstance(node, ast.If) and "version_info" in ast.unparse(node.test):
            break
        assert isinstance(node, ast.Import), (
            f"only imports may come before the version check: {ast.unparse(node)}"
        )
        imports_before += [a.name for a in node.names]
    else:
        pytest.fail("tools/course.py has no version check")
    assert set(imports_before) <= {"os", "sys"}, imports_before


@pytest.mark.parametrize("version", [(3, 8, 10), (3, 9, 1), (3, 0, 0)])
def test_an_old_python_gets_a_message_not_a_crash(version):
    code = (
        f"import sys; sys.version_info = {version!r}; sys.argv = ['course.py', 'test']; "
        f"exec(compile(open({str(LAUNCHER)!r}).read(), 'course.py', 'exec'), {{'__name__': '__main__', "
        f"'__file__': {str(LAUNCHER)!r}}})"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert "needs Python 3.10 or newer; this is Python %d.%d" % version[:2] in out.stderr
    assert "Traceback" not in out.stderr


def test_a_venv_without_pip_is_found_and_rebuilt(tmp_path, capsys):
    broken = tmp_path / ".venv"
    venv.EnvBuilder(with_pip=False).create(broken)  # what Ctrl-C in the first seconds leaves behind
    problem = course_setup.venv_problem(broken)
    assert problem is not None and "pip" in problem
    course_setup.ensure_venv(broken)
    assert "is broken" in capsys.readouterr().out
    assert course_setup.venv_problem(broken) is None


def test_a_missing_python_is_a_problem_and_a_good_venv_is_kept(tmp_path):
    assert "missing" in course_setup.venv_problem(tmp_path / "nothing")
    marker = tmp_path / "good" / "keep.txt"
    venv.EnvBuilder(with_pip=True).create(tmp_path / "good")
    marker.write_text("x")
    course_setup.ensure_venv(tmp_path / "good")
    assert marker.exists(), "a working venv must not be rebuilt"
