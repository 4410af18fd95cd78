"""Chapter 6 (midpoint sampling): the steps explorer and the midpoint-step exercise."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as W
from matplotlib.figure import Figure
from torch import Tensor

from fmtutor._validate import check_points
from fmtutor.course.exercises import ExerciseResult, cases_step, check_function
from fmtutor.course.plots import MOONS_XLIM, MOONS_YLIM, scatter, style_axes
from fmtutor.course.widgets import LivePlot
from fmtutor.metrics import wasserstein2
from fmtutor.solvers import Midpoint, solve

__all__ = ["reference_midpoint_step", "check_midpoint_step", "sample_methods", "steps_explorer"]

Lim = tuple[float, float]


def reference_midpoint_step(
    u: Callable[[Tensor, Tensor], Tensor], x: Tensor, t: Tensor, h: Tensor
) -> Tensor:
    """x + h u(x + (h/2) u(x, t), t + h/2): one step of fmtutor.solvers.Midpoint."""
    return Midpoint().step(u, x, t, h)


def check_midpoint_step(student: Callable[..., Any], verbose: bool = True) -> ExerciseResult:
    """Check step(u, x, t, h) = x + h u(x + h/2 u(x, t), t + h/2)."""
    mistakes = {
        "that is Euler's step: evaluate u again at the midpoint x + (h/2) u(x, t).": (
            lambda u, x, t, h: x + h * u(x, t)
        ),
        "the midpoint's time should be t + h/2, not t.": (
            lambda u, x, t, h: x + h * u(x + 0.5 * h * u(x, t), t)
        ),
        "you stepped a full h to the midpoint: it is x + (h/2) u(x, t).": (
            lambda u, x, t, h: x + h * u(x + h * u(x, t), t + 0.5 * h)
        ),
        "you returned the midpoint itself; take the full step from x with the midpoint's "
        "velocity.": lambda u, x, t, h: x + 0.5 * h * u(x, t),
    }
    return check_function(student, reference_midpoint_step, cases_step(), mistakes, verbose=verbose)


def sample_methods(
    field_fn: Callable[..., Tensor],
    x0: Tensor,
    n_steps: int,
    methods: Sequence[str] = ("euler", "midpoint", "rk4"),
) -> dict[str, Any]:
    """Integrate the same noise x0 (B, d) from t = 0 to 1 with each method in n_steps steps.

    Returns:
        Solver name -> its Solution (with the trajectory).
    """
    return {m: solve(field_fn, x0, m, n_steps=n_steps, return_trajectory=True) for m in methods}


def steps_explorer(
    field_fn: Callable[..., Tensor],
    x0: Tensor,
    reference: Tensor,
    n_steps: int = 4,
    max_steps: int = 32,
    methods: Sequence[str] = ("euler", "midpoint", "rk4"),
    xlim: Lim = MOONS_XLIM,
    ylim: Lim = MOONS_YLIM,
) -> LivePlot:
    """One panel per method: samples and paths from x0 after the slider's number of steps.

    Every slider move re-integrates; the text gives each method's NFE and W2 to ``reference``.

    Args:
        field_fn: the velocity ``field(x, t)``.
        x0: the noise to integrate, shape (B, 2) (B = len(reference) for a fair W2).
        reference: held-out data, shape (B, 2).
        n_steps: initial number of steps; max_steps: the slider's maximum.
        methods: solver names.
        xlim, ylim: plot box.
    """
    x0 = check_points(x0, "x0", dim=2)
    reference = check_points(reference, "reference", dim=2)

    def draw(fig: Figure, n_steps: int) -> str:
        sols = sample_methods(field_fn, x0, n_steps, methods)
        parts = []
        for ax, (m, sol) in zip(fig.axes, sols.items()):
            traj = sol.trajectory.detach()
            ax.plot(traj[:, :40, 0], traj[:, :40, 1], color="tab:gray", lw=0.6, alpha=0.6)
            scatter(
                reference,
                ax=ax,
                s=3,
                alpha=0.25,
                color="tab:blue",
                label="data",
                xlim=xlim,
                ylim=ylim,
            )
            scatter(
                sol.x.detach(),
                ax=ax,
                s=3,
                alpha=0.6,
                color="tab:orange",
                label="samples",
                xlim=xlim,
                ylim=ylim,
            )
            w2 = wasserstein2(sol.x.detach(), reference)
            style_axes(ax, xlim, ylim, f"{m}: {n_steps} steps, NFE {sol.nfe}\nW2 = {w2:.3f}")
            parts.append(f"{m}: NFE {sol.nfe}, W2 {w2:.3f}")
        fig.axes[0].legend(loc="upper right", markerscale=4)
        return f"{n_steps} steps. " + "; ".join(parts)

    slider = W.IntSlider(
        value=n_steps, min=1, max=max_steps, description="steps", continuous_update=False
    )
    return LivePlot(
        draw, {"n_steps": slider}, figsize=(4.0 * len(methods), 4.2), ncols=len(methods)
    )
