"""Widget builders of chapters 4-6: conditional vs marginal fields, a live loss curve, learned vs exact
fields, and a sampler that re-integrates when the number of steps changes.

Every builder returns an object with a ``.widget`` to display and works headless: set a control's
``.value`` and read ``.image.value`` (PNG bytes) or ``.text.value``.
"""

__all__ = ["conditional_vs_marginal", "LossCurve", "field_comparison", "field_error", "steps_explorer",
           "sample_methods"]

from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as W
import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor

from ._validate import check_points, check_positive_int
from .data import make_generator
from .exact import MarginalField
from .metrics import wasserstein2
from .paths import conditional_velocity
from .plots import quiver, scatter, style_axes
from .solvers import solve
from .figures import KeptFigure
from .widgets import LivePlot

Lim = tuple[float, float]
MOONS_XLIM: Lim = (-2.0, 3.0)
MOONS_YLIM: Lim = (-2.0, 2.5)


def conditional_vs_marginal(data: Tensor, x1: Tensor, t: float = 0.5, n_particles: int = 400, seed: int = 0,
                            xlim: Lim = MOONS_XLIM, ylim: Lim = MOONS_YLIM) -> LivePlot:
    """Two panels under a t slider: the conditional field u_t(x | x_1) = (x_1 - x) / (1 - t) with samples of
    p_{t|1}(. | x_1), and the marginal field u_t(x) (exact, for the empirical distribution of ``data``)
    with samples of p_t.

    Args:
        data: the data set, shape (N, 2).
        x1: the data point of the conditional panel, shape (2,) or (1, 2).
        t: initial time (the slider runs over [0, 0.95]).
        n_particles: particles drawn in each panel (the same noise X_0 in both).
        seed: seed of the particles.
        xlim, ylim: plot box.

    Returns:
        A LivePlot; its text reports the mean speed of each field at its particles.
    """
    data = check_points(data, "data", dim=2)
    x1 = check_points(torch.as_tensor(x1).reshape(1, -1), "x1", dim=2)
    n_particles = check_positive_int(n_particles, "n_particles")
    g = make_generator(seed)
    x0 = torch.randn(n_particles, 2, generator=g)
    x1_marg = data[torch.randint(0, data.shape[0], (n_particles,), generator=g)]
    field = MarginalField(data)

    def cond(x: Tensor, tt: Any) -> Tensor:
        return conditional_velocity(x, x1.expand_as(x), tt)

    def draw(fig: Figure, t: float) -> str:
        left, right = fig.axes
        xc = t * x1 + (1 - t) * x0
        xm = t * x1_marg + (1 - t) * x0
        quiver(cond, t, ax=left, xlim=xlim, ylim=ylim, n=15)
        scatter(xc, ax=left, s=4, alpha=0.5, color="tab:orange", xlim=xlim, ylim=ylim)
        left.plot(*x1[0].tolist(), marker="*", ms=14, color="tab:red", mec="k", ls="none", label="$x_1$")
        left.legend(loc="upper right")
        quiver(field, t, ax=right, xlim=xlim, ylim=ylim, n=15)
        scatter(xm, ax=right, s=4, alpha=0.5, color="tab:orange", xlim=xlim, ylim=ylim)
        style_axes(left, xlim, ylim, f"conditional $u_t(x\\mid x_1)$, t = {t:.2f}")
        style_axes(right, xlim, ylim, f"marginal $u_t(x)$, t = {t:.2f}")
        with torch.no_grad():
            sc, sm = cond(xc, t).norm(dim=1).mean().item(), field(xm, t).norm(dim=1).mean().item()
        return f"t = {t:.2f}: mean speed at the particles, conditional {sc:.2f}, marginal {sm:.2f}"

    slider = W.FloatSlider(value=t, min=0.0, max=0.95, step=0.05, description="t", continuous_update=False)
    return LivePlot(draw, {"t": slider}, figsize=(10, 4.6), ncols=2)


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

    Headless: call ``curve(step, loss)``; read ``curve.renders``, ``curve.image.value``, ``curve.smoothed()``.
    """

    def __init__(self, total_steps: int, floor: "float | None" = None, every: int = 250, window: int = 100,
                 figsize: tuple[float, float] = (6.0, 3.4), dpi: int = 80) -> None:
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
        """Running mean of the losses so far over the last ``window`` steps (shorter at the start), shape (S,)."""
        x = np.asarray(self.losses, float)
        c = np.concatenate([[0.0], np.cumsum(x)])
        i = np.arange(1, x.size + 1)
        lo = np.maximum(i - self.window, 0)
        return (c[i] - c[lo]) / (i - lo)

    def __call__(self, step: int, loss: float) -> None:
        """Record the loss of ``step`` (0-based); redraw every ``every`` steps and at the last step."""
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
            ax.axhline(self.floor, color="tab:red", ls="--", lw=1.5, label=f"floor {self.floor:.3f}")
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
            self.text.value = f"step {len(self.losses)} / {self.total}: running mean {sm[-1]:.3f}{gap}"
        return ax


def field_error(model: Callable[..., Tensor], target: Any, t: float, x: Tensor) -> float:
    """Relative squared error sum ||u_theta(x_i) - u_t(x_i)||^2 / sum ||u_t(x_i)||^2 at points x (B, d)."""
    with torch.no_grad():
        u = MarginalField(target)(x, t)
        v = model(x, t)
    return float(((v - u) ** 2).sum() / (u**2).sum().clamp_min(1e-30))


def field_comparison(model: Callable[..., Tensor], target: Tensor, t: float = 0.5, n_particles: int = 500, seed: int = 0,
                     xlim: Lim = MOONS_XLIM, ylim: Lim = MOONS_YLIM) -> LivePlot:
    """The learned field next to the exact one under a t slider; the text gives their relative error on p_t.

    Args:
        model: the trained network ``model(x, t)``.
        target: the data set it was trained on, shape (N, 2) (the exact field is that of its empirical law).
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
        quiver(model, t, ax=left, xlim=xlim, ylim=ylim, n=15, title=f"learned $u^\\theta_t$, t = {t:.2f}")
        quiver(exact, t, ax=right, xlim=xlim, ylim=ylim, n=15, title=f"exact $u_t$, t = {t:.2f}")
        xt = t * x1 + (1 - t) * x0
        for ax in (left, right):
            scatter(xt, ax=ax, s=3, alpha=0.35, color="tab:orange", xlim=xlim, ylim=ylim)
        err = field_error(model, target, t, xt)
        return f"t = {t:.2f}: relative error of the learned field on samples of p_t: {err:.3f}"

    slider = W.FloatSlider(value=t, min=0.0, max=0.95, step=0.05, description="t", continuous_update=False)
    return LivePlot(draw, {"t": slider}, figsize=(10, 4.6), ncols=2)


def sample_methods(field_fn: Callable[..., Tensor], x0: Tensor, n_steps: int,
                   methods: Sequence[str] = ("euler", "midpoint", "rk4")) -> dict[str, Any]:
    """Integrate the same noise x0 (B, d) from t = 0 to 1 with each method and n_steps steps; name -> Solution."""
    return {m: solve(field_fn, x0, m, n_steps=n_steps, return_trajectory=True) for m in methods}


def steps_explorer(field_fn: Callable[..., Tensor], x0: Tensor, reference: Tensor, n_steps: int = 4, max_steps: int = 32,
                   methods: Sequence[str] = ("euler", "midpoint", "rk4"), xlim: Lim = MOONS_XLIM,
                   ylim: Lim = MOONS_YLIM) -> LivePlot:
    """One panel per method: the samples and paths after integrating from x0 with the slider's number of steps.

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
            scatter(reference, ax=ax, s=3, alpha=0.25, color="tab:blue", label="data", xlim=xlim, ylim=ylim)
            scatter(sol.x.detach(), ax=ax, s=3, alpha=0.6, color="tab:orange", label="samples", xlim=xlim, ylim=ylim)
            w2 = wasserstein2(sol.x.detach(), reference)
            style_axes(ax, xlim, ylim, f"{m}: {n_steps} steps, NFE {sol.nfe}\nW2 = {w2:.3f}")
            parts.append(f"{m}: NFE {sol.nfe}, W2 {w2:.3f}")
        fig.axes[0].legend(loc="upper right", markerscale=4)
        return f"{n_steps} steps. " + "; ".join(parts)

    slider = W.IntSlider(value=n_steps, min=1, max=max_steps, description="steps", continuous_update=False)
    return LivePlot(draw, {"n_steps": slider}, figsize=(4.0 * len(methods), 4.2), ncols=len(methods))
