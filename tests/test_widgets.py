"""LivePlot's cheap redraw (kept axes, reused layout) must give the very picture a fresh plot gives.

A LivePlot keeps its axes and its last constrained layout between changes. The truth to hold it to: after
any sequence of changes, its PNG equals, pixel for pixel, the only render of a new LivePlot with the same
draw function created at the final values (which lays the figure out from scratch).
"""

import io
from typing import Any

import ipywidgets as W
import numpy as np
import pytest
import torch
import traitlets
from PIL import Image

from fmtutor import fields, schedules
from fmtutor.widgets import LivePlot

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class _Fixed(W.DOMWidget, W.ValueWidget):
    """A stand-in control that holds one value of any type."""

    value = traitlets.Any()


def _fresh(live: LivePlot) -> LivePlot:
    controls = {k: _Fixed(value=c.value) for k, c in live.controls.items()}
    return LivePlot(live.draw_fn, controls, figsize=tuple(live.fig.get_size_inches()), dpi=live.dpi, ncols=live.ncols)


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def _pairs() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.randn(300, 2, generator=g), torch.randn(300, 2, generator=g) + 1


def _widening(fig: Any, scale: float) -> str:
    """Tick labels grow from '0.5' to '100000': the kept layout would clip them."""
    ax = fig.axes[0]
    ax.plot([0, 1], [0, scale])
    ax.set_title(f"scale {scale:g}")
    return ""


CASES = {  # a LivePlot factory and a sequence of (control, value) changes
    "mle: two axes with legends": (lambda: fields.mle_explorer(m=500), [("mu", 0.5), ("std", 0.3), ("mu", 2.5)]),
    "field: colorbar, dropdown, checkbox": (fields.field_explorer,
                                            [("t", 0.4), ("particles", True), ("name", "sink"), ("t", 0.9)]),
    "flow: solver and steps": (fields.flow_explorer, [("n_steps", 9), ("method", "rk4"), ("n_steps", 2)]),
    "schedules: three axes": (lambda: schedules.schedule_widget(*_pairs()), [("t", 0.1), ("t", 0.97)]),
    "tick labels widen": (lambda: LivePlot(_widening, {"scale": W.FloatSlider(1.0, min=0.5, max=1e5)}),
                          [("scale", 0.5), ("scale", 1e5), ("scale", 2.0)]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_redraw_equals_fresh_plot(name: str) -> None:
    make, changes = CASES[name]
    live = make()
    for k, v in changes:
        live.controls[k].value = v
        assert live.last_error is None, live.last_error
        assert np.array_equal(_pixels(live.image.value), _pixels(_fresh(live).image.value)), f"after {k} = {v!r}"


def test_redraws_do_not_pile_up_artists() -> None:
    live = fields.mle_explorer(m=500)
    counts = []
    for mu in (0.0, 1.0, 2.0, 0.5):
        live.controls["mu"].value = mu
        counts.append([len(ax.get_children()) for ax in live.fig.axes])
    assert counts[0] == counts[-1]
    assert len(live.fig.axes) == 2


def test_draw_error_is_shown_and_the_next_change_recovers() -> None:
    def draw(fig: Any, k: int) -> str:
        if k == 3:
            raise ValueError("k must not be 3")
        fig.axes[0].plot([0, k])
        return f"k={k}"

    live = LivePlot(draw, {"k": W.IntSlider(1, 0, 5)})
    before = live.image.value
    live.controls["k"].value = 3
    assert isinstance(live.last_error, ValueError) and live.image.value == before
    live.controls["k"].value = 4
    assert live.last_error is None and live.text.value == "k=4"
    assert np.array_equal(_pixels(live.image.value), _pixels(_fresh(live).image.value))


def test_loss_curve_redraw_equals_fresh_curve() -> None:
    from fmtutor.views import LossCurve

    rng = np.random.default_rng(0)
    losses = 2 + np.exp(-np.arange(600) / 100) + 0.05 * rng.standard_normal(600)
    curve = LossCurve(600, every=100)
    for step, loss in enumerate(losses):
        curve(step, loss)
    assert curve.renders == 6
    fresh = LossCurve(600, every=100)
    fresh.losses = list(map(float, losses))
    fresh.draw()
    assert np.array_equal(_pixels(curve.image.value), _pixels(fresh.image.value))
    curve.floor = fresh.floor = 1.95  # a floor line and a legend entry appear: the layout must follow
    curve.draw(), fresh.draw()
    fresh2 = LossCurve(600, floor=1.95)
    fresh2.losses = list(map(float, losses))
    fresh2.draw()
    assert np.array_equal(_pixels(curve.image.value), _pixels(fresh2.image.value))
