"""Chapter 8 (likelihood): the likelihood explorer, the divergence and Hutchinson exercises."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as W
import torch
from torch import Tensor

from fmtutor._validate import check_points
from fmtutor.course.exercises import ExerciseResult, check_function
from fmtutor.course.widgets import LivePlot
from fmtutor.data import GaussianMixture
from fmtutor.exact import MarginalField
from fmtutor.likelihood import divergence_exact, divergence_hutchinson, jacobian, log_likelihood

__all__ = [
    "reference_divergence",
    "check_divergence",
    "reference_hutchinson",
    "check_hutchinson",
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
        "you summed every entry of the Jacobian (the gradient of u.sum() summed over coordinates): "
        "the divergence keeps only the diagonal du_i/dx_i.": (
            lambda f, x, t: jacobian(f, x, t).sum((1, 2))
        ),
        "only du_1/dx_1: add du_2/dx_2 (loop over the coordinates).": diag(0),
        "only du_2/dx_2: add du_1/dx_1 (loop over the coordinates).": diag(1),
        "you took the off-diagonal entries du_1/dx_2 + du_2/dx_1; the divergence needs "
        "du_i/dx_i.": lambda f, x, t: jacobian(f, x, t)[:, 0, 1] + jacobian(f, x, t)[:, 1, 0],
        "the sign is flipped: div u = +trace(du/dx) (the minus sign belongs to d/dt log p_t).": (
            lambda f, x, t: -jacobian(f, x, t).diagonal(dim1=1, dim2=2).sum(1)
        ),
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
        "you returned z . u(x): the estimate needs the derivative, z^T (du/dx) z (take the "
        "gradient of (u * z).sum()).": lambda f, x, t, z: (f(x, t) * z).sum(1),
        "you summed z^T J over coordinates without the second z: multiply the vector-Jacobian "
        "product by z, then sum.": (
            lambda f, x, t, z: torch.einsum("bi,bij->b", z, jacobian(f, x, t))
        ),
        "that is the exact divergence (trace of J): the exercise asks for the one-probe estimate "
        "z^T J z.": lambda f, x, t, z: jacobian(f, x, t).diagonal(dim1=1, dim2=2).sum(1),
    }
    return check_function(
        student, reference_hutchinson, _cases_hutchinson(), mistakes, verbose=verbose
    )


def likelihood_widget(
    target: Any,
    x: Tensor,
    steps: Sequence[int] = (1, 2, 4, 8, 16, 32, 64),
    estimators: Sequence[str] = ("exact", "1 probe", "4 probes", "16 probes"),
    method: str = "midpoint",
    n_steps: int = 8,
    estimator: str = "exact",
    seed: int = 0,
) -> Any:
    """A LivePlot: choose the solver steps and the divergence estimator, see log p_1(x) recomputed.

    The flow is the exact marginal field of ``target``; its log p_1(x) is compared with the target's
    true log-density.

    Args:
        target: a fmtutor.data.GaussianMixture (its MarginalField is the flow, its log_prob the
            truth).
        x: evaluation points, shape (B, d); float64 recommended.
        steps: the solver step counts offered.
        estimators: 'exact' or 'K probe(s)' (Hutchinson with K Rademacher probes).
        method: solver.
        n_steps, estimator: initial values.
        seed: seed of the Hutchinson probes.

    Returns:
        fmtutor.course.widgets.LivePlot with controls 'n_steps' and 'estimator' and a dict ``stats``
        (mean_abs, bias, max_abs, nfe, n_steps, estimator) refreshed at each redraw.
    """
    if not isinstance(target, GaussianMixture):
        raise TypeError(
            f"target: expected a fmtutor.data.GaussianMixture, got {type(target).__name__}"
        )
    x = check_points(x, "x", dim=target.dim)
    field, truth = MarginalField(target), target.log_prob(x)
    errors: dict[str, Any] = {}

    def draw(fig: Any, n_steps: int, estimator: str) -> str:
        kw: dict[str, Any] = {"estimator": "exact"}
        if estimator != "exact":
            kw = {"estimator": "hutchinson", "n_probes": int(estimator.split()[0]), "seed": seed}
        res = log_likelihood(field, x, n_steps=n_steps, method=method, details=True, **kw)
        err = (res.log_p1 - truth).double()
        errors.clear()
        errors.update(
            mean_abs=float(err.abs().mean()),
            bias=float(err.mean()),
            max_abs=float(err.abs().max()),
            nfe=res.nfe,
            n_steps=n_steps,
            estimator=estimator,
        )
        ax0, ax1 = fig.axes
        tr, est = truth.double().numpy(), res.log_p1.double().numpy()
        lo, hi = min(tr.min(), est.min()), max(tr.max(), est.max())
        ax0.plot([lo, hi], [lo, hi], color="black", lw=0.8, label="equal")
        ax0.scatter(tr, est, s=6, alpha=0.6, color="tab:blue")
        ax0.set_xlabel("true log q(x)")
        ax0.set_ylabel("computed log $p_1(x)$")
        ax0.set_title(f"{n_steps} {method} steps, {estimator}")
        ax0.legend(loc="upper left", fontsize=8)
        ax1.hist(err.numpy(), bins=30, color="tab:orange")
        ax1.axvline(0, color="black", lw=0.8)
        ax1.set_xlabel("error = computed - true")
        ax1.set_ylabel("number of points")
        ax1.set_title(f"mean |error| = {errors['mean_abs']:.3g}")
        return (
            f"{method}, {n_steps} steps ({res.nfe} velocity evaluations), divergence: "
            f"{estimator}. Mean |error| {errors['mean_abs']:.4f}, bias {errors['bias']:+.4f}, "
            f"max |error| {errors['max_abs']:.3f}"
        )

    controls = {
        "n_steps": W.SelectionSlider(
            options=list(steps), value=n_steps, description="solver steps", continuous_update=False
        ),
        "estimator": W.Dropdown(
            options=list(estimators), value=estimator, description="divergence"
        ),
    }
    live = LivePlot(draw, controls, figsize=(9, 4.2), ncols=2)
    live.stats = errors  # the same dict, refreshed by every redraw
    return live
