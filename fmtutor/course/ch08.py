"""Chapter 8 (likelihood): the divergence maps, the likelihood explorer, the two exercises."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as W
import numpy as np
import torch
from matplotlib.colors import SymLogNorm
from torch import Tensor

from fmtutor._validate import check_callable, check_points, check_positive_int
from fmtutor.course.exercises import ExerciseResult, check_function
from fmtutor.course.i18n import tr
from fmtutor.course.plots import grid_points, style_axes
from fmtutor.course.widgets import LivePlot
from fmtutor.data import GaussianMixture
from fmtutor.exact import MarginalField
from fmtutor.likelihood import (
    _probes,
    divergence_exact,
    divergence_hutchinson,
    jacobian,
    standard_normal_log_prob,
)
from fmtutor.solvers import solve

__all__ = [
    "reference_divergence",
    "check_divergence",
    "reference_hutchinson",
    "check_hutchinson",
    "divergence_maps",
    "integrated_jacobian",
    "likelihood_widget",
]

Lim = tuple[float, float]


def _curvy_field(x: Tensor, t: Tensor) -> Tensor:
    """A 2-D field whose Jacobian entries all differ (so each typical mistake is visible)."""
    return torch.stack(
        [
            torch.sin(x[:, 0]) * x[:, 1] + t * x[:, 0] ** 2,
            x[:, 0] ** 3 - 2 * torch.cos(x[:, 1]) + t,
        ],
        1,
    )


def _cases_divergence() -> list[tuple[Callable[..., Tensor], Tensor, Tensor]]:
    g = torch.Generator().manual_seed(11)
    a = torch.tensor([[0.5, 2.0], [-1.0, 1.5]])
    return [
        (
            _curvy_field,
            torch.randn(6, 2, generator=g, dtype=torch.float64),
            torch.tensor(0.3, dtype=torch.float64),
        ),
        (
            lambda x, t: x @ a.T.to(x.dtype) * (1 + t),
            torch.randn(4, 2, generator=g),
            torch.tensor(0.5),
        ),
    ]


def reference_divergence(field: Callable[..., Tensor], x: Tensor, t: Tensor) -> Tensor:
    """div u_t(x) = du_1/dx_1 + du_2/dx_2 at each point, shape (B,): likelihood.divergence_exact."""
    return divergence_exact(field, x, t)


def check_divergence(student: Callable[..., Any], verbose: bool = True) -> ExerciseResult:
    """Check divergence(field, x, t) -> (B,) = trace of the Jacobian du/dx at points x (B, 2)."""

    def diag(i: int) -> Callable[..., Tensor]:
        return lambda f, x, t: jacobian(f, x, t)[:, i, i]

    mistakes = {
        tr(
            "you summed every entry of the Jacobian (the gradient of u.sum() summed over "
            "coordinates): "
            "the divergence keeps only the diagonal du_i/dx_i."
        ): (lambda f, x, t: jacobian(f, x, t).sum((1, 2))),
        tr("only du_1/dx_1: add du_2/dx_2 (loop over the coordinates)."): diag(0),
        tr("only du_2/dx_2: add du_1/dx_1 (loop over the coordinates)."): diag(1),
        tr(
            "you took the off-diagonal entries du_1/dx_2 + du_2/dx_1; the divergence needs "
            "du_i/dx_i."
        ): lambda f, x, t: jacobian(f, x, t)[:, 0, 1] + jacobian(f, x, t)[:, 1, 0],
        tr(
            "the sign is flipped: div u = +trace(du/dx) (the minus sign belongs to d/dt log p_t)."
        ): (lambda f, x, t: -jacobian(f, x, t).diagonal(dim1=1, dim2=2).sum(1)),
    }
    return check_function(
        student, reference_divergence, _cases_divergence(), mistakes, verbose=verbose
    )


def _cases_hutchinson() -> list[tuple[Callable[..., Tensor], Tensor, Tensor, Tensor]]:
    g = torch.Generator().manual_seed(12)
    x = torch.randn(6, 2, generator=g, dtype=torch.float64)
    z = (torch.randint(0, 2, (6, 2), generator=g) * 2 - 1).to(torch.float64)
    return [
        (_curvy_field, x, torch.tensor(0.3, dtype=torch.float64), z),
        (
            _curvy_field,
            x,
            torch.tensor(0.8, dtype=torch.float64),
            torch.randn(6, 2, generator=g, dtype=torch.float64),
        ),
    ]


def reference_hutchinson(field: Callable[..., Tensor], x: Tensor, t: Tensor, z: Tensor) -> Tensor:
    """One-probe Hutchinson estimate z^T (du/dx) z at each point, shape (B,); x, z of shape (B, d).

    This is likelihood.divergence_hutchinson with the one probe z.
    """
    return divergence_hutchinson(field, x, t, z=z[None])


def check_hutchinson(student: Callable[..., Any], verbose: bool = True) -> ExerciseResult:
    """Check hutchinson(field, x, t, z) -> (B,) = z^T (du/dx) z, by one vector-Jacobian product."""
    mistakes = {
        tr(
            "you returned z . u(x): the estimate needs the derivative, z^T (du/dx) z (take the "
            "gradient of (u * z).sum())."
        ): lambda f, x, t, z: (f(x, t) * z).sum(1),
        tr(
            "you summed z^T J over coordinates without the second z: multiply the vector-Jacobian "
            "product by z, then sum."
        ): (lambda f, x, t, z: torch.einsum("bi,bij->b", z, jacobian(f, x, t))),
        tr(
            "that is the exact divergence (trace of J): the exercise asks for the one-probe "
            "estimate "
            "z^T J z."
        ): lambda f, x, t, z: jacobian(f, x, t).diagonal(dim1=1, dim2=2).sum(1),
    }
    return check_function(
        student, reference_hutchinson, _cases_hutchinson(), mistakes, verbose=verbose
    )


def divergence_maps(
    field: Callable[..., Tensor],
    times: Sequence[float],
    axes: Sequence[Any],
    lim: Lim = (-4.5, 4.5),
    n: int = 90,
    n_arrows: int = 15,
) -> np.ndarray:
    """div u_t on an n x n grid at each time, one panel each, on one shared colour scale.

    The scale is symmetric about 0 (white), linear within +-1 and logarithmic beyond, and spans
    the largest |div u_t| of all panels (nothing is clipped); black arrows show u_t's direction.
    One colour bar serves all the panels.

    Args:
        field: velocity field ``field(x, t)`` of 2-D points. times: one per panel.
        axes: matplotlib Axes, one per time (on one figure). lim: the square box (low, high).
        n: grid points per side. n_arrows: arrows per side.

    Returns:
        The divergences, shape (len(times), n, n) (rows run along x^(2)).
    """
    check_callable(field, "field", "a velocity field(x, t)")
    if len(axes) != len(times):
        raise ValueError(f"axes: expected one Axes per time ({len(times)}), got {len(axes)}")
    grid = grid_points(lim, n=check_positive_int(n, "n")).double()
    div = np.stack([divergence_exact(field, grid, t).reshape(n, n).numpy() for t in times])
    top = max(float(np.abs(div).max()), 1.0)
    norm = SymLogNorm(linthresh=1.0, vmin=-top, vmax=top, base=10)
    pts = grid_points(lim, n=check_positive_int(n_arrows, "n_arrows")).double()
    for ax, t, d in zip(axes, times, div):
        image = ax.imshow(d, origin="lower", extent=(*lim, *lim), cmap="RdBu_r", norm=norm)
        with torch.no_grad():
            v = field(pts, t).numpy()
        v = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
        scale = 1.6 * n_arrows / (lim[1] - lim[0])
        ax.quiver(*pts.numpy().T, *v.T, color="0.1", alpha=0.7, angles="xy", pivot="mid",
                  scale_units="xy", scale=scale, width=0.005)  # fmt: skip
        style_axes(ax, lim, title=tr("div $u_t$ at t = {t}", t=t))
    ticks = [v for v in (-100, -10, -1, 0, 1, 10, 100) if abs(v) <= top]
    bar = axes[0].figure.colorbar(image, ax=list(axes), shrink=0.8, ticks=ticks)
    bar.set_label(tr("div $u_t$  (blue: contracting, red: expanding)"))
    bar.ax.set_yticklabels([f"{v:g}" for v in ticks])
    return div


def integrated_jacobian(
    field: Callable[..., Tensor], x: Tensor, n_steps: int, method: str = "midpoint"
) -> tuple[Tensor, Tensor, int]:
    """The backward solve of log_likelihood, with the whole Jacobian in place of its trace.

    Solves d/dt [x, M] = [u_t(x), du_t/dx(x)] from [x, 0] at t = 1 to t = 0 (d backward passes per
    evaluation). Every divergence estimate is linear in the Jacobian and the path of x does not
    depend on it, so with the same solver

        log p_1(x) = log N(x_0; 0, I) + tr M                          (exact divergence)
        log p_1(x) = log N(x_0; 0, I) + (1/K) sum_k z_k^T M z_k       (Hutchinson, probes z_k)

    equal log_likelihood(..., estimator='exact' or 'hutchinson') up to rounding, for any number of
    probes at the cost of one solve.

    Returns:
        x_0 (B, d), M = -int_0^1 du_t/dx(x_t) dt (B, d, d), and the number of velocity evaluations.
    """
    check_callable(field, "field", "a velocity field(x, t)")
    x = check_points(x, "x")
    b, d = x.shape

    def augmented(y: Tensor, t: Tensor) -> Tensor:
        xs = y[:, :d]
        return torch.cat([field(xs, t), jacobian(field, xs, t).reshape(b, d * d)], 1)

    y_1 = torch.cat([x.detach(), x.new_zeros(b, d * d)], 1)
    sol = solve(augmented, y_1, method=method, n_steps=n_steps, t0=1.0, t1=0.0)
    return sol.x[:, :d], sol.x[:, d:].reshape(b, d, d), sol.nfe


def _est(estimator: str) -> str:
    """An estimator's name as the student reads it ('exact', 'K probe(s)')."""
    if estimator == "exact":
        return tr("exact")
    k = int(estimator.split()[0])
    return tr("1 probe") if k == 1 else tr("{k} probes", k=k)


def likelihood_widget(
    target: Any,
    x: Tensor,
    steps: Sequence[int] = (1, 2, 4, 8, 16, 32),
    estimators: Sequence[str] = ("exact", "1 probe", "4 probes", "16 probes", "64 probes"),
    method: str = "midpoint",
    n_steps: int = 8,
    estimator: str = "exact",
    seed: int = 0,
) -> Any:
    """A LivePlot: choose the solver steps and the divergence estimator, see log p_1(x) recomputed.

    The flow is the exact marginal field of ``target``; its log p_1(x) is compared with the target's
    true log-density. Each offered step count gets one backward solve (integrated_jacobian), made
    when the widget is built; a change of steps draws from that solve, a change of estimator
    applies it to the solve's M, which gives log_likelihood's numbers for that estimator
    (Rademacher probes drawn from ``seed``) without solving again.

    Args:
        target: a fmtutor.data.GaussianMixture (its MarginalField is the flow, its log_prob the
            truth).
        x: evaluation points, shape (B, d); float64 recommended.
        steps: the solver step counts offered. method: the solver.
        estimators: 'exact' or 'K probe(s)' (Hutchinson with K Rademacher probes).
        n_steps, estimator: initial values. seed: seed of the probes.

    Returns:
        fmtutor.course.widgets.LivePlot with controls 'n_steps' and 'estimator' and a dict ``stats``
        (mean_abs, bias, max_abs, nfe, n_steps, estimator, log_p1) refreshed at each redraw.
    """
    if not isinstance(target, GaussianMixture):
        raise TypeError(
            f"target: expected a fmtutor.data.GaussianMixture, got {type(target).__name__}"
        )
    x = check_points(x, "x", dim=target.dim)
    field, truth = MarginalField(target), target.log_prob(x).double()
    lo, hi = float(truth.min()), float(truth.max())
    box = (lo - 0.1 * (hi - lo), hi + 0.1 * (hi - lo))
    # one backward solve per step count offered, made here: a change of steps then costs the
    # drawing alone (32 steps would take longer than a redraw should), and a solve is the same
    # whenever it is made (tests/course/test_ch08.py compares with log_likelihood at each value)
    solved = {k: integrated_jacobian(field, x, k, method) for k in steps}
    errors: dict[str, Any] = {}

    def draw(fig: Any, n_steps: int, estimator: str) -> str:
        x_0, m, nfe = solved[n_steps]
        if estimator == "exact":
            delta = m.diagonal(dim1=1, dim2=2).sum(1)
        else:
            z = _probes(
                (int(estimator.split()[0]), *x.shape), "rademacher", seed, x.dtype, x.device
            )
            delta = torch.einsum("kbi,bij,kbj->b", z, m, z) / z.shape[0]
        log_p1 = standard_normal_log_prob(x_0) + delta
        err = (log_p1 - truth).double()
        errors.clear()
        errors.update(
            mean_abs=float(err.abs().mean()),
            bias=float(err.mean()),
            max_abs=float(err.abs().max()),
            nfe=nfe,
            n_steps=n_steps,
            estimator=estimator,
            log_p1=log_p1,
        )
        # fixed titles and limits (the numbers go below): the layout and the axes' pixels are kept
        ax0, ax1 = fig.axes
        ax0.plot(box, box, color="black", lw=0.8)
        ax0.scatter(truth.numpy(), log_p1.double().numpy(), s=6, alpha=0.6, color="#0072B2")
        ax0.set(xlim=box, ylim=box, title=tr("computed against true"))
        ax0.set(xlabel=tr("true log q(x)"), ylabel=tr("computed log $p_1(x)$"))
        frac = np.arange(1, len(truth) + 1) / len(truth)
        if estimator != "exact":  # the solver's own error: the same solve, the exact trace
            exact = standard_normal_log_prob(x_0) + m.diagonal(dim1=1, dim2=2).sum(1) - truth
            e0 = np.sort(exact.abs().double().numpy()).clip(1e-9)
            ax1.step(e0, frac, where="post", color="0.6", ls="--", label=tr("exact divergence"))
        e = np.sort(err.abs().numpy()).clip(1e-9)
        name = tr("exact divergence") if estimator == "exact" else f"Hutchinson, {_est(estimator)}"
        ax1.step(e, frac, where="post", color="#E69F00", label=name)
        ax1.legend(loc="upper left", fontsize=8)
        ax1.set_xscale("log")
        ax1.set(xlim=(1e-8, 10.0), ylim=(0.0, 1.02), title=tr("how large the errors are"))
        ax1.set(
            xlabel=tr("|computed - true|"), ylabel=tr("fraction of points with a smaller error")
        )
        return tr(
            "{method}, {n_steps} steps ({nfe} velocity evaluations), divergence: {estimator}. "
            "Mean |error| {mean:.2e}, bias {bias:+.2e}, max |error| {max:.2e}",
            method=method,
            n_steps=n_steps,
            nfe=nfe,
            estimator=_est(estimator),
            mean=errors["mean_abs"],
            bias=errors["bias"],
            max=errors["max_abs"],
        )

    controls = {
        "n_steps": W.SelectionSlider(
            options=list(steps),
            value=n_steps,
            description=tr("solver steps"),
            continuous_update=False,
        ),
        "estimator": W.Dropdown(
            options=[(_est(e), e) for e in estimators],
            value=estimator,
            description=tr("divergence"),
        ),
    }
    live = LivePlot(draw, controls, figsize=(9, 4.6), ncols=2, fixed_frame=True)
    live.stats = errors  # the same dict, refreshed by every redraw
    return live
