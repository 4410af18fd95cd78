"""KeptFigure's reused layout: what of a figure the constrained layout reads, measured cheaply.

Two figures whose signatures are equal get the same constrained layout, so a redraw whose
signature equals the last layout's puts that layout's positions back instead of computing it.
"""

__all__ = ["layout_signature"]

from typing import Any

import numpy as np
from matplotlib.figure import Figure


def layout_signature(fig: Figure, renderer: Any, memo: dict) -> "tuple | None":
    """Everything of the figure that the constrained layout reads, or None when it cannot be told.

    The layout places each Axes from the boxes around it (tick labels, axis labels, titles, offset
    texts, unclipped artists), measured relative to the Axes, and from the figure's and the
    colorbars' geometry. Measured with every Axes where a new figure's starts (its subplot box),
    equal signatures give equal layouts. Figure-level texts and legends, legends placed outside
    their Axes and Axes other than plain 2-D ones give None (the layout is then always computed).
    ``memo`` keeps the measured entry of each axis by what decides it (its box, ticks, texts and
    fonts), to measure only once.
    """
    if any(ax.name != "rectilinear" for ax in fig.axes):
        return None  # 3-D, polar, ...: their axes are measured differently
    if (
        fig.texts
        or fig.legends
        or fig.subfigs
        or any(getattr(fig, name) is not None for name in ("_suptitle", "_supxlabel", "_supylabel"))
    ):
        return None
    key: list = [tuple(fig.get_size_inches()), fig.dpi]
    for ax in fig.axes:
        spec = ax.get_subplotspec()
        info = getattr(ax, "_colorbar_info", None) or {}
        key.append(
            (
                type(ax).__name__,
                None if spec is None else (spec.get_geometry(), spec.rowspan, spec.colspan),
                tuple(sorted((k, repr(v)) for k, v in info.items() if k != "parents")),
                ax.get_visible(),
                ax.axison,
            )
        )
        if not ax.get_visible():
            continue
        ax.apply_aspect()  # the active box, which the layout measures from
        box = ax.bbox
        legend = ax.get_legend()
        if legend is not None and legend.get_bbox_to_anchor() is not box:
            return None  # anchored elsewhere: it may reach outside the Axes
        for axis in (ax.xaxis, ax.yaxis) if ax.axison else ():
            key.append(_axis_entry(ax, axis, box, renderer, memo))
        for t in (ax.title, ax._left_title, ax._right_title):
            width, height = _size(t, renderer)  # only a title wider than the Axes widens the box
            key.append((height, width if width > box.width else 0.0))
        skip = {
            id(a)
            for a in (
                *ax.spines.values(),
                ax.xaxis,
                ax.yaxis,
                ax.patch,
                legend,
                ax.title,
                ax._left_title,
                ax._right_title,
            )
        }
        loose = [
            a.get_window_extent(renderer)
            for a in ax.get_children()
            if id(a) not in skip
            and a.get_visible()
            and a.get_in_layout()
            and not (
                a.get_clip_on() and (a.get_clip_box() is not None or a.get_clip_path() is not None)
            )
        ]
        key.append(_outside(loose, box))
    return tuple(key)


def _axis_entry(ax: Any, axis: Any, box: Any, renderer: Any, memo: dict) -> tuple:
    """What of one axis the layout reads: its tick labels beyond the box, label, offset text."""
    ticks = axis._update_ticks()
    labels = [
        lab
        for tick in ticks
        for lab in (tick.label1, tick.label2)
        if lab.get_visible() and lab.get_text()
    ]
    texts = (axis.label, axis.offsetText, *labels[:1])
    k = (
        box.bounds,
        ax.viewLim.bounds,
        axis.get_scale(),
        tuple((lab.get_position(), lab.get_text()) for lab in labels),
        tuple(
            (t.get_text(), t.get_visible(), t.get_fontproperties(), t.get_rotation()) for t in texts
        ),
        axis.get_label_position(),
        axis.get_ticks_position(),
        repr(sorted(axis.get_tick_params().items())),
    )
    if k not in memo:
        if len(memo) > 256:
            memo.clear()
        across = 1 if axis is ax.xaxis else 0  # the label's size across the axis counts
        memo[k] = (
            _outside([lab.get_window_extent(renderer) for lab in labels], box),
            _size(axis.label, renderer)[across],
            k[-3:],
            _size(axis.offsetText, renderer),
        )
    return memo[k]


def _size(text: Any, renderer: Any) -> tuple:
    """A text's width and height in pixels (0, 0 when hidden or empty)."""
    if not text.get_visible() or not text.get_text():
        return (0.0, 0.0)
    ext = text.get_window_extent(renderer)
    return (round(ext.width, 3), round(ext.height, 3))


def _outside(boxes: list, box: Any) -> tuple:
    """How far the union of some boxes reaches outside an Axes box, on each side (pixels, rounded).

    What lies inside the box does not change the layout (it measures the union with the box).
    """
    if not boxes:
        return (0.0, 0.0, 0.0, 0.0)
    ext = np.array([b.extents for b in boxes])
    x0, y0, x1, y1 = box.extents
    return (
        round(min(0.0, ext[:, 0].min() - x0), 3),
        round(min(0.0, ext[:, 1].min() - y0), 3),
        round(max(0.0, ext[:, 2].max() - x1), 3),
        round(max(0.0, ext[:, 3].max() - y1), 3),
    )
