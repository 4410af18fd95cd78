"""The exercises' specific hints, the time convention, the marks, the timeout of every chapter's check.

Each typical slip that fell through to "values differ" is fed into its chapter's check and the hint is
read: a sign flip in the Euler step, dividing by (1 - t)^2, an unsquared norm, a sum over the batch, the
model evaluated at x0, Heun's step for the midpoint's, a greedy pairing (told its cost gap), a missing
requires_grad, a loss cut off from the model's parameters. Every check hands a time per sample as a column
(B, 1) and a time shared by the batch as a 0-dim tensor (exercises.py's docstring), and a student's function
written for exactly that passes. The marks are glyphs DejaVu Sans Mono has. The checks that rerun a
student's function (chapters 2, 7, 11) stop an endless loop.
"""

from __future__ import annotations

import importlib
import inspect
import re
import signal
import threading
import time
from pathlib import Path

import matplotlib
import pytest
import torch

from fmtutor.course import exercises as E

CHAPTERS = [importlib.import_module(f"fmtutor.course.ch{k:02d}") for k in range(12)]
HOME = {
    name[len("check_") :]: module
    for module in CHAPTERS
    for name in module.__all__
    if name.startswith("check_") and f"reference_{name[6:]}" in module.__all__
}


def pair(name):
    return getattr(HOME[name], f"check_{name}"), getattr(HOME[name], f"reference_{name}")


# --- the slips of issue 13, each with its hint ------------------------------------------------------


def test_a_backward_euler_step_is_named():
    check, _ = pair("euler_step")
    res = check(lambda u, x, t, h: x - h * u(x, t), verbose=False)
    assert res.status == "mistake" and "backwards" in res.message, res.message


def test_dividing_by_the_variance_in_the_conditional_velocity_is_named():
    check, _ = pair("conditional_velocity")
    res = check(lambda x, x1, t: (x1 - x) / (1 - t) ** 2, verbose=False)
    assert res.status == "mistake" and "(1 - t)^2" in res.message, res.message


@pytest.mark.parametrize(
    "slip,words",
    [("norm", "not squared"), ("sum", "summed over the batch"), ("x0", "at the noise x0")],
)
def test_the_cfm_loss_slips_are_named(slip, words):
    check, _ = pair("cfm_loss")

    def student(model, x0, x1, t):  # written out, not taken from the mistakes module
        xt = (1 - t) * x0 + t * x1
        r = model(x0 if slip == "x0" else xt, t) - (x1 - x0)
        if slip == "norm":
            return r.norm(dim=1).mean()
        return (r**2).sum(1).sum() if slip == "sum" else (r**2).sum(1).mean()

    res = check(student, verbose=False)
    assert res.status == "mistake" and words in res.message, res.message


def test_a_cfm_loss_cut_off_from_the_models_parameters_is_named():
    """Before: the case's model was a plain function, so a detached loss passed."""
    check, ref = pair("cfm_loss")
    res = check(lambda *a: torch.tensor(ref(*a).item()), verbose=False)
    assert res.status == "grad" and "gradient" in res.message, res.message
    res = check(lambda *a: ref(*a).detach(), verbose=False)
    assert res.status == "grad", res.message
    assert check(ref, verbose=False).passed


def test_heun_for_the_midpoint_step_is_named():
    check, _ = pair("midpoint_step")

    def heun(u, x, t, h):
        k1 = u(x, t)
        k2 = u(x + h * k1, t + h)
        return x + h * (k1 + k2) / 2

    res = check(heun, verbose=False)
    assert res.status == "mistake" and "Heun" in res.message, res.message


def _greedy(x0, x1):
    """Each noise point in turn takes its nearest free data point (written here, independently)."""
    free, s = list(range(len(x1))), []
    for i in range(len(x0)):
        d = [float(((x0[i] - x1[j]) ** 2).sum()) for j in free]
        s.append(free.pop(d.index(min(d))))
    return torch.tensor(s)


def test_a_greedy_pairing_is_told_its_cost_gap():
    """Before: "values differ (max |difference| = 3)"."""
    check, ref = pair("ot_pairing")
    res = check(_greedy, verbose=False)
    assert res.status == "greedy" and "greedy" in res.message, res.message
    assert "max |difference|" not in res.message
    x0, x1 = HOME["ot_pairing"]._cases_pairing()[0]
    costs = [float(((x0 - x1[s]) ** 2).sum()) for s in (_greedy(x0, x1), ref(x0, x1))]
    assert costs[0] > costs[1] + 0.5
    for c in costs:
        assert f"{c:.3f}" in res.message, (c, res.message)
    assert f"{100 * (costs[0] / costs[1] - 1):.0f}% more" in res.message


def test_another_costlier_permutation_is_told_its_gap_and_a_non_permutation_is_not():
    check, ref = pair("ot_pairing")

    def swapped(x0, x1):
        s = ref(x0, x1).clone()
        s[[0, 1]] = s[[1, 0]]
        return s

    res = check(swapped, verbose=False)
    assert res.status == "costlier" and "optimum" in res.message, res.message
    res = check(lambda x0, x1: torch.zeros(len(x0), dtype=torch.int64), verbose=False)
    assert res.status == "wrong", res.message  # not a permutation: no cost gap to speak of


def _div_without_requires_grad(field, x, t):
    u = field(x, t)
    rows = [torch.autograd.grad(u[:, i].sum(), x)[0][:, i] for i in range(2)]
    return rows[0] + rows[1]


@pytest.mark.parametrize("name", ["divergence", "hutchinson"])
def test_a_missing_requires_grad_is_named(name):
    check, _ = pair(name)
    student = (
        _div_without_requires_grad
        if name == "divergence"
        else lambda f, x, t, z: (torch.autograd.grad((f(x, t) * z).sum(), x)[0] * z).sum(1)
    )
    res = check(student, verbose=False)
    assert res.status == "requires_grad" and "requires_grad_(True)" in res.message, res.message


# --- one time convention ---------------------------------------------------------------------------

#: exercises whose t is one time per sample (a column), and those whose t is shared by the batch
PER_SAMPLE = {
    "sample_xt",
    "conditional_log_prob",
    "conditional_velocity",
    "cfm_loss",
    "x1_from_velocity",
    "score_from_velocity",
    "train_step",
}
SHARED = {"rotation_field", "euler_step", "midpoint_step", "divergence", "hutchinson"}


def test_every_check_with_a_time_is_classified():
    with_t = {n for n in HOME if "t" in inspect.signature(pair(n)[1]).parameters}
    assert with_t == PER_SAMPLE | SHARED, with_t ^ (PER_SAMPLE | SHARED)


@pytest.mark.parametrize("name", sorted(PER_SAMPLE | SHARED))
def test_a_function_written_for_the_documented_t_shape_passes_every_case(name):
    check, ref = pair(name)
    params = list(inspect.signature(ref).parameters)
    seen = []

    def strict(*args):
        t = args[params.index("t")]
        points = next(a for a in args if isinstance(a, torch.Tensor) and a.ndim == 2)
        want = (points.shape[0], 1) if name in PER_SAMPLE else ()
        assert isinstance(t, torch.Tensor) and tuple(t.shape) == want, (name, t)
        seen.append(tuple(t.shape))
        if name in PER_SAMPLE and name not in (
            "cfm_loss",
            "train_step",
        ):  # a column-only answer: t[:, 0] works
            assert t[:, 0].shape == (points.shape[0],)
        return ref(*args)

    assert check(strict, verbose=False).passed
    assert len(seen) >= 1


def test_the_networks_of_the_training_checks_take_t_as_a_column():
    """The cfm_loss and train_step cases hand the model a column; a (B,) t is refused by name."""
    check, ref = pair("cfm_loss")
    res = check(lambda m, x0, x1, t: ref(m, x0, x1, t[:, 0]), verbose=False)
    assert not res.passed and "(8, 1)" in res.message, res.message
    doc = " ".join((E.__doc__ or "").split())
    assert "a column ``t`` of shape (B, 1)" in doc and "0-dim tensor" in doc


# --- marks and the first message -------------------------------------------------------------------


def test_the_marks_are_glyphs_of_dejavu_sans_mono():
    from fontTools.ttLib import TTFont

    font = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSansMono.ttf"
    cmap = TTFont(font).getBestCmap()
    for mark in (E.PASS_MARK, E.FAIL_MARK, E.NEXT_MARK):
        assert all(ord(c) in cmap for c in mark), mark
    assert 0x2705 not in cmap and 0x274C not in cmap  # the emoji the marks replace: boxes here
    emoji = re.compile("[\u2705\u274c\U0001f300-\U0001faff]")
    course = Path(E.__file__).parent
    for path in sorted(course.glob("*.py")):
        code = "\n".join(
            line for line in path.read_text().splitlines() if not line.lstrip().startswith("#")
        )
        assert not emoji.search(code), f"{path.name} prints an emoji mark"


def test_the_first_verdict_says_the_checks_are_for_learning(capsys, monkeypatch):
    monkeypatch.setattr(E, "_told", [])
    check, ref = pair("cfg")
    check(ref)
    check(ref)
    out = capsys.readouterr().out
    assert out.count("help you learn, not to grade you") == 1, out
    assert out.startswith(E.PASS_MARK + " correct") and out.count(E.PASS_MARK) == 2


# --- the reruns stop an endless loop ---------------------------------------------------------------


def _slow_then(value_fn, seconds=4.0):
    def student(*args):
        start = time.monotonic()
        while time.monotonic() - start < seconds:  # an endless loop, as far as a short timeout sees
            pass
        return value_fn(*args)

    return student


@pytest.mark.skipif(
    not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread(),
    reason="no SIGALRM timer here",
)
@pytest.mark.parametrize("name", ["euler_solver", "ot_pairing", "tile_images"])
def test_the_checks_that_rerun_a_function_respect_the_timeout(name, monkeypatch):
    """Before: chapters 2, 7 and 11 called the student's function directly first, with no limit."""
    check, ref = pair(name)
    defaults = list(E.check_function.__defaults__)
    defaults[-1] = 0.3  # timeout
    monkeypatch.setattr(E.check_function, "__defaults__", tuple(defaults))
    monkeypatch.setattr(E.rerun, "__kwdefaults__", {"timeout": 0.3})
    start = time.monotonic()
    res = check(_slow_then(ref), verbose=False)
    assert res.status == "timeout" and "0.3 s" in res.message, res.message
    assert time.monotonic() - start < 2.5
    # a function that returns a wrong shape first, then loops: the rerun is stopped too
    calls = []

    def shape_then_loop(*args):
        calls.append(1)
        out = ref(*args)
        return out[None] if len(calls) == 1 else _slow_then(ref)(*args)

    start = time.monotonic()
    res = check(shape_then_loop, verbose=False)
    assert not res.passed and time.monotonic() - start < 2.5, res.message
