"""Chapter 5 (training): the live loss curve, learned vs exact fields, the CFM-loss exercise."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ipywidgets as W
import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor

from fmtutor._validate import check_points, check_positive_int
from fmtutor.course.exercises import ExerciseResult, check_function
from fmtutor.course.figures import KeptFigure
from fmtutor.course.plots import MOONS_XLIM, MOONS_YLIM, quiver, scatter
from fmtutor.course.widgets import LivePlot
from fmtutor.data import make_generator
from fmtutor.exact import MarginalField, field_error
from fmtutor.training import cfm_loss

__all__ = ["reference_cfm_loss", "check_cfm_loss", "LossCurve", "field_comparison"]

Lim = tuple[float, float]


def _cases_loss() -> list[tuple[Callable[[Tensor, Tensor], Tensor], Tensor, Tensor, Tensor]]:
    g = torch.Generator().manual_seed(3)
    x0, x1 = torch.randn(8, 2, generator=g), torch.randn(8, 2, generator=g) + 2
    t = torch.rand(8, 1, generator=g)

    def model(x: Tensor, t: Tensor) -> Tensor:
        return 0.5 * x + t

    return [(model, x0, x1, t)]


def reference_cfm_loss(
    model: Callable[[Tensor, Tensor], Tensor], x0: Tensor, x1: Tensor, t: Tensor
) -> Tensor:
    """mean_i || model(x_t, t) - (x1 - x0) ||^2 with x_t = (1 - t) x0 + t x1; t of shape (B, 1).

    ``fmtutor.training.cfm_loss``, which hands the model t of shape (B,): reshaped here to t's
    shape, so that ``model`` receives t as the exercise gives it.
    """
    return cfm_loss(lambda x, s: model(x, s.reshape(t.shape)), x0, x1, t)


def check_cfm_loss(student: Callable[..., Any], verbose: bool = True) -> ExerciseResult:
    """Check loss(model, x0, x1, t) = mean_i ||model(x_t, t) - (x1 - x0)||^2.

    Here x_t = (1 - t) x0 + t x1, with x0, x1 of shape (B, d) and t of shape (B, 1).
    """

    def with_xt(
        xt_fn: Callable[..., Tensor], target_fn: Callable[..., Tensor], reduce: str = "sum"
    ) -> Callable[..., Tensor]:
        def loss(model: Callable[..., Tensor], x0: Tensor, x1: Tensor, t: Tensor) -> Tensor:
            r = (model(xt_fn(x0, x1, t), t) - target_fn(x0, x1, t)) ** 2
            return r.sum(1).mean() if reduce == "sum" else r.mean()

        return loss

    good_xt, good_target = (lambda x0, x1, t: (1 - t) * x0 + t * x1), (lambda x0, x1, t: x1 - x0)
    mistakes = {
        "time is reversed: x_t = (1 - t) x0 + t x1 starts at the noise x0 when t = 0.": with_xt(
            lambda x0, x1, t: t * x0 + (1 - t) * x1, good_target
        ),
        "the target's sign is flipped: the regression target is x1 - x0.": with_xt(
            good_xt, lambda x0, x1, t: x0 - x1
        ),
        (
            "you averaged over coordinates too (like nn.MSELoss): "
            "sum the squares over coordinates, then average over the batch."
        ): with_xt(good_xt, good_target, "mean"),
        "the target should be x1 - x0, not x1.": with_xt(good_xt, lambda x0, x1, t: x1),
    }
    return check_function(student, reference_cfm_loss, _cases_loss(), mistakes, verbose=verbose)


class LossCurve:
    """A live training-loss plot to pass as ``callback`` to train_cfm / train_2d.

    The figure is redrawn only every ``every`` steps (and at the last step), so it costs a few
    renders per training run. It shows the raw loss, its running mean over ``window`` steps and an
    optional horizontal ``floor`` (the smallest reachable loss).

    Args:
        total_steps: the number of training steps (sets the x axis; the last step always redraws).
        floor: the loss floor to draw, or None.
        every: redraw period in steps.
        window: running-mean window in steps.
        figsize, dpi: of the PNG.

    Headless: call ``curve(step, loss)``; read ``curve.renders``, ``curve.image.value``,
    ``curve.smoothed()``.
    """

    def __init__(
        self,
        total_steps: int,
        floor: "float | None" = None,
        every: int = 250,
        window: int = 100,
        figsize: tuple[float, float] = (6.0, 3.4),
        dpi: int = 80,
    ) -> None:
        self.total = check_positive_int(total_steps, "total_steps")
        self.every = check_positive_int(every, "every")
        self.window = check_positive_int(window, "window")
        self.floor, self.dpi = floor, dpi
        self.losses: list[float] = []
        self.renders = 0
        self.kept = KeptFigure(figsize, ncols=1)
        self.fig = self.kept.fig
        self.image = W.Image(format="png")
        self.text = W.HTML()
        self.widget = W.VBox([self.image, self.text])

    def smoothed(self) -> np.ndarray:
        """Running mean of the losses over the last ``window`` steps (fewer at first): (S,)."""
        x = np.asarray(self.losses, float)
        c = np.concatenate([[0.0], np.cumsum(x)])
        i = np.arange(1, x.size + 1)
        lo = np.maximum(i - self.window, 0)
        return (c[i] - c[lo]) / (i - lo)

    def __call__(self, step: int, loss: float) -> None:
        """Record the loss of ``step`` (0-based); redraw every ``every`` steps and at the last."""
        self.losses.append(float(loss))
        if (step + 1) % self.every == 0 or step + 1 == self.total:
            self.draw()

    def draw(self, ax: Any = None) -> Any:
        """Draw the curve (onto ``ax`` if given, else into the widget's PNG); returns the Axes."""
        own = ax is None
        if own:
            self.kept.reset()
            ax = self.fig.axes[0]
        x = np.arange(1, len(self.losses) + 1)
        sm = self.smoothed()
        ax.plot(x, self.losses, color="tab:blue", alpha=0.25, lw=0.6, label="loss per step")
        ax.plot(x, sm, color="tab:blue", lw=1.8, label=f"running mean ({self.window} steps)")
        if self.floor is not None:
            ax.axhline(
                self.floor, color="tab:red", ls="--", lw=1.5, label=f"floor {self.floor:.3f}"
            )
        ax.set_xlim(0, self.total)
        if self.losses:
            lo = min(self.floor if self.floor is not None else np.inf, float(np.min(sm)))
            ax.set_ylim(0.9 * lo, max(float(np.percentile(self.losses, 99)), 1.1 * lo))
        ax.set_xlabel("training step")
        ax.set_ylabel("CFM loss")
        ax.legend(loc="upper right")
        ax.grid(alpha=0.3)
        if own:
            self.image.value = self.kept.png(self.dpi)
            self.renders += 1
            gap = "" if self.floor is None else f", {sm[-1] - self.floor:+.3f} above the floor"
            self.text.value = (
                f"step {len(self.losses)} / {self.total}: running mean {sm[-1]:.3f}{gap}"
            )
        return ax


def field_comparison(
    model: Callable[..., Tensor],
    target: Tensor,
    t: float = 0.5,
    n_particles: int = 500,
    seed: int = 0,
    xlim: Lim = MOONS_XLIM,
    ylim: Lim = MOONS_YLIM,
) -> LivePlot:
    """The learned field next to the exact one under a t slider; the text gives their error on p_t.

    Args:
        model: the trained network ``model(x, t)``.
        target: the data set it was trained on, shape (N, 2) (the exact field is that of its
            empirical law).
        t: initial time (the slider runs over [0, 0.95]).
        n_particles: samples X_t ~ p_t where the error is measured.
        seed: seed of those samples.
        xlim, ylim: plot box.
    """
    target = check_points(target, "target", dim=2)
    g = make_generator(seed)
    x0 = torch.randn(n_particles, 2, generator=g)
    x1 = target[torch.randint(0, target.shape[0], (n_particles,), generator=g)]
    exact = MarginalField(target)

    def draw(fig: Figure, t: float) -> str:
        left, right = fig.axes
        quiver(
            model,
            t,
            ax=left,
            xlim=xlim,
            ylim=ylim,
            n=15,
            title=f"learned $u^\\theta_t$, t = {t:.2f}",
        )
        quiver(exact, t, ax=right, xlim=xlim, ylim=ylim, n=15, title=f"exact $u_t$, t = {t:.2f}")
        xt = t * x1 + (1 - t) * x0
        for ax in (left, right):
            scatter(xt, ax=ax, s=3, alpha=0.35, color="tab:orange", xlim=xlim, ylim=ylim)
        err = field_error(model, target, t, xt)
        return f"t = {t:.2f}: relative error of the learned field on samples of p_t: {err:.3f}"

    slider = W.FloatSlider(
        value=t, min=0.0, max=0.95, step=0.05, description="t", continuous_update=False
    )
    return LivePlot(draw, {"t": slider}, figsize=(10, 4.6), ncols=2)
