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

import numpy as np
import torch
from torch import Tensor, nn

from fmtutor.course._cases import cases_step, cases_xt
from fmtutor.course._timeout import ExerciseTimeout, call

# private references, taken at import: patching torch.allclose later does not change a verdict
_allclose, _isfinite, _equal = torch.allclose, torch.isfinite, torch.equal

#: marks every font has (DejaVu Sans Mono too); emoji marks are boxes without an emoji font
PASS_MARK, FAIL_MARK, NEXT_MARK = "✓", "✗", "↪"
LEARNING_NOTE = (
    "(These checks are here to help you learn, not to grade you: a determined person can "
    "fool them.)"
)
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
        return ("PASSED: " if self.passed else "NOT YET: ") + self.message


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
            "the reference solution was replaced (e.g. by your own function): the check only "
            "compares with the original. Restart the kernel to restore it.",
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
        print(LEARNING_NOTE)


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


def _leaves(args: tuple) -> list[Tensor]:
    """Tensors a gradient should reach: parameters of nn.Module arguments, requires_grad inputs."""
    out = [a for a in args if isinstance(a, Tensor) and a.requires_grad]
    return out + [p for a in args if isinstance(a, nn.Module) for p in a.parameters()]


def _dtype_ok(got: Tensor, want: Tensor, args: tuple) -> bool:
    """The reference's dtype kind; for floats its precision or a floating input's."""
    if want.is_floating_point():
        floats = {a.dtype for a in args if isinstance(a, Tensor) and a.is_floating_point()}
        return got.dtype in floats | {want.dtype}
    if want.dtype == torch.bool:
        return got.dtype == torch.bool
    return not (got.is_floating_point() or got.is_complex() or got.dtype == torch.bool)


def _shape_hint(g: tuple[int, ...], w: tuple[int, ...], same_size: bool) -> str:
    if len(g) > 1 and g == w[::-1]:
        return "It is transposed."
    if len(g) == 2 and g[0] == g[1] and len(w) in (1, 2) and w[0] == g[0]:
        return "A (B, B) result: a (B,) tensor broadcast against a (B, 1) one."
    if len(g) < len(w):
        return "An axis is missing: a sum or mean over an axis that should stay (keepdim=True)?"
    if len(g) > len(w):
        return "One axis too many: a missing sum or mean, or an extra None / unsqueeze?"
    if same_size:
        return "Same number of entries, arranged differently: check your reshape / view / permute."
    return "Check your broadcasting (t has shape (B, 1)) and reductions."


def _slip(got: Any, want: Tensor, args: tuple) -> "ExerciseResult | None":
    """A failed result when ``got`` is not a finite tensor of the reference's type, shape, dtype."""
    shape = tuple(want.shape)
    if isinstance(got, (np.ndarray, np.generic)):
        return _no(
            "numpy",
            f"you returned a NumPy {type(got).__name__}, not a torch tensor: use torch functions "
            "(torch.sin, torch.exp, ...) rather than np.*, and no .numpy(); the rest of the "
            "chapter needs a tensor (and its gradient).",
        )
    if isinstance(got, (bool, int, float, complex)):
        return _no(
            "number",
            f"you returned a Python {type(got).__name__}, not a tensor of shape {shape}: .item(), "
            "float(...) or math.* turn a tensor into a plain number and cut it off from autograd; "
            "return the tensor itself.",
        )
    if type(got) not in (Tensor, nn.Parameter):  # a list, a string, a tensor subclass
        return _no("type", f"expected a torch tensor of shape {shape}, got a {type(got).__name__}.")
    if got.is_complex() and not want.is_complex():
        return _no(
            "complex",
            f"your result is complex ({got.dtype}), the expected one is real: a square root or "
            "power of a negative number, or a 1j, crept in.",
        )
    if not bool(_isfinite(got).all()):
        return _no(
            "nan", "your output contains NaN or inf: a division by zero (t = 1?) or a log of 0?"
        )
    if got.shape != want.shape:
        hint = _shape_hint(tuple(got.shape), shape, got.numel() == want.numel())
        return _no("shape", f"wrong shape: expected {shape}, got {tuple(got.shape)}. {hint}")
    if not _dtype_ok(got, want, args):
        if want.is_floating_point() and got.dtype == torch.float64:
            why = "a float64 NumPy array or torch.tensor(..., dtype=torch.float64) crept in"
        elif want.is_floating_point() and got.is_floating_point():
            why = "a lower precision loses digits"
        elif want.is_floating_point():
            why = "integer or boolean arithmetic (e.g. torch.arange(3), a comparison): use floats"
        else:
            why = "indices and counts must be integers (e.g. torch.argmin, .long())"
        return _no("dtype", f"wrong dtype: expected {want.dtype}, got {got.dtype}: {why}.")
    if want.requires_grad and not got.requires_grad and _leaves(args):
        return _no(
            "grad",
            "your result carries no gradient to the model's parameters, so training could not "
            "learn from it: .item(), .detach(), .numpy(), torch.no_grad() or torch.tensor(...) of "
            "a result cut it off. Compute it with torch operations on the model's output.",
        )
    return None


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
        return _no("not-callable", f"expected a function, got {type(student).__name__}.")
    for k, args in enumerate(cases):
        # copies: the student's function may write into its arguments
        mine = tuple(a.clone() if isinstance(a, Tensor) else a for a in args)
        try:
            got = call(student, *mine, timeout=timeout)
        except NotImplementedError:
            return _no("todo", "not done yet: replace `raise NotImplementedError` with your code.")
        except ExerciseTimeout:
            return _no(
                "timeout",
                f"your function did not finish within {timeout:g} s on test case {k + 1} and was "
                "stopped: an endless loop (a `while` whose condition never changes)?",
            )
        except Exception as e:
            mismatch = isinstance(e, RuntimeError) and (
                "size of tensor" in str(e) or "shape" in str(e)
            )
            hint = " That is a shape mismatch inside your function: check your broadcasting (t has"
            hint = hint + " shape (B, 1), points (B, d))." if mismatch else ""
            if isinstance(e, RuntimeError) and "does not require grad" in str(e):
                return _no(
                    "requires_grad",
                    "torch.autograd.grad found no graph: x must be a leaf that requires a "
                    "gradient before the field is evaluated (x = x.clone().requires_grad_(True)), "
                    "and the output must come from that x.",
                )
            return _no("raised", f"your function raised {type(e).__name__}: {e}.{hint}")
        if got is None:
            return _no("none", "your function returned None: did you forget `return`?")
        changed = [
            i
            for i, (a, m) in enumerate(zip(args, mine))
            if isinstance(a, Tensor) and not _equal(a, m)
        ]
        if changed:
            return _no(
                "inplace",
                f"your function changed its input argument(s) {changed} in place (e.g. `x += ...` "
                "or `x[...] = ...`), which silently alters the caller's data: compute a new tensor "
                "instead (`y = x + ...`).",
            )
        want = expected[k]()
        if not isinstance(want, Tensor):  # a reference returning a number: compare as tensors
            want = torch.as_tensor(want)
            got = torch.as_tensor(got) if isinstance(got, (int, float)) else got
        bad = _slip(got, want, args)
        if bad is not None:
            return bad
        if _close(got, want, atol):
            continue
        for hint, wrong in mistakes.items():
            if _close(got, wrong(*args), atol):
                return _no("mistake", hint)
        if float(want.detach().abs().max()) > 0 and _close(got, -want, atol):
            return _no(
                "sign", "the sign is flipped: your result is exactly minus the expected one."
            )
        err = (got.double() - want.double()).abs().max().item()
        return _no("wrong", f"values differ from the expected ones (max |difference| = {err:.3g}).")
    return ExerciseResult(True, "correct on every test case.", "ok")


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
    print(f"{NEXT_MARK} continuing with the reference solution: the rest of the chapter runs.")
    return reference
