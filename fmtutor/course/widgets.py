"""Widgets for the chapters, testable without a browser; their cheap redraw is course.figures.

* ``LivePlot``: controls that *recompute*. Each change calls your ``draw(fig, **values)``; the
  figure is rendered to PNG bytes and pushed into an ``ipywidgets.Image``. Its ``KeptFigure`` keeps
  the axes, reuses the constrained layout and, while the axes stay put, pastes their kept pixels
  and draws only the plotted artists (a drag step costs about half a full redraw; bench/RESULTS.md,
  "Widget latency"); the picture is the same, pixel for pixel. Errors in ``draw`` appear in an
  Output below the plot.
* ``FramePlayer``: animations. Frames are rendered once into ``Image`` widgets inside a ``Stack``;
  a ``Play`` button and a slider are linked to it *in the browser* (``jslink``), so playback needs
  no kernel round-trip.

Headless use: set ``control.value`` and read ``live.image.value`` (the PNG bytes) or ``live.calls``.
"""

__all__ = ["LivePlot", "FramePlayer", "render_frames"]

from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as W
from IPython.display import display
from matplotlib.figure import Figure

from fmtutor.course.figures import KeptFigure


class LivePlot:
    """A figure redrawn from the current values of some controls.

    Args:
        draw: ``draw(fig, **values)`` that draws onto the (cleared) Figure; may return a short text
            shown under the plot (e.g. a measured number).
        controls: name -> ipywidgets control (its ``.value`` is passed to draw under that name).
        figsize: figure size in inches. dpi: PNG resolution.
        ncols: number of subplot columns created for you (``fig.axes``); 0 to create none.

    >>> import ipywidgets as W
    >>> draw = lambda fig, k: fig.axes[0].plot([0, k]) and f"k={k}"
    >>> lp = LivePlot(draw, {"k": W.IntSlider(1, 0, 5)})
    >>> lp.controls["k"].value = 3
    >>> lp.text.value, lp.calls
    ('k=3', 2)
    """

    def __init__(
        self,
        draw: Callable[..., Any],
        controls: "dict[str, W.ValueWidget]",
        figsize: tuple[float, float] = (5, 4.5),
        dpi: int = 80,
        ncols: int = 1,
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
        self.draw_fn, self.controls, self.dpi, self.ncols = draw, controls, dpi, ncols
        self.kept = KeptFigure(figsize, ncols)
        self.fig = self.kept.fig
        # natural size: a VBox would otherwise stretch the PNG to the output's width (blurry, huge)
        self.image = W.Image(
            format="png", layout=W.Layout(align_self="flex-start", max_width="100%")
        )
        self.text = W.HTML()
        self.errors = W.Output()
        self.calls = 0
        for c in controls.values():
            c.observe(self._on_change, names="value")
        self.widget = W.VBox([W.HBox(list(controls.values())), self.image, self.text, self.errors])
        self.update()

    @property
    def values(self) -> dict[str, Any]:
        """The controls' current values."""
        return {k: c.value for k, c in self.controls.items()}

    def _on_change(self, change: Any) -> None:
        self.update()

    def update(self) -> None:
        """Redraw from the current values.

        An exception raised by ``draw`` is shown in the error Output and kept in ``.last_error``.
        """
        self.calls += 1
        self.last_error: "BaseException | None" = None
        self.errors.outputs = ()
        self.kept.reset()
        try:
            msg = self.draw_fn(self.fig, **self.values)
        except Exception as e:  # shown to the student instead of vanishing in the browser console
            self.last_error = e
            with self.errors:
                print(f"error while redrawing: {type(e).__name__}: {e}")
            return
        self.text.value = msg if isinstance(msg, str) else ""
        self.image.value = self.kept.png(self.dpi)

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

    Args:
        frames: PNG bytes of each frame (see render_frames).
        interval: milliseconds between frames when playing.
        description: label of the slider.
    """

    def __init__(
        self, frames: Sequence[bytes], interval: int = 80, description: str = "frame"
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
        self.images = [W.Image(value=f, format="png") for f in frames]
        self.stack = W.Stack(self.images, selected_index=0)
        self.play = W.Play(value=0, min=0, max=len(frames) - 1, interval=interval)
        self.slider = W.IntSlider(value=0, min=0, max=len(frames) - 1, description=description)
        W.jslink((self.play, "value"), (self.slider, "value"))
        W.jslink((self.slider, "value"), (self.stack, "selected_index"))
        self.widget = W.VBox([W.HBox([self.play, self.slider]), self.stack])

    def _ipython_display_(self) -> None:
        display(self.widget)
