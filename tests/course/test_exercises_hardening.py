"""fmtutor.course.exercises: the engine's own rules, for every exercise, and the cheap defences.

Every chapter's check refuses what a student returns by slip, each with a hint naming the slip: a NumPy array
(np.* or .numpy()), a Python number (.item(), float(...)), a list, a complex result, the wrong dtype, the
wrong shape, and a loss cut off from the model's parameters; after such a refusal use_or_reference hands the
chapter the reference, so the chapter goes on. An endless loop is stopped. Reading the expected value from
the caller's frame, replacing the chapter's reference, patching the engine's ``_close`` or ``torch.allclose``
no longer pass a wrong answer. (The checks are for learning, not grading: the module docstring says so.)
"""

from __future__ import annotations

import importlib
import inspect
import signal
import sys
import threading
import time

import numpy as np
import pytest
import torch
from torch import nn

from fmtutor.course import exercises as E

CHAPTERS = [importlib.import_module(f"fmtutor.course.ch{k:02d}") for k in range(12)]
HOME = {
    name[len("check_") :]: module
    for module in CHAPTERS
    for name in module.__all__
    if name.startswith("check_") and f"reference_{name[6:]}" in module.__all__
}
#: exercises whose check wraps the student's function (it does not see the raw return value)
WRAPPED = {"train_step"}
CHECKS = sorted(set(HOME) - WRAPPED)


def pair(name):
    return getattr(HOME[name], f"check_{name}"), getattr(HOME[name], f"reference_{name}")


def _first_case_output(name):
    """The reference's output on the check's first case, by calling the check with a spy."""
    check, ref = pair(name)
    seen = []

    def spy(*args):
        out = ref(*args)
        seen.append((out, args))
        return out

    assert check(spy, verbose=False).passed
    return seen[0]


@pytest.mark.parametrize("name", CHECKS)
def test_a_numpy_answer_is_refused_and_the_chapter_gets_the_reference(name, capsys):
    """Before: all of them passed, and the chapter crashed two lines later on the NumPy array."""
    check, ref = pair(name)
    student = lambda *a: ref(*a).detach().numpy()  # noqa: E731 - e.g. np.sin(x) or a .numpy()
    res = check(student, verbose=False)
    assert not res.passed and res.status == "numpy", res.message
    assert "NumPy" in res.message and "torch" in res.message
    assert E.use_or_reference(student, res, ref) is ref
    assert "reference solution" in capsys.readouterr().out


@pytest.mark.parametrize("name", CHECKS)
def test_a_python_number_or_a_list_is_refused_with_its_hint(name):
    check, ref = pair(name)
    want, _ = _first_case_output(name)
    if want.numel() == 1:  # a loss, a KL: `return loss.item()`
        res = check(lambda *a: ref(*a).item(), verbose=False)
        assert res.status == "number" and ".item()" in res.message, res.message
    res = check(lambda *a: ref(*a).tolist(), verbose=False)
    assert res.status in ("type", "number") and "tensor" in res.message, res.message
    res = check(lambda *a: 0.5, verbose=False)
    assert res.status == "number" and "Python float" in res.message, res.message


@pytest.mark.parametrize("name", CHECKS)
def test_a_complex_answer_is_refused(name):
    """Before: a complex result whose real part was right passed."""
    check, ref = pair(name)
    res = check(lambda *a: ref(*a).to(torch.complex128), verbose=False)
    assert not res.passed and res.status == "complex" and "complex" in res.message, res.message


@pytest.mark.parametrize("name", CHECKS)
def test_a_wrong_dtype_is_refused_and_named(name):
    check, ref = pair(name)
    want, args = _first_case_output(name)
    floats = {a.dtype for a in args if isinstance(a, torch.Tensor) and a.is_floating_point()}
    if want.is_floating_point():
        wrong = torch.float64 if torch.float64 not in floats | {want.dtype} else torch.float16
        if wrong == torch.float16 and torch.float16 in floats:
            pytest.skip("every float dtype is allowed here")
        res = check(lambda *a: ref(*a).to(wrong), verbose=False)
        assert (
            res.status == "dtype" and str(wrong) in res.message and str(want.dtype) in res.message
        )
        res = check(lambda *a: ref(*a).round().long(), verbose=False)  # integer arithmetic
        assert res.status == "dtype" and "int64" in res.message, res.message
    else:  # indices: a float tensor of the right values is refused
        res = check(lambda *a: ref(*a).float(), verbose=False)
        assert res.status == "dtype" and "integers" in res.message, res.message


@pytest.mark.parametrize("name", CHECKS)
def test_a_wrong_shape_says_which(name):
    check, ref = pair(name)
    want, _ = _first_case_output(name)
    res = check(lambda *a: ref(*a).reshape(-1, 1), verbose=False)
    if want.ndim == 2 and want.shape[1] == 1:
        res = check(lambda *a: ref(*a).reshape(-1), verbose=False)
    assert res.status == "shape", res.message
    assert str(tuple(want.shape)) in res.message, res.message


def _loss(model, x):
    return (model(x) ** 2).sum(1).mean()


class _Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.tensor([[0.5, -1.0], [2.0, 0.3]]))

    def forward(self, x):
        return x @ self.w


def test_a_loss_cut_off_from_the_model_is_refused():
    """`.detach()`, `.item()`, torch.no_grad() or torch.tensor(...) cut the gradient: training would not learn."""
    cases = [(_Tiny(), torch.randn(5, 2, generator=torch.Generator().manual_seed(0)))]

    def no_grad(model, x):
        with torch.no_grad():
            return _loss(model, x)

    for student in (
        lambda m, x: _loss(m, x).detach(),
        no_grad,
        lambda m, x: torch.tensor(_loss(m, x).item()),
    ):
        res = E.check_function(student, _loss, cases, verbose=False)
        assert res.status == "grad" and "gradient" in res.message, res.message
    res = E.check_function(lambda m, x: _loss(m, x).item(), _loss, cases, verbose=False)
    assert res.status == "number" and "autograd" in res.message
    assert E.check_function(_loss, _loss, cases, verbose=False).passed
    # no parameter among the inputs (a field, a step): no gradient asked for
    field = [(torch.randn(4, 2),)]
    assert E.check_function(lambda x: (2 * x).detach(), lambda x: 2 * x, field, verbose=False)


def test_an_endless_loop_is_stopped_with_a_message():
    def forever(*a):
        while True:
            try:
                time.sleep(0.01)
            except Exception:  # a student's catch-all does not swallow the timeout
                pass

    if not (hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()):
        pytest.skip("no SIGALRM timer here (the check would hang: documented)")
    start = time.monotonic()
    res = E.check_function(forever, lambda x: x, [(torch.ones(2),)], timeout=0.3, verbose=False)
    assert res.status == "timeout" and "0.3 s" in res.message and "loop" in res.message
    assert time.monotonic() - start < 3


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="POSIX timers only")
def test_the_timeout_leaves_a_running_timer_and_its_handler_as_they_were():
    rang = []
    old = signal.signal(signal.SIGALRM, lambda *a: rang.append(1))
    try:
        signal.setitimer(signal.ITIMER_REAL, 50.0)
        assert E.check_function(lambda x: x, lambda x: x, [(torch.ones(2),)], verbose=False)
        left, _ = signal.getitimer(signal.ITIMER_REAL)
        assert 45 < left <= 50 and not rang
        assert signal.getsignal(signal.SIGALRM) is not None and E.call(len, [1, 2]) == 2
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def test_call_outside_the_main_thread_has_no_limit_but_works():
    out = []
    t = threading.Thread(target=lambda: out.append(E.call(sum, [1, 2], timeout=0.1)))
    t.start()
    t.join()
    assert out == [3]
    with pytest.raises(ValueError, match="timeout: expected a positive number"):
        E.check_function(len, len, [((1,),)], timeout=-1, verbose=False)


# --- cheats: each must leave a wrong answer refused ------------------------------------------


def _frame_reader(*args):
    """Return whatever tensor called `want` (or `expected`, `reference`) a calling frame holds."""
    frame = inspect.currentframe().f_back
    while frame is not None:
        for key in ("want", "expected", "reference", "ref"):
            v = frame.f_locals.get(key)
            if isinstance(v, torch.Tensor):
                return v.clone()
            if callable(v) and key in ("reference", "ref"):
                continue
        frame = frame.f_back
    return torch.zeros(1)


def test_reading_the_expected_value_from_the_callers_frame_does_not_pass():
    """Before: `inspect.currentframe().f_back.f_locals['want']` passed every check."""
    check, _ = pair("conditional_velocity")
    res = check(_frame_reader, verbose=False)
    assert not res.passed, res.message


def test_replacing_the_chapters_reference_does_not_pass(monkeypatch):
    """Before: `ch04.reference_conditional_velocity = my_answer` made any answer pass."""
    module = HOME["conditional_velocity"]

    def wrong(x, x1, t):
        return x1 - x

    monkeypatch.setattr(module, "reference_conditional_velocity", wrong)
    res = module.check_conditional_velocity(wrong, verbose=False)
    assert not res.passed and res.status == "reference" and "replaced" in res.message


def test_patching_close_or_torch_allclose_does_not_pass(monkeypatch):
    """Before: `exercises._close = lambda *a: True` (or torch.allclose) made any answer pass."""
    check, ref = pair("euler_step")
    wrong = lambda *a: ref(*a) + 0.5  # noqa: E731
    monkeypatch.setattr(E, "_close", lambda *a, **k: True)
    assert not check(wrong, verbose=False).passed
    monkeypatch.undo()
    monkeypatch.setattr(torch, "allclose", lambda *a, **k: True)
    assert not check(wrong, verbose=False).passed
    monkeypatch.undo()

    def patching(*a):  # a student's function that patches the engine while it runs
        E._close = lambda *b, **k: True
        torch.allclose = lambda *b, **k: True
        return ref(*a) + 0.5

    real_close, real_allclose = E._close, torch.allclose
    try:
        assert not check(patching, verbose=False).passed
    finally:
        E._close, torch.allclose = real_close, real_allclose


def test_a_tensor_subclass_that_overrides_comparisons_does_not_pass():
    class AlwaysClose(torch.Tensor):
        @classmethod
        def __torch_function__(cls, func, types, args=(), kwargs=None):
            if func in (torch.allclose, torch.isfinite):
                return True if func is torch.allclose else torch.tensor(True)
            return super().__torch_function__(func, types, args, kwargs or {})

    check, ref = pair("euler_step")
    res = check(lambda *a: (ref(*a) + 1).as_subclass(AlwaysClose), verbose=False)
    assert not res.passed and res.status == "type", res.message


def test_the_engine_says_it_is_for_learning_not_grading():
    doc = " ".join((E.__doc__ or "").split())
    assert "for learning, not for grading" in doc
    assert "for learning, not for grading" in " ".join((E.check_function.__doc__ or "").split())


def test_numpy_inputs_to_the_engine_itself_are_still_compared():
    """The rules concern what a student returns; a reference returning a number still works."""
    res = E.check_function(
        lambda x: float(x.sum()), lambda x: float(x.sum()), [(torch.ones(3),)], verbose=False
    )
    assert res.passed, res.message
    assert not E.check_function(
        lambda x: np.ones(3), lambda x: x, [(torch.ones(3),)], verbose=False
    )
    assert sys.modules["fmtutor.course.exercises"] is E


@pytest.mark.parametrize(
    "slip,words",
    [
        (lambda v: v.sum(1), "axis is missing"),
        (lambda v: v[:, :, None], "axis too many"),
        (lambda v: v.T, "transposed"),
        (lambda v: v.reshape(1, 10), "arranged differently"),
    ],
)
def test_the_shape_hint_names_the_slip(slip, words):
    check, ref = pair("cfg")  # (5, 2) velocities
    res = check(lambda *a: slip(ref(*a)), verbose=False)
    assert res.status == "shape" and words in res.message and "(5, 2)" in res.message, res.message
