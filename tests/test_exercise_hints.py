"""Every ready-made exercise check recognises the typical wrong answers and answers each with a specific hint.

Generic half-finished answers are derived from each reference solution (None, NotImplementedError, NaN,
a wrong shape, the sign flipped, an exception, inputs changed in place, a non-callable); the typical
mistakes of the flow-matching exercises (time reversed, the 1 - t missing, ...) are written out.
"""

from __future__ import annotations

import pytest
import torch

from fmtutor import exercises as E

CHECKS = sorted(
    name[len("check_") :]
    for name in E.__all__
    if name.startswith("check_")
    and name != "check_function"
    and f"reference_{name[6:]}" in E.__all__
)


def pair(name):
    return getattr(E, f"check_{name}"), getattr(E, f"reference_{name}")


def test_there_are_checks():
    assert {"conditional_velocity", "euler_step", "midpoint_step", "cfm_loss"} <= set(CHECKS)


@pytest.mark.parametrize("name", CHECKS)
def test_reference_passes_and_numpy_output_is_accepted(name):
    check, ref = pair(name)
    assert check(ref, verbose=False).passed
    res = check(lambda *a: ref(*a).detach().numpy(), verbose=False)
    assert res.passed, res.message


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
@pytest.mark.parametrize("name", CHECKS)
def test_generic_wrong_answers_get_their_own_message(name, kind):
    check, ref = pair(name)
    res = check(GENERIC[kind](ref), verbose=False)
    assert not res.passed
    assert res.status == kind, f"{name}/{kind}: got status {res.status}: {res.message}"
    assert res.message and "correct" not in res.message


@pytest.mark.parametrize("name", CHECKS)
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
    assert "❌" in capsys.readouterr().out


def test_use_or_reference_falls_back_and_says_so(capsys):
    res = E.check_conditional_velocity(_todo, verbose=False)
    fn = E.use_or_reference(_todo, res, E.reference_conditional_velocity)
    assert (
        fn is E.reference_conditional_velocity and "reference solution" in capsys.readouterr().out
    )
    ok = E.check_conditional_velocity(E.reference_conditional_velocity, verbose=False)
    assert (
        E.use_or_reference(E.reference_conditional_velocity, ok, None if False else _todo)
        is E.reference_conditional_velocity
    )


# The typical mistakes of the flow-matching exercises, each with words its hint must contain.
TYPICAL = {
    "conditional_velocity": [
        ("sign flipped", lambda x, x1, t: (x - x1) / (1 - t), "sign"),
        ("time reversed", lambda x, x1, t: (x1 - x) / t, "backwards"),
        ("missing 1 - t", lambda x, x1, t: x1 - x, "(1 - t) is missing"),
        ("times instead of divided", lambda x, x1, t: (x1 - x) * (1 - t), "multiplied"),
        ("t of wrong shape", lambda x, x1, t: (x1 - x) / (1 - t.reshape(-1)), "shape"),
    ],
    "sample_xt": [
        ("time reversed", lambda x0, x1, t: t * x0 + (1 - t) * x1, "reversed"),
        ("missing 1 - t", lambda x0, x1, t: t * x1 + x0, "(1 - t)"),
        ("variance for std", lambda x0, x1, t: t * x1 + (1 - t) ** 2 * x0, "standard deviation"),
    ],
    "cfm_loss": [
        (
            "time reversed",
            lambda m, x0, x1, t: ((m(t * x0 + (1 - t) * x1, t) - (x1 - x0)) ** 2).sum(1).mean(),
            "reversed",
        ),
        (
            "target sign flipped",
            lambda m, x0, x1, t: ((m((1 - t) * x0 + t * x1, t) - (x0 - x1)) ** 2).sum(1).mean(),
            "sign",
        ),
        (
            "MSELoss mean",
            lambda m, x0, x1, t: ((m((1 - t) * x0 + t * x1, t) - (x1 - x0)) ** 2).mean(),
            "averaged",
        ),
        (
            "no reduction",
            lambda m, x0, x1, t: ((m((1 - t) * x0 + t * x1, t) - (x1 - x0)) ** 2).sum(1),
            "shape",
        ),
    ],
    "euler_step": [
        ("increment only", lambda u, x, t, h: h * u(x, t), "increment"),
        ("end time", lambda u, x, t, h: x + h * u(x, t + h), "start time"),
        ("no h", lambda u, x, t, h: x + u(x, t), "step size"),
    ],
    "midpoint_step": [
        ("euler", lambda u, x, t, h: x + h * u(x, t), "Euler"),
        ("midpoint time", lambda u, x, t, h: x + h * u(x + 0.5 * h * u(x, t), t), "t + h/2"),
    ],
    "x1_from_velocity": [
        ("time reversed", lambda v, x, t: x + t * v, "backwards"),
        ("sign flipped", lambda v, x, t: x - (1 - t) * v, "sign"),
        ("missing 1 - t", lambda v, x, t: x + v, "(1 - t) is missing"),
    ],
    "score_from_velocity": [
        ("sign flipped", lambda v, x, t: (x - t * v) / (1 - t), "sign"),
        ("no division", lambda v, x, t: t * v - x, "divide"),
        ("sigma = t", lambda v, x, t: (t * v - x) / t, "not t"),
    ],
    "cfg": [
        ("sign flipped", lambda uc, uu, w: uu - w * (uc - uu), "sign"),
        ("roles swapped", lambda uc, uu, w: uc + w * (uu - uc), "wrong term"),
    ],
}


@pytest.mark.parametrize(
    "name,label,wrong,words",
    [(n, lab, f, w) for n, rows in TYPICAL.items() if n in CHECKS for lab, f, w in rows],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_typical_mistakes_get_specific_hints(name, label, wrong, words):
    check, _ = pair(name)
    res = check(wrong, verbose=False)
    assert not res.passed, f"{name}: {label} passed"
    assert words.lower() in res.message.lower(), (
        f"{name}/{label}: hint {res.message!r} lacks {words!r}"
    )


def test_answer_dividing_by_zero_at_t1_is_explained():
    res = E.check_function(
        lambda x, t: x / (1 - t),
        lambda x, t: x,
        [(torch.ones(2, 2), torch.ones(2, 1))],
        verbose=False,
    )
    assert res.status == "nan" and "t = 1" in res.message
