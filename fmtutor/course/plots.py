"""Pure plotting functions: each takes ``ax=None``, draws, and returns the Axes (never plt.show()).

>>> import matplotlib; matplotlib.use("Agg")
>>> ax = quiver(lambda x, t: -x, t=0.0)
>>> ax.get_aspect()
1.0
"""

__all__ = [
    "new_axes",
    "grid_points",
    "style_axes",
    "quiver",
    "scatter",
    "trajectories",
    "density",
    "color_key",
    "figure_png",
    "DEFAULT_LIM",
    "OKABE_ITO",
    "MOONS_XLIM",
    "MOONS_YLIM",
]

import io
from collections.abc import Callable
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.colors import Normalize, PowerNorm
from matplotlib.figure import Figure
from torch import Tensor

from fmtutor._validate import check_callable, check_points, check_positive_int
from fmtutor.course.i18n import tr

Lim = tuple[float, float]
#: Okabe & Ito's colour-blind-safe palette, in the order of the colour cycle that setup() sets.
OKABE_ITO: dict[str, str] = {
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "green": "#009E73",
    "orange": "#E69F00",
    "purple": "#CC79A7",
    "sky": "#56B4E9",
    "yellow": "#F0E442",
    "black": "#000000",
}
#: The box of the plots, (low, high) on each axis, unless a function is told otherwise.
DEFAULT_LIM: Lim = (-3.0, 3.0)
#: The box that frames the two moons (fmtutor.data.two_moons) in the chapters' figures.
MOONS_XLIM: Lim = (-2.0, 3.0)
MOONS_YLIM: Lim = (-2.0, 2.5)


def new_axes(ax: "Axes | None" = None, figsize: tuple[float, float] = (4.5, 4.5)) -> Axes:
    """Return ax, or a fresh Axes on a new pyplot figure when ax is None."""
    if ax is not None:
        return ax
    return plt.figure(figsize=figsize).add_subplot()


def grid_points(xlim: Lim = DEFAULT_LIM, ylim: "Lim | None" = None, n: int = 20) -> Tensor:
    """A regular n x n grid over the box, as points of shape (n * n, 2), row-major in y."""
    ylim = ylim or xlim
    n = check_positive_int(n, "n")
    for name, lim in (("xlim", xlim), ("ylim", ylim)):
        if (
            not isinstance(lim, (tuple, list))
            or len(lim) != 2
            or not all(isinstance(v, (int, float)) for v in lim)
        ):
            raise ValueError(f"{name}: expected a pair of numbers (low, high), got {lim!r}")
    xs = torch.linspace(*xlim, n)
    ys = torch.linspace(*ylim, n)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([gx.reshape(-1), gy.reshape(-1)], 1)


def style_axes(
    ax: Axes, xlim: Lim = DEFAULT_LIM, ylim: "Lim | None" = None, title: "str | None" = None
) -> Axes:
    """Equal aspect, limits, coordinate labels and an optional title."""
    ax.set_xlim(*xlim)
    ax.set_ylim(*(ylim or xlim))
    ax.set_aspect("equal")
    ax.set_xlabel("$x^{(1)}$")
    ax.set_ylabel("$x^{(2)}$")
    if title:
        ax.set_title(title)
    return ax


def _device_of(fn: Any) -> torch.device:
    """Where a model's parameters live (the CPU for plain functions), to send grid points there."""
    if isinstance(fn, torch.nn.Module):
        for p in fn.parameters():
            return p.device
        for b in fn.buffers():
            return b.device
    return torch.device("cpu")


def _numpy(x: Any) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, Tensor) else np.asarray(x)


def quiver(
    field: Callable[[Tensor, Any], Tensor],
    t: float = 0.0,
    ax: "Axes | None" = None,
    xlim: Lim = DEFAULT_LIM,
    ylim: "Lim | None" = None,
    n: int = 17,
    normalize: bool = True,
    cmap: str = "viridis",
    colorbar: bool = False,
    title: "str | None" = None,
    clim: "Lim | None" = None,
    gamma: float = 1.0,
) -> Axes:
    """Arrows of a velocity field u_t(x) on an n x n grid, coloured by speed |u_t(x)|.

    Args:
        field: ``field(x, t)`` mapping (B, 2) points to (B, 2) velocities.
        t: the time at which to draw the field.
        normalize: draw unit arrows (direction only; speed stays in the colour).
        clim: the speeds at the two ends of the colour map (None: this plot's lowest and highest).
        gamma: with clim, colours follow ((speed - lo) / (hi - lo))^gamma (matplotlib's PowerNorm):
            gamma < 1 keeps slow fields apart when one scale also serves fast ones.
    """
    check_callable(field, "field", "a velocity field(x, t)")
    pts = grid_points(xlim, ylim, n)
    with torch.no_grad():
        v = field(pts.to(_device_of(field)), t)
    if not isinstance(v, (Tensor, np.ndarray)) or tuple(v.shape) != tuple(pts.shape):
        raise ValueError(
            f"field: expected field(x, t) to return shape {tuple(pts.shape)}, got "
            f"{tuple(v.shape) if hasattr(v, 'shape') else type(v).__name__}"
        )
    v = _numpy(v).astype(float)
    if not np.isfinite(v).all():
        raise ValueError(f"field: expected finite velocities, got NaN or inf at t = {t}")
    ax = new_axes(ax)
    p = _numpy(pts)
    speed = np.linalg.norm(v, axis=1)
    if normalize:
        v = v / np.maximum(speed, 1e-12)[:, None]
    q = ax.quiver(
        p[:, 0],
        p[:, 1],
        v[:, 0],
        v[:, 1],
        speed,
        cmap=cmap,
        angles="xy",
        pivot="mid",
        scale_units="xy",
        scale=(n / (xlim[1] - xlim[0])) * (1.6 if normalize else 1.0),
        width=0.005,
    )
    if clim is not None:
        q.set_norm(_speed_norm(clim, gamma))
    if colorbar:
        ax.figure.colorbar(q, ax=ax, label=tr("speed $|u_t(x)|$"), shrink=0.8)
    return style_axes(ax, xlim, ylim, title)


def scatter(
    x: Any,
    ax: "Axes | None" = None,
    s: float = 3.0,
    alpha: float = 0.5,
    color: "str | None" = None,
    label: "str | None" = None,
    xlim: Lim = DEFAULT_LIM,
    ylim: "Lim | None" = None,
    title: "str | None" = None,
) -> Axes:
    """A scatter plot of points of shape (B, 2)."""
    ax = new_axes(ax)
    p = _numpy(check_points(x, "x", dim=2))
    ax.scatter(p[:, 0], p[:, 1], s=s, alpha=alpha, color=color, label=label, linewidths=0)
    return style_axes(ax, xlim, ylim, title)


def trajectories(
    traj: Any,
    ax: "Axes | None" = None,
    n: int = 100,
    color: str = "#0072B2",
    alpha: float = 0.4,
    xlim: Lim = DEFAULT_LIM,
    ylim: "Lim | None" = None,
    title: "str | None" = None,
) -> Axes:
    """Paths of the first n particles of a trajectory of shape (T + 1, B, 2).

    Each path has a black dot at its start (t = 0) and a red one at its end (t = 1).
    """
    ax = new_axes(ax)
    tr = _numpy(traj)
    if tr.ndim == 3 and tr.shape[2] == 2 and not np.isfinite(tr.astype(float)).all():
        bad = int((~np.isfinite(tr.astype(float))).sum())
        raise ValueError(f"traj: expected finite positions, got NaN or inf in {bad} entries")
    if tr.ndim != 3 or tr.shape[2] != 2:
        raise ValueError(f"traj: expected shape (T + 1, B, 2), got {tr.shape}")
    tr = tr[:, :n]
    ax.plot(tr[:, :, 0], tr[:, :, 1], color=color, alpha=alpha, lw=0.8)
    ax.scatter(tr[0, :, 0], tr[0, :, 1], s=6, color="black", zorder=3, label="$t=0$")
    ax.scatter(tr[-1, :, 0], tr[-1, :, 1], s=6, color="#D55E00", zorder=3, label="$t=1$")
    return style_axes(ax, xlim, ylim, title)


def density(
    log_prob: Callable[[Tensor], Tensor],
    ax: "Axes | None" = None,
    xlim: Lim = DEFAULT_LIM,
    ylim: "Lim | None" = None,
    n: int = 120,
    cmap: str = "magma",
    log: bool = False,
    title: "str | None" = None,
) -> Axes:
    """A heat map of exp(log_prob(x)) (or log_prob itself, with log=True) on an n x n grid."""
    ax = new_axes(ax)
    ylim = ylim or xlim
    check_callable(log_prob, "log_prob", "a function log_prob(x) returning (B,) log-densities")
    pts = grid_points(xlim, ylim, n)
    with torch.no_grad():
        lp = log_prob(pts.to(_device_of(log_prob)))
    if not hasattr(lp, "shape") or tuple(lp.shape) not in ((n * n,), (n * n, 1)):
        raise ValueError(
            f"log_prob: expected log_prob(x) of shape ({n * n},) for x of shape "
            f"{tuple(pts.shape)}, got "
            f"{tuple(lp.shape) if hasattr(lp, 'shape') else type(lp).__name__}"
        )
    lp = _numpy(lp).astype(float).reshape(n, n)
    if np.isnan(lp).any() or np.isposinf(lp).any():
        raise ValueError(
            "log_prob: expected log-densities that are finite or -inf, got NaN or +inf"
        )
    img = lp if log else np.exp(lp)
    ax.imshow(img, origin="lower", extent=(*xlim, *ylim), cmap=cmap, aspect="equal")
    return style_axes(ax, xlim, ylim, title)


def _speed_norm(clim: Lim, gamma: float) -> Normalize:
    return Normalize(*clim) if gamma == 1.0 else PowerNorm(gamma, *clim)


def color_key(
    ax: Axes,
    clim: Lim,
    cmap: str = "viridis",
    label: "str | None" = None,
    gamma: float = 1.0,
) -> Axes:
    """A colour bar drawn into an Axes of its own: the colour map from clim[0] (bottom) to clim[1].

    The axis is in speed units; with gamma != 1 the colours follow quiver's PowerNorm (same gamma).

    Unlike ``Figure.colorbar`` it adds no Axes and no layout hook, so a live figure that gives it
    one of its own axes (and a fixed ``clim``) keeps its frame from one redraw to the next.
    """
    lo, hi = clim
    ax.imshow(
        np.linspace(lo, hi, 256)[:, None],
        cmap=cmap,
        norm=_speed_norm(clim, gamma),
        origin="lower",
        extent=(0, 1, lo, hi),
        aspect="auto",
        interpolation="nearest",
    )
    ax.set(xlim=(0, 1), ylim=(lo, hi), xticks=[])
    ax.yaxis.tick_right()
    ax.yaxis.set_label_position("right")
    if label:
        ax.set_ylabel(label)
    return ax


def figure_png(fig: Figure, dpi: int = 80) -> bytes:
    """Render a figure to PNG bytes (for ipywidgets.Image, or to save)."""
    if not hasattr(fig, "savefig"):
        raise TypeError(f"fig: expected a matplotlib Figure, got {type(fig).__name__}")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()
