"""Chapter 12 (flow matching on manifolds): sphere and torus plots, a rotating sphere, exercises."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import ipywidgets as W
import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor

from fmtutor._validate import as_tensor, check_positive_int
from fmtutor.course.exercises import ExerciseResult, check_function
from fmtutor.course.i18n import tr
from fmtutor.course.widgets import LivePlot
from fmtutor.manifolds import FlatTorus, Sphere

__all__ = [
    "reference_sphere_log",
    "check_sphere_log",
    "reference_sphere_step",
    "check_sphere_step",
    "sphere_axes",
    "plot_sphere",
    "plot_torus",
    "sphere_flow_widget",
]

_S2, _T2 = Sphere(3), FlatTorus(2)


def _unit(z: Tensor) -> Tensor:
    return z / z.norm(dim=-1, keepdim=True)


def _cases_log() -> list[tuple[Tensor, Tensor]]:
    g = torch.Generator().manual_seed(12)
    x = _unit(torch.randn(6, 3, generator=g, dtype=torch.float64))
    y = _unit(torch.randn(6, 3, generator=g, dtype=torch.float64))
    near = _unit(x + 0.1 * torch.randn(6, 3, generator=g, dtype=torch.float64))
    return [(x, y), (x, near), (x[:2], -_unit(x[:2] + 0.3 * y[:2]))]  # wide angles (> pi/2)


def reference_sphere_log(x: Tensor, y: Tensor) -> Tensor:
    """log_x(y) on S^2, shape (B, 3): theta v / |v|, v = y - <x, y> x, theta = arccos<x, y>.

    This is fmtutor.manifolds.Sphere().log.
    """
    return _S2.log(x, y)


def check_sphere_log(student: Callable[..., Any], verbose: bool = True) -> ExerciseResult:
    """Check sphere_log(x, y) -> (B, 3), the logarithm map of the unit sphere."""

    def v(x: Tensor, y: Tensor) -> Tensor:
        return y - (x * y).sum(-1, keepdim=True) * x

    def theta(x: Tensor, y: Tensor) -> Tensor:
        return torch.arccos((x * y).sum(-1, keepdim=True).clamp(-1, 1))

    mistakes = {
        tr(
            "you returned the chord y - x: it points through the ball, not along the sphere; keep "
            "only its part tangent at x, v = y - <x, y> x."
        ): lambda x, y: y - x,
        tr(
            "the direction is right but the length is |v| = sin(theta): a log map's length is the "
            "angle theta = arccos<x, y> itself, the geodesic distance (scale v by theta / |v|)."
        ): v,
        tr("you returned a unit vector: scale the direction v / |v| by theta = arccos<x, y>."): (
            lambda x, y: _unit(v(x, y))
        ),
        tr(
            "the length is right but the direction is y itself: remove the component along x first "
            "(v = y - <x, y> x), or the result is not tangent at x."
        ): (lambda x, y: theta(x, y) * _unit(y)),
        tr("the sign is flipped: log_x(y) points from x towards y."): lambda x, y: -_S2.log(x, y),
    }
    return check_function(student, reference_sphere_log, _cases_log(), mistakes, verbose=verbose)


def _cases_step() -> list[tuple[Tensor, Tensor, float]]:
    g = torch.Generator().manual_seed(21)
    x = _unit(torch.randn(5, 3, generator=g, dtype=torch.float64))
    v = 2.0 * torch.randn(5, 3, generator=g, dtype=torch.float64)  # not tangent: project it
    return [(x, v, 0.5), (x, v, 0.2), (x.flip(0), _S2.proju(x.flip(0), v), 0.4)]


def reference_sphere_step(x: Tensor, v: Tensor, h: float) -> Tensor:
    """One projected Euler step on S^2: exp_x(h P_x v), P_x v = v - <v, x> x; shape (B, 3)."""
    return _S2.exp(x, h * _S2.proju(x, v))


def check_sphere_step(student: Callable[..., Any], verbose: bool = True) -> ExerciseResult:
    """Check sphere_step(x, v, h) -> (B, 3), one Euler step that stays on the sphere."""
    mistakes = {
        tr(
            "that is the Euclidean Euler step x + h v: it leaves the sphere. Project v onto the "
            "tangent plane, then follow the great circle with the exp map."
        ): (lambda x, v, h: x + h * v),
        tr(
            "you normalised x + h v (a retraction): it stays on the sphere but is not the exp map, "
            "and v was not projected first. Use exp_x(h P_x v)."
        ): lambda x, v, h: _unit(x + h * v),
        tr(
            "v was not projected onto the tangent plane at x: use P_x v = v - <v, x> x before the "
            "exp map (the exp of a non-tangent vector leaves the sphere)."
        ): (lambda x, v, h: _S2.exp(x, h * v)),
        tr("the step size h is missing: move by exp_x(h P_x v), not exp_x(P_x v)."): (
            lambda x, v, h: _S2.exp(x, _S2.proju(x, v))
        ),
        tr(
            "you normalised x + h P_x v (a retraction): close to the exp map for small h, but not "
            "equal; follow the great circle, cos|w| x + sin|w| w / |w| with w = h P_x v."
        ): (lambda x, v, h: _unit(x + h * _S2.proju(x, v))),
    }
    return check_function(student, reference_sphere_step, _cases_step(), mistakes, verbose=verbose)


def sphere_axes(fig: Figure, elev: float = 20.0, azim: float = -60.0, pos: Any = 111) -> Any:
    """A 3-D Axes on ``fig`` with a unit-sphere wireframe, seen from (elev, azim) in degrees.

    ``pos``: the subplot position, 111 or (rows, cols, index).
    """
    ax = fig.add_subplot(*(pos if isinstance(pos, tuple) else (pos,)), projection="3d")
    u, w = np.meshgrid(np.linspace(0, 2 * np.pi, 25), np.linspace(0, np.pi, 13))
    sx, sy, sz = np.cos(u) * np.sin(w), np.sin(u) * np.sin(w), np.cos(w)
    ax.plot_wireframe(sx, sy, sz, color="0.8", linewidth=0.4)
    ax.view_init(elev=elev, azim=azim)
    ax.set(xlim=(-1, 1), ylim=(-1, 1), zlim=(-1, 1), xticks=[], yticks=[], zticks=[])
    ax.set_box_aspect((1, 1, 1), zoom=1.3)
    ax.set_axis_off()
    return ax


def plot_sphere(
    points: Any,
    ax: Any,
    color: Any = "#D55E00",
    s: float = 4.0,
    label: "str | None" = None,
    paths: Any = None,
) -> Any:
    """Scatter points (B, 3) on a sphere_axes Axes, the far side faint; ``paths`` (T + 1, P, 3).

    The near side is the points x with <x, d> >= 0, d the viewing direction of (elev, azim).
    """
    x = as_tensor(points, "points").detach().cpu().double().numpy()
    if x.ndim != 2 or x.shape[1] != 3:
        raise ValueError(f"points: expected shape (B, 3), got {x.shape}")
    if paths is not None:
        for p in as_tensor(paths, "paths").detach().cpu().double().numpy().transpose(1, 0, 2):
            ax.plot(*p.T, color="0.3", linewidth=0.8)
    # the far side of the sphere faintly, the near side (facing the viewer) in full
    e, a = np.radians(ax.elev), np.radians(ax.azim)
    near = x @ np.array([np.cos(e) * np.cos(a), np.cos(e) * np.sin(a), np.sin(e)]) >= 0
    ax.scatter(*x[~near].T, s=s, color=color, alpha=0.15, depthshade=False)
    ax.scatter(*x[near].T, s=s, color=color, label=label, depthshade=False)
    return ax


def plot_torus(
    points: Any,
    ax: Any,
    color: Any = "#D55E00",
    s: float = 4.0,
    title: "str | None" = None,
    paths: Any = None,
) -> Any:
    """Scatter angles (B, 2) in the square [0, 2 pi)^2, whose opposite sides are glued.

    ``paths`` (T + 1, P, 2) are drawn as curves broken where they wrap across a side.
    """
    x = as_tensor(points, "points").detach().cpu().double().numpy()
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"points: expected angles of shape (B, 2), got {x.shape}")
    if paths is not None:
        for p in as_tensor(paths, "paths").detach().cpu().double().numpy().transpose(1, 0, 2):
            jump = np.abs(np.diff(p, axis=0)).max(1) > math.pi
            p = np.insert(p, np.nonzero(jump)[0] + 1, np.nan, axis=0)  # break at a wrap
            ax.plot(*p.T, color="0.3", linewidth=0.8)
    ax.scatter(*x.T, s=s, color=color)
    ticks = [0, math.pi, 2 * math.pi]
    ax.set(xlim=(0, 2 * math.pi), ylim=(0, 2 * math.pi), aspect="equal", title=title)
    ax.set_xticks(ticks, ["0", "π", "2π"])
    ax.set_yticks(ticks, ["0", "π", "2π"])
    return ax


def sphere_flow_widget(traj: Any, data: Any = None, n_show: int = 400) -> LivePlot:
    """A LivePlot of samples on the sphere along a flow: sliders for t, azimuth and elevation.

    Args:
        traj: the states of a solve on a uniform grid of [0, 1], shape (T + 1, B, 3).
        data: data points (N, 3) drawn in grey behind the samples, or None.
        n_show: the number of particles drawn.

    Returns:
        LivePlot with controls 't', 'azimuth', 'elevation' and a dict ``stats`` (t, step, the
        largest | |x| - 1 | of the particles on show).
    """
    n_show = check_positive_int(n_show, "n_show")
    xs = as_tensor(traj, "traj", finite=True).detach().cpu().double()
    if xs.ndim != 3 or xs.shape[2] != 3 or xs.shape[0] < 2:
        raise ValueError(f"traj: expected shape (T + 1, B, 3) with T >= 1, got {tuple(xs.shape)}")
    n_steps, xs = xs.shape[0] - 1, xs[:, :n_show]
    ref = None if data is None else _S2.check(data, "data")[:n_show]
    stats: dict[str, Any] = {}

    def draw(fig: Figure, t: float, azimuth: float, elevation: float) -> str:
        k = int(round(t * n_steps))
        ax = sphere_axes(fig, elevation, azimuth)
        if ref is not None:
            plot_sphere(ref, ax, color="0.55", s=2, label=tr("data"))
        label = tr("samples at t = {t:.2f}", t=k / n_steps)
        plot_sphere(xs[k], ax, color="#D55E00", s=5, label=label)
        ax.legend(loc="upper left", fontsize=8)
        off = float((xs[k].norm(dim=-1) - 1).abs().max())
        stats.update(t=k / n_steps, step=k, off_sphere=off)
        return tr(
            "t = {t:.2f} (step {k} of {n}); max | |x| - 1 | = {off:.1e}",
            t=k / n_steps,
            k=k,
            n=n_steps,
            off=off,
        )

    controls = {
        "t": W.FloatSlider(1.0, min=0.0, max=1.0, step=1 / n_steps, description="t"),
        "azimuth": W.IntSlider(130, min=-180, max=180, step=10, description=tr("azimuth")),
        "elevation": W.IntSlider(30, min=-90, max=90, step=10, description=tr("elevation")),
    }
    for c in controls.values():
        c.continuous_update = False
    live = LivePlot(draw, controls, figsize=(5.2, 5.2), ncols=0)
    live.stats = stats
    return live
