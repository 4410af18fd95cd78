"""Chapter 2 (flows and ODEs): the flow explorer, deforming-grid animations, the Euler exercises."""

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
from fmtutor.course._euler_hints import euler_solver_mistakes, euler_step_mistakes
from fmtutor.course.animation import Trails, angle_colors, no_ticks, render_frames_of
from fmtutor.course.exercises import ExerciseResult, cases_step, check_function, rerun, say
from fmtutor.course.i18n import tr
from fmtutor.course.plots import style_axes
from fmtutor.course.widgets import LivePlot, SolvedPaths
from fmtutor.data import make_generator
from fmtutor.fields import FIELDS, ExampleField, MassMover, get_field
from fmtutor.solvers import Euler, solve

__all__ = [
    "reference_euler_step",
    "check_euler_step",
    "reference_euler_solver",
    "check_euler_solver",
    "flow_explorer",
    "trajectory_explorer",
    "FlowDemo",
    "flow_frames",
    "grid_lines",
]

Lim = tuple[float, float]


def reference_euler_step(
    u: Callable[[Tensor, Tensor], Tensor], x: Tensor, t: Tensor, h: Tensor
) -> Tensor:
    """One Euler step x + h u(x, t): ``fmtutor.solvers.Euler().step``."""
    return Euler().step(u, x, t, h)


def check_euler_step(student: Callable[..., Any], verbose: bool = True) -> ExerciseResult:
    """Check step(u, x, t, h) = x + h u(x, t)."""
    mistakes = euler_step_mistakes()
    return check_function(student, reference_euler_step, cases_step(), mistakes, verbose=verbose)


def reference_euler_solver(
    u: Callable[[Tensor, Tensor], Tensor], x0: Tensor, n_steps: int
) -> Tensor:
    """Euler from t = 0 to 1 in n_steps steps of h = 1 / n_steps: ``fmtutor.solvers.solve``.

    Returns all states, x0 first: shape (n_steps + 1, B, d).
    """
    return solve(u, x0, method="euler", n_steps=n_steps, return_trajectory=True).trajectory


def check_euler_solver(student: Callable[..., Any], verbose: bool = True) -> ExerciseResult:
    """Check euler_solver(u, x0, n_steps): the Euler trajectory from t = 0 to 1, x0 included.

    The trajectory has shape (n_steps + 1, B, d).
    """

    mistakes = euler_solver_mistakes()
    field, x, _, _ = cases_step()[0]
    cases = [(field, x, 5), (field, x[:2], 3)]
    result = check_function(student, reference_euler_solver, cases, mistakes, verbose=False)
    got = rerun(student, field, x, 5) if result.status == "shape" else None
    if isinstance(got, Tensor) and got.shape in ((5, 2), (5, 5, 2)):  # two shape slips named
        msg = (
            tr(
                "return every state, stacked: shape (n_steps + 1, B, d) with x0 first "
                "(torch.stack(states))."
            )
            if got.shape == (5, 2)
            else tr("the trajectory must start with x0: n_steps steps give n_steps + 1 states.")
        )
        result = ExerciseResult(False, msg, "mistake")
    if verbose:
        say(result)
    return result


def _solver_controls(names: list[str], max_steps: int) -> "dict[str, W.ValueWidget]":
    """A field menu (the spiral first if offered), a method menu and a steps slider (Euler, 4)."""
    first = "spiral" if "spiral" in names else names[0]
    return {
        "name": W.Dropdown(options=names, value=first, description=tr("field")),
        "method": W.Dropdown(options=["euler", "midpoint", "rk4"], description=tr("method")),
        "n_steps": W.IntSlider(value=4, min=1, max=max_steps, description=tr("steps")),
    }


def flow_explorer(
    names: "list[str] | None" = None, n_start: int = 3, lim: Lim = (-3.25, 3.25)
) -> LivePlot:
    """Numerical vs exact flow: pick a field, a solver and a number of steps; the error at t = 1.

    Solid: the exact flow t -> psi_t(x_0) from n_start points (black; radii 2.6, 2.0, 1.4, ...),
    ending at a star. Dashed with dots, same colour: the solver's states at its grid times.
    ``live.state`` holds the max error at t = 1 and the number of evaluations.
    """
    names = list(FIELDS) if names is None else names
    n_start = check_positive_int(n_start, "n_start")
    ang = torch.arange(n_start) * (2 * math.pi / n_start) + 0.3
    radius = 2.6 - 0.6 * torch.arange(n_start) % 2.4
    x0 = (radius[:, None] * torch.stack([torch.cos(ang), torch.sin(ang)], 1)).double()
    fine = torch.linspace(0, 1, 201, dtype=torch.float64)
    state: dict[str, Any] = {}
    fields = {nm: get_field(nm) for nm in names}
    # name -> the exact flow on the fine grid, (201, n_start, 2): all at once, so that the field
    # menu answers at once (one batched call per field: every start point at every time)
    at = (x0.repeat(len(fine), 1), fine.repeat_interleave(len(x0)))
    exact_paths = {
        nm: f.flow(*at).reshape(len(fine), *x0.shape).numpy() for nm, f in fields.items()
    }

    def draw(fig: Figure, name: str, method: str, n_steps: int) -> str:
        ax = fig.axes[0]
        f = fields[name]
        exact = exact_paths[name]
        sol = solve(f, x0, method=method, n_steps=n_steps, return_trajectory=True)
        num = sol.trajectory.numpy()
        err = float((sol.x - f.flow(x0, 1.0)).norm(dim=1).max())
        state.update(name=name, method=method, n_steps=n_steps, error=err, nfe=sol.nfe)
        for j in range(x0.shape[0]):
            c = f"C{j}"
            ax.plot(exact[:, j, 0], exact[:, j, 1], color=c, lw=1.5, alpha=0.6)
            ax.plot(num[:, j, 0], num[:, j, 1], "--o", color=c, ms=3.5, lw=1)
            ax.plot(*exact[-1, j], marker="*", ms=11, color=c, markeredgecolor="black", zorder=4)
        ax.scatter(x0[:, 0], x0[:, 1], s=30, color="black", zorder=3)
        style_axes(
            ax,
            lim,
            lim,
            tr(
                "{name}: {method}, {n_steps} steps\nsolid: exact $\\psi_t(x_0)$, "
                "star: $\\psi_1(x_0)$",
                name=name,
                method=method,
                n_steps=n_steps,
            ),
        )
        return tr(
            "{method} with {n_steps} steps ({nfe} evaluations of u): max |error| at t = 1 is "
            "{err:.2e}",
            method=method,
            n_steps=n_steps,
            nfe=sol.nfe,
            err=err,
        )

    live = LivePlot(
        draw, _solver_controls(names, max_steps=40), figsize=(5.0, 4.6), fixed_frame=True
    )
    live.state = state  # type: ignore[attr-defined]
    return live


def trajectory_explorer(
    names: "list[str] | None" = None, n: int = 16, seed: int = 0, lim: Lim = (-3.0, 3.0)
) -> LivePlot:
    """A time slider t that moves particles along the trajectories a solver computes, live.

    A new field (of fmtutor.fields), method (euler, midpoint, rk4) or number of steps solves the
    ODE from t = 0 to 1 with ``fmtutor.solvers.solve(..., return_trajectory=True)``, once per
    setting (SolvedPaths); t moves the particles along that solution (between grid times: one
    partial step of the same method, where a solve stopped at t puts them). Drawn: the solver's
    paths up to t (coloured, dots at grid times), the exact flow psi_s(x_0), s <= t (thin black),
    the particles (filled) and the exact psi_t(x_0) (black rings).

    Args:
        names: the fields offered (default: all of FIELDS). n: particles, x_0 ~ N(0, 0.8^2 I)
            (a + N(0, 0.5^2 I) for the mover). seed: seed of x_0. lim: the plot box.

    Returns:
        A LivePlot; ``live.state`` holds the setting, t, the positions drawn (``x_t``) and their
        largest distance to the exact flow (``error``); ``live.paths`` the SolvedPaths per field.
    """
    names = list(FIELDS) if names is None else names
    fields = {nm: get_field(nm) for nm in names}
    z = torch.randn(check_positive_int(n, "n"), 2, generator=make_generator(seed)).double()
    mover = {nm: isinstance(f, MassMover) for nm, f in fields.items()}
    starts = {nm: 0.5 * z + f.start.double() if mover[nm] else 0.8 * z for nm, f in fields.items()}
    paths = {nm: SolvedPaths(x0) for nm, x0 in starts.items()}
    fine = torch.linspace(0, 1, 101, dtype=torch.float64)
    exact: dict[str, np.ndarray] = {}  # name -> the exact flow on the fine grid, (101, n, 2)
    colors = angle_colors(z.numpy())
    state: dict[str, Any] = {}

    def draw(fig: Figure, name: str, method: str, n_steps: int, t: float) -> str:
        ax, f, x0 = fig.axes[0], fields[name], starts[name]
        if name not in exact:
            exact[name] = torch.stack([f.flow(x0, float(s)) for s in fine]).numpy()
        path, x_t = paths[name].at(name, f, method, n_steps, t)
        true_t = f.flow(x0, t)
        num, tt, xt = path.numpy(), true_t.numpy(), x_t.numpy()
        ex = np.concatenate([exact[name][: int((fine <= t + 1e-9).sum())], tt[None]])
        # fixed limits, no autoscaling: the kept background is pasted (figures.KeptFigure)
        for lines, c, lw in ((ex, "black", 0.8), (num, colors, 1.6)):
            segments = LineCollection(lines.transpose(1, 0, 2), colors=c, linewidths=lw)
            ax.add_collection(segments, autolim=False)
        ax.plot(tt[:, 0], tt[:, 1], "o", ms=8.5, mfc="none", mec="black", mew=1.0)
        k, m = len(num) - 1, len(xt)  # k grid states drawn small, then the m particles at t
        pts = np.concatenate([num[:-1].reshape(-1, 2), xt])
        edges = ["none"] * (k * m) + ["white"] * m
        sizes, fill = [6] * (k * m) + [30] * m, np.tile(colors, (k + 1, 1))
        ax.scatter(*pts.T, s=sizes, c=fill, edgecolors=edges, lw=0.5, zorder=3)
        err = float((x_t - true_t).norm(dim=1).max())
        nfe = paths[name].solution(name, f, method, n_steps).nfe
        state.update(name=name, method=method, n_steps=n_steps, t=t, x_t=x_t, error=err)
        # plain text: mathtext in a title that changes with t would be parsed at every step
        title = tr(
            "{name}: {method}, {n_steps} steps, t = {t:.2f}\ncoloured: solver; black: exact flow "
            "ψ_t(x_0)",
            name=name,
            method=method,
            n_steps=n_steps,
            t=t,
        )
        style_axes(ax, lim, lim, title)
        return tr(
            "t = {t:.2f}: the particles are at most {err:.2e} from the exact flow ({nfe} "
            "evaluations of u in the whole solve)",
            t=t,
            err=err,
            nfe=nfe,
        )

    controls = _solver_controls(names, max_steps=30)
    controls["t"] = W.FloatSlider(value=0.5, min=0.0, max=1.0, step=0.01, description="t")
    live = LivePlot(draw, controls, figsize=(5.0, 5.0))
    live.state, live.paths = state, paths  # type: ignore[attr-defined]
    return live


@dataclass
class FlowDemo:
    """Particles and grid lines carried by a flow.

    Shapes: times (T + 1,), particles (T + 1, B, 2), grid (T + 1, L, P, 2).
    """

    times: Tensor
    particles: Tensor
    grid: Tensor
    frames: list[bytes] = dc_field(repr=False)


def flow_frames(
    field: "str | ExampleField | Callable[[Tensor, Any], Tensor]",
    n: int = 300,
    n_frames: int = 32,
    substeps: int = 2,
    seed: int = 0,
    lim: Lim = (-3.0, 3.0),
    dpi: int = 66,
    grid_lim: Lim = (-2.0, 2.0),
    title: "str | None" = None,
) -> FlowDemo:
    """Frames of a flow: left, particles x_0 ~ N(0, I) and paths; right, a grid moved by psi_t.

    Both are integrated with RK4 (substeps per frame) from t = 0 to 1. grid_lim: the square the grid
    lines start on. title: the field's name in the panel title (default: ``field.name``).
    """
    f = get_field(field) if isinstance(field, str) else field
    if not callable(f):
        raise TypeError(
            f"field: expected a field name or a callable field(x, t), got {type(field).__name__}"
        )
    n_frames = check_positive_int(n_frames, "n_frames", 2)
    x0 = torch.randn(check_positive_int(n, "n"), 2, generator=make_generator(seed))
    lines = grid_lines(grid_lim, n_points=100)
    pts = torch.cat([x0, lines.reshape(-1, 2)])
    sol = solve(f, pts, method="rk4", n_steps=(n_frames - 1) * substeps, return_trajectory=True)
    traj = sol.trajectory[::substeps]
    particles, grid = traj[:, :n], traj[:, n:].reshape(n_frames, *lines.shape)
    times = sol.times[::substeps]
    p_np, g_np = particles.numpy(), grid.numpy()
    colors = angle_colors(p_np[0])
    title = title or getattr(f, "name", "field")

    fig = Figure(figsize=(8.4, 4.3))
    fig.subplots_adjust(left=0.04, right=0.99, bottom=0.07, top=0.92, wspace=0.1)
    a1, a2 = fig.subplots(1, 2)
    trails = Trails(a1, p_np, colors, lim)
    k = g_np.shape[1] // 2
    curves = [
        a2.plot(line[:, 0], line[:, 1], color="#0072B2" if j < k else "#E69F00", lw=1)[0]
        for j, line in enumerate(g_np[0])
    ]
    style_axes(a2, lim, lim)
    no_ticks(a1, keep_labels=True), no_ticks(a2, keep_labels=True)

    def update(i: int) -> None:
        trails.show(i, tr("{title}: particles, t = {t:.2f}", title=title, t=times[i]))
        for c, line in zip(curves, g_np[i]):
            c.set_data(line[:, 0], line[:, 1])
        a2.set_title(tr("grid moved by the flow, t = {t:.2f}", t=times[i]), fontsize=10)

    frames = render_frames_of(fig, update, n_frames, dpi)
    return FlowDemo(times, particles, grid, frames)


def grid_lines(lim: Lim = (-2.0, 2.0), n_lines: int = 9, n_points: int = 60) -> Tensor:
    """The lines of a square grid as polylines (horizontal, then vertical).

    Returns shape (2 n_lines, n_points, 2).
    """
    n_lines, n_points = (
        check_positive_int(n_lines, "n_lines", 2),
        check_positive_int(n_points, "n_points", 2),
    )
    a = torch.linspace(*lim, n_lines)
    s = torch.linspace(*lim, n_points)
    horiz = torch.stack([s[None].expand(n_lines, -1), a[:, None].expand(-1, n_points)], -1)
    vert = torch.stack([a[:, None].expand(-1, n_points), s[None].expand(n_lines, -1)], -1)
    return torch.cat([horiz, vert])
