"""Helpers for tests of live figures: a PNG as pixels, and a fresh LivePlot's render at a live plot's values.

conftest.py loads this file as the module ``fmtutor_tests_live`` (tests/ is not a package).
"""

from __future__ import annotations

import io

import numpy as np


def pixels(png: bytes) -> np.ndarray:
    """The RGB pixels of a PNG, shape (H, W, 3)."""
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def fresh_picture(live) -> np.ndarray:
    """The only render of a new LivePlot drawing the same function at the same control values."""
    import ipywidgets as W
    import traitlets

    from fmtutor.course.widgets import LivePlot

    class Fixed(W.DOMWidget, W.ValueWidget):
        value = traitlets.Any()

    fresh = LivePlot(
        live.draw_fn,
        {k: Fixed(value=c.value) for k, c in live.controls.items()},
        figsize=tuple(live.fig.get_size_inches()),
        dpi=live.dpi,
        ncols=live.ncols,
        width_ratios=getattr(live, "width_ratios", None),
    )
    return pixels(fresh.image.value)
