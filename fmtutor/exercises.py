"""Self-checking exercises: compare a student's function with a reference and name the typical mistake.

Each ``check_*`` calls the student's function on fixed inputs and returns an ``ExerciseResult``
(truthy when correct) whose message is specific: "the sign is flipped", "time runs backwards",
"the (1 - t) is missing", a wrong shape, NaN, a forgotten ``return``. ``use_or_reference`` lets a
notebook continue with the reference solution when an exercise is not done yet, and says so.
"""

__all__ = [
    "ExerciseResult",
    "check_function",
    "use_or_reference",
    "reference_conditional_velocity",
    "check_conditional_velocity",
    "reference_euler_step",
    "check_euler_step",
    "reference_midpoint_step",
    "check_midpoint_step",
    "reference_cfm_loss",
    "check_cfm_loss",
    "reference_gaussian_kl",
    "check_gaussian_kl",
    "reference_rotation_field",
    "check_rotation_field",
    "reference_sample_xt",
    "check_sample_xt",
    "reference_conditional_log_prob",
    "check_conditional_log_prob",
    "reference_euler_solver",
    "check_euler_solver",
]

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor


@dataclass
class ExerciseResult:
    """passed: whether every case matched; message: what to tell the student; status: a short code."""

    passed: bool
    message: str
    status: str

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return ("PASSED: " if self.passed else "NOT YET: ") + self.message


def check_function(student: Callable[..., Any], reference: Callable[..., Tensor], cases: Sequence[tuple],
                   mistakes: "dict[str, Callable[..., Tensor]] | None" = None, atol: float = 1e-5,
                   verbose: bool = True) -> ExerciseResult:
    """Run student(*case) and reference(*case) on every case and explain the first difference.

    Args:
        student: the function written by the student.
        reference: the correct function.
        cases: argument tuples to call both with.
        mistakes: hint -> a function computing that typical wrong answer; a student output matching
            one of them gets its hint.
        atol: tolerance (relative to the reference's scale as well).
        verbose: print the result.
    """
    if not callable(reference):
        raise TypeError(f"reference: expected the correct function, got {type(reference).__name__}")
    if isinstance(cases, (str, bytes)) or not isinstance(cases, Sequence) or len(cases) == 0:
        raise ValueError(f"cases: expected a non-empty list of argument tuples, got {cases!r:.80}")
    if not all(isinstance(c, tuple) for c in cases):
        raise ValueError(f"cases: expected each case to be a tuple of arguments, got {[type(c).__name__ for c in cases]}")
    if mistakes is not None and (not isinstance(mistakes, dict) or not all(callable(f) for f in mistakes.values())):
        raise TypeError(f"mistakes: expected a dict hint -> wrong_function, got {type(mistakes).__name__}")
    result = _check(student, reference, cases, mistakes or {}, atol)
    if verbose:
        print(("✅ " if result.passed else "❌ ") + result.message)
    return result


def _close(a: Tensor, b: Tensor, atol: float) -> bool:
    return a.shape == b.shape and bool(torch.allclose(a.double(), b.double(), atol=atol, rtol=1e-4))


def _check(student: Callable[..., Any], reference: Callable[..., Tensor], cases: Sequence[tuple],
           mistakes: dict[str, Callable[..., Tensor]], atol: float) -> ExerciseResult:
    if not callable(student):
        return ExerciseResult(False, f"expected a function, got {type(student).__name__}.", "not-callable")
    for args in cases:
        want = reference(*args)
        mine = tuple(a.clone() if isinstance(a, Tensor) else a for a in args)  # the student may write into them
        try:
            got = student(*mine)
        except NotImplementedError:
            return ExerciseResult(False, "not done yet: replace `raise NotImplementedError` with your code.", "todo")
        except Exception as e:
            hint = ""
            if isinstance(e, RuntimeError) and ("size of tensor" in str(e) or "shape" in str(e)):
                hint = " That is a shape mismatch inside your function: check your broadcasting (t has shape (B, 1), points (B, d))."
            return ExerciseResult(False, f"your function raised {type(e).__name__}: {e}.{hint}", "raised")
        if got is None:
            return ExerciseResult(False, "your function returned None: did you forget `return`?", "none")
        changed = [i for i, (a, m) in enumerate(zip(args, mine)) if isinstance(a, Tensor) and not torch.equal(a, m)]
        if changed:
            return ExerciseResult(False, f"your function changed its input argument(s) {changed} in place (e.g. `x += ...` "
                                  "or `x[...] = ...`), which silently alters the caller's data: compute a new tensor "
                                  "instead (`y = x + ...`).", "inplace")
        if not isinstance(got, Tensor):
            try:
                got = torch.as_tensor(got, dtype=want.dtype)
            except Exception:
                return ExerciseResult(False, f"expected a tensor, got {type(got).__name__}.", "type")
        if not torch.isfinite(got).all():
            return ExerciseResult(False, "your output contains NaN or inf: a division by zero (t = 1?) or a log of 0?", "nan")
        if got.shape != want.shape:
            return ExerciseResult(False, f"wrong shape: expected {tuple(want.shape)}, got {tuple(got.shape)}. "
                                  "Check your broadcasting (t has shape (B, 1)) and reductions.", "shape")
        if _close(got, want, atol):
            continue
        for hint, wrong in mistakes.items():
            if _close(got, wrong(*args), atol):
                return ExerciseResult(False, hint, "mistake")
        if float(want.abs().max()) > 0 and _close(got, -want, atol):
            return ExerciseResult(False, "the sign is flipped: your result is exactly minus the expected one.", "sign")
        err = (got.double() - want.double()).abs().max().item()
        return ExerciseResult(False, f"values differ from the expected ones (max |difference| = {err:.3g}).", "wrong")
    return ExerciseResult(True, "correct on every test case.", "ok")


def use_or_reference(student: Callable[..., Any], result: ExerciseResult, reference: Callable[..., Any]) -> Callable[..., Any]:
    """The student's function if it passed its check, otherwise the reference (with a note saying so)."""
    if not isinstance(result, ExerciseResult):
        raise TypeError(f"result: expected the ExerciseResult returned by a check_* function, got {type(result).__name__}")
    if not callable(reference):
        raise TypeError(f"reference: expected the reference function, got {type(reference).__name__}")
    if result.passed:
        return student
    print("↪ continuing with the reference solution, so the rest of the chapter still runs.")
    return reference


def _cases_xt() -> list[tuple[Tensor, Tensor, Tensor]]:
    g = torch.Generator().manual_seed(1)
    x1 = torch.randn(6, 2, generator=g)
    x = torch.randn(6, 2, generator=g)
    t = torch.tensor([0.05, 0.1, 0.3, 0.5, 0.8, 0.95])[:, None]
    return [(x, x1, t), (x[:1], x1[:1], torch.tensor([[0.6]]))]


def reference_conditional_velocity(x: Tensor, x1: Tensor, t: Tensor) -> Tensor:
    """u_t(x | x_1) = (x_1 - x) / (1 - t). Shapes: x, x1 (B, d); t (B, 1)."""
    return (x1 - x) / (1 - t)


def check_conditional_velocity(student: Callable[..., Any], verbose: bool = True) -> ExerciseResult:
    """Check u(x, x1, t) = (x1 - x) / (1 - t) for x, x1 of shape (B, d) and t of shape (B, 1)."""
    mistakes = {
        "the sign is flipped: the velocity must point from x towards x_1, i.e. x_1 - x.": lambda x, x1, t: (x - x1) / (1 - t),
        "the (1 - t) is missing: x_1 - x is the velocity of the straight line only at t = 0.": lambda x, x1, t: x1 - x,
        "time runs backwards: you divided by t; the remaining time to reach x_1 is 1 - t.": lambda x, x1, t: (x1 - x) / t.clamp_min(1e-12),
        "you multiplied by (1 - t) instead of dividing.": lambda x, x1, t: (x1 - x) * (1 - t),
    }
    return check_function(student, reference_conditional_velocity, _cases_xt(), mistakes, verbose=verbose)


def _cases_step() -> list[tuple[Callable[[Tensor, Tensor], Tensor], Tensor, Tensor, Tensor]]:
    g = torch.Generator().manual_seed(2)
    x = torch.randn(5, 2, generator=g)

    def field(x: Tensor, t: Tensor) -> Tensor:  # rotation plus a time-dependent drift
        return torch.stack([-x[:, 1], x[:, 0]], 1) + 2 * t * x

    return [(field, x, torch.tensor(0.2), torch.tensor(0.1)), (field, x, torch.tensor(0.7), torch.tensor(0.25))]


def reference_euler_step(u: Callable[[Tensor, Tensor], Tensor], x: Tensor, t: Tensor, h: Tensor) -> Tensor:
    """x + h u(x, t)."""
    return x + h * u(x, t)


def check_euler_step(student: Callable[..., Any], verbose: bool = True) -> ExerciseResult:
    """Check step(u, x, t, h) = x + h u(x, t)."""
    mistakes = {
        "you returned only the increment h u(x, t): add it to x.": lambda u, x, t, h: h * u(x, t),
        "the step size h is missing.": lambda u, x, t, h: x + u(x, t),
        "you evaluated u at the end time t + h; Euler uses the start time t.": lambda u, x, t, h: x + h * u(x, t + h),
    }
    return check_function(student, reference_euler_step, _cases_step(), mistakes, verbose=verbose)


def reference_midpoint_step(u: Callable[[Tensor, Tensor], Tensor], x: Tensor, t: Tensor, h: Tensor) -> Tensor:
    """x + h u(x + (h/2) u(x, t), t + h/2)."""
    return x + h * u(x + 0.5 * h * u(x, t), t + 0.5 * h)


def check_midpoint_step(student: Callable[..., Any], verbose: bool = True) -> ExerciseResult:
    """Check step(u, x, t, h) = x + h u(x + h/2 u(x, t), t + h/2)."""
    mistakes = {
        "that is Euler's step: evaluate u again at the midpoint x + (h/2) u(x, t).": lambda u, x, t, h: x + h * u(x, t),
        "the midpoint's time should be t + h/2, not t.": lambda u, x, t, h: x + h * u(x + 0.5 * h * u(x, t), t),
        "you stepped a full h to the midpoint: it is x + (h/2) u(x, t).": lambda u, x, t, h: x + h * u(x + h * u(x, t), t + 0.5 * h),
        "you returned the midpoint itself; take the full step from x with the midpoint's velocity.": lambda u, x, t, h: x + 0.5 * h * u(x, t),
    }
    return check_function(student, reference_midpoint_step, _cases_step(), mistakes, verbose=verbose)


def _cases_loss() -> list[tuple[Callable[[Tensor, Tensor], Tensor], Tensor, Tensor, Tensor]]:
    g = torch.Generator().manual_seed(3)
    x0, x1 = torch.randn(8, 2, generator=g), torch.randn(8, 2, generator=g) + 2
    t = torch.rand(8, 1, generator=g)

    def model(x: Tensor, t: Tensor) -> Tensor:
        return 0.5 * x + t

    return [(model, x0, x1, t)]


def reference_cfm_loss(model: Callable[[Tensor, Tensor], Tensor], x0: Tensor, x1: Tensor, t: Tensor) -> Tensor:
    """mean_i || model(x_t, t) - (x1 - x0) ||^2 with x_t = (1 - t) x0 + t x1; t of shape (B, 1)."""
    xt = (1 - t) * x0 + t * x1
    return ((model(xt, t) - (x1 - x0)) ** 2).sum(1).mean()


def check_cfm_loss(student: Callable[..., Any], verbose: bool = True) -> ExerciseResult:
    """Check loss(model, x0, x1, t) = mean_i ||model(x_t, t) - (x1 - x0)||^2 with x_t = (1 - t) x0 + t x1."""

    def with_xt(xt_fn: Callable[..., Tensor], target_fn: Callable[..., Tensor], reduce: str = "sum") -> Callable[..., Tensor]:
        def loss(model: Callable[..., Tensor], x0: Tensor, x1: Tensor, t: Tensor) -> Tensor:
            r = (model(xt_fn(x0, x1, t), t) - target_fn(x0, x1, t)) ** 2
            return r.sum(1).mean() if reduce == "sum" else r.mean()
        return loss

    good_xt, good_target = (lambda x0, x1, t: (1 - t) * x0 + t * x1), (lambda x0, x1, t: x1 - x0)
    mistakes = {
        "time is reversed: x_t = (1 - t) x0 + t x1 starts at the noise x0 when t = 0.": with_xt(lambda x0, x1, t: t * x0 + (1 - t) * x1, good_target),
        "the target's sign is flipped: the regression target is x1 - x0.": with_xt(good_xt, lambda x0, x1, t: x0 - x1),
        "you averaged over coordinates too (like nn.MSELoss): sum the squares over coordinates, then average over the batch.": with_xt(good_xt, good_target, "mean"),
        "the target should be x1 - x0, not x1.": with_xt(good_xt, lambda x0, x1, t: x1),
    }
    return check_function(student, reference_cfm_loss, _cases_loss(), mistakes, verbose=verbose)


def _cases_kl() -> list[tuple[Tensor, Tensor, Tensor, Tensor]]:
    g = torch.Generator().manual_seed(4)
    mu_p, mu_q = torch.randn(6, generator=g, dtype=torch.float64), torch.randn(6, generator=g, dtype=torch.float64)
    std_p, std_q = 0.3 + torch.rand(6, generator=g, dtype=torch.float64), 0.3 + 2 * torch.rand(6, generator=g, dtype=torch.float64)
    return [(mu_p, std_p, mu_q, std_q)]


def reference_gaussian_kl(mu_p: Tensor, std_p: Tensor, mu_q: Tensor, std_q: Tensor) -> Tensor:
    """KL(N(mu_p, std_p^2) || N(mu_q, std_q^2)) = log(std_q/std_p) + (std_p^2 + (mu_p - mu_q)^2) / (2 std_q^2) - 1/2 (elementwise)."""
    return torch.log(std_q / std_p) + (std_p**2 + (mu_p - mu_q) ** 2) / (2 * std_q**2) - 0.5


def check_gaussian_kl(student: Callable[..., Any], verbose: bool = True) -> ExerciseResult:
    """Check kl(mu_p, std_p, mu_q, std_q) = KL(N(mu_p, std_p^2) || N(mu_q, std_q^2)) on tensors of shape (B,)."""
    ref = reference_gaussian_kl
    mistakes = {
        "you computed KL(q || p): the KL divergence is not symmetric; p is the first argument.": lambda mp, sp, mq, sq: ref(mq, sq, mp, sp),
        "the log term should be log(std_q / std_p), a ratio of standard deviations, not of variances.":
            lambda mp, sp, mq, sq: torch.log(sq**2 / sp**2) + (sp**2 + (mp - mq) ** 2) / (2 * sq**2) - 0.5,
        "the constant - 1/2 is missing (check: KL(p || p) must be 0).": lambda mp, sp, mq, sq: ref(mp, sp, mq, sq) + 0.5,
        "square the standard deviations in the fraction: (std_p^2 + (mu_p - mu_q)^2) / (2 std_q^2).":
            lambda mp, sp, mq, sq: torch.log(sq / sp) + (sp + (mp - mq) ** 2) / (2 * sq) - 0.5,
    }
    return check_function(student, ref, _cases_kl(), mistakes, verbose=verbose)


def reference_rotation_field(x: Tensor, t: Tensor) -> Tensor:
    """The counter-clockwise rotation u(x) = (-x2, x1) (unit angular speed); x of shape (B, 2), t unused."""
    return torch.stack([-x[:, 1], x[:, 0]], 1)


def check_rotation_field(student: Callable[..., Any], verbose: bool = True) -> ExerciseResult:
    """Check u(x, t) = (-x2, x1): the counter-clockwise rotation with angular speed 1."""
    g = torch.Generator().manual_seed(5)
    cases = [(torch.randn(7, 2, generator=g), torch.tensor(0.3)), (torch.tensor([[1.0, 0.0], [0.0, 2.0]]), torch.tensor(0.0))]
    mistakes = {
        "your field turns clockwise: counter-clockwise is u(x) = (-x2, x1).": lambda x, t: torch.stack([x[:, 1], -x[:, 0]], 1),
        "(x2, x1) swaps the coordinates without the sign: that is a saddle, not a rotation (check x . u(x) = 0).":
            lambda x, t: torch.stack([x[:, 1], x[:, 0]], 1),
        "(-x1, -x2) = -x points to the origin: that is a sink. A rotation is perpendicular to x.": lambda x, t: -x,
        "you returned x itself: that is a source. A rotation is perpendicular to x.": lambda x, t: x,
    }
    return check_function(student, reference_rotation_field, cases, mistakes, verbose=verbose)


def reference_sample_xt(x0: Tensor, x1: Tensor, t: Tensor) -> Tensor:
    """X_t = t x1 + (1 - t) x0: a draw from p_{t|1}(. | x1) = N(t x1, (1 - t)^2 I). x0, x1 (B, d); t (B, 1)."""
    return t * x1 + (1 - t) * x0


def check_sample_xt(student: Callable[..., Any], verbose: bool = True) -> ExerciseResult:
    """Check sample_xt(x0, x1, t) = t x1 + (1 - t) x0 for x0, x1 of shape (B, d) and t of shape (B, 1)."""
    cases = [(x0, x1, t) for x0, x1, t in _cases_xt()]
    mistakes = {
        "time is reversed: at t = 0 the sample must be the noise x0, at t = 1 the data point x1.": lambda x0, x1, t: t * x0 + (1 - t) * x1,
        "(1 - t)^2 is the variance of p_{t|1}; the noise is scaled by the standard deviation 1 - t.":
            lambda x0, x1, t: t * x1 + (1 - t) ** 2 * x0,
        "the noise x0 must shrink as t grows: multiply it by (1 - t).": lambda x0, x1, t: t * x1 + x0,
        "the data point must be scaled by t: the mean of p_{t|1}(. | x1) is t x1.": lambda x0, x1, t: x1 + (1 - t) * x0,
        "you returned the velocity x1 - x0 of the straight line, not the point on it.": lambda x0, x1, t: x1 - x0,
    }
    return check_function(student, reference_sample_xt, cases, mistakes, verbose=verbose)


def reference_conditional_log_prob(x: Tensor, x1: Tensor, t: Tensor) -> Tensor:
    """log p_{t|1}(x | x1) = log N(x; t x1, (1 - t)^2 I) = -|x - t x1|^2 / (2 (1 - t)^2) - d log(1 - t) - (d/2) log(2 pi).

    Shapes: x, x1 (B, d); t (B, 1) with t < 1. Returns (B,).
    """
    d = x.shape[1]
    s = (1 - t)[:, 0]
    return -((x - t * x1) ** 2).sum(1) / (2 * s**2) - d * torch.log(s) - 0.5 * d * math.log(2 * math.pi)


def check_conditional_log_prob(student: Callable[..., Any], verbose: bool = True) -> ExerciseResult:
    """Check log_prob(x, x1, t) = log N(x; t x1, (1 - t)^2 I), shape (B,), for x, x1 (B, d) and t (B, 1)."""
    ref = reference_conditional_log_prob

    def with_(mean: Callable[..., Tensor], std: Callable[..., Tensor], logdet: float = 1.0, const: bool = True) -> Callable[..., Tensor]:
        def f(x: Tensor, x1: Tensor, t: Tensor) -> Tensor:
            d, s = x.shape[1], std(t)[:, 0]
            c = 0.5 * d * math.log(2 * math.pi) if const else 0.0
            return -((x - mean(x1, t)) ** 2).sum(1) / (2 * s**2) - logdet * d * torch.log(s) - c
        return f

    good_mean, good_std = (lambda x1, t: t * x1), (lambda t: 1 - t)
    mistakes = {
        "the mean of p_{t|1}(. | x1) is t x1, not x1.": with_(lambda x1, t: x1, good_std),
        "(1 - t)^2 is the variance: the standard deviation is 1 - t (you squared it twice).": with_(good_mean, lambda t: (1 - t) ** 2),
        "time is reversed: the mean is t x1 and the standard deviation 1 - t (noise at t = 0).":
            with_(lambda x1, t: (1 - t) * x1, lambda t: t),
        "the log-determinant has one log(1 - t) per coordinate: - d log(1 - t), not - log(1 - t).": with_(good_mean, good_std, 1.0 / 2),
        "the normalising constant - (d/2) log(2 pi) is missing.": with_(good_mean, good_std, const=False),
    }
    g = torch.Generator().manual_seed(6)
    cases = []
    for x, x1, t in _cases_xt():
        cases.append((x + 0.3 * torch.randn(x.shape, generator=g), x1, t))
    cases.append((torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g), torch.full((4, 1), 0.4)))
    return check_function(student, ref, cases, mistakes, verbose=verbose)


def reference_euler_solver(u: Callable[[Tensor, Tensor], Tensor], x0: Tensor, n_steps: int) -> Tensor:
    """Euler from t = 0 to 1 in n_steps steps of h = 1 / n_steps; all states, shape (n_steps + 1, B, d)."""
    h = 1.0 / n_steps
    xs = [x0]
    for k in range(n_steps):
        xs.append(xs[-1] + h * u(xs[-1], torch.tensor(k * h, dtype=x0.dtype)))
    return torch.stack(xs)


def check_euler_solver(student: Callable[..., Any], verbose: bool = True) -> ExerciseResult:
    """Check euler_solver(u, x0, n_steps): the (n_steps + 1, B, d) Euler trajectory from t = 0 to 1, x0 included."""

    def wrong(time: Callable[[int, float], float], step: Callable[[int], float] = lambda n: 1.0 / n) -> Callable[..., Tensor]:
        def solver(u: Callable[..., Tensor], x0: Tensor, n: int) -> Tensor:
            xs, h = [x0], step(n)
            for k in range(n):
                xs.append(xs[-1] + h * u(xs[-1], torch.tensor(time(k, h), dtype=x0.dtype)))
            return torch.stack(xs)
        return solver

    mistakes = {
        "u was evaluated at the step number k; it needs the time t = k h.": wrong(lambda k, h: float(k)),
        "each step must use the velocity at its start time t = k h, not at its end (k + 1) h.": wrong(lambda k, h: (k + 1) * h),
        "the step size is h = 1 / n_steps, so that n_steps steps end at t = 1.": wrong(lambda k, h: k * h, lambda n: 1.0),
        "with n_steps steps the grid has n_steps + 1 points: h = 1 / n_steps, not 1 / (n_steps - 1).":
            wrong(lambda k, h: k * h, lambda n: 1.0 / max(n - 1, 1)),
    }
    field, x, _, _ = _cases_step()[0]
    try:  # two shape mistakes deserve a specific hint before the value checks
        got = student(field, x.clone(), 5)
    except Exception:
        got = None
    if isinstance(got, Tensor) and got.shape in ((5, 2), (5, 5, 2)):
        msg = ("return every state, stacked: shape (n_steps + 1, B, d) with x0 first (torch.stack(states))."
               if got.shape == (5, 2) else "the trajectory must start with x0: n_steps steps give n_steps + 1 states.")
        result = ExerciseResult(False, msg, "mistake")
        if verbose:
            print("❌ " + msg)
        return result
    return check_function(student, reference_euler_solver, [(field, x, 5), (field, x[:2], 3)], mistakes, verbose=verbose)


# --- Chapter 7 (couplings and optimal transport) ------------------------------------------------

__all__ += ["reference_ot_pairing", "check_ot_pairing", "reference_straightness", "check_straightness"]


def _cases_pairing() -> list[tuple[Tensor, Tensor]]:
    cases = []
    for seed, b in ((0, 5), (5, 5), (3, 3)):  # seeds where each typical mistake gives a different answer
        g = torch.Generator().manual_seed(seed)
        x0 = torch.randn(b, 2, generator=g)
        cases.append((x0, torch.randn(b, 2, generator=g) * 1.5 + torch.tensor([1.0, 0.5])))
    return cases


def _best_permutation(x0: Tensor, x1: Tensor, power: int = 2, largest: bool = False) -> Tensor:
    import itertools

    cost = torch.cdist(x0.double(), x1.double()) ** power
    perms = torch.tensor(list(itertools.permutations(range(x0.shape[0]))), dtype=torch.int64)
    totals = cost[torch.arange(x0.shape[0]), perms].sum(1)
    return perms[int(totals.argmax() if largest else totals.argmin())]


def reference_ot_pairing(x0: Tensor, x1: Tensor) -> Tensor:
    """The permutation s (B,) minimising sum_i ||x0[i] - x1[s[i]]||^2, by trying all B! of them (B <= 8)."""
    return _best_permutation(x0, x1)


def check_ot_pairing(student: Callable[..., Any], verbose: bool = True) -> ExerciseResult:
    """Check pairing(x0, x1) -> s (B,) int, the OT permutation: x1[s] is the partner of x0 (B = 3 or 5, d = 2)."""
    cases = _cases_pairing()
    try:
        got = student(*cases[0])
        if isinstance(got, Tensor) and got.shape == cases[0][1].shape:
            result = ExerciseResult(False, "you returned the re-ordered points x1[s]; return the index tensor s itself "
                                    "(shape (B,)).", "points")
            if verbose:
                print("❌ " + result.message)
            return result
    except Exception:
        pass  # check_function reports it
    mistakes = {
        "that is the pairing as drawn (s = 0, 1, ..., B-1), the independent coupling: search over permutations.":
            lambda x0, x1: torch.arange(x0.shape[0]),
        "you returned the inverse permutation: s[i] must be the index of the data point given to noise point i, "
        "so that x1[s] lines up with x0 (try torch.argsort of your answer).":
            lambda x0, x1: torch.argsort(_best_permutation(x0, x1)),
        "you used distances ||x0 - x1||; the OT cost of flow matching is the squared distance ||x0 - x1||^2.":
            lambda x0, x1: _best_permutation(x0, x1, power=1),
        "you maximised the total cost: keep the permutation with the smallest sum.":
            lambda x0, x1: _best_permutation(x0, x1, largest=True),
    }
    return check_function(student, reference_ot_pairing, cases, mistakes, verbose=verbose)


def _cases_straightness() -> list[tuple[Tensor]]:
    g = torch.Generator().manual_seed(7)
    bent = torch.cumsum(torch.randn(9, 4, 2, generator=g) * 0.3, 0)  # wiggly paths, T = 8 steps
    line = torch.linspace(0, 1, 5)[:, None, None] * torch.tensor([[[2.0, -1.0]], [[0.5, 0.5]]]).transpose(0, 1)
    return [(bent,), (line + torch.tensor([1.0, 3.0]),)]


def reference_straightness(traj: Tensor) -> Tensor:
    """Discrete straightness of each path of a trajectory (T + 1, B, d) on a uniform grid from t = 0 to 1, shape (B,):

    S = sum_k h ||(x_{k+1} - x_k) / h||^2 - ||x_T - x_0||^2 = sum_k ||x_{k+1} - x_k||^2 / h - ||x_T - x_0||^2, h = 1 / T.
    """
    h = 1.0 / (traj.shape[0] - 1)
    steps = traj[1:] - traj[:-1]
    return (steps**2).sum(-1).sum(0) / h - ((traj[-1] - traj[0]) ** 2).sum(-1)


def check_straightness(student: Callable[..., Any], verbose: bool = True) -> ExerciseResult:
    """Check straightness(traj) -> (B,): sum_k ||x_{k+1} - x_k||^2 / h - ||x_T - x_0||^2 with h = 1 / T."""

    def energy(traj: Tensor, scale: float) -> Tensor:
        return ((traj[1:] - traj[:-1]) ** 2).sum(-1).sum(0) * scale

    def disp(traj: Tensor) -> Tensor:
        return ((traj[-1] - traj[0]) ** 2).sum(-1)

    mistakes = {
        "the 1/h is missing: the velocity on a step is (x_{k+1} - x_k) / h, and the time integral adds h ||v_k||^2, "
        "so each squared step is divided by h once.": lambda tr: energy(tr, 1.0) - disp(tr),
        "you divided the squared steps by h^2: that is sum ||v_k||^2 without the dt = h of the time integral.":
            lambda tr: energy(tr, (tr.shape[0] - 1) ** 2) - disp(tr),
        "you forgot to subtract the squared displacement ||x_T - x_0||^2 (S = energy - displacement).":
            lambda tr: energy(tr, tr.shape[0] - 1),
        "the displacement must be squared: ||x_T - x_0||^2, not ||x_T - x_0||.":
            lambda tr: energy(tr, tr.shape[0] - 1) - disp(tr).sqrt(),
        "you used T + 1 (the number of grid points) for 1/h; there are T = traj.shape[0] - 1 steps.":
            lambda tr: energy(tr, tr.shape[0]) - disp(tr),
    }
    return check_function(student, reference_straightness, _cases_straightness(), mistakes, verbose=verbose)


# --- Chapter 8 (likelihood) --------------------------------------------------------------------------

__all__ += ["reference_divergence", "check_divergence", "reference_hutchinson", "check_hutchinson"]


def _curvy_field(x: Tensor, t: Tensor) -> Tensor:
    """A 2-D field whose Jacobian entries all differ (so each typical mistake is visible)."""
    return torch.stack([torch.sin(x[:, 0]) * x[:, 1] + t * x[:, 0] ** 2, x[:, 0] ** 3 - 2 * torch.cos(x[:, 1]) + t], 1)


def _jac(field: Callable[..., Tensor], x: Tensor, t: Any) -> Tensor:
    from .likelihood import jacobian

    return jacobian(field, x, t)


def _cases_divergence() -> list[tuple[Callable[..., Tensor], Tensor, Tensor]]:
    g = torch.Generator().manual_seed(11)
    a = torch.tensor([[0.5, 2.0], [-1.0, 1.5]])
    return [(_curvy_field, torch.randn(6, 2, generator=g, dtype=torch.float64), torch.tensor(0.3, dtype=torch.float64)),
            (lambda x, t: x @ a.T.to(x.dtype) * (1 + t), torch.randn(4, 2, generator=g), torch.tensor(0.5))]


def reference_divergence(field: Callable[..., Tensor], x: Tensor, t: Tensor) -> Tensor:
    """div u_t(x) = du_1/dx_1 + du_2/dx_2 at each point, shape (B,), by autograd."""
    from .likelihood import divergence_exact

    return divergence_exact(field, x, t)


def check_divergence(student: Callable[..., Any], verbose: bool = True) -> ExerciseResult:
    """Check divergence(field, x, t) -> (B,) = trace of the Jacobian du/dx at each point (x of shape (B, 2))."""

    def diag(i: int) -> Callable[..., Tensor]:
        return lambda f, x, t: _jac(f, x, t)[:, i, i]

    mistakes = {
        "you summed every entry of the Jacobian (the gradient of u.sum() summed over coordinates): "
        "the divergence keeps only the diagonal du_i/dx_i.": lambda f, x, t: _jac(f, x, t).sum((1, 2)),
        "only du_1/dx_1: add du_2/dx_2 (loop over the coordinates).": diag(0),
        "only du_2/dx_2: add du_1/dx_1 (loop over the coordinates).": diag(1),
        "you took the off-diagonal entries du_1/dx_2 + du_2/dx_1; the divergence needs du_i/dx_i.":
            lambda f, x, t: _jac(f, x, t)[:, 0, 1] + _jac(f, x, t)[:, 1, 0],
        "the sign is flipped: div u = +trace(du/dx) (the minus sign belongs to d/dt log p_t).":
            lambda f, x, t: -_jac(f, x, t).diagonal(dim1=1, dim2=2).sum(1),
    }
    return check_function(student, reference_divergence, _cases_divergence(), mistakes, verbose=verbose)


def _cases_hutchinson() -> list[tuple[Callable[..., Tensor], Tensor, Tensor, Tensor]]:
    g = torch.Generator().manual_seed(12)
    x = torch.randn(6, 2, generator=g, dtype=torch.float64)
    z = (torch.randint(0, 2, (6, 2), generator=g) * 2 - 1).to(torch.float64)
    return [(_curvy_field, x, torch.tensor(0.3, dtype=torch.float64), z),
            (_curvy_field, x, torch.tensor(0.8, dtype=torch.float64), torch.randn(6, 2, generator=g, dtype=torch.float64))]


def reference_hutchinson(field: Callable[..., Tensor], x: Tensor, t: Tensor, z: Tensor) -> Tensor:
    """One-probe Hutchinson estimate z^T (du/dx) z at each point, shape (B,); x and z of shape (B, d)."""
    return torch.einsum("bi,bij,bj->b", z, _jac(field, x, t), z)


def check_hutchinson(student: Callable[..., Any], verbose: bool = True) -> ExerciseResult:
    """Check hutchinson(field, x, t, z) -> (B,) = z^T (du/dx) z, computed with one vector-Jacobian product."""
    mistakes = {
        "you returned z . u(x): the estimate needs the derivative, z^T (du/dx) z (take the gradient of (u * z).sum()).":
            lambda f, x, t, z: (f(x, t) * z).sum(1),
        "you summed z^T J over coordinates without the second z: multiply the vector-Jacobian product by z, then sum.":
            lambda f, x, t, z: torch.einsum("bi,bij->b", z, _jac(f, x, t)),
        "that is the exact divergence (trace of J): the exercise asks for the one-probe estimate z^T J z.":
            lambda f, x, t, z: _jac(f, x, t).diagonal(dim1=1, dim2=2).sum(1),
    }
    return check_function(student, reference_hutchinson, _cases_hutchinson(), mistakes, verbose=verbose)


# --- Chapters 9 (schedulers and diffusion) and 10 (guidance) -------------------------------------

__all__ += ["reference_x1_from_velocity", "check_x1_from_velocity", "reference_score_from_velocity",
            "check_score_from_velocity", "reference_cfg", "check_cfg"]


def _cases_vt() -> list[tuple[Tensor, Tensor, Tensor]]:
    g = torch.Generator().manual_seed(9)
    v, x = torch.randn(6, 2, generator=g), torch.randn(6, 2, generator=g)
    t = torch.tensor([0.05, 0.2, 0.35, 0.5, 0.7, 0.9])[:, None]
    return [(v, x, t), (v[:1], x[:1], torch.tensor([[0.6]]))]


def reference_x1_from_velocity(v: Tensor, x: Tensor, t: Tensor) -> Tensor:
    """CondOT x_1-prediction from a velocity: E[X_1 | x_t] = x + (1 - t) v. v, x (B, d); t (B, 1)."""
    return x + (1 - t) * v


def check_x1_from_velocity(student: Callable[..., Any], verbose: bool = True) -> ExerciseResult:
    """Check x1(v, x, t) = x + (1 - t) v (CondOT: the point reached by moving at speed v for the remaining time)."""
    mistakes = {
        "time runs backwards: the time left until t = 1 is 1 - t, not t.": lambda v, x, t: x + t * v,
        "the sign is flipped: move forward along v, x + (1 - t) v.": lambda v, x, t: x - (1 - t) * v,
        "you returned only the displacement (1 - t) v: add it to x.": lambda v, x, t: (1 - t) * v,
        "the factor (1 - t) is missing: x + v is a full unit step, but only 1 - t of time is left.": lambda v, x, t: x + v,
        "that is the noise prediction x - t v (E[X_0 | x_t]); the data prediction moves forward.": lambda v, x, t: x - t * v,
    }
    return check_function(student, reference_x1_from_velocity, _cases_vt(), mistakes, verbose=verbose)


def reference_score_from_velocity(v: Tensor, x: Tensor, t: Tensor) -> Tensor:
    """CondOT score from a velocity: -E[X_0 | x_t] / sigma_t = (t v - x) / (1 - t). v, x (B, d); t (B, 1)."""
    return (t * v - x) / (1 - t)


def check_score_from_velocity(student: Callable[..., Any], verbose: bool = True) -> ExerciseResult:
    """Check score(v, x, t) = (t v - x) / (1 - t): epsilon = x - t v, score = -epsilon / sigma_t, sigma_t = 1 - t."""
    mistakes = {
        "the sign is flipped: the score is MINUS epsilon / sigma_t (it points back towards the data).":
            lambda v, x, t: (x - t * v) / (1 - t),
        "you forgot to divide by sigma_t = 1 - t.": lambda v, x, t: t * v - x,
        "divide by sigma_t = 1 - t, not by the variance (1 - t)^2.": lambda v, x, t: (t * v - x) / (1 - t) ** 2,
        "you used the data prediction x + (1 - t) v; the score needs the noise prediction x - t v.":
            lambda v, x, t: -(x + (1 - t) * v) / (1 - t),
        "sigma_t is 1 - t for CondOT, not t.": lambda v, x, t: (t * v - x) / t,
    }
    return check_function(student, reference_score_from_velocity, _cases_vt(), mistakes, verbose=verbose)


def _cases_cfg() -> list[tuple[Tensor, Tensor, float]]:
    g = torch.Generator().manual_seed(10)
    uc, uu = torch.randn(5, 2, generator=g), torch.randn(5, 2, generator=g)
    return [(uc, uu, 2.5), (uc, uu, 0.0), (uc, uu, 1.0), (uc[:2], uu[:2], 0.4)]


def reference_cfg(u_cond: Tensor, u_uncond: Tensor, w: float) -> Tensor:
    """Classifier-free guidance: u_uncond + w (u_cond - u_uncond). u_cond, u_uncond (B, d); w a float."""
    return u_uncond + w * (u_cond - u_uncond)


def check_cfg(student: Callable[..., Any], verbose: bool = True) -> ExerciseResult:
    """Check cfg(u_cond, u_uncond, w) = u_uncond + w (u_cond - u_uncond) (w = 0: unconditional, w = 1: conditional)."""
    mistakes = {
        "w multiplies the wrong term: start from the UNconditional velocity and add w (u_cond - u_uncond).":
            lambda uc, uu, w: uc + w * (uu - uc),
        "the sign is flipped: guidance moves towards the class, + w (u_cond - u_uncond).":
            lambda uc, uu, w: uu - w * (uc - uu),
        "you forgot the unconditional part: w u_cond alone is not guidance (at w = 0 you must get u_uncond).":
            lambda uc, uu, w: w * uc,
        "you returned only the guidance direction w (u_cond - u_uncond); add it to u_uncond.":
            lambda uc, uu, w: w * (uc - uu),
        "you started from the conditional velocity: u_cond + w (u_cond - u_uncond) over-guides by one (w = 0 must give u_uncond).":
            lambda uc, uu, w: uc + w * (uc - uu),
    }
    return check_function(student, reference_cfg, _cases_cfg(), mistakes, verbose=verbose)


# ------------------------------------------------------------------ chapter 11: images on a CPU
__all__ += ["reference_tile_images", "check_tile_images"]


def _cases_tile() -> list[tuple[Tensor, int, int]]:
    g = torch.Generator().manual_seed(11)
    x = torch.randn(6, 64, generator=g) + torch.arange(64.0)  # every pixel position distinguishable
    return [(x, 2, 3), (x, 3, 2), (x[:4], 2, 2), (x[:3], 1, 3)]


def reference_tile_images(x: Tensor, rows: int, cols: int) -> Tensor:
    """Tile rows * cols flattened 8x8 images x (rows * cols, 64) into one (rows * 8, cols * 8) mosaic.

    Image k goes to grid row k // cols, grid column k % cols: mosaic[8 r + i, 8 c + j] = x[r * cols + c, 8 i + j].
    """
    return x.reshape(rows, cols, 8, 8).permute(0, 2, 1, 3).reshape(rows * 8, cols * 8)


def check_tile_images(student: Callable[..., Any], verbose: bool = True) -> ExerciseResult:
    """Check tile(x, rows, cols): (rows * cols, 64) -> (rows * 8, cols * 8) with image k at row k // cols, column k % cols."""
    mistakes = {
        "you reshaped straight to (rows * 8, cols * 8): that cuts the batch into strips, not images. Reshape to "
        "(rows, cols, 8, 8) and bring each image's pixel-row axis next to the grid-row axis with permute(0, 2, 1, 3).":
            lambda x, r, c: x.reshape(r * 8, c * 8),
        "every image is transposed (mirrored on its diagonal): entry 8 i + j is pixel row i, column j, so reshape each "
        "vector to (8, 8) as is and keep the pixel axes in the order (i, j).":
            lambda x, r, c: x.reshape(r, c, 8, 8).permute(0, 3, 1, 2).reshape(r * 8, c * 8),
        "the images run down the columns: image k belongs in grid row k // cols and column k % cols (fill row by row).":
            lambda x, r, c: x.reshape(c, r, 8, 8).permute(1, 2, 0, 3).reshape(r * 8, c * 8),
        "wrong axis order after the reshape: permute (rows, cols, 8, 8) to (rows, 8, cols, 8), i.e. permute(0, 2, 1, 3).":
            lambda x, r, c: x.reshape(r, c, 8, 8).permute(2, 0, 3, 1).reshape(r * 8, c * 8),
    }
    for x, r, c in _cases_tile():
        try:
            got = student(x, r, c)
        except Exception:
            break  # check_function reports it
        if isinstance(got, Tensor) and r != c and tuple(got.shape) == (c * 8, r * 8):
            result = ExerciseResult(False, f"rows and columns are swapped: {r} rows of {c} images make a mosaic of shape "
                                    f"({r} * 8, {c} * 8) = ({r * 8}, {c * 8}), you returned {tuple(got.shape)}.", "mistake")
            if verbose:
                print("❌ " + result.message)
            return result
    return check_function(student, reference_tile_images, _cases_tile(), mistakes, verbose=verbose)
