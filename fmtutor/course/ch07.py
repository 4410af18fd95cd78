"""Chapter 7 (couplings and optimal transport): pairings and learned paths drawn, the exercises."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as W
import numpy as np
import torch
from matplotlib.collections import LineCollection
from torch import Tensor

from fmtutor._validate import as_tensor, check_callable, check_points, check_positive_int
from fmtutor.couplings import (
    _pair,
    brute_force_assignment,
    count_crossings,
    ot_assignment,
    transport_cost,
)
from fmtutor.course import i18n
from fmtutor.course._mistakes import pairing_gap
from fmtutor.course._pairing_hints import ot_pairing_mistakes, straightness_mistakes
from fmtutor.course.exercises import ExerciseResult, check_function, rerun, say
from fmtutor.course.i18n import tr
from fmtutor.course.plots import OKABE_ITO, new_axes, style_axes
from fmtutor.course.widgets import LivePlot
from fmtutor.data import make_generator
from fmtutor.solvers import solve
from fmtutor.trajectories import kinetic_energy

__all__ = [
    "reference_ot_pairing",
    "check_ot_pairing",
    "reference_straightness",
    "check_straightness",
    "plot_pairs",
    "pairing_widget",
    "plot_paths",
    "plot_progress",
    "batch_paths_widget",
]


def _cases_pairing() -> list[tuple[Tensor, Tensor]]:
    cases = []
    for seed, b in ((0, 5), (5, 5), (3, 3)):  # seeds where each typical mistake answers otherwise
        g = torch.Generator().manual_seed(seed)
        x0 = torch.randn(b, 2, generator=g)
        cases.append((x0, torch.randn(b, 2, generator=g) * 1.5 + torch.tensor([1.0, 0.5])))
    return cases


def reference_ot_pairing(x0: Tensor, x1: Tensor) -> Tensor:
    """The permutation s (B,) minimising sum_i ||x0[i] - x1[s[i]]||^2, by trying all B! (B <= 8).

    This is fmtutor.couplings.brute_force_assignment.
    """
    return brute_force_assignment(x0, x1)


def check_ot_pairing(student: Callable[..., Any], verbose: bool = True) -> ExerciseResult:
    """Check pairing(x0, x1) -> s (B,) int, the OT permutation (x1[s] partners x0); B = 3 or 5.

    A permutation that is not the cheapest is told its cost gap (and named if it is greedy).
    """
    cases = _cases_pairing()
    mistakes = ot_pairing_mistakes()
    result = check_function(student, reference_ot_pairing, cases, mistakes, verbose=False)
    for x0, x1 in cases if result.status in ("shape", "wrong") else []:  # it returned: rerun it
        got = rerun(student, x0, x1)
        if isinstance(got, Tensor) and got.shape == x1.shape:
            msg = tr(
                "you returned the re-ordered points x1[s]; return the index tensor s itself (B,)."
            )
            result = ExerciseResult(False, msg, "points")
        gap = pairing_gap(got, x0, x1, reference_ot_pairing)
        if gap is not None:
            result = ExerciseResult(False, gap[1], gap[0])
        if result.status not in ("shape", "wrong"):
            break
    if verbose:
        say(result)
    return result


def _cases_straightness() -> list[tuple[Tensor]]:
    g = torch.Generator().manual_seed(7)
    bent = torch.cumsum(torch.randn(9, 4, 2, generator=g) * 0.3, 0)  # wiggly paths, T = 8 steps
    line = torch.linspace(0, 1, 5)[:, None, None] * torch.tensor([[[2.0, -1.0], [0.5, 0.5]]])
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

    mistakes = straightness_mistakes()
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
        x_0, x_1: paired points, shape (B, 2). ax: Axes (a new one when None).
        title: axes title. lim: half-width of the square box. legend: add a legend.
    """
    x_0, x_1 = _pair(x_0, x_1)
    if x_0.shape[1] != 2:
        raise ValueError(f"x_0: expected 2-D points of shape (B, 2), got {tuple(x_0.shape)}")
    ax = new_axes(ax)
    a, b = x_0.detach().cpu().numpy(), x_1.detach().cpu().numpy()
    n = a.shape[0]
    size, alpha = min(10.0, 2000.0 / n), max(0.15, min(0.6, 64.0 / n))  # thinner for big batches
    segments = LineCollection(np.stack([a, b], 1), colors="tab:gray", linewidths=0.7, alpha=alpha)
    ax.add_collection(segments)
    ax.scatter(*a.T, s=size, color="black", label=tr("$x_0$ (noise)"), zorder=3)
    ax.scatter(*b.T, s=size, color="#D55E00", label=tr("$x_1$ (data)"), zorder=3)
    if legend:
        ax.legend(loc="lower right", fontsize=8)
    return style_axes(ax, (-lim, lim), title=title)


def _batch_size_plot(
    draw: Callable[..., str], sizes: list, value: int, stats: dict, fixed_frame: bool = False
) -> Any:
    """A LivePlot of two panels with one 'batch_size' slider; ``live.stats`` is the draw's dict.

    ``fixed_frame``: the panels' limits and labels never change (LivePlot's option).
    """
    slider = W.SelectionSlider(
        options=sizes, value=value, description=tr("batch size"), continuous_update=False
    )
    live = LivePlot(
        draw, {"batch_size": slider}, figsize=(9, 4.6), ncols=2, fixed_frame=fixed_frame
    )
    live.stats = stats  # the same dict, refreshed by every redraw
    return live


def pairing_widget(
    sampler: Callable[..., Tensor],
    sizes: Sequence[int] = (4, 8, 16, 32, 64, 128, 256, 512),
    value: int = 32,
    seed: int = 0,
    lim: float = 4.0,
) -> Any:
    """A LivePlot: pick a batch size; a fresh batch is paired independently and by OT, both drawn.

    Each change draws B noise points and B data points (seeded by ``seed`` and B), solves the OT
    assignment live, draws the two pairings side by side and reports ``coupling_stats`` under the
    plot (the numbers are kept in ``live.stats``). Nothing is trained.

    Args:
        sampler: data sampler ``sampler(n, seed=...)`` returning (n, 2) points.
        sizes: the batch sizes offered by the slider; value: the initial one.
        seed: base seed of the batches. lim: half-width of the plotted box.

    Returns:
        fmtutor.course.widgets.LivePlot with control 'batch_size' and attribute ``stats`` (the
        coupling_stats of the batch on show, plus its batch_size).
    """
    check_callable(sampler, "sampler", "a data sampler sampler(n, seed=...), e.g. data.two_moons")
    sizes = [check_positive_int(int(s), "sizes") for s in sizes]
    if value not in sizes:
        raise ValueError(f"value: expected one of sizes {sizes}, got {value}")
    stats: dict[str, float] = {}

    def draw(fig: Any, batch_size: int) -> str:
        x_1 = sampler(batch_size, seed=seed + batch_size)
        x_0 = torch.randn(x_1.shape, generator=make_generator(seed + 7 * batch_size + 1))
        x_1ot = x_1[ot_assignment(x_0, x_1)]
        stats.clear()
        stats["batch_size"] = batch_size
        for name, x_1p in (("independent", x_1), ("ot", x_1ot)):  # = coupling_stats(x_0, x_1)
            stats[f"cost_{name}"] = transport_cost(x_0, x_1p)
            stats[f"crossings_{name}"] = count_crossings(x_0, x_1p)
        # fixed titles (the numbers go below the plot): the layout and the axes' pixels are kept
        plot_pairs(x_0, x_1, fig.axes[0], tr("independent pairs"), lim)
        plot_pairs(x_0, x_1ot, fig.axes[1], tr("minibatch-OT pairs"), lim, True)
        return tr(
            "B = {b}: mean ||x<sub>1</sub> - x<sub>0</sub>||² = {cost_ind:.2f} (independent) vs "
            "{cost_ot:.2f} (OT); crossing pairs {cross_ind} vs {cross_ot}",
            b=batch_size,
            cost_ind=stats["cost_independent"],
            cost_ot=stats["cost_ot"],
            cross_ind=stats["crossings_independent"],
            cross_ot=stats["crossings_ot"],
        )

    return _batch_size_plot(draw, sizes, value, stats, fixed_frame=True)


def plot_paths(
    traj: Any, ax: Any = None, title: "str | None" = None, lim: float = 4.5, legend: bool = False
) -> Any:
    """A few paths, each in its own colour (Okabe & Ito's palette), beside their straight chords.

    Each path x_0 -> x_T (solid) starts at a black dot and ends at a star; its chord is dashed, the
    chord's midpoint is a ring, and the particle's position at the middle time t = 1/2 a coloured
    dot. On a straight path travelled at uniform speed the dot sits in its ring.

    Args:
        traj: positions on a uniform time grid from t = 0 to 1, shape (T + 1, B, 2), T even.
        ax: Axes (a new one when None). title, lim (half-width of the box), legend: as it says.
    """
    tr = as_tensor(traj, "traj", finite=True).detach().cpu().double().numpy()
    if tr.ndim != 3 or tr.shape[2] != 2 or tr.shape[0] < 3 or (tr.shape[0] - 1) % 2:
        raise ValueError(
            f"traj: expected shape (T + 1, B, 2) with T even (t = 1/2), got {tr.shape}"
        )
    ax = new_axes(ax)
    # the course's colour-blind-safe palette (black is the chords' and starts'), in turn
    palette = [c for name, c in OKABE_ITO.items() if name != "black"]
    colors = [palette[i % len(palette)] for i in range(tr.shape[1])]
    ends, mid = np.stack([tr[0], tr[-1]], 1), 0.5 * (tr[0] + tr[-1])
    ax.add_collection(LineCollection(ends, colors="black", linewidths=1.0, linestyles=(0, (2, 2))))
    ax.add_collection(LineCollection(tr.transpose(1, 0, 2), colors=colors, linewidths=2.0))
    ax.plot([], [], "k--", lw=1.0, label=i18n.tr("straight chord"))
    midpoint = i18n.tr("its midpoint")  # i18n.tr: `tr` is the trajectory here
    ax.scatter(*mid.T, s=70, facecolors="none", edgecolors="black", lw=1.2, label=midpoint)
    half = tr[(tr.shape[0] - 1) // 2]
    ax.scatter(*half.T, s=30, c=colors, edgecolors="black", lw=0.5, zorder=4, label="$x_{1/2}$")
    ax.scatter(*tr[0].T, s=25, color="black", zorder=4, label="$x_0$")
    ax.scatter(*tr[-1].T, s=70, c=colors, marker="*", edgecolors="black", lw=0.5, zorder=4)
    if legend:
        ax.legend(loc="lower right", fontsize=8)
    return style_axes(ax, (-lim, lim), title=title)


def plot_progress(
    traj: Any, ax: Any = None, color: str = "#0072B2", label: "str | None" = None
) -> Any:
    """How far each particle has come along its chord, against t, and the line p = t.

    p_k = (x_k - x_0) . (x_T - x_0) / ||x_T - x_0||^2 for a trajectory on a uniform grid of [0, 1]:
    p = t on a straight path travelled at uniform speed, p < 0 where a particle first moves away
    from where it will end.

    Args:
        traj: positions, shape (T + 1, B, d). ax: Axes (a new one when None). color, label.
    """
    tr = as_tensor(traj, "traj", finite=True).detach().cpu().double()
    if tr.ndim != 3 or tr.shape[0] < 2:
        raise ValueError(f"traj: expected shape (T + 1, B, d) with T >= 1, got {tuple(tr.shape)}")
    chord = tr[-1] - tr[0]
    p = ((tr - tr[0]) * chord).sum(-1) / (chord**2).sum(-1).clamp_min(1e-12)
    ax = new_axes(ax)
    t = np.broadcast_to(np.linspace(0.0, 1.0, tr.shape[0])[:, None], p.shape)
    curves = np.stack([t, p.numpy()], -1).transpose(1, 0, 2)  # (B, T + 1, 2)
    ax.add_collection(LineCollection(curves, colors=color, linewidths=0.6, alpha=0.3))
    ax.plot([], [], color=color, label=label)
    uniform = i18n.tr("uniform speed")  # i18n.tr: `tr` is the trajectory here
    if not any(line.get_label() == uniform for line in ax.lines):
        ax.plot([0, 1], [0, 1], "k--", lw=1.0, label=uniform)
    covered = i18n.tr("p(t): share of the chord covered")
    ax.set(xlim=(0, 1), ylim=(-0.6, 1.1), xlabel="t", ylabel=covered)
    ax.set_title(i18n.tr("progress along the chord"))
    return ax


def batch_paths_widget(
    models: "dict[int, Callable[..., Tensor]]",
    starts: Tensor,
    x_0: Tensor,
    value: "int | None" = None,
    n_steps: int = 20,
    lim: float = 4.5,
) -> Any:
    """A LivePlot: pick the batch size a minibatch-OT model was trained with, see its flow.

    Nothing is trained on a change: ``models`` maps batch sizes to models trained once. Each is
    integrated once, when the widget is built (``n_steps`` midpoint steps, even), from ``starts``
    (n, 2) (drawn by plot_paths) and from ``x_0`` (B, 2) (plot_progress, and the straightness S:
    the ODE of fmtutor.couplings.flow_straightness, same steps, in the same solve); a change draws
    the chosen model's solve. ``lim``: the paths' box.

    Returns:
        fmtutor.course.widgets.LivePlot with control 'batch_size' (initially ``value``, default the
        smallest) and a dict ``stats`` (batch_size, straightness, trajectory of the paths drawn).
    """
    if not isinstance(models, dict) or not models:
        raise TypeError(f"models: expected a dict batch size -> model, got {type(models).__name__}")
    sizes = sorted(check_positive_int(b, "models (a batch size)") for b in models)
    _ = [check_callable(models[b], f"models[{b}]", "a velocity model(x, t)") for b in sizes]
    starts, x_0 = check_points(starts, "starts", dim=2), check_points(x_0, "x_0", dim=2)
    n = len(x_0)
    n_steps = check_positive_int(n_steps, "n_steps", minimum=2)
    if n_steps % 2:
        raise ValueError(f"n_steps: expected an even number (t = 1/2 on the grid), got {n_steps}")
    if (value := sizes[0] if value is None else value) not in sizes:
        raise ValueError(f"value: expected one of the models' batch sizes {sizes}, got {value}")
    stats: dict[str, Any] = {}
    k = len(starts)
    y_0 = torch.cat([torch.cat([starts, x_0.to(starts.dtype)]), starts.new_zeros(k + n, 1)], 1)

    def flow(model: Callable[..., Tensor]) -> Tensor:
        def augmented(y: Tensor, t: Tensor) -> Tensor:  # flow_straightness's ODE, path kept
            u = model(y[:, :2], t).to(y.dtype)
            return torch.cat([u, (u**2).sum(1, keepdim=True)], 1)

        with torch.no_grad():  # sampling needs no gradients
            return solve(augmented, y_0, n_steps=n_steps, return_trajectory=True).trajectory

    # the models are fixed: each is solved once, here, and a change of batch size draws its solve
    solved = {b: flow(models[b]) for b in sizes}

    def draw(fig: Any, batch_size: int) -> str:
        tr = solved[batch_size]
        paths, many = tr[:, :k, :2], tr[:, k:, :2]
        s = float((tr[-1, k:, 2] - ((many[-1] - many[0]) ** 2).sum(1)).mean())  # S = E - D
        stats.clear()
        stats.update(batch_size=batch_size, straightness=s, trajectory=paths)
        plot_paths(paths, fig.axes[0], i18n.tr("learned paths"), lim)
        plot_progress(many, fig.axes[1], color="#E69F00")
        return i18n.tr(  # i18n.tr: `tr` is the trajectory here
            "minibatch OT with batches of B = {b}: straightness S = {s:.3f} ({n} particles, "
            "{n_steps} midpoint steps)",
            b=batch_size,
            s=s,
            n=n,
            n_steps=n_steps,
        )

    return _batch_size_plot(draw, sizes, value, stats, fixed_frame=True)
