"""Self-checking exercises: compare a student's function with a reference, name the usual mistake.

Each ``check_*`` runs the student's function on fixed inputs and returns an ``ExerciseResult``
(truthy when correct) with a specific message: "the sign is flipped", "time runs backwards", a
NumPy array or a Python float instead of a tensor, a wrong dtype or shape, a loss cut off from
autograd, NaN, a forgotten ``return``, an endless loop (stopped after ``timeout`` s where the
platform allows). ``use_or_reference`` continues with the reference when a check failed.
Verdicts are marked ``PASS_MARK`` / ``FAIL_MARK`` (✓ / ✗: in DejaVu Sans Mono, unlike emoji).

The time convention of every exercise: a time per sample is a column ``t`` of shape (B, 1) (it
broadcasts against points x of shape (B, d)); a time shared by the batch (a solver step, a field
evaluated at one instant) is a 0-dim tensor. The library accepts (B,), (B, 1) and numbers alike.

The checks are for learning, not for grading: they run the student's code in the same process,
so code written to fool them can. The cheap defences are in place (the expected values are
computed first and kept out of the calling frames, comparisons use private references to torch's
functions, a chapter's reference replaced from the notebook is noticed): a passed check means
"this looks right", not "this was proven". The first verdict of a session says so.
"""

__all__ = [
    "ExerciseResult",
    "ExerciseTimeout",
    "PASS_MARK",
    "FAIL_MARK",
    "NEXT_MARK",
    "LEARNING_NOTE",
    "say",
    "rerun",
    "check_function",
    "call",
    "use_or_reference",
    "cases_xt",
    "cases_step",
]

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from fmtutor.course._cases import cases_step, cases_xt
from fmtutor.course._slips import slip
from fmtutor.course._timeout import ExerciseTimeout, call
from fmtutor.course.i18n import tr

# private references, taken at import: patching torch.allclose later does not change a verdict
_allclose, _equal = torch.allclose, torch.equal

#: marks every font has (DejaVu Sans Mono too); emoji marks are boxes without an emoji font
PASS_MARK, FAIL_MARK, NEXT_MARK = "✓", "✗", "↪"


def _learning_note() -> str:
    return tr(
        "(These checks are here to help you learn, not to grade you: a determined person can "
        "fool them.)"
    )


#: the note of the first verdict, in English (``say`` prints it in the chapter's language)
LEARNING_NOTE = _learning_note()
_told: list[bool] = []  # the note goes with the first verdict printed in a session


@dataclass
class ExerciseResult:
    """The outcome of a check, truthy when it passed.

    Attributes:
        passed: whether every case matched.
        message: what to tell the student.
        status: a short code ('ok', 'todo', 'sign', 'shape', 'numpy', 'dtype', 'grad', ...).
    """

    passed: bool
    message: str
    status: str

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return (tr("PASSED: ") if self.passed else tr("NOT YET: ")) + self.message


def check_function(
    student: Callable[..., Any],
    reference: Callable[..., Tensor],
    cases: Sequence[tuple],
    mistakes: "dict[str, Callable[..., Tensor]] | None" = None,
    atol: float = 1e-5,
    verbose: bool = True,
    timeout: "float | None" = 10.0,
) -> ExerciseResult:
    """Run student(*case) and reference(*case) on every case and explain the first difference.

    The reference runs first, on every case. A result must be a torch tensor (not a NumPy array,
    a number or a tensor subclass), real, finite, of the reference's shape and dtype (for floats,
    the reference's or a floating input's), carry a gradient to ``nn.Module`` and requires_grad
    inputs when the reference's does, and be close to the reference's values. Checks are for
    learning, not for grading (see the module docstring).

    Args:
        student: the function written by the student.
        reference: the correct function.
        cases: argument tuples to call both with.
        mistakes: hint -> a function computing that typical wrong answer; a student output matching
            one of them gets its hint.
        atol: tolerance (relative to the reference's scale as well).
        verbose: print the result.
        timeout: seconds the student's function may run on one case (None: no limit); see call.

    Returns:
        The ExerciseResult (truthy when every case matched).
    """
    if not callable(reference):
        raise TypeError(f"reference: expected the correct function, got {type(reference).__name__}")
    if isinstance(cases, (str, bytes)) or not isinstance(cases, Sequence) or len(cases) == 0:
        raise ValueError(f"cases: expected a non-empty list of argument tuples, got {cases!r:.80}")
    if not all(isinstance(c, tuple) for c in cases):
        kinds = [type(c).__name__ for c in cases]
        raise ValueError(f"cases: expected each case to be a tuple of arguments, got {kinds}")
    bad = not isinstance(mistakes, dict) or not all(map(callable, mistakes.values()))
    if mistakes is not None and bad:
        raise TypeError(
            f"mistakes: expected a dict hint -> function, got {type(mistakes).__name__}"
        )
    if timeout is not None and not (isinstance(timeout, (int, float)) and timeout > 0):
        raise ValueError(f"timeout: expected a positive number of seconds or None, got {timeout!r}")
    caller = sys._getframe(1).f_globals.get("__name__", "")
    own = str(getattr(reference, "__module__", "") or "")
    if caller.startswith("fmtutor.") and not own.startswith("fmtutor."):
        result = _no(
            "reference",
            tr(
                "the reference solution was replaced (e.g. by your own function): the check only "
                "compares with the original. Restart the kernel to restore it."
            ),
        )
    else:
        result = _check(student, _expected(reference, cases), cases, mistakes or {}, atol, timeout)
    if verbose:
        say(result)
    return result


def say(result: "ExerciseResult") -> None:
    """Print a verdict with its mark; the first one of a session adds LEARNING_NOTE."""
    print(f"{PASS_MARK if result.passed else FAIL_MARK} {result.message}")
    if not _told:
        _told.append(True)
        print(_learning_note())


def rerun(student: Callable[..., Any], *args: Any, timeout: "float | None" = 10.0) -> Any:
    """student(*args) on copies of the tensors, through ``call``; None if it raised or timed out."""
    try:
        return call(
            student, *(a.clone() if isinstance(a, Tensor) else a for a in args), timeout=timeout
        )
    except Exception:
        return None


def _close(a: Tensor, b: Tensor, atol: float) -> bool:
    return a.shape == b.shape and bool(_allclose(a.double(), b.double(), atol=atol, rtol=1e-4))


def _no(status: str, message: str) -> ExerciseResult:
    return ExerciseResult(False, message, status)


def _expected(reference: Callable[..., Any], cases: Sequence[tuple]) -> list[Callable[[], Any]]:
    """The reference's output on every case, each kept in a closure (not a frame's variable)."""

    return [(lambda v: lambda: v)(reference(*args)) for args in cases]


def _check(
    student: Callable[..., Any],
    expected: list[Callable[[], Any]],
    cases: Sequence[tuple],
    mistakes: dict[str, Callable[..., Tensor]],
    atol: float,
    timeout: "float | None",
    _close: Callable[[Tensor, Tensor, float], bool] = _close,  # bound here: patching E._close fails
) -> ExerciseResult:
    """check_function's comparison, case by case, without the argument checks and the print."""
    if not callable(student):
        kind = type(student).__name__
        return _no("not-callable", tr("expected a function, got {kind}.", kind=kind))
    for k, args in enumerate(cases):
        # copies: the student's function may write into its arguments
        mine = tuple(a.clone() if isinstance(a, Tensor) else a for a in args)
        try:
            got = call(student, *mine, timeout=timeout)
        except NotImplementedError:
            return _no(
                "todo", tr("not done yet: replace `raise NotImplementedError` with your code.")
            )
        except ExerciseTimeout:
            return _no(
                "timeout",
                tr(
                    "your function did not finish within {timeout:g} s on test case {k} and was "
                    "stopped: an endless loop (a `while` whose condition never changes)?",
                    timeout=timeout,
                    k=k + 1,
                ),
            )
        except Exception as e:
            mismatch = isinstance(e, RuntimeError) and (
                "size of tensor" in str(e) or "shape" in str(e)
            )
            hint = tr(
                " That is a shape mismatch inside your function: check your broadcasting (t has"
                " shape (B, 1), points (B, d))."
            )
            hint = hint if mismatch else ""
            if isinstance(e, RuntimeError) and "does not require grad" in str(e):
                return _no(
                    "requires_grad",
                    tr(
                        "torch.autograd.grad found no graph: x must be a leaf that requires a "
                        "gradient before the field is evaluated "
                        "(x = x.clone().requires_grad_(True)), and the output must come from "
                        "that x."
                    ),
                )
            raised = tr(
                "your function raised {kind}: {error}.{hint}",
                kind=type(e).__name__,
                error=e,
                hint=hint,
            )
            return _no("raised", raised)
        if got is None:
            return _no("none", tr("your function returned None: did you forget `return`?"))
        changed = [
            i
            for i, (a, m) in enumerate(zip(args, mine))
            if isinstance(a, Tensor) and not _equal(a, m)
        ]
        if changed:
            return _no(
                "inplace",
                tr(
                    "your function changed its input argument(s) {changed} in place (e.g. "
                    "`x += ...` or `x[...] = ...`), which silently alters the caller's data: "
                    "compute a new tensor instead (`y = x + ...`).",
                    changed=changed,
                ),
            )
        want = expected[k]()
        if not isinstance(want, Tensor):  # a reference returning a number: compare as tensors
            want = torch.as_tensor(want)
            got = torch.as_tensor(got) if isinstance(got, (int, float)) else got
        bad = slip(got, want, args)
        if bad is not None:
            return _no(*bad)
        if _close(got, want, atol):
            continue
        for hint, wrong in mistakes.items():
            if _close(got, wrong(*args), atol):
                return _no("mistake", hint)
        if float(want.detach().abs().max()) > 0 and _close(got, -want, atol):
            return _no(
                "sign", tr("the sign is flipped: your result is exactly minus the expected one.")
            )
        err = (got.double() - want.double()).abs().max().item()
        differ = tr("values differ from the expected ones (max |difference| = {err:.3g}).", err=err)
        return _no("wrong", differ)
    return ExerciseResult(True, tr("correct on every test case."), "ok")


def use_or_reference(
    student: Callable[..., Any], result: ExerciseResult, reference: Callable[..., Any]
) -> Callable[..., Any]:
    """The student's function if it passed its check, else the reference (with a note saying so).

    A failed check (not done, wrong, a NumPy array instead of a tensor, ...) hands the chapter the
    reference, so that an unfinished exercise never blocks the rest of the chapter.
    """
    if not isinstance(result, ExerciseResult):
        raise TypeError(
            "result: expected the ExerciseResult returned by a check_* function, "
            f"got {type(result).__name__}"
        )
    if not callable(reference):
        raise TypeError(
            f"reference: expected the reference function, got {type(reference).__name__}"
        )
    if result.passed:
        return student
    print(NEXT_MARK, tr("continuing with the reference solution: the rest of the chapter runs."))
    return reference
