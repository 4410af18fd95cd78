"""Chapter 9 (schedulers and diffusion): the schedule and SDE explorers, conversion exercises."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import ipywidgets as W
import torch
from torch import Tensor

from fmtutor._validate import as_tensor, check_positive_int
from fmtutor.course.exercises import ExerciseResult, check_function
from fmtutor.course.i18n import tr
from fmtutor.course.plots import style_axes
from fmtutor.course.widgets import LivePlot
from fmtutor.data import make_generator
from fmtutor.metrics import wasserstein2
from fmtutor.paths import Scheduler, convert, get_scheduler
from fmtutor.sde import euler_maruyama

__all__ = [
    "reference_x1_from_velocity",
    "check_x1_from_velocity",
    "reference_score_from_velocity",
    "check_score_from_velocity",
    "schedule_widget",
    "sde_widget",
]

Lim = tuple[float, float]


def _cases_vt() -> list[tuple[Tensor, Tensor, Tensor]]:
    g = torch.Generator().manual_seed(9)
    v, x = torch.randn(6, 2, generator=g), torch.randn(6, 2, generator=g)
    t = torch.tensor([0.05, 0.2, 0.35, 0.5, 0.7, 0.9])[:, None]
    return [(v, x, t), (v[:1], x[:1], torch.tensor([[0.6]]))]


def reference_x1_from_velocity(v: Tensor, x: Tensor, t: Tensor) -> Tensor:
    """CondOT x_1-prediction from a velocity: E[X_1 | x_t] = x + (1 - t) v. v, x (B, d); t (B, 1).

    This is ``paths.convert(v, x, t, "velocity", "x1")``.
    """
    return convert(v, x, t, "velocity", "x1")


def check_x1_from_velocity(student: Callable[..., Any], verbose: bool = True) -> ExerciseResult:
    """Check x1(v, x, t) = x + (1 - t) v (CondOT: moving at speed v for the remaining time)."""
    mistakes = {
        tr("time runs backwards: the time left until t = 1 is 1 - t, not t."): (
            lambda v, x, t: x + t * v
        ),
        tr("the sign is flipped: move forward along v, x + (1 - t) v."): (
            lambda v, x, t: x - (1 - t) * v
        ),
        tr("you returned only the displacement (1 - t) v: add it to x."): lambda v, x, t: (
            (1 - t) * v
        ),
        tr(
            "the factor (1 - t) is missing: x + v is a full unit step, but only 1 - t of time is "
            "left."
        ): lambda v, x, t: x + v,
        tr(
            "that is the noise prediction x - t v (E[X_0 | x_t]); the data prediction moves "
            "forward."
        ): lambda v, x, t: x - t * v,
    }
    return check_function(
        student, reference_x1_from_velocity, _cases_vt(), mistakes, verbose=verbose
    )


def reference_score_from_velocity(v: Tensor, x: Tensor, t: Tensor) -> Tensor:
    """CondOT score from a velocity: -E[X_0 | x_t] / sigma_t = (t v - x) / (1 - t).

    v, x of shape (B, d); t (B, 1). This is ``paths.convert(v, x, t, "velocity", "score")``.
    """
    return convert(v, x, t, "velocity", "score")


def check_score_from_velocity(student: Callable[..., Any], verbose: bool = True) -> ExerciseResult:
    """Check score(v, x, t) = (t v - x) / (1 - t).

    The noise prediction is epsilon = x - t v, and score = -epsilon / sigma_t with sigma_t = 1 - t.
    """
    mistakes = {
        tr(
            "the sign is flipped: the score is MINUS epsilon / sigma_t (it points back towards the "
            "data)."
        ): lambda v, x, t: (x - t * v) / (1 - t),
        tr("you forgot to divide by sigma_t = 1 - t."): lambda v, x, t: t * v - x,
        tr("divide by sigma_t = 1 - t, not by the variance (1 - t)^2."): (
            lambda v, x, t: (t * v - x) / (1 - t) ** 2
        ),
        tr(
            "you used the data prediction x + (1 - t) v; the score needs the noise prediction "
            "x - t v."
        ): lambda v, x, t: -(x + (1 - t) * v) / (1 - t),
        tr("sigma_t is 1 - t for CondOT, not t."): lambda v, x, t: (t * v - x) / t,
    }
    return check_function(
        student, reference_score_from_velocity, _cases_vt(), mistakes, verbose=verbose
    )


def _log_snr_exact(alpha: float, sigma: float, tiny: float = 1e-12) -> float:
    """2 log(alpha / sigma) without a floor: -inf where alpha = 0, +inf where sigma = 0.

    Values below ``tiny`` count as 0 (cos(pi / 2) is 6e-17 in floating point, not 0).
    ``schedules.log_snr`` floors alpha and sigma at 1e-5 instead, which would show +-23.03.
    """
    if alpha < tiny:
        return -math.inf
    if sigma < tiny:
        return math.inf
    return 2.0 * (math.log(alpha) - math.log(sigma))


def _format_log_snr(value: float) -> str:
    """The log SNR as text, with the infinite ends written as -∞ and +∞."""
    if math.isinf(value):
        return "−∞" if value < 0 else "+∞"
    return f"{value:.2f}"


def schedule_widget(
    x_0: Tensor,
    x_1: Tensor,
    schedulers: "tuple[str | Scheduler, ...]" = ("condot", "cosine", "vp"),
    t: float = 0.5,
    n_lines: int = 12,
    lim: float = 4.0,
) -> Any:
    """A LivePlot with a slider over t: x_t = sigma_t x_0 + alpha_t x_1 under each scheduler.

    The same pairs (x_0, x_1) are used in every panel, side by side, so only the schedule differs.
    The text under the plot lists alpha_t, sigma_t and log SNR for each scheduler (-∞ where
    alpha_t = 0, +∞ where sigma_t = 0); ``live.state['rows']`` holds (name, alpha_t, sigma_t,
    log SNR) per panel, the log SNR as a float that is -inf or inf at those ends.

    Args:
        x_0: source points, shape (B, 2). x_1: data points, shape (B, 2).
        schedulers: Schedulers or names, one panel each.
        t: initial slider value.
        n_lines: how many pairs to draw with their whole path x_s, s in [0, 1].
        lim: half-width of the square axes.
    """
    x_0, x_1 = as_tensor(x_0, "x_0"), as_tensor(x_1, "x_1")
    if x_0.ndim != 2 or x_0.shape[1] != 2 or x_0.shape != x_1.shape:
        raise ValueError(
            f"x_0, x_1: expected two (B, 2) tensors, got {tuple(x_0.shape)} and {tuple(x_1.shape)}"
        )
    scheds = [get_scheduler(s) for s in schedulers]
    grid = torch.linspace(0, 1, 101, dtype=torch.float64)
    lines = []
    for sc in scheds:
        o = sc(grid)
        lines.append(
            (
                o.sigma_t[:, None, None] * x_0[None, :n_lines].double()
                + o.alpha_t[:, None, None] * x_1[None, :n_lines].double()
            ).numpy()
        )
    slider = W.FloatSlider(
        value=t, min=0.0, max=1.0, step=0.01, description="t", continuous_update=True
    )
    state: dict[str, Any] = {}

    def draw(fig: Any, t: float) -> str:
        rows = []
        for ax, sc, ln in zip(fig.axes, scheds, lines):
            o = sc(torch.tensor(t, dtype=torch.float64))
            xt = (o.sigma_t * x_0.double() + o.alpha_t * x_1.double()).numpy()
            ax.scatter(*x_1.numpy().T, s=2, color="0.8", label=tr("data $x_1$"))
            ax.plot(ln[:, :, 0], ln[:, :, 1], color="#0072B2", lw=0.8, alpha=0.7)
            ax.scatter(*xt.T, s=3, color="#D55E00", label="$x_t$")
            ls = _log_snr_exact(float(o.alpha_t), float(o.sigma_t))
            rows.append((sc.name, float(o.alpha_t), float(o.sigma_t), ls))
            name = _name(sc.name)
            style_axes(
                ax, (-lim, lim), title=f"{name}: α={float(o.alpha_t):.2f}, σ={float(o.sigma_t):.2f}"
            )
        state["rows"] = rows
        return "<br>".join(
            f"<b>{_name(n)}</b>: α_t = {a:.3f}, σ_t = {s:.3f}, log SNR = {_format_log_snr(ls)}"
            for n, a, s, ls in rows
        )

    live = LivePlot(
        draw,
        {"t": slider},
        figsize=(4.4 * len(scheds), 4.2),
        ncols=len(scheds),
        fixed_frame=True,
    )
    live.state = state
    return live


def sde_widget(
    model: Callable[..., Tensor],
    target_sampler: Callable[..., Tensor],
    scheduler: "str | Any" = "condot",
    n: int = 500,
    n_steps: int = 60,
    gamma: float = 0.0,
    lim: float = 4.5,
) -> Any:
    """A LivePlot with a slider over the noise level gamma (g_t = gamma sigma_t) of the SDE sampler.

    Left: samples and a few paths from the same x_0 and Brownian seed; the text reports the exact W2
    of the samples to fresh target samples. ``live.state['w2']`` holds the last W2.

    Args:
        model: velocity field ``model(x, t)``.
        target_sampler: ``sampler(n, seed=...)`` of the target, for the W2.
        scheduler: the model's scheduler.
        n: number of particles. n_steps: Euler-Maruyama steps.
        gamma: initial slider value.
        lim: half-width of the axes.
    """
    n = check_positive_int(n, "n")
    x0 = torch.randn(n, 2, generator=make_generator(0))
    ref = target_sampler(n, seed=7)
    slider = W.FloatSlider(
        value=gamma,
        min=0.0,
        max=3.0,
        step=0.25,
        description=tr("γ (noise)"),
        continuous_update=False,
    )
    state: dict[str, Any] = {}
    # the samples, paths and W2 at every slider position, computed here: a change then costs the
    # drawing alone (the SDE solve and the W2 took longer than a redraw should)
    solved: dict[float, tuple[Tensor, Any, float]] = {}
    for j in range(int(round((slider.max - slider.min) / slider.step)) + 1):
        g = round(slider.min + j * slider.step, 10)
        sol = euler_maruyama(model, x0, g, n_steps, scheduler, seed=1, return_trajectory=True)
        solved[g] = sol.x, sol.trajectory[:, :15].numpy(), wasserstein2(sol.x, ref)

    def draw(fig: Any, gamma: float) -> str:
        ax = fig.axes[0]
        key = round(gamma, 10)
        if key not in solved:  # a value set from code, off the slider's grid
            sol = euler_maruyama(
                model, x0, gamma, n_steps, scheduler, seed=1, return_trajectory=True
            )
            solved[key] = sol.x, sol.trajectory[:, :15].numpy(), wasserstein2(sol.x, ref)
        x, paths, w2 = solved[key]
        ax.scatter(*ref.numpy().T, s=3, color="0.8", label=tr("target"))
        ax.plot(paths[:, :, 0], paths[:, :, 1], color="#0072B2", lw=0.7, alpha=0.6)
        ax.scatter(*x.numpy().T, s=3, color="#D55E00", label=tr("samples"))
        state["w2"], state["x"] = w2, x
        style_axes(ax, (-lim, lim), title=f"Euler-Maruyama, γ = {gamma:.2f}")
        ax.legend(loc="upper right", fontsize=8)
        return tr(
            "W2(samples, target) = {w2:.3f} with {n} points, {n_steps} steps",
            w2=w2,
            n=n,
            n_steps=n_steps,
        )

    live = LivePlot(draw, {"gamma": slider}, figsize=(4.6, 4.4), ncols=1, fixed_frame=True)
    live.state = state
    return live


def _name(name: str) -> str:
    """A scheduler's name as a panel title shows it."""
    names = {"condot": "CondOT", "cosine": tr("cosine"), "vp": "VP", "polynomial": tr("polynomial")}
    return names.get(name, name)
