"""Chapter 4 (the conditional velocity): conditional vs marginal fields, the velocity exercise."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ipywidgets as W
import torch
from matplotlib.figure import Figure
from torch import Tensor

from fmtutor._validate import check_points, check_positive_int
from fmtutor.course.exercises import ExerciseResult, cases_xt, check_function
from fmtutor.course.i18n import tr
from fmtutor.course.plots import MOONS_XLIM, MOONS_YLIM, quiver, scatter, style_axes
from fmtutor.course.widgets import LivePlot
from fmtutor.data import make_generator
from fmtutor.exact import MarginalField
from fmtutor.paths import conditional_velocity

__all__ = [
    "reference_conditional_velocity",
    "check_conditional_velocity",
    "conditional_vs_marginal",
]

Lim = tuple[float, float]


def reference_conditional_velocity(x: Tensor, x1: Tensor, t: Tensor) -> Tensor:
    """u_t(x | x_1) = (x_1 - x) / (1 - t): ``fmtutor.paths.conditional_velocity``.

    Shapes: x, x1 (B, d); t (B, 1).
    """
    return conditional_velocity(x, x1, t)


def check_conditional_velocity(student: Callable[..., Any], verbose: bool = True) -> ExerciseResult:
    """Check u(x, x1, t) = (x1 - x) / (1 - t) for x, x1 of shape (B, d) and t of shape (B, 1)."""
    mistakes = {
        tr(
            "the sign is flipped: the velocity must point from x towards x_1, i.e. x_1 - x."
        ): lambda x, x1, t: (x - x1) / (1 - t),
        tr(
            "the (1 - t) is missing: x_1 - x is the velocity of the straight line only at t = 0."
        ): lambda x, x1, t: x1 - x,
        tr(
            "time runs backwards: you divided by t; the remaining time to reach x_1 is 1 - t."
        ): lambda x, x1, t: (x1 - x) / t.clamp_min(1e-12),
        tr("you multiplied by (1 - t) instead of dividing."): lambda x, x1, t: (x1 - x) * (1 - t),
        tr(
            "divide by 1 - t, not by (1 - t)^2: the point still has the distance x_1 - x to go "
            "in the time 1 - t that is left."
        ): lambda x, x1, t: (x1 - x) / (1 - t) ** 2,
    }
    return check_function(
        student, reference_conditional_velocity, cases_xt(), mistakes, verbose=verbose
    )


def conditional_vs_marginal(
    data: Tensor,
    x1: Tensor,
    t: float = 0.5,
    n_particles: int = 400,
    seed: int = 0,
    xlim: Lim = MOONS_XLIM,
    ylim: Lim = MOONS_YLIM,
) -> LivePlot:
    """Two panels under a t slider: conditional and marginal fields, each with its particles.

    Left: the conditional field u_t(x | x_1) = (x_1 - x) / (1 - t) with samples of p_{t|1}(. | x_1).
    Right: the marginal field u_t(x) (exact, for the empirical distribution of ``data``) with
    samples of p_t.

    Args:
        data: the data set, shape (N, 2).
        x1: the data point of the conditional panel, shape (2,) or (1, 2).
        t: initial time (the slider runs over [0, 0.95]).
        n_particles: particles drawn in each panel (the same noise X_0 in both).
        seed: seed of the particles.
        xlim, ylim: plot box.

    Returns:
        A LivePlot; its text reports the mean speed of each field at its particles.
    """
    data = check_points(data, "data", dim=2)
    x1 = check_points(torch.as_tensor(x1).reshape(1, -1), "x1", dim=2)
    n_particles = check_positive_int(n_particles, "n_particles")
    g = make_generator(seed)
    x0 = torch.randn(n_particles, 2, generator=g)
    x1_marg = data[torch.randint(0, data.shape[0], (n_particles,), generator=g)]
    field = MarginalField(data)

    def cond(x: Tensor, tt: Any) -> Tensor:
        return conditional_velocity(x, x1.expand_as(x), tt)

    def draw(fig: Figure, t: float) -> str:
        left, right = fig.axes
        xc = t * x1 + (1 - t) * x0
        xm = t * x1_marg + (1 - t) * x0
        quiver(cond, t, ax=left, xlim=xlim, ylim=ylim, n=15)
        scatter(xc, ax=left, s=4, alpha=0.5, color="#E69F00", xlim=xlim, ylim=ylim)
        left.plot(
            *x1[0].tolist(), marker="*", ms=14, color="#D55E00", mec="k", ls="none", label="$x_1$"
        )
        left.legend(loc="upper right")
        quiver(field, t, ax=right, xlim=xlim, ylim=ylim, n=15)
        scatter(xm, ax=right, s=4, alpha=0.5, color="#E69F00", xlim=xlim, ylim=ylim)
        style_axes(left, xlim, ylim, tr("conditional $u_t(x\\mid x_1)$, t = {t:.2f}", t=t))
        style_axes(right, xlim, ylim, tr("marginal $u_t(x)$, t = {t:.2f}", t=t))
        with torch.no_grad():
            sc, sm = cond(xc, t).norm(dim=1).mean().item(), field(xm, t).norm(dim=1).mean().item()
        return tr(
            "t = {t:.2f}: mean speed at the particles, conditional {sc:.2f}, marginal {sm:.2f}",
            t=t,
            sc=sc,
            sm=sm,
        )

    slider = W.FloatSlider(
        value=t, min=0.0, max=0.95, step=0.05, description="t", continuous_update=False
    )
    return LivePlot(draw, {"t": slider}, figsize=(10, 4.6), ncols=2, fixed_frame=True)
