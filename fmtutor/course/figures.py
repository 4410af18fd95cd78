"""A matplotlib Figure redrawn again and again, cheaply: kept axes, a reused layout, a blitted background.

``KeptFigure`` is what ``widgets.LivePlot``, ``views.LossCurve`` and ``widgets.render_frames`` draw on. Each
redraw gives, pixel for pixel, the picture a new figure drawn the same way gives (tests/test_widgets.py):

* the axes and their ticks are kept, and the constrained layout is recomputed only when text around the
  axes changes size;
* while the frames, ticks and tick labels come out as before (fixed limits), their pixels are kept and
  only the plotted artists are drawn on top, in the order a full draw uses (blitting).
"""

__all__ = ["KeptFigure"]

import io
from typing import Any

import matplotlib
import matplotlib.image
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from fmtutor.course.plots import figure_png


class KeptFigure:
    """A Figure drawn again and again, cheaply: kept axes, a reused layout, a cached background, one renderer.

    Before each drawing call ``reset()``, then draw on ``fig`` (into ``fig.axes`` when ``ncols`` > 0), then
    ``png(dpi)``. The PNG is, pixel for pixel, what a new figure drawn the same way gives
    (tests/test_widgets.py), for less work:

    * the axes and their ticks are reused, and the constrained layout (a measuring pass and a second
      draw) is redone only when text around the axes changes size;
    * when the axes' frames, ticks and tick labels come out as in the previous redraw (same limits, same
      positions: a plot with fixed limits), their pixels are rendered once, kept, and each redraw pastes
      them and draws only what the drawing code added (its lines, points, titles, legends), in the
      order a full draw would (blitting). Most of a full draw is tick-label text, so this is the big saving.

    Args:
        figsize: figure size in inches.
        ncols: axes made for the drawing code in one row; 0 to let it make its own (then nothing is kept
            but the layout).
    """

    def __init__(self, figsize: tuple[float, float], ncols: int = 1) -> None:
        if isinstance(ncols, bool) or not isinstance(ncols, int) or ncols < 0:
            raise ValueError(f"ncols: expected an integer >= 0, got {ncols!r}")
        if (
            not isinstance(figsize, (tuple, list))
            or len(figsize) != 2
            or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in figsize
            )
        ):
            raise ValueError(
                f"figsize: expected (width, height) in inches, two positive numbers, got {figsize!r}"
            )
        self.fig = Figure(figsize=tuple(figsize), layout="constrained")
        FigureCanvasAgg(
            self.fig
        )  # one renderer for every PNG: its text and mathtext caches survive redraws
        self.ncols = ncols
        self._layout: "tuple[tuple, list] | None" = (
            None  # (text signature, axes positions) of the last layout
        )
        self._own: list = []  # the axes made here for the drawing code
        self._kept = (
            False  # did the last reset() keep the axes (else they are new, and nothing is blitted)
        )
        self._background: "tuple[tuple, Any, set] | None" = (
            None  # (static key, background pixels, ids of axes drawn whole)
        )
        self._last_key: "tuple | None" = None  # the static key of the previous redraw
        self._titles: dict = {}  # (Axes, title texts) -> title positions, valid with the current background
        self.blits = 0  # redraws that pasted the kept background (for tests and benchmarks)

    def reset(self) -> None:
        """Empty the figure for the next draw.

        When the figure holds just the ``ncols`` axes made here (no colorbar, no figure text), their
        plotted artists, legends, titles and labels are removed but the axes and their ticks are kept, which
        is several times cheaper than building new axes; otherwise the figure is cleared.
        """
        fig = self.fig
        if (
            self.ncols
            and self._layout is not None
            and fig.axes == self._own
            and not fig.texts
            and not fig.legends
        ):
            for ax in fig.axes:
                for artist in [
                    *ax.lines,
                    *ax.collections,
                    *ax.patches,
                    *ax.images,
                    *ax.texts,
                    *ax.artists,
                    *ax.tables,
                ]:
                    artist.remove()
                ax.containers.clear()
                if ax.legend_ is not None:
                    ax.legend_.remove()
                for loc in ("left", "center", "right"):
                    ax.set_title("", loc=loc)
                ax.set_xlabel("")
                ax.set_ylabel("")
                ax.relim()
                ax.set_autoscale_on(True)
                ax.set_prop_cycle(None)  # colours start again at C0, as on new axes
            self._kept = True
            return
        self._kept, self._background, self._last_key = False, None, None
        fig.clear()
        self._own = [fig.add_subplot(1, self.ncols, i + 1) for i in range(self.ncols)]

    def png(self, dpi: int = 80) -> bytes:
        """PNG bytes of the figure, reusing the last constrained layout while nothing that sizes it changed.

        The layout depends on the axes and on the size of the text around them, so it is recomputed when
        the axes, a title or label, or the width of any tick label differs from the last layout's.
        """
        if isinstance(dpi, bool) or not isinstance(dpi, int) or dpi < 1:
            raise ValueError(
                f"dpi: expected a resolution in dots per inch, an integer >= 1, got {dpi!r}"
            )
        fig = self.fig
        signature = tuple(_text_signature(ax) for ax in fig.axes)
        if self._layout is not None and self._layout[0] == signature:
            fig.set_layout_engine(None)  # no engine at all: savefig then draws once, not twice
            try:
                for ax, pos in zip(fig.axes, self._layout[1]):
                    ax.set_position(
                        pos
                    )  # both the original and the active box; aspect is applied at draw
                return self._blit_png(dpi) if self._kept else figure_png(fig, dpi)
            finally:  # drawing code always sees a constrained figure (colorbars are made for it)
                fig.set_layout_engine("constrained")
        for ax in (
            fig.axes
        ):  # kept axes start the layout where new ones would: its result depends on the start
            spec = ax.get_subplotspec()
            if spec is not None and not hasattr(ax, "_colorbar"):
                ax.set_position(spec.get_position(fig))
        png = figure_png(fig, dpi)
        self._layout = (signature, [ax.get_position(original=True) for ax in fig.axes])
        return png

    def _blit_png(self, dpi: int) -> bytes:
        """PNG of the figure from the kept background plus the drawing code's artists, when that is exact.

        The background is rendered (a full draw with the drawing code's artists hidden) only once a static
        key, everything that decides those pixels, has come out the same in two redraws running, so plots
        whose limits move with the data never pay for it.
        """
        fig = self.fig
        if fig.dpi != dpi:
            fig.set_dpi(dpi)
            self._background = self._last_key = None
        for ax in fig.axes:  # the active boxes a draw would use (equal aspect shrinks them)
            ax.apply_aspect()
        found = _static_key(fig)
        if found is None:
            return figure_png(fig, dpi)
        key, ticks = found
        if self._background is None or self._background[0] != key:
            if key != self._last_key:
                self._last_key = key
                return figure_png(fig, dpi)
            self._background = (key, *self._render_background())
            self._titles = {}
        canvas = fig.canvas
        renderer = canvas.get_renderer()
        _, pixels, whole = self._background
        canvas.restore_region(pixels)
        for ax in fig.axes:
            self._place_titles(ax, renderer)
            for artist in _frame_artists(ax, whole, ticks):
                artist.draw(renderer)
        self.blits += 1
        buf = io.BytesIO()
        matplotlib.image.imsave(
            buf,
            canvas.buffer_rgba(),
            format="png",
            origin="upper",
            dpi=fig.dpi,
            pil_kwargs={"compress_level": 1},
        )  # the same pixels, encoded in about half the time
        return buf.getvalue()

    def _place_titles(self, ax: Any, renderer: Any) -> None:
        """Put the titles where Axes.draw would (above the top tick labels); remembered per title text,
        since with a kept background only the titles' own text can move them."""
        titles = (ax.title, ax._left_title, ax._right_title)
        k = (id(ax), *((t.get_text(), t.get_fontsize()) for t in titles))
        if k in self._titles:
            for t, pos in zip(titles, self._titles[k]):
                t.set_position(pos)
            return
        if not _titles_stay_up(ax, renderer):
            ax._update_title_position(renderer)
        self._titles[k] = [t.get_position() for t in titles]

    def _render_background(self) -> "tuple[Any, set]":
        """Draw the figure without the drawing code's artists and tick marks; return its pixels and the axes
        (x or y of some Axes) that are left out of it too and drawn whole with the rest (see _overlapping_axes)."""
        fig = self.fig
        fig.canvas.draw()  # a full draw: the positions of everything, to find the overlaps
        whole = _overlapping_axes(fig, fig.canvas.get_renderer())
        for ax in fig.axes:
            low_x, low_y, _ = _unclipped_below(ax)
            whole += [axis for axis, low in ((ax.xaxis, low_x), (ax.yaxis, low_y)) if low]
        hidden = [
            a for ax in fig.axes for a in _frame_artists(ax, whole) if not isinstance(a, _TickMarks)
        ]
        hidden += [
            line
            for ax in fig.axes
            for axis in (ax.xaxis, ax.yaxis)
            for line in _TickMarks(axis, axis._update_ticks()).lines()
        ]
        hidden = [a for a in hidden if a.get_visible()]
        for a in hidden:
            a.set_visible(False)
        try:
            fig.canvas.draw()
        finally:
            for a in hidden:
                a.set_visible(True)
        return fig.canvas.copy_from_bbox(fig.bbox), {id(axis) for axis in whole}


def _titles_stay_up(ax: Any, renderer: Any) -> bool:
    """Place the titles at the top of a plain Axes, as Axes._update_title_position does; False where that
    needs the general method: twins, child or aligned axes, ticks or an offset text that may reach the
    titles, or a title that would dip below the Axes' top.

    On a plain Axes that method puts every title at y = 1 (axes units) unless it dips below the top; it
    also measures every y tick label for the offset text, which is the slow part this skips.
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


def _overlapping_axes(fig: Figure, renderer: Any, pad: float = 4.0) -> list:
    """The axes (tick labels + label) that reach into an Axes drawn before them, or into its titles.

    A full draw paints such labels over that earlier Axes' lines and spines; a blitted redraw would paint
    them first (in the background), so they are drawn with the rest instead, in their place in the order.
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


class _TickMarks:
    """The tick marks of one axis, drawn where Axes.draw draws that axis (its zorder) in a blitted redraw.

    The background keeps the tick labels; the marks are drawn with the rest, so that an artist a full draw
    puts under them (a scatter at zorder 1 under the axis' 1.5) is under them here too.
    """

    def __init__(self, axis: Any, ticks: "list | None" = None) -> None:
        self.axis, self.zorder, self.ticks = axis, axis.get_zorder(), ticks

    def get_zorder(self) -> float:
        return self.zorder

    def lines(self) -> list:
        ticks = (
            self.axis._update_ticks() if self.ticks is None else self.ticks
        )  # the ticks a draw shows
        return [line for tick in ticks for line in (tick.gridline, tick.tick1line, tick.tick2line)]

    def draw(self, renderer: Any) -> None:
        for line in self.lines():
            line.draw(renderer)


def _frame_artists(ax: Any, whole: "set[int] | list" = (), ticks: "dict | None" = None) -> list:
    """What Axes.draw draws after its background patch, in its order; each axis is reduced to its tick marks
    (``ticks``: id(axis) -> the ticks it shows, when known) unless it is in ``whole`` (axes or their ids),
    which are drawn whole."""
    ids = {i if isinstance(i, int) else id(i) for i in whole}
    artists = [a for a in ax.get_children() if a is not ax.patch]
    if not (ax.axison and ax.get_frame_on()):
        artists = [a for a in artists if a not in ax.spines.values()]
    if not ax.axison:
        artists = [a for a in artists if a is not ax.xaxis and a is not ax.yaxis]
    artists = [
        _TickMarks(a, (ticks or {}).get(id(a)))
        if (a is ax.xaxis or a is ax.yaxis) and id(a) not in ids
        else a
        for a in artists
    ]
    return sorted(artists, key=lambda a: a.get_zorder())


def _static_key(fig: Figure) -> "tuple[tuple, dict] | None":
    """Everything that decides the background's pixels (and id(axis) -> the ticks each axis shows), or None
    when blitting could differ from a full draw.

    The background holds the figure and axes patches and the axes' ticks, tick labels and axis labels.
    Pasting it and drawing the rest on top equals a full draw when nothing else sits at figure level and
    no tick or grid line reaches inside an axes box, where an artist the full draw puts under them could lie.
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
        below = _unclipped_below(ax)
        if below[2] and i < len(fig.axes) - 1 and _spills(ax, below[2]):
            return None  # it reaches beyond its Axes, where a later Axes' background would cover it in a full draw
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
            shown[id(axis)] = ticks = (
                axis._update_ticks()
            )  # positions and labels, as a draw computes them
            direction = axis.get_tick_params().get(
                "direction", matplotlib.rcParams[f"{name}tick.direction"]
            )
            if ax.axison and (direction != "out" or any(t.gridline.get_visible() for t in ticks)):
                return None
            axes_key.append(
                (
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
            )
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


def _unclipped_below(ax: Any) -> "tuple[bool, bool, list]":
    """(x axis, y axis) flags: does an unclipped artist lie under that axis' zorder (then the axis is drawn
    whole, over it, as a full draw does); and the Axes' unclipped artists besides its frame and titles."""
    skip = {id(a) for a in (*ax.spines.values(), ax.title, ax._left_title, ax._right_title)}
    loose = [
        a
        for a in _frame_artists(ax)
        if not isinstance(a, _TickMarks)
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


def _spills(ax: Any, artists: list, pad: float = 4.0) -> bool:
    """Does any of these artists reach outside the Axes box (padded)?"""
    renderer = ax.figure.canvas.get_renderer()
    box = ax.bbox.padded(pad)
    for a in artists:
        ext = a.get_window_extent(renderer)
        if not (box.x0 <= ext.x0 and ext.x1 <= box.x1 and box.y0 <= ext.y0 and ext.y1 <= box.y1):
            return True
    return False


def _text_signature(ax: Any) -> tuple:
    """What of an Axes sizes the layout: its kind, the line lengths of its titles and labels, its longest tick labels."""
    ticks = tuple(
        max((len(t.get_text()) for t in a.get_ticklabels() if t.get_visible()), default=0)
        for a in (ax.xaxis, ax.yaxis)
    )
    texts = tuple(
        tuple(len(line) for line in s.split("\n"))
        for s in (
            *(ax.get_title(loc) for loc in ("left", "center", "right")),
            ax.get_xlabel(),
            ax.get_ylabel(),
        )
    )
    return (type(ax).__name__, hasattr(ax, "_colorbar"), texts, ticks)
