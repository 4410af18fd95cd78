"""Widgets for the chapters, testable without a browser; their cheap redraw is course.figures.

* ``LivePlot``: controls that *recompute*. Each change calls your ``draw(fig, **values)``; the
  figure is rendered to PNG bytes and pushed into an ``ipywidgets.Image``. Its ``KeptFigure`` keeps
  the axes, reuses the constrained layout and, while the axes stay put, pastes their kept pixels
  and draws only the plotted artists (a drag step costs about half a full redraw; bench/RESULTS.md,
  "Widget latency"); the picture is the same, pixel for pixel. Where a redraw's honest work is
  larger than a blink, a ``draft`` shows a coarse picture first, then the final one. Errors in
  ``draw`` appear in an Output below the plot.
* ``SolvedPaths``: what a trajectory slider needs: one ODE solve per setting (cached) and the
  particles' positions at any time t along it, exactly as a solve stopped at t would give them.
* ``FramePlayer``: animations. Frames are rendered once into ``Image`` widgets inside a ``Stack``;
  a ``Play`` button and a slider are linked to it *in the browser* (``jslink``), so playback needs
  no kernel round-trip.

Headless use: set ``control.value`` and read ``live.image.value`` (the PNG bytes) or ``live.calls``;
``live.busy`` tells whether a redraw is running.
"""

__all__ = [
    "LivePlot",
    "SolvedPaths",
    "FramePlayer",
    "render_frames",
    "png_image",
    "set_png",
    "css_width",
]

import time
from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as W
from IPython.display import display
from matplotlib.figure import Figure

from fmtutor.course._solved import SolvedPaths
from fmtutor.course.figures import KeptFigure
from fmtutor.course.i18n import tr

BUSY_TEXT = "↻ recomputing…"
# The busy state in the browser: the sign and the dimmed picture show only once a redraw has run for
# 100 ms (a transition delay on entering the state; leaving it is immediate).
_BUSY_CSS = """<style>
.fmtutor-live .fmtutor-busy-sign { visibility: hidden; color: #555; }
.fmtutor-live.fmtutor-busy .fmtutor-busy-sign {
  visibility: visible; transition: visibility 0s linear 0.1s; }
.fmtutor-live.fmtutor-busy img { opacity: 0.5; transition: opacity 0s linear 0.1s; }
</style>"""


#: The font size at which a widget image shows at its PNG's pixel size: JupyterLab's content font.
BASE_FONT_PX = 14
#: The CSS length that font size is read from (JupyterLab's Presentation Mode makes it 17 px;
#: elsewhere, as in Colab or VS Code, the variable is missing and the fallback holds).
FONT_VAR = f"var(--jp-content-font-size1, {BASE_FONT_PX}px)"


def css_width(pixels: int) -> str:
    """A CSS width of ``pixels`` px at the content font's usual 14 px, growing with that font.

    >>> css_width(480)
    'calc(var(--jp-content-font-size1, 14px) * 480 / 14)'
    """
    return f"calc({FONT_VAR} * {int(pixels)} / {BASE_FONT_PX})"


def png_image(png: bytes = b"") -> W.Image:
    """An Image widget that shows a PNG at its own size, never stretched, narrowed to fit.

    A VBox stretches its children to its width (a 480 px plot to 930 px, blurry); here the image
    keeps its place at the left, its width and height attributes are the PNG's pixels
    (``set_png``), and CSS only narrows it to the output's width, keeping its aspect. Its CSS
    width follows the notebook's content font (``css_width``): the PNG's pixel size at the usual
    font, larger in Presentation Mode, as the text around it grows (height auto: aspect kept).
    """
    image = W.Image(
        format="png",
        layout=W.Layout(
            align_self="flex-start", max_width="100%", height="auto", object_fit="contain"
        ),
    )
    if png:
        set_png(image, png)
    return image


def set_png(image: W.Image, png: bytes) -> None:
    """Show PNG bytes in ``image`` at their pixel size (the width and height sent together)."""
    data = bytes(png[:24])
    if not data.startswith(b"\x89PNG\r\n\x1a\n") or data[12:16] != b"IHDR":
        raise ValueError(f"png: expected PNG bytes, got {data[:8]!r}...")
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    with image.hold_sync():
        image.width, image.height = str(width), str(height)
        image.layout.width = css_width(width)
        image.value = png


class LivePlot:
    """A figure redrawn from the current values of some controls.

    Args:
        draw: ``draw(fig, **values)`` that draws onto the (cleared) Figure; may return a short text
            shown under the plot (e.g. a measured number).
        controls: name -> ipywidgets control (its ``.value`` is passed to draw under that name).
        figsize: figure size in inches. dpi: PNG resolution.
        ncols: number of subplot columns created for you (``fig.axes``); 0 to create none.
        width_ratios: their relative widths (None: equal).
        fixed_frame: the axes' limits, ticks and labels do not depend on the controls: the kept
            background (``KeptFigure.warm``) is rendered with the first picture, so that every
            redraw, the first ones included, pastes it (the same picture, drawn sooner).
        draft: where the honest work of a redraw is larger than a blink: ``draft(fig, **values)``
            draws a coarse picture quickly (fewer steps or probes, no measurement) and returns its
            text, or returns ``False`` without drawing when ``draw`` is quick at these values (e.g.
            cached). A drafted redraw shows the draft first, with the busy sign reading
            "refining…", then the final picture of ``draw`` (the same as without a draft).
            ``first_png`` holds (perf_counter, process_time) when the first picture of the last
            redraw was sent, ``drafts`` counts the redraws that showed a draft.

    >>> import ipywidgets as W
    >>> draw = lambda fig, k: fig.axes[0].plot([0, k]) and f"k={k}"
    >>> lp = LivePlot(draw, {"k": W.IntSlider(1, 0, 5)})
    >>> lp.controls["k"].value = 3
    >>> lp.text.value, lp.calls, lp.busy
    ('k=3', 2, False)
    """

    def __init__(
        self,
        draw: Callable[..., Any],
        controls: "dict[str, W.ValueWidget]",
        figsize: tuple[float, float] = (5, 4.5),
        dpi: int = 80,
        ncols: int = 1,
        fixed_frame: bool = False,
        draft: "Callable[..., Any] | None" = None,
        width_ratios: "tuple[float, ...] | None" = None,
    ) -> None:
        if not callable(draw):
            raise TypeError(
                f"draw: expected a callable draw(fig, **values), got {type(draw).__name__}"
            )
        if not isinstance(controls, dict) or not all(
            hasattr(c, "value") and hasattr(c, "observe") for c in controls.values()
        ):
            got = (
                type(controls).__name__
                if not isinstance(controls, dict)
                else {k: type(c).__name__ for k, c in controls.items()}
            )
            raise TypeError(f"controls: expected a dict of name -> ipywidgets control, got {got}")
        if draft is not None and not callable(draft):
            raise TypeError(
                "draft: expected None or a callable draft(fig, **values), got "
                f"{type(draft).__name__}"
            )
        self.draw_fn, self.controls, self.dpi, self.ncols = draw, controls, dpi, ncols
        self.draft_fn = draft
        self.drafts = 0
        self.first_png: "tuple[float, float] | None" = None
        self.kept = KeptFigure(figsize, ncols, width_ratios)
        self.width_ratios = self.kept.width_ratios
        self.fig = self.kept.fig
        self.image = png_image()
        self.text = W.HTML()
        self.errors = W.Output()
        # the busy sign: its text is set while a redraw runs; the style sheet delays showing it
        self.busy_sign = W.HTML(value="", layout=W.Layout(min_width="9em"))
        self.busy_sign.add_class("fmtutor-busy-sign")
        self.calls = 0
        for c in controls.values():
            c.observe(self._on_change, names="value")
        style = W.HTML(_BUSY_CSS, layout=W.Layout(display="none"))
        self.widget = W.VBox(
            [
                # the controls wrap onto a second row rather than squeeze the sliders
                W.HBox([*controls.values(), self.busy_sign], layout=W.Layout(flex_flow="row wrap")),
                self.image,
                self.text,
                self.errors,
                style,
            ]
        )
        self.widget.add_class("fmtutor-live")
        self.update(draft=False)  # nobody sees the first picture before it is final
        if fixed_frame and self.last_error is None:
            self.kept.warm()

    @property
    def values(self) -> dict[str, Any]:
        """The controls' current values."""
        return {k: c.value for k, c in self.controls.items()}

    @property
    def busy(self) -> bool:
        """Whether a redraw is running (the widget shows its busy state)."""
        return "fmtutor-busy" in self.widget._dom_classes

    def _set_busy(self, on: bool) -> None:
        """Switch the busy state: the sign's text and the container's class (the CSS hook)."""
        self.busy_sign.value = tr("↻ recomputing…") if on else ""
        if on:
            self.widget.add_class("fmtutor-busy")
        else:
            self.widget.remove_class("fmtutor-busy")

    def _on_change(self, change: Any) -> None:
        self.update()

    def update(self, draft: bool = True) -> None:
        """Redraw from the current values, busy from the first line of the draw to the new picture.

        With a ``draft`` function (and ``draft`` True) its coarse picture is shown first.

        An exception raised by ``draw`` is shown in the error Output and kept in ``.last_error``.
        """
        self.calls += 1
        self.last_error: "BaseException | None" = None
        self.errors.outputs = ()
        self._set_busy(True)  # sent to the browser now, before the kernel gets busy
        self.first_png = None
        try:
            if draft and self.draft_fn is not None and not self._draft():
                return
            self.kept.reset()
            try:
                msg = self.draw_fn(self.fig, **self.values)
            except Exception as e:  # shown to the student instead of vanishing in the console
                self.last_error = e
                with self.errors:
                    kind = type(e).__name__
                    print(tr("error while redrawing: {kind}: {error}", kind=kind, error=e))
                return
            self.text.value = msg if isinstance(msg, str) else ""
            set_png(self.image, self.kept.png(self.dpi))
            if self.first_png is None:
                self.first_png = (time.perf_counter(), time.process_time())
        finally:
            self._set_busy(False)

    def _draft(self) -> bool:
        """Show the coarse picture of ``draft`` when it gives one; False when it failed."""
        assert self.draft_fn is not None
        self.kept.reset()
        try:
            msg = self.draft_fn(self.fig, **self.values)
        except Exception as e:  # as in update: shown, not swallowed
            self.last_error = e
            with self.errors:
                kind = type(e).__name__
                print(tr("error while redrawing: {kind}: {error}", kind=kind, error=e))
            return False
        if msg is False:  # no draft needed: the final picture is quick at these values
            return True
        self.drafts += 1
        png = self.kept.png(self.dpi)
        with self.image.hold_sync(), self.text.hold_sync():
            self.text.value = msg if isinstance(msg, str) else ""
            set_png(self.image, png)
        self.first_png = (time.perf_counter(), time.process_time())
        self.busy_sign.value = tr("↻ refining…")
        return True

    def _ipython_display_(self) -> None:
        display(self.widget)


def render_frames(
    draw: Callable[[Figure, int], None],
    n_frames: int,
    figsize: tuple[float, float] = (4.5, 4.5),
    dpi: int = 72,
) -> list[bytes]:
    """Render frames 0..n_frames-1 with ``draw(fig, i)`` on one reused Figure.

    Returns:
        The PNG bytes of each frame.
    """
    if not callable(draw):
        raise TypeError(f"draw: expected a callable draw(fig, i), got {type(draw).__name__}")
    if isinstance(n_frames, bool) or not isinstance(n_frames, int) or n_frames < 1:
        raise ValueError(f"n_frames: expected an integer >= 1, got {n_frames!r}")
    kept = KeptFigure(figsize, ncols=1)
    frames = []
    for i in range(n_frames):
        kept.reset()
        draw(kept.fig, i)
        frames.append(kept.png(dpi))
    return frames


class FramePlayer:
    """Pre-rendered frames played in the browser: Play -> IntSlider -> Stack, all ``jslink``-ed.

    On ipywidgets 7 (no ``Stack``) the slider's kernel-side observer shows frame k in a ``Box``.

    Args:
        frames: PNG bytes of each frame (see render_frames).
        interval: milliseconds between frames when playing.
        description: label of the slider (default: 'frame', in the chapter's language).
    """

    def __init__(
        self, frames: Sequence[bytes], interval: int = 80, description: "str | None" = None
    ) -> None:
        if isinstance(frames, (str, bytes)) or len(frames) < 2:
            raise ValueError(f"frames: expected at least 2 frames, got {len(frames)}")
        kinds = {
            type(f).__name__ for f in frames if not isinstance(f, (bytes, bytearray, memoryview))
        }
        if kinds:
            raise TypeError(f"frames: expected PNG bytes (see render_frames), got {sorted(kinds)}")
        if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
            raise ValueError(
                f"interval: expected milliseconds between frames, an integer >= 1, got {interval!r}"
            )
        self.images = [png_image(f) for f in frames]
        self.play = W.Play(value=0, min=0, max=len(frames) - 1, interval=interval)
        self.slider = W.IntSlider(
            value=0, min=0, max=len(frames) - 1, description=description or tr("frame")
        )
        W.jslink((self.play, "value"), (self.slider, "value"))
        if hasattr(W, "Stack"):  # ipywidgets >= 8: the browser switches frames, no kernel trip
            self.stack = W.Stack(self.images, selected_index=0)
            W.jslink((self.slider, "value"), (self.stack, "selected_index"))
        else:  # ipywidgets 7 (Colab) has no Stack: the kernel puts frame k in a Box
            self.stack = W.Box([self.images[0]])
            self.slider.observe(
                lambda change: setattr(self.stack, "children", [self.images[change["new"]]]),
                names="value",
            )
        self.widget = W.VBox([W.HBox([self.play, self.slider]), self.stack])

    def _ipython_display_(self) -> None:
        display(self.widget)
