"""Pre-rendered animations shared by chapters 0, 2 and 3: particles with trails, frame by frame."""

from __future__ import annotations

__all__ = ["Trails", "no_ticks", "render_frames_of", "angle_colors"]

from collections.abc import Callable
from typing import Any

import matplotlib
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

from fmtutor.course.plots import Lim, figure_png, style_axes


class Trails:
    """Particles with their paths so far on one Axes, updated in place (fast: nothing is rebuilt).

    Args:
        ax: the Axes to draw on.
        traj: positions, shape (T + 1, B, 2).
        colors: one colour per particle, e.g. RGBA of shape (B, 4).
        lim: the (low, high) limits of both axes.
        background: points drawn once in light grey behind the particles, shape (N, 2).
        ticks: keep the axes' ticks.
    """

    def __init__(
        self,
        ax: Any,
        traj: np.ndarray,
        colors: np.ndarray,
        lim: Lim,
        background: "np.ndarray | None" = None,
        ticks: bool = True,
    ) -> None:
        self.ax, self.traj = ax, traj
        if background is not None:
            ax.scatter(background[:, 0], background[:, 1], s=2, color="0.82", linewidths=0)
        self.lines = LineCollection([], colors=colors, linewidths=0.6, alpha=0.45)
        ax.add_collection(self.lines)
        self.dots = ax.scatter(traj[0, :, 0], traj[0, :, 1], s=7, c=colors, linewidths=0, zorder=3)
        style_axes(ax, lim, lim, " ")
        if not ticks:
            no_ticks(ax)

    def show(self, k: int, title: str) -> None:
        """Show the particles at step k, each with its path up to there, under ``title``."""
        self.lines.set_segments(np.transpose(self.traj[: k + 1], (1, 0, 2)) if k > 0 else [])
        self.dots.set_offsets(self.traj[k])
        self.ax.set_title(title, fontsize=10)


def no_ticks(ax: Any, keep_labels: bool = False) -> None:
    """Remove the ticks (their labels dominate a frame's cost); optionally keep the axis labels."""
    ax.set_xticks([]), ax.set_yticks([])
    if not keep_labels:
        ax.set_xlabel(""), ax.set_ylabel("")


def render_frames_of(
    fig: Figure, update: Callable[[int], None], n_frames: int, dpi: int
) -> list[bytes]:
    """PNG bytes of frames 0..n_frames-1, calling update(i) on a figure whose artists persist."""
    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)  # one renderer for all frames: its text and mathtext caches carry over
    frames = []
    for i in range(n_frames):
        update(i)
        frames.append(figure_png(fig, dpi))
    return frames


def angle_colors(end: np.ndarray) -> np.ndarray:
    """RGBA colours, shape (B, 4), from the polar angle of each end point (B, 2).

    Particles bound for one cluster share a hue.
    """
    ang = (np.arctan2(end[:, 1], end[:, 0]) + np.pi) / (2 * np.pi)
    return matplotlib.colormaps["hsv"](ang)
