"""Solver accuracy: empirical orders of convergence, sample quality per velocity evaluation (NFE).

* ``convergence_study`` / ``fit_order``: the empirical order p of a solver, error ~ C h^p.
* ``quality_vs_nfe``: W2 of samples against a reference set for a budget of velocity evaluations.

>>> import torch
>>> study = convergence_study(lambda x, t: x * torch.cos(t), torch.ones(1, 1),
...                           exact=torch.ones(1, 1) * 2.3197768, methods=("euler",),
...                           n_steps=(8, 16, 32))
>>> round(study.orders["euler"])
1
"""

from __future__ import annotations

__all__ = [
    "STAGES",
    "fit_order",
    "ConvergenceStudy",
    "convergence_study",
    "as_float64",
    "NFEStudy",
    "quality_vs_nfe",
]

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ._validate import check_points, check_positive_int
from .data import make_generator
from .metrics import wasserstein2
from .solvers import SOLVERS, solve

#: Velocity evaluations per step of each solver.
STAGES = {"euler": 1, "midpoint": 2, "heun": 2, "rk4": 4}


def fit_order(h: Any, errors: Any) -> float:
    """The empirical order of convergence: the slope p of the fitted line log e = p log h + c.

    Args:
        h: step sizes, shape (S,), S >= 2.
        errors: errors at those step sizes, shape (S,), all > 0.

    Returns:
        p, a float.
    """
    h, e = np.asarray(h, float), np.asarray(errors, float)
    if h.ndim != 1 or h.shape != e.shape or h.size < 2:
        raise ValueError(
            "h and errors: expected two 1-D arrays of the same length >= 2, "
            f"got {h.shape} and {e.shape}"
        )
    if (h <= 0).any() or (e <= 0).any() or not np.isfinite(e).all():
        raise ValueError(
            "h and errors: expected positive finite values (an error of exactly 0 has no "
            f"logarithm), got h = {h.tolist()} and errors = {e.tolist()}"[:300]
        )
    return float(np.polyfit(np.log(h), np.log(e), 1)[0])


@dataclass
class ConvergenceStudy:
    """Errors of fixed-step solvers against a reference solution.

    Attributes:
        n_steps: step counts, shape (S,); h: step sizes |t1 - t0| / n_steps.
        errors: method -> mean over the batch of ||x_N - x_ref||, shape (S,).
        nfe: method -> velocity evaluations used, shape (S,).
        orders: method -> fitted slope of log error vs log h.
        reference: the reference end points, shape (B, d).
    """

    n_steps: np.ndarray
    h: np.ndarray
    errors: dict[str, np.ndarray] = field(default_factory=dict)
    nfe: dict[str, np.ndarray] = field(default_factory=dict)
    orders: dict[str, float] = field(default_factory=dict)
    reference: "Tensor | None" = None


def as_float64(field_fn: Callable[..., Tensor]) -> Callable[..., Tensor]:
    """A float64 copy of a network, so solver errors are not hidden under float32 round-off.

    Anything that is not a torch.nn.Module (a plain function) passes through unchanged.
    """
    if isinstance(field_fn, nn.Module):
        return copy.deepcopy(field_fn).double().eval()
    return field_fn


def convergence_study(
    field_fn: Callable[..., Tensor],
    x_init: Tensor,
    exact: "Tensor | None" = None,
    methods: Sequence[str] = ("euler", "midpoint", "rk4"),
    n_steps: Sequence[int] = (4, 8, 16, 32, 64),
    reference_steps: int = 1024,
    t0: float = 0.0,
    t1: float = 1.0,
    dtype: torch.dtype = torch.float64,
) -> ConvergenceStudy:
    """Integrate dx/dt = field(x, t) with each method and step count; fit the order of convergence.

    Error(h) = mean_i ||x_i(t1; h) - x_i(t1)||; for a method of order p, Error ~ C h^p as h -> 0, so
    the slope of log Error against log h is p (1 Euler, 2 midpoint and Heun, 4 RK4).

    Args:
        field_fn: velocity ``field(x, t)`` (a network is copied to float64 with as_float64).
        x_init: start points at t0, shape (B, d).
        exact: the exact end points at t1, shape (B, d); None: RK4 with reference_steps steps.
        methods: solver names.
        n_steps: step counts to try (fit over all of them: choose the range where h is small).
        reference_steps: steps of the RK4 reference when exact is None.
        t0, t1: the time interval.
        dtype: precision of the study (float64 keeps round-off far below the errors measured).

    Returns:
        A ConvergenceStudy.
    """
    for m in methods:
        if m not in SOLVERS:
            raise ValueError(f"methods: expected names from {sorted(SOLVERS)}, got {m!r}")
    steps = np.array([check_positive_int(int(k), "n_steps") for k in n_steps])
    if steps.size < 2:
        raise ValueError(f"n_steps: expected at least 2 step counts, got {list(n_steps)}")
    f = as_float64(field_fn) if dtype == torch.float64 else field_fn
    x0 = torch.as_tensor(x_init).to(dtype)
    if exact is None:
        exact = solve(f, x0, "rk4", n_steps=reference_steps, t0=t0, t1=t1).x
    exact = torch.as_tensor(exact).to(dtype)
    if exact.shape != x0.shape:
        raise ValueError(
            f"exact: expected the shape of x_init {tuple(x0.shape)}, got {tuple(exact.shape)}"
        )
    study = ConvergenceStudy(steps, abs(t1 - t0) / steps, reference=exact)
    for m in methods:
        errs, nfes = [], []
        for k in steps:
            sol = solve(f, x0, m, n_steps=int(k), t0=t0, t1=t1)
            errs.append(float((sol.x - exact).flatten(1).norm(dim=1).mean()))
            nfes.append(sol.nfe)
        study.errors[m], study.nfe[m] = np.array(errs), np.array(nfes)
        study.orders[m] = fit_order(study.h, study.errors[m])
    return study


@dataclass
class NFEStudy:
    """Sample quality for budgets of velocity evaluations.

    Attributes:
        nfe: the budgets, shape (K,).
        w2: method -> W2 distance to the reference set per budget, shape (K,) (NaN where the budget
            is below the method's NFE per step or not a multiple of it).
        samples: (method, nfe) -> the samples, shape (n, d).
    """

    nfe: np.ndarray
    w2: dict[str, np.ndarray] = field(default_factory=dict)
    samples: dict[tuple[str, int], Tensor] = field(default_factory=dict)


def quality_vs_nfe(
    field_fn: Callable[..., Tensor],
    reference: Tensor,
    nfe: Sequence[int] = (4, 8, 16, 32),
    methods: Sequence[str] = ("euler", "midpoint", "rk4"),
    seed: int = 0,
    metric: Callable[[Tensor, Tensor], float] = wasserstein2,
    progress: bool = False,
) -> NFEStudy:
    """Draw len(reference) samples per method and NFE budget, and score each set.

    A budget of nfe evaluations is n_steps = nfe / STAGES[method] steps. Every method starts from
    the same noise x_0 ~ N(0, I) (seeded), so the differences are the solvers'.

    Args:
        field_fn: velocity ``field(x, t)``.
        reference: held-out data points, shape (n, d) (their size sets the number of samples).
        nfe: budgets of velocity evaluations.
        methods: solver names.
        seed: seed of x_0.
        metric: distance between two point sets (default exact W2; compare with
            metrics.noise_floor).
        progress: show a progress bar over the (method, budget) pairs (tqdm's, notebook-aware:
            a widget in a notebook, stderr elsewhere).

    Returns:
        An NFEStudy.
    """
    reference = check_points(reference, "reference")
    budgets = np.array([check_positive_int(int(k), "nfe") for k in nfe])
    x0 = torch.randn(reference.shape, generator=make_generator(seed))
    study = NFEStudy(budgets)
    unknown = [m for m in methods if m not in STAGES]
    if unknown:
        raise ValueError(f"methods: expected names from {sorted(STAGES)}, got {unknown[0]!r}")
    from tqdm.auto import tqdm  # here: importing fmtutor loads no notebook library

    bar = tqdm(
        total=len(methods) * len(budgets), desc="quality vs NFE", disable=not progress, leave=False
    )
    for m in methods:
        vals = []
        for k in budgets:
            bar.update(1)
            if k % STAGES[m]:
                vals.append(np.nan)
                continue
            x = solve(field_fn, x0, m, n_steps=int(k) // STAGES[m]).x.detach().cpu()
            study.samples[(m, int(k))] = x
            vals.append(metric(x, reference))
        study.w2[m] = np.array(vals)
    bar.close()
    return study
