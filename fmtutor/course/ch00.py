"""Chapter 0 (generative models): the likelihood explorer, transport animations, the KL exercise."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field as dc_field
from typing import Any

import ipywidgets as W
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor

from fmtutor._validate import check_positive_int
from fmtutor.couplings import ot_assignment
from fmtutor.course.animation import Trails, angle_colors, render_frames_of
from fmtutor.course.exercises import ExerciseResult, check_function
from fmtutor.course.i18n import tr
from fmtutor.course.widgets import LivePlot
from fmtutor.data import GaussianMixture, eight_gaussians_mixture, make_generator
from fmtutor.exact import MarginalField
from fmtutor.metrics import gaussian_kl, gaussian_log_likelihood
from fmtutor.solvers import solve

__all__ = [
    "reference_gaussian_kl",
    "check_gaussian_kl",
    "mle_explorer",
    "TransportDemo",
    "transport_frames",
    "spacetime_plot",
]

Lim = tuple[float, float]


def _cases_kl() -> list[tuple[Tensor, Tensor, Tensor, Tensor]]:
    g = torch.Generator().manual_seed(4)
    mu_p, mu_q = (
        torch.randn(6, generator=g, dtype=torch.float64),
        torch.randn(6, generator=g, dtype=torch.float64),
    )
    std_p, std_q = (
        0.3 + torch.rand(6, generator=g, dtype=torch.float64),
        0.3 + 2 * torch.rand(6, generator=g, dtype=torch.float64),
    )
    return [(mu_p, std_p, mu_q, std_q)]


def reference_gaussian_kl(mu_p: Tensor, std_p: Tensor, mu_q: Tensor, std_q: Tensor) -> Tensor:
    """KL(N(mu_p, std_p^2) || N(mu_q, std_q^2)), elementwise: ``fmtutor.metrics.gaussian_kl``.

    KL = log(std_q / std_p) + (std_p^2 + (mu_p - mu_q)^2) / (2 std_q^2) - 1/2.
    """
    return gaussian_kl(mu_p, std_p, mu_q, std_q)


def check_gaussian_kl(student: Callable[..., Any], verbose: bool = True) -> ExerciseResult:
    """Check kl(mu_p, std_p, mu_q, std_q) = KL(N(mu_p, std_p^2) || N(mu_q, std_q^2)), shape (B,)."""
    ref = reference_gaussian_kl
    mistakes = {
        tr(
            "you computed KL(q || p): the KL divergence is not symmetric; p is the first argument."
        ): lambda mp, sp, mq, sq: ref(mq, sq, mp, sp),
        tr(
            "the log term should be log(std_q / std_p), a ratio of standard deviations, "
            "not of variances."
        ): lambda mp, sp, mq, sq: (
            torch.log(sq**2 / sp**2) + (sp**2 + (mp - mq) ** 2) / (2 * sq**2) - 0.5
        ),
        tr("the constant - 1/2 is missing (check: KL(p || p) must be 0)."): lambda mp, sp, mq, sq: (
            ref(mp, sp, mq, sq) + 0.5
        ),
        tr(
            "square the standard deviations in the fraction: "
            "(std_p^2 + (mu_p - mu_q)^2) / (2 std_q^2)."
        ): lambda mp, sp, mq, sq: torch.log(sq / sp) + (sp + (mp - mq) ** 2) / (2 * sq) - 0.5,
    }
    return check_function(student, ref, _cases_kl(), mistakes, verbose=verbose)


def mle_explorer(
    mu_data: float = 1.0, std_data: float = 0.6, m: int = 2000, seed: int = 0
) -> LivePlot:
    """Sliders for a model N(mu, std^2) fitted to a 1-D data sample: likelihood and KL side by side.

    Left: histogram of the data, the true p_data and the model p_theta. Right: the average
    log-likelihood L(theta) over mu (std fixed at the slider's value) next to
    -KL(p_data || p_theta) + C with C = E log p_data = -(1/2) log(2 pi e std_data^2): the two
    curves agree up to sampling noise. Both panels keep one frame for every slider value (the left
    one tall enough for the narrowest model), so that a change redraws only the curves.
    ``live.state`` holds the last L, kl and C.
    """
    m = check_positive_int(m, "m", minimum=2)
    x = mu_data + std_data * torch.randn(m, generator=make_generator(seed), dtype=torch.float64)
    const = -0.5 * math.log(2 * math.pi * math.e * std_data**2)
    grid = torch.linspace(-3, 4, 300, dtype=torch.float64)
    mus = torch.linspace(-2, 3.5, 111, dtype=torch.float64)
    heights, edges = np.histogram(x.numpy(), bins=40, density=True)  # once: the data never change
    std_min = 0.3  # the std slider's lowest value (the speaker notes drop it to 0.3)
    # one frame for every sigma (the narrowest model's peak, the histogram): nothing is clipped,
    # and redraws paste the kept frame instead of a new layout
    top = max(0.8, 1.15 / (min(std_min, std_data) * math.sqrt(2 * math.pi)), 1.05 * heights.max())
    state: dict[str, float] = {}

    def pdf(z: Tensor, mu: float, std: float) -> np.ndarray:
        return (torch.exp(-0.5 * ((z - mu) / std) ** 2) / (std * math.sqrt(2 * math.pi))).numpy()

    def draw(fig: Figure, mu: float, std: float) -> str:
        ax1, ax2 = fig.axes
        ll = float(gaussian_log_likelihood(x, mu, std))
        kl = float(gaussian_kl(mu_data, std_data, mu, std))
        state.update(L=ll, kl=kl, C=const, mu=mu, std=std)
        ax1.stairs(heights, edges, fill=True, color="0.8", label=tr("data $x^i$"))
        ax1.plot(grid, pdf(grid, mu_data, std_data), "k--", lw=1.5, label=r"$p_{data}$")
        ax1.plot(grid, pdf(grid, mu, std), color="#D55E00", lw=2, label=r"$p_\theta$")
        ax1.set(
            xlim=(-3, 4),
            ylim=(0, top),
            xlabel="$x$",
            ylabel=tr("density"),
            title=tr(r"data and model $p_\theta$"),
        )
        ax1.legend(loc="upper left", fontsize=8)
        curve_l = gaussian_log_likelihood(x, mus, std).numpy()
        curve_kl = (-gaussian_kl(mu_data, std_data, mus, std) + const).numpy()
        ax2.plot(
            mus, curve_l, color="#0072B2", lw=3, alpha=0.6, label=tr(r"$L(\theta)$ (data average)")
        )
        ax2.plot(mus, curve_kl, "k--", lw=1.5, label=r"$-KL(p_{data}\|p_\theta) + C$")
        lo = -8.0
        ax2.plot(
            [mu], [max(ll, lo + 0.25)], "o" if ll > lo else "v", color="#D55E00", ms=8
        )  # "v": below the axes
        ax2.axvline(mu_data, color="0.6", lw=0.8)
        ax2.set(
            xlim=(-2, 3.5),
            ylim=(lo, -0.5),
            xlabel=tr(r"model mean $\mu$"),
            ylabel=tr("average log-likelihood"),
            title=tr(r"$\sigma$ = {std:.2f}: likelihood vs KL", std=std),
        )
        ax2.legend(loc="lower center", fontsize=8)
        return (
            f"L(θ) = {ll:.3f} &nbsp; KL(p_data‖p_θ) = {kl:.3f} &nbsp; L(θ) + KL = {ll + kl:.3f} "
            f"&nbsp; (C = E log p_data = {const:.3f})"
        )

    controls = {
        "mu": W.FloatSlider(
            value=-1.0, min=-2.0, max=3.0, step=0.05, description="μ", continuous_update=True
        ),
        "std": W.FloatSlider(
            value=1.5, min=std_min, max=2.5, step=0.05, description="σ", continuous_update=True
        ),
    }
    live = LivePlot(draw, controls, figsize=(9, 3.6), ncols=2, fixed_frame=True)
    live.state = state  # type: ignore[attr-defined]
    live.data = x  # type: ignore[attr-defined]
    return live


@dataclass
class TransportDemo:
    """Chapter 0's transports: trajectories (T + 1, B, 2) per method, their times, the frames."""

    times: Tensor
    trajectories: dict[str, Tensor]
    frames: list[bytes] = dc_field(repr=False)


def transport_frames(
    target: "GaussianMixture | None" = None,
    n: int = 120,
    n_frames: int = 32,
    substeps: int = 2,
    seed: int = 0,
    lim: Lim = (-4.2, 4.2),
    dpi: int = 72,
) -> TransportDemo:
    """Noise -> data three ways, rendered as frames of three panels.

    * ``diffusion (VP)``: the probability-flow ODE of a variance-preserving diffusion, i.e. the
      exact marginal field MarginalField(target, 'vp') integrated from x_0 ~ N(0, I);
    * ``flow matching``: the exact marginal field of the CondOT path,
      MarginalField(target, 'condot');
    * ``FM + OT pairs``: straight lines x_t = (1 - t) x_0 + t x_1[s] between noise and data samples
      paired by the optimal assignment s (ot_assignment).

    Args:
        target: the data distribution (default: the 8-Gaussians mixture).
        n: particles. n_frames: frames (times linspace(0, 1, n_frames)).
        substeps: midpoint steps per frame.
        seed: seed of x_0 and of the data sample. lim: axis limits. dpi: frame resolution.
    """
    target = target or eight_gaussians_mixture()
    n, n_frames, substeps = (
        check_positive_int(v, nm)
        for v, nm in ((n, "n"), (n_frames, "n_frames"), (substeps, "substeps"))
    )
    g = make_generator(seed)
    x0 = torch.randn(n, 2, generator=g)
    x1 = target.sample(n, seed=g)
    times = torch.linspace(0, 1, n_frames)
    grid = torch.linspace(0, 1, (n_frames - 1) * substeps + 1)
    trajs = {}
    for name, sched in (("diffusion (VP)", "vp"), ("flow matching", "condot")):
        sol = solve(
            MarginalField(target, sched),
            x0,
            method="midpoint",
            time_grid=grid,
            return_trajectory=True,
        )
        trajs[name] = sol.trajectory[::substeps]
    x1_ot = x1[ot_assignment(x0, x1)]
    trajs["FM + OT pairs"] = (1 - times)[:, None, None] * x0 + times[:, None, None] * x1_ot
    bg = target.sample(600, seed=seed + 1).numpy()
    np_trajs = {k: v.numpy() for k, v in trajs.items()}
    colors = {k: angle_colors(v[-1]) for k, v in np_trajs.items()}

    fig = Figure(figsize=(10.5, 3.9))
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.02, top=0.86, wspace=0.04)
    panels = [
        Trails(ax, path, colors[name], lim, bg, ticks=False)
        for ax, (name, path) in zip(fig.subplots(1, 3), np_trajs.items())
    ]

    def update(i: int) -> None:
        for p, name in zip(panels, np_trajs):
            p.show(i, f"{_label(name)}\nt = {times[i]:.2f}")

    frames = render_frames_of(fig, update, n_frames, dpi)
    return TransportDemo(times, trajs, frames)


def _label(method: str) -> str:
    """A transport's name (a key of TransportDemo.trajectories) in the chapter's language."""
    labels = {
        "diffusion (VP)": tr("diffusion (VP)"),
        "flow matching": tr("flow matching"),
        "FM + OT pairs": tr("FM + OT pairs"),
    }
    return labels.get(method, method)


def spacetime_plot(demo: TransportDemo, n: int = 40, fig: "Figure | None" = None) -> Figure:
    """The first coordinate x^(1) of n particles against time: one panel per method of a demo."""
    fig = fig or plt.figure(figsize=(10.5, 3.2), layout="constrained")
    axes = fig.subplots(1, len(demo.trajectories), sharey=True)
    t = demo.times.numpy()
    for ax, (name, path) in zip(axes, demo.trajectories.items()):
        x = path[:, :n].numpy()
        ax.plot(t, x[:, :, 0], color="#0072B2", lw=0.8, alpha=0.6)
        ax.set(title=_label(name), xlabel=tr("time $t$"), xlim=(0, 1))
    axes[0].set_ylabel("$x^{(1)}$")
    return fig
