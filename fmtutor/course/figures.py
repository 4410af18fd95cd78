"""A matplotlib Figure redrawn again and again, cheaply: kept axes, a reused layout, blitting.

``KeptFigure`` is what ``widgets.LivePlot``, ``ch05.LossCurve`` and ``widgets.render_frames`` draw
on. Each redraw gives, pixel for pixel, the picture of a new pyplot figure with a constrained
layout drawn the same way and saved with savefig (tests/course/test_figures.py checks every live
figure of the course against one):

* the axes and their ticks are kept, and the constrained layout is recomputed only when what it
  reads (the boxes around the axes: ``fmtutor.course._layout``) measures differently;
* while the frames, ticks and tick labels come out as before (fixed limits), their pixels are kept
  and only the plotted artists are drawn on top, in the order a full draw uses (blitting; the
  rules of when that is exact are in ``fmtutor.course._blit``);
* both read private attributes of matplotlib, so they run only on the versions they are tested with
  and when those attributes are there (``fast_redraws``); elsewhere each PNG is a plain full draw.
"""

__all__ = ["KeptFigure", "fast_redraws", "FAST_VERSIONS", "PRIVATE_ATTRIBUTES"]

import io
from typing import Any

import matplotlib
import matplotlib.image
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from fmtutor.course._blit import (
    FAST_VERSIONS,
    PRIVATE_ATTRIBUTES,
    TickMarks,
    fast_redraws,
    frame_artists,
    overlapping_axes,
    static_key,
    titles_stay_up,
    unclipped_below,
)
from fmtutor.course._layout import layout_signature
from fmtutor.course.plots import figure_png


class KeptFigure:
    """A Figure drawn again and again, cheaply: kept axes, a reused layout, a cached background.

    Before each drawing call ``reset()``, then draw on ``fig`` (into ``fig.axes`` when ``ncols`` >
    0), then ``png(dpi)``. The PNG is, pixel for pixel, what a new figure drawn the same way gives
    (tests/course/test_figures.py), for less work:

    * the axes and their ticks are reused, and the constrained layout (two measuring passes) is
      redone only when the boxes around the axes measure differently from the last layout's;
    * when the axes' frames, ticks and tick labels come out as in the previous redraw (same limits,
      same positions: a plot with fixed limits), their pixels are rendered once, kept, and each
      redraw pastes them and draws only what the drawing code added (its lines, points, titles,
      legends), in the order a full draw would (blitting). Most of a full draw is tick-label text,
      so this is the big saving.

    One renderer serves every PNG, so its text and mathtext caches survive redraws.

    Args:
        figsize: figure size in inches.
        ncols: axes made for the drawing code in one row; 0 to let it make its own (then nothing is
            kept but the layout).
        width_ratios: the relative widths of those axes (as ``Figure.subplots`` takes them); None
            for equal widths.
    """

    def __init__(
        self,
        figsize: tuple[float, float],
        ncols: int = 1,
        width_ratios: "tuple[float, ...] | None" = None,
    ) -> None:
        if isinstance(ncols, bool) or not isinstance(ncols, int) or ncols < 0:
            raise ValueError(f"ncols: expected an integer >= 0, got {ncols!r}")
        if width_ratios is not None and (
            len(width_ratios) != ncols or not all(float(r) > 0 for r in width_ratios)
        ):
            raise ValueError(
                f"width_ratios: expected {ncols} positive numbers or None, got {width_ratios!r}"
            )
        self.width_ratios = None if width_ratios is None else tuple(width_ratios)
        if (
            not isinstance(figsize, (tuple, list))
            or len(figsize) != 2
            or not all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in figsize
            )
        ):
            raise ValueError(
                "figsize: expected (width, height) in inches, two positive numbers, "
                f"got {figsize!r}"
            )
        self.fig = Figure(figsize=tuple(figsize), layout="constrained")
        FigureCanvasAgg(self.fig)  # one renderer for every PNG
        self.ncols = ncols
        # (text signature, axes positions) of the last layout
        self._layout: "tuple[tuple, list] | None" = None
        # the axes made here for the drawing code
        self._own: list = []
        # did the last reset() keep the axes (else they are new, and nothing is blitted)
        self._kept = False
        # (static key, background pixels, ids of the axes drawn whole)
        self._background: "tuple[tuple, Any, set] | None" = None
        # the static key of the previous redraw
        self._last_key: "tuple | None" = None
        # what decides an axis' entry in the layout signature -> that entry (_blit.layout_signature)
        self._measured: dict = {}
        # (Axes, title texts) -> title positions, valid with the current background
        self._titles: dict = {}
        # redraws that pasted the kept background, and full layouts (for tests and benchmarks)
        self.blits = self.layouts = 0

    def reset(self) -> None:
        """Empty the figure for the next draw.

        When the figure holds just the ``ncols`` axes made here (no colorbar, no figure text), their
        plotted artists, legends, titles and labels are removed but the axes and their ticks are
        kept, which is several times cheaper than building new axes; otherwise the figure is
        cleared.
        """
        fig = self.fig
        if (
            self.ncols
            and self._layout is not None
            and fast_redraws(fig)
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
                # where a new Axes starts, and in the layout (set_position takes it out)
                ax.set_position(ax.get_subplotspec().get_position(fig))
                ax.set_in_layout(True)
            self._kept = True
            return
        self._kept, self._background, self._last_key = False, None, None
        fig.clear()
        if self.width_ratios is None:
            self._own = [fig.add_subplot(1, self.ncols, i + 1) for i in range(self.ncols)]
        else:  # as fig.subplots(1, ncols, width_ratios=...) makes them
            grid = fig.add_gridspec(1, self.ncols, width_ratios=self.width_ratios)
            self._own = [fig.add_subplot(grid[0, i]) for i in range(self.ncols)]

    def png(self, dpi: int = 80) -> bytes:
        """PNG bytes of the figure, reusing the last layout while nothing the layout reads changed.

        Every Axes takes part in the constrained layout, from where a new figure's would start
        (``reset`` puts kept Axes back in their subplot boxes). The layout is computed again when
        the boxes around the Axes (tick labels, axis labels, titles, unclipped artists) measure
        differently from the last layout's; otherwise its positions are put back and the figure is
        drawn once, without the layout's measuring passes. Where the fast redraws are not
        supported (``fast_redraws``), every PNG is a plain full draw.
        """
        if isinstance(dpi, bool) or not isinstance(dpi, int) or dpi < 1:
            raise ValueError(
                f"dpi: expected a resolution in dots per inch, an integer >= 1, got {dpi!r}"
            )
        fig = self.fig
        if fig.dpi != dpi:  # measure at the resolution the PNG is drawn at
            fig.set_dpi(dpi)
            self._background = self._last_key = None
        if not fast_redraws(fig):
            self._layout, self.layouts = None, self.layouts + 1
            return figure_png(fig, dpi)
        signature = layout_signature(fig, fig.canvas.get_renderer(), self._measured)
        if signature is not None and self._layout is not None and self._layout[0] == signature:
            fig.set_layout_engine(None)  # no engine at all: savefig then draws once, not twice
            try:
                for ax, (pos, anchor, box_aspect) in zip(fig.axes, self._layout[1]):
                    # both the original and the active box; aspect is applied at draw
                    ax.set_position(pos)
                    ax.set_anchor(anchor)
                    ax.set_box_aspect(box_aspect)
                return self._blit_png(dpi) if self._kept else figure_png(fig, dpi)
            finally:  # drawing code always sees a constrained figure (colorbars are made for it)
                for ax in fig.axes:
                    ax.set_in_layout(True)
                fig.set_layout_engine("constrained")
        png = figure_png(fig, dpi)
        self.layouts += 1
        self._layout = None
        if signature is not None:
            self._layout = (
                signature,
                [
                    (ax.get_position(original=True), ax.get_anchor(), ax.get_box_aspect())
                    for ax in fig.axes
                ],
            )
        return png

    def warm(self) -> bool:
        """Render the kept background now, from the picture just drawn, instead of two redraws on.

        ``png`` renders the background only once two redraws running show the same frames, ticks
        and labels, so that plots whose limits move never pay for it; the first two redraws of a
        plot with fixed limits are then full draws, the second one also rendering the background.
        Called right after a ``png`` (the figure still holds its artists), this renders it at
        once, so the next redraw with the same frames already pastes it. The PNGs stay the same.

        Returns:
            Whether a background is now kept (False where blitting does not apply).
        """
        fig = self.fig
        if not (self._layout and self.ncols and fig.axes == self._own and fast_redraws(fig)):
            return False
        fig.set_layout_engine(None)  # as png draws with a kept layout
        try:
            for ax, (pos, anchor, box_aspect) in zip(fig.axes, self._layout[1]):
                ax.set_position(pos)
                ax.set_anchor(anchor)
                ax.set_box_aspect(box_aspect)
            for ax in fig.axes:
                ax.apply_aspect()
            found = static_key(fig)
            if found is None:
                return False
            key = found[0]
            if self._background is None or self._background[0] != key:
                self._background = (key, *self._render_background())
                self._titles = {}
            self._last_key = key
            return True
        finally:
            for ax in fig.axes:
                ax.set_in_layout(True)
            fig.set_layout_engine("constrained")

    def _blit_png(self, dpi: int) -> bytes:
        """PNG of the figure from the kept background plus the drawing code's artists, when exact.

        The background is rendered (a full draw with the drawing code's artists hidden) only once a
        static key, everything that decides those pixels, has come out the same in two redraws
        running, so plots whose limits move with the data never pay for it.
        """
        fig = self.fig
        for ax in fig.axes:  # the active boxes a draw would use (equal aspect shrinks them)
            ax.apply_aspect()
        found = static_key(fig)
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
            for artist in frame_artists(ax, whole, ticks):
                artist.draw(renderer)
        self.blits += 1
        buf = io.BytesIO()
        # the same pixels as savefig, encoded in about half the time
        matplotlib.image.imsave(
            buf,
            canvas.buffer_rgba(),
            format="png",
            origin="upper",
            dpi=fig.dpi,
            pil_kwargs={"compress_level": 1},
        )
        return buf.getvalue()

    def _place_titles(self, ax: Any, renderer: Any) -> None:
        """Put the titles where Axes.draw would (above the top tick labels).

        The positions are remembered per title text: with a kept background, only the titles' own
        text can move them.
        """
        titles = (ax.title, ax._left_title, ax._right_title)
        k = (id(ax), *((t.get_text(), t.get_fontsize()) for t in titles))
        if k in self._titles:
            for t, pos in zip(titles, self._titles[k]):
                t.set_position(pos)
            return
        if not titles_stay_up(ax, renderer):
            ax._update_title_position(renderer)
        self._titles[k] = [t.get_position() for t in titles]

    def _render_background(self) -> "tuple[Any, set]":
        """Draw the figure without the drawing code's artists and tick marks.

        Returns:
            The pixels, and the ids of the axes (x or y of some Axes) left out of them too, to be
            drawn whole with the rest (see _blit.overlapping_axes).
        """
        fig = self.fig
        fig.canvas.draw()  # a full draw: the positions of everything, to find the overlaps
        whole = overlapping_axes(fig, fig.canvas.get_renderer())
        for ax in fig.axes:
            low_x, low_y, _ = unclipped_below(ax)
            whole += [axis for axis, low in ((ax.xaxis, low_x), (ax.yaxis, low_y)) if low]
        hidden = [
            a for ax in fig.axes for a in frame_artists(ax, whole) if not isinstance(a, TickMarks)
        ]
        hidden += [
            line
            for ax in fig.axes
            for axis in (ax.xaxis, ax.yaxis)
            for line in TickMarks(axis, axis._update_ticks()).lines()
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
