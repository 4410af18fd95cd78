"""fmtutor.course.figures: a live figure, redrawn many times, looks like one drawn from scratch.

From scratch means plain matplotlib: a new constrained pyplot figure, the same draw, savefig. Without
the private attributes its fast path reads, KeptFigure draws plainly, with the same pixels.
"""

import io
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
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


def test_first_render_equals_a_plain_constrained_figure():
    from matplotlib.figure import Figure

    from fmtutor.course.plots import figure_png

    fig = Figure(figsize=(3, 2.5), layout="constrained")
    _draw(fig.add_subplot(), 1)
    assert np.array_equal(_pixels(_fresh(1, 50)), _pixels(figure_png(fig, 50)))


# --- every live figure of the course against the same figure drawn from scratch ---------------
# Each entry: a factory for the live figure (cheap inputs: small samples, untrained nets, exact
# fields) and the control changes to walk through (kept axes, reused layouts and blitted redraws
# all get their turn). At every step the live PNG must be the PNG of a figure made by plain
# pyplot (``plt.subplots(1, ncols, layout="constrained")``), drawn by the same draw function at
# the same values and saved with ``savefig``: same size, and (almost) the same pixels.


def _moons_net(dim: int = 2, **kw: Any) -> Any:
    import fmtutor as fm

    torch.manual_seed(0)
    return fm.models.MLP(dim=dim, hidden=16, depth=1, **kw).eval()


def _live_figures() -> dict[str, tuple[Callable[[], Any], list[tuple[str, Any]]]]:
    import fmtutor as fm
    from fmtutor.course import (
        ch00,
        ch01,
        ch02,
        ch03,
        ch04,
        ch05,
        ch06,
        ch07,
        ch08,
        ch09,
        ch10,
        ch11,
    )

    g = fm.data.make_generator
    moons = fm.data.two_moons(100, seed=0)
    gm8 = fm.data.eight_gaussians_mixture()
    ang = torch.tensor([90.0, 210.0, 330.0]) * math.pi / 180
    gm3 = fm.data.GaussianMixture(torch.stack([ang.cos(), ang.sin()], 1), 0.6)
    x0 = torch.randn(40, 2, generator=g(1))
    return {
        "ch00 mle_explorer": (
            lambda: ch00.mle_explorer(m=500),
            [("mu", 0.5), ("mu", 1.0), ("std", 0.3), ("mu", -1.5)],
        ),
        "ch01 field_explorer": (
            ch01.field_explorer,
            [("t", 0.4), ("particles", True), ("name", "sink"), ("t", 0.9)],
        ),
        "ch02 flow_explorer": (
            ch02.flow_explorer,
            [("n_steps", 9), ("method", "rk4"), ("n_steps", 3)],
        ),
        "ch02 trajectory_explorer": (
            ch02.trajectory_explorer,
            [("t", 0.3), ("t", 0.8), ("n_steps", 7), ("t", 1.0)],
        ),
        "ch03 path_explorer": (lambda: ch03.path_explorer(n=1000), [("t", 0.8), ("t", 0.0)]),
        "ch03 particle_explorer": (
            lambda: ch03.particle_explorer(n=100, n_grid=40),
            [("t", 0.2), ("t", 0.9), ("n_steps", 3)],
        ),
        "ch04 conditional_vs_marginal": (
            lambda: ch04.conditional_vs_marginal(moons, moons[3], n_particles=50),
            [("t", 0.2), ("t", 0.9)],
        ),
        "ch05 field_comparison": (
            lambda: ch05.field_comparison(_moons_net(), moons, n_particles=50),
            [("t", 0.2), ("t", 0.9)],
        ),
        "ch06 steps_explorer": (
            lambda: ch06.steps_explorer(lambda x, t: -x, x0, moons[:40], n_steps=2, max_steps=8),
            [("n_steps", 5), ("n_steps", 3)],
        ),
        "ch06 nfe_explorer": (
            lambda: ch06.nfe_explorer(_moons_net(), x0[:12], nfe=8, max_nfe=24, reference_steps=40),
            [("nfe", 12), ("nfe", 24)],
        ),
        "ch07 pairing_widget": (
            lambda: ch07.pairing_widget(fm.data.eight_gaussians, value=16),
            [("batch_size", 64), ("batch_size", 8)],
        ),
        "ch07 batch_paths_widget": (
            lambda: ch07.batch_paths_widget(
                {4: _moons_net(), 16: lambda x, t: -x}, x0[:6], x0, value=4, n_steps=10
            ),
            [("batch_size", 16), ("batch_size", 4)],
        ),
        "ch08 likelihood_widget": (
            lambda: ch08.likelihood_widget(gm8, gm8.sample(30, seed=7).double(), n_steps=2),
            [("n_steps", 8), ("estimator", "4 probes")],
        ),
        "ch09 schedule_widget": (
            lambda: ch09.schedule_widget(x0, x0.flip(0) + 1),
            [("t", 0.1), ("t", 0.97), ("t", 0.0)],
        ),
        "ch09 sde_widget": (
            lambda: ch09.sde_widget(fm.exact.MarginalField(gm8), gm8.sample, n=100, n_steps=10),
            [("gamma", 1.0), ("gamma", 2.0)],
        ),
        "ch10 guidance_widget": (
            lambda: ch10.guidance_widget(
                fm.guidance.ExactConditionalField(gm3),
                gm3,
                table=[{"w": w, "accuracy": 0.6 + w / 20, "spread": 1.1 - w / 8} for w in range(6)],
                n=100,
                n_steps=6,
            ),
            [("w", 3.0), ("y", 2)],
        ),
        **_newer_chapters(),
        "ch11 digit_explorer": (
            lambda: ch11.digit_explorer(fm.digits.digit_model(0, hidden=16, depth=1), n_steps=2),
            [("digit", 7), ("w", 2.0), ("method", "euler")],
        ),
    }


def _newer_chapters() -> dict[str, tuple[Callable[[], Any], "list | None"]]:
    """The live figures of chapters 12-15 (None: each control moved once, to another value)."""
    import fmtutor as fm
    from fmtutor import discrete as D
    from fmtutor.course import ch12, ch13, ch14, ch15

    z = torch.randn(5, 30, 3, generator=fm.data.make_generator(0))
    q = ch13.grid_target()
    exact = {s: D.ExactPosterior(q, D.MixturePath(16, s)) for s in ("mask", "uniform")}
    moons = fm.data.two_moons(80, seed=2)
    x0 = torch.randn(80, 2, generator=fm.data.make_generator(1))
    nets = {"a": _moons_net(), "b": lambda x, t: -x}
    return {
        "ch12 sphere_flow_widget": (
            lambda: ch12.sphere_flow_widget(z / z.norm(dim=-1, keepdim=True), n_show=30),
            None,
        ),
        "ch13 marginal_widget": (
            lambda: ch13.marginal_widget(
                {k: e.velocity for k, e in exact.items()}, n=200, n_steps=10
            ),
            None,
        ),
        "ch14 nfe_widget": (lambda: ch14.nfe_widget(nets, x0, moons, floor=0.5), None),
        "ch15 clocks_widget": (lambda: ch15.clocks_widget(_moons_net(), x0, moons), None),
    }


def _another_value(control: Any) -> Any:
    """A value of the control other than its current one (a slider two steps on, the next option)."""
    if hasattr(control, "options"):
        values = [o[1] if isinstance(o, tuple) else o for o in control.options]
        return values[(values.index(control.value) + 1) % len(values)]
    if isinstance(control.value, bool):
        return not control.value
    up = control.value + 2 * control.step
    return up if up <= control.max else control.value - 2 * control.step


def _plain_png(
    draw: Callable[..., Any],
    figsize: Any,
    ncols: int,
    dpi: int,
    width_ratios: Any = None,
    **values: Any,
) -> bytes:
    """The figure drawn from scratch: a new pyplot figure, its constrained layout, savefig."""
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=tuple(figsize), layout="constrained")
    try:
        if ncols:
            fig.subplots(1, ncols, width_ratios=width_ratios)
        draw(fig, **values)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi)
        return buf.getvalue()
    finally:
        plt.close(fig)


def _assert_looks_the_same(live: bytes, plain: bytes, what: str) -> None:
    """Same size, and the pixels equal up to a little anti-aliasing noise."""
    a, b = _pixels(live).astype(int), _pixels(plain).astype(int)
    assert a.shape == b.shape, f"{what}: size {a.shape[1::-1]} instead of {b.shape[1::-1]}"
    off = np.abs(a - b).max(axis=2) > 40  # pixels that are visibly different
    assert off.mean() < 2e-3, f"{what}: {off.mean():.2%} of the pixels differ"


@pytest.mark.parametrize("name", list(_live_figures()))
def test_live_figure_looks_like_the_figure_drawn_from_scratch(name: str) -> None:
    make, changes = _live_figures()[name]
    live = make()
    if changes is None:
        changes = [(k, ...) for k in live.controls]
    for k, v in [(None, None), *changes]:
        if k is not None:
            live.controls[k].value = _another_value(live.controls[k]) if v is ... else v
        assert live.last_error is None, live.last_error
        plain = _plain_png(
            live.draw_fn,
            live.fig.get_size_inches(),
            live.ncols,
            live.dpi,
            getattr(live, "width_ratios", None),
            **live.values,
        )
        _assert_looks_the_same(live.image.value, plain, f"{name} at {live.values}")


def test_live_loss_curve_looks_like_the_figure_drawn_from_scratch() -> None:
    from fmtutor.course import ch05

    curve = ch05.LossCurve(total_steps=600, floor=0.9, every=200)
    rng = np.random.default_rng(0)
    for step in range(600):
        curve(step, 1.0 + 2.0 * np.exp(-step / 100) + 0.2 * rng.standard_normal())
        if (step + 1) % 200 == 0:
            plain = _plain_png(
                lambda fig: curve.draw(fig.axes[0]), curve.fig.get_size_inches(), 1, curve.dpi
            )
            _assert_looks_the_same(curve.image.value, plain, f"loss curve at step {step + 1}")


@pytest.mark.parametrize("how", ["a newer matplotlib", "a private attribute gone"])
def test_without_the_private_attributes_every_redraw_is_plain_and_the_same(monkeypatch, how):
    """Where the fast path cannot run, KeptFigure draws plainly: slower, the same pixels."""
    import matplotlib

    from fmtutor.course import ch00, ch01, figures

    steps = {"mu": [0.5, 1.0, 1.5], "t": [0.3, 0.6], "name": ["sink", "spiral"]}

    def run() -> tuple[list[bytes], int, int]:
        mle, field = ch00.mle_explorer(m=500), ch01.field_explorer()
        pngs = []
        for live in (mle, field):
            for k in live.controls:
                for v in steps.get(k, []):
                    live.controls[k].value = v
                    pngs.append(live.image.value)
        return pngs, mle.kept.blits, field.kept.layouts

    fast, blits, layouts = run()
    assert blits >= 2 and layouts < 5  # the fast path did run: blitted, layouts reused
    probe = figures.KeptFigure((2, 2))
    probe.reset()  # one Axes: the attributes of Figure, Axes and Axis are all looked for
    assert figures.fast_redraws(probe.fig)
    if how == "a newer matplotlib":
        monkeypatch.setattr(matplotlib, "__version__", "3.99.0")
    else:  # stands for an attribute a new version renamed (matplotlib's own draw still needs it)
        monkeypatch.setitem(figures.PRIVATE_ATTRIBUTES, "axis", ("_update_ticks", "_gone"))
    assert not figures.fast_redraws(probe.fig)
    plain, blits, layouts = run()
    assert blits == 0 and layouts == 5  # nothing reused: every PNG of the field a full layout
    assert len(plain) == len(fast)
    for i, (a, b) in enumerate(zip(plain, fast)):
        assert np.array_equal(_pixels(a), _pixels(b)), i
