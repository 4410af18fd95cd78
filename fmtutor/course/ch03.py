"""Chapter 3 (probability paths): the path explorer and animation, x_t and log-density exercises."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any

import ipywidgets as W
import numpy as np
import torch
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from torch import Tensor

from fmtutor._validate import check_positive_int
from fmtutor.course._path_hints import log_prob_mistakes, sample_xt_mistakes
from fmtutor.course.animation import no_ticks, render_frames_of
from fmtutor.course.exercises import ExerciseResult, cases_xt, check_function
from fmtutor.course.i18n import tr
from fmtutor.course.plots import style_axes
from fmtutor.course.widgets import LivePlot, SolvedPaths
from fmtutor.data import GaussianMixture, eight_gaussians_mixture, make_generator
from fmtutor.exact import MarginalField, marginal_log_prob
from fmtutor.paths import AffinePath
from fmtutor.solvers import solve

__all__ = [
    "reference_sample_xt",
    "check_sample_xt",
    "reference_conditional_log_prob",
    "check_conditional_log_prob",
    "path_explorer",
    "particle_explorer",
    "PARTICLE_STEPS",
    "PathDemo",
    "path_frames",
]

Lim = tuple[float, float]

#: The particle explorer's step counts (a SelectionSlider): every (method, steps) is solved when the
#: widget is built (about 1,100 evaluations of the exact field, ~0.6 s), so a change only draws.
PARTICLE_STEPS = (1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 30, 40)


def reference_sample_xt(x0: Tensor, x1: Tensor, t: Tensor) -> Tensor:
    """X_t = t x1 + (1 - t) x0, a draw from p_{t|1}(. | x1) = N(t x1, (1 - t)^2 I).

    The CondOT path's ``fmtutor.paths.AffinePath().sample(x0, x1, t).x_t``. Shapes: x0, x1 (B, d);
    t (B, 1).
    """
    return AffinePath().sample(x0, x1, t).x_t


def check_sample_xt(student: Callable[..., Any], verbose: bool = True) -> ExerciseResult:
    """Check sample_xt(x0, x1, t) = t x1 + (1 - t) x0 for x0, x1 (B, d) and t (B, 1)."""
    cases = [(x0, x1, t) for x0, x1, t in cases_xt()]
    mistakes = sample_xt_mistakes()
    return check_function(student, reference_sample_xt, cases, mistakes, verbose=verbose)


def reference_conditional_log_prob(x: Tensor, x1: Tensor, t: Tensor) -> Tensor:
    """log p_{t|1}(x | x1) = log N(x; t x1, (1 - t)^2 I).

    = -|x - t x1|^2 / (2 (1 - t)^2) - d log(1 - t) - (d/2) log(2 pi).
    Shapes: x, x1 (B, d); t (B, 1) with t < 1. Returns (B,).
    """
    d = x.shape[1]
    s = (1 - t)[:, 0]
    return (
        -((x - t * x1) ** 2).sum(1) / (2 * s**2)
        - d * torch.log(s)
        - 0.5 * d * math.log(2 * math.pi)
    )


def check_conditional_log_prob(student: Callable[..., Any], verbose: bool = True) -> ExerciseResult:
    """Check log_prob(x, x1, t) = log N(x; t x1, (1 - t)^2 I) of shape (B,).

    Shapes: x, x1 (B, d); t (B, 1).
    """
    ref = reference_conditional_log_prob

    mistakes = log_prob_mistakes()
    g = torch.Generator().manual_seed(6)
    cases = []
    for x, x1, t in cases_xt():
        cases.append((x + 0.3 * torch.randn(x.shape, generator=g), x1, t))
    cases.append(
        (torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g), torch.full((4, 1), 0.4))
    )
    return check_function(student, ref, cases, mistakes, verbose=verbose)


def path_explorer(
    target: "GaussianMixture | None" = None,
    n: int = 4000,
    seed: int = 0,
    lim: Lim = (-4.5, 4.5),
    n_grid: int = 90,
) -> LivePlot:
    """A time slider over the CondOT probability path p_t: exact density vs a histogram of X_t.

    Left: p_t(x) from fmtutor.exact.marginal_log_prob on an n_grid x n_grid grid. Middle: 2-D
    histogram of X_t = t X_1 + (1 - t) X_0 (n fixed draws of X_0 ~ N(0, I), X_1 ~ target).
    Right: the first coordinate's density, exact (the grid integrated over x^(2)) vs the samples'
    histogram.
    ``live.state`` holds t, the grid's total mass (about 1) and the L1 gap of the 1-D comparison.
    """
    target = target or eight_gaussians_mixture()
    g = make_generator(seed)
    x0 = torch.randn(check_positive_int(n, "n"), 2, generator=g)
    x1 = target.sample(n, seed=g)
    if n_grid % 2:
        raise ValueError(
            f"n_grid: expected an even number (histograms use every other grid edge), got {n_grid}"
        )
    edges = np.linspace(*lim, n_grid + 1)
    coarse = edges[::2]
    centres = torch.as_tensor((edges[:-1] + edges[1:]) / 2, dtype=torch.float64)
    cell = float(edges[1] - edges[0])
    gy, gx = torch.meshgrid(centres, centres, indexing="ij")
    pts = torch.stack([gx.reshape(-1), gy.reshape(-1)], 1)
    state: dict[str, Any] = {}
    slider = W.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.05, description="t")
    # one y range for the 1-D panel over all slider times:
    # fixed axes let every redraw reuse their pixels
    peak = max(
        float(
            torch.exp(marginal_log_prob(pts, float(tt), target))
            .reshape(n_grid, n_grid)
            .sum(0)
            .max()
        )
        * cell
        for tt in np.arange(slider.min, slider.max + slider.step / 2, slider.step)
    )
    top = max(0.45, 1.1 * peak)

    def draw(fig: Figure, t: float) -> str:
        a1, a2, a3 = fig.axes
        dens = torch.exp(marginal_log_prob(pts, t, target)).reshape(n_grid, n_grid).numpy()
        xt = ((1 - t) * x0 + t * x1).numpy()
        hist, _, _ = np.histogram2d(xt[:, 1], xt[:, 0], bins=[coarse, coarse], density=True)
        vmax = dens.max()
        a1.imshow(dens, origin="lower", extent=(*lim, *lim), cmap="magma", vmin=0, vmax=vmax)
        style_axes(a1, lim, lim, tr("exact $p_t(x)$, $t$ = {t:.2f}", t=t))
        a2.imshow(hist, origin="lower", extent=(*lim, *lim), cmap="magma", vmin=0, vmax=vmax)
        style_axes(a2, lim, lim, tr("histogram of {n} samples $X_t$", n=n))
        exact_1d = dens.sum(0) * cell
        exact_coarse = exact_1d.reshape(-1, 2).mean(1)
        hist_1d, _ = np.histogram(xt[:, 0], bins=coarse, density=True)
        a3.plot(centres, exact_1d, color="black", lw=1.5, label=tr("exact"))
        a3.stairs(hist_1d, coarse, color="#E69F00", lw=1.5, label=tr("samples"))
        a3.set(
            xlim=lim,
            ylim=(0, top),
            xlabel="$x^{(1)}$",
            ylabel=tr("density of $x^{(1)}$"),
            title=tr("first coordinate"),
        )
        a3.set_box_aspect(1)
        a3.legend(fontsize=8, loc="upper right")
        mass = float(dens.sum() * cell**2)
        l1 = float(np.abs(hist_1d - exact_coarse).sum() * 2 * cell)
        state.update(t=t, mass=mass, l1=l1)
        return tr(
            "t = {t:.2f}: ∫ p_t dx ≈ {mass:.3f} on the grid; "
            "L1 gap between the 1-D histogram and the exact density: {l1:.3f}",
            t=t,
            mass=mass,
            l1=l1,
        )

    live = LivePlot(draw, {"t": slider}, figsize=(12.5, 3.8), ncols=3)
    live.state = state  # type: ignore[attr-defined]
    live.samples = (x0, x1)  # type: ignore[attr-defined]
    return live


def particle_explorer(
    target: "GaussianMixture | None" = None,
    n: int = 300,
    seed: int = 0,
    lim: Lim = (-4.5, 4.5),
    n_grid: int = 80,
) -> LivePlot:
    """Particles moved by the exact marginal field u_t over the density p_t, under a time slider.

    X_0 ~ N(0, I) (n points) is carried by MarginalField(target) with the chosen method and number
    of steps, solved once per setting (fmtutor.course.widgets.SolvedPaths); t moves the particles
    along the solution (between grid times by one partial step: where a solve stopped at t puts
    them) over a heat map of p_t (fmtutor.exact.marginal_log_prob). The text compares the mean
    log p_t at the particles with that at n direct samples X_t = t X_1 + (1 - t) X_0. Every method
    and step count of PARTICLE_STEPS is solved when the widget is built.

    Returns:
        A LivePlot; ``live.state`` holds the setting, t, the positions drawn (``x_t``) and both mean
        log-densities (``lp_flow``, ``lp_direct``); ``live.paths`` the SolvedPaths.
    """
    target = target or eight_gaussians_mixture()
    g = make_generator(seed)
    x0 = torch.randn(check_positive_int(n, "n"), 2, generator=g)
    pairs = (torch.randn(n, 2, generator=g), target.sample(n, seed=g))  # for direct samples
    field, paths = MarginalField(target), SolvedPaths(x0)
    centres = torch.linspace(*lim, check_positive_int(n_grid, "n_grid", 2))
    gy, gx = torch.meshgrid(centres, centres, indexing="ij")
    grid = torch.stack([gx.reshape(-1), gy.reshape(-1)], 1)
    shown = dict(
        origin="lower", extent=(*lim, *lim), cmap="Blues", vmin=0, interpolation="bilinear"
    )
    state: dict[str, Any] = {}
    methods = ["euler", "midpoint", "rk4"]
    for method in methods:
        for k in PARTICLE_STEPS:
            paths.solution("marginal", field, method, k)

    def draw(fig: Figure, method: str, n_steps: int, t: float) -> str:
        ax = fig.axes[0]
        path, x_t = paths.at("marginal", field, method, n_steps, t)
        dens = torch.exp(marginal_log_prob(grid, t, target)).reshape(n_grid, n_grid).numpy()
        ax.imshow(dens, vmax=dens.max(), **shown)
        trails = LineCollection(path[:, :50].numpy().transpose(1, 0, 2), lw=0.7, alpha=0.6)
        ax.add_collection(trails, autolim=False)  # fixed limits: the kept background is pasted
        trails.set_color("#D55E00")
        ax.scatter(*x_t.numpy().T, s=5, color="#D55E00", linewidths=0, zorder=3)
        direct = (1 - t) * pairs[0] + t * pairs[1]
        lp = marginal_log_prob(torch.cat([x_t, direct]), t, target)  # one call: cheaper
        lp_flow, lp_direct = float(lp[:n].mean()), float(lp[n:].mean())
        state.update(
            method=method, n_steps=n_steps, t=t, x_t=x_t, lp_flow=lp_flow, lp_direct=lp_direct
        )
        style_axes(ax, lim, lim, tr("density p_t, particles moved by u_t; t = {t:.2f}", t=t))
        nfe = paths.solution("marginal", field, method, n_steps).nfe
        return tr(
            "t = {t:.2f}: mean log p_t at the particles {lp_flow:.3f}, at direct samples "
            "X_t = t X_1 + (1 - t) X_0 {lp_direct:.3f} ({method}, {n_steps} steps, {nfe} "
            "evaluations of u)",
            t=t,
            lp_flow=lp_flow,
            lp_direct=lp_direct,
            method=method,
            n_steps=n_steps,
            nfe=nfe,
        )

    controls = {
        "method": W.Dropdown(options=methods, value="midpoint", description=tr("method")),
        "n_steps": W.SelectionSlider(
            options=PARTICLE_STEPS, value=10, description=tr("steps"), continuous_update=True
        ),
        "t": W.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.01, description="t"),
    }
    live = LivePlot(draw, controls, figsize=(5.0, 5.0))
    live.state, live.paths = state, paths  # type: ignore[attr-defined]
    return live


@dataclass
class PathDemo:
    """Particles carried by the exact marginal field: times (T + 1,), trajectory (T + 1, B, 2)."""

    times: Tensor
    trajectory: Tensor
    frames: list[bytes] = dc_field(repr=False)


def path_frames(
    target: "GaussianMixture | None" = None,
    n: int = 300,
    n_frames: int = 31,
    substeps: int = 3,
    seed: int = 0,
    lim: Lim = (-4.5, 4.5),
    n_grid: int = 80,
    dpi: int = 72,
) -> PathDemo:
    """Particles pushed by the exact marginal CondOT field over a heat map of p_t: u_t makes p_t."""
    target = target or eight_gaussians_mixture()
    n_frames = check_positive_int(n_frames, "n_frames", 2)
    x0 = torch.randn(check_positive_int(n, "n"), 2, generator=make_generator(seed))
    sol = solve(
        MarginalField(target),
        x0,
        method="midpoint",
        n_steps=(n_frames - 1) * substeps,
        return_trajectory=True,
    )
    traj, times = sol.trajectory[::substeps], sol.times[::substeps]
    pts_np = traj.numpy()
    centres = torch.linspace(*lim, n_grid, dtype=torch.float64)
    gy, gx = torch.meshgrid(centres, centres, indexing="ij")
    pts = torch.stack([gx.reshape(-1), gy.reshape(-1)], 1)

    fig = Figure(figsize=(4.4, 4.4))
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.07, top=0.93)
    ax = fig.add_subplot()
    img = ax.imshow(
        np.zeros((n_grid, n_grid)),
        origin="lower",
        extent=(*lim, *lim),
        cmap="Blues",
        interpolation="bilinear",
    )
    dots = ax.scatter(pts_np[0, :, 0], pts_np[0, :, 1], s=5, color="#D55E00", linewidths=0)
    style_axes(ax, lim, lim)
    no_ticks(ax, keep_labels=True)

    def update(i: int) -> None:
        dens = (
            torch.exp(marginal_log_prob(pts, float(times[i]), target))
            .reshape(n_grid, n_grid)
            .numpy()
        )
        img.set_data(dens)
        img.set_clim(0, dens.max())
        dots.set_offsets(pts_np[i])
        ax.set_title(tr("density p_t and particles, t = {t:.2f}", t=times[i]), fontsize=10)

    frames = render_frames_of(fig, update, n_frames, dpi)
    return PathDemo(times, traj, frames)
