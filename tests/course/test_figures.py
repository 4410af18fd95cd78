"""fmtutor.course.figures: a KeptFigure redrawn many times gives the picture of a new one drawn once."""

import io

import numpy as np
import pytest
from PIL import Image

from fmtutor.course.figures import KeptFigure


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def _draw(ax, k: int) -> None:
    ax.plot([0, 1, 2], [0, k, 2 * k])
    ax.set(xlim=(0, 2), ylim=(-1, 10), title=f"k = {k}")


def _fresh(k: int, dpi: int) -> bytes:
    """The only render of a new KeptFigure drawn at k (its layout and every pixel made from scratch)."""
    kept = KeptFigure((3, 2.5), ncols=1)
    kept.reset()
    _draw(kept.fig.axes[0], k)
    return kept.png(dpi)


def test_redraws_equal_a_fresh_figure_and_fixed_limits_are_blitted():
    kept = KeptFigure((3, 2.5), ncols=1)
    for k in (1, 3, 2, 4):
        kept.reset()
        _draw(kept.fig.axes[0], k)
        assert np.array_equal(_pixels(kept.png(50)), _pixels(_fresh(k, 50))), k
    assert kept.blits >= 1
    assert len(kept.fig.axes) == 1 and len(kept.fig.axes[0].lines) == 1  # nothing piles up


def test_png_has_figsize_times_dpi_pixels_and_ncols_axes():
    kept = KeptFigure((4, 2), ncols=3)
    kept.reset()
    assert len(kept.fig.axes) == 3
    assert Image.open(io.BytesIO(kept.png(30))).size == (120, 60)
    bare = KeptFigure((4, 2), ncols=0)
    bare.reset()
    assert bare.fig.axes == []


@pytest.mark.xfail(
    strict=True,
    reason="KeptFigure.png puts each kept axes at its subplot position with Axes.set_position, which "
    "takes it out of the constrained layout: the picture is that of a figure without a layout "
    "(fixing it changes every widget's pixels: rewrite the snapshot when it is fixed)",
)
def test_first_render_equals_a_plain_constrained_figure():
    from matplotlib.figure import Figure

    from fmtutor.course.plots import figure_png

    fig = Figure(figsize=(3, 2.5), layout="constrained")
    _draw(fig.add_subplot(), 1)
    assert np.array_equal(_pixels(_fresh(1, 50)), _pixels(figure_png(fig, 50)))
