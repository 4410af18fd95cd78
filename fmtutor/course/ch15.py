"""Chapter 15 (reading other codebases): the clocks widget and the conversion exercises."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ipywidgets as W
import numpy as np
import torch
from torch import Tensor

from fmtutor._validate import check_callable, check_points
from fmtutor.conventions import (
    course_grid,
    foreign_euler,
    from_course,
    shift_sigmas,
    to_course,
)
from fmtutor.course.exercises import ExerciseResult, check_function
from fmtutor.course.i18n import tr
from fmtutor.course.plots import scatter
from fmtutor.course.widgets import LivePlot
from fmtutor.metrics import wasserstein2
from fmtutor.solvers import solve

__all__ = [
    "diffusers_field",
    "reference_course_velocity",
    "check_course_velocity",
    "reference_course_loop",
    "check_course_loop",
    "clocks_widget",
]

_M, _S = torch.tensor([1.0, -0.5], dtype=torch.float64), 0.6  # the exercises' Gaussian data


def diffusers_field(x: Tensor, timestep: Any) -> Tensor:
    """A network in diffusers' convention, written by hand: data N(m, s^2 I), noise N(0, I).

    x = sigma eps + (1 - sigma) d with sigma = timestep / 1000; it returns E[eps - d | x]
    ("noise - data"): with w = sigma^2 + (1 - sigma)^2 s^2 and c = x - (1 - sigma) m,
    E[eps | x] = sigma c / w and E[d | x] = m + (1 - sigma) s^2 c / w. Shapes: x (B, 2) -> (B, 2).
    """
    sigma = torch.as_tensor(timestep, dtype=x.dtype) / 1000.0
    m = _M.to(x.dtype)
    w = sigma**2 + (1 - sigma) ** 2 * _S**2
    c = x - (1 - sigma) * m
    return sigma * c / w - (m + (1 - sigma) * _S**2 * c / w)


def reference_course_velocity(f: Callable[..., Tensor], x: Tensor, t: float) -> Tensor:
    """u_t(x) of a diffusers network f(x, timestep): -f(x, 1000 (1 - t)), shape (B, d).

    This is fmtutor.conventions.to_course(f, "diffusers")(x, t).
    """
    return to_course(f, "diffusers")(x, t)


def _cases_velocity() -> list[tuple[Any, Tensor, float]]:
    g = torch.Generator().manual_seed(3)
    x = torch.randn(6, 2, generator=g, dtype=torch.float64)
    return [(diffusers_field, x, t) for t in (0.2, 0.7)]


def check_course_velocity(student: Callable[..., Any], verbose: bool = True) -> ExerciseResult:
    """Check course_velocity(f, x, t) -> u_t(x) (B, d) for a diffusers network f(x, timestep)."""
    mistakes = {
        tr(
            "the sign: diffusers' network predicts noise - data, the course's velocity is data - "
            "noise, so negate its output."
        ): lambda f, x, t: f(x, 1000 * (1 - t)),
        tr(
            "the clock runs the other way: diffusers' sigma is 1 - t (noise at sigma = 1), so the "
            "network must see 1000 (1 - t), not 1000 t."
        ): lambda f, x, t: -f(x, 1000 * t),
        tr("the scale: diffusers' network takes timesteps sigma * 1000, not sigma in [0, 1]."): (
            lambda f, x, t: -f(x, 1 - t)
        ),
        tr(
            "two slips at once: negate the output (it is noise - data) and give the network "
            "1000 (1 - t), not 1000 t."
        ): lambda f, x, t: f(x, 1000 * t),
    }
    return check_function(
        student, reference_course_velocity, _cases_velocity(), mistakes, verbose=verbose
    )


def reference_course_loop(u: Callable[..., Tensor], x0: Tensor, sigmas: Tensor) -> Tensor:
    """The course's Euler loop on diffusers' sigma grid: t_k = 1 - sigma_k, (B, d) at t = 1.

    x_{k+1} = x_k + (t_{k+1} - t_k) u(x_k, t_k) with a course velocity u: fmtutor.solvers.solve
    with method 'euler' and time_grid fmtutor.conventions.course_grid(sigmas, "diffusers").
    """
    return solve(u, x0, method="euler", time_grid=course_grid(sigmas, "diffusers")).x


def _cases_loop() -> list[tuple[Any, Tensor, Tensor]]:
    g = torch.Generator().manual_seed(4)
    x0 = torch.randn(5, 2, generator=g, dtype=torch.float64)
    u = to_course(diffusers_field, "diffusers")
    return [(u, x0, shift_sigmas(4, shift=3.0)), (u, x0, shift_sigmas(3))]


def _euler(u: Callable[..., Tensor], x: Tensor, times: Tensor, at_end: bool = False) -> Tensor:
    for a, b in zip(times[:-1], times[1:]):
        x = x + (b - a) * u(x, b if at_end else a)
    return x


def check_course_loop(student: Callable[..., Any], verbose: bool = True) -> ExerciseResult:
    """Check course_loop(u, x0, sigmas) -> x at t = 1 (B, d): Euler on t_k = 1 - sigma_k."""
    mistakes = {
        tr(
            "you used the sigmas as course times: t = 1 - sigma, so the grid runs 0 -> 1 (your "
            "steps ran the flow backwards)."
        ): lambda u, x, s: _euler(u, x, s),
        tr(
            "your step is sigma_{k+1} - sigma_k (negative): in the course's clock it is "
            "t_{k+1} - t_k = sigma_k - sigma_{k+1}."
        ): lambda u, x, s: _euler(lambda y, t: -u(y, t), x, 1 - s),
        tr("Euler evaluates the velocity at the start of each step, t_k, not at its end."): (
            lambda u, x, s: _euler(u, x, 1 - s, at_end=True)
        ),
    }
    return check_function(student, reference_course_loop, _cases_loop(), mistakes, verbose=verbose)


def clocks_widget(model: Callable[..., Tensor], x0: Tensor, data: Tensor) -> Any:
    """A LivePlot: diffusers' sigma grid (shift, steps) beside the samples it gives a course model.

    Each change builds ``shift_sigmas(n_steps, shift)``, runs the diffusers Euler loop on
    ``from_course(model, "diffusers")`` and the course's Euler solve on ``course_grid`` (the two
    must agree; ``live.stats['max_difference']``), draws the grid in both clocks and the samples,
    and reports W2 to ``data``. The picture is shown first, while W2 (an optimal assignment, the
    slow part) is measured; a setting seen before reuses its W2.

    Args:
        model: a course velocity ``model(x, t)`` (e.g. chapter 5's). x0: noise (B, 2).
        data: reference data points (N, 2) for W2.

    Returns:
        fmtutor.course.widgets.LivePlot with controls 'shift' and 'n_steps' and a dict ``stats``.
    """
    check_callable(model, "model", "a course velocity model(x, t)")
    x0, data = check_points(x0, "x0", dim=2), check_points(data, "data", dim=2)
    foreign = from_course(model, "diffusers")
    stats: dict[str, float] = {}
    measured: dict[tuple[float, int], tuple[float, float]] = {}  # (shift, n_steps) -> (W2, diff)
    max_steps = 16

    def picture(fig: Any, shift: float, n_steps: int) -> tuple[Tensor, Tensor]:
        """Draw the grid and the diffusers loop's samples; return the sigmas and the samples."""
        sig = shift_sigmas(n_steps, shift)
        with torch.no_grad():
            a = foreign_euler(foreign, x0, sig, "diffusers")
        ax = fig.axes[0]
        k = np.arange(n_steps + 1)
        ax.plot(k, sig.numpy(), "o-", color="#CC79A7", label=tr(r"diffusers' $\sigma_k$"))
        ax.plot(k, 1 - sig.numpy(), "s-", color="#009E73", label=tr(r"course's $t_k = 1-\sigma_k$"))
        ax.set(xlabel=tr("step k"), ylabel=tr("time"), ylim=(-0.05, 1.05))
        ax.set_title(tr("one grid, two clocks"))
        ax.legend(loc="upper center", fontsize=8)
        # one frame for every step count (the slider's range): the axes stay put as it moves
        ax.set_xlim(-0.5, max_steps + 0.5)
        ax.set_xticks(np.arange(0, max_steps + 1, 2))
        scatter(data, ax=fig.axes[1], color="0.8", s=3)
        scatter(
            a,
            ax=fig.axes[1],
            title=tr("{n} Euler steps, shift {shift:g}", n=n_steps, shift=shift),
            s=4,
        )
        return sig, a

    def draft(fig: Any, shift: float, n_steps: int) -> "str | bool":
        """The picture at once (it is cheap); its W2 (an optimal assignment) is measured next."""
        if (shift, n_steps) in measured:
            return False
        picture(fig, shift, n_steps)
        return tr("W<sub>2</sub> to the data: measuring…")

    def draw(fig: Any, shift: float, n_steps: int) -> str:
        sig, a = picture(fig, shift, n_steps)
        if (shift, n_steps) not in measured:
            with torch.no_grad():
                b = solve(model, x0, method="euler", time_grid=course_grid(sig, "diffusers")).x
            measured[shift, n_steps] = wasserstein2(a, data), float((a - b).abs().max())
        w2, diff = measured[shift, n_steps]
        stats.update(max_difference=diff, w2=w2, shift=shift)
        return tr(
            "W<sub>2</sub> to the data {w2:.3f}; diffusers loop vs course solve: largest "
            "difference {d:.1e}",
            w2=w2,
            d=stats["max_difference"],
        )

    controls = {
        "shift": W.FloatSlider(1.0, min=0.5, max=5.0, step=0.5, description=tr("shift")),
        "n_steps": W.IntSlider(4, min=1, max=max_steps, description=tr("steps")),
    }
    live = LivePlot(draw, controls, figsize=(9, 4.2), ncols=2, fixed_frame=True, draft=draft)
    live.stats = stats
    return live
