"""Chapter 5 (training): the loss and step exercises, the chapter's loop, the live loss curve."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ipywidgets as W
import numpy as np
import torch
from matplotlib.figure import Figure
from torch import Tensor, nn
from tqdm.auto import trange

from fmtutor._validate import check_points, check_positive_int
from fmtutor.course._mistakes import cfm_loss_with, train_step_with
from fmtutor.course._training_hints import cfm_loss_slips, train_step_slips
from fmtutor.course.exercises import ExerciseResult, check_function
from fmtutor.course.figures import KeptFigure
from fmtutor.course.i18n import tr
from fmtutor.course.plots import MOONS_XLIM, MOONS_YLIM, quiver, scatter
from fmtutor.course.widgets import LivePlot, png_image, set_png
from fmtutor.data import make_generator, two_moons
from fmtutor.exact import MarginalField, field_error
from fmtutor.models import MLP
from fmtutor.training import cfm_loss

__all__ = [
    "reference_cfm_loss",
    "check_cfm_loss",
    "reference_train_step",
    "check_train_step",
    "MOONS_LOOP",
    "train_moons",
    "LossCurve",
    "field_comparison",
]

#: The settings of the chapter's training loop (the notebook's numbers; train_moons' defaults).
MOONS_LOOP: dict[str, Any] = {"hidden": 64, "steps": 2000, "batch_size": 256, "lr": 1e-2, "seed": 0}

Lim = tuple[float, float]


def _cases_loss() -> list[tuple[Callable[[Tensor, Tensor], Tensor], Tensor, Tensor, Tensor]]:
    g = torch.Generator().manual_seed(3)
    x0, x1 = torch.randn(8, 2, generator=g), torch.randn(8, 2, generator=g) + 2
    t = torch.rand(8, 1, generator=g)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        model = _ColumnNet()  # with parameters: a loss cut off from them is named
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

    mistakes = {hint: cfm_loss_with(slip) for hint, slip in cfm_loss_slips().items()}
    return check_function(student, reference_cfm_loss, _cases_loss(), mistakes, verbose=verbose)


def reference_train_step(
    net: Callable[..., Tensor], opt: torch.optim.Optimizer, x0: Tensor, x1: Tensor, t: Tensor
) -> float:
    """One CFM step: loss = mean_i ||net(x_t, t) - (x1 - x0)||^2, gradients reset, one update.

    x_t = (1 - t) x0 + t x1, with x0, x1 of shape (B, d) and t of shape (B, 1).

    Returns:
        The batch's loss before the update, a float.
    """
    loss = reference_cfm_loss(net, x0, x1, t)
    opt.zero_grad()
    loss.backward()
    opt.step()
    return loss.item()


class _ColumnNet(nn.Module):
    """A small u(x, t) that, like the chapter's network, takes t as a column of shape (B, 1)."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 2))

    def forward(self, x: Tensor, t: Tensor) -> Tensor:
        if not isinstance(t, Tensor) or t.shape != (x.shape[0], 1):
            got = tuple(t.shape) if isinstance(t, Tensor) else type(t).__name__
            raise ValueError(f"the network takes t of shape ({x.shape[0]}, 1), got {got}")
        return self.layers(torch.cat([x, t], 1))


def _two_steps(step: Callable[..., Any]) -> Callable[..., "Tensor | None"]:
    """``step`` run twice on a fresh network and Adam: [loss 1, loss 2, weights after], (P + 2,)."""

    def run(*batches: Tensor) -> "Tensor | None":
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(5)
            net = _ColumnNet()
        opt = torch.optim.Adam(net.parameters(), lr=0.05)
        losses = [step(net, opt, *batches[:3]), step(net, opt, *batches[3:])]
        if any(v is None for v in losses):
            return None
        values = [torch.as_tensor(v).detach().double() for v in losses]
        if any(v.numel() != 1 for v in values):
            got = [tuple(v.shape) for v in values]
            raise ValueError(f"return the batch's loss, one number; got shapes {got}")
        weights = torch.cat([p.detach().flatten() for p in net.parameters()]).double()
        return torch.cat([torch.stack([v.reshape(()) for v in values]), weights])

    return run


def check_train_step(student: Callable[..., Any], verbose: bool = True) -> ExerciseResult:
    """Check step(net, opt, x0, x1, t): the CFM loss, zero_grad, backward, opt.step(); the loss.

    The step runs twice in a row on a fresh small network (t of shape (B, 1)) and Adam; the two
    losses it returns and the weights after it are compared with reference_train_step's.
    """
    g = torch.Generator().manual_seed(4)
    draw = [(torch.randn(8, 2, generator=g), torch.randn(8, 2, generator=g) + 2) for _ in "ab"]
    case = tuple(v for x0, x1 in draw for v in (x0, x1, torch.rand(8, 1, generator=g)))
    mistakes = {
        hint: _two_steps(train_step_with(slip)) for hint, slip in train_step_slips().items()
    }
    run = _two_steps(student) if callable(student) else student
    return check_function(run, _two_steps(reference_train_step), [case], mistakes, verbose=verbose)


def train_moons(
    hidden: int = 64,
    steps: int = 2000,
    batch_size: int = 256,
    lr: float = 1e-2,
    seed: int = 0,
    until: "int | None" = None,
    progress: bool = False,
) -> tuple[MLP, np.ndarray]:
    """Chapter 5's training loop as a function: what ``cache.moons_model()`` trains.

    Step for step the notebook's loop (tests/course/test_ch05.py checks the weights are equal): an
    MLP(2, hidden, depth 3, SiLU) initialised after ``torch.manual_seed(seed)``; Adam at ``lr``
    with a cosine decay to 0 over ``steps``; each step draws fresh two-moons data x1 (B, 2), noise
    x0 (B, 2) and times t (B, 1) from one generator seeded with seed + 1 and runs
    reference_train_step. The chapters run it on one CPU thread (``setup()``). ``until`` stops
    after that many steps (the schedule still spans ``steps``): the first losses of a run, cheaply.
    ``progress``: show tqdm's progress bar (a widget in a notebook, stderr elsewhere).

    Returns:
        (the model in eval mode, the loss of every step run, shape (steps,) or (until,)).
    """
    steps, batch = check_positive_int(steps, "steps"), check_positive_int(batch_size, "batch_size")
    torch.manual_seed(seed)
    model = MLP(dim=2, hidden=check_positive_int(hidden, "hidden"), depth=3)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    decay = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps)
    run = steps if until is None else min(check_positive_int(until, "until"), steps)
    g, losses = make_generator(seed + 1), np.empty(run)
    for step in trange(run, disable=not progress, desc="training", leave=False):
        x1 = two_moons(batch, seed=g)
        x0 = torch.randn(batch, 2, generator=g)
        t = torch.rand(batch, 1, generator=g)
        losses[step] = reference_train_step(model, opt, x0, x1, t)
        decay.step()
    return model.eval(), losses


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
        self.image = png_image()  # at the PNG's own size, never stretched
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
        ax.plot(x, self.losses, color="#0072B2", alpha=0.25, lw=0.6, label=tr("loss per step"))
        ax.plot(x, sm, color="#0072B2", lw=1.8, label=tr("running mean ({n} steps)", n=self.window))
        if self.floor is not None:
            ax.axhline(
                self.floor,
                color="#D55E00",
                ls="--",
                lw=1.5,
                label=tr("floor {floor:.3f}", floor=self.floor),
            )
        ax.set_xlim(0, self.total)
        if self.losses:
            lo = min(self.floor if self.floor is not None else np.inf, float(np.min(sm)))
            ax.set_ylim(0.9 * lo, max(float(np.percentile(self.losses, 99)), 1.1 * lo))
        ax.set_xlabel(tr("training step"))
        ax.set_ylabel(tr("CFM loss"))
        ax.legend(loc="upper right")
        ax.grid(alpha=0.3)
        if own:
            set_png(self.image, self.kept.png(self.dpi))
            self.renders += 1
            gap = (
                ""
                if self.floor is None
                else tr(", {gap:+.3f} above the floor", gap=sm[-1] - self.floor)
            )
            self.text.value = tr(
                "step {k} / {total}: running mean {mean:.3f}{gap}",
                k=len(self.losses),
                total=self.total,
                mean=sm[-1],
                gap=gap,
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

    A time not seen before shows a first look (the exact field of about 2,000 of the data points)
    while the exact field of all of them and the error are computed.

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
    # the first look: the exact field of about 2,000 of the data points (cheaper, close to it)
    coarse = MarginalField(target[:: max(1, target.shape[0] // 2000)])
    errors: dict[float, float] = {}  # t -> the measured error (a setting seen before)

    def picture(fig: Figure, t: float, exact_field: Callable[..., Tensor]) -> Tensor:
        left, right = fig.axes
        for ax, field, name in (
            (left, model, tr("learned $u^\\theta_t$")),
            (right, exact_field, tr("exact $u_t$")),
        ):
            quiver(field, t, ax=ax, xlim=xlim, ylim=ylim, n=15, title=f"{name}, t = {t:.2f}")
        xt = t * x1 + (1 - t) * x0
        for ax in (left, right):
            scatter(xt, ax=ax, s=3, alpha=0.35, color="#E69F00", xlim=xlim, ylim=ylim)
        return xt

    def draft(fig: Figure, t: float) -> "str | bool":
        """A first look (the exact field of a subset of the data), before the exact one."""
        if t in errors:
            return False
        picture(fig, t, coarse)
        return tr("t = {t:.2f}: a first look; the exact field and its error are on the way…", t=t)

    def draw(fig: Figure, t: float) -> str:
        xt = picture(fig, t, exact)
        if t not in errors:
            errors[t] = field_error(model, target, t, xt)
        err = errors[t]
        return tr(
            "t = {t:.2f}: relative error of the learned field on samples of p_t: {err:.3f}",
            t=t,
            err=err,
        )

    slider = W.FloatSlider(
        value=t, min=0.0, max=0.95, step=0.05, description="t", continuous_update=False
    )
    return LivePlot(draw, {"t": slider}, figsize=(10, 4.6), ncols=2, fixed_frame=True, draft=draft)
