"""Chapter 10 (guidance): the guidance explorer, the label-dropout replay and the CFG exercise."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ipywidgets as W
import torch
from torch import Tensor, nn

from fmtutor._validate import as_tensor, check_callable, check_positive_int
from fmtutor.course.exercises import ExerciseResult, check_function
from fmtutor.course.i18n import tr
from fmtutor.course.plots import OKABE_ITO, style_axes
from fmtutor.course.widgets import LivePlot
from fmtutor.data import GaussianMixture, make_generator
from fmtutor.guidance import cfg_velocity, guidance_metrics, guided_sample
from fmtutor.models import MLP
from fmtutor.training import train_cfm

__all__ = [
    "reference_cfg",
    "check_cfg",
    "training_labels",
    "replay_training_labels",
    "guidance_widget",
]

Lim = tuple[float, float]


def _cases_cfg() -> list[tuple[Tensor, Tensor, float]]:
    g = torch.Generator().manual_seed(10)
    uc, uu = torch.randn(5, 2, generator=g), torch.randn(5, 2, generator=g)
    return [(uc, uu, 2.5), (uc, uu, 0.0), (uc, uu, 1.0), (uc[:2], uu[:2], 0.4)]


def reference_cfg(u_cond: Tensor, u_uncond: Tensor, w: float) -> Tensor:
    """Classifier-free guidance u_uncond + w (u_cond - u_uncond): guidance.cfg_velocity.

    u_cond, u_uncond of shape (B, d); w a float.
    """
    return cfg_velocity(u_cond, u_uncond, w)


def check_cfg(student: Callable[..., Any], verbose: bool = True) -> ExerciseResult:
    """Check cfg(u_cond, u_uncond, w) = u_uncond + w (u_cond - u_uncond).

    w = 0 gives the unconditional velocity, w = 1 the conditional one.
    """
    mistakes = {
        tr(
            "w multiplies the wrong term: start from the UNconditional velocity and add "
            "w (u_cond - u_uncond)."
        ): lambda uc, uu, w: uc + w * (uu - uc),
        tr("the sign is flipped: guidance moves towards the class, + w (u_cond - u_uncond)."): (
            lambda uc, uu, w: uu - w * (uc - uu)
        ),
        tr(
            "you forgot the unconditional part: w u_cond alone is not guidance (at w = 0 you must "
            "get u_uncond)."
        ): lambda uc, uu, w: w * uc,
        tr("you returned only the guidance direction w (u_cond - u_uncond); add it to u_uncond."): (
            lambda uc, uu, w: w * (uc - uu)
        ),
        tr(
            "you started from the conditional velocity: u_cond + w (u_cond - u_uncond) over-guides "
            "by one (w = 0 must give u_uncond)."
        ): lambda uc, uu, w: uc + w * (uc - uu),
    }
    return check_function(student, reference_cfg, _cases_cfg(), mistakes, verbose=verbose)


def _check_pool(pool: Any, labels: Any, p: float) -> tuple[Tensor, Tensor, float]:
    pool = as_tensor(pool, "pool")
    labels = torch.as_tensor(labels)
    if pool.ndim != 2 or labels.shape != (pool.shape[0],) or labels.dtype.is_floating_point:
        raise ValueError(
            "pool, labels: expected points (N, d) and N integer labels, "
            f"got {tuple(pool.shape)} and {tuple(labels.shape)} of {labels.dtype}"
        )
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p < 1.0:
        raise ValueError(f"p: expected a dropout probability in [0, 1), got {p!r}")
    return pool, labels, float(p)


class _LabelRecorder(nn.Module):
    """A tiny conditional MLP that keeps a copy of every label batch it is called with."""

    def __init__(self, dim: int, num_classes: int) -> None:
        super().__init__()
        self.net = MLP(dim, hidden=16, depth=1, num_classes=num_classes)
        self.dim, self.num_classes = dim, num_classes
        self.seen: list[Tensor] = []

    def forward(self, x: Tensor, t: Any, y: "Tensor | None" = None) -> Tensor:
        self.seen.append(y.detach().cpu().clone())
        return self.net(x, t, y)


class _NoStep:
    """An optimiser that never steps: enough for train_cfm to run, and cheap to build.

    The labels train_cfm draws do not depend on the weights, and building torch's Adam the first
    time imports torch._dynamo (seconds on a laptop) for nothing.
    """

    param_groups = ({"lr": 0.0},)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Nothing to reset."""

    def step(self) -> None:
        """Leave the weights as they are."""


def training_labels(
    pool: Tensor, labels: Tensor, p: float, steps: int = 3, batch_size: int = 256, seed: int = 0
) -> Tensor:
    """The labels ``training.train_cfm`` feeds the network, after its label dropout.

    Runs train_cfm for a few steps (on the CPU, label_dropout=p) on a small network that records
    its label argument, with an optimiser that does not step (the labels do not depend on the
    weights). Dropped labels are K = number of classes (the "no label" class).

    Args:
        pool: data points (N, d). labels: their classes (N,) in 0..K-1.
        p: the label-dropout probability. steps, batch_size, seed: as in train_cfm.

    Returns:
        The labels of each step, shape (steps, batch_size).
    """
    pool, labels, p = _check_pool(pool, labels, p)
    steps = check_positive_int(steps, "steps")
    recorder = _LabelRecorder(pool.shape[1], int(labels.max()) + 1)
    train_cfm(
        recorder,
        (pool, labels),
        steps=steps,
        batch_size=batch_size,
        optimizer=_NoStep(),  # type: ignore[arg-type]
        label_dropout=p,
        seed=seed,
        device="cpu",
        progress=False,
    )
    return torch.stack(recorder.seen)


def replay_training_labels(
    drop: Callable[..., Tensor],
    pool: Tensor,
    labels: Tensor,
    p: float,
    steps: int = 3,
    batch_size: int = 256,
    seed: int = 0,
) -> Tensor:
    """Replay train_cfm's random draws with the same generator, dropping labels with ``drop``.

    Each training step draws, from one generator seeded with ``seed``: the batch indices, the
    noise x_0 (batch_size, d), the times t (batch_size,), then the dropout. This replays the first
    three and calls ``drop(y, p, generator)`` for the last, so a correct ``drop`` returns exactly
    what ``training_labels`` records.

    Args:
        drop: ``drop(y, p, generator) -> y`` with y (batch_size,) labels.
        pool, labels, p, steps, batch_size, seed: as in training_labels.

    Returns:
        The labels of each step after ``drop``, shape (steps, batch_size).
    """
    check_callable(drop, "drop", "a function drop(y, p, generator)")
    pool, labels, p = _check_pool(pool, labels, p)
    steps = check_positive_int(steps, "steps")
    batch_size = check_positive_int(batch_size, "batch_size")
    g = make_generator(seed)
    out = []
    for _ in range(steps):
        idx = torch.randint(0, pool.shape[0], (batch_size,), generator=g)
        torch.randn((batch_size, pool.shape[1]), generator=g, dtype=pool.dtype)  # x_0
        torch.rand(batch_size, generator=g, dtype=pool.dtype)  # t
        y = drop(labels[idx], p, g) if p > 0 else labels[idx]
        out.append(torch.as_tensor(y))
    return torch.stack(out)


def guidance_widget(
    model: Callable[..., Tensor],
    mixture: GaussianMixture,
    table: "list[dict[str, float]] | None" = None,
    w: float = 1.0,
    y: int = 0,
    n: int = 400,
    n_steps: int = 16,
    lim: float = 3.5,
) -> Any:
    """A LivePlot: sliders for w and the class y; each change regenerates and measures samples.

    Left: the guided samples (red) over the data (grey, coloured by class). Right: accuracy and
    spread against w from ``table`` (guidance_table rows), with the live measurement marked. A
    setting not seen before shows a first look (a quarter of the steps, not measured) while the
    samples are made and measured; a setting seen before is drawn from what was kept.
    ``live.state`` holds the last metrics (keys of guidance_metrics plus 'w' and 'y').

    Args:
        model: ``model(x, t, y)``. mixture: the data's GaussianMixture.
        table: rows of guidance_table for the background curves (optional).
        w, y: initial values. n, n_steps: samples and midpoint steps per redraw.
        lim: axes half-width.
    """
    k = len(mixture.weights)
    data, labels = mixture.sample(1500, seed=11, return_labels=True)
    ws = W.FloatSlider(
        value=w, min=0.0, max=8.0, step=0.25, description="w", continuous_update=False
    )
    ys = W.Dropdown(options=list(range(k)), value=y, description=tr("class y"))
    state: dict[str, Any] = {}
    colors = list(OKABE_ITO.values())  # eight colour-blind-safe colours
    # (w, y) -> (samples, metrics): a setting seen before is drawn without sampling again
    seen: dict[tuple[float, int], tuple[Tensor, dict[str, float]]] = {}
    draft_steps = max(1, n_steps // 4)

    def samples(ax: Any, x: Tensor, w: float, y: int) -> None:
        for c in range(k):
            ax.scatter(*data[labels == c].numpy().T, s=2, alpha=0.25, color=colors[c % len(colors)])
        ax.scatter(*x.numpy().T, s=3, color="#D55E00", label=tr("guided, y={y}", y=y))
        style_axes(ax, (-lim, lim), title=f"w = {w:.2f}")
        ax.legend(loc="upper right", fontsize=8)

    def measured(ax2: Any, w: float, m: "dict[str, float] | None") -> None:
        """The right panel: the table's curves, and the live measurement (stars) when made."""
        if table:
            tw = [r["w"] for r in table]
            ax2.plot(
                tw,
                [r["accuracy"] for r in table],
                "o-",
                color="#0072B2",
                label=tr("accuracy (fidelity)"),
            )
            ax2.plot(
                tw,
                [r["spread"] for r in table],
                "s-",
                color="#009E73",
                label=tr("spread (diversity)"),
            )
        if m is not None:
            ax2.plot([w], [m["accuracy"]], "*", ms=14, color="#0072B2")
            ax2.plot([w], [m["spread"]], "*", ms=14, color="#009E73")
        ax2.axhline(1.0, color="0.6", lw=0.8, ls="--")
        ax2.set_xlabel(tr("guidance weight w"))
        pad = 0.05 * (ws.max - ws.min)  # the slider's range: the frame stays put as w moves
        ax2.set_xlim(ws.min - pad, ws.max + pad)
        now = [] if m is None else [m["spread"]]
        top = max([1.0, *now] + [r["spread"] for r in (table or [])])
        ax2.set_ylim(0, top + 0.1)
        ax2.set_title(tr("measured (★ = this class, now)"))
        if table:
            ax2.legend(loc="lower right", fontsize=8)

    def draft(fig: Any, w: float, y: int) -> "str | bool":
        """A first look: the samples of a quarter of the steps, not yet measured (or False)."""
        if (w, y) in seen:
            return False
        samples(fig.axes[0], guided_sample(model, y, w, n, draft_steps, seed=y), w, y)
        measured(fig.axes[1], w, None)
        return tr(
            "class {y}, w = {w:.2f}: a first look ({k} steps); sampling with {n} steps and "
            "measuring…",
            y=y,
            w=w,
            k=draft_steps,
            n=n_steps,
        )

    def draw(fig: Any, w: float, y: int) -> str:
        ax, ax2 = fig.axes
        if (w, y) not in seen:
            x = guided_sample(model, y, w, n, n_steps, seed=y)
            seen[w, y] = x, guidance_metrics(x, y, mixture, seed=100 + y)
        x, m = seen[w, y]
        state.clear()
        state.update(m, w=w, y=y)
        samples(ax, x, w, y)
        measured(ax2, w, m)
        return tr(
            "class {y}, w = {w:.2f}: accuracy {accuracy:.3f}, class log-lik {loglik:.2f}, "
            "spread {spread:.2f}, W2 to the class {w2:.3f}",
            y=y,
            w=w,
            accuracy=m["accuracy"],
            loglik=m["class_loglik"],
            spread=m["spread"],
            w2=m["w2"],
        )

    live = LivePlot(
        draw,
        {"w": ws, "y": ys},
        figsize=(9, 4.2),
        ncols=2,
        width_ratios=(1.1, 1),
        fixed_frame=True,
        draft=draft,
    )
    live.state = state
    return live
