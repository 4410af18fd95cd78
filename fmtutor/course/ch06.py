"""Chapter 6 (midpoint sampling): the equal-cost and steps explorers, the midpoint-step exercise."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as W
import torch
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from torch import Tensor

from fmtutor._validate import check_points, check_positive_int
from fmtutor.course._mistakes import heun_step
from fmtutor.course.exercises import ExerciseResult, cases_step, check_function
from fmtutor.course.i18n import tr
from fmtutor.course.plots import MOONS_XLIM, MOONS_YLIM, scatter, style_axes
from fmtutor.course.widgets import LivePlot
from fmtutor.metrics import wasserstein2
from fmtutor.solvers import Midpoint, Solution, solve

__all__ = [
    "reference_midpoint_step",
    "check_midpoint_step",
    "sample_methods",
    "steps_explorer",
    "nfe_per_step",
    "equal_cost_paths",
    "nfe_explorer",
    "COLORS",
]

#: A colour per solver, the same in every figure of the chapter.
COLORS = {"euler": "#0072B2", "midpoint": "#E69F00", "heun": "#CC79A7", "rk4": "#009E73"}

Lim = tuple[float, float]


def reference_midpoint_step(
    u: Callable[[Tensor, Tensor], Tensor], x: Tensor, t: Tensor, h: Tensor
) -> Tensor:
    """x + h u(x + (h/2) u(x, t), t + h/2): one step of fmtutor.solvers.Midpoint."""
    return Midpoint().step(u, x, t, h)


def check_midpoint_step(student: Callable[..., Any], verbose: bool = True) -> ExerciseResult:
    """Check step(u, x, t, h) = x + h u(x + h/2 u(x, t), t + h/2)."""
    mistakes = {
        tr("that is Euler's step: evaluate u again at the midpoint x + (h/2) u(x, t)."): (
            lambda u, x, t, h: x + h * u(x, t)
        ),
        tr("the midpoint's time should be t + h/2, not t."): (
            lambda u, x, t, h: x + h * u(x + 0.5 * h * u(x, t), t)
        ),
        tr("you stepped a full h to the midpoint: it is x + (h/2) u(x, t)."): (
            lambda u, x, t, h: x + h * u(x + h * u(x, t), t + 0.5 * h)
        ),
        tr(
            "you returned the midpoint itself; take the full step from x with the midpoint's "
            "velocity."
        ): lambda u, x, t, h: x + 0.5 * h * u(x, t),
        tr(
            "that is Heun's step (the average of the slopes at t and at t + h), also second "
            "order: the midpoint rule takes one slope, at the midpoint x + (h/2) u(x, t), t + h/2."
        ): heun_step,
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
                color="#0072B2",
                label=tr("data"),
                xlim=xlim,
                ylim=ylim,
            )
            scatter(
                sol.x.detach(),
                ax=ax,
                s=3,
                alpha=0.6,
                color="#E69F00",
                label=tr("samples"),
                xlim=xlim,
                ylim=ylim,
            )
            w2 = wasserstein2(sol.x.detach(), reference)
            title = tr(
                "{m}: {n_steps} steps, NFE {nfe}\nW2 = {w2:.3f}",
                m=m,
                n_steps=n_steps,
                nfe=sol.nfe,
                w2=w2,
            )
            style_axes(ax, xlim, ylim, title)
            parts.append(f"{m}: NFE {sol.nfe}, W2 {w2:.3f}")
        fig.axes[0].legend(loc="upper right", markerscale=4)
        return tr("{n} steps. ", n=n_steps) + "; ".join(parts)

    slider = W.IntSlider(
        value=n_steps, min=1, max=max_steps, description=tr("steps"), continuous_update=False
    )
    return LivePlot(
        draw, {"n_steps": slider}, figsize=(4.0 * len(methods), 4.2), ncols=len(methods)
    )


def nfe_per_step(method: str) -> int:
    """Velocity evaluations per step of a solver: one step of fmtutor.solvers, counted."""
    return solve(lambda x, t: torch.zeros_like(x), torch.zeros(1, 2), method, n_steps=1).nfe


def equal_cost_paths(
    field_fn: Callable[..., Tensor],
    x0: Tensor,
    nfe: int,
    methods: Sequence[str] = ("euler", "midpoint", "rk4"),
) -> dict[str, Solution]:
    """Integrate x0 (B, d) from t = 0 to 1 with each method on the same budget of ``nfe``.

    A method with c evaluations per step takes nfe / c steps (nfe must be a multiple of every c).

    Returns:
        Solver name -> its Solution, with the trajectory (n_steps + 1, B, d).
    """
    nfe = check_positive_int(nfe, "nfe")
    cost = {m: nfe_per_step(m) for m in methods}
    bad = [m for m in methods if nfe % cost[m]]
    if bad:
        raise ValueError(
            f"nfe: expected a multiple of every method's evaluations per step {cost}, got {nfe} "
            f"(does not fit {bad})"
        )
    return {
        m: solve(field_fn, x0, m, n_steps=nfe // cost[m], return_trajectory=True) for m in methods
    }


def nfe_explorer(
    field_fn: Callable[..., Tensor],
    x0: Tensor,
    nfe: int = 8,
    max_nfe: int = 32,
    methods: Sequence[str] = ("euler", "midpoint", "rk4"),
    reference_steps: int = 200,
    xlim: Lim = MOONS_XLIM,
    ylim: Lim = MOONS_YLIM,
) -> LivePlot:
    """Solvers at equal cost: the slider sets the velocity evaluations (NFE) each method may spend.

    One panel per method. Drawn: the method's paths with a dot at each of its steps (recomputed
    at every slider move with ``equal_cost_paths``) and their ends; over them, the exact paths
    from x0 (thin black: RK4 with ``reference_steps`` steps, computed once) and their ends (black
    rings). A note in each panel gives its steps and the mean distance between the two ends.

    Args:
        field_fn: the velocity ``field(x, t)``.
        x0: the starting points, shape (B, 2) (about 20 paths stay readable).
        nfe: the initial budget; max_nfe: the slider's maximum. Both multiples of the methods'
            evaluations per step (4 with RK4); the slider moves in steps of that size.
        methods: solver names.
        reference_steps: RK4 steps of the exact paths.
        xlim, ylim: plot box.

    Returns:
        A LivePlot; ``live.state`` holds the budget drawn (``nfe``), the Solutions (``solutions``),
        the mean end-point errors (``errors``) and the exact paths (``reference``).
    """
    x0 = check_points(x0, "x0", dim=2)
    cost = {m: nfe_per_step(m) for m in methods}
    unit = math.lcm(*cost.values())
    for name, v in (("nfe", nfe), ("max_nfe", max_nfe)):
        if check_positive_int(v, name) % unit:
            raise ValueError(
                f"{name}: expected a multiple of {unit} (evaluations of one step of each method), "
                f"got {v}"
            )
    if not nfe <= max_nfe:
        raise ValueError(f"nfe: expected at most max_nfe = {max_nfe}, got {nfe}")
    n_ref = check_positive_int(reference_steps, "reference_steps")
    ref = solve(field_fn, x0, "rk4", n_steps=n_ref, return_trajectory=True)
    # drawn with at most ~50 segments a path: the exact path is smooth, and it is drawn 3 times
    thin = max(1, n_ref // 50)
    keep = sorted({*range(0, n_ref + 1, thin), n_ref})
    exact_paths = ref.trajectory[keep].detach().cpu().numpy().transpose(1, 0, 2)  # (B, ., 2)
    exact_end = ref.x.detach()
    ends = exact_end.cpu().numpy()
    state: dict[str, Any] = {"reference": ref}

    def draw(fig: Figure, nfe: int) -> str:
        with torch.no_grad():  # sampling needs no gradients: a third faster on a network
            # = equal_cost_paths(field_fn, x0, nfe, methods), its costs per step counted once
            sols = {
                m: solve(field_fn, x0, m, n_steps=nfe // cost[m], return_trajectory=True)
                for m in methods
            }
        errors, parts = {}, []
        for ax, (m, sol) in zip(fig.axes, sols.items()):
            # the numbers go inside the axes: a title that changes width would redo the layout
            style_axes(ax, xlim, ylim, m)
            if ax is not fig.axes[0]:  # one y scale on the left: no tick labels between panels
                ax.set_ylabel("")
                ax.tick_params(labelleft=False)
            traj = sol.trajectory.detach().cpu().numpy()  # (n_steps + 1, B, 2)
            k, color = len(traj) - 1, COLORS.get(m, "C0")
            ax.add_collection(
                LineCollection(traj.transpose(1, 0, 2), colors=color, lw=1.6), autolim=False
            )
            # the steps' points small, the end points larger; then the exact paths on top (marker
            # lines, not scatter: the same dots, drawn without per-point sizes and data limits)
            ax.plot(*traj[1:-1].reshape(-1, 2).T, "o", color=color, ms=5**0.5, mew=0)
            ax.plot(*traj[-1].T, "o", color=color, ms=4.0, mew=0)
            ax.add_collection(LineCollection(exact_paths, colors="black", lw=0.6), autolim=False)
            ax.plot(*ends.T, "o", ms=40**0.5, mfc="none", mec="black", mew=0.8)
            errors[m] = float((sol.x.detach() - exact_end).norm(dim=1).mean())
            note = tr(
                "{k} steps x {per} = {nfe} NFE\nmean end error {err:.3g}",
                k=k,
                per=sol.nfe // k,
                nfe=sol.nfe,
                err=errors[m],
            )
            ax.text(0.97, 0.03, note, transform=ax.transAxes, ha="right", va="bottom", fontsize=8,
                    bbox={"facecolor": "white", "alpha": 0.85, "linewidth": 0})  # fmt: skip
            parts.append(tr("{m} {k} steps, {err:.3g}", m=m, k=k, err=errors[m]))
        state.update(nfe=nfe, solutions=sols, errors=errors)
        return tr(
            "{nfe} evaluations each; mean distance of the ends to the exact ones (black: RK4, "
            "{ref_nfe} evaluations): ",
            nfe=nfe,
            ref_nfe=ref.nfe,
        ) + "; ".join(parts)

    slider = W.IntSlider(
        value=nfe, min=unit, max=max_nfe, step=unit, description="NFE", continuous_update=False
    )
    live = LivePlot(
        draw,
        {"nfe": slider},
        figsize=(3.0 * len(methods), 3.4),
        dpi=80,
        ncols=len(methods),
        fixed_frame=True,
    )
    live.state = state  # type: ignore[attr-defined]
    return live
