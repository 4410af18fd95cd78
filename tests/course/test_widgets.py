"""fmtutor.course.widgets: LivePlot's cheap redraw (kept axes, reused layout, blitted background) must give the very picture a fresh plot gives.

A LivePlot keeps its axes and its last constrained layout between changes, and, while frames and ticks stay
put, pastes their kept pixels and draws only the rest. The truth to hold it to: after any sequence of
changes, its PNG equals, pixel for pixel, the only render of a new LivePlot with the same draw function
created at the final values (which lays the figure out and draws everything from scratch).
"""

import io
import math
import sys
from typing import Any

import ipywidgets as W
import numpy as np
import pytest
import torch
import traitlets
from matplotlib.colors import PowerNorm
from PIL import Image

from fmtutor.course import ch00, ch01, ch02, ch09
from fmtutor.course.widgets import FramePlayer, LivePlot, render_frames

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class _Fixed(W.DOMWidget, W.ValueWidget):
    """A stand-in control that holds one value of any type."""

    value = traitlets.Any()


def _fresh(live: LivePlot) -> LivePlot:
    controls = {k: _Fixed(value=c.value) for k, c in live.controls.items()}
    return LivePlot(
        live.draw_fn,
        controls,
        figsize=tuple(live.fig.get_size_inches()),
        dpi=live.dpi,
        ncols=live.ncols,
        width_ratios=live.width_ratios,
    )


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


def _edges(fig: Any, k: int, grid: bool) -> str:
    """Fixed limits (so redraws are blitted), artists below the axis' zorder, one unclipped across the ticks."""
    ax = fig.axes[0]
    x = np.linspace(-1.2, 1.2, 40)
    ax.scatter(x, np.sin(k * x), s=30, zorder=1, label="points")
    ax.scatter(
        [-1.0, 1.0], [-1.05, 1.05], s=400, clip_on=False, zorder=0.5, color="#009E73"
    )  # over the spines and ticks
    ax.fill_between(x, -0.2 * k, 0.2 * k, alpha=0.3, zorder=0.8)
    ax.plot(x, np.cos(k * x), zorder=2.2, label="line")
    ax.set(xlim=(-1, 1), ylim=(-1, 1), title=f"k = {k}", xlabel="x")
    ax.grid(grid)
    ax.legend(loc="lower left")
    return ""


CASES = {  # a LivePlot factory and a sequence of (control, value) changes
    "mle: two axes with legends": (
        lambda: ch00.mle_explorer(m=500),
        [("mu", 0.5), ("std", 0.3), ("mu", 2.5), ("mu", 1.0), ("mu", -1.5)],
    ),
    "field: colorbar, dropdown, checkbox": (
        ch01.field_explorer,
        [("t", 0.4), ("particles", True), ("name", "sink"), ("t", 0.9)],
    ),
    "flow: solver and steps": (
        ch02.flow_explorer,
        [("n_steps", 9), ("method", "rk4"), ("n_steps", 2), ("n_steps", 3)],
    ),
    "schedules: three axes, labels touching": (
        lambda: ch09.schedule_widget(*_pairs()),
        [("t", 0.1), ("t", 0.97), ("t", 0.5), ("t", 0.0)],
    ),
    "unclipped artists, grid switched on and off": (
        lambda: LivePlot(_edges, {"k": W.IntSlider(1, 0, 6), "grid": W.Checkbox(False)}),
        [("k", 2), ("k", 3), ("k", 4), ("grid", True), ("k", 5), ("grid", False), ("k", 6)],
    ),
    "tick labels widen": (
        lambda: LivePlot(_widening, {"scale": W.FloatSlider(1.0, min=0.5, max=1e5)}),
        [("scale", 0.5), ("scale", 1e5), ("scale", 2.0)],
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_redraw_equals_fresh_plot(name: str) -> None:
    make, changes = CASES[name]
    live = make()
    for k, v in changes:
        live.controls[k].value = v
        assert live.last_error is None, live.last_error
        assert np.array_equal(_pixels(live.image.value), _pixels(_fresh(live).image.value)), (
            f"after {k} = {v!r}"
        )


@pytest.mark.parametrize(
    "name",
    [
        "mle: two axes with legends",
        "flow: solver and steps",
        "schedules: three axes, labels touching",
        "unclipped artists, grid switched on and off",
    ],
)
def test_fixed_limit_plots_are_blitted(name: str) -> None:
    """The cases above with fixed limits do take the blitted path, so their equality is the blit's."""
    make, changes = CASES[name]
    live = make()
    for k, v in changes:
        live.controls[k].value = v
    assert live.kept.blits >= 2, live.kept.blits


def test_redraws_do_not_pile_up_artists() -> None:
    live = ch00.mle_explorer(m=500)
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


def test_render_frames_gives_each_frame_as_a_fresh_figure_would():
    def draw(fig: Any, i: int) -> None:
        fig.axes[0].plot([0, 1], [0, i])
        fig.axes[0].set_title(f"frame {i}")

    frames = render_frames(draw, 3, figsize=(3, 2), dpi=40)
    assert len(frames) == 3 and len(set(frames)) == 3
    for i, png in enumerate(frames):
        assert _pixels(png).shape == (80, 120, 3)
        fresh = LivePlot(
            lambda fig, i: draw(fig, i), {"i": _Fixed(value=i)}, figsize=(3, 2), dpi=40
        )
        assert np.array_equal(_pixels(png), _pixels(fresh.image.value))


def test_frame_player_links_play_slider_and_stack():
    frames = render_frames(lambda fig, i: fig.axes[0].plot([0, i]), 4, figsize=(2, 2), dpi=30)
    player = FramePlayer(frames, interval=50, description="t")
    assert [im.value for im in player.images] == frames
    assert (player.play.max, player.slider.max, player.play.interval) == (3, 3, 50)
    assert player.stack.selected_index == 0 and player.slider.description == "t"


def test_busy_state_is_on_while_a_redraw_runs_and_off_after(monkeypatch):
    """A slow draw sees the busy sign and class switched on; the browser is told before the draw."""
    import time

    from fmtutor.course import widgets

    seen, sent = [], []
    holder: dict[str, LivePlot] = {}

    def slow(fig: Any, k: int) -> str:
        live = holder.get("live")
        if live is not None:
            seen.append((live.busy, live.busy_sign.value))
            sent.append("draw")
        time.sleep(0.12)  # slower than the ~100 ms the sign waits for in the browser
        if k == 3:
            raise ValueError("k must not be 3")
        fig.axes[0].plot([0, k])
        return f"k={k}"

    live = LivePlot(slow, {"k": W.IntSlider(1, 0, 5)})
    holder["live"] = live
    assert not live.busy and live.busy_sign.value == ""
    orig = W.Widget.send_state

    def spy(self: Any, key: Any = None) -> None:  # record what reaches the browser, in order
        keys = [key] if isinstance(key, str) else list(key or [])
        if self is live.widget and "_dom_classes" in keys:
            sent.append("busy" if "fmtutor-busy" in self._dom_classes else "idle")
        if self is live.image and "value" in keys:
            sent.append("image")
        orig(self, key)

    monkeypatch.setattr(W.Widget, "send_state", spy)
    live.controls["k"].value = 2
    assert seen == [(True, widgets.BUSY_TEXT)]
    assert sent == ["busy", "draw", "image", "idle"], sent
    assert not live.busy and live.busy_sign.value == "" and live.text.value == "k=2"
    live.controls["k"].value = 3  # a draw that fails leaves the busy state too
    assert isinstance(live.last_error, ValueError) and not live.busy and live.busy_sign.value == ""
    # the style sheet that delays the sign and dims the picture uses the classes set here
    css = live.widget.children[-1].value
    assert (
        "fmtutor-busy-sign" in live.busy_sign._dom_classes
        and "fmtutor-live" in live.widget._dom_classes
    )
    assert ".fmtutor-live.fmtutor-busy .fmtutor-busy-sign" in css and "0.1s" in css


def test_solved_paths_reads_a_solve_at_any_time():
    from fmtutor.course.widgets import SolvedPaths
    from fmtutor.solvers import solve

    f = lambda x, t: torch.stack([-x[:, 1], x[:, 0]], 1) * (1 + t)  # noqa: E731
    x0 = torch.tensor([[1.0, 0.0], [0.0, 2.0]], dtype=torch.float64)
    paths = SolvedPaths(x0)
    path, x = paths.at("f", f, "rk4", 5, 0.4)  # a grid time: the stored state
    assert paths.solves == 1 and path.shape == (4, 2, 2)
    assert torch.equal(x, paths.solution("f", f, "rk4", 5).trajectory[2]) and torch.equal(
        path[-1], x
    )
    path, x = paths.at("f", f, "rk4", 5, 0.53)  # between: one RK4 step from 0.4 to 0.53
    grid = torch.tensor([0.0, 0.2, 0.4, 0.53], dtype=torch.float64)
    assert torch.allclose(x, solve(f, x0, "rk4", time_grid=grid).x, atol=1e-14, rtol=0)
    assert paths.solves == 1 and path.shape == (4, 2, 2)
    # the exact flow rotates by the angle t + t^2 / 2; RK4's state at 0.53 is close to it
    ang = 0.53 + 0.53**2 / 2
    exact = torch.tensor([[math.cos(ang), math.sin(ang)], [-2 * math.sin(ang), 2 * math.cos(ang)]])
    assert torch.allclose(x, exact.double(), atol=1e-4)
    _, x0_back = paths.at("f", f, "rk4", 5, 0.0)
    assert torch.equal(x0_back, x0)
    with pytest.raises(ValueError, match="t: expected a time in"):
        paths.at("f", f, "rk4", 5, 1.2)


def test_images_keep_their_size_and_aspect():
    """Every image widget shows its PNG at the PNG's pixel size: never stretched by its box."""
    from fmtutor.course import ch05
    from fmtutor.course.widgets import png_image, set_png

    live = ch01.field_explorer()
    curve = ch05.LossCurve(100, every=50)
    for step in range(100):
        curve(step, 1.0 / (1 + step))
    frames = render_frames(lambda fig, i: fig.axes[0].plot([0, i]), 2, figsize=(3, 2), dpi=40)
    images = [live.image, curve.image, *FramePlayer(frames).images]
    assert live.image in live.widget.children and curve.image in curve.widget.children
    for image in images:
        width, height = Image.open(io.BytesIO(image.value)).size
        assert (image.width, image.height) == (str(width), str(height))
        lay = image.layout  # the box may narrow it (aspect kept), never widen or stretch it
        assert (lay.align_self, lay.max_width, lay.height) == ("flex-start", "100%", "auto")
        assert lay.object_fit == "contain"
        # its CSS width: the PNG's pixels at the usual 14 px content font, growing with that font
        font = "var(--jp-content-font-size1, 14px)"
        assert lay.width == f"calc({font} * {width} / 14)", lay.width
    assert (curve.image.width, curve.image.height) == ("480", "272")  # figsize (6, 3.4) at 80 dpi
    live.controls["particles"].value = True  # a redraw keeps them in step with the new PNG
    assert live.image.width == str(Image.open(io.BytesIO(live.image.value)).size[0])
    assert live.image.layout.width.endswith(f"* {live.image.width} / 14)")
    other = png_image()
    set_png(other, frames[0])
    assert (other.width, other.height) == ("120", "80")
    with pytest.raises(ValueError, match="png: expected PNG bytes"):
        set_png(other, b"GIF89a" + bytes(30))


def _fixed_box(fig: Any, k: int) -> str:
    """A plot with fixed limits and labels: only the line moves with k."""
    ax = fig.axes[0]
    ax.plot([0, 1], [0, k], color="#0072B2")
    ax.set(xlim=(0, 1), ylim=(0, 5), xlabel="x", ylabel="y", title="fixed frame")
    return ""


def test_fixed_frame_pastes_the_background_from_the_first_redraw():
    """fixed_frame renders the kept background with the first picture: every redraw blits, the
    first ones included (without it the first two are full draws), and the picture is the same."""
    plain = LivePlot(_fixed_box, {"k": W.IntSlider(1, 0, 5)})
    fixed = LivePlot(_fixed_box, {"k": W.IntSlider(1, 0, 5)}, fixed_frame=True)
    assert fixed.kept.blits == plain.kept.blits == 0  # the first picture is a full draw
    for k, blits in ((2, 1), (3, 2), (4, 3)):
        plain.controls["k"].value = fixed.controls["k"].value = k
        assert fixed.kept.blits == blits, (k, fixed.kept.blits)
        assert np.array_equal(_pixels(fixed.image.value), _pixels(plain.image.value)), k
        assert np.array_equal(_pixels(fixed.image.value), _pixels(_fresh(fixed).image.value)), k
    assert plain.kept.blits == 2  # the plain plot's first redraw drew everything


def test_a_draft_is_shown_first_then_the_final_picture_as_a_fresh_plot_draws_it(monkeypatch):
    """With ``draft``, a change sends the coarse picture (busy sign "refining…"), then the final one."""
    from fmtutor.course import widgets
    from fmtutor.course.i18n import tr

    done: set[int] = set()

    def draw(fig: Any, k: int) -> str:
        done.add(k)
        fig.axes[0].plot([0, 1], [0, k], color="C0")
        return f"final k={k}"

    def draft(fig: Any, k: int) -> "str | bool":
        if k in done:
            return False  # quick now: no draft
        fig.axes[0].plot([0, 1], [0, k], color="C1", ls="--")
        return f"draft k={k}"

    live = LivePlot(draw, {"k": W.IntSlider(1, 0, 5)}, draft=draft)
    assert live.drafts == 0 and live.text.value == "final k=1"  # the first picture: no draft
    sent: list[tuple[str, Any]] = []
    orig = W.Widget.send_state

    def spy(self: Any, key: Any = None) -> None:
        keys = [key] if isinstance(key, str) else list(key or [])
        if self is live.image and "value" in keys:
            sent.append(("image", bytes(live.image.value)))
        if self is live.busy_sign and "value" in keys:
            sent.append(("sign", live.busy_sign.value))
        orig(self, key)

    monkeypatch.setattr(W.Widget, "send_state", spy)
    live.controls["k"].value = 3
    images = [v for kind, v in sent if kind == "image"]
    signs = [v for kind, v in sent if kind == "sign"]
    assert len(images) == 2 and images[0] != images[1] and live.drafts == 1
    assert signs == [widgets.BUSY_TEXT, tr("↻ refining…"), ""], signs
    assert live.text.value == "final k=3" and not live.busy and live.first_png is not None
    fresh = sys.modules["fmtutor_tests_live"].fresh_picture  # tests/_live.py
    assert np.array_equal(_pixels(live.image.value), fresh(live))
    sent.clear()
    live.controls["k"].value = 1  # seen before: draft says no, one picture
    assert [kind for kind, _ in sent].count("image") == 1 and live.drafts == 1
    with pytest.raises(TypeError, match="draft"):
        LivePlot(draw, {"k": W.IntSlider(1, 0, 5)}, draft=3)


# Issue 17: the controls that missed 100 ms (bench/RESULTS.md, "Widget latency") keep their frame from
# end to end of their range, so every change pastes the kept frame: no new layout, a blitted redraw
# (the fast path), and the picture a fresh plot draws at the new values.
JUMPS = {  # a factory (built as its notebook builds it), a control and the values it jumps through
    "ch00 mle.std": (lambda: ch00.mle_explorer(m=500), "std", [0.3, 2.5, 0.3, 1.5]),
    "ch01 explorer.name": (
        ch01.field_explorer,
        "name",
        ["rotation_to_sink", "sink", "mover", "spiral", "source", "rotation"],
    ),
    "ch01 explorer.t": (ch01.field_explorer, "t", [1.0, 0.0, 0.55, 1.0]),
    "ch01 explorer.particles": (ch01.field_explorer, "particles", [True, False, True]),
    "ch02 explorer.name": (
        ch02.flow_explorer,
        "name",
        ["rotation", "rotation_to_sink", "mover", "sink", "source", "spiral"],
    ),
}


@pytest.mark.parametrize("name", list(JUMPS))
def test_slow_controls_paste_the_kept_frame_across_their_range(name: str) -> None:
    make, control, values = JUMPS[name]
    live = make()
    if control != "name" and "name" in live.controls:
        live.controls["name"].value = "rotation_to_sink"  # as chapter 1's notebook shows it
    layouts = live.kept.layouts
    for value in values:
        blits = live.kept.blits
        live.controls[control].value = value
        assert live.last_error is None, live.last_error
        assert (live.kept.blits, live.kept.layouts) == (blits + 1, layouts), (
            f"{control} = {value!r}: a full redraw (the frame moved)"
        )
        fresh = _fresh(live).image.value
        assert np.array_equal(_pixels(live.image.value), _pixels(fresh)), f"{control} = {value!r}"


def test_fixed_frames_hold_every_value_of_their_controls() -> None:
    """The frames chosen from the whole control range clip nothing: the narrowest model's peak and
    the histogram fit chapter 0's density axis; chapter 1's colour key spans every speed shown."""
    mle = ch00.mle_explorer(m=500)
    mle.controls["std"].value = mle.controls["std"].min
    ax = mle.fig.axes[0]
    top = ax.get_ylim()[1]
    heights = max(p.get_path().vertices[:, 1].max() for p in ax.patches)  # the histogram
    assert max(line.get_ydata().max() for line in ax.lines) < top and heights < top
    field = ch01.field_explorer()
    for name in field.controls["name"].options:
        for t in (0.0, 1.0):
            field.controls["name"].value, field.controls["t"].value = name, t
            arrows, key = field.fig.axes[0].collections[0], field.fig.axes[1]
            assert arrows.get_clim() == key.get_ylim() == (0.0, pytest.approx(12.728, abs=1e-3))
            assert arrows.get_array().max() <= arrows.get_clim()[1], (name, t)
            bar, want = key.images[0].norm, (PowerNorm, ch01.SPEED_GAMMA)
            assert (type(bar), bar.gamma) == (type(arrows.norm), arrows.norm.gamma) == want


def test_flow_explorer_solves_the_exact_paths_once_for_every_field(monkeypatch) -> None:
    """The field menu of chapter 2 answers at once: no exact flow left to compute after the build."""
    from fmtutor.fields import ExampleField

    live = ch02.flow_explorer()
    calls: list[int] = []
    flow = ExampleField.flow
    monkeypatch.setattr(
        ExampleField, "flow", lambda self, x, t: calls.append(len(x)) or flow(self, x, t)
    )
    redraws = live.calls
    for name in live.controls["name"].options:
        live.controls["name"].value = name
    assert live.calls - redraws >= 5
    assert calls == [3] * (live.calls - redraws)  # the error at t = 1 of each redraw, only
