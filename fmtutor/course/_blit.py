"""KeptFigure's blitting: what a full draw paints, in which order, and when pasting it is exact.

A blitted redraw pastes the kept background (the figure and axes patches, tick labels and axis
labels) and draws the rest on top. That equals a full draw only when nothing the background holds
would have been painted over something drawn later; these helpers find the artists, their order
and the cases where blitting must give way to a full draw.
"""

__all__ = [
    "FAST_VERSIONS",
    "PRIVATE_ATTRIBUTES",
    "fast_redraws",
    "TickMarks",
    "titles_stay_up",
    "overlapping_axes",
    "frame_artists",
    "static_key",
    "unclipped_below",
    "spills",
]

import re
from typing import Any

import matplotlib
from matplotlib.figure import Figure

#: matplotlib versions (major, minor), lowest and highest, the fast redraws are tested with (widen
#: it only after tests/course/test_figures.py and test_widgets.py pass on the new version)
FAST_VERSIONS = ((3, 11), (3, 11))
#: the private attributes of matplotlib's Figure, Axes and Axis the fast redraws use
PRIVATE_ATTRIBUTES = {
    "figure": ("_align_label_groups", "_suptitle", "_supxlabel", "_supylabel"),
    "axes": (
        "_left_title",
        "_right_title",
        "_autotitlepos",
        "_twinned_axes",
        "_update_title_position",
        "_rasterization_zorder",
    ),
    "axis": ("_update_ticks",),
}


def fast_redraws(fig: Figure) -> bool:
    """Can the reused layout and the blitting run on this matplotlib and this figure?

    They read private attributes of matplotlib (``PRIVATE_ATTRIBUTES``), so they run only on the
    versions they are tested with (``FAST_VERSIONS``) and when every such attribute is there;
    otherwise KeptFigure draws each PNG plainly (slower, the same picture).
    """
    version = tuple(int(v) for v in re.findall(r"\d+", matplotlib.__version__)[:2])
    if not FAST_VERSIONS[0] <= version <= FAST_VERSIONS[1]:
        return False
    holders = [("figure", fig)]
    for ax in fig.axes:
        holders += [("axes", ax), ("axis", ax.xaxis), ("axis", ax.yaxis)]
    return all(hasattr(obj, name) for kind, obj in holders for name in PRIVATE_ATTRIBUTES[kind])


def titles_stay_up(ax: Any, renderer: Any) -> bool:
    """Place the titles at the top of a plain Axes, as Axes._update_title_position does.

    On a plain Axes that method puts every title at y = 1 (axes units) unless it dips below the
    top; it also measures every y tick label for the offset text, which is the slow part this skips.

    Returns:
        True when done; False where the general method is needed: twins, child or aligned axes,
        ticks or an offset text that may reach the titles, or a title that would dip below the
        Axes' top.
    """
    try:
        if ax._autotitlepos is not None and not ax._autotitlepos:
            return True  # placed by hand: left alone
        plain = (
            not ax.child_axes
            and len(ax._twinned_axes.get_siblings(ax)) == 1
            and len(ax.figure._align_label_groups["title"].get_siblings(ax)) == 1
        )
    except AttributeError:
        return False
    if (
        not plain
        or ax.xaxis.get_ticks_position() in ("top", "unknown")
        or ax.xaxis.get_label_position() == "top"
    ):
        return False
    if ax.yaxis.offsetText.get_visible() and ax.yaxis.offsetText.get_text():
        return False
    titles = (ax.title, ax._left_title, ax._right_title)
    for t in titles:
        t.set_position((t.get_position()[0], 1.0))
    top = ax.get_window_extent().ymax
    return all(not t.get_text() or t.get_window_extent(renderer).ymin >= top for t in titles)


def overlapping_axes(fig: Figure, renderer: Any, pad: float = 4.0) -> list:
    """The axes (tick labels + label) that reach into an Axes drawn before them, or into its titles.

    A full draw paints such labels over that earlier Axes' lines and spines; a blitted redraw would
    paint them first (in the background), so they are drawn with the rest instead, in their place
    in the order.
    """
    regions, out = [], []
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            box = axis.get_tightbbox(renderer)
            if box is not None and any(box.overlaps(r) for r in regions):
                out.append(axis)
        regions.append(ax.bbox.padded(pad))
        regions += [
            t.get_window_extent(renderer).padded(pad)
            for t in (ax.title, ax._left_title, ax._right_title)
            if t.get_visible() and t.get_text()
        ]
    return out


class TickMarks:
    """The tick marks of one axis, drawn in a blitted redraw where Axes.draw draws that axis.

    The background keeps the tick labels; the marks are drawn with the rest, at the axis' zorder, so
    that an artist a full draw puts under them (a scatter at zorder 1 under the axis' 1.5) is under
    them here too.

    Args:
        axis: the XAxis or YAxis.
        ticks: the ticks it shows (None: ask the axis at draw time).
    """

    def __init__(self, axis: Any, ticks: "list | None" = None) -> None:
        self.axis, self.zorder, self.ticks = axis, axis.get_zorder(), ticks

    def get_zorder(self) -> float:
        """The axis' zorder, so that sorting by zorder puts the marks where the axis would be."""
        return self.zorder

    def lines(self) -> list:
        """The grid lines and the tick marks of the ticks a draw shows."""
        ticks = self.axis._update_ticks() if self.ticks is None else self.ticks
        return [line for tick in ticks for line in (tick.gridline, tick.tick1line, tick.tick2line)]

    def draw(self, renderer: Any) -> None:
        """Draw the marks (and grid lines) with ``renderer``."""
        for line in self.lines():
            line.draw(renderer)


def frame_artists(ax: Any, whole: "set[int] | list" = (), ticks: "dict | None" = None) -> list:
    """What Axes.draw draws after its background patch, in its order.

    Each axis is reduced to its tick marks unless it is in ``whole``.

    Args:
        ax: the Axes.
        whole: axes (or their ids) that are drawn whole.
        ticks: id(axis) -> the ticks it shows, when known.
    """
    ids = {i if isinstance(i, int) else id(i) for i in whole}
    artists = [a for a in ax.get_children() if a is not ax.patch]
    if not (ax.axison and ax.get_frame_on()):
        artists = [a for a in artists if a not in ax.spines.values()]
    if not ax.axison:
        artists = [a for a in artists if a is not ax.xaxis and a is not ax.yaxis]
    artists = [
        TickMarks(a, (ticks or {}).get(id(a)))
        if (a is ax.xaxis or a is ax.yaxis) and id(a) not in ids
        else a
        for a in artists
    ]
    return sorted(artists, key=lambda a: a.get_zorder())


def static_key(fig: Figure) -> "tuple[tuple, dict] | None":
    """Everything that decides the background's pixels, or None when blitting could be inexact.

    The background holds the figure and axes patches and the axes' ticks, tick labels and axis
    labels. Pasting it and drawing the rest on top equals a full draw when nothing else sits at
    figure level and no tick or grid line reaches inside an axes box, where an artist the full draw
    puts under them could lie.

    Returns:
        (the key, id(axis) -> the ticks each axis shows), or None.
    """
    if (
        fig.texts
        or fig.legends
        or fig.images
        or fig.lines
        or fig.patches
        or fig.artists
        or fig.subfigs
    ):
        return None
    key: list = [tuple(fig.get_size_inches()), fig.dpi, fig.get_facecolor()]
    shown: dict = {}
    for i, ax in enumerate(fig.axes):
        below = unclipped_below(ax)
        if below[2] and i < len(fig.axes) - 1 and spills(ax, below[2]):
            # it reaches beyond its Axes, where a full draw would cover it with a later Axes'
            # background
            return None
        key.append(below[:2])
        if (
            ax.get_axes_locator() is not None
            or getattr(ax, "_rasterization_zorder", None) is not None
            or not hasattr(ax.xaxis, "_update_ticks")
            or not hasattr(ax, "_update_title_position")
        ):
            return None
        axes_key = []
        for name, axis in (("x", ax.xaxis), ("y", ax.yaxis)):
            # positions and labels, as a draw computes them
            shown[id(axis)] = ticks = axis._update_ticks()
            direction = axis.get_tick_params().get(
                "direction", matplotlib.rcParams[f"{name}tick.direction"]
            )
            if ax.axison and (direction != "out" or any(t.gridline.get_visible() for t in ticks)):
                return None
            axes_key.append(_axis_key(axis, ticks))
        key.append(
            (
                id(ax),
                ax.get_position().bounds,
                ax.viewLim.bounds,
                ax.axison,
                ax.get_frame_on(),
                ax.patch.get_facecolor(),
                ax.get_visible(),
                tuple(axes_key),
            )
        )
    return tuple(key), shown


def _axis_key(axis: Any, ticks: list) -> tuple:
    """What of one axis decides the background: its ticks' places and labels, label and scale."""
    return (
        tuple(
            (
                t.get_loc(),
                t.label1.get_text(),
                t.label1.get_visible(),
                t.label2.get_text(),
                t.label2.get_visible(),
            )
            for t in ticks
        ),
        axis.label.get_text(),
        axis.get_visible(),
        axis.get_scale(),
    )


def unclipped_below(ax: Any) -> "tuple[bool, bool, list]":
    """Where an Axes' unclipped artists (besides its frame and titles) lie.

    Returns:
        (x flag, y flag, the unclipped artists); a flag is True when an unclipped artist lies under
        that axis' zorder, and then the axis is drawn whole, over it, as a full draw does.
    """
    skip = {id(a) for a in (*ax.spines.values(), ax.title, ax._left_title, ax._right_title)}
    loose = [
        a
        for a in frame_artists(ax)
        if not isinstance(a, TickMarks)
        and id(a) not in skip
        and not (
            a.get_clip_on() and (a.get_clip_box() is not None or a.get_clip_path() is not None)
        )
    ]
    return (
        any(a.get_zorder() < ax.xaxis.get_zorder() for a in loose),
        any(a.get_zorder() < ax.yaxis.get_zorder() for a in loose),
        loose,
    )


def spills(ax: Any, artists: list, pad: float = 4.0) -> bool:
    """Does any of these artists reach outside the Axes box (padded)?"""
    renderer = ax.figure.canvas.get_renderer()
    box = ax.bbox.padded(pad)
    for a in artists:
        ext = a.get_window_extent(renderer)
        if not (box.x0 <= ext.x0 and ext.x1 <= box.x1 and box.y0 <= ext.y0 and ext.y1 <= box.y1):
            return True
    return False
