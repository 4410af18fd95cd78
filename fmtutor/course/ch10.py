"""Chapter 10 (guidance): the guidance explorer and the classifier-free-guidance exercise."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ipywidgets as W
import torch
from torch import Tensor

from fmtutor.course.exercises import ExerciseResult, check_function
from fmtutor.course.plots import style_axes
from fmtutor.course.widgets import LivePlot
from fmtutor.data import GaussianMixture
from fmtutor.guidance import cfg_velocity, guidance_metrics, guided_sample

__all__ = ["reference_cfg", "check_cfg", "guidance_widget"]

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
        "w multiplies the wrong term: start from the UNconditional velocity and add "
        "w (u_cond - u_uncond).": lambda uc, uu, w: uc + w * (uu - uc),
        "the sign is flipped: guidance moves towards the class, + w (u_cond - u_uncond).": (
            lambda uc, uu, w: uu - w * (uc - uu)
        ),
        "you forgot the unconditional part: w u_cond alone is not guidance (at w = 0 you must "
        "get u_uncond).": lambda uc, uu, w: w * uc,
        "you returned only the guidance direction w (u_cond - u_uncond); add it to u_uncond.": (
            lambda uc, uu, w: w * (uc - uu)
        ),
        "you started from the conditional velocity: u_cond + w (u_cond - u_uncond) over-guides "
        "by one (w = 0 must give u_uncond).": lambda uc, uu, w: uc + w * (uc - uu),
    }
    return check_function(student, reference_cfg, _cases_cfg(), mistakes, verbose=verbose)


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
    spread against w from ``table`` (guidance_table rows), with the live measurement marked.
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
    ys = W.Dropdown(options=list(range(k)), value=y, description="class y")
    state: dict[str, Any] = {}
    colors = [
        "tab:blue",
        "tab:orange",
        "tab:green",
        "tab:purple",
        "tab:brown",
        "tab:pink",
        "tab:olive",
        "tab:cyan",
    ]

    def draw(fig: Any, w: float, y: int) -> str:
        fig.clear()
        ax, ax2 = fig.subplots(1, 2, width_ratios=(1.1, 1))
        x = guided_sample(model, y, w, n, n_steps, seed=y)
        m = guidance_metrics(x, y, mixture, seed=100 + y)
        state.clear()
        state.update(m, w=w, y=y)
        for c in range(k):
            ax.scatter(*data[labels == c].numpy().T, s=2, alpha=0.25, color=colors[c % len(colors)])
        ax.scatter(*x.numpy().T, s=3, color="tab:red", label=f"guided, y={y}")
        style_axes(ax, (-lim, lim), title=f"w = {w:.2f}")
        ax.legend(loc="upper right", fontsize=8)
        if table:
            tw = [r["w"] for r in table]
            ax2.plot(
                tw,
                [r["accuracy"] for r in table],
                "o-",
                color="tab:blue",
                label="accuracy (fidelity)",
            )
            ax2.plot(
                tw,
                [r["spread"] for r in table],
                "s-",
                color="tab:green",
                label="spread (diversity)",
            )
        ax2.plot([w], [m["accuracy"]], "*", ms=14, color="tab:blue")
        ax2.plot([w], [m["spread"]], "*", ms=14, color="tab:green")
        ax2.axhline(1.0, color="0.6", lw=0.8, ls="--")
        ax2.set_xlabel("guidance weight w")
        top = max([1.0, m["spread"]] + [r["spread"] for r in (table or [])])
        ax2.set_ylim(0, top + 0.1)
        ax2.set_title("measured (★ = this class, now)")
        if table:
            ax2.legend(loc="lower right", fontsize=8)
        return (
            f"class {y}, w = {w:.2f}: accuracy {m['accuracy']:.3f}, "
            f"class log-lik {m['class_loglik']:.2f}, spread {m['spread']:.2f}, "
            f"W2 to the class {m['w2']:.3f}"
        )

    live = LivePlot(draw, {"w": ws, "y": ys}, figsize=(9, 4.2), ncols=0)
    live.state = state
    return live
