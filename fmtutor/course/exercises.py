"""Self-checking exercises: compare a student's function with a reference, name the usual mistake.

Each ``check_*`` calls the student's function on fixed inputs and returns an ``ExerciseResult``
(truthy when correct) whose message is specific: "the sign is flipped", "time runs backwards",
"the (1 - t) is missing", a wrong shape, NaN, a forgotten ``return``. ``use_or_reference`` lets a
notebook continue with the reference solution when an exercise is not done yet, and says so.
"""

__all__ = ["ExerciseResult", "check_function", "use_or_reference", "cases_xt", "cases_step"]

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor


@dataclass
class ExerciseResult:
    """The outcome of a check, truthy when it passed.

    Attributes:
        passed: whether every case matched.
        message: what to tell the student.
        status: a short code ('ok', 'todo', 'sign', 'shape', ...).
    """

    passed: bool
    message: str
    status: str

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return ("PASSED: " if self.passed else "NOT YET: ") + self.message


def check_function(
    student: Callable[..., Any],
    reference: Callable[..., Tensor],
    cases: Sequence[tuple],
    mistakes: "dict[str, Callable[..., Tensor]] | None" = None,
    atol: float = 1e-5,
    verbose: bool = True,
) -> ExerciseResult:
    """Run student(*case) and reference(*case) on every case and explain the first difference.

    Args:
        student: the function written by the student.
        reference: the correct function.
        cases: argument tuples to call both with.
        mistakes: hint -> a function computing that typical wrong answer; a student output matching
            one of them gets its hint.
        atol: tolerance (relative to the reference's scale as well).
        verbose: print the result.

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
    if mistakes is not None and (
        not isinstance(mistakes, dict) or not all(callable(f) for f in mistakes.values())
    ):
        raise TypeError(
            f"mistakes: expected a dict hint -> wrong_function, got {type(mistakes).__name__}"
        )
    result = _check(student, reference, cases, mistakes or {}, atol)
    if verbose:
        print(("✅ " if result.passed else "❌ ") + result.message)
    return result


def _close(a: Tensor, b: Tensor, atol: float) -> bool:
    return a.shape == b.shape and bool(torch.allclose(a.double(), b.double(), atol=atol, rtol=1e-4))


def _check(
    student: Callable[..., Any],
    reference: Callable[..., Tensor],
    cases: Sequence[tuple],
    mistakes: dict[str, Callable[..., Tensor]],
    atol: float,
) -> ExerciseResult:
    """check_function's comparison, case by case, without the argument checks and the print."""
    if not callable(student):
        return ExerciseResult(
            False, f"expected a function, got {type(student).__name__}.", "not-callable"
        )
    for args in cases:
        want = reference(*args)
        # copies: the student's function may write into its arguments
        mine = tuple(a.clone() if isinstance(a, Tensor) else a for a in args)
        try:
            got = student(*mine)
        except NotImplementedError:
            return ExerciseResult(
                False, "not done yet: replace `raise NotImplementedError` with your code.", "todo"
            )
        except Exception as e:
            hint = ""
            if isinstance(e, RuntimeError) and ("size of tensor" in str(e) or "shape" in str(e)):
                hint = (
                    " That is a shape mismatch inside your function: check your broadcasting "
                    "(t has shape (B, 1), points (B, d))."
                )
            return ExerciseResult(
                False, f"your function raised {type(e).__name__}: {e}.{hint}", "raised"
            )
        if got is None:
            return ExerciseResult(
                False, "your function returned None: did you forget `return`?", "none"
            )
        changed = [
            i
            for i, (a, m) in enumerate(zip(args, mine))
            if isinstance(a, Tensor) and not torch.equal(a, m)
        ]
        if changed:
            return ExerciseResult(
                False,
                f"your function changed its input argument(s) {changed} in place (e.g. `x += ...` "
                "or `x[...] = ...`), which silently alters the caller's data: compute a new tensor "
                "instead (`y = x + ...`).",
                "inplace",
            )
        if not isinstance(got, Tensor):
            try:
                got = torch.as_tensor(got, dtype=want.dtype)
            except Exception:
                return ExerciseResult(
                    False, f"expected a tensor, got {type(got).__name__}.", "type"
                )
        if not torch.isfinite(got).all():
            return ExerciseResult(
                False,
                "your output contains NaN or inf: a division by zero (t = 1?) or a log of 0?",
                "nan",
            )
        if got.shape != want.shape:
            return ExerciseResult(
                False,
                f"wrong shape: expected {tuple(want.shape)}, got {tuple(got.shape)}. "
                "Check your broadcasting (t has shape (B, 1)) and reductions.",
                "shape",
            )
        if _close(got, want, atol):
            continue
        for hint, wrong in mistakes.items():
            if _close(got, wrong(*args), atol):
                return ExerciseResult(False, hint, "mistake")
        if float(want.abs().max()) > 0 and _close(got, -want, atol):
            return ExerciseResult(
                False, "the sign is flipped: your result is exactly minus the expected one.", "sign"
            )
        err = (got.double() - want.double()).abs().max().item()
        return ExerciseResult(
            False, f"values differ from the expected ones (max |difference| = {err:.3g}).", "wrong"
        )
    return ExerciseResult(True, "correct on every test case.", "ok")


def use_or_reference(
    student: Callable[..., Any], result: ExerciseResult, reference: Callable[..., Any]
) -> Callable[..., Any]:
    """The student's function if it passed its check, else the reference (with a note saying so)."""
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
    print("↪ continuing with the reference solution, so the rest of the chapter still runs.")
    return reference


def cases_xt() -> list[tuple[Tensor, Tensor, Tensor]]:
    """Fixed inputs (x (B, 2), x1 (B, 2), t (B, 1)) of the exercises on x_t and u_t(x | x_1)."""
    g = torch.Generator().manual_seed(1)
    x1 = torch.randn(6, 2, generator=g)
    x = torch.randn(6, 2, generator=g)
    t = torch.tensor([0.05, 0.1, 0.3, 0.5, 0.8, 0.95])[:, None]
    return [(x, x1, t), (x[:1], x1[:1], torch.tensor([[0.6]]))]


def cases_step() -> list[tuple[Callable[[Tensor, Tensor], Tensor], Tensor, Tensor, Tensor]]:
    """Fixed inputs (field, x (B, 2), t, h) shared by the exercises on one solver step."""
    g = torch.Generator().manual_seed(2)
    x = torch.randn(5, 2, generator=g)

    def field(x: Tensor, t: Tensor) -> Tensor:  # rotation plus a time-dependent drift
        return torch.stack([-x[:, 1], x[:, 0]], 1) + 2 * t * x

    return [
        (field, x, torch.tensor(0.2), torch.tensor(0.1)),
        (field, x, torch.tensor(0.7), torch.tensor(0.25)),
    ]
