"""fmtutor.course.exercises: the checking engine answers every kind of half-finished answer with its own hint.

Every chapter's ready-made check (``fmtutor.course.chNN.check_*``) is run against generic wrong answers
derived from its reference solution (None, NotImplementedError, NaN, a wrong shape, the sign flipped, an
exception, inputs changed in place, a non-callable). The typical mistakes of each exercise (time reversed,
the 1 - t missing, ...) are written out in that chapter's tests, tests/course/test_chNN.py.
"""

from __future__ import annotations

import importlib

import pytest
import torch

from fmtutor.course import exercises as E

CHAPTERS = [importlib.import_module(f"fmtutor.course.ch{k:02d}") for k in range(12)]
#: exercise name -> the chapter module holding its check_<name> and reference_<name>
HOME = {
    name[len("check_") :]: module
    for module in CHAPTERS
    for name in module.__all__
    if name.startswith("check_") and f"reference_{name[6:]}" in module.__all__
}
CHECKS = sorted(HOME)
#: checks that run the student's function inside their own harness (check_train_step runs two steps on
#: a fresh network): the generic wrong answers below, derived from the reference's return value, do not
#: apply; their slips are in tests/course/test_ch05.py
WRAPPED = {"train_step"}


def pair(name):
    return getattr(HOME[name], f"check_{name}"), getattr(HOME[name], f"reference_{name}")


def test_there_are_checks():
    assert {"conditional_velocity", "euler_step", "midpoint_step", "cfm_loss"} <= set(CHECKS)
    assert len(CHECKS) == 18, CHECKS  # every check_* of the twelve chapters, none lost in a move


@pytest.mark.parametrize("name", CHECKS)
def test_reference_passes(name):
    """(A NumPy answer is refused: tests/course/test_exercises_hardening.py.)"""
    check, ref = pair(name)
    assert check(ref, verbose=False).passed


def _first_tensor(args):
    return next(
        i for i, a in enumerate(args) if isinstance(a, torch.Tensor) and a.is_floating_point()
    )


def _todo(*a):
    raise NotImplementedError


def _boom(*a):
    return 1 / 0


def _inplace(ref):
    def student(*args):
        out = ref(*[a.clone() if isinstance(a, torch.Tensor) else a for a in args])
        args[_first_tensor(args)].add_(1.0)  # e.g. `x += ...` in a half-finished answer
        return out

    return student


GENERIC = {
    "none": lambda ref: lambda *a: None,
    "todo": lambda ref: _todo,
    "nan": lambda ref: lambda *a: ref(*a).double() * float("nan"),
    "shape": lambda ref: lambda *a: ref(*a)[None],
    "raised": lambda ref: _boom,
    "inplace": _inplace,
    "type": lambda ref: lambda *a: "tensor",
}


@pytest.mark.parametrize("kind", sorted(GENERIC))
@pytest.mark.parametrize("name", sorted(set(CHECKS) - WRAPPED))
def test_generic_wrong_answers_get_their_own_message(name, kind):
    check, ref = pair(name)
    res = check(GENERIC[kind](ref), verbose=False)
    assert not res.passed
    assert res.status == kind, f"{name}/{kind}: got status {res.status}: {res.message}"
    assert res.message and "correct" not in res.message


@pytest.mark.parametrize("name", sorted(set(CHECKS) - WRAPPED))
def test_sign_flipped_answer_is_named(name):
    check, ref = pair(name)
    res = check(lambda *a: -ref(*a), verbose=False)
    assert not res.passed and res.status in ("mistake", "sign"), (res.status, res.message)
    if name not in ("ot_pairing",):
        assert "sign" in res.message.lower() or res.status == "mistake", res.message


@pytest.mark.parametrize("name", CHECKS)
def test_not_callable_and_printing(name, capsys):
    check, _ = pair(name)
    res = check("my answer", verbose=True)
    assert not res.passed and res.status == "not-callable"
    assert E.FAIL_MARK in capsys.readouterr().out


def test_use_or_reference_falls_back_and_says_so(capsys):
    check, ref = pair("conditional_velocity")
    res = check(_todo, verbose=False)
    fn = E.use_or_reference(_todo, res, ref)
    assert fn is ref and "reference solution" in capsys.readouterr().out
    ok = check(ref, verbose=False)
    assert E.use_or_reference(ref, ok, _todo) is ref


def test_answer_dividing_by_zero_at_t1_is_explained():
    res = E.check_function(
        lambda x, t: x / (1 - t),
        lambda x, t: x,
        [(torch.ones(2, 2), torch.ones(2, 1))],
        verbose=False,
    )
    assert res.status == "nan" and "t = 1" in res.message


def test_shared_cases_have_the_documented_shapes():
    for x, x1, t in E.cases_xt():
        assert x.shape == x1.shape and x.shape[1] == 2 and t.shape == (x.shape[0], 1)
        assert bool(
            ((t > 0) & (t < 1)).all()
        )  # inside (0, 1): no division by zero in a right answer
    for field, x, t, h in E.cases_step():
        assert field(x, t).shape == x.shape and t.ndim == 0 and float(h) > 0


def test_result_is_truthy_exactly_when_passed():
    assert E.ExerciseResult(True, "correct", "ok") and not E.ExerciseResult(False, "no", "wrong")
    assert repr(E.ExerciseResult(False, "the sign is flipped", "sign")).startswith("NOT YET")
