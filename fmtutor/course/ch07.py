"""Chapter 7 (couplings and optimal transport): pairings drawn and compared, OT and straightness."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as W
import numpy as np
import torch
from matplotlib.collections import LineCollection
from torch import Tensor

from fmtutor._validate import check_callable, check_positive_int
from fmtutor.couplings import _pair, brute_force_assignment, coupling_stats, ot_assignment
from fmtutor.course.exercises import ExerciseResult, check_function
from fmtutor.course.plots import new_axes, style_axes
from fmtutor.course.widgets import LivePlot
from fmtutor.data import make_generator
from fmtutor.trajectories import kinetic_energy

__all__ = [
    "reference_ot_pairing",
    "check_ot_pairing",
    "reference_straightness",
    "check_straightness",
    "plot_pairs",
    "pairing_widget",
]

Lim = tuple[float, float]


def _cases_pairing() -> list[tuple[Tensor, Tensor]]:
    cases = []
    for seed, b in (
        (0, 5),
        (5, 5),
        (3, 3),
    ):  # seeds where each typical mistake gives a different answer
        g = torch.Generator().manual_seed(seed)
        x0 = torch.randn(b, 2, generator=g)
        cases.append((x0, torch.randn(b, 2, generator=g) * 1.5 + torch.tensor([1.0, 0.5])))
    return cases


def _wrong_permutation(x0: Tensor, x1: Tensor, power: int = 2, largest: bool = False) -> Tensor:
    """A typical mistake's pairing: the brute force of brute_force_assignment with a wrong cost."""
    cost = torch.cdist(x0.double(), x1.double()) ** power
    perms = torch.tensor(list(itertools.permutations(range(x0.shape[0]))), dtype=torch.int64)
    totals = cost[torch.arange(x0.shape[0]), perms].sum(1)
    return perms[int(totals.argmax() if largest else totals.argmin())]


def reference_ot_pairing(x0: Tensor, x1: Tensor) -> Tensor:
    """The permutation s (B,) minimising sum_i ||x0[i] - x1[s[i]]||^2, by trying all B! (B <= 8).

    This is fmtutor.couplings.brute_force_assignment.
    """
    return brute_force_assignment(x0, x1)


def check_ot_pairing(student: Callable[..., Any], verbose: bool = True) -> ExerciseResult:
    """Check pairing(x0, x1) -> s (B,) int, the OT permutation: x1[s] is the partner of x0.

    The cases have B = 3 or 5 points in d = 2.
    """
    cases = _cases_pairing()
    try:
        got = student(*cases[0])
        if isinstance(got, Tensor) and got.shape == cases[0][1].shape:
            result = ExerciseResult(
                False,
                "you returned the re-ordered points x1[s]; return the index tensor s itself "
                "(shape (B,)).",
                "points",
            )
            if verbose:
                print("❌ " + result.message)
            return result
    except Exception:
        pass  # check_function reports it
    mistakes = {
        "that is the pairing as drawn (s = 0, 1, ..., B-1), the independent coupling: search over "
        "permutations.": lambda x0, x1: torch.arange(x0.shape[0]),
        "you returned the inverse permutation: s[i] must be the index of the data point given to "
        "noise point i, so that x1[s] lines up with x0 (try torch.argsort of your answer).": (
            lambda x0, x1: torch.argsort(brute_force_assignment(x0, x1))
        ),
        "you used distances ||x0 - x1||; the OT cost of flow matching is the squared distance "
        "||x0 - x1||^2.": lambda x0, x1: _wrong_permutation(x0, x1, power=1),
        "you maximised the total cost: keep the permutation with the smallest sum.": (
            lambda x0, x1: _wrong_permutation(x0, x1, largest=True)
        ),
    }
    return check_function(student, reference_ot_pairing, cases, mistakes, verbose=verbose)


def _cases_straightness() -> list[tuple[Tensor]]:
    g = torch.Generator().manual_seed(7)
    bent = torch.cumsum(torch.randn(9, 4, 2, generator=g) * 0.3, 0)  # wiggly paths, T = 8 steps
    line = torch.linspace(0, 1, 5)[:, None, None] * torch.tensor(
        [[[2.0, -1.0]], [[0.5, 0.5]]]
    ).transpose(0, 1)
    return [(bent,), (line + torch.tensor([1.0, 3.0]),)]


def reference_straightness(traj: Tensor) -> Tensor:
    """Discrete straightness of each path of a trajectory (T + 1, B, d), uniform grid on [0, 1].

    S = sum_k h ||(x_{k+1} - x_k) / h||^2 - ||x_T - x_0||^2, h = 1 / T: the kinetic energy of
    fmtutor.trajectories.kinetic_energy minus the squared displacement. Shape (B,).
    """
    times = torch.linspace(0, 1, traj.shape[0], dtype=torch.float64)
    return kinetic_energy(traj, times) - ((traj[-1] - traj[0]) ** 2).sum(-1)


def check_straightness(student: Callable[..., Any], verbose: bool = True) -> ExerciseResult:
    """Check straightness(traj) -> (B,) = sum_k |x_{k+1} - x_k|^2 / h - |x_T - x_0|^2, h = 1/T."""

    def energy(traj: Tensor, scale: float) -> Tensor:
        return ((traj[1:] - traj[:-1]) ** 2).sum(-1).sum(0) * scale

    def disp(traj: Tensor) -> Tensor:
        return ((traj[-1] - traj[0]) ** 2).sum(-1)

    mistakes = {
        "the 1/h is missing: the velocity on a step is (x_{k+1} - x_k) / h, and the time integral "
        "adds h ||v_k||^2, so each squared step is divided by h once.": (
            lambda tr: energy(tr, 1.0) - disp(tr)
        ),
        "you divided the squared steps by h^2: that is sum ||v_k||^2 without the dt = h of the "
        "time integral.": lambda tr: energy(tr, (tr.shape[0] - 1) ** 2) - disp(tr),
        "you forgot to subtract the squared displacement ||x_T - x_0||^2 (S = energy - "
        "displacement).": lambda tr: energy(tr, tr.shape[0] - 1),
        "the displacement must be squared: ||x_T - x_0||^2, not ||x_T - x_0||.": (
            lambda tr: energy(tr, tr.shape[0] - 1) - disp(tr).sqrt()
        ),
        "you used T + 1 (the number of grid points) for 1/h; there are T = traj.shape[0] - 1 "
        "steps.": lambda tr: energy(tr, tr.shape[0]) - disp(tr),
    }
    return check_function(
        student, reference_straightness, _cases_straightness(), mistakes, verbose=verbose
    )


def plot_pairs(
    x_0: Tensor,
    x_1: Tensor,
    ax: Any = None,
    title: "str | None" = None,
    lim: float = 4.0,
    legend: bool = False,
) -> Any:
    """Draw each pair as a grey segment from x_0[i] (black dot, noise) to x_1[i] (red dot, data).

    Args:
        x_0, x_1: paired points, shape (B, 2).
        ax: matplotlib Axes (a new one when None).
        title: axes title. lim: half-width of the square box. legend: add a legend.

    Returns:
        The Axes.
    """
    x_0, x_1 = _pair(x_0, x_1)
    if x_0.shape[1] != 2:
        raise ValueError(f"x_0: expected 2-D points of shape (B, 2), got {tuple(x_0.shape)}")
    ax = new_axes(ax)
    a, b = x_0.detach().cpu().numpy(), x_1.detach().cpu().numpy()
    n = a.shape[0]
    size, alpha = (
        min(10.0, 2000.0 / n),
        max(0.15, min(0.6, 64.0 / n)),
    )  # thinner marks for big batches
    ax.add_collection(
        LineCollection(np.stack([a, b], 1), colors="tab:gray", linewidths=0.7, alpha=alpha)
    )
    ax.scatter(a[:, 0], a[:, 1], s=size, color="black", label="$x_0$ (noise)", zorder=3)
    ax.scatter(b[:, 0], b[:, 1], s=size, color="tab:red", label="$x_1$ (data)", zorder=3)
    if legend:
        ax.legend(loc="lower right", fontsize=8)
    return style_axes(ax, (-lim, lim), title=title)


def pairing_widget(
    sampler: Callable[..., Tensor],
    sizes: Sequence[int] = (4, 8, 16, 32, 64, 128, 256, 512),
    value: int = 32,
    seed: int = 0,
    lim: float = 4.0,
) -> Any:
    """A LivePlot: pick a batch size; a fresh batch is paired independently and by OT, both drawn.

    Each change draws B noise points and B data points (seeded by ``seed`` and B), solves the OT
    assignment, draws the two pairings side by side and reports ``coupling_stats`` under the plot
    (the numbers are kept in ``live.stats``).

    Args:
        sampler: data sampler ``sampler(n, seed=...)`` returning (n, 2) points.
        sizes: the batch sizes offered by the slider.
        value: the initial batch size (one of sizes).
        seed: base seed of the batches.
        lim: half-width of the plotted box.

    Returns:
        fmtutor.course.widgets.LivePlot with control 'batch_size' and attribute ``stats`` (the
        coupling_stats of the batch on show, plus its batch_size).
    """
    check_callable(
        sampler, "sampler", "a data sampler sampler(n, seed=...), e.g. fmtutor.data.two_moons"
    )
    sizes = [check_positive_int(int(s), "sizes") for s in sizes]
    if value not in sizes:
        raise ValueError(f"value: expected one of sizes {sizes}, got {value}")
    stats: dict[str, float] = {}

    def draw(fig: Any, batch_size: int) -> str:
        x_1 = sampler(batch_size, seed=seed + batch_size)
        x_0 = torch.randn(x_1.shape, generator=make_generator(seed + 7 * batch_size + 1))
        stats.clear()
        stats.update(coupling_stats(x_0, x_1), batch_size=batch_size)
        plot_pairs(
            x_0, x_1, fig.axes[0], f"independent: {stats['crossings_independent']} crossings", lim
        )
        plot_pairs(
            x_0,
            x_1[ot_assignment(x_0, x_1)],
            fig.axes[1],
            f"minibatch OT: {stats['crossings_ot']} crossings",
            lim,
            legend=True,
        )
        return (
            f"B = {batch_size}: mean ||x<sub>1</sub> - x<sub>0</sub>||² = "
            f"{stats['cost_independent']:.2f} (independent) vs {stats['cost_ot']:.2f} (OT); "
            f"crossing pairs {stats['crossings_independent']} vs {stats['crossings_ot']}"
        )

    slider = W.SelectionSlider(
        options=sizes, value=value, description="batch size", continuous_update=False
    )

    live = LivePlot(draw, {"batch_size": slider}, figsize=(9, 4.6), ncols=2)
    live.stats = stats  # the same dict, refreshed by every redraw
    return live
